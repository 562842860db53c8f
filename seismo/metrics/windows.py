"""Windows and the cut-off: which hour figures are computed at, and how served hours group.

Shared by every table that is computed per window (quality metrics, exposure,
drift), so their windows line up row for row.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Literal

from seismo.store.read import Store

__all__ = ["HOUR", "Period", "Windows", "cutoff"]

Period = Literal["hour", "day", "week", "month"]
_TRUNC = {"hour": "h", "day": "D", "week": "W", "month": "M"}
HOUR = timedelta(hours=1)


def cutoff(store: Store, as_of: datetime | None) -> datetime:
    """The whole hour the figures are computed at.

    Given an as-of time: the hour boundary at or before it (a bare date means
    its end, so the next midnight), so nothing observed after it counts.
    Without one: the first hour boundary at or after the newest time in the store.
    """
    if as_of is not None:
        if as_of.tzinfo is not None:
            from datetime import UTC

            as_of = as_of.astimezone(UTC).replace(tzinfo=None)
        return (as_of + timedelta(seconds=1)).replace(minute=0, second=0, microsecond=0)
    rows = store.engine.query(
        "SELECT MAX(t) FROM (SELECT MAX(served_at) AS t FROM predictions "
        "UNION ALL SELECT MAX(observed_at) FROM outcomes) AS x"
    )
    latest = rows[0][0] if rows and rows[0][0] is not None else datetime(1970, 1, 1)
    floor = latest.replace(minute=0, second=0, microsecond=0)
    return floor if floor == latest else floor + HOUR


class Windows:
    """Maps a served hour to its window: a calendar period, or a run of N predictions.

    Count windows (NannyML's size-based chunks) are cut at hour boundaries,
    each closing once it holds at least ``every`` predictions, so they are
    built from the same hourly state as calendar windows.
    """

    def __init__(self, store: Store, period: Period, every: int | None, cut: datetime) -> None:
        self.period, self.every = period, every
        self.bounds: list[datetime] = []
        if every is not None:
            p = store.predictions()
            p = p.filter(p.served_at < cut)
            hours = (
                (p.group_by(h=p.served_at.truncate("h")).aggregate(n=p.count()).order_by("h"))
                .to_pyarrow()
                .to_pylist()
            )
            filled = 0
            for r in hours:
                if filled == 0:
                    self.bounds.append(r["h"])
                filled += r["n"]
                if filled >= every:
                    filled = 0
            if hours:
                self.bounds.append(hours[-1]["h"] + HOUR)

    @property
    def unit(self) -> str:
        return "h" if self.every is not None else _TRUNC[self.period]

    def span(self, start: datetime) -> tuple[datetime, datetime]:
        """The window (start, end) holding the engine's group starting at ``start``."""
        if self.every is None:
            return start, _window_end(start, self.period)
        i = bisect.bisect_right(self.bounds, start) - 1
        return self.bounds[i], self.bounds[i + 1]


def _window_end(start: datetime, period: Period) -> datetime:
    if period == "hour":
        return start + HOUR
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    month = start.month % 12 + 1
    return start.replace(year=start.year + (start.month == 12), month=month)
