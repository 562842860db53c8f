"""Maturity-aware metric values per window × segment × model version, as of any moment.

Reads the stored cohort state (:mod:`seismo.metrics.cohorts`), applies the
cut-off in the engine, and combines the few resulting rows in Python into one
tidy table whose every value carries its maturity:

``n`` members of the population; ``confirmed_n`` whose outcome is settled
(it happened, or its window closed without it); ``pending_n`` still open;
``confirmed_value`` the rate among the settled (biased toward fast deciders
while anything is pending); ``observed_value`` what has been seen so far
over all members (biased low: the "fake drop" of recent days); ``estimate``
with ``estimate_low``/``estimate_high`` the nowcast of the final value and
its predictive interval; ``std_error`` the sampling standard error of the
final value (what a change test weighs a difference with: binomial for a
share, from the weights' second moment for an amount, and for model quality
see :mod:`seismo.metrics.std_errors`); ``estimator`` (``confirmed`` when nothing is
pending, ``delay-model`` for the nowcast, ``bounds`` when no mature cohort
has taught a delay yet: the interval is then "none / all of the pending
convert"); ``final`` and ``final_at``.

Time resolves to whole hours: the cut-off is the hour boundary at or before
the as-of time (the end of the data, rounded up, by default).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from seismo.config import OutcomeType
from seismo.metrics.cohorts import AGGREGATE, STATE_TABLE, cohort_state, refresh
from seismo.metrics.nowcast import (
    DelayModel,
    Pending,
    Posterior,
    blend,
    fit_delay_truncated,
    nowcast,
    posteriors,
    prior_from,
)
from seismo.metrics.quality import evaluate_quality
from seismo.metrics.spec import MetricsConfig, RateMetric, default_metrics
from seismo.metrics.windows import HOUR, Period, Windows, cutoff
from seismo.store.read import Store

__all__ = ["RESULT_SCHEMA", "Period", "compute_metrics", "cutoff"]


RESULT_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("label", pa.string()),
        ("unit", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
        ("model_version", pa.string()),
        ("window_start", pa.timestamp("us")),
        ("window_end", pa.timestamp("us")),
        ("n", pa.int64()),
        ("confirmed_n", pa.int64()),
        ("pending_n", pa.int64()),
        ("confirmed_value", pa.float64()),
        ("observed_value", pa.float64()),
        ("estimate", pa.float64()),
        ("estimate_low", pa.float64()),
        ("estimate_high", pa.float64()),
        ("std_error", pa.float64()),
        ("estimator", pa.string()),
        ("final", pa.bool_()),
        ("final_at", pa.timestamp("us")),
        ("as_of", pa.timestamp("us")),
    ]
)


def _anchor(s: Any, anchor_parent: bool, window_s: int, cut: datetime) -> tuple[Any, Any]:
    """The hour a row's maturity window starts from, and whether it has closed by ``cut``.

    A served hour is rounded down, so its rows' windows close within the hour
    after ``anchor + window``; a parent's observation hour is rounded up, so
    the window has closed once ``anchor + window`` has passed.
    """
    if anchor_parent:
        return s.cond_hour, (s.cond_hour + ibis.interval(seconds=window_s)) <= cut
    closed = (s.served_hour + ibis.interval(seconds=window_s + 3600)) <= cut
    return s.served_hour, closed


def _pass_groups(
    store: Store, key: str, anchor_parent: bool, window_s: int, cut: datetime, windows: Windows
) -> pa.Table:
    """Per window × cell × stratum × open anchor hour: population, settled and pending counts."""
    s, window = cohort_state(store, windows)
    s = s.mutate(window_start=window)
    s = s.filter((s.pass_key == key) & (s.served_hour < cut))
    member = s.cond_hour.isnull() | (s.cond_hour <= cut)
    live = (s.obs_hour <= cut) & (s.sup_hour.isnull() | (s.sup_hour > cut)) & member
    anchor, expired = _anchor(s, anchor_parent, window_s, cut)
    zero = ibis.literal(0)
    grouped = s.group_by(
        window_start=s.window_start,
        model_version=s.model_version,
        attribute=s.attribute,
        value=s.value,
        stratum=s.stratum,
        anchor=ibis.ifelse(expired, ibis.null("timestamp"), anchor),
    ).aggregate(
        pop=ibis.ifelse((s.kind == "pop") & member, s.n, zero).sum(),
        pop_w=ibis.ifelse((s.kind == "pop") & member, s.w, zero).sum(),
        pop_w2=ibis.ifelse((s.kind == "pop") & member, s.w2, zero).sum(),
        pos=ibis.ifelse((s.kind == "pos") & live, s.n, zero).sum(),
        pos_w=ibis.ifelse((s.kind == "pos") & live, s.w, zero).sum(),
        pos_w2=ibis.ifelse((s.kind == "pos") & live, s.w2, zero).sum(),
        neg=ibis.ifelse((s.kind == "neg") & live, s.n, zero).sum(),
        neg_w=ibis.ifelse((s.kind == "neg") & live, s.w, zero).sum(),
        neg_w2=ibis.ifelse((s.kind == "neg") & live, s.w2, zero).sum(),
    )
    return grouped.to_pyarrow()


def _delay_models(
    store: Store, key: str, anchor_parent: bool, window_s: int, cut: datetime, minimum: int
) -> tuple[dict[str, DelayModel], dict[str, float]]:
    """Per stratum (pooled under ``__pooled__``): delays from every cohort, rates from mature ones.

    The delay shape uses young cohorts too (a truncation-corrected estimator,
    :func:`~seismo.metrics.nowcast.fit_delay_truncated`); the final rates that
    centre the prior need cohorts whose window has closed.
    """
    s = store.table(STATE_TABLE)
    anchor, mature = _anchor(s, anchor_parent, window_s, cut)
    s = s.filter(
        (s.pass_key == key)
        & (s.attribute == AGGREGATE)
        & (s.served_hour < cut)
        & (s.cond_hour.isnull() | (s.cond_hour <= cut))
    )
    pos = s.filter((s.kind == "pos") & (s.obs_hour <= cut) & s.sup_hour.isnull())
    hour = 3600
    lag = ((pos.obs_hour.epoch_seconds() - anchor.epoch_seconds()) / hour).round().cast("int64")
    age = (
        ((ibis.literal(cut).epoch_seconds() - anchor.epoch_seconds()) / hour).floor().cast("int64")
    )
    rows = (
        pos.group_by(stratum=pos.stratum, lag=lag, age=age, mature=mature)
        .aggregate(n=pos.n.sum())
        .to_pyarrow()
        .to_pandas()
    )
    pops = (
        s.filter((s.kind == "pop") & mature).group_by("stratum").aggregate(n=s.n.sum()).to_pyarrow()
    )
    hours = math.ceil(window_s / 3600)
    population = {r["stratum"]: int(r["n"]) for r in pops.to_pylist()}
    population["__pooled__"] = sum(population.values())
    fitted: dict[str, DelayModel] = {}
    rates: dict[str, float] = {}
    for stratum, part in [*rows.groupby("stratum"), ("__pooled__", rows)]:
        fitted[stratum] = fit_delay_truncated(
            part["lag"].to_numpy(),
            part["age"].to_numpy(),
            part["n"].to_numpy(),
            window_hours=hours,
        )
        mature_events = float(part.loc[part["mature"], "n"].sum())
        if population.get(stratum):
            rates[stratum] = mature_events / population[stratum]
    pooled = fitted.get("__pooled__")
    if pooled is None or pooled.events < minimum:
        return {}, rates
    # A stratum with few mature events borrows the pooled shape in proportion: its own
    # delays still count (falling back to the pooled curve outright would age slow
    # deciders like fast ones), but a handful of events cannot make a curve alone.
    models = {"__pooled__": pooled}
    for stratum, model in fitted.items():
        if stratum != "__pooled__":
            models[stratum] = blend(model, pooled, prior_events=minimum / 2)
    return models, rates


def update_state(store: Store) -> list[date] | None:
    """Bring the metric state up to date with the stored batches (what an ingest ends with).

    The state is what every metric, check and page reads; maintaining it as
    batches arrive keeps a check's cost to evaluating it. Returns the served
    days recomputed (None: all of them, a rebuild; empty: it was current).
    """
    types = store.outcome_types()
    return refresh(store, default_metrics(types, store.attributes(), store.declared()), types)


def compute_metrics(
    store: Store,
    *,
    as_of: datetime | None = None,
    period: Period = "day",
    every: int | None = None,
    by: list[str] | None = None,
    config: MetricsConfig | None = None,
    level: float = 0.9,
    quality: bool = True,
    pairs: bool = False,
) -> pa.Table:
    """Every metric × window × segment cell × model version, as a tidy Arrow table.

    ``period`` sets calendar windows; ``every`` instead cuts each model
    version's predictions, in time order (ties by prediction id), into chunks
    of exactly that many: a chunk's window runs from its first to its last
    prediction, and the last chunk, usually smaller, is never final
    (:class:`~seismo.metrics.windows.Windows`). ``by`` limits the segment attributes shown
    (the aggregate is always there; a pair of attributes is named ``a × b``,
    see :func:`~seismo.metrics.naming.segment_of`); ``pairs=True`` with no
    ``by`` adds every pair the state keeps. ``quality=False`` skips the
    model-quality metrics (ROC AUC, log loss, ...).
    """
    types = store.outcome_types()
    config = config or default_metrics(types, store.attributes(), store.declared())
    cut = cutoff(store, as_of)
    windows = Windows(store, period, every, cut)  # refuses a bad ``every`` before any work
    refresh(store, config, types, every)
    if by is None and not pairs:
        by = list(config.segments) if config.segments is not None else store.segments()
    rows: list[dict[str, Any]] = []
    for key in sorted({m.key for m in config.metrics}):
        metrics = [m for m in config.metrics if m.key == key]
        rows.extend(_evaluate_pass(store, types, config, metrics, cut, windows, by, level))
    for outcome in config.quality if quality else ():
        rows.extend(
            evaluate_quality(store, types[outcome], cut, windows, by, level, config.threshold)
        )
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    order = [
        (c, "ascending") for c in ("metric", "attribute", "value", "model_version", "window_start")
    ]
    return table.sort_by(order)


def _evaluate_pass(
    store: Store,
    types: dict[str, OutcomeType],
    config: MetricsConfig,
    metrics: list[RateMetric],
    cut: datetime,
    windows: Windows,
    by: list[str] | None,
    level: float,
) -> list[dict[str, Any]]:
    first = metrics[0]
    otype = types[first.outcome]
    parent = types.get(otype.parent) if otype.parent else None
    window_s = int(otype.window.total_seconds())
    groups = _pass_groups(store, first.key, parent is not None, window_s, cut, windows)
    models, rates = _delay_models(
        store, first.key, parent is not None, window_s, cut, config.min_events_per_stratum
    )
    cells, strata, live = _collect(groups, windows, by, cut)
    pending = _pending(cells, strata, live, models, rates)
    posterior = posteriors(pending[0]) if pending is not None else None
    horizon = otype.window + (parent.window if parent else timedelta(0)) + HOUR
    columns = ["start", "end", "closed", "model_version", "attribute", "value", *_SUMS]
    table = {c: cells[c].to_list() for c in columns}
    rows_of = list(zip(*table.values(), strict=True))
    out = []
    for m in metrics:
        weighted = m.weight is not None
        estimates = _estimates(cells, pending, posterior, models, weighted, level)
        for row, (est, low, high, how) in zip(rows_of, estimates, strict=True):
            start, end, closed, version, attribute, value, pop, pos, pos_w, neg, pos_w2 = row
            if pop == 0:  # no member yet as of the cut-off (e.g. no purchase to be returned)
                continue
            open_n = pop - pos - neg
            parent_open = parent is not None and cut < end + parent.window + HOUR
            confirmed = pos_w if weighted else pos
            settled = pos + neg
            record = {
                "metric": m.name,
                "label": m.title,
                "unit": m.unit,
                "attribute": None if attribute == AGGREGATE else attribute,
                "value": None if attribute == AGGREGATE else value,
                "model_version": version,
                "window_start": start,
                "window_end": end,
                "n": int(pop),
                "confirmed_n": int(settled),
                "pending_n": int(open_n),
                "confirmed_value": confirmed / settled if settled else None,
                "observed_value": confirmed / pop,
                "estimate": est,
                "estimate_low": low,
                "estimate_high": high,
                "std_error": _std_error(pop, pos_w, pos_w2, weighted, est),
                "estimator": how,
                "final": bool(open_n == 0 and closed and not parent_open),
                "final_at": end + horizon,
                "as_of": cut,
            }
            out.append(record)
    return out


def _std_error(
    pop: float, pos_w: float, pos_w2: float, weighted: bool, value: float | None
) -> float | None:
    """Sampling standard error of the final value (what a change test needs).

    Shares: binomial. Weighted rates (revenue per recommendation): from the
    second moment of the converters' weights, scaled up by the nowcast while
    conversions are still arriving.
    """
    if value is None or pop == 0:
        return None
    if not weighted:
        return math.sqrt(max(value * (1.0 - value), 0.0) / pop)
    seen = pos_w / pop
    scale = value / seen if seen > 0 else 1.0
    second = pos_w2 / pop * scale
    return math.sqrt(max(second - value * value, 0.0) / pop)


_SUMS = ["pop", "pos", "pos_w", "neg", "pos_w2"]
_CELL = ["span", "model_version", "attribute", "value"]


def _collect(
    groups: pa.Table, windows: Windows, by: list[str] | None, cut: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Totals per cell and per cell × stratum, and the open rows per anchor hour.

    Vectorised with pandas: the engine's groups can number a hundred thousand
    (one per open anchor hour), the cells a few thousand. Every frame carries
    ``cell``, the cell's row in the first.
    """
    df = groups.to_pandas()
    if by is not None:
        df = df[df["attribute"].isin([AGGREGATE, *by])]
    df["span"] = df["window_start"]  # the engine's window key: a period's start, or a chunk
    closed = df["anchor"].isna()  # window closed: what did not happen, did not
    open_n = df["pop"] - df["pos"] - df["neg"]
    df["neg"] = df["neg"] + open_n.where(closed, 0)
    df["open_n"] = open_n.where(~closed, 0)
    df["open_w"] = (df["pop_w"] - df["pos_w"] - df["neg_w"]).where(~closed, 0)
    df["open_w2"] = (df["pop_w2"] - df["pos_w2"] - df["neg_w2"]).where(~closed, 0)
    cells = df.groupby(_CELL, sort=False)[[*_SUMS, "open_w"]].sum().reset_index()
    keys = list(zip(cells["span"], cells["model_version"], strict=True))
    spans = [windows.span(k, v) for k, v in keys]
    cells["start"] = pd.Series([s[0] for s in spans], index=cells.index, dtype=object)
    cells["end"] = pd.Series([s[1] for s in spans], index=cells.index, dtype=object)
    cells["closed"] = [windows.closed(k, v, cut) for k, v in keys]
    cell_of = pd.MultiIndex.from_frame(cells[_CELL])
    df["cell"] = cell_of.get_indexer(pd.MultiIndex.from_frame(df[_CELL]))
    strata = df.groupby(["cell", "stratum"], sort=False)[["pos", "neg"]].sum().reset_index()
    live = df.loc[df["open_n"] > 0, ["cell", "stratum", "anchor", "open_n", "open_w", "open_w2"]]
    anchor = live["anchor"].to_numpy(dtype="datetime64[us]")
    age = (np.datetime64(cut, "us") - anchor) // np.timedelta64(1, "h")
    live = live.assign(age=age.astype(np.int64))
    return cells, strata, live


