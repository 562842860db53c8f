"""Classification metrics from binned aggregates, against textbook computations on raw rows."""

from __future__ import annotations

import itertools
import math
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu

from seismo.metrics.cbpe import Calibration, check_calibration, estimate, fit_calibration
from seismo.metrics.classification import (
    CLIP,
    METRICS,
    ScoreBins,
    accuracy,
    brier,
    calibration_error,
    calibration_in_the_large,
    f1,
    log_loss,
    precision,
    realized,
    recall,
    roc_auc,
    roc_auc_binning_error,
    specificity,
)

Floats = NDArray[np.float64]


def _bin_index(s: Floats, bins: int, threshold: float) -> NDArray[np.int64]:
    """Bin of each score by plain comparison with the edges (independent of the module)."""
    idx = np.minimum(np.floor(s * bins), bins - 1).astype(np.int64)
    k = round(threshold * bins)
    # floor(s * B) can round across the threshold edge; the class is s >= threshold
    idx = np.where((s >= threshold) & (idx < k), k, idx)
    return np.where((s < threshold) & (idx >= k), k - 1, idx)


def _textbook(
    s: Floats, y: Floats, bins: int, threshold: float, d: Floats | None = None
) -> dict[str, float]:
    """The metrics of the labelled rows, the way a textbook computes them on raw arrays.

    ``d``: served decisions (1, 0, NaN for none: then the score at the threshold decides).
    """
    keep = ~np.isnan(y)
    served = np.full(s.size, np.nan) if d is None else d
    s, y, served = s[keep], y[keep], served[keep]
    n = s.size
    if n == 0:
        return dict.fromkeys(METRICS, math.nan)
    pred = np.where(np.isnan(served), s >= threshold, served == 1)
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    c = np.clip(s, CLIP, 1 - CLIP)
    idx = _bin_index(s, bins, threshold)
    ece = sum(
        np.sum(idx == b) / n * abs(s[idx == b].mean() - y[idx == b].mean()) for b in np.unique(idx)
    )
    p = float(y.sum())
    return {
        "accuracy": (tp + tn) / n,
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _exact_auc(s, y),
        "log_loss": float(-np.mean(y * np.log(c) + (1 - y) * np.log(1 - c))),
        "brier": float(np.mean((s - y) ** 2)),
        "calibration_error": float(ece),
        "calibration_in_the_large": ratio(float(s.sum()), p),
        "mean_score": float(s.mean()),
        "positive_rate": p / n,
    }


def _exact_auc(s: Floats, y: Floats) -> float:
    """AUC on the raw scores: the Mann-Whitney U of the positives over P * N."""
    a, b = s[y == 1], s[y == 0]
    if a.size == 0 or b.size == 0:
        return math.nan
    return float(mannwhitneyu(a, b).statistic) / float(a.size * b.size)


def _same(a: float, b: float, tol: float = 1e-9) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1.0, abs(b))


rows = st.lists(
    st.tuples(
        st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        st.sampled_from([0.0, 1.0, math.nan]),
    ),
    max_size=60,
)
binnings = st.sampled_from([(10, 0.5), (20, 0.3), (100, 0.5), (100, 0.7), (4, 0.25)])


@settings(max_examples=300, deadline=None)
@given(rows, binnings)
def test_realized_matches_textbook_on_raw_rows(
    data: list[tuple[float, float]], binning: tuple[int, float]
) -> None:
    bins, threshold = binning
    s = np.array([r[0] for r in data], dtype=np.float64)
    y = np.array([r[1] for r in data], dtype=np.float64)
    cell = ScoreBins.from_arrays(s, y, bins=bins, threshold=threshold)
    got, want = realized(cell), _textbook(s, y, bins, threshold)
    assert list(got) == list(METRICS)
    for m in METRICS:
        if m == "roc_auc":
            continue
        assert _same(got[m], want[m]), (m, got[m], want[m])
    if math.isnan(want["roc_auc"]):
        assert math.isnan(got["roc_auc"])
    else:
        assert abs(got["roc_auc"] - want["roc_auc"]) <= roc_auc_binning_error(cell) + 1e-12
    assert cell.n_labelled == int(np.sum(~np.isnan(y)))
    assert cell.n_pending == int(np.sum(np.isnan(y)))


