"""The batch path of model quality gives, cell for cell, what the per-cell functions give.

``evaluate_quality`` computes every window × segment cell at once
(:mod:`seismo.metrics.quality_batch`); the per-cell functions
(``classification.realized``, ``classification_std_errors``, ``cbpe.estimate``)
are the reference. On real stores — a credit model with served decisions,
segments and their pair, labels pending for the last days; a recommender's
click with pairs — both paths are fed the same engine groups and must give
the same rows, CBPE estimates included (each cell keeps its own random stream).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_served_decision import _ingest, credit_rows

from seismo.config import Mapping, OutcomeEvents, OutcomeType, PredictionColumns
from seismo.ingest import ingest
from seismo.metrics import cbpe, quality
from seismo.metrics import quality_batch as batch
from seismo.metrics.classification import Estimate, ScoreBins, realized
from seismo.metrics.cohorts import quality_key, refresh
from seismo.metrics.regression import REGRESSION_METRICS, RegressionSums
from seismo.metrics.regression import estimate as regression_estimate
from seismo.metrics.regression import realized as regression_realized
from seismo.metrics.spec import default_metrics
from seismo.metrics.std_errors import classification_std_errors, regression_std_errors
from seismo.metrics.windows import Windows, cutoff
from seismo.simulate import Scenario, simulate
from seismo.store import Store, open_store

AS_OF = datetime(2026, 2, 19, 12)  # labels come 40 days late: days 1-9 in, day 10 half, 11-14 not


def _frame(store: Store, outcome: str, as_of: datetime | None) -> tuple[Any, ...]:
    """The engine groups of one outcome's quality pass, and what evaluate_quality is given."""
    types = store.outcome_types()
    refresh(store, default_metrics(types, store.attributes(), store.declared()), types)
    cut = cutoff(store, as_of)
    windows = Windows(store, "day", None, cut)
    otype = types[outcome]
    sums = quality._REGRESSION_SUMS if otype.kind == "value" else quality._CLASSIFIER_SUMS
    window_s = int(otype.window.total_seconds())
    df = quality._groups(store, quality_key(outcome), window_s, cut, windows, sums)
    return df, otype, cut, windows


def _per_cell(
    df: pd.DataFrame, otype: OutcomeType, cut: datetime, windows: Windows, threshold: float
) -> list[dict[str, Any]]:
    """evaluate_quality as it was: one ScoreBins and one call of each function per cell."""
    event = otype.kind == "event"
    found = quality._classifier_cells(df, event, threshold, windows, None, cut)
    cells, closed, stack, mature = found
    names = quality.RANKER_METRICS if event else quality.CLASSIFIER_METRICS
    calibration = None
    if mature.n_labelled:
        calibration = cbpe.fit_calibration(mature, min_rows=min(1000, mature.n_labelled))
    out = []
    for i, cell in enumerate(cells):
        bins = stack.cell(i)
        n = bins.n_labelled + bins.n_pending
        if n == 0:
            continue
        confirmed = realized(bins)
        seed = quality._seed(cell)
        if bins.n_pending == 0:
            est = {k: Estimate(v, v, v, "confirmed") for k, v in confirmed.items()}
            se = classification_std_errors(bins, seed=seed)
        elif calibration is not None:
            est = cbpe.estimate(bins, calibration, level=0.9, draws=quality.CBPE_DRAWS, seed=seed)
            se = classification_std_errors(bins, calibration.probability, seed=seed)
        else:
            est = {k: Estimate(math.nan, math.nan, math.nan, "none") for k in confirmed}
            se = {}
        rows = quality._rows(
            otype, names, cell, closed[i], n, bins.n_labelled, bins.n_pending, confirmed, est,
            cut, se,
        )  # fmt: skip
        if not event:  # a label's rows also hold the value on the labels so far (no delays)
            for r in rows:
                r["observed_value"] = r["confirmed_value"]
        out.extend(rows)
    return out


