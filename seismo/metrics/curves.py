"""A classifier's curves from its binned score aggregates: confusion, ROC, PR, reliability.

Everything here reads one :class:`~seismo.metrics.classification.ScoreBins`
(the engine's per-score-bin sums, see
:func:`seismo.metrics.quality.pooled_bins`), never rows, and only its
*labelled* rows: a curve of the truth cannot include rows whose truth is
still to come.

* :func:`confusion`: the confusion matrix at the decision the model served
  (else the score at the threshold), exact.
* :func:`roc` and :func:`pr`: one point per bin edge ``k / B`` (predicted
  positive = score at or above it). The binned ROC's trapezoid area is the
  binned Mann-Whitney AUC of :func:`~seismo.metrics.classification.roc_auc`
  (ties within a bin count half), so it differs from the AUC of the raw
  scores by at most :func:`~seismo.metrics.classification.roc_auc_binning_error`.
  Edges between which nothing changes (empty bins) are left out: the curve
  is the same.
* :func:`reliability`: adjacent bins merged until each group holds at least
  ``min_rows`` labelled rows (about equal-count groups, like scikit-learn's
  ``strategy="quantile"``), each with its mean score and observed rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seismo.metrics.classification import ScoreBins

__all__ = ["Confusion", "Curve", "Reliability", "confusion", "pr", "reliability", "roc"]


@dataclass(frozen=True)
class Confusion:
    """Labelled rows by truth × decision: true / false positives and negatives."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


