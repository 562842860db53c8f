"""One check: metrics as of a moment, every detector, root-cause attribution.

This is what ``seismo check`` and the dashboard run; it returns plain
:class:`~seismo.detect.findings.Finding` objects, which :mod:`seismo.alerts`
stores, deduplicates and routes. Quality changes (business rates and model
quality, per segment and pair of segments) and fairness gaps answer to one
false-alarm budget: the cells of both are counted together
(:class:`Watch`). Drift has its own control (Benjamini-Hochberg over the drift
table, :mod:`seismo.detect.drift`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa

from seismo.detect.adverse import family
from seismo.detect.change import DetectConfig, findings_of, tests_of
from seismo.detect.drift import compute_drift
from seismo.detect.drift_findings import drift_findings
from seismo.detect.findings import Finding
from seismo.detect.gaps import GAP_TEST, gap_tests
from seismo.detect.operations import OperationsRules, judged_since, operations_findings
from seismo.detect.rootcause import attribute_roots
from seismo.metrics.compute import compute_metrics, cutoff
from seismo.metrics.exposure import compute_exposure
from seismo.metrics.operations import compute_operations
from seismo.metrics.ranking import compute_ranking
from seismo.metrics.ranking_spec import RankingSpec, ranking_spec
from seismo.metrics.spec import default_metrics
from seismo.store.read import Store

__all__ = ["KINDS", "CheckResult", "Watch", "detect", "run_checks"]

#: The kinds of finding a check looks for (an alert of a kind not found again resolves).
KINDS = frozenset({"quality", "fairness", "drift", "operations"})


@dataclass(frozen=True)
class Watch:
    """What a check watched and the false-alarm budget in force."""

    cells: int  # metric × segment × version × direction series scanned
    false_alarms_per_90_days: float
    threshold: float  # standardised shift a change must reach
    critical_threshold: float
    window_days: int

    def to_record(self) -> dict[str, float | int]:
        return {
            "cells": self.cells,
            "false_alarms_per_90_days": self.false_alarms_per_90_days,
            "threshold": round(self.threshold, 3),
            "critical_threshold": round(self.critical_threshold, 3),
            "window_days": self.window_days,
        }

    def text(self) -> str:
        """One line for people: the budget and what it means for this store."""
        budget = self.false_alarms_per_90_days
        return (
            f"False-alarm budget: {budget:g} per 90 days for the store, over {self.cells:,} "
            f"watched series (a change must reach {self.threshold:.2f} standard errors)."
        )


@dataclass(frozen=True)
class CheckResult:
    """The findings of one check, and the tables they were read from."""

    as_of: datetime
    findings: list[Finding]
    metrics: pa.Table
    exposure: pa.Table | None
    drift: pa.Table | None = None
    watch: Watch | None = None
    ranking: pa.Table | None = None
    #: The hourly operations figures the operations rules were judged on.
    operations: pa.Table | None = None


def run_checks(
    store: Store,
    *,
    as_of: datetime | None = None,
    config: DetectConfig | None = None,
    ranking_spec: RankingSpec | None = None,
    operations: OperationsRules | None = None,
) -> CheckResult:
    """Compute the metrics as of ``as_of`` and run every detector on them.

    A model that ranks (:func:`~seismo.metrics.ranking_spec.ranking_spec`) has
    its ranking metrics watched with the quality metrics; ``ranking_spec``
    (``[ranking]`` of the check's TOML) sets their ``k`` and relevance grades.
    ``operations`` (``[operations]``) sets the levels of the serving rules
    (:mod:`seismo.detect.operations`), judged on the hourly operations figures.
    """
    config = config or DetectConfig()
    rules = operations or OperationsRules()
    cut = cutoff(store, as_of)
    metrics = compute_metrics(store, as_of=cut, pairs=config.pairs)
    exposure = compute_exposure(store, as_of=cut)
    drift = compute_drift(store, as_of=cut) if store.count("reference_sets") else None
    ranking = compute_ranking(store, as_of=cut, spec=ranking_spec, rates=metrics)
    # the judged hours and the week a share is compared with (normals reach further back)
    ops = compute_operations(store, as_of=cut, period="hour", since=judged_since(cut, rules))
    result = detect(store, metrics, exposure, drift, cut=cut, config=config, ranking=ranking)
    found = operations_findings(ops, store, cut=cut, rules=rules, words=store.words())
    findings = sorted(
        [*result.findings, *found],
        key=lambda f: (f.severity != "critical", f.kind == "drift", f.adjusted_p, f.key),
    )
    return replace(result, findings=findings, operations=ops)


def detect(
    store: Store,
    metrics: pa.Table,
    exposure: pa.Table | None,
    drift: pa.Table | None,
    *,
    cut: datetime,
    config: DetectConfig,
    ranking: pa.Table | None = None,
) -> CheckResult:
    """Every detector on tables computed as of ``cut`` (what :func:`run_checks` runs).

    ``store`` is read only for root-cause attribution (which counts predictions
    served before ``cut``), so a replay can run it on recorded tables.
    ``ranking``: a ranker's ranking metrics, watched as quality metrics are.
    """
    words = store.words()
    # the model's declared directions, unless the check's own [detect] says otherwise
    config = replace(config, better={**words.better, **config.better})
    watched = metrics if ranking is None else pa.concat_tables([metrics, ranking])
    quality = tests_of(watched, cut, config, "quality")
    gaps = [] if exposure is None else gap_tests(exposure, cut, config, "fairness")
    cells = len(quality) + len(gaps)
    alarm, critical = config.thresholds(cells)
    watch = Watch(cells, config.false_alarms_per_90_days, alarm, critical, config.window_days)
    changes = findings_of(quality, cut, config, "quality", watched=cells, words=words)
    findings = _with_outcomes(attribute_roots(changes, store, config), store)
    findings += findings_of(
        gaps, cut, config, "fairness", watched=cells, label=GAP_TEST, words=words
    )
    if drift is not None:
        findings += drift_findings(drift, cut=cut, words=words)
    # Outcome-based findings first: a drop in quality is proven harm, drift an early warning.
    findings.sort(key=lambda f: (f.severity != "critical", f.kind == "drift", f.adjusted_p, f.key))
    return CheckResult(cut, findings, metrics, exposure, drift, watch, ranking)


def _with_outcomes(findings: list[Finding], store: Store) -> list[Finding]:
    """Each quality finding names the outcome its metric is read from (its alert group).

    A ranker's list metrics (NDCG, MRR, hit rate) are read from its relevance
    outcomes, led by the quickest (the click): a group's fall in click-through
    and in NDCG is one problem, told once. Catalog metrics (coverage, Gini)
    read no outcome and stand alone.
    """
    types = store.outcome_types()
    config = default_metrics(types, store.attributes(), store.declared())
    ranks = ranking_spec(store)

    def outcome(metric: str) -> str | None:
        named = config.outcome_of(metric)
        if named is not None or family(metric) != "ranking":
            return named
        prefixed = [o for o in types if metric.startswith(f"{o}_")]
        if prefixed:
            return max(prefixed, key=len)
        listed = metric.startswith(("ndcg_at_", "mrr_at_", "precision_at_", "hit_rate_at_"))
        return ranks.first if listed and ranks is not None and ranks.relevance else None

    return [replace(f, outcome=outcome(f.metric)) for f in findings]
