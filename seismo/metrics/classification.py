"""Binary classification quality from binned score aggregates.

The engine never ships rows to Python: per window x segment cell it returns a few
sums per score bin (:class:`ScoreBins`), and every figure here is computed from
those sums alone. Equal-width bins keep the aggregate small and *additive* (a
week is the sum of its days), and lose almost nothing: counts, log loss and
Brier score are exact, and so is the confusion matrix, since each bin also
counts its rows *predicted positive* (by the decision the model served, or by
the score at a threshold on a bin edge); only ROC AUC pays for the binning,
with a bound that :func:`roc_auc_binning_error` states.

Labels arrive late, so a cell holds labelled rows and pending ones;
:mod:`seismo.metrics.cbpe` estimates the final value of every metric from the
pending rows' scores, and :mod:`seismo.metrics.std_errors` gives its sampling
error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "METRICS",
    "SCORE_BINS",
    "Estimate",
    "ScoreBins",
    "accuracy",
    "brier",
    "calibration_error",
    "calibration_in_the_large",
    "f1",
    "log_loss",
    "precision",
    "realized",
    "recall",
    "roc_auc",
    "roc_auc_binning_error",
    "specificity",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CLIP = 1e-15
"""Scores are clipped to [CLIP, 1 - CLIP] before taking logs, as the engine does."""

SCORE_BINS = 100
"""Score bins the engine keeps per cell: equal width, so every multiple of 0.01 is an edge."""

METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
    "calibration_error",
    "calibration_in_the_large",
    "mean_score",
    "positive_rate",
)
"""The keys of :func:`realized` and of the estimates, always all of them, in this order."""

_COUNTS = frozenset({"pos", "neg", "pend", "pos_predicted", "neg_predicted", "pend_predicted"})
_PREDICTED = {"pos_predicted": "pos", "neg_predicted": "neg", "pend_predicted": "pend"}


def threshold_bin(threshold: float, bins: int) -> int:
    """The first bin of the predicted positives; the threshold must be a bin edge.

    Otherwise a bin would straddle the threshold and the confusion matrix could
    not be read off the bins exactly.

    >>> threshold_bin(0.65, 100)
    65
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
    the last bin. Logs are of scores clipped to ``[1e-15, 1 - 1e-15]``; the
    ``sum_sq_log_*`` arrays are sums of squared logs (for the log loss's
    sampling error).

    ``pos_predicted``, ``neg_predicted`` and ``pend_predicted`` count, per bin,
    the labelled positives, labelled negatives and pending rows that were
    *predicted positive*: by the decision the model served, where it served
    one. Left out, they follow the score: a score is in a bin at or above
    ``threshold * B`` exactly when it is ``>= threshold``.

    Arrays are copied and made read-only, so a cell can be shared; cells of the
    same binning combine with ``+`` (and ``sum``).

    >>> cell = ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9, 0.7], [0, 1, 1, 1, float("nan")], bins=10)
    >>> cell.bins, cell.n_labelled, cell.n_pending, int(cell.pos[9]), int(cell.pend[7])
    (10, 4, 1, 1, 1)
    >>> int(cell.pos_predicted.sum()), int(cell.pend_predicted.sum())
    (2, 1)
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
    sum_sq_log_s_pos: FloatArray
    sum_sq_log_1ms_neg: FloatArray
    sum_sq_log_s_pend: FloatArray
    sum_sq_log_1ms_pend: FloatArray
    threshold: float = 0.5
    pos_predicted: IntArray | None = None
    neg_predicted: IntArray | None = None
    pend_predicted: IntArray | None = None

    def __post_init__(self) -> None:
        size = np.shape(self.pos)
        if len(size) != 1:
            raise ValueError(f"pos must be 1-D, got shape {size}")
        k = threshold_bin(self.threshold, int(size[0]))
        for f in fields(self):
            if f.name == "threshold":
                continue
            raw = getattr(self, f.name)
            if raw is None:  # predicted positive by the score alone
                total = np.asarray(getattr(self, _PREDICTED[f.name]))
                raw = np.where(np.arange(size[0]) >= k, total, 0)
            raw = np.asarray(raw)
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
        for name, whole in _PREDICTED.items():
            if np.any(getattr(self, name) > getattr(self, whole)):
                raise ValueError(f"{name} cannot exceed {whole} in any bin")

    @property
    def bins(self) -> int:
        """Number of equal-width score bins ``B``."""
        return int(self.pos.shape[0])

    @property
    def threshold_bin(self) -> int:
        """Index of the first bin whose rows are predicted positive by the score alone."""
        return threshold_bin(self.threshold, self.bins)

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
        cls,
        scores: ArrayLike,
        labels: ArrayLike,
        *,
        bins: int = 100,
        threshold: float = 0.5,
        decisions: ArrayLike | None = None,
    ) -> ScoreBins:
        """Bin raw rows the way the engine does (tests, and callers holding raw arrays).

        ``labels`` are 0, 1 or NaN (pending). ``decisions`` (optional) are the
        served decisions: 1 predicted positive, 0 negative, NaN none served (the
        row is then predicted positive when its score is ``>= threshold``).

        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(size=1000)
        >>> y = np.where(rng.uniform(size=1000) < 0.5, np.nan, rng.uniform(size=1000) < s)
        >>> cell = ScoreBins.from_arrays(s, y)
        >>> cell.n_labelled + cell.n_pending
        1000
        >>> served = ScoreBins.from_arrays(s, y, decisions=s >= 0.65)
        >>> flagged = (served.pos_predicted, served.neg_predicted, served.pend_predicted)
        >>> int(sum(a.sum() for a in flagged))
        375
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if s.ndim != 1 or s.shape != y.shape:
            raise ValueError("scores and labels must be 1-D arrays of the same length")
        if not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
            raise ValueError("scores must be finite probabilities in [0, 1]")
        if np.any(~np.isnan(y) & (y != 0) & (y != 1)):
            raise ValueError("labels must be 0, 1 or NaN (pending)")
        predicted = s >= threshold
        if decisions is not None:
            d = np.asarray(decisions, dtype=np.float64)
            if d.shape != s.shape or np.any(~np.isnan(d) & (d != 0) & (d != 1)):
                raise ValueError("decisions must be 0, 1 or NaN (none served), one per score")
            predicted = np.where(np.isnan(d), predicted, d == 1)
        k = threshold_bin(threshold, bins)
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
            sum_sq_log_s_pos=tally(is_pos, log_s * log_s),
            sum_sq_log_1ms_neg=tally(is_neg, log_1ms * log_1ms),
            sum_sq_log_s_pend=tally(is_pend, log_s * log_s),
            sum_sq_log_1ms_pend=tally(is_pend, log_1ms * log_1ms),
            threshold=threshold,
            pos_predicted=count(is_pos & predicted),
            neg_predicted=count(is_neg & predicted),
            pend_predicted=count(is_pend & predicted),
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


class Labelled(NamedTuple):
    """Per-bin sums over labelled rows (or rows counted as labelled), as floats.

    ``tp`` / ``fp`` are the positives / negatives predicted positive. Bins on
    the last axis; any axes before it (Monte-Carlo draws) broadcast.
    """

    pos: FloatArray
    neg: FloatArray
    tp: FloatArray
    fp: FloatArray
    ssp: FloatArray  # score sum, positives
    ssn: FloatArray
    sqp: FloatArray  # squared-score sum, positives
    sqn: FloatArray
    lsp: FloatArray  # log(score) sum, positives
    l1n: FloatArray  # log(1 - score) sum, negatives
    lsp2: FloatArray  # squared log(score) sum, positives
    l1n2: FloatArray


def labelled(bins: ScoreBins) -> Labelled:
    """The labelled rows' per-bin sums (pending rows left out)."""
    assert bins.pos_predicted is not None and bins.neg_predicted is not None
    return Labelled(
        bins.pos.astype(np.float64),
        bins.neg.astype(np.float64),
        bins.pos_predicted.astype(np.float64),
        bins.neg_predicted.astype(np.float64),
        bins.sum_score_pos,
        bins.sum_score_neg,
        bins.sum_sq_score_pos,
        bins.sum_sq_score_neg,
        bins.sum_log_s_pos,
        bins.sum_log_1ms_neg,
        bins.sum_sq_log_s_pos,
        bins.sum_sq_log_1ms_neg,
    )


