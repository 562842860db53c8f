"""What the model *shows* each segment, per window: exposure metrics in the tidy result shape.

Quality metrics say how well the recommendations work for a segment; exposure
metrics say what the segment is offered at all. The two can move apart: when
the summer collection (which skews young) replaces spring, the share of
sustainable items recommended to 55+ customers falls from about 35 % to 15 %
while their click-through stays flat. No outcome metric sees that; a
per-segment share of what was shown does, and :mod:`seismo.metrics.fairness`
turns it into gaps between segments.

Exposure is known the moment a recommendation is served, so every figure is
already settled (``confirmed_n = n``, ``pending_n = 0``, ``estimator =
"observed"``); what it still carries is sampling uncertainty, as a 90 %
interval (Wilson for shares, Student t for means).

The engine does the counting: one scan of the predictions, ``GROUPING SETS``
over the aggregate and every segment attribute (as in
:mod:`seismo.metrics.cohorts`), returns per window × model version × segment
cell the row count and, per metric, a sum of hits (or of values and squared
values). Python only divides and adds intervals. The row-level part is written
once in Ibis and compiled for the engine in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

import ibis
import pyarrow as pa
from scipy import special

from seismo.errors import ConfigError
from seismo.metrics.cohorts import AGGREGATE, MISSING, segment_labels
from seismo.metrics.compute import RESULT_SCHEMA
from seismo.metrics.naming import stem as _stem
from seismo.metrics.naming import words as _words
from seismo.metrics.windows import Period, Windows, cutoff
from seismo.store.engine import quote
from seismo.store.read import Store

__all__ = ["ExposureSpec", "Threshold", "compute_exposure", "default_exposure", "wilson"]

#: A string feature with more distinct values than this is an identifier, not a mix.
MAX_MIX_VALUES = 12
#: Features whose values are kinds of item ("Share of dresses shown").
_KIND_FEATURES = ("category", "product_type", "type", "kind", "department")


@dataclass(frozen=True, kw_only=True)
class Threshold:
    """The share of shown items whose ``feature`` is above ``at`` (a price band)."""

    feature: str
    at: float
    name: str = ""
    label: str = ""


@dataclass(frozen=True, kw_only=True)
class ExposureSpec:
    """Which exposure metrics to compute, apart from how (a serialisable, frozen spec).

    ``shares``: boolean features, each giving the share of shown items where
    it is true (``is_sustainable`` → ``sustainable_share``). ``mix``: string
    features, each giving one share per value (``category`` →
    ``category_share:dresses`` …; values are read from the data at compute
    time, so a category that appears later is tracked too). ``means``: numeric
    features, each giving the average shown (``price_eur`` →
    ``mean_price_shown``). ``above``: price bands and the like.

    >>> spec = ExposureSpec(shares=("is_sustainable",), means=("price_eur",))
    >>> spec.names()
    ['sustainable_share', 'mean_price_shown']
    """

    shares: tuple[str, ...] = ()
    mix: tuple[str, ...] = ()
    means: tuple[str, ...] = ()
    above: tuple[Threshold, ...] = ()

    def features(self) -> list[str]:
        """The prediction columns the spec reads, each once."""
        found = [*self.shares, *self.mix, *self.means, *(t.feature for t in self.above)]
        return list(dict.fromkeys(found))

    def names(self) -> list[str]:
        """Metric names, mix features as ``feature_share:*`` (their values come from the data)."""
        return [
            *(_share_name(f) for f in self.shares),
            *(f"{f}_share:*" for f in self.mix),
            *(f"mean_{_stem(f)}_shown" for f in self.means),
            *(_threshold_name(t) for t in self.above),
        ]


def _share_name(feature: str) -> str:
    return f"{feature.removeprefix('is_')}_share"


def _threshold_name(t: Threshold) -> str:
    return t.name or f"{_stem(t.feature)}_above_{t.at:g}"


def default_exposure(store: Store, *, baseline_days: int = 7) -> ExposureSpec:
    """The exposure metrics the store's declared features call for.

    Boolean features become shares, string features with at most
    :data:`MAX_MIX_VALUES` distinct values a mix (more is an identifier, such
    as a brand list or product id), float features means. Each float feature
    also gets a band: the share above its 75th percentile over the first
    ``baseline_days`` of served data, fixed here once, so later windows are
    measured against the deployment period rather than against themselves.
    """
    attrs = {n: d for n, (role, d) in store.attributes().items() if role == "feature"}
    bools = tuple(n for n, d in attrs.items() if d == "bool")
    floats = tuple(n for n, d in attrs.items() if d == "float")
    strings = [n for n, d in attrs.items() if d == "string"]
    p = store.predictions()
    mix: tuple[str, ...] = ()
    above: tuple[Threshold, ...] = ()
    if strings:
        counts = p.aggregate(**{f"c{i}": p[s].nunique() for i, s in enumerate(strings)})
        row = counts.to_pyarrow().to_pylist()[0]
        mix = tuple(s for i, s in enumerate(strings) if 0 < (row[f"c{i}"] or 0) <= MAX_MIX_VALUES)
    if floats:
        shown = " shown" if store.words().item else ""
        first = p.aggregate(t=p.served_at.min()).to_pyarrow().to_pylist()[0]["t"]
        if first is not None:
            early = p.filter(p.served_at < first + timedelta(days=baseline_days))
            aggs = {f"q{i}": early[f].quantile(0.75) for i, f in enumerate(floats)}
            q = early.aggregate(**aggs).to_pyarrow().to_pylist()[0]
            above = tuple(
                Threshold(
                    feature=f,
                    at=round(float(q[f"q{i}"]), 6),
                    name=f"{_stem(f)}_above_p75",
                    label=f"Share{shown} with {_words(_stem(f))} above the launch-period"
                    f" 75th percentile ({float(q[f'q{i}']):.2f})",
                )
                for i, f in enumerate(floats)
                if q[f"q{i}"] is not None
            )
    return ExposureSpec(shares=bools, mix=mix, means=floats, above=above)


@dataclass(frozen=True)
class _Column:
    """One exposure metric as the engine sees it: summed hits (or values) over a denominator."""

    name: str
    label: str
    unit: str  # "share" or "amount"
    hit: Any  # Ibis expression summed per cell
    den: Any  # Ibis expression summed per cell (None: every row)
    square: Any = None  # for means: the squared value


def _columns(store: Store, spec: ExposureSpec, p: Any) -> list[_Column]:
    declared = {n: d for n, (_, d) in store.attributes().items()}
    for f in spec.features():
        if f not in declared:
            raise ConfigError(f"exposure feature {f!r} is not a declared column of the store")
    numeric = [*spec.means, *(t.feature for t in spec.above)]
    wrong = [f for f in spec.shares if declared[f] != "bool"]
    wrong += [f for f in numeric if declared[f] not in ("float", "int")]
    if wrong:
        raise ConfigError(
            f"exposure feature(s) {wrong}: shares need a bool column, means and bands a number"
        )
    one, zero = ibis.literal(1), ibis.literal(0)
    cols: list[_Column] = []
    # A recommender's rows are items shown ("Share of dresses shown"); any other model's
    # rows are what it was asked about ("Share with employment self-employed").
    words = store.words()
    shown = " shown" if words.item else ""
    for f in spec.shares:
        name = _words(f.removeprefix("is_"))
        own = words.columns.get(f)
        if words.item:
            label = f"Share of {name} items shown"
        else:
            label = f"Share {own}" if own else f"Share with {name}"
        hit = ibis.ifelse(p[f].cast("boolean"), one, zero)
        cols.append(_Column(_share_name(f), label, "share", hit, p[f].notnull()))
    for f in spec.mix:
        filled = p[f].cast("string").fill_null(MISSING)
        # GROUP BY, not DISTINCT: Ibis 12 compiles a filtered DISTINCT … ORDER BY for
        # PostgreSQL with the filter column inside the DISTINCT (one row per timestamp).
        values = p.group_by(v=filled).aggregate(k=p.count()).to_pyarrow().column("v")
        for v in sorted(values.to_pylist()):
            if not words.item:
                label = f"Share with {words.column(f)} {v}"
            elif f in _KIND_FEATURES:
                label = f"Share of {v} shown"
            else:
                label = f"Share of {v} {f} items shown"
            hit = ibis.ifelse(filled == v, one, zero)
            cols.append(_Column(f"{f}_share:{v}", label, "share", hit, None))
    for f in spec.means:
        x = p[f].cast("float64")
        label = f"Average {words.columns.get(f) or _words(_stem(f))}{shown}"
        square = (x * x).fill_null(0.0)
        cols.append(
            _Column(
                f"mean_{_stem(f)}_shown", label, "amount", x.fill_null(0.0), x.notnull(), square
            )
        )
    for t in spec.above:
        x = p[t.feature].cast("float64")
        name = words.columns.get(t.feature) or _words(_stem(t.feature))
        label = t.label or f"Share{shown} with {name} above {t.at:g}"
        hit = ibis.ifelse(x > t.at, one, zero)
        cols.append(_Column(_threshold_name(t), label, "share", hit, x.notnull()))
    return cols


def compute_exposure(
    store: Store,
    *,
    as_of: datetime | None = None,
    period: Period = "day",
    every: int | None = None,
    by: list[str] | None = None,
    spec: ExposureSpec | None = None,
    level: float = 0.9,
) -> pa.Table:
    """Every exposure metric × window × segment cell × model version, in ``RESULT_SCHEMA``.

    Windows and ``as_of`` mean what they mean for
    :func:`~seismo.metrics.compute.compute_metrics` (predictions served before
    the cut-off hour; ``every`` cuts each model version's predictions into
    chunks of exactly that many), so exposure rows line up with quality rows
    window for window. ``by`` limits the segment attributes (the aggregate is always there).
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be between 0 and 1, got {level}")
    segments = store.segments() if by is None else list(by)
    unknown = [s for s in segments if s not in store.attributes()]
    if unknown:
        raise ConfigError(
            f"unknown segment attribute(s) {unknown}; the store has {store.segments()}"
        )
    spec = spec or default_exposure(store)
    cut = cutoff(store, as_of)
    windows = Windows(store, period, every, cut)
    p = store.predictions()
    p = p.filter(p.served_at < cut)
    cols = _columns(store, spec, p)
    sums = _cell_sums(store, p, cols, segments, windows, cut)
    rows = [
        row
        for (key, version, attribute, value), cell in sums.items()
        for row in _rows(
            cols,
            cell,
            windows.span(key, version),
            windows.closed(key, version, cut),
            version,
            attribute,
            value,
            cut,
            level,
        )
    ]
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    order = ("metric", "attribute", "value", "model_version", "window_start")
    return table.sort_by([(c, "ascending") for c in order])


