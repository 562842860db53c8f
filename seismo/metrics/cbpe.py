"""Confidence-based performance estimation (CBPE): the final value of a cell's metrics.

Labels arrive late, so a cell holds labelled rows and pending ones. The pending
rows are estimated in the manner of NannyML's confidence-based performance
estimation: with calibrated probabilities ``p_b`` per score bin
(:func:`fit_calibration` on mature data), a pending row in bin ``b`` is positive
with probability ``p_b``. :func:`estimate` turns that into the *final* value of
each metric (the value once every label is in) with a predictive interval;
:func:`expected` gives the cell as its expected counts, which is what the
sampling errors of :mod:`seismo.metrics.std_errors` are computed on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from seismo.metrics.classification import (
    METRICS,
    Estimate,
    FloatArray,
    IntArray,
    Labelled,
    ScoreBins,
    folded,
    metrics,
)

__all__ = ["Calibration", "check_calibration", "estimate", "expected", "fit_calibration"]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Calibrated P(label = 1) per score bin, and how well it held on the data measured.

    ``probability[b]`` is what CBPE takes for a pending row in bin ``b``.
    ``ece`` is the calibration error of those probabilities on the labelled rows
    measured, over pooled groups of adjacent bins with at least ``min_per_bin``
    rows each (pooling keeps the noise of sparse bins out of the figure);
    ``noise`` is the ECE a perfectly calibrated model would show on the same
    counts (normal approximation, ``sqrt(2/pi) * sd`` per group); ``score_ece``
    is the same measure for the raw scores, i.e. how miscalibrated the model
    itself is. ``recalibrated`` says whether ``probability`` is a fitted map or
    the scores taken at their word.

    The verdict ``ok``: at least ``min_rows`` labelled rows were measured and the
    calibration error in excess of sampling noise, ``ece - noise``, is at most
    ``tolerance``. A fitted map is calibrated on the rows it was fitted on by
    construction, so re-check it on later mature windows with
    :func:`check_calibration`: that is where concept drift shows.
    """

    probability: FloatArray
    ece: float
    noise: float
    score_ece: float
    n: int
    recalibrated: bool
    tolerance: float = 0.05
    min_rows: int = 1000
    min_per_bin: int = 100

    def __post_init__(self) -> None:
        arr = np.array(self.probability, dtype=np.float64)
        if arr.ndim != 1 or arr.size < 2 or np.any(~((arr >= 0) & (arr <= 1))):
            raise ValueError("probability must be a 1-D array of probabilities, one per bin")
        arr.flags.writeable = False
        object.__setattr__(self, "probability", arr)

    @property
    def bins(self) -> int:
        """Number of score bins the map covers."""
        return int(self.probability.shape[0])

    @property
    def ok(self) -> bool:
        """Enough labelled rows and ECE within tolerance after allowing for sampling noise."""
        return self.n >= self.min_rows and self.ece - self.noise <= self.tolerance


def _groups(counts: IntArray, min_per_bin: int) -> IntArray:
    """Group id per bin: adjacent bins pooled until each group has ``min_per_bin`` rows.

    A short tail joins the last full group, so every group but a lone one is full.
    """
    group = np.zeros(counts.shape[0], dtype=np.int64)
    g, acc = 0, 0
    for b, c in enumerate(counts.tolist()):
        group[b] = g
        acc += c
        if acc >= min_per_bin:
            g, acc = g + 1, 0
    if acc < min_per_bin and g > 0:  # the tail after the last full group
        group[group == g] = g - 1
    return group


def _measure(
    bins: ScoreBins, probability: FloatArray, min_per_bin: int
) -> tuple[float, float, float, int]:
    """(ece, noise, score_ece, n) of ``probability`` and of the raw scores on labelled rows."""
    n_b = bins.pos + bins.neg
    n = int(n_b.sum())
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    g = _groups(n_b, min_per_bin)
    observed = np.bincount(g, weights=bins.pos)
    expected = np.bincount(g, weights=n_b * probability)
    variance = np.bincount(g, weights=n_b * probability * (1 - probability))
    scores = np.bincount(g, weights=bins.sum_score_pos + bins.sum_score_neg)
    ece = float(np.abs(expected - observed).sum() / n)
    noise = float(math.sqrt(2 / math.pi) * np.sqrt(variance).sum() / n)
    score_ece = float(np.abs(scores - observed).sum() / n)
    return ece, noise, score_ece, n


