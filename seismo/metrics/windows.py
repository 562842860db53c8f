"""Windows and the cut-off: which hour figures are computed at, and how predictions group.

Shared by every table that is computed per window (quality metrics, exposure,
drift), so their windows line up row for row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import ibis

from seismo.errors import ConfigError
from seismo.store.read import Store

__all__ = ["HOUR", "Period", "Windows", "chunk_number", "cutoff"]

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
    """Maps the engine's window key to its window: a calendar period, or a chunk of N predictions.

    Calendar windows group served hours (``unit``: the truncation). Count
    windows are NannyML's size-based chunks: per model version, the
    predictions in time order (ties broken by prediction id) cut into runs of
    exactly ``every``, numbered by :func:`chunk_number` in the engine; a
    chunk's window runs from its first to its last prediction's ``served_at``.
    The last chunk of a version usually holds fewer: it is reported, never
    final (more predictions will join it), and :meth:`incomplete` says how many
    it holds. Only served predictions are chunked (a training reference is a
    profile, not rows).
    """

    def __init__(self, store: Store, period: Period, every: int | None, cut: datetime) -> None:
        if every is not None and (isinstance(every, bool) or every < 1):
            raise ConfigError(f"every must be a whole number of predictions >= 1, got {every!r}")
        self.period, self.every = period, every
        self.chunks: dict[tuple[Any, int], tuple[datetime, datetime, int]] = {}
        if every is not None:
            p = store.predictions()
            p = p.filter(p.served_at < cut)
            p = p.mutate(chunk=chunk_number(p, every))
            rows = (
                p.group_by(["model_version", "chunk"])
                .aggregate(start=p.served_at.min(), end=p.served_at.max(), n=p.count())
                .to_pyarrow()
                .to_pylist()
            )
            self.chunks = {
                (r["model_version"], int(r["chunk"])): (r["start"], r["end"], int(r["n"]))
                for r in rows
            }

    @property
    def unit(self) -> str:
        """The truncation of a calendar window (the hour for count windows, read per hour)."""
        return "h" if self.every is not None else _TRUNC[self.period]

    def key(self, p: Any) -> Any:
        """Each prediction's window key, on an Ibis table of predictions filtered by time only."""
        if self.every is None:
            return p.served_at.truncate(self.unit)
        return chunk_number(p, self.every)

    def span(self, key: Any, version: Any = None) -> tuple[datetime, datetime]:
        """The window (start, end) of the engine's key (a period start, or a version's chunk)."""
        if self.every is None:
            return key, _window_end(key, self.period)
        start, end, _ = self.chunks[(version, int(key))]
        return start, end

    def closed(self, key: Any, version: Any, cut: datetime) -> bool:
        """Is the window over: its period has ended, or its chunk holds its N predictions?"""
        if self.every is None:
            return _window_end(key, self.period) <= cut
        return self.chunks[(version, int(key))][2] == self.every

    def incomplete(self) -> list[tuple[Any, datetime, int]]:
        """The chunks holding fewer than N predictions: (model version, start, rows)."""
        return sorted(
            ((v, s, n) for (v, _), (s, _, n) in self.chunks.items() if n != self.every),
            key=lambda c: (str(c[0]), c[1]),
        )


def chunk_number(p: Any, every: int) -> Any:
    """The 0-based chunk of each prediction: its rank in its model version's time order // N.

    Ranked by ``served_at``, ties by ``prediction_id``; a window function the
    engine evaluates (``ROW_NUMBER() OVER (PARTITION BY model_version ORDER BY
    served_at, prediction_id)``), the same on DuckDB and PostgreSQL.
    """
    order = ibis.window(group_by=p.model_version, order_by=[p.served_at, p.prediction_id])
    return (ibis.row_number().over(order) // every).cast("int64")


def _window_end(start: datetime, period: Period) -> datetime:
    if period == "hour":
        return start + HOUR
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    month = start.month % 12 + 1
    return start.replace(year=start.year + (start.month == 12), month=month)
