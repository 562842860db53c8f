"""Histograms of features per window × segment, counted in the engine.

Drift statistics (:mod:`seismo.detect.drift`) need distributions, not rows.
The engine returns, per window × model version × segment cell and feature,
one row per bin with its count (one pass per feature), and for numeric
features the minimum, maximum, sum and sum of squares (one more pass for all
of them). A numeric feature's bins are fixed by its training reference (the
reference's percentiles), so the production and the
reference histograms line up bin for bin; a categorical feature's bins are its
values. Missing values form their own bin (``bin`` NULL).

The rows (window, version, segments, feature columns) are an Ibis expression
compiled once; the bin of a value is found by a balanced tree of portable SQL
``CASE`` comparisons (about log2(bins) a value), the same text on DuckDB and
PostgreSQL. The reference is profiled by
the very same function, run on an in-memory DuckDB over the reference rows.

Numeric bin numbering, for edges ``e[0] < … < e[K]`` (``e[0]`` and ``e[K]`` are
the reference's minimum and maximum): bin 0 holds values below ``e[0]``, bin
``i`` (1 ≤ i ≤ K) holds ``e[i-1] ≤ x < e[i]``, bin ``K + 1`` the maximum
itself (so an integer feature's values each get a bin), and bin ``K + 2``
values above ``e[K]``. Bins 0 and K + 2 are "out of the training range".
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import numpy as np

from seismo.metrics.cohorts import MISSING, segment_labels
from seismo.store.engine import quote

__all__ = [
    "Histogram",
    "bin_of",
    "bin_sql",
    "count_histograms",
]

#: Percentile edges of a numeric reference: 100 bins of about 1 % each.
EDGE_COUNT = 100
#: Kept categories of a categorical feature (the most frequent); the rest are "(other)".
MAX_CATEGORIES = 200
OTHER = "(other)"


def bin_of(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """The bin numbers of ``values`` (the reference implementation of :func:`bin_sql`).

    >>> bin_of(np.array([0.0, 1.0, 1.5, 3.0, 4.0]), [1.0, 2.0, 3.0]).tolist()
    [0, 1, 1, 3, 4]
    """
    e = np.asarray(edges, dtype=float)
    found = np.searchsorted(e, values, side="right")
    return np.where(values > e[-1], len(e) + 1, found).astype(np.int64)


def bin_sql(x: str, edges: list[float]) -> str:
    """Portable SQL giving :func:`bin_of` of column ``x`` (NULL for a missing value).

    A balanced tree of ``CASE`` comparisons: about log2(len(edges)) per value.

    >>> bin_sql("x", [1.0, 2.0])
    'CASE WHEN x IS NULL THEN NULL WHEN x > 2.0 THEN 3 ELSE CASE WHEN x >= 1.0 THEN \
CASE WHEN x >= 2.0 THEN 2 ELSE 1 END ELSE 0 END END'
    """

    def count_below(lo: int, hi: int) -> str:
        # Number of edges <= x, knowing it lies in [lo, hi].
        if lo == hi:
            return str(lo)
        mid = (lo + hi + 1) // 2  # is edges[mid - 1] <= x ?
        yes, no = count_below(mid, hi), count_below(lo, mid - 1)
        return f"CASE WHEN {x} >= {float(edges[mid - 1])!r} THEN {yes} ELSE {no} END"

    top = len(edges) + 1
    return (
        f"CASE WHEN {x} IS NULL THEN NULL WHEN {x} > {float(edges[-1])!r} THEN {top}"
        f" ELSE {count_below(0, len(edges))} END"
    )


@dataclass
class Histogram:
    """One feature's counts in one window × version × segment cell.

    ``counts`` maps a bin (an int for numeric features, a string for categorical
    ones) to its count; ``missing`` counts NULLs. For numeric features,
    ``low``, ``high``, ``total`` and ``squares`` are the minimum, maximum, sum
    and sum of squares of the values in the cell (None when not counted).
    """

    counts: dict[Any, float] = field(default_factory=dict)
    missing: float = 0.0
    low: float | None = None
    high: float | None = None
    total: float | None = None
    squares: float | None = None

    @property
    def n(self) -> float:
        """Rows with a value (missing ones excluded)."""
        return float(sum(self.counts.values()))

    def add(self, bin_: Any, n: float) -> None:
        if bin_ is None:
            self.missing += n
        else:
            self.counts[bin_] = self.counts.get(bin_, 0.0) + n

    def add_moments(self, low: Any, high: Any, total: Any, squares: Any) -> None:
        """Fold in another part's minimum, maximum, sum and sum of squares."""
        if low is None:
            return
        self.low = float(low) if self.low is None else min(self.low, float(low))
        self.high = float(high) if self.high is None else max(self.high, float(high))
        self.total = (self.total or 0.0) + float(total)
        self.squares = (self.squares or 0.0) + float(squares)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.total is not None and self.n else None

    @property
    def sd(self) -> float | None:
        if self.total is None or self.squares is None or self.n < 2:
            return None
        mean = self.total / self.n
        return math.sqrt(max(0.0, self.squares / self.n - mean * mean))


