"""One check: metrics as of a moment, every detector, root-cause attribution.

This is what ``seismo check`` and the dashboard run; it returns plain
:class:`~seismo.detect.findings.Finding` objects, which :mod:`seismo.alerts`
stores, deduplicates and routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from seismo.detect.change import DetectConfig, detect_changes, detect_gaps
from seismo.detect.drift import compute_drift
from seismo.detect.drift_findings import drift_findings
from seismo.detect.findings import Finding
from seismo.detect.rootcause import attribute_roots
from seismo.metrics.compute import compute_metrics, cutoff
from seismo.store.read import Store

__all__ = ["KINDS", "CheckResult", "run_checks"]

#: The kinds of finding a check looks for (an alert of a kind not found again resolves).
KINDS = frozenset({"quality", "fairness", "drift"})


@dataclass(frozen=True)
class CheckResult:
    """The findings of one check, and the tables they were read from."""

    as_of: datetime
    findings: list[Finding]
    metrics: pa.Table
    exposure: pa.Table | None
    drift: pa.Table | None = None


def run_checks(
    store: Store, *, as_of: datetime | None = None, config: DetectConfig | None = None
) -> CheckResult:
    """Compute the metrics as of ``as_of`` and run every detector on them."""
    config = config or DetectConfig()
    cut = cutoff(store, as_of)
    # Model-quality metrics (AUC, log loss, calibration) carry no sampling error the
    # change test could use; they are for people to read, not for alerts (yet).
    metrics = compute_metrics(store, as_of=cut, quality=False)
    findings = attribute_roots(detect_changes(metrics, cut=cut, config=config), store, config)
    exposure = None
    try:
        from seismo.metrics.exposure import compute_exposure
    except ImportError:  # exposure metrics not available in this build
        compute_exposure = None  # type: ignore[assignment]
    if compute_exposure is not None:
        exposure = compute_exposure(store, as_of=cut)
        findings += detect_gaps(exposure, cut=cut, config=config)
    drift = None
    if store.count("reference_sets"):
        drift = compute_drift(store, as_of=cut)
        findings += drift_findings(drift, cut=cut)
    # Outcome-based findings first: a drop in quality is proven harm, drift an early warning.
    findings.sort(key=lambda f: (f.severity != "critical", f.kind == "drift", f.adjusted_p, f.key))
    return CheckResult(cut, findings, metrics, exposure, drift)