def _pending(
    cells: pd.DataFrame,
    strata: pd.DataFrame,
    live: pd.DataFrame,
    models: dict[str, DelayModel],
    rates: dict[str, float],
) -> tuple[Pending, NDArray[np.int64]] | None:
    """The open rows of the pass as :class:`~seismo.metrics.nowcast.Pending` arrays.

    Each stratum's own settled rows decide its rate, its own delays age its
    open rows, and its mature rate centres its prior. Returned with the row of
    ``cells`` each of the arrays' cells stands for; ``None`` when nothing is
    open or no delay has been learned yet (the cells then get bounds).
    """
    pooled = models.get("__pooled__")
    if pooled is None or live.empty:
        return None
    live = live.sort_values(["cell", "stratum", "age"], kind="stable")
    names = sorted(live["stratum"].unique())
    slot = {name: i for i, name in enumerate(names)}
    seen = np.empty(len(live))
    for name, rows in live.groupby("stratum", sort=False).indices.items():
        seen[rows] = models.get(name, pooled).seen_by(live["age"].to_numpy()[rows])
    cell = live["cell"].to_numpy()
    stratum = live["stratum"].map(slot).to_numpy()
    new_group = np.r_[True, (cell[1:] != cell[:-1]) | (stratum[1:] != stratum[:-1])]
    group_start = np.r_[np.flatnonzero(new_group), len(live)]
    group_cell, group_slot = cell[new_group], stratum[new_group]
    new_cell = np.r_[True, group_cell[1:] != group_cell[:-1]]
    cell_start = np.r_[np.flatnonzero(new_cell), len(group_cell)]
    settled = strata.assign(slot=strata["stratum"].map(slot)).dropna(subset=["slot"])
    settled = settled.set_index(["cell", "slot"])
    where = settled.index.get_indexer(pd.MultiIndex.from_arrays([group_cell, group_slot]))
    positives = settled["pos"].to_numpy(dtype=float)[where]
    negatives = settled["neg"].to_numpy(dtype=float)[where]
    count = live["open_n"].to_numpy(dtype=float)
    rows = positives + negatives + np.add.reduceat(count, group_start[:-1])
    centre = [rates.get(name, rates.get("__pooled__")) for name in names]
    priors = np.array(
        [prior_from(centre[k], n) for k, n in zip(group_slot, rows, strict=True)], dtype=float
    ).reshape(-1, 2)
    return Pending(
        cell_start=cell_start,
        group_start=group_start,
        positives=positives,
        negatives=negatives,
        prior=priors,
        slot=group_slot,
        seen=seen,
        count=count,
        weight=live["open_w"].to_numpy(dtype=float),
        weight_sq=live["open_w2"].to_numpy(dtype=float),
    ), group_cell[new_cell]


