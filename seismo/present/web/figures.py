"""Metric rows regrouped for pages: one series per metric × segment, pooled over periods.

The metric tables (``RESULT_SCHEMA``) hold one row per window × segment ×
model version. Pages want, per metric and segment, the days in order with
model versions added together (a day served by two versions is still one day
for the business), and the same figures pooled over a period ("the first two
weeks", "the last 3 days"). Pooling weights each day by its members: exact
for rates and means, as the engine would have counted them together.

A pooled figure keeps its maturity: ``to_come`` is the share of the expected
outcomes not seen yet (1 − seen so far / expected final value), which is what
"still waiting for 38% of purchases" says, and ``final`` holds only when every
day in it is final.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

__all__ = ["EARLY", "SETTLED", "Day", "Pooled", "Series", "SeriesKey", "index", "pool", "z_score"]

_Z90 = 1.6448536269514722  # the normal quantile of a 90 % two-sided interval
#: Below this share of outcomes still to come a figure reads as settled.
SETTLED = 0.01
#: From this share on, a change is not judged yet: most of its truth is missing.
EARLY = 0.5


@dataclass(frozen=True)
class Day:
    """One window of one metric × segment, model versions added together."""

    start: datetime
    end: datetime
    n: int
    estimate: float | None
    low: float | None
    high: float | None
    observed: float | None
    final: bool
    #: Share of the window's rows whose truth is in (their label, their outcome).
    confirmed: float | None = None

    def variance(self, unit: str) -> float | None:
        """The variance of the estimate: the larger of sampling and nowcast uncertainty."""
        if self.estimate is None or self.n <= 0:
            return None
        interval = 0.0
        if self.low is not None and self.high is not None:
            interval = ((self.high - self.low) / (2 * _Z90)) ** 2
        sampling = 0.0
        if unit == "share":
            v = self.estimate
            sampling = max(v * (1 - v), 1.0 / self.n) / self.n
        return max(interval, sampling)


@dataclass(frozen=True)
class Pooled:
    """A metric × segment over a period: value, members, maturity and uncertainty."""

    n: int
    estimate: float | None
    observed: float | None
    std_error: float | None
    final: bool
    days: int
    #: Share of the rows whose truth is in; :meth:`Context.pooled` makes it the maturity
    #: of a model-quality figure, whose ``observed`` is a value, not a count so far.
    confirmed: float | None = None
    by_labels: bool = False

    @property
    def provisional(self) -> bool:
        """Whether enough is still to come to say so (1 %: a few late clicks are not news)."""
        return not self.final and self.to_come >= SETTLED

    @property
    def to_come(self) -> float:
        """Share of the expected outcomes still to arrive (0 when final or unknown)."""
        if self.final:
            return 0.0
        if self.by_labels:
            return 0.0 if self.confirmed is None else min(1.0, max(0.0, 1.0 - self.confirmed))
        if not self.estimate or self.observed is None or self.estimate <= 0:
            return 0.0
        return min(1.0, max(0.0, 1.0 - self.observed / self.estimate))


Series = list[Day]
#: (metric, attribute, value); the aggregate has attribute and value None.
SeriesKey = tuple[str, str | None, str | None]
_Key = SeriesKey


def _wavg(pairs: list[tuple[float, float | None]]) -> float | None:
    kept = [(w, v) for w, v in pairs if v is not None and math.isfinite(v)]
    total = sum(w for w, _ in kept)
    return sum(w * v for w, v in kept) / total if total > 0 else None


def index(table: pa.Table | None) -> dict[_Key, Series]:
    """Per (metric, attribute, value) — the aggregate has attribute None — its days in order."""
    if table is None or table.num_rows == 0:
        return {}
    cells: dict[_Key, dict[datetime, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    columns = ("metric", "attribute", "value", "window_start", "window_end", "n", "estimate")
    wanted = [*columns, "estimate_low", "estimate_high", "observed_value", "final", "confirmed_n"]
    for r in table.select(wanted).to_pylist():
        cells[(r["metric"], r["attribute"], r["value"])][r["window_start"]].append(r)
    out: dict[_Key, Series] = {}
    for key, by_start in cells.items():
        days = []
        for start in sorted(by_start):
            rows = by_start[start]
            if len(rows) == 1:  # one model version served the day: nothing to add up
                days.append(_day(rows[0]))
                continue
            n = sum(int(r["n"] or 0) for r in rows)

            def avg(column: str, rows: list[dict[str, Any]] = rows) -> float | None:
                return _wavg([(float(r["n"] or 0), r[column]) for r in rows])

            days.append(
                Day(
                    start=start,
                    end=max(r["window_end"] for r in rows),
                    n=n,
                    estimate=avg("estimate"),
                    low=avg("estimate_low"),
                    high=avg("estimate_high"),
                    observed=avg("observed_value"),
                    final=all(bool(r["final"]) for r in rows),
                    confirmed=sum(int(r["confirmed_n"] or 0) for r in rows) / n if n else None,
                )
            )
        out[key] = days
    return out


def _day(r: dict[str, Any]) -> Day:
    return Day(
        start=r["window_start"],
        end=r["window_end"],
        n=int(r["n"] or 0),
        estimate=r["estimate"],
        low=r["estimate_low"],
        high=r["estimate_high"],
        observed=r["observed_value"],
        final=bool(r["final"]),
        confirmed=(r["confirmed_n"] or 0) / r["n"] if r["n"] else None,
    )


def pool(series: Series, start: datetime, end: datetime, unit: str = "share") -> Pooled | None:
    """The days of ``series`` lying within [start, end), pooled; None when there are none."""
    days = [d for d in series if d.start >= start and d.end <= end and d.estimate is not None]
    n = sum(d.n for d in days)
    if not days or n <= 0:
        return None
    estimate = _wavg([(d.n, d.estimate) for d in days])
    observed = _wavg([(d.n, d.observed) for d in days])
    variances = [(d.n, d.variance(unit)) for d in days]
    var = sum(w * w * v for w, v in variances if v is not None) / (n * n)
    return Pooled(
        n=n,
        estimate=estimate,
        observed=observed,
        std_error=math.sqrt(var) if var > 0 else None,
        final=all(d.final for d in days),
        days=len(days),
        confirmed=_wavg([(d.n, d.confirmed) for d in days]),
    )


def z_score(recent: Pooled | None, launch: Pooled | None) -> float | None:
    """How many standard errors separate two pooled figures (None when unknown)."""
    if recent is None or launch is None or recent.estimate is None or launch.estimate is None:
        return None
    se = math.hypot(recent.std_error or 0.0, launch.std_error or 0.0)
    return None if se <= 0 else (recent.estimate - launch.estimate) / se
