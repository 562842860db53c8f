"""Standard errors from aggregates agree with the spread of each metric over replicate samples.

For each metric: draw many independent samples of the same population, compute
the metric and its standard error (from the sample's own aggregates) on each;
the typical standard error must match the empirical standard deviation of the
metric across samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from seismo.metrics.cbpe import fit_calibration
from seismo.metrics.classification import METRICS, ScoreBins, realized
from seismo.metrics.regression import REGRESSION_METRICS, RegressionSums
from seismo.metrics.regression import realized as regression_realized
from seismo.metrics.std_errors import (
    classification_std_errors,
    f1_std_error,
    regression_std_errors,
)

REPLICATES = 600
TOLERANCE = 0.12  # |mean SE / empirical SD - 1|; the SD itself is known to about 3% here


def _population(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Scores from a slightly miscalibrated model; decisions served at 0.65, 10% overridden."""
    p = rng.beta(2, 5, size=n)
    y = (rng.uniform(size=n) < p).astype(np.float64)
    s = np.clip(p * 1.1 + rng.normal(0, 0.03, size=n), 0.0, 1.0)
    served = s >= 0.65
    overridden = rng.uniform(size=n) < 0.1
    decision = np.where(overridden, ~served, served).astype(np.float64)
    return s, y, decision


def _agreement(values: np.ndarray, errors: np.ndarray) -> float:
    keep = np.isfinite(values) & np.isfinite(errors)
    return float(errors[keep].mean() / values[keep].std(ddof=1))


def test_classifier_standard_errors_match_the_spread_over_replicates() -> None:
    rng = np.random.default_rng(20260501)
    values = {m: np.empty(REPLICATES) for m in METRICS}
    errors = {m: np.empty(REPLICATES) for m in METRICS}
    for i in range(REPLICATES):
        s, y, d = _population(rng, 3000)
        cell = ScoreBins.from_arrays(s, y, decisions=d)
        got, se = realized(cell), classification_std_errors(cell, seed=i)
        for m in METRICS:
            values[m][i], errors[m][i] = got[m], se[m]
    ratios = {m: _agreement(values[m], errors[m]) for m in METRICS}
    print({m: round(r, 3) for m, r in ratios.items()})  # shown with -s: the figures in the note
    for m, r in ratios.items():
        assert abs(r - 1) < TOLERANCE, (m, r, ratios)


def test_cbpe_cells_take_the_error_of_their_final_value() -> None:
    """Half the labels pending: the error from expected counts is that of the final value."""
    rng = np.random.default_rng(7)
    s, y, _ = _population(rng, 300_000)
    calibration = fit_calibration(ScoreBins.from_arrays(s, y))
    names = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss")
    values = {m: np.empty(REPLICATES) for m in names}
    errors = {m: np.empty(REPLICATES) for m in names}
    for i in range(REPLICATES):
        s, y, d = _population(rng, 3000)
        pending = rng.uniform(size=s.size) < 0.5
        cell = ScoreBins.from_arrays(s, np.where(pending, np.nan, y), decisions=d)
        final = realized(ScoreBins.from_arrays(s, y, decisions=d))
        se = classification_std_errors(cell, calibration.probability, seed=i)
        for m in names:
            values[m][i], errors[m][i] = final[m], se[m]
    ratios = {m: _agreement(values[m], errors[m]) for m in names}
    print({m: round(r, 3) for m, r in ratios.items()})
    for m, r in ratios.items():
        assert abs(r - 1) < TOLERANCE, (m, r, ratios)


def test_regressor_standard_errors_match_the_spread_over_replicates() -> None:
    rng = np.random.default_rng(11)
    values = {m: np.empty(REPLICATES) for m in REGRESSION_METRICS}
    errors = {m: np.empty(REPLICATES) for m in REGRESSION_METRICS}
    for i in range(REPLICATES):
        y = rng.gamma(4.0, 25.0, size=2000)
        yhat = y * rng.lognormal(0.02, 0.2, size=y.size) + rng.normal(0, 5, size=y.size)
        sums = RegressionSums.from_arrays(y, yhat)
        got, se = regression_realized(sums), regression_std_errors(sums)
        for m in REGRESSION_METRICS:
            values[m][i], errors[m][i] = got[m], se[m]
    ratios = {m: _agreement(values[m], errors[m]) for m in REGRESSION_METRICS}
    print({m: round(r, 3) for m, r in ratios.items()})
    for m, r in ratios.items():
        assert abs(r - 1) < TOLERANCE, (m, r, ratios)


def test_f1_error_matches_a_direct_delta_method() -> None:
    """The closed form equals the delta method on the multinomial confusion matrix."""
    tp, fp, fn, tn = 300.0, 80.0, 120.0, 500.0
    n = tp + fp + fn + tn
    pi = np.array([tp, fp, fn, tn]) / n
    d = 2 * pi[0] + pi[1] + pi[2]
    grad = np.array([2 * (pi[1] + pi[2]), -2 * pi[0], -2 * pi[0], 0.0]) / d**2
    cov = (np.diag(pi) - np.outer(pi, pi)) / n
    assert f1_std_error(tp, fp, fn) == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-12)


def test_a_single_positive_still_has_an_auc_error() -> None:
    """DeLong needs two of each class; with one, Hanley & McNeil's approximation stands in."""
    rng = np.random.default_rng(3)
    s = rng.uniform(size=40)
    y = np.zeros(40)
    y[np.argmax(s)] = 1.0
    se = classification_std_errors(ScoreBins.from_arrays(s, y))
    assert realized(ScoreBins.from_arrays(s, y))["roc_auc"] == 1.0
    assert 0.0 <= se["roc_auc"] < 0.2
    assert math.isnan(classification_std_errors(ScoreBins.from_arrays(s, y * 0))["roc_auc"])


def test_undefined_errors_are_nan() -> None:
    se = classification_std_errors(ScoreBins.from_arrays([0.1, 0.2, 0.3], [0, 0, 0]))
    assert math.isnan(se["recall"]) and math.isnan(se["roc_auc"]) and math.isnan(se["precision"])
    assert se["specificity"] == 0.0 and se["accuracy"] == 0.0
    assert all(
        math.isnan(v)
        for v in regression_std_errors(RegressionSums.from_arrays([1.0], [2.0])).values()
    )


def test_ece_closed_form_is_the_bootstrap_without_its_noise() -> None:
    """The closed form tracks a long bootstrap: closely on large cells, a little above on small.

    Its normal approximation of the per-bin gap errs upward where both classes
    of a bin count a handful of rows; the bootstrap itself overstates the
    replicate spread about as much (see the tests above).
    """
    rng = np.random.default_rng(12)
    for n, (low, high) in ((120, (1.0, 1.2)), (600, (0.98, 1.1)), (5000, (0.98, 1.04))):
        ratios = []
        for i in range(12):
            s, y, d = _population(rng, n)
            cell = ScoreBins.from_arrays(s, y, decisions=d)
            closed = classification_std_errors(cell)["calibration_error"]
            boot = classification_std_errors(cell, ece="bootstrap", draws=4000, seed=i)
            ratios.append(closed / boot["calibration_error"])
        assert low < float(np.median(ratios)) < high, (n, ratios)
