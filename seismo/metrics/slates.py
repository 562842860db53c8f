"""How well each served list (slate) is ordered, and click-through by position.

One slate is the entries served together: the rows sharing a mapped
``request_id``, or else the rows of one entity (``entity_id``) served at the
same moment; a row with neither is a slate of its own. Each entry's
relevance is the highest grade among the outcomes it has earned as of the
cut-off (see :mod:`seismo.metrics.ranking_spec`). Per slate, with ``k`` the
cut-off and ``p`` an entry's position (1 = top):

* **NDCG@k**: Σ over entries at ``p <= k`` of ``gain / log2(p + 1)``, over the
  same sum for the slate's entries in their ideal order (by grade, best
  first); ``gain = 2**grade - 1``. A slate with nothing relevant scores 0.
* **MRR@k**: ``1 / p`` of the first relevant entry at ``p <= k`` (0 if none).
* **precision@k**: relevant entries at ``p <= k``, over ``k``.
* **hit rate@k**: 1 if any entry at ``p <= k`` is relevant.

and per row, the rate of the grade-1 outcome at position 1, and that rate
over the rate at positions 2..k (the position lift: how much more the top
entry earns than the rest).

**Maturity.** An entry whose outcome can still arrive (its maturity window,
counted as the rate metrics count it, has not closed) leaves its slate
*pending*: for NDCG, an outcome of a higher grade than the entry has; for the
binary metrics, any outcome of an entry not yet relevant (for the hit rate,
only while nothing in the list is relevant yet). ``confirmed_value``
is the mean over settled slates, ``observed_value`` over all with what has
arrived so far. The ``estimate`` of the final value reuses the rate
metrics' nowcast (:mod:`seismo.metrics.compute`) of the same cell: the
observed value grows by the share of relevance still to come that the
nowcast of each graded outcome's rate gives (its estimate over what has been
observed), weighted by the gain that outcome adds. It is a first-order
correction (exact for slates of one entry); the interval comes from the
nowcast's interval in the same way.

The engine computes one row per slate and sums per window × model version ×
segment cell (``GROUPING SETS``); Python only divides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa

from seismo.errors import ConfigError
from seismo.metrics.cohorts import AGGREGATE, MISSING, segment_labels
from seismo.metrics.ranking_spec import RankingSpec, request_column, window_of
from seismo.metrics.spec import default_metrics
from seismo.metrics.windows import HOUR, Windows
from seismo.store.engine import quote
from seismo.store.read import Store

__all__ = ["slate_rows"]

#: Per-slate values summed per cell: (name, the pending flag it waits on).
_SLATE_VALUES = (("ndcg", "pend_g"), ("rr", "pend_b"), ("prec", "pend_b"), ("hit", "pend_h"))
_POSITION_SUMS = ("n1", "h1", "o1", "nr", "hr", "orest")


def _entries(store: Store, spec: RankingSpec, cut: datetime, segments: list[str]) -> Any:
    """One row per served entry with its grade as of ``cut`` and what may still arrive."""
    p = store.predictions()
    p = p.filter((p.served_at < cut) & p[spec.position].notnull())
    _check_positions(store, spec, p)
    names = sorted(spec.relevance)
    o = store.outcomes(cut)
    o = o.filter(o.outcome_type.isin(names))
    grade = ibis.cases(*((o.outcome_type == n, spec.relevance[n]) for n in names), else_=0)
    happened = o.value > 0
    per = o.group_by(pid=o.prediction_id).aggregate(
        grade=ibis.ifelse(happened, grade, 0).max(),
        lowest=ibis.ifelse(happened, grade, ibis.null("int64")).min(),
        first_hit=ibis.ifelse((o.outcome_type == spec.first) & happened, 1, 0).max(),
        **{f"known_{i}": ibis.ifelse(o.outcome_type == n, 1, 0).max() for i, n in enumerate(names)},
        **{
            f"hit_{i}": ibis.ifelse((o.outcome_type == n) & happened, 1, 0).max()
            for i, n in enumerate(names)
        },
    )
    j = p.left_join(per, p.prediction_id == per.pid)
    types = store.outcome_types()
    hour = j.served_at.truncate("h")
    g = j.grade.fill_null(0)
    still: dict[str, Any] = {}
    for i, n in enumerate(names):
        window = int(types[n].window.total_seconds())
        closed = (hour + ibis.interval(seconds=window + 3600)) <= cut
        still[n] = (j[f"known_{i}"].fill_null(0) == 0) & ~closed
    graded = ibis.literal(False)
    binary = ibis.literal(False)
    for n in names:
        graded = graded | (still[n] & (g < spec.relevance[n]))
        binary = binary | still[n]
    request = request_column(store)
    if request is not None:
        slate = j[request].cast("string")
    else:
        slate = j.entity_id + "|" + j.served_at.cast("string")
    slate = ibis.coalesce(slate, "#" + j.prediction_id)
    cols: dict[str, Any] = {
        "slate": slate,
        "pid": j.prediction_id,
        "served_at": j.served_at,
        "model_version": j.model_version,
        "position": j[spec.position].cast("int64"),
        "g": g,
        "first_hit": j.first_hit.fill_null(0),
        "first_open": still[spec.first],
        "pend_graded": graded,
        "pend_binary": (g == 0) & binary,
    }
    for i, n in enumerate(names):
        # Entries this outcome made relevant (no lower grade happened): what its late arrivals
        # add to the binary metrics.
        cols[f"pos_{i}"] = j[f"hit_{i}"].fill_null(0)
        cols[f"solo_{i}"] = ibis.ifelse(j.lowest == spec.relevance[n], 1, 0)
    for i, s in enumerate(segments):
        cols[f"seg_{i}"] = j[s].cast("string").fill_null(MISSING)
    return j.select(**cols)


def _check_positions(store: Store, spec: RankingSpec, p: Any) -> None:
    """A position is a whole number from 1 (the top): say which row breaks that, and how."""
    x = p[spec.position].cast("float64")
    bad = p.filter((x < 1) | (x != x.floor())).order_by("served_at", "prediction_id").limit(1)
    rows = bad.select("prediction_id", value=x).to_pyarrow().to_pylist()
    if rows:
        raise ConfigError(
            f"prediction {rows[0]['prediction_id']!r}, field {spec.position!r}: a position is a"
            f" whole number from 1 (the top), got {rows[0]['value']:g}"
        )


def _slates(e: Any, spec: RankingSpec, segments: list[str], windows: Windows) -> Any:
    """One row per slate: its metrics and pending flags, its window and segment values."""
    k = spec.k
    w = ibis.window(
        group_by=[e.slate, e.model_version], order_by=[ibis.desc(e.g), e.position, e.pid]
    )
    e = e.mutate(ideal=ibis.row_number().over(w))
    grades = sorted(set(spec.relevance.values()))
    gain = ibis.cases(*((e.g == x, float(2**x - 1)) for x in grades), else_=0.0)
    top = e.position <= k
    relevant = e.g > 0
    one, zero = ibis.literal(1), ibis.literal(0)
    at1 = e.position == 1
    rest = (e.position > 1) & top
    s = e.group_by(slate=e.slate, model_version=e.model_version).aggregate(
        at=e.served_at.min(),
        dcg=ibis.ifelse(top, gain / (e.position + 1).cast("float64").log2(), 0.0).sum(),
        idcg=ibis.ifelse(e.ideal < k, gain / (e.ideal + 2).cast("float64").log2(), 0.0).sum(),
        rr=ibis.ifelse(relevant & top, 1.0 / e.position.cast("float64"), 0.0).max(),
        hits=ibis.ifelse(relevant & top, one, zero).sum(),
        pend_g=ibis.ifelse(e.pend_graded, one, zero).max(),
        pend_b=ibis.ifelse(e.pend_binary & top, one, zero).max(),
        n1=ibis.ifelse(at1, one, zero).sum(),
        h1=ibis.ifelse(at1 & (e.first_hit == 1), one, zero).sum(),
        o1=ibis.ifelse(at1 & e.first_open, one, zero).sum(),
        nr=ibis.ifelse(rest, one, zero).sum(),
        hr=ibis.ifelse(rest & (e.first_hit == 1), one, zero).sum(),
        orest=ibis.ifelse(rest & e.first_open, one, zero).sum(),
        **{f"seg_{i}": e[f"seg_{i}"].min() for i in range(len(segments))},
        **{
            f"{what}_{i}": ibis.ifelse(top, e[f"{what}_{i}"], 0).sum()
            for i in range(len(spec.relevance))
            for what in ("pos", "solo")
        },
    )
    return s.mutate(
        window_start=window_of(s.at, windows),
        ndcg=ibis.ifelse(s.idcg > 0, s.dcg / s.idcg, 0.0),
        prec=s.hits.cast("float64") / k,
        hit=ibis.ifelse(s.hits > 0, 1.0, 0.0),
        # a list already hit stays hit, whatever else arrives
        pend_h=ibis.ifelse(s.hits > 0, 0, s.pend_b),
    )


_Key = tuple[tuple[datetime, datetime], Any, str, str]


def _cell_sums(
    store: Store, spec: RankingSpec, slates: Any, segments: list[str], windows: Windows
) -> dict[_Key, dict[str, float]]:
    """Per window × version × cell: slates, and per metric its sums over all and settled slates."""
    sums = {"slates": "COUNT(*)"}
    for name, flag in _SLATE_VALUES:
        sums[f"{name}_sum"] = f"SUM({name})"
        sums[f"{name}_sq"] = f"SUM({name} * {name})"
        sums[f"{name}_settled_sum"] = f"SUM(CASE WHEN {flag} = 0 THEN {name} ELSE 0 END)"
        sums[f"{name}_pending"] = f"SUM({flag})"
    sums.update({name: f"SUM({name})" for name in _POSITION_SUMS})
    for i in range(len(spec.relevance)):
        sums.update({f"pos_{i}": f"SUM(pos_{i})", f"solo_{i}": f"SUM(solo_{i})"})
    rows_sql = ibis.to_sql(slates, dialect=store.engine.kind)
    dims = "window_start, model_version"
    segs = [quote(f"seg_{i}") for i in range(len(segments))]
    sets = ", ".join([f"({dims})", *(f"({dims}, {s})" for s in segs)])
    attribute, value = segment_labels(segs, segments)
    sql = (
        f"SELECT {dims}, {attribute}, {value}, {', '.join(sums.values())}"
        f" FROM ({rows_sql}) AS r WHERE window_start IS NOT NULL GROUP BY GROUPING SETS ({sets})"
    )
    out: dict[_Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(sums, 0.0))
    for start, version, attribute_, value_, *numbers in store.engine.query(sql):
        span = windows.span(start)
        acc = out[(span, version, str(attribute_), str(value_))]
        for name, x in zip(sums, numbers, strict=True):
            acc[name] += float(x or 0)
    return out


def slate_rows(
    store: Store,
    spec: RankingSpec,
    *,
    cut: datetime,
    windows: Windows,
    segments: list[str],
    rates: pa.Table,
) -> list[dict[str, Any]]:
    """NDCG, MRR, precision and hit rate @k per cell, and click-through by position."""
    slates = _slates(_entries(store, spec, cut, segments), spec, segments, windows)
    cells = _cell_sums(store, spec, slates, segments, windows)
    types = store.outcome_types()
    horizon = max(types[n].window for n in spec.relevance) + HOUR
    nowcast = _Completion(store, spec, rates)
    k = spec.k
    first = nowcast.label(spec.first)
    titles = {
        "ndcg": (f"ndcg_at_{k}", f"NDCG@{k}", "score"),
        "rr": (f"mrr_at_{k}", f"MRR@{k}", "score"),
        "prec": (f"precision_at_{k}", f"Precision@{k}", "score"),
        "hit": (f"hit_rate_at_{k}", f"Hit rate@{k}", "share"),
    }
    out = []
    for (span, version, attribute, value), c in sorted(cells.items(), key=_order):
        base = _base(span, version, attribute, value, cut, horizon)
        for name, _ in _SLATE_VALUES:
            metric, label, unit = titles[name]
            weights = nowcast.gain_weights() if name == "ndcg" else nowcast.new_relevance(c)
            completion = nowcast.factor(weights, base)
            out.append(_mean_row(base, metric, label, unit, c, name, completion, span[1] <= cut))
        completion = nowcast.factor({spec.first: 1.0}, base)
        top = _rate_row(
            base, f"{spec.first}_rate_at_position_1", f"{first} at position 1", c, "1", completion
        )
        if top is not None:
            out.append({**top, "final": bool(top["final"] and span[1] <= cut)})
        lift = _lift_row(base, spec, first, c)
        if lift is not None:
            out.append({**lift, "final": bool(lift["final"] and span[1] <= cut)})
    return out


def _order(item: tuple[_Key, dict[str, float]]) -> tuple[Any, ...]:
    (span, version, attribute, value), _ = item
    return (attribute != AGGREGATE, attribute, value, str(version), span[0])


def _base(
    span: tuple[datetime, datetime],
    version: Any,
    attribute: str,
    value: str,
    cut: datetime,
    horizon: timedelta,
) -> dict[str, Any]:
    aggregate = attribute == AGGREGATE
    return {
        "attribute": None if aggregate else attribute,
        "value": None if aggregate else value,
        "model_version": version,
        "window_start": span[0],
        "window_end": span[1],
        "final_at": span[1] + horizon,
        "as_of": cut,
    }


class _Completion:
    """How much of each graded outcome is still to come in a cell, from the rates' nowcast."""

    def __init__(self, store: Store, spec: RankingSpec, rates: pa.Table) -> None:
        config = default_metrics(store.outcome_types(), store.attributes(), store.declared())
        self.spec = spec
        self.metric = {m.outcome: m for m in config.metrics if m.given is None and m.weight is None}
        wanted = {m.name: o for o, m in self.metric.items() if o in spec.relevance}
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rates.to_pylist():
            outcome = wanted.get(r["metric"])
            if outcome is not None:
                key = (outcome, r["attribute"], r["value"], r["model_version"], r["window_start"])
                self.rows[key] = r

    def label(self, outcome: str) -> str:
        m = self.metric.get(outcome)
        return m.title if m is not None else f"{outcome} rate"

    def gain_weights(self) -> dict[str, float]:
        """What each outcome adds to an entry's gain over the grade below it."""
        gains = self.spec.gains()
        ordered = sorted(self.spec.relevance, key=lambda n: self.spec.relevance[n])
        out, below = {}, 0.0
        for n in ordered:
            out[n] = gains[n] - below
            below = gains[n]
        return out

    def new_relevance(self, c: dict[str, float]) -> dict[str, float]:
        """Per outcome, the share of its positives (at ``p <= k``) it alone made relevant.

        A late purchase of an entry already clicked changes no binary metric;
        one that nothing else had made relevant does.
        """
        names = sorted(self.spec.relevance)
        return {
            n: c[f"solo_{i}"] / c[f"pos_{i}"] if c[f"pos_{i}"] else 0.0 for i, n in enumerate(names)
        }

    def factor(
        self, weights: dict[str, float], base: dict[str, Any]
    ) -> tuple[float, float, float, str] | None:
        """(estimate, low, high) over observed for a cell, and the nowcast's estimator."""
        seen = est = low = high = 0.0
        how = "confirmed"
        for outcome, w in weights.items():
            key = (outcome, base["attribute"], base["value"], base["model_version"])
            r = self.rows.get((*key, base["window_start"]))
            if r is None or r["observed_value"] is None or w == 0:
                continue
            if r["estimate"] is None:
                return None  # no delay learnt yet: the rates say "bounds", so does this
            seen += w * r["observed_value"]
            est += w * r["estimate"]
            low += w * (r["estimate_low"] if r["estimate_low"] is not None else r["estimate"])
            high += w * (r["estimate_high"] if r["estimate_high"] is not None else r["estimate"])
            if r["estimator"] != "confirmed":
                how = r["estimator"]
        if seen <= 0:
            return 1.0, 1.0, 1.0, how
        return max(est / seen, 1.0), max(low / seen, 1.0), max(high / seen, 1.0), how


