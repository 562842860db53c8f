"""Sampling standard errors of the model-quality metrics, from the engine's aggregates.

What a change test needs of a figure besides its value: how much it would
move between two samples of the same size from the same population. Each
function here takes a cell's aggregates (score-bin sums, regression error
sums) and returns the standard error of every metric of that cell, treating
its rows as independent draws. They are errors of the cell's *final* value:
for a classifier cell with pending labels, pass the calibration's
probabilities and the pending rows count as their expected labels (CBPE's
expected counts); for a regressor cell, the final row count is used, the
pending rows being exchangeable with the labelled ones. How far the estimate
itself may still move while labels are pending is another matter: that is
the estimate's interval.

Formulas (``N`` rows, ``P`` positives, ``Q`` negatives, ``TP``, ``FP``,
``FN``, ``TN`` the confusion matrix):

* accuracy, precision, recall, specificity, positive rate: binomial on their
  own denominator, ``sqrt(v (1 - v) / D)`` with ``D`` = ``N``, ``TP + FP``,
  ``P``, ``Q``, ``N``;
* F1: delta method on the multinomial confusion matrix,
  ``Var = 4 TP (FP + FN) (TP + FP + FN) / (2 TP + FP + FN)^4``;
* ROC AUC: DeLong's structural components on the bins (ties within a bin
  count half, as the AUC itself does), ``Var = S10 / P + S01 / Q`` (Hanley &
  McNeil's approximation for a class of a single row);
* log loss, Brier score, mean score: the variance of the per-row loss over
  ``N``, from the per-bin sums of the loss and of its square (log loss: exact,
  from the squared-log sums; Brier: ``(s - y)^4`` per bin from the bin's mean
  and variance of the score, exact up to its third central moment, below
  ``1e-5`` for bins of width 1/100);
* calibration in the large ``R = sum s / P``: delta method,
  ``Var = sum (s - R y)^2 / P^2``;
* calibration error (ECE): no clean formula (an absolute value per bin). The
  figure is that of a Poisson bootstrap over the score bins (each bin's
  positives and negatives redrawn as Poisson counts at their own mean score),
  in closed form (:func:`ece_std_error`: folded-normal moments per bin, delta
  method for the ratio to the row count); the seeded bootstrap itself stays
  available (``ece="bootstrap"``);
* regression (``n`` labelled rows, ``n + pending`` final rows): MAE, bias and
  MAPE are means, ``s / sqrt(n_final)`` with ``s`` the sample standard
  deviation of ``|e|``, ``e`` and ``|e| / |y|``; RMSE by the delta method on
  the MSE, ``SE(MSE) / (2 RMSE)`` with ``SE(MSE)`` from the sum of ``e^4``.

Undefined errors are NaN: an undefined metric, a denominator under 2 rows.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.special import erf

from seismo.metrics.cbpe import expected
from seismo.metrics.classification import (
    METRICS,
    FloatArray,
    Labelled,
    ScoreBins,
    div,
    labelled,
    metrics,
)
from seismo.metrics.regression import REGRESSION_METRICS, RegressionSums

__all__ = [
    "auc_std_error",
    "binomial_std_error",
    "classification_std_errors",
    "ece_std_error",
    "f1_std_error",
    "regression_std_errors",
]


def binomial_std_error(share: float, n: float) -> float:
    """``sqrt(share (1 - share) / n)``; NaN when undefined or ``n`` < 1.

    >>> round(binomial_std_error(0.2, 400), 6)
    0.02
    """
    if not math.isfinite(share) or n < 1:
        return math.nan
    return math.sqrt(max(share * (1.0 - share), 0.0) / n)


def f1_std_error(tp: float, fp: float, fn: float) -> float:
    """Delta-method standard error of F1 = 2TP / (2TP + FP + FN) on a multinomial sample.

    >>> round(f1_std_error(400, 100, 100), 4)
    0.0139
    """
    d = 2 * tp + fp + fn
    if d <= 0 or tp + fp + fn < 2:
        return math.nan
    return math.sqrt(max(4 * tp * (fp + fn) * (tp + fp + fn), 0.0) / d**4)


def auc_std_error(pos: FloatArray, neg: FloatArray) -> float:
    """DeLong's standard error of the binned ROC AUC (ties within a bin count half).

    ``pos`` and ``neg`` are the positives and negatives per score bin, lowest
    bin first. With a single positive or negative DeLong's variance of that
    class's components is undefined; Hanley & McNeil's (1982) approximation
    from the class sizes stands in. Below one of either, NaN.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.uniform(size=2000) < 0.3
    >>> s = np.clip(rng.normal(0.4 + 0.2 * y, 0.15), 0, 0.999)
    >>> b = np.floor(s * 100).astype(int)
    >>> pos, neg = np.bincount(b[y], minlength=100), np.bincount(b[~y], minlength=100)
    >>> round(auc_std_error(pos.astype(float), neg.astype(float)), 4)
    0.0096
    """
    p, q = float(pos.sum()), float(neg.sum())
    if p < 1 or q < 1:
        return math.nan
    v10 = (np.cumsum(neg) - neg + 0.5 * neg) / q  # a positive's share of negatives beaten
    v01 = (p - np.cumsum(pos) + 0.5 * pos) / p  # a negative's share of positives above it
    auc = float((pos * v10).sum() / p)
    if p < 2 or q < 2:
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        var = auc * (1 - auc) + (p - 1) * (q1 - auc * auc) + (q - 1) * (q2 - auc * auc)
        return math.sqrt(max(var, 0.0) / (p * q))
    s10 = float((pos * (v10 - auc) ** 2).sum()) / (p - 1)
    s01 = float((neg * (v01 - auc) ** 2).sum()) / (q - 1)
    return math.sqrt(s10 / p + s01 / q)


def _mean_se(total: float, total_sq: float, n: float) -> float:
    """Standard error of a mean of N rows from the sum and the sum of squares."""
    if n < 2:
        return math.nan
    mean = total / n
    return math.sqrt(max(total_sq / n - mean * mean, 0.0) / n)


def _brier_squares(c: Labelled) -> float:
    """sum (s - y)^4 over the rows, from each bin's mean and variance of the score per class."""
    m_pos = div(c.ssp, c.pos)
    m_neg = div(c.ssn, c.neg)
    v_pos = np.maximum(div(c.sqp, c.pos) - m_pos**2, 0.0)
    v_neg = np.maximum(div(c.sqn, c.neg) - m_neg**2, 0.0)
    u = 1.0 - m_pos
    pos = np.where(c.pos > 0, c.pos * (u**4 + 6 * u**2 * v_pos), 0.0)
    neg = np.where(c.neg > 0, c.neg * (m_neg**4 + 6 * m_neg**2 * v_neg), 0.0)
    return float(pos.sum() + neg.sum())