@settings(max_examples=200, deadline=None)
@given(rows, binnings, st.lists(st.sampled_from([0.0, 1.0, math.nan]), min_size=60, max_size=60))
def test_served_decisions_match_textbook_on_raw_rows(
    data: list[tuple[float, float]], binning: tuple[int, float], served: list[float]
) -> None:
    bins, threshold = binning
    s = np.array([r[0] for r in data], dtype=np.float64)
    y = np.array([r[1] for r in data], dtype=np.float64)
    d = np.array(served[: s.size], dtype=np.float64)
    cell = ScoreBins.from_arrays(s, y, bins=bins, threshold=threshold, decisions=d)
    got, want = realized(cell), _textbook(s, y, bins, threshold, d)
    for m in ("accuracy", "precision", "recall", "specificity", "f1"):
        assert _same(got[m], want[m]), (m, got[m], want[m])
    assert _same(got["log_loss"], want["log_loss"])  # the score metrics ignore the decision


def test_predicted_counts_cannot_exceed_their_rows() -> None:
    cell = ScoreBins.from_arrays([0.2, 0.7], [0, 1], bins=10)
    arrays: dict[str, Any] = {
        n: getattr(cell, n) for n in ScoreBins.__dataclass_fields__ if n != "threshold"
    }
    with pytest.raises(ValueError, match="cannot exceed"):
        ScoreBins(**{**arrays, "pos_predicted": arrays["pos"] + 1})
    with pytest.raises(ValueError, match="decisions"):
        ScoreBins.from_arrays([0.2], [1.0], decisions=[2.0])


def test_the_small_functions_agree_with_realized() -> None:
    rng = np.random.default_rng(3)
    s = rng.uniform(size=500)
    cell = ScoreBins.from_arrays(s, (rng.uniform(size=500) < s) * 1.0)
    m = realized(cell)
    for fn in (
        accuracy,
        precision,
        recall,
        specificity,
        f1,
        roc_auc,
        log_loss,
        brier,
        calibration_error,
        calibration_in_the_large,
    ):
        assert fn(cell) == m[fn.__name__]


@pytest.mark.parametrize("bins", [10, 100, 1000])
def test_auc_within_the_binning_bound_on_random_data(bins: int) -> None:
    rng = np.random.default_rng(bins)
    for _ in range(20):
        y = (rng.uniform(size=3000) < 0.3).astype(np.float64)
        s = 1 / (1 + np.exp(-(rng.normal(size=3000) + 1.5 * y - 1)))
        cell = ScoreBins.from_arrays(s, y, bins=bins)
        bound = roc_auc_binning_error(cell)
        assert abs(roc_auc(cell) - _exact_auc(s, y)) <= bound + 1e-12
        # the bound is about 1/(2B) where the scores spread over many bins
        assert bound < 2.5 / bins