def _same(got: Any, want: Any) -> None:
    """Equal, floats to 1e-12: the batch draws over each cell's used score bins only, and
    a sum over fewer zeros may round its last bit otherwise."""
    if isinstance(got, float) and isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15, nan_ok=True)
    elif dataclasses.is_dataclass(got) and not isinstance(got, type):
        assert type(got) is type(want)
        _same(dataclasses.asdict(got), dataclasses.asdict(want))  # type: ignore[arg-type]
    elif isinstance(got, dict):
        assert isinstance(want, dict) and got.keys() == want.keys()
        for k in got:
            _same(got[k], want[k])
    elif isinstance(got, list | tuple):
        assert type(got) is type(want) and len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            _same(a, b)
    else:
        assert got == want


def test_credit_cells_batch_equals_per_cell(store: Store) -> None:
    rows = credit_rows(n=6000, seed=9)
    _ingest(store, rows)
    df, otype, cut, windows = _frame(store, "default_90d", AS_OF)
    got = quality._classifier(df, otype, cut, windows, None, 0.9, 0.5)
    want = _per_cell(df, otype, cut, windows, 0.5)
    _same(got, want)
    # the store exercises every branch: settled, mixed and label-free cells, segments and pairs
    estimators = {r["estimator"] for r in got}
    assert {"confirmed", "realized+cbpe", "cbpe"} <= estimators, estimators
    assert any(" × " in (r["attribute"] or "") for r in got)
    assert {r["attribute"] for r in got} >= {None, "region", "channel"}


def test_click_cells_batch_equals_per_cell() -> None:
    sim = simulate(Scenario(days=8, per_day=600, seed=4, reference_days=1, changeover_day=5))
    with open_store(":memory:") as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        df, otype, cut, windows = _frame(store, "click", None)
        got = quality._classifier(df, otype, cut, windows, None, 0.9, 0.5)
        want = _per_cell(df, otype, cut, windows, 0.5)
    _same(got, want)
    assert {r["estimator"] for r in got} >= {"confirmed", "realized+cbpe"}
    # click quality is kept per segment; pairs are watched on the click-through rate
    assert {r["attribute"] for r in got} >= {None, "age_group", "region"}
    assert not any(" × " in (r["attribute"] or "") for r in got)


def test_a_cells_figures_do_not_depend_on_its_neighbours(tmp_path: Any) -> None:
    """``--by region`` and all attributes give the same figures for the region's cells."""
    with open_store(str(tmp_path / "s.duckdb")) as store:
        _ingest(store, credit_rows(n=3000, seed=2))
        df, otype, cut, windows = _frame(store, "default_90d", AS_OF)
        every = quality._classifier(df, otype, cut, windows, None, 0.9, 0.5)
        region = quality._classifier(df, otype, cut, windows, ["region"], 0.9, 0.5)
    key = ("metric", "attribute", "value", "window_start")
    alone = {tuple(r[k] for k in key): r for r in region}
    shared = [r for r in every if tuple(r[k] for k in key) in alone]
    assert len(shared) == len(region) and any(r["estimator"] == "realized+cbpe" for r in region)
    for r in shared:
        assert r == alone[tuple(r[k] for k in key)]


def test_estimates_do_not_depend_on_the_block_size() -> None:
    rng = np.random.default_rng(3)
    s = rng.uniform(size=40_000)
    calibration = cbpe.fit_calibration(
        ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < s) * 1.0)
    )
    cells = []
    for i in range(7):
        n = 50 + 100 * i
        y = np.where(rng.uniform(size=n) < 0.6, np.nan, (rng.uniform(size=n) < s[:n]) * 1.0)
        cells.append(ScoreBins.from_arrays(s[:n], y, decisions=s[:n] >= 0.7))
    stack = batch.BinStack.from_cells(cells)
    seeds = list(range(100, 107))
    whole = batch.estimates(stack, calibration, seeds, draws=300)
    one_by_one = batch.estimates(stack, calibration, seeds, draws=300, block=1)
    assert whole == one_by_one
    alone = [
        cbpe.estimate(c, calibration, draws=300, seed=k) for c, k in zip(cells, seeds, strict=True)
    ]
    _same(whole, alone)