def _ece_bootstrap(c: Labelled, draws: int, seed: int) -> float:
    """Standard deviation of the ECE over a Poisson bootstrap of the score bins."""
    live = (c.pos + c.neg) > 0
    if live.sum() == 0 or (c.pos + c.neg).sum() < 2:
        return math.nan
    pos, neg = c.pos[live], c.neg[live]
    m_pos = np.where(pos > 0, c.ssp[live] / np.maximum(pos, 1e-300), 0.0)
    m_neg = np.where(neg > 0, c.ssn[live] / np.maximum(neg, 1e-300), 0.0)
    rng = np.random.default_rng(seed)
    p_star = rng.poisson(pos, size=(draws, pos.size)).astype(np.float64)
    q_star = rng.poisson(neg, size=(draws, neg.size)).astype(np.float64)
    n_star = (p_star + q_star).sum(-1)
    gap = np.abs(p_star * m_pos + q_star * m_neg - p_star).sum(-1)
    ece = gap[n_star > 0] / n_star[n_star > 0]
    return float(ece.std(ddof=1)) if ece.size > 1 else math.nan


def ece_std_error(c: Labelled) -> FloatArray:
    """Standard error of the ECE under the Poisson bootstrap of the score bins, in closed form.

    The bootstrap redraws bin ``b``'s positives and negatives as Poisson counts
    ``P*``, ``Q*`` at their own mean scores ``m+``, ``m-``: its gap is
    ``D = Q* m- - P* (1 - m+)``, of mean the observed gap ``mu`` and variance
    ``Q m-^2 + P (1 - m+)^2``, and the ECE is ``sum |D| / N*``. Each ``|D|`` is
    taken as a folded normal (exact when the bin holds one class only: ``D``
    then keeps its sign), the bins are independent, and the ratio to ``N*``
    (Poisson, mean and variance ``N``, covariance with ``D`` equal to ``mu``)
    goes through the delta method. What the bootstrap would give with endless
    draws, to the normal approximation of bins with both classes; no draws, so
    a cell's figure is the same whatever is computed beside it. Bins on the last
    axis, cells on any before; NaN below 2 rows.

    >>> from seismo.metrics.classification import ScoreBins, labelled
    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=5000)
    >>> cell = ScoreBins.from_arrays(s, (rng.uniform(size=5000) < s) * 1.0)
    >>> round(float(ece_std_error(labelled(cell))), 4)
    0.0045
    """
    pos, neg = c.pos, c.neg
    n = (pos + neg).sum(-1)
    up = np.where(pos > 0, pos - c.ssp, 0.0)  # P (1 - m+): what the positives fall short by
    down = np.where(neg > 0, c.ssn, 0.0)  # Q m-
    mu = down - up
    var = np.where(pos > 0, up * up / np.where(pos > 0, pos, 1.0), 0.0) + np.where(
        neg > 0, down * down / np.where(neg > 0, neg, 1.0), 0.0
    )
    sd = np.sqrt(var)
    one_signed = (up == 0) | (down == 0)
    z = np.where(one_signed | (sd == 0), 0.0, mu / np.where(sd > 0, sd, 1.0))
    sign = np.where(one_signed, np.sign(mu), erf(z / math.sqrt(2)))  # E sign(D), normal
    dens = np.where(one_signed, 0.0, math.sqrt(2 / math.pi) * np.exp(-z * z / 2))
    mean_abs = sd * dens + mu * sign  # E|D|
    var_abs = np.maximum(mu * mu + var - mean_abs * mean_abs, 0.0)
    # Cov(|D|, N*) = (mu / var) Cov(|D|, D), Cov(|D|, D) = E[D |D|] - mu E|D|
    d_abs_d = (mu * mu + var) * sign + mu * sd * dens - mu * mean_abs
    cov = np.where(var > 0, mu * d_abs_d / np.where(var > 0, var, 1.0), 0.0)
    total, t_var, t_cov = mean_abs.sum(-1), var_abs.sum(-1), cov.sum(-1)
    safe = np.where(n >= 2, n, 1.0)
    ratio = total / safe
    out = (t_var - 2 * ratio * t_cov + ratio * ratio * safe) / (safe * safe)
    return np.where(n >= 2, np.sqrt(np.maximum(out, 0.0)), np.nan)