def test_threshold_must_be_a_bin_edge_and_sits_on_the_positive_side() -> None:
    with pytest.raises(ValueError, match="not an edge"):
        ScoreBins.from_arrays([0.2], [1.0], bins=100, threshold=0.333)
    with pytest.raises(ValueError, match="not an edge"):
        ScoreBins.from_arrays([0.2], [1.0], bins=3, threshold=0.5)
    cell = ScoreBins.from_arrays([0.5, np.nextafter(0.5, 0), 1.0, 0.0], [1, 0, 1, 0], bins=10)
    assert int(cell.pos[5]) == 1 and int(cell.neg[4]) == 1  # 0.5 predicted positive
    assert int(cell.pos[9]) == 1 and int(cell.neg[0]) == 1  # 1.0 in the last bin
    assert accuracy(cell) == 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0.2, 1.2], [0, 1], "probabilities"),
        ([0.2, math.nan], [0, 1], "probabilities"),
        ([0.2, 0.4], [0, 2], "labels"),
        ([0.2, 0.4], [0], "same length"),
    ],
)
def test_bad_rows_are_rejected(scores: list[float], labels: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ScoreBins.from_arrays(scores, labels)


def test_bad_aggregates_are_rejected() -> None:
    good = ScoreBins.from_arrays([0.2, 0.7], [0, 1], bins=10)
    arrays: dict[str, Any] = {n: getattr(good, n) for n in ("pos", "neg", "pend")}
    sums: dict[str, Any] = {
        n: np.zeros(10) for n in ScoreBins.__dataclass_fields__ if n.startswith("sum_")
    }
    with pytest.raises(ValueError, match="whole counts"):
        ScoreBins(**{**arrays, "pos": np.full(10, 0.5)}, **sums)
    with pytest.raises(ValueError, match="shape"):
        ScoreBins(**{**arrays, "neg": np.zeros(9)}, **sums)
    with pytest.raises(ValueError, match="same bins"):
        _ = good + ScoreBins.from_arrays([0.2], [0], bins=20)


@settings(max_examples=100, deadline=None)
@given(rows, rows, binnings)
def test_adding_cells_equals_binning_the_concatenation(
    a: list[tuple[float, float]], b: list[tuple[float, float]], binning: tuple[int, float]
) -> None:
    bins, threshold = binning

    def cell(data: list[tuple[float, float]]) -> ScoreBins:
        s = np.array([r[0] for r in data], dtype=np.float64)
        y = np.array([r[1] for r in data], dtype=np.float64)
        return ScoreBins.from_arrays(s, y, bins=bins, threshold=threshold)

    total, whole = cell(a) + cell(b), cell(a + b)
    summed = sum([cell(a), cell(b)])
    assert isinstance(summed, ScoreBins) and summed.n_labelled == whole.n_labelled
    for name in ScoreBins.__dataclass_fields__:
        left, right = getattr(total, name), getattr(whole, name)
        if name in ("pos", "neg", "pend", "threshold"):
            assert np.array_equal(left, right), name
        else:
            np.testing.assert_allclose(left, right, rtol=1e-9, atol=1e-9, err_msg=name)


def _simulate(
    rng: np.random.Generator, n: int, *, power: float = 1.0
) -> tuple[Floats, Floats, Floats]:
    """Scores p**power for true probabilities p ~ Beta(2, 3); labels ~ Bernoulli(p)."""
    p = rng.beta(2, 3, size=n)
    y = (rng.uniform(size=n) < p).astype(np.float64)
    return p, p**power, y


@pytest.fixture(scope="module")
def calibrated() -> Calibration:
    """A map fitted on a large, mature, perfectly calibrated reference."""
    _, s, y = _simulate(np.random.default_rng(42), 200_000)
    cal = fit_calibration(ScoreBins.from_arrays(s, y))
    assert cal.ok and cal.n == 200_000
    return cal


@pytest.mark.parametrize(("hidden", "served"), [(1.0, False), (0.5, False), (0.5, True)])
def test_cbpe_intervals_cover_the_final_value(
    calibrated: Calibration, hidden: float, served: bool
) -> None:
    """Over 200 simulated cells, the 90% intervals hold the final value about 90% of the time.

    ``served``: decisions served at score >= 0.4 with a fifth of them overridden, so
    bins hold pending rows of both decisions.
    """
    rng = np.random.default_rng(7)
    hits = dict.fromkeys(METRICS, 0)
    seen = dict.fromkeys(METRICS, 0)
    for i in range(200):
        _, s, y = _simulate(rng, 1000)
        d = None
        if served:
            d = np.where(rng.uniform(size=s.size) < 0.2, s < 0.4, s >= 0.4).astype(float)
        pending = rng.uniform(size=s.size) < hidden
        cell = ScoreBins.from_arrays(s, np.where(pending, np.nan, y), decisions=d)
        est = estimate(cell, calibrated, seed=i, draws=2000 if hidden == 1.0 else 1000)
        final = realized(ScoreBins.from_arrays(s, y, decisions=d))
        for m in METRICS:
            if not math.isnan(final[m]):
                seen[m] += 1
                hits[m] += est[m].low - 1e-12 <= final[m] <= est[m].high + 1e-12
        assert {e.estimator for e in est.values()} == {"cbpe" if hidden == 1.0 else "realized+cbpe"}
    coverage = {m: hits[m] / seen[m] for m in METRICS}
    # the mean score does not depend on labels: known exactly before any arrives
    assert coverage.pop("mean_score") == 1.0
    for m, c in coverage.items():
        assert 0.8 <= c <= 0.97, (m, c, coverage)


def test_estimate_converges_to_the_realized_value_as_labels_arrive(
    calibrated: Calibration,
) -> None:
    rng = np.random.default_rng(11)
    _, s, y = _simulate(rng, 3000)
    final = realized(ScoreBins.from_arrays(s, y))
    arrival = rng.permutation(s.size)
    widths, errors = [], []
    for share in (0.0, 0.25, 0.5, 0.75, 0.95, 1.0):
        known = np.zeros(s.size, dtype=bool)
        known[arrival[: round(share * s.size)]] = True
        est = estimate(ScoreBins.from_arrays(s, np.where(known, y, np.nan)), calibrated)
        widths.append(est["f1"].high - est["f1"].low)
        errors.append(abs(est["f1"].estimate - final["f1"]))
        for m in METRICS:
            assert est[m].low - 1e-12 <= est[m].estimate <= est[m].high + 1e-12
    assert all(a > b for a, b in itertools.pairwise(widths))
    assert errors[-1] == 0.0 and errors[-2] < errors[0]
    # all arrived: exactly the realized value, interval of width 0
    for m in METRICS:
        e = est[m]
        assert e.estimator == "realized"
        assert e.estimate == e.low == e.high == final[m] or math.isnan(final[m])


def test_uncalibrated_model_is_flagged_and_recalibration_fixes_the_estimate() -> None:
    rng = np.random.default_rng(5)
    _, s, y = _simulate(rng, 100_000, power=2.0)  # scores = true probability squared
    reference = ScoreBins.from_arrays(s, y)
    as_is = fit_calibration(reference, recalibrate=False)
    fitted = fit_calibration(reference)
    assert not as_is.ok and as_is.ece > 0.1
    assert fitted.ok and fitted.score_ece == pytest.approx(as_is.ece)
    assert np.all(np.diff(fitted.probability) >= 0)  # monotone in the score
    errors: dict[str, list[float]] = {"as_is": [], "fitted": []}
    for i in range(10):
        _, s, y = _simulate(rng, 2000, power=2.0)
        cell = ScoreBins.from_arrays(s, np.full(s.size, np.nan))
        final = realized(ScoreBins.from_arrays(s, y))
        for name, cal in (("as_is", as_is), ("fitted", fitted)):
            est = estimate(cell, cal, seed=i)
            errors[name].append(abs(est["accuracy"].estimate - final["accuracy"]))
            assert est["accuracy"].estimator == (
                "cbpe(uncalibrated)" if name == "as_is" else "cbpe"
            )
    assert np.mean(errors["fitted"]) < np.mean(errors["as_is"]) / 4


def test_check_calibration_sees_concept_drift_on_a_mature_window(
    calibrated: Calibration,
) -> None:
    rng = np.random.default_rng(9)
    p, s, _ = _simulate(rng, 20_000)
    same = ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < p) * 1.0)
    moved = ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < p * 0.7) * 1.0)
    assert check_calibration(same, calibrated).ok
    drifted = check_calibration(moved, calibrated)
    assert not drifted.ok and drifted.ece > 0.1
    assert drifted.probability is calibrated.probability or np.array_equal(
        drifted.probability, calibrated.probability
    )