class Pending(NamedTuple):
    """Per-bin sums over pending rows, as floats; bins on the last axis, any axes before.

    ``n`` rows, ``flagged`` of them predicted positive; score, squared-score,
    log and squared-log sums as in :class:`ScoreBins`.
    """

    n: FloatArray
    flagged: FloatArray
    s: FloatArray
    s2: FloatArray
    ls: FloatArray
    l1s: FloatArray
    ls2: FloatArray
    l1s2: FloatArray


def pending(bins: ScoreBins) -> Pending:
    """The pending rows' per-bin sums.

    >>> nan = float("nan")
    >>> p = pending(ScoreBins.from_arrays([0.3, 0.7, 0.8], [0, nan, nan], bins=10))
    >>> p.n.tolist()[6:9], p.flagged.sum(), round(float(p.s.sum()), 2)
    ([0.0, 1.0, 1.0], np.float64(2.0), 1.5)
    """
    assert bins.pend_predicted is not None
    return Pending(
        bins.pend.astype(np.float64),
        bins.pend_predicted.astype(np.float64),
        bins.sum_score_pend,
        bins.sum_sq_score_pend,
        bins.sum_log_s_pend,
        bins.sum_log_1ms_pend,
        bins.sum_sq_log_s_pend,
        bins.sum_sq_log_1ms_pend,
    )


def folded(bins: ScoreBins, pos_flagged: ArrayLike, pos_other: ArrayLike) -> Labelled:
    """The cell once its pending rows are labelled: of those predicted positive in
    bin ``b``, ``pos_flagged[..., b]`` turn out positive, of the others ``pos_other[..., b]``.

    Within a bin the calibrated probability is one number, so which pending rows
    turn positive is, under the model, a uniform choice: their score and log
    sums are taken pro rata (their conditional expectation given the count).
    Counts may be fractional (expected counts) and carry leading draw axes.
    """
    return fold(labelled(bins), pending(bins), pos_flagged, pos_other)