def _estimates(
    cells: pd.DataFrame,
    pending: tuple[Pending, NDArray[np.int64]] | None,
    posterior: Posterior | None,
    models: dict[str, DelayModel],
    weighted: bool,
    level: float,
) -> list[tuple[float | None, float | None, float | None, str]]:
    """Per cell: the nowcast of the final value, its interval and the estimator used."""
    pop = cells["pop"].to_numpy(dtype=float)
    confirmed = cells["pos_w" if weighted else "pos"].to_numpy(dtype=float)
    open_n = pop - cells["pos"].to_numpy(dtype=float) - cells["neg"].to_numpy(dtype=float)
    open_total = cells["open_w"].to_numpy(dtype=float) if weighted else open_n
    with np.errstate(divide="ignore", invalid="ignore"):
        seen = confirmed / pop
        ceiling = (confirmed + open_total) / pop
    est, low, high = seen.copy(), seen.copy(), seen.copy()
    how = np.where(open_n > 0, "bounds", "confirmed").astype(object)
    if "__pooled__" not in models:
        # No mature cohort yet: the honest statement is a bound, none to all of the pending.
        est = np.where(open_n > 0, np.nan, est)
        high = np.where(open_n > 0, ceiling, high)
    elif pending is not None and posterior is not None:
        arrays, rows = pending
        mid, lo, hi = nowcast(
            arrays,
            posterior,
            confirmed=confirmed[rows],
            population=pop[rows],
            weighted=weighted,
            level=level,
        )
        est[rows], low[rows], high[rows] = mid, lo, hi
        how[rows] = "delay-model"
    return [
        (_value(e), _value(lo_), _value(hi_), str(h))
        for e, lo_, hi_, h in zip(est, low, high, how, strict=True)
    ]


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
