"""Binary classification quality from binned score aggregates: realized, and estimated.

The engine never ships rows to Python: per window x segment cell it returns a few
sums per score bin (:class:`ScoreBins`), and every figure here is computed from
those sums alone. Equal-width bins keep the aggregate small and *additive* (a
week is the sum of its days), and lose almost nothing: counts, log loss, Brier
score and the confusion matrix at a threshold on a bin edge are exact; only ROC
AUC pays for the binning, with a bound that :func:`roc_auc_binning_error` states.

Labels arrive late, so a cell holds labelled rows and pending ones. The pending
rows are estimated in the manner of NannyML's confidence-based performance
estimation (CBPE): with calibrated probabilities ``p_b`` per score bin
(:func:`fit_calibration` on mature data), a pending row in bin ``b`` is positive
with probability ``p_b``. :func:`estimate` turns that into the *final* value of
each metric (the value once every label is in) with a predictive interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

__all__ = [
    "METRICS",
    "Calibration",
    "Estimate",
    "ScoreBins",
    "accuracy",
    "brier",
    "calibration_error",
    "calibration_in_the_large",
    "check_calibration",
    "estimate",
    "f1",
    "fit_calibration",
    "log_loss",
    "precision",
    "realized",
    "recall",
    "roc_auc",
    "roc_auc_binning_error",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CLIP = 1e-15
"""Scores are clipped to [CLIP, 1 - CLIP] before taking logs, as the engine does."""

METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
    "calibration_error",
    "calibration_in_the_large",
    "mean_score",
    "positive_rate",
)
"""The keys of :func:`realized` and :func:`estimate`, always all of them, in this order."""

_COUNTS = frozenset({"pos", "neg", "pend"})


def _threshold_bin(threshold: float, bins: int) -> int:
    """The first bin of the predicted positives; the threshold must be a bin edge.

    Otherwise a bin would straddle the threshold and the confusion matrix could
    not be read off the bins exactly.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
    k = round(threshold * bins)
    if abs(k / bins - threshold) > 1e-12:
        raise ValueError(
            f"threshold {threshold} is not an edge of {bins} equal bins on [0, 1]; "
            "choose bins so that threshold * bins is an integer"
        )
    return k


