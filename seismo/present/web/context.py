"""What every view needs from a snapshot: series by key, periods, names and words.

The two periods every comparison on the business view uses:

* **launch**: the first :data:`LAUNCH_DAYS` days of data, the deployment
  period that detection compares against (an alert's "from 28%" is this);
* **recent**: the last :data:`RECENT_DAYS` complete days. Short, so a change
  that started a few days ago is not averaged away and the figures agree with
  the alerts (which judge the last 2 mature days); long enough to smooth one
  odd day. While the data is still within the launch period the recent days
  are shown but not compared (:attr:`Context.comparable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from seismo.alerts import Alert, alert_id
from seismo.detect.adverse import two_sided, worse_when_up
from seismo.detect.change import DetectConfig
from seismo.detect.findings import Finding
from seismo.present.web import humanize
from seismo.present.web.figures import Pooled, Series, SeriesKey, pool
from seismo.present.web.snapshot import Snapshot
from seismo.words import Words

__all__ = ["LAUNCH_DAYS", "RECENT_DAYS", "Context", "plural"]

LAUNCH_DAYS = DetectConfig().baseline_days
RECENT_DAYS = 3
DAY = timedelta(days=1)


#: The model-quality figures a page leads with when the model declares none, in order.
QUALITY_FIGURES = (
    "positive_rate",
    "accuracy",
    "roc_auc",
    "calibration_error",
    "mae",
    "mape",
    "bias",
)


def plural(noun: str) -> str:
    """An outcome type as people count it.

    >>> plural("purchase"), plural("click"), plural("sales")
    ('purchases', 'clicks', 'sales')
    """
    return noun if noun.endswith("s") else f"{noun}s"


@dataclass
class Context:
    """A snapshot regrouped for views; build with :meth:`of`."""

    snap: Snapshot
    metrics: dict[SeriesKey, Series]
    exposure: dict[SeriesKey, Series]
    labels: dict[str, tuple[str, str]]
    launch: tuple[datetime, datetime]
    recent: tuple[datetime, datetime] | None
    stored: dict[str, Alert] = field(default_factory=dict)

    @classmethod
    def of(cls, snap: Snapshot) -> Context:
        labels: dict[str, tuple[str, str]] = {}
        starts: list[datetime] = []
        ends: list[datetime] = []
        for table in (snap.metrics, snap.exposure):
            if table is None or table.num_rows == 0:
                continue
            columns = (table.column(c).to_pylist() for c in ("metric", "label", "unit"))
            for name, label, unit in zip(*columns, strict=True):
                if name not in labels:
                    labels[name] = (label or name, unit)
            starts.append(pc.min(table.column("window_start")).as_py())
            cut = pa.scalar(snap.as_of, pa.timestamp("us"))
            closed = table.filter(pc.less_equal(table.column("window_end"), cut))
            if closed.num_rows:
                ends.append(pc.max(closed.column("window_end")).as_py())
        first = min(starts) if starts else snap.as_of
        launch = (first, first + LAUNCH_DAYS * DAY)
        recent: tuple[datetime, datetime] | None = None
        if ends:
            end = max(ends)
            recent = (max(end - RECENT_DAYS * DAY, first), end)
        return cls(
            snap=snap,
            metrics=snap.series,
            exposure=snap.exposure_series,
            labels=labels,
            launch=launch,
            recent=recent,
            stored={a.key: a for a in snap.alerts},
        )

    @property
    def comparable(self) -> bool:
        """Whether the recent days lie after the launch period (so a change can be told)."""
        return self.recent is not None and self.recent[0] >= self.launch[1]

    # -- names -------------------------------------------------------------
    @property
    def words(self) -> Words:
        return self.snap.words

    def lower_is_better(self, metric: str) -> bool:
        """Whether a rise of this metric is bad news (returns, losses, errors), as declared."""
        better = self.words.better
        return worse_when_up(metric, better) and not two_sided(metric, better)

    def label(self, metric: str) -> str:
        return self.labels.get(metric, (metric.replace("_", " "), "share"))[0]

    def unit(self, metric: str) -> str:
        return self.labels.get(metric, ("", "share"))[1]

    @property
    def currency(self) -> str:
        weights = self.snap.weights.values()
        if any(w.endswith("_usd") for w in weights):
            return "$"
        if any(w.endswith("_gbp") for w in weights):
            return "£"
        return "€"

    def fmt(self, metric: str, x: float | None) -> str:
        return humanize.value(x, self.unit(metric), self.currency)

    def noun(self, metric: str) -> str:
        """What is still awaited for a metric: "purchases", "returns", "clicks", "defaults"."""
        outcome = self.snap.outcomes.get(metric) or self._quality_outcome(metric)
        return plural(self.words.column(outcome)) if outcome else "outcomes"

    def counted(self, metric: str) -> str | None:
        """What one unit of a share metric counts, a day: "purchases", "correct decisions".

        None for a share that counts nothing a person would add up (precision, recall).
        """
        outcome = self.snap.outcomes.get(metric)
        if outcome:
            return plural(self.words.column(outcome))
        of = self._quality_outcome(metric)
        if of and metric == f"{of}_positive_rate":
            return plural(self.words.column(of))
        if of and metric == f"{of}_accuracy":
            return f"correct {self.words.predictions}"
        return None

    def counted_outcome(self, metric: str) -> str | None:
        """The outcome one unit of a share metric counts (see :meth:`counted`), if any."""
        outcome = self.snap.outcomes.get(metric)
        if outcome:
            return outcome
        of = self._quality_outcome(metric)
        return of if of and metric == f"{of}_positive_rate" else None

    def final_by(self, metric: str, end: datetime) -> datetime | None:
        """When a window ending at ``end`` has all of its truth: its outcome's window later."""
        outcome = self.snap.outcomes.get(metric) or self._quality_outcome(metric)
        t = self.snap.types.get(outcome) if outcome else None
        if t is None:
            return None
        wait = t.window
        parent = self.snap.types.get(t.parent) if t.parent else None
        return end + wait + (parent.window if parent else timedelta(0))

    def _quality_outcome(self, metric: str) -> str | None:
        """The outcome a model-quality metric is read from (``default_accuracy`` → default)."""
        found = [o for o in self.snap.quality if metric.startswith(f"{o}_")]
        return max(found, key=len) if found else None

    def population(self, metric: str) -> str:
        """What a metric is counted over: the predictions, or clicks, purchases."""
        outcome = self.snap.outcomes.get(metric)
        given = self.snap.givens.get(metric)
        if given:
            return plural(given)
        parent = self.snap.types[outcome].parent if outcome in self.snap.types else None
        return plural(parent) if parent else self.words.predictions

    # -- figures -----------------------------------------------------------
    def series(self, metric: str, attribute: str | None = None, value: str | None = None) -> Series:
        key = (metric, attribute, value)
        return self.metrics.get(key) or self.exposure.get(key) or []

    def pooled(
        self, metric: str, attribute: str | None, value: str | None, period: str
    ) -> Pooled | None:
        span = self.launch if period == "launch" else self.recent
        if span is None:
            return None
        pooled = pool(self.series(metric, attribute, value), *span, self.unit(metric))
        if pooled is not None and self._quality_outcome(metric) is not None:
            # A model-quality figure is as mature as its labels are in.
            pooled = replace(pooled, by_labels=True)
        return pooled

    def values(self, attribute: str) -> list[str]:
        """The values of a segment attribute that have figures, in natural order."""
        found = {v for (_, a, v) in self.metrics if a == attribute and v is not None}
        found |= {v for (_, a, v) in self.exposure if a == attribute and v is not None}
        return sorted(found)

    @property
    def key_figures(self) -> list[str]:
        present = [m for m in self.words.figures if (m, None, None) in self.metrics]
        if present:
            return present
        rates = [m for m in self.snap.outcomes if (m, None, None) in self.metrics]
        if rates:
            return rates[:4]
        # A classifier or regressor without declared figures: its own quality leads.
        quality = [f"{o}_{q}" for o in self.snap.quality for q in QUALITY_FIGURES]
        return [m for m in quality if (m, None, None) in self.metrics][:4]

    @property
    def volume_metric(self) -> str | None:
        """A metric counted over every prediction (its n is the traffic)."""
        for m in self.key_figures:
            if self.population(m) == self.words.predictions:
                return m
        return self.key_figures[0] if self.key_figures else None

    def traffic_share(self, attribute: str, value: str) -> float | None:
        m = self.volume_metric
        if m is None:
            return None
        part = self.pooled(m, attribute, value, "recent") or self.pooled(
            m, attribute, value, "launch"
        )
        whole = self.pooled(m, None, None, "recent") or self.pooled(m, None, None, "launch")
        return part.n / whole.n if part and whole and whole.n else None

    # -- alerts ------------------------------------------------------------
    def findings_for(
        self,
        *,
        metric: str | None = None,
        segment: dict[str, str] | None = None,
        any_segment: bool = False,
    ) -> list[Finding]:
        return [
            f
            for f in self.snap.findings
            if (metric is None or f.metric == metric)
            and (any_segment or (f.segment or None) == (segment or None))
        ]

    def alert_of(self, f: Finding) -> dict[str, Any]:
        """Identity and life of a finding's alert, as stored (when the store knows this check)."""
        stored = self.stored.get(f.key)
        # A synced snapshot knows its alerts as of its own check; an unsynced one (a served
        # page) shows the life of any alert the last check left active.
        known = stored is not None and (
            stored.last_seen == self.snap.as_of
            or (not self.snap.synced and stored.state != "resolved")
        )
        return {
            "id": stored.id if stored else alert_id(f.key),
            "state": stored.state if stored and known else "firing",
            "first_seen": stored.first_seen if stored and known else None,
            "acknowledged_by": stored.acknowledged_by if stored and known else None,
            "acknowledged_at": stored.acknowledged_at if stored and known else None,
            "silenced_until": stored.silenced_until if stored and known else None,
            "silenced": bool(stored and known and stored.silenced_at(_now())),
            "episodes": stored.episodes if stored and known else 1,
            # Only an alert the store holds can be acted on (``seismo check`` stores them).
            "actionable": bool(stored and known and stored.state != "resolved"),
            "since_day": f"{f.since:%Y-%m-%d}",
        }


def _now() -> datetime:
    """Now, UTC-naive as the store keeps moments (is a silence still on?)."""
    return datetime.now(UTC).replace(tzinfo=None)