@dataclass(frozen=True)
class Curve:
    """Points of a curve, one per score threshold kept (``thresholds[i]`` gives ``x[i], y[i]``).

    ROC: ``x`` false-positive rate, ``y`` true-positive rate. PR: ``x``
    recall, ``y`` precision. ``area`` is the ROC AUC (trapezoids) or the
    average precision (steps, as scikit-learn's ``average_precision_score``).
    """

    thresholds: tuple[float, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    area: float


@dataclass(frozen=True)
class Reliability:
    """Calibration groups: score range ``[low, high)``, labelled rows, mean score, observed rate."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    n: tuple[int, ...]
    mean_score: tuple[float, ...]
    observed: tuple[float, ...]


def confusion(bins: ScoreBins) -> Confusion:
    """The labelled rows' confusion matrix at the served decision (or the score's threshold).

    >>> cell = ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9, 0.8], [0, 1, 1, 0, float("nan")])
    >>> confusion(cell)
    Confusion(tp=1, fp=1, fn=1, tn=1)
    >>> served = [1, 0, 0, 0, 1]  # a policy overrode the score
    >>> s, y = [0.1, 0.4, 0.6, 0.9, 0.8], [0, 1, 1, 0, 1]
    >>> confusion(ScoreBins.from_arrays(s, y, decisions=served))
    Confusion(tp=1, fp=1, fn=2, tn=1)
    """
    assert bins.pos_predicted is not None and bins.neg_predicted is not None
    tp, fp = int(bins.pos_predicted.sum()), int(bins.neg_predicted.sum())
    return Confusion(tp, fp, int(bins.pos.sum()) - tp, int(bins.neg.sum()) - fp)


def _above(counts: np.ndarray) -> np.ndarray:
    """For each edge k = 0 .. B: the count in bins k and above (edge B: none)."""
    return np.concatenate([np.cumsum(counts[::-1])[::-1], [0]]).astype(np.float64)


def _kept(bins: ScoreBins) -> np.ndarray:
    """The edges where the curve can turn: both ends and the lower edge of every bin with rows."""
    has = (bins.pos + bins.neg) > 0
    keep = np.concatenate([has, [True]])
    keep[0] = True
    return np.flatnonzero(keep)[::-1]  # highest threshold first, as the curve is drawn


def roc(bins: ScoreBins) -> Curve | None:
    """The ROC curve over the bin edges; None without both positives and negatives.

    >>> c = roc(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 0, 1], bins=10))
    >>> c.thresholds, c.area
    ((1.0, 0.9, 0.6, 0.4, 0.1, 0.0), 0.75)
    >>> c.x, c.y
    ((0.0, 0.0, 0.5, 0.5, 1.0, 1.0), (0.0, 0.5, 0.5, 1.0, 1.0, 1.0))
    """
    p, q = float(bins.pos.sum()), float(bins.neg.sum())
    if p == 0 or q == 0:
        return None
    edges = _kept(bins)
    tpr, fpr = _above(bins.pos)[edges] / p, _above(bins.neg)[edges] / q
    area = float(np.trapezoid(tpr, fpr))
    return Curve(_edges(edges, bins.bins), _tuple(fpr), _tuple(tpr), area)


def pr(bins: ScoreBins) -> Curve | None:
    """The precision-recall curve over the bin edges where anything is predicted positive.

    None without a labelled positive. ``area`` is the average precision.

    >>> c = pr(ScoreBins.from_arrays([0.1, 0.4, 0.6, 0.9], [0, 1, 0, 1], bins=10))
    >>> c.thresholds, c.x, [round(v, 3) for v in c.y], round(c.area, 4)
    ((0.9, 0.6, 0.4, 0.1, 0.0), (0.5, 0.5, 1.0, 1.0, 1.0), [1.0, 0.5, 0.667, 0.5, 0.5], 0.8333)
    """
    p = float(bins.pos.sum())
    if p == 0:
        return None
    edges = _kept(bins)
    tp, fp = _above(bins.pos)[edges], _above(bins.neg)[edges]
    some = (tp + fp) > 0
    edges, tp, fp = edges[some], tp[some], fp[some]
    recall, precision = tp / p, tp / (tp + fp)
    steps = np.diff(np.concatenate([[0.0], recall]))
    return Curve(
        _edges(edges, bins.bins), _tuple(recall), _tuple(precision), float(steps @ precision)
    )


def reliability(bins: ScoreBins, min_rows: int) -> Reliability:
    """Mean score against observed rate, adjacent bins merged to ``min_rows`` labelled rows each.

    The last group takes what is left over when it is short (it joins the one
    before), so no group is smaller than ``min_rows`` unless all rows are.

    >>> cell = ScoreBins.from_arrays([0.1, 0.12, 0.3, 0.35, 0.8], [0, 0, 1, 0, 1], bins=10)
    >>> r = reliability(cell, 2)
    >>> r.low, r.high, r.n, [round(s, 3) for s in r.mean_score], r.observed
    ((0.1, 0.3), (0.2, 0.9), (2, 3), [0.11, 0.483], (0.0, 0.6666666666666666))
    """
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, got {min_rows!r}")
    n = bins.pos + bins.neg
    groups: list[list[int]] = [[]]
    filled = 0
    for b in np.flatnonzero(n > 0):
        groups[-1].append(int(b))
        filled += int(n[b])
        if filled >= min_rows:
            groups.append([])
            filled = 0
    if not groups[-1]:
        groups.pop()
    if len(groups) > 1 and filled and filled < min_rows:
        tail = groups.pop()
        groups[-1] += tail
    score = bins.sum_score_pos + bins.sum_score_neg
    width = 1.0 / bins.bins
    rows = [
        (
            round(g[0] * width, 12),
            round((g[-1] + 1) * width, 12),
            int(n[g].sum()),
            float(score[g].sum() / n[g].sum()),
            float(bins.pos[g].sum() / n[g].sum()),
        )
        for g in groups
    ]
    low, high, count, mean, observed = zip(*rows, strict=True) if rows else ((),) * 5
    return Reliability(low, high, count, mean, observed)


def _edges(edges: np.ndarray, bins: int) -> tuple[float, ...]:
    return tuple(round(float(k) / bins, 12) for k in edges)


def _tuple(a: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in a)