def fit_calibration(
    bins: ScoreBins,
    *,
    recalibrate: bool = True,
    min_per_bin: int = 100,
    min_rows: int = 1000,
    tolerance: float = 0.05,
) -> Calibration:
    """Calibrated probability per score bin, from mature labelled bins (pending rows ignored).

    With ``recalibrate`` (the default): histogram binning — adjacent bins pooled
    until each group holds ``min_per_bin`` labelled rows, so no probability rests
    on a handful of rows — then the group rates made monotone in the score by
    pool-adjacent-violators (``scipy.optimize.isotonic_regression``, weighted by
    rows), since a higher score should never mean a lower probability. Rates are
    ``(positives + 1/2) / (rows + 1)`` (Jeffreys), so no bin is ever certain.
    Without it the scores are taken at their word (each bin's mean score, its
    midpoint when empty) and the verdict says whether they deserve it.

    Pass windows whose labels have *all* arrived: labelled rows of an immature
    window are the fast ones, not a fair sample.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=20_000)
    >>> ref = ScoreBins.from_arrays(p**2, (rng.uniform(size=p.size) < p).astype(float))
    >>> fit_calibration(ref, recalibrate=False).ok, fit_calibration(ref).ok
    (False, True)
    >>> round(fit_calibration(ref).score_ece, 2)
    0.17
    """
    if not isinstance(min_per_bin, int) or min_per_bin < 1:
        raise ValueError(f"min_per_bin must be a positive integer, got {min_per_bin!r}")
    n_b = bins.pos + bins.neg
    if recalibrate:
        if n_b.sum() == 0:
            raise ValueError("cannot fit a calibration without labelled rows")
        g = _groups(n_b, min_per_bin)
        rows = np.bincount(g, weights=n_b)
        rate = (np.bincount(g, weights=bins.pos) + 0.5) / (rows + 1.0)
        probability = isotonic_regression(rate, weights=rows).x[g]
    else:
        n_all = n_b + bins.pend
        total = bins.sum_score_pos + bins.sum_score_neg + bins.sum_score_pend
        mid = (np.arange(bins.bins) + 0.5) / bins.bins
        probability = np.where(n_all > 0, total / np.maximum(n_all, 1), mid)
    ece, noise, score_ece, n = _measure(bins, probability, min_per_bin)
    return Calibration(
        probability, ece, noise, score_ece, n, recalibrate, tolerance, min_rows, min_per_bin
    )


def check_calibration(bins: ScoreBins, calibration: Calibration) -> Calibration:
    """The same map, its ``ece``, ``noise``, ``score_ece``, ``n`` and ``ok`` measured on ``bins``.

    Use it on each window that has matured since the map was fitted: a map that
    held on the reference but fails here means P(label | score) has moved
    (concept drift), which no label-free estimate can see.

    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=20_000)
    >>> cal = fit_calibration(ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < s) * 1.0))
    >>> later = ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < s / 2) * 1.0)
    >>> check_calibration(later, cal).ok
    False
    """
    if calibration.bins != bins.bins:
        raise ValueError(f"calibration has {calibration.bins} bins, the cell {bins.bins}")
    ece, noise, score_ece, n = _measure(bins, calibration.probability, calibration.min_per_bin)
    return Calibration(
        calibration.probability,
        ece,
        noise,
        score_ece,
        n,
        calibration.recalibrated,
        calibration.tolerance,
        calibration.min_rows,
        calibration.min_per_bin,
    )


def expected(bins: ScoreBins, probability: FloatArray) -> Labelled:
    """The cell with each pending row of bin ``b`` counted ``p_b`` positive, ``1 - p_b`` negative.

    >>> cell = ScoreBins.from_arrays([0.3, 0.7, 0.7], [0, 1, float("nan")], bins=10)
    >>> e = expected(cell, np.full(10, 0.25))
    >>> float(e.pos.sum()), float(e.neg.sum()), float(e.tp.sum()), float(e.fp.sum())
    (1.25, 1.75, 1.25, 0.75)
    """
    assert bins.pend_predicted is not None
    flagged = bins.pend_predicted.astype(np.float64)
    other = bins.pend.astype(np.float64) - flagged
    return folded(bins, flagged * probability, other * probability)


def _draw(bins: ScoreBins, p: FloatArray, draws: int, rng: np.random.Generator) -> Labelled:
    """``draws`` realisations of the pending labels (see :func:`draw_positives`)."""
    assert bins.pend_predicted is not None
    flagged, positives = draw_positives(bins.pend, bins.pend_predicted, p, draws, rng)
    return folded(bins, flagged, positives - flagged)