def classification_std_errors(
    bins: ScoreBins,
    probability: FloatArray | None = None,
    *,
    ece: Literal["closed-form", "bootstrap"] = "closed-form",
    draws: int = 300,
    seed: int = 0,
) -> dict[str, float]:
    """The standard error of every metric of :data:`~seismo.metrics.classification.METRICS`.

    With ``probability`` (the calibration's P(label = 1) per bin), pending rows
    count as their expected labels, so the errors are those of the final
    value; without, pending rows are left out. The calibration error's is
    :func:`ece_std_error` unless ``ece="bootstrap"``: then a seeded Poisson
    bootstrap of ``draws`` draws (what the closed form approximates, at a
    thousand times the cost).

    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=5000)
    >>> se = classification_std_errors(ScoreBins.from_arrays(s, (rng.uniform(size=5000) < s) * 1.0))
    >>> round(se["accuracy"], 4), round(se["roc_auc"], 4), round(se["log_loss"], 4)
    (0.0062, 0.0058, 0.0075)
    """
    c = labelled(bins) if probability is None else expected(bins, probability)
    value = {k: float(v) for k, v in metrics(c).items()}
    p, q = float(c.pos.sum()), float(c.neg.sum())
    n = p + q
    tp, fp = float(c.tp.sum()), float(c.fp.sum())
    fn = p - tp
    out = dict.fromkeys(METRICS, math.nan)
    if n < 2:
        return out
    out["accuracy"] = binomial_std_error(value["accuracy"], n)
    out["precision"] = binomial_std_error(value["precision"], tp + fp)
    out["recall"] = binomial_std_error(value["recall"], p)
    out["specificity"] = binomial_std_error(value["specificity"], q)
    out["positive_rate"] = binomial_std_error(value["positive_rate"], n)
    out["f1"] = f1_std_error(tp, fp, fn)
    out["roc_auc"] = auc_std_error(c.pos, c.neg)
    loss = -float(c.lsp.sum() + c.l1n.sum())
    out["log_loss"] = _mean_se(loss, float(c.lsp2.sum() + c.l1n2.sum()), n)
    brier = float(p - 2 * c.ssp.sum() + c.sqp.sum() + c.sqn.sum())
    out["brier"] = _mean_se(brier, _brier_squares(c), n)
    score, score_sq = float(c.ssp.sum() + c.ssn.sum()), float(c.sqp.sum() + c.sqn.sum())
    out["mean_score"] = _mean_se(score, score_sq, n)
    ratio = value["calibration_in_the_large"]
    if p >= 1 and math.isfinite(ratio):
        resid = score_sq - 2 * ratio * float(c.ssp.sum()) + ratio * ratio * p
        out["calibration_in_the_large"] = math.sqrt(max(resid, 0.0)) / p
    if ece == "bootstrap":
        out["calibration_error"] = _ece_bootstrap(c, draws, seed)
    elif ece == "closed-form":
        out["calibration_error"] = float(ece_std_error(c))
    else:
        raise ValueError(f"ece must be 'closed-form' or 'bootstrap', got {ece!r}")
    return out