_Key = tuple[Any, Any, str, str]


def _cell_sums(
    store: Store, p: Any, cols: list[_Column], segments: list[str], windows: Windows, cut: datetime
) -> dict[_Key, list[float]]:
    """Per window key × version × cell: [rows, then hit, den, square per metric]."""
    one, zero = ibis.literal(1), ibis.literal(0)
    select: dict[str, Any] = {
        "window_start": windows.key(p),
        "model_version": p.model_version,
    }
    for i, s in enumerate(segments):
        select[f"seg_{i}"] = p[s].cast("string").fill_null(MISSING)
    sums = ["COUNT(*)"]
    for j, c in enumerate(cols):
        select[f"h{j}"] = c.hit
        select[f"d{j}"] = one if c.den is None else ibis.ifelse(c.den, one, zero)
        sums += [f"SUM(h{j})", f"SUM(d{j})", "0" if c.square is None else f"SUM(s{j})"]
        if c.square is not None:
            select[f"s{j}"] = c.square
    rows_sql = ibis.to_sql(p.select(**select), dialect=store.engine.kind)
    dims = "window_start, model_version"
    segs = [quote(f"seg_{i}") for i in range(len(segments))]
    sets = ", ".join([f"({dims})", *(f"({dims}, {s})" for s in segs)])
    attribute, value = segment_labels(segs, segments)
    sql = (
        f"SELECT {dims}, {attribute}, {value}, {', '.join(sums)}"
        f" FROM ({rows_sql}) AS r GROUP BY GROUPING SETS ({sets})"
    )
    return {
        (key, version, str(attribute_), str(value_)): [float(x or 0) for x in numbers]
        for key, version, attribute_, value_, *numbers in store.engine.query(sql)
    }