def draw_positives(
    pend: IntArray, pend_predicted: IntArray, p: FloatArray, draws: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """(flagged, positives) per draw and bin: Binomial(pend_b, p_b) positives per bin.

    Where a bin's pending rows were served both decisions, the positives are
    split between them at random (hypergeometric: which rows turn positive is
    a uniform choice within the bin); ``flagged`` are those predicted positive.

    >>> pend, flagged = np.array([0, 4, 10]), np.array([0, 4, 3])
    >>> f, pos = draw_positives(pend, flagged, np.full(3, 0.5), 2, np.random.default_rng(0))
    >>> pos.tolist(), f.tolist()
    ([[0.0, 2.0, 4.0], [0.0, 0.0, 2.0]], [[0.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
    """
    drawn = pend > 0  # only bins with pending rows cost a draw
    positives = np.zeros((draws, pend.shape[-1]))
    positives[:, drawn] = rng.binomial(pend[drawn], p[drawn], size=(draws, int(drawn.sum())))
    flagged = np.where(pend_predicted == pend, positives, 0.0)
    mixed = (pend_predicted > 0) & (pend_predicted < pend)
    if mixed.any():
        good = np.broadcast_to(pend_predicted[mixed], (draws, int(mixed.sum())))
        bad = np.broadcast_to((pend - pend_predicted)[mixed], good.shape)
        flagged[:, mixed] = rng.hypergeometric(good, bad, positives[:, mixed].astype(np.int64))
    return flagged, positives


def estimate(
    bins: ScoreBins,
    calibration: Calibration,
    *,
    level: float = 0.9,
    draws: int = 2000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Each metric's final value: realized labels plus CBPE for the pending rows.

    The point estimate is CBPE's: the metric of the *expected* confusion matrix,
    pending rows of bin ``b`` counting ``p_b`` positive and ``1 - p_b`` negative
    (so E[TP] = sum over bins of p_b times the pending rows predicted positive;
    AUC from the expected class counts per bin; log loss from the pending log
    sums weighted by ``p_b``). ``calibration_error`` is the exception: ``|.|`` is
    convex, so the metric of expected counts would only see systematic
    miscalibration and miss the noise every real cell has; its estimate is the
    mean over the draws instead.

    The interval is *predictive*: the pending labels are drawn as
    Binomial(pend_b, p_b) per bin (``draws`` seeded, vectorised draws, see
    :func:`_draw` for bins whose rows were served both decisions) and
    ``[low, high]`` holds the central ``level`` of the resulting final values,
    widened if need be to contain the estimate (with a handful of pending rows
    the draws take few values). It treats ``p_b`` as known: the calibration's
    own uncertainty is not in it, so fit on far more rows than a cell holds.
    Undefined draws (e.g. precision with no predicted positive) are left out.
    With nothing pending, every metric is its realized value and ``low == high``.

    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(size=50_000)
    >>> cal = fit_calibration(ScoreBins.from_arrays(s, (rng.uniform(size=s.size) < s) * 1.0))
    >>> cell = ScoreBins.from_arrays(s[:1000], np.full(1000, np.nan))
    >>> e = estimate(cell, cal)["accuracy"]
    >>> e.estimator, round(e.estimate, 3), round(e.low, 3), round(e.high, 3)
    ('cbpe', 0.746, 0.726, 0.767)
    """
    if calibration.bins != bins.bins:
        raise ValueError(f"calibration has {calibration.bins} bins, the cell {bins.bins}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    p = calibration.probability
    point = metrics(expected(bins, p))
    if bins.n_pending == 0:
        return {m: Estimate(float(v), float(v), float(v), "realized") for m, v in point.items()}
    sims = metrics(_draw(bins, p, draws, np.random.default_rng(seed)))
    name = estimator_name(bins.n_labelled, calibration)
    return summarise(point, sims, level, name)


def estimator_name(labelled: float, calibration: Calibration) -> str:
    """``cbpe`` or ``realized+cbpe``, with ``(uncalibrated)`` when the calibration failed.

    >>> cal = Calibration(np.full(4, 0.5), 0.2, 0.01, 0.2, n=5000, recalibrated=True)
    >>> estimator_name(0, cal), estimator_name(120, cal)
    ('cbpe(uncalibrated)', 'realized+cbpe(uncalibrated)')
    """
    name = "cbpe" if labelled == 0 else "realized+cbpe"
    return name if calibration.ok else name + "(uncalibrated)"


def summarise(
    point: Mapping[str, FloatArray | float], sims: Mapping[str, FloatArray], level: float, name: str
) -> dict[str, Estimate]:
    """Each metric's estimate and interval from its point value and its draws (1-D).

    The point value is the centre, but for ``calibration_error`` the draws' mean
    (see :func:`estimate`); undefined draws are left out; the central ``level``
    of the draws is widened if need be to contain the centre.

    >>> rng = np.random.default_rng(0)
    >>> sims = {m: rng.normal(0.7, 0.02, size=400) for m in METRICS}
    >>> e = summarise(dict.fromkeys(METRICS, 0.69), sims, 0.9, "cbpe")["accuracy"]
    >>> e.estimator, e.estimate, round(e.low, 3), round(e.high, 3)
    ('cbpe', 0.69, 0.671, 0.732)
    """
    alpha = (1.0 - level) / 2
    out: dict[str, Estimate] = {}
    for metric in METRICS:
        values = sims[metric][~np.isnan(sims[metric])]
        if values.size == 0:
            out[metric] = Estimate(math.nan, math.nan, math.nan, name)
            continue
        centre = float(values.mean() if metric == "calibration_error" else point[metric])
        low, high = (float(q) for q in np.quantile(values, [alpha, 1.0 - alpha]))
        if not math.isnan(centre):
            low, high = min(low, centre), max(high, centre)
        out[metric] = Estimate(centre, low, high, name)
    return out
