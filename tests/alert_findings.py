"""Findings built by hand, as a detector would return them (for the alert tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from seismo.detect.findings import Finding

T0 = datetime(2026, 6, 1, 6)
DAY = timedelta(days=1)
YOUNG = {"age_group": "25-34"}
XSS = "<script>alert(1)</script>"


def finding(
    *,
    segment: dict[str, str] | None = YOUNG,
    severity: str = "warning",
    kind: str = "quality",
    metric: str = "click_through_rate",
    current: float = 0.15,
    root: dict[str, str] | None = None,
    evidence: dict[str, Any] | None = None,
    as_of: datetime = T0,
) -> Finding:
    """A click-through drop as the quality detector would report it."""
    who = "all customers" if segment is None else ", ".join(segment.values())
    return Finding(
        kind=kind,
        metric=metric,
        metric_label="Click-through rate",
        segment=segment,
        direction="down",
        severity=severity,  # type: ignore[arg-type]
        baseline=0.28,
        baseline_low=0.27,
        baseline_high=0.29,
        current=current,
        current_low=current - 0.01,
        current_high=current + 0.01,
        baseline_start=datetime(2026, 5, 1),
        baseline_end=datetime(2026, 5, 20),
        window_start=datetime(2026, 5, 21),
        window_end=as_of,
        since=datetime(2026, 5, 21),
        test="two-proportion z",
        statistic=-9.1,
        p_value=1e-12,
        adjusted_p=1e-11,
        n_baseline=4000,
        n_current=3000,
        message=f"Customers {who} click on recommendations much less than before.",
        action="Check what the model recommends to this group since the last release.",
        as_of=as_of,
        root=root,
        evidence=evidence if evidence is not None else {"z": -9.1},
    )