def regression_std_errors(sums: RegressionSums) -> dict[str, float]:
    """The standard error of MAE, RMSE, MAPE and bias, at the cell's final row count.

    MAPE needs ``sum_sq_pct_err`` and RMSE ``sum_quartic_err``: NaN without.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(100, 20, size=400)
    >>> se = regression_std_errors(RegressionSums.from_arrays(y, y + rng.normal(0, 5, size=400)))
    >>> {k: round(v, 4) for k, v in se.items()}
    {'mae': 0.1501, 'rmse': 0.1822, 'mape': 0.0016, 'bias': 0.2517}
    """
    out = dict.fromkeys(REGRESSION_METRICS, math.nan)
    n = sums.n
    if n < 2:
        return out
    final = n + sums.n_pending

    def spread(total: float, total_sq: float, k: int) -> float:
        mean = total / k
        return max(total_sq - k * mean * mean, 0.0) / (k - 1)

    out["mae"] = math.sqrt(spread(sums.sum_abs_err, sums.sum_sq_err, n) / final)
    out["bias"] = math.sqrt(spread(sums.sum_yhat - sums.sum_y, sums.sum_sq_err, n) / final)
    if math.isfinite(sums.sum_quartic_err):
        mse = sums.sum_sq_err / n
        se_mse = math.sqrt(spread(sums.sum_sq_err, sums.sum_quartic_err, n) / final)
        out["rmse"] = se_mse / (2 * math.sqrt(mse)) if mse > 0 else 0.0
    if sums.n_pct >= 2 and math.isfinite(sums.sum_sq_pct_err):
        final_pct = sums.n_pct * final / n
        var = spread(sums.sum_abs_pct_err, sums.sum_sq_pct_err, sums.n_pct)
        out["mape"] = math.sqrt(var / final_pct)
    return out