def _rows(
    cols: list[_Column],
    cell: list[float],
    span: tuple[datetime, datetime],
    closed: bool,
    version: Any,
    attribute: str,
    value: str,
    cut: datetime,
    level: float,
) -> list[dict[str, Any]]:
    start, end = span
    aggregate = attribute == AGGREGATE
    out = []
    for j, c in enumerate(cols):
        hit, den, square = cell[1 + 3 * j : 4 + 3 * j]
        if den == 0:  # the feature was never filled in this cell: nothing was measured
            continue
        estimate = hit / den
        low: float | None
        high: float | None
        low, high = (
            wilson(hit, den, level) if c.unit == "share" else _t_interval(hit, square, den, level)
        )
        out.append(
            {
                "metric": c.name,
                "label": c.label,
                "unit": c.unit,
                "attribute": None if aggregate else attribute,
                "value": None if aggregate else value,
                "model_version": version,
                "window_start": start,
                "window_end": end,
                "n": int(den),
                "confirmed_n": int(den),
                "pending_n": 0,
                "confirmed_value": estimate,
                "observed_value": estimate,
                "estimate": estimate,
                "estimate_low": low,
                "estimate_high": high,
                "estimator": "observed",
                "final": closed,
                "final_at": end,
                "as_of": cut,
            }
        )
    return out


def wilson(hits: float, n: float, level: float = 0.9) -> tuple[float, float]:
    """Wilson score interval for a share: sensible at 0 %, 100 % and small ``n``.

    The normal interval would collapse to a point at a share of 0 (a category
    absent from a segment's day) and claim certainty it does not have.

    >>> tuple(round(x, 4) for x in wilson(35, 100))
    (0.2764, 0.4315)
    >>> tuple(round(x, 4) for x in wilson(0, 20))
    (0.0, 0.1192)
    """
    z = NormalDist().inv_cdf(0.5 + level / 2)
    share = hits / n
    # At the edges the closed form below leaves rounding dust; these are its exact values.
    if hits <= 0:
        return 0.0, z * z / (n + z * z)
    if hits >= n:
        return n / (n + z * z), 1.0
    denom = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _t_interval(
    total: float, squares: float, n: float, level: float
) -> tuple[float | None, float | None]:
    """Student t interval for a mean, from the engine's sum and sum of squares."""
    mean = total / n
    if n < 2:
        return None, None  # one item says nothing about the spread
    var = max(0.0, (squares - total * total / n) / (n - 1))
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * math.sqrt(var / n)
    return mean - half, mean + half
