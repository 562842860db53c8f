"""What the three scenarios share: named random streams, traffic over time, files.

Each concern of a scenario (arrivals, customers, clicks, delays, ...) draws
from its own child stream, named, so switching a planted shift off changes
only what it touches and the rest of the traffic stays draw for draw the same
(common random numbers between a shifted and a clean run).

Traffic has a weekly rhythm and an hour-of-day profile of its own (this
generator's shop is busiest late in the evening and on Sundays, unlike
seismo's simulator); times are whole seconds, UTC, written as ISO 8601 with
``Z``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

__all__ = [
    "DAY",
    "PlantedShift",
    "Streams",
    "arrivals",
    "ids",
    "iso",
    "measured_rate",
    "write_csv",
    "write_truth",
]

DAY = 86_400
Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


class Streams:
    """Independent, named child generators of one seed: ``streams("clicks")``.

    >>> a, b = Streams(7)("clicks"), Streams(7)("clicks")
    >>> bool(a.uniform() == b.uniform())
    True
    >>> bool(Streams(7)("x").uniform() == Streams(7)("y").uniform())
    False
    """

    def __init__(self, seed: int, scope: str = "") -> None:
        self.seed, self.scope = seed, scope

    def __call__(self, name: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.scope}/{name}".encode()).digest()
        key = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
        return np.random.default_rng(np.random.SeedSequence([self.seed, *key]))


def arrivals(
    rng: np.random.Generator,
    *,
    start: datetime,
    days: int,
    per_day: float,
    weekly: tuple[float, ...],
    hourly: tuple[float, ...],
    growth: float = 0.0,
) -> Ints:
    """Sorted epoch seconds of every row: Poisson counts per day, then times within the day.

    ``weekly`` (Monday first) and ``hourly`` are relative; ``growth`` is a daily
    trend (0.002 = +0.2 % a day).
    """
    week = np.asarray(weekly, dtype=np.float64) / np.mean(weekly)
    hours = np.asarray(hourly, dtype=np.float64) / np.sum(hourly)
    first = int(start.timestamp())
    weekday0 = start.weekday()
    means = [per_day * week[(weekday0 + d) % 7] * (1.0 + growth) ** d for d in range(days)]
    counts = rng.poisson(means)
    day = np.repeat(np.arange(days, dtype=np.int64), counts)
    hour = rng.choice(24, size=day.size, p=hours)
    second = rng.integers(0, 3600, size=day.size)
    return np.sort(first + day * DAY + hour * 3600 + second)


def iso(seconds: Ints, valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """Epoch seconds as ``2026-01-05T08:03:11Z`` strings; null where not ``valid``."""
    text = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(text.tolist(), type=pa.string(), mask=mask)


def ids(prefix: str, numbers: NDArray[np.int64], width: int) -> pa.Array:
    """``ids("A", [1, 2], 4)`` → ``A0001``, ``A0002``."""
    if numbers.size == 0:
        return pa.array([], type=pa.string())
    return pa.array(np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).tolist())


def write_csv(table: pa.Table, path: Path) -> Path:
    """A plain CSV (no value holds a comma or a quote), empty for null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, sink, write_options=options)
    return path


@dataclass(frozen=True, kw_only=True)
class PlantedShift:
    """One planted change, as seismo would name it, with what it drags along.

    ``metric`` and ``segment`` are what a detector should report; ``implied``
    are other metrics the generator's mechanics move in the same cell (fewer
    clicks mean fewer purchases when purchases follow clicks), ``before`` and
    ``after`` the rates measured on the final outcomes of the cell, and
    ``rows_per_day`` the cell's mean daily population (for a per-purchase rate,
    purchases a day).
    """

    name: str
    metric: str
    segment: dict[str, str]
    start: datetime
    direction: str
    before: float
    after: float
    rows_per_day: float
    implied: tuple[str, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        data["implied"] = list(self.implied)
        return data


def measured_rate(
    member: NDArray[np.bool_], positive: NDArray[np.bool_], ts: Ints, start: datetime, days: float
) -> tuple[float, float, float]:
    """(rate before ``start``, rate from ``start`` on, members a day) of the ``member`` rows."""
    cut = int(start.timestamp())
    before, after = member & (ts < cut), member & (ts >= cut)

    def rate(mask: NDArray[np.bool_]) -> float:
        n = int(mask.sum())
        return float(positive[mask].sum() / n) if n else float("nan")

    return rate(before), rate(after), float(member.sum() / days)


def write_truth(path: Path, header: dict[str, Any], shifts: list[PlantedShift]) -> Path:
    """``truth.json``: the scenario's facts and every planted shift (times UTC ISO 8601)."""
    body = _finite({**header, "shifts": [s.to_json() for s in shifts]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, default=_default) + "\n", encoding="utf-8")
    return path


def _finite(value: Any) -> Any:
    """NaN (a rate of an empty period) as null: JSON has no NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