def _mean_row(
    base: dict[str, Any],
    metric: str,
    label: str,
    unit: str,
    c: dict[str, float],
    name: str,
    completion: tuple[float, float, float, str] | None,
    closed: bool,
) -> dict[str, Any]:
    n = c["slates"]
    pending = c[f"{name}_pending"]
    settled = n - pending
    observed = c[f"{name}_sum"] / n
    var = max(c[f"{name}_sq"] / n - observed * observed, 0.0)
    est: float | None = observed
    low: float | None = observed
    high: float | None = observed
    how = "confirmed"
    scale = 1.0
    if pending:
        if completion is None:
            est, high, how = None, None, "bounds"
        else:
            scale, lo, hi, how = completion
            est, low, high = observed * scale, observed * lo, observed * hi
            est, high = min(est, 1.0), min(high, 1.0)
    return {
        **base,
        "metric": metric,
        "label": label,
        "unit": unit,
        "n": int(n),
        "confirmed_n": int(settled),
        "pending_n": int(pending),
        "confirmed_value": c[f"{name}_settled_sum"] / settled if settled else None,
        "observed_value": observed,
        "estimate": est,
        "estimate_low": low,
        "estimate_high": high,
        "std_error": math.sqrt(var / n) * scale if n >= 2 else None,
        "estimator": how,
        "final": bool(pending == 0 and closed),
    }


