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
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from seismo.config import OutcomeType
from seismo.metrics.cohorts import AGGREGATE, STATE_TABLE, refresh
from seismo.metrics.nowcast import (
    DelayModel,
    blend,
    draw_remaining,
    fit_delay_truncated,
    prior_from,
    seeded_rng,
    summarize_draws,
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


@dataclass
class _Cell:
    pop: float = 0.0
    pos: float = 0.0
    pos_w: float = 0.0
    neg: float = 0.0
    pos_w2: float = 0.0


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
    store: Store, key: str, anchor_parent: bool, window_s: int, cut: datetime, unit: str
) -> pa.Table:
    """Per window × cell × stratum × open anchor hour: population, settled and pending counts."""
    s = store.table(STATE_TABLE)
    s = s.filter((s.pass_key == key) & (s.served_hour < cut))
    member = s.cond_hour.isnull() | (s.cond_hour <= cut)
    live = (s.obs_hour <= cut) & (s.sup_hour.isnull() | (s.sup_hour > cut)) & member
    anchor, expired = _anchor(s, anchor_parent, window_s, cut)
    zero = ibis.literal(0)
    grouped = s.group_by(
        window_start=s.served_hour.truncate(unit),
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

    ``period`` sets calendar windows; ``every`` instead cuts windows of at
    least that many predictions. ``by`` limits the segment attributes shown
    (the aggregate is always there; a pair of attributes is named ``a × b``,
    see :func:`~seismo.metrics.naming.segment_of`); ``pairs=True`` with no
    ``by`` adds every pair the state keeps. ``quality=False`` skips the
    model-quality metrics (ROC AUC, log loss, ...).
    """
    types = store.outcome_types()
    config = config or default_metrics(types, store.attributes())
    refresh(store, config, types)
    if by is None and not pairs:
        by = list(config.segments) if config.segments is not None else store.segments()
    cut = cutoff(store, as_of)
    windows = Windows(store, period, every, cut)
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
    groups = _pass_groups(store, first.key, parent is not None, window_s, cut, windows.unit)
    models, rates = _delay_models(
        store, first.key, parent is not None, window_s, cut, config.min_events_per_stratum
    )
    cells, strata_cells, pending = _collect(groups, windows, by, cut)
    horizon = otype.window + (parent.window if parent else timedelta(0)) + HOUR
    out = []
    for cell, c in cells.items():
        if c.pop == 0:  # no member yet as of the cut-off (e.g. no purchase to be returned)
            continue
        (start, end), version, attribute, value = cell
        final_at = end + horizon
        open_n = c.pop - c.pos - c.neg
        parent_open = parent is not None and cut < end + parent.window + HOUR
        for m in metrics:
            weighted = m.weight is not None
            confirmed = c.pos_w if weighted else c.pos
            settled = c.pos + c.neg
            base = {
                "metric": m.name,
                "label": m.title,
                "unit": m.unit,
                "attribute": None if attribute == AGGREGATE else attribute,
                "value": None if attribute == AGGREGATE else value,
                "model_version": version,
                "window_start": start,
                "window_end": end,
                "n": int(c.pop),
                "confirmed_n": int(settled),
                "pending_n": int(open_n),
                "confirmed_value": confirmed / settled if settled else None,
                "observed_value": confirmed / c.pop if c.pop else None,
                "final": bool(open_n == 0 and end <= cut and not parent_open),
                "final_at": final_at,
                "as_of": cut,
            }
            base.update(
                estimate := _estimate(
                    c,
                    strata_cells[cell],
                    pending.get(cell, {}),
                    models,
                    rates,
                    weighted,
                    level,
                    (m.name, cell),
                )
            )
            base["std_error"] = _std_error(c, weighted, estimate["estimate"])
            out.append(base)
    return out


def _std_error(c: _Cell, weighted: bool, value: float | None) -> float | None:
    """Sampling standard error of the final value (what a change test needs).

    Shares: binomial. Weighted rates (revenue per recommendation): from the
    second moment of the converters' weights, scaled up by the nowcast while
    conversions are still arriving.
    """
    if value is None or c.pop == 0:
        return None
    if not weighted:
        return math.sqrt(max(value * (1.0 - value), 0.0) / c.pop)
    seen = c.pos_w / c.pop
    scale = value / seen if seen > 0 else 1.0
    second = c.pos_w2 / c.pop * scale
    return math.sqrt(max(second - value * value, 0.0) / c.pop)


_Key = tuple[Any, ...]


def _collect(
    groups: pa.Table, windows: Windows, by: list[str] | None, cut: datetime
) -> tuple[
    dict[_Key, _Cell],
    dict[_Key, dict[str, _Cell]],
    dict[_Key, dict[str, list[tuple[int, float, float, float]]]],
]:
    """Totals per cell and per (cell, stratum), and the pending rows' ages per stratum.

    Vectorised with pandas: the engine's groups can number a hundred thousand
    (one per open anchor hour), the cells a few thousand.
    """
    df = groups.to_pandas()
    if by is not None:
        df = df[df["attribute"].isin([AGGREGATE, *by])]
    # Count windows span several engine groups: key them by the window's start.
    starts = {start: windows.span(start)[0] for start in df["window_start"].unique()}
    spans = {windows.span(start)[0]: windows.span(start) for start in starts}
    df["span"] = df["window_start"].map(starts)
    closed = df["anchor"].isna()  # window closed: what did not happen, did not
    open_n = df["pop"] - df["pos"] - df["neg"]
    df["neg"] = df["neg"] + open_n.where(closed, 0)
    keys = ["span", "model_version", "attribute", "value"]
    sums = ["pop", "pos", "pos_w", "neg", "pos_w2"]

    def cells_of(frame: pd.DataFrame) -> list[tuple[_Key, _Cell]]:
        index = frame.index.to_list()
        values = zip(*(frame[c].to_list() for c in sums), strict=True)
        return [(key, _Cell(*v)) for key, v in zip(index, values, strict=True)]

    cells: dict[_Key, _Cell] = {}
    for key, cell in cells_of(df.groupby(keys, sort=False)[sums].sum()):
        cells[(spans[key[0]], *key[1:])] = cell
    strata_cells: dict[_Key, dict[str, _Cell]] = defaultdict(dict)
    for key, cell in cells_of(df.groupby([*keys, "stratum"], sort=False)[sums].sum()):
        strata_cells[(spans[key[0]], *key[1:-1])][key[-1]] = cell
    pending: dict[_Key, dict[str, list[tuple[int, float, float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    live = df[~closed & (open_n > 0)]
    if len(live):
        ages = ((cut - live["anchor"]) // pd.Timedelta(hours=1)).astype(int)
        open_w = live["pop_w"] - live["pos_w"] - live["neg_w"]
        open_w2 = live["pop_w2"] - live["pos_w2"] - live["neg_w2"]
        rows = zip(
            live["span"],
            live["model_version"],
            live["attribute"],
            live["value"],
            live["stratum"],
            ages,
            open_n[live.index],
            open_w,
            open_w2,
            strict=True,
        )
        for start, version, attribute, value, stratum, age, n, w, w2 in rows:
            pending[(spans[start], version, attribute, value)][stratum].append((age, n, w, w2))
    return cells, strata_cells, pending


def _estimate(
    c: _Cell,
    by_stratum: dict[str, _Cell],
    strata: dict[str, list[tuple[int, float, float, float]]],
    models: dict[str, DelayModel],
    rates: dict[str, float],
    weighted: bool,
    level: float,
    seed_key: tuple[Any, ...],
) -> dict[str, Any]:
    if c.pop == 0:
        return {"estimate": None, "estimate_low": None, "estimate_high": None, "estimator": "none"}
    confirmed = c.pos_w if weighted else c.pos
    if not strata:
        v = confirmed / c.pop
        return {"estimate": v, "estimate_low": v, "estimate_high": v, "estimator": "confirmed"}
    pooled = models.get("__pooled__")
    if pooled is None:
        # No mature cohort yet: the honest statement is a bound, none to all of the pending.
        open_total = sum(w if weighted else n for d in strata.values() for _, n, w, _ in d)
        low, high = confirmed / c.pop, (confirmed + open_total) / c.pop
        return {"estimate": None, "estimate_low": low, "estimate_high": high, "estimator": "bounds"}
    rng = seeded_rng(*seed_key)
    remaining = np.zeros(1000)
    # Each stratum's own settled rows decide its rate; its own delays age its pending rows.
    for stratum, detail in sorted(strata.items()):
        model = models.get(stratum, pooled)
        arr = np.array(detail, dtype=np.float64)
        remaining += draw_remaining(
            positives=by_stratum[stratum].pos,
            negatives=by_stratum[stratum].neg,
            pending_age=arr[:, 0].astype(np.int64),
            pending_count=arr[:, 1].astype(np.int64),
            pending_weight=arr[:, 2] if weighted else None,
            pending_weight_sq=arr[:, 3] if weighted else None,
            delay=model,
            rng=rng,
            prior=prior_from(rates.get(stratum, rates.get("__pooled__"))),
        )
    est, low, high = summarize_draws(confirmed, remaining, c.pop, level=level)
    return {"estimate": est, "estimate_low": low, "estimate_high": high, "estimator": "delay-model"}