def test_calibration_needs_enough_rows_and_matching_bins() -> None:
    rng = np.random.default_rng(2)
    _, s, y = _simulate(rng, 300)
    small = fit_calibration(ScoreBins.from_arrays(s, y))
    assert small.n == 300 and not small.ok  # below min_rows: not verified
    with pytest.raises(ValueError, match="without labelled rows"):
        fit_calibration(ScoreBins.from_arrays(s, np.full(s.size, np.nan)))
    with pytest.raises(ValueError, match="bins"):
        estimate(ScoreBins.from_arrays(s, y, bins=10), small)
    with pytest.raises(ValueError, match="level"):
        estimate(ScoreBins.from_arrays(s, y), small, level=1.0)


def test_estimate_is_deterministic_for_a_seed(calibrated: Calibration) -> None:
    rng = np.random.default_rng(4)
    _, s, y = _simulate(rng, 500)
    cell = ScoreBins.from_arrays(s, np.where(rng.uniform(size=s.size) < 0.5, np.nan, y))
    assert estimate(cell, calibrated, seed=3) == estimate(cell, calibrated, seed=3)
    assert estimate(cell, calibrated, seed=3) != estimate(cell, calibrated, seed=4)


def test_undefined_metrics_are_nan_not_zero(calibrated: Calibration) -> None:
    empty = realized(ScoreBins.from_arrays([], []))
    assert all(math.isnan(v) for v in empty.values())
    low = ScoreBins.from_arrays([0.1, 0.2], [0, 0])  # no positives, none predicted
    m = realized(low)
    assert m["accuracy"] == 1.0
    assert math.isnan(m["precision"]) and math.isnan(m["recall"]) and math.isnan(m["f1"])
    assert math.isnan(m["roc_auc"])
    est = estimate(ScoreBins.from_arrays([0.1, 0.2], [math.nan, math.nan]), calibrated)
    assert set(est) == set(METRICS)
    assert est["accuracy"].estimator == "cbpe"