#: (window start, model version, attribute, value) → feature → histogram
HistogramKey = tuple[datetime | None, str | None, str, str]


def count_histograms(
    engine_kind: str,
    query: Any,
    rows: Any,
    *,
    window: Any,
    version: Any,
    segments: list[str],
    numeric: dict[str, list[float]],
    categorical: list[str],
) -> dict[HistogramKey, dict[str, Histogram]]:
    """Count every feature's histogram per window × version × segment cell.

    ``rows`` is an Ibis table, ``window`` and ``version`` Ibis expressions on it
    (or None for one window / no versions); ``query(sql)`` runs SQL on the
    engine that holds ``rows``. One engine pass per feature, with ``GROUPING
    SETS`` over the aggregate and each segment attribute.
    """
    out: dict[HistogramKey, dict[str, Histogram]] = defaultdict(dict)
    numeric = {f: edges for f, edges in numeric.items() if edges}
    select: dict[str, Any] = {
        "w": window if window is not None else ibis.null("timestamp"),
        "v": version if version is not None else ibis.null("string"),
    }
    for i, s in enumerate(segments):
        select[f"seg_{i}"] = rows[s].cast("string").fill_null(MISSING)
    names = {f: f"f_{j}" for j, f in enumerate([*numeric, *categorical])}
    for f, column in names.items():
        select[column] = rows[f].cast("float64" if f in numeric else "string")
    # The rows are compiled once; each feature's pass reads only its own column of them.
    base = ibis.to_sql(rows.select(**select), dialect=engine_kind)
    segs = [quote(f"seg_{i}") for i in range(len(segments))]
    sets = ", ".join(["(w, v, b)", *(f"(w, v, {s}, b)" for s in segs)])
    attribute, value = segment_labels(segs, segments)
    keep = ", ".join(["w", "v", *segs])
    for feature, column in names.items():
        x = quote(column)
        b = bin_sql(x, numeric[feature]) if feature in numeric else x
        sql = (
            f"SELECT w, v, {attribute}, {value}, b, COUNT(*)"
            f" FROM (SELECT {keep}, {b} AS b FROM ({base}) AS r0) AS r"
            f" GROUP BY GROUPING SETS ({sets})"
        )
        for w, v, attr, val, bin_, n in query(sql):
            key = (w, v, str(attr), str(val))
            h = out[key].get(feature) or out[key].setdefault(feature, Histogram())
            h.add(bin_, float(n))
    if numeric:  # one more pass for every numeric feature's minimum, maximum, sum, squares
        moments = ", ".join(
            f"MIN({x}), MAX({x}), SUM({x}), SUM({x} * {x})"
            for x in (quote(names[f]) for f in numeric)
        )
        sets = ", ".join(["(w, v)", *(f"(w, v, {s})" for s in segs)])
        sql = (
            f"SELECT w, v, {attribute}, {value}, {moments} FROM ({base}) AS r"
            f" GROUP BY GROUPING SETS ({sets})"
        )
        for w, v, attr, val, *values in query(sql):
            cell = out[(w, v, str(attr), str(val))]
            for j, feature in enumerate(numeric):
                h = cell.get(feature) or cell.setdefault(feature, Histogram())
                h.add_moments(*values[4 * j : 4 * j + 4])
    return out
