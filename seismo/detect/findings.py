"""A finding: one change worth telling someone about, before it becomes an alert.

Detectors (quality change, fairness / exposure, drift) all return findings of
this one shape; :mod:`seismo.alerts` turns them into stored, deduplicated,
routed alerts. A finding answers the six questions every alert must: what
changed (``metric``, ``message``), by how much (``baseline`` vs ``current``
with intervals), for whom (``segment``), since when (``since``), how sure
(``test``, ``p_value``, ``adjusted_p``, sample sizes) and what to do (``action``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["Finding", "segment_text"]

Severity = Literal["critical", "warning"]


def segment_text(segment: dict[str, str] | None) -> str:
    """``{"age_group": "25-34"}`` → ``age_group=25-34``; None → ``all``.

    >>> segment_text({"age_group": "25-34"}), segment_text(None)
    ('age_group=25-34', 'all')
    """
    if not segment:
        return "all"
    return ",".join(f"{k}={v}" for k, v in sorted(segment.items()))


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One detected change, in numbers and in words."""

    kind: str  # "quality", "exposure", "fairness", "drift"
    metric: str
    metric_label: str
    segment: dict[str, str] | None
    direction: Literal["up", "down"]
    severity: Severity
    baseline: float
    baseline_low: float | None
    baseline_high: float | None
    current: float
    current_low: float | None
    current_high: float | None
    baseline_start: datetime
    baseline_end: datetime
    window_start: datetime
    window_end: datetime
    since: datetime
    test: str
    statistic: float
    p_value: float
    adjusted_p: float
    n_baseline: int
    n_current: int
    message: str
    action: str
    as_of: datetime
    unit: str = "share"  # "share" (shown as %), "amount" or "score"
    root: dict[str, str] | None = None  # the segment this change is attributed to
    related: tuple[dict[str, str] | None, ...] = ()  # segments it drags along
    outcome: str | None = None  # the outcome a quality metric is read from
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable identity of the condition: the same condition on another day is one alert."""
        return f"{self.kind}|{self.metric}|{segment_text(self.segment)}|{self.direction}"

    @property
    def group(self) -> str:
        """Findings with one root cause share a group (one notification).

        Drift findings that began the same day are taken as one change in the
        data (a collection changeover moves category mix and price together).
        Quality findings of one group read from one outcome are one problem: a
        fall in click-through and the click probabilities it leaves miscalibrated.
        """
        if self.kind == "drift":
            return f"drift|{segment_text(self.segment)}|since={self.since:%Y-%m-%d}"
        what = f"outcome={self.outcome}" if self.outcome else self.metric
        return f"{self.kind}|{what}|{segment_text(self.root or self.segment)}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)