def fold(own: Labelled, pend: Pending, pos_flagged: ArrayLike, pos_other: ArrayLike) -> Labelled:
    """:func:`folded` on per-bin sums: ``own`` and ``pend`` broadcast against the counts.

    >>> cell = ScoreBins.from_arrays([0.3, 0.7, 0.7], [0, 1, float("nan")], bins=10)
    >>> c = fold(labelled(cell), pending(cell), np.eye(10)[7], np.zeros(10))
    >>> float(c.pos.sum()), float(c.tp.sum()), float(c.ssp.sum())
    (2.0, 2.0, 1.4)
    """
    flagged = np.asarray(pos_flagged, dtype=np.float64)
    positives = flagged + np.asarray(pos_other, dtype=np.float64)
    share = np.where(pend.n > 0, positives / np.maximum(pend.n, 1.0), 0.0)
    rest = 1.0 - share
    return Labelled(
        own.pos + positives,
        own.neg + (pend.n - positives),
        own.tp + flagged,
        own.fp + (pend.flagged - flagged),
        own.ssp + share * pend.s,
        own.ssn + rest * pend.s,
        own.sqp + share * pend.s2,
        own.sqn + rest * pend.s2,
        own.lsp + share * pend.ls,
        own.l1n + rest * pend.l1s,
        own.lsp2 + share * pend.ls2,
        own.l1n2 + rest * pend.l1s2,
    )


def div(a: FloatArray, b: FloatArray) -> FloatArray:
    """a / b, NaN where b == 0: an undefined metric is NaN, never a guessed 0."""
    safe = np.where(b > 0, b, 1.0)
    return np.where(b > 0, a / safe, np.nan)


def metrics(c: Labelled) -> dict[str, FloatArray]:
    """Every metric from labelled per-bin sums; bins on the last axis, draws on any before.

    One formula serves the realized value (1-D input) and the Monte-Carlo draws
    (2-D input), so the estimate can never drift from what realized reports.
    """
    p, q = c.pos.sum(-1), c.neg.sum(-1)
    n = p + q
    tp, fp = c.tp.sum(-1), c.fp.sum(-1)
    fn, tn = p - tp, q - fp
    # Mann-Whitney on bins: a positive beats every negative in a lower bin and
    # ties (counts half) with the negatives of its own bin.
    below = np.cumsum(c.neg, axis=-1) - c.neg
    u = (c.pos * (below + 0.5 * c.neg)).sum(-1)
    score = c.ssp.sum(-1) + c.ssn.sum(-1)
    return {
        "accuracy": div(tp + tn, n),
        "precision": div(tp, tp + fp),
        "recall": div(tp, p),
        "specificity": div(tn, q),
        "f1": div(2 * tp, 2 * tp + fp + fn),
        "roc_auc": div(u, p * q),
        "log_loss": div(-(c.lsp.sum(-1) + c.l1n.sum(-1)), n),
        "brier": div(p - 2 * c.ssp.sum(-1) + c.sqp.sum(-1) + c.sqn.sum(-1), n),
        "calibration_error": div(np.abs(c.ssp + c.ssn - c.pos).sum(-1), n),
        "calibration_in_the_large": div(score, p),
        "mean_score": div(score, n),
        "positive_rate": div(p, n),
    }


def realized(bins: ScoreBins) -> dict[str, float]:
    """Every metric of :data:`METRICS` on the labelled rows only (the confirmed value).

    The threshold metrics (accuracy, precision, recall, specificity, F1) count
    a row as predicted positive by its served decision, else by its score at
    the threshold. NaN where a metric is undefined rather than a conventional 0:
    precision with no predicted positive, recall and calibration-in-the-large
    with no positive, specificity with no negative, ROC AUC without both
    classes, F1 with neither positives nor predicted positives, everything on
    an empty cell. ``calibration_error`` is the expected calibration error over
    the score bins, ``sum_b (n_b/N) |mean score_b - rate_b|``;
    ``calibration_in_the_large`` is mean score / observed positive rate (1 is
    calibrated on average). ``roc_auc`` counts within-bin ties as half, see
    :func:`roc_auc_binning_error`.

    >>> m = realized(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 1, 0]))
    >>> m["accuracy"], m["precision"], m["recall"], m["specificity"], m["roc_auc"]
    (0.5, 0.5, 0.5, 0.5, 0.5)
    """
    return {name: float(v) for name, v in metrics(labelled(bins)).items()}


def accuracy(bins: ScoreBins) -> float:
    """Share of labelled rows whose predicted class is right.

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


def specificity(bins: ScoreBins) -> float:
    """TN / (TN + FP), the recall of the negatives; NaN when no labelled row is negative.

    >>> specificity(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 0]))
    0.6666666666666666
    >>> served = [0, 0, 1, 0]  # the 0.9 was declined by a policy
    >>> specificity(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 0], decisions=served))
    1.0
    """
    return realized(bins)["specificity"]


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
    return float(div(np.asarray(0.5 * (p * q).sum()), np.asarray(p.sum() * q.sum())))


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
