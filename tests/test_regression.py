"""Regression metrics from per-cell sums, against NumPy on the raw rows."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from seismo.metrics.regression import REGRESSION_METRICS, RegressionSums, estimate, realized

values = st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 3))
rows = st.lists(st.tuples(st.one_of(values, st.just(0.0), st.just(math.nan)), values), max_size=50)


def _split(data: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([r[0] for r in data], dtype=np.float64)
    yhat = np.array([r[1] for r in data], dtype=np.float64)
    return y, yhat


def _numpy(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    keep = ~np.isnan(y)
    y, yhat = y[keep], yhat[keep]
    if y.size == 0:
        return dict.fromkeys(REGRESSION_METRICS, math.nan)
    nz = y != 0
    return {
        "mae": float(np.mean(np.abs(yhat - y))),
        "rmse": float(np.sqrt(np.mean((yhat - y) ** 2))),
        "mape": float(np.mean(np.abs(yhat[nz] - y[nz]) / np.abs(y[nz]))) if nz.any() else math.nan,
        "bias": float(np.mean(yhat - y)),
    }


@settings(max_examples=300, deadline=None)
@given(rows)
def test_realized_matches_numpy_on_raw_rows(data: list[tuple[float, float]]) -> None:
    y, yhat = _split(data)
    sums = RegressionSums.from_arrays(y, yhat)
    got, want = realized(sums), _numpy(y, yhat)
    assert list(got) == list(REGRESSION_METRICS)
    for k in REGRESSION_METRICS:
        if math.isnan(want[k]):
            assert math.isnan(got[k]), k
        else:
            assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-9), k
    assert sums.n + sums.n_pending == len(data)


@settings(max_examples=100, deadline=None)
@given(rows, rows)
def test_adding_sums_equals_the_sums_of_the_concatenation(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    total = RegressionSums.from_arrays(*_split(a)) + RegressionSums.from_arrays(*_split(b))
    whole = RegressionSums.from_arrays(*_split(a + b))
    assert (total.n, total.n_pct, total.n_pending) == (whole.n, whole.n_pct, whole.n_pending)
    for name in ("sum_abs_err", "sum_sq_err", "sum_abs_pct_err", "sum_y", "sum_yhat"):
        assert getattr(total, name) == pytest.approx(getattr(whole, name), rel=1e-9, abs=1e-6)


def test_nothing_pending_gives_the_realized_value_with_no_width() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    sums = RegressionSums.from_arrays(y, y + rng.normal(size=50))
    for k, e in estimate(sums).items():
        assert e.estimator == "realized"
        assert e.estimate == e.low == e.high == realized(sums)[k]


def test_intervals_cover_the_final_value_when_pending_rows_are_exchangeable() -> None:
    """Outcomes missing at random: the 90% intervals hold the final MAE/RMSE/bias ~90%."""
    rng = np.random.default_rng(1)
    hits = {"mae": 0, "rmse": 0, "bias": 0}
    cells = 400
    for _ in range(cells):
        y = rng.normal(100, 10, size=300)
        yhat = y + rng.normal(0.5, 2, size=300)
        pending = rng.uniform(size=300) < 0.5
        est = estimate(RegressionSums.from_arrays(np.where(pending, np.nan, y), yhat))
        final = realized(RegressionSums.from_arrays(y, yhat))
        for k in hits:
            assert est[k].estimator == "realized+exchangeable"
            hits[k] += est[k].low <= final[k] <= est[k].high
        assert est["mape"].estimator == "confirmed-only" and math.isnan(est["mape"].low)
    for k, h in hits.items():
        assert 0.84 <= h / cells <= 0.96, (k, h / cells)


def test_no_honest_interval_is_nan_not_a_guess() -> None:
    one = RegressionSums.from_arrays([1.0, math.nan], [2.0, 2.0])
    assert all(
        e.estimator == "confirmed-only" and math.isnan(e.low) for e in estimate(one).values()
    )
    assert estimate(one)["mae"].estimate == 1.0
    # an engine that does not ship the sum of error**4: RMSE has no interval
    full = RegressionSums.from_arrays([1.0, 2.0, 3.0, math.nan], [1.5, 2.5, 2.0, 1.0])
    without = RegressionSums(
        full.n,
        full.sum_abs_err,
        full.sum_sq_err,
        full.sum_abs_pct_err,
        full.n_pct,
        full.sum_y,
        full.sum_yhat,
        full.n_pending,
    )
    assert math.isnan(estimate(without)["rmse"].high)
    assert not math.isnan(estimate(full)["rmse"].high)
    assert estimate(without)["mae"] == estimate(full)["mae"]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        RegressionSums.from_arrays([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        RegressionSums.from_arrays([1.0], [math.nan])
    with pytest.raises(ValueError, match="n_pct"):
        RegressionSums(1, 0.0, 0.0, 0.0, 2, 0.0, 0.0)
    with pytest.raises(ValueError, match="whole count"):
        RegressionSums(-1, 0.0, 0.0, 0.0, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="level"):
        estimate(RegressionSums.from_arrays([1.0], [1.0]), level=0.0)