def _rate_row(
    base: dict[str, Any],
    metric: str,
    label: str,
    c: dict[str, float],
    where: str,
    completion: tuple[float, float, float, str] | None,
) -> dict[str, Any] | None:
    """The grade-1 outcome's rate over the entries at position 1 (``where="1"``) or 2..k."""
    names = ("n1", "h1", "o1") if where == "1" else ("nr", "hr", "orest")
    n, hits, pending = (c[name] for name in names)
    if n == 0:
        return None
    settled = n - pending
    observed = hits / n
    est: float | None = observed
    low: float | None = observed
    high: float | None = observed
    how = "confirmed"
    if pending:
        if completion is None:
            est, low, high, how = None, observed, (hits + pending) / n, "bounds"
        else:
            scale, lo, hi, how = completion
            cap = (hits + pending) / n
            est, low, high = min(observed * scale, cap), observed * lo, min(observed * hi, cap)
    return {
        **base,
        "metric": metric,
        "label": label,
        "unit": "share",
        "n": int(n),
        "confirmed_n": int(settled),
        "pending_n": int(pending),
        "confirmed_value": hits / settled if settled else None,
        "observed_value": observed,
        "estimate": est,
        "estimate_low": low,
        "estimate_high": high,
        "std_error": math.sqrt(observed * (1 - observed) / n),
        "estimator": how,
        "final": bool(pending == 0),
    }