def test_a_bad_stack_is_refused_with_the_cell() -> None:
    cell = ScoreBins.from_arrays([0.1, 0.6], [0, 1])
    arrays = {n: np.stack([getattr(cell, n)] * 3).astype(float) for n in batch._OWN + batch._PEND}
    arrays["neg"][2, 1] = -1.0
    with pytest.raises(ValueError, match=r"neg must hold non-negative whole counts \(cell 2\)"):
        batch.BinStack.from_arrays(arrays)
    with pytest.raises(ValueError, match="same bins and threshold"):
        batch.BinStack.from_cells([cell, ScoreBins.from_arrays([0.1], [0], threshold=0.7)])


def _regression_as_it_was(
    df: pd.DataFrame, otype: OutcomeType, cut: datetime, windows: Windows
) -> list[dict[str, Any]]:
    """The regression path before the batch change: a Python loop over the engine rows."""
    cells: dict[tuple[Any, ...], dict[str, float]] = {}
    closed: dict[tuple[Any, ...], bool] = {}
    for r in df.to_dict("records"):
        cell = (windows.span(r["window_start"]), r["model_version"], r["attribute"], r["value"])
        closed[cell] = windows.closed(r["window_start"], r["model_version"], cut)
        acc = cells.setdefault(cell, dict.fromkeys((*quality._REGRESSION_SUMS, "pending"), 0.0))
        for col in quality._REGRESSION_SUMS:
            acc[col] += r[f"pos_{col}"] + r[f"neg_{col}"]
        if not r["closed"]:
            acc["pending"] += r["pop_n"] - r["pos_n"] - r["neg_n"]
    out = []
    for cell, acc in cells.items():
        n, pending = round(acc["n"]), round(acc["pending"])
        if n + pending == 0:
            continue
        sums = RegressionSums(
            n=n,
            sum_abs_err=acc["e1"],
            sum_sq_err=acc["e2"],
            sum_abs_pct_err=acc["ep"],
            n_pct=round(acc["npct"]),
            sum_y=acc["s"] - acc["e"],
            sum_yhat=acc["s"],
            n_pending=pending,
            sum_quartic_err=acc["e4"],
            sum_sq_pct_err=acc["ep2"],
        )
        nan = dict.fromkeys(REGRESSION_METRICS, math.nan)
        confirmed = regression_realized(sums) if n else nan
        none = {k: Estimate(math.nan, math.nan, math.nan, "none") for k in REGRESSION_METRICS}
        est = regression_estimate(sums, level=0.9) if n else none
        se = regression_std_errors(sums)
        out.extend(
            quality._rows(
                otype,
                REGRESSION_METRICS,
                cell,
                closed[cell],
                n + pending,
                n,
                pending,
                confirmed,
                est,
                cut,
                se,
            )
        )
    return out


def test_regression_cells_as_before() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    made = [datetime(2026, 3, 1) + timedelta(minutes=int(m)) for m in rng.integers(0, 6 * 1440, n)]
    actual = rng.gamma(4, 25, n)
    mapping = Mapping(
        model_name="demand",
        model_version="v7",
        predictions=PredictionColumns(
            id="id", timestamp="at", score="yhat", segments=("store", "tier")
        ),
        outcomes=OutcomeEvents(id="id", timestamp="known", type="units", value="y"),
        outcome_types=(OutcomeType(name="units", kind="value", window=timedelta(days=3)),),
    )
    ids = [f"f{i}" for i in range(n)]
    late = rng.uniform(0, 4, n)  # some outcomes still pending at the cut
    with open_store(":memory:") as store:
        predictions = {
            "id": ids,
            "at": made,
            "yhat": actual + rng.normal(0, 8, n),
            "store": rng.choice(["a", "b", "c"], n),
            "tier": rng.choice(["x", "y"], n),
        }
        ingest(store, pa.table(predictions), mapping=mapping)
        known = [t + timedelta(days=float(d)) for t, d in zip(made, late, strict=True)]
        ingest(store, pa.table({"id": ids, "known": known, "y": actual}), mapping=mapping)
        df, otype, cut, windows = _frame(store, "units", datetime(2026, 3, 7, 6))
    got = quality._regression(df, otype, cut, windows, None, 0.9)
    assert got == _regression_as_it_was(df, otype, cut, windows)
    assert any(r["pending_n"] > 0 for r in got) and any(
        " × " in (r["attribute"] or "") for r in got
    )