@dataclass(frozen=True, eq=False)
class ScoreBins:
    """One cell's binned aggregates: per score bin, labelled and pending sums.

    Bin ``b`` of ``B`` covers ``[b/B, (b+1)/B)`` and a score of exactly 1 falls in
    the last bin; a score is in a bin at or above ``threshold * B`` exactly when
    it is ``>= threshold`` (the predicted class). Logs are of scores clipped to
    ``[1e-15, 1 - 1e-15]``. Arrays are copied and made read-only, so a cell can
    be shared; cells of the same binning combine with ``+`` (and ``sum``).

    >>> cell = ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9, 0.7], [0, 1, 1, 1, float("nan")], bins=10)
    >>> cell.bins, cell.n_labelled, cell.n_pending, int(cell.pos[9]), int(cell.pend[7])
    (10, 4, 1, 1, 1)
    >>> (cell + cell).n_labelled
    8
    """

    pos: IntArray
    neg: IntArray
    sum_score_pos: FloatArray
    sum_score_neg: FloatArray
    sum_sq_score_pos: FloatArray
    sum_sq_score_neg: FloatArray
    sum_log_s_pos: FloatArray
    sum_log_1ms_neg: FloatArray
    pend: IntArray
    sum_score_pend: FloatArray
    sum_sq_score_pend: FloatArray
    sum_log_s_pend: FloatArray
    sum_log_1ms_pend: FloatArray
    threshold: float = 0.5

    def __post_init__(self) -> None:
        size = np.shape(self.pos)
        for f in fields(self):
            if f.name == "threshold":
                continue
            raw = np.asarray(getattr(self, f.name))
            if raw.ndim != 1 or raw.shape != size:
                raise ValueError(f"{f.name} must be 1-D with the shape of pos {size}")
            if f.name in _COUNTS:
                if not np.all(np.isfinite(raw)) or np.any(raw < 0) or np.any(raw != np.round(raw)):
                    raise ValueError(f"{f.name} must hold non-negative whole counts")
                arr = np.array(raw, dtype=np.int64)
            else:
                if not np.all(np.isfinite(raw)):
                    raise ValueError(f"{f.name} must be finite")
                arr = np.array(raw, dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, f.name, arr)
        _threshold_bin(self.threshold, self.bins)

    @property
    def bins(self) -> int:
        """Number of equal-width score bins ``B``."""
        return int(self.pos.shape[0])

    @property
    def threshold_bin(self) -> int:
        """Index of the first bin whose rows are predicted positive."""
        return _threshold_bin(self.threshold, self.bins)

    @property
    def n_labelled(self) -> int:
        """Rows whose label has arrived."""
        return int(self.pos.sum() + self.neg.sum())

    @property
    def n_pending(self) -> int:
        """Rows still waiting for their label."""
        return int(self.pend.sum())

    @classmethod
    def from_arrays(
        cls, scores: ArrayLike, labels: ArrayLike, *, bins: int = 100, threshold: float = 0.5
    ) -> ScoreBins:
        """Bin raw rows the way the engine does (tests, and callers holding raw arrays).

        ``labels`` are 0, 1 or NaN (pending).

        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(size=1000)
        >>> y = np.where(rng.uniform(size=1000) < 0.5, np.nan, rng.uniform(size=1000) < s)
        >>> cell = ScoreBins.from_arrays(s, y)
        >>> cell.n_labelled + cell.n_pending
        1000
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if s.ndim != 1 or s.shape != y.shape:
            raise ValueError("scores and labels must be 1-D arrays of the same length")
        if not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
            raise ValueError("scores must be finite probabilities in [0, 1]")
        if np.any(~np.isnan(y) & (y != 0) & (y != 1)):
            raise ValueError("labels must be 0, 1 or NaN (pending)")
        k = _threshold_bin(threshold, bins)
        edges = np.arange(bins + 1, dtype=np.float64) / bins
        edges[k] = threshold  # so that "bin >= k" is exactly "score >= threshold"
        idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, bins - 1)
        c = np.clip(s, CLIP, 1.0 - CLIP)
        log_s, log_1ms, sq = np.log(c), np.log1p(-c), s * s

        def count(mask: NDArray[np.bool_]) -> IntArray:
            return np.bincount(idx[mask], minlength=bins).astype(np.int64)

        def tally(mask: NDArray[np.bool_], w: FloatArray) -> FloatArray:
            return np.bincount(idx[mask], weights=w[mask], minlength=bins).astype(np.float64)

        is_pos, is_neg, is_pend = y == 1, y == 0, np.isnan(y)
        return cls(
            pos=count(is_pos),
            neg=count(is_neg),
            sum_score_pos=tally(is_pos, s),
            sum_score_neg=tally(is_neg, s),
            sum_sq_score_pos=tally(is_pos, sq),
            sum_sq_score_neg=tally(is_neg, sq),
            sum_log_s_pos=tally(is_pos, log_s),
            sum_log_1ms_neg=tally(is_neg, log_1ms),
            pend=count(is_pend),
            sum_score_pend=tally(is_pend, s),
            sum_sq_score_pend=tally(is_pend, sq),
            sum_log_s_pend=tally(is_pend, log_s),
            sum_log_1ms_pend=tally(is_pend, log_1ms),
            threshold=threshold,
        )

    def __add__(self, other: ScoreBins) -> ScoreBins:
        if not isinstance(other, ScoreBins):
            return NotImplemented
        if other.bins != self.bins or other.threshold != self.threshold:
            raise ValueError("only cells with the same bins and threshold can be added")
        names = [f.name for f in fields(self) if f.name != "threshold"]
        sums = {n: getattr(self, n) + getattr(other, n) for n in names}
        return ScoreBins(**sums, threshold=self.threshold)

    def __radd__(self, other: int) -> ScoreBins:
        """Let ``sum(cells)`` start from 0."""
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """a / b, NaN where b == 0: an undefined metric is NaN, never a guessed 0."""
    safe = np.where(b > 0, b, 1.0)
    return np.where(b > 0, a / safe, np.nan)


def _metrics(
    pos: FloatArray,
    neg: FloatArray,
    ssp: FloatArray,
    ssn: FloatArray,
    sqp: FloatArray,
    sqn: FloatArray,
    lsp: FloatArray,
    l1n: FloatArray,
    k: int,
) -> dict[str, FloatArray]:
    """Every metric from labelled per-bin sums; bins on the last axis, draws on any before.

    One formula serves the realized value (1-D input) and the Monte-Carlo draws
    (2-D input), so the estimate can never drift from what realized reports.
    """
    p, q = pos.sum(-1), neg.sum(-1)
    n = p + q
    tp, fp = pos[..., k:].sum(-1), neg[..., k:].sum(-1)
    fn = p - tp
    # Mann-Whitney on bins: a positive beats every negative in a lower bin and
    # ties (counts half) with the negatives of its own bin.
    below = np.cumsum(neg, axis=-1) - neg
    u = (pos * (below + 0.5 * neg)).sum(-1)
    score = ssp.sum(-1) + ssn.sum(-1)
    out = {
        "accuracy": _div(tp + (q - fp), n),
        "precision": _div(tp, tp + fp),
        "recall": _div(tp, p),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _div(u, p * q),
        "log_loss": _div(-(lsp.sum(-1) + l1n.sum(-1)), n),
        "brier": _div(p - 2 * ssp.sum(-1) + sqp.sum(-1) + sqn.sum(-1), n),
        "calibration_error": _div(np.abs(ssp + ssn - pos).sum(-1), n),
        "calibration_in_the_large": _div(score, p),
        "mean_score": _div(score, n),
        "positive_rate": _div(p, n),
    }
    return out


_Sums = tuple[
    FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray
]


def _labelled(bins: ScoreBins) -> _Sums:
    """The labelled per-bin arrays in the order :func:`_metrics` takes them."""
    return (
        bins.pos.astype(np.float64),
        bins.neg.astype(np.float64),
        bins.sum_score_pos,
        bins.sum_score_neg,
        bins.sum_sq_score_pos,
        bins.sum_sq_score_neg,
        bins.sum_log_s_pos,
        bins.sum_log_1ms_neg,
    )


def realized(bins: ScoreBins) -> dict[str, float]:
    """Every metric of :data:`METRICS` on the labelled rows only (the confirmed value).

    NaN where a metric is undefined rather than a conventional 0: precision with
    no predicted positive, recall and calibration-in-the-large with no positive,
    ROC AUC without both classes, F1 with neither positives nor predicted
    positives, everything on an empty cell. ``calibration_error`` is the expected
    calibration error over the score bins, ``sum_b (n_b/N) |mean score_b - rate_b|``;
    ``calibration_in_the_large`` is mean score / observed positive rate (1 is
    calibrated on average). ``roc_auc`` counts within-bin ties as half, see
    :func:`roc_auc_binning_error`.

    >>> m = realized(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 0]))
    >>> m["accuracy"], m["precision"], m["recall"], m["roc_auc"]
    (0.5, 0.5, 0.5, 0.5)
    """
    return {name: float(v) for name, v in _metrics(*_labelled(bins), bins.threshold_bin).items()}


def accuracy(bins: ScoreBins) -> float:
    """Share of labelled rows whose predicted class (score >= threshold) is right.

    >>> accuracy(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 1]))
    0.75
    """
    return realized(bins)["accuracy"]


def precision(bins: ScoreBins) -> float:
    """TP / (TP + FP); NaN when nothing is predicted positive.

    >>> precision(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 0]))
    0.5
    """
    return realized(bins)["precision"]


def recall(bins: ScoreBins) -> float:
    """TP / (TP + FN); NaN when no labelled row is positive.

    >>> recall(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 1]))
    0.6666666666666666
    """
    return realized(bins)["recall"]


def f1(bins: ScoreBins) -> float:
    """2TP / (2TP + FP + FN); NaN when there are neither positives nor predicted positives.

    >>> f1(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 1]))
    0.8
    """
    return realized(bins)["f1"]


def roc_auc(bins: ScoreBins) -> float:
    """ROC AUC from the binned counts (Mann-Whitney, ties within a bin count half).

    >>> roc_auc(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 0, 1]))
    0.75
    """
    return realized(bins)["roc_auc"]


def roc_auc_binning_error(bins: ScoreBins) -> float:
    """Bound on |binned AUC - exact AUC on the raw scores| for this cell's labelled rows.

    Only a (positive, negative) pair that shares a bin can be ordered either way
    by the raw scores; the binned AUC counts it 1/2 where the exact one counts 0,
    1/2 or 1. Hence the bound ``sum_b pos_b neg_b / (2 P N)`` — about ``1/(2B)``
    when scores spread evenly, larger when they crowd into few bins.

    >>> roc_auc_binning_error(ScoreBins.from_arrays([0.411, 0.412, 0.9], [0, 1, 1]))
    0.25
    """
    p, q = bins.pos.astype(np.float64), bins.neg.astype(np.float64)
    return float(_div(np.asarray(0.5 * (p * q).sum()), np.asarray(p.sum() * q.sum())))


def log_loss(bins: ScoreBins) -> float:
    """Mean negative log-likelihood of the labels, from the engine's log sums (exact).

    >>> round(log_loss(ScoreBins.from_arrays([0.2, 0.8], [0, 1])), 6)
    0.223144
    """
    return realized(bins)["log_loss"]


def brier(bins: ScoreBins) -> float:
    """Mean squared difference between score and label, from score and squared-score sums.

    >>> round(brier(ScoreBins.from_arrays([0.2, 0.8], [0, 0])), 6)
    0.34
    """
    return realized(bins)["brier"]


def calibration_error(bins: ScoreBins) -> float:
    """Expected calibration error over the score bins: sum_b (n_b/N) |mean score_b - rate_b|.

    >>> round(calibration_error(ScoreBins.from_arrays([0.2, 0.2, 0.8], [0, 1, 1], bins=10)), 6)
    0.266667
    """
    return realized(bins)["calibration_error"]


def calibration_in_the_large(bins: ScoreBins) -> float:
    """Mean score / observed positive rate: above 1 the model over-predicts on average.

    >>> calibration_in_the_large(ScoreBins.from_arrays([0.25, 0.75], [0, 0]))
    nan
    >>> calibration_in_the_large(ScoreBins.from_arrays([0.25, 0.75], [0, 1]))
    1.0
    """
    return realized(bins)["calibration_in_the_large"]


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


@dataclass(frozen=True)
class Estimate:
    """The final value of a metric (once every label is in), with a predictive interval.

    ``estimator`` is ``"realized"`` (nothing pending: exact, ``low == high``),
    ``"cbpe"`` (nothing labelled) or ``"realized+cbpe"``. When pending rows were
    estimated with a calibration whose ``ok`` is False, the suffix
    ``"(uncalibrated)"`` is appended (``"cbpe(uncalibrated)"``): the figure is
    still given, and the caller decides whether to show or trust it.
    """

    estimate: float
    low: float
    high: float
    estimator: str


def _final(bins: ScoreBins, positives: FloatArray) -> dict[str, FloatArray]:
    """Metrics once the pending rows are labelled, ``positives`` of them positive per bin.

    Within a bin the calibrated probability is one number, so which pending rows
    turn positive is, under the model, a uniform choice: their score and log
    sums are taken pro rata (their conditional expectation given the count).
    """
    pend = bins.pend.astype(np.float64)
    share = np.where(pend > 0, positives / np.maximum(pend, 1.0), 0.0)
    rest = 1.0 - share
    pos, neg, ssp, ssn, sqp, sqn, lsp, l1n = _labelled(bins)
    return _metrics(
        pos + share * pend,
        neg + rest * pend,
        ssp + share * bins.sum_score_pend,
        ssn + rest * bins.sum_score_pend,
        sqp + share * bins.sum_sq_score_pend,
        sqn + rest * bins.sum_sq_score_pend,
        lsp + share * bins.sum_log_s_pend,
        l1n + rest * bins.sum_log_1ms_pend,
        bins.threshold_bin,
    )


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
    (so E[TP] = sum over bins at or above the threshold of pend_b p_b, and so on;
    AUC from the expected class counts per bin; log loss from the pending log
    sums weighted by ``p_b``). ``calibration_error`` is the exception: ``|.|`` is
    convex, so the metric of expected counts would only see systematic
    miscalibration and miss the noise every real cell has; its estimate is the
    mean over the draws instead.

    The interval is *predictive*: the pending labels are drawn as
    Binomial(pend_b, p_b) per bin (``draws`` seeded, vectorised draws) and
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
    point = _final(bins, bins.pend * p)
    if bins.n_pending == 0:
        return {m: Estimate(float(v), float(v), float(v), "realized") for m, v in point.items()}
    rng = np.random.default_rng(seed)
    drawn = bins.pend > 0  # only bins with pending rows cost a draw
    positives = np.zeros((draws, bins.bins))
    positives[:, drawn] = rng.binomial(bins.pend[drawn], p[drawn], size=(draws, int(drawn.sum())))
    sims = _final(bins, positives)
    name = "cbpe" if bins.n_labelled == 0 else "realized+cbpe"
    if not calibration.ok:
        name += "(uncalibrated)"
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