def _lift_row(
    base: dict[str, Any], spec: RankingSpec, first: str, c: dict[str, float]
) -> dict[str, Any] | None:
    """Position 1's rate over positions 2..k's: a ratio, so what is still to come cancels."""
    n1, nr = c["n1"], c["nr"]
    if n1 == 0 or nr == 0 or c["h1"] == 0 or c["hr"] == 0:
        return None
    top, rest = c["h1"] / n1, c["hr"] / nr
    lift = top / rest
    se = lift * math.sqrt((1 - top) / (n1 * top) + (1 - rest) / (nr * rest))
    settled1, settled_r = n1 - c["o1"], nr - c["orest"]
    confirmed = None
    if settled1 and settled_r and c["hr"]:
        confirmed = (c["h1"] / settled1) / (c["hr"] / settled_r)
    pending = c["o1"] + c["orest"]
    return {
        **base,
        "metric": f"{spec.first}_position_lift",
        "label": f"{first} at position 1 over positions 2-{spec.k}",
        "unit": "score",
        "n": int(n1 + nr),
        "confirmed_n": int(n1 + nr - pending),
        "pending_n": int(pending),
        "confirmed_value": confirmed,
        "observed_value": lift,
        "estimate": lift,
        "estimate_low": lift,
        "estimate_high": lift,
        "std_error": se,
        "estimator": "confirmed" if pending == 0 else "observed",
        "final": bool(pending == 0),
    }
