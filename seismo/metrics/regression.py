"""Regression quality from per-cell error sums: realized, and a range for the final value.

The engine returns, per window x segment cell, a handful of sums over the
labelled rows (:class:`RegressionSums`) and the count of rows still waiting for
their outcome; everything here is computed from those sums alone. The sums are
additive, so a week is the sum of its days.

There is no label-free estimate for values the way CBPE gives one for classes:
a predicted value carries no confidence of its own. What can be said honestly
is narrower, see :func:`estimate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t

from seismo.metrics.classification import Estimate

__all__ = ["REGRESSION_METRICS", "RegressionSums", "estimate", "realized"]

REGRESSION_METRICS = ("mae", "rmse", "mape", "bias")
"""The keys of :func:`realized` and :func:`estimate`, always all of them, in this order."""


@dataclass(frozen=True)
class RegressionSums:
    """One cell's sums over labelled rows (error = prediction - outcome), and its pending count.

    ``sum_abs_pct_err`` is ``sum |error| / |y|`` over the ``n_pct`` rows with
    ``y != 0`` (a fraction, not percent). ``sum_quartic_err`` (``sum error**4``)
    is optional: it only serves the interval and the standard error of RMSE and
    stays NaN when the engine does not compute it; ``sum_sq_pct_err`` (``sum
    (|error| / |y|)**2`` over the ``n_pct`` rows) likewise serves MAPE's.

    >>> a = RegressionSums.from_arrays([1.0, 2.0, float("nan")], [1.5, 1.0, 3.0])
    >>> a.n, a.n_pending, a.sum_abs_err, a.sum_sq_err
    (2, 1, 1.5, 1.25)
    >>> (a + a).n
    4
    """

    n: int
    sum_abs_err: float
    sum_sq_err: float
    sum_abs_pct_err: float
    n_pct: int
    sum_y: float
    sum_yhat: float
    n_pending: int = 0
    sum_quartic_err: float = math.nan
    sum_sq_pct_err: float = math.nan

    def __post_init__(self) -> None:
        for name in ("n", "n_pct", "n_pending"):
            value = getattr(self, name)
            if value != int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative whole count, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.n_pct > self.n:
            raise ValueError("n_pct cannot exceed n")
        for name in ("sum_abs_err", "sum_sq_err", "sum_abs_pct_err", "sum_y", "sum_yhat"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "sum_quartic_err", float(self.sum_quartic_err))
        object.__setattr__(self, "sum_sq_pct_err", float(self.sum_sq_pct_err))

    @classmethod
    def from_arrays(cls, y: ArrayLike, yhat: ArrayLike) -> RegressionSums:
        """The sums of raw rows, as the engine computes them; NaN outcomes are pending.

        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(10, 2, size=100)
        >>> RegressionSums.from_arrays(y, y + 1).sum_abs_err
        100.0
        """
        y_ = np.asarray(y, dtype=np.float64)
        yhat_ = np.asarray(yhat, dtype=np.float64)
        if y_.ndim != 1 or y_.shape != yhat_.shape:
            raise ValueError("y and yhat must be 1-D arrays of the same length")
        if not np.all(np.isfinite(yhat_)) or np.any(np.isinf(y_)):
            raise ValueError("predictions must be finite and outcomes finite or NaN (pending)")
        known = ~np.isnan(y_)
        yk, err = y_[known], yhat_[known] - y_[known]
        nz = yk != 0
        pct = np.abs(err[nz]) / np.abs(yk[nz])
        return cls(
            n=int(known.sum()),
            sum_abs_err=float(np.abs(err).sum()),
            sum_sq_err=float((err**2).sum()),
            sum_abs_pct_err=float(pct.sum()),
            n_pct=int(nz.sum()),
            sum_y=float(yk.sum()),
            sum_yhat=float(yhat_[known].sum()),
            n_pending=int((~known).sum()),
            sum_quartic_err=float((err**4).sum()),
            sum_sq_pct_err=float((pct**2).sum()),
        )

    def __add__(self, other: RegressionSums) -> RegressionSums:
        if not isinstance(other, RegressionSums):
            return NotImplemented
        return RegressionSums(
            self.n + other.n,
            self.sum_abs_err + other.sum_abs_err,
            self.sum_sq_err + other.sum_sq_err,
            self.sum_abs_pct_err + other.sum_abs_pct_err,
            self.n_pct + other.n_pct,
            self.sum_y + other.sum_y,
            self.sum_yhat + other.sum_yhat,
            self.n_pending + other.n_pending,
            self.sum_quartic_err + other.sum_quartic_err,
            self.sum_sq_pct_err + other.sum_sq_pct_err,
        )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def realized(sums: RegressionSums) -> dict[str, float]:
    """MAE, RMSE, MAPE (a fraction, over outcomes != 0) and bias (mean prediction - outcome).

    NaN where undefined: everything on a cell without labelled rows, MAPE when
    every labelled outcome is 0.

    >>> m = realized(RegressionSums.from_arrays([1.0, 2.0, 4.0], [2.0, 2.0, 2.0]))
    >>> m["mae"], round(m["rmse"], 4), m["mape"], m["bias"]
    (1.0, 1.291, 0.5, -0.3333333333333333)
    """
    mse = _ratio(sums.sum_sq_err, sums.n)
    return {
        "mae": _ratio(sums.sum_abs_err, sums.n),
        "rmse": math.sqrt(mse) if not math.isnan(mse) else math.nan,
        "mape": _ratio(sums.sum_abs_pct_err, sums.n_pct),
        "bias": _ratio(sums.sum_yhat - sums.sum_y, sums.n),
    }


def _mean_interval(
    total: float, total_sq: float, n: int, m: int, level: float
) -> tuple[float, float, float]:
    """Predictive interval of the mean over n + m rows of a quantity seen on n of them.

    If the m pending rows are exchangeable with the n labelled ones, the final
    mean minus the confirmed mean is ``m / (n + m)`` times the difference of two
    independent sample means, whose variance is ``sigma^2 (1/n + 1/m)``: the
    half-width is ``t_{n-1} * s * sqrt(m / (n (n + m)))``, zero when m = 0.
    """
    mean = total / n
    var = max(total_sq - n * mean * mean, 0.0) / (n - 1)
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(var * m / (n * (n + m)))
    return mean, mean - half, mean + half


def estimate(sums: RegressionSums, *, level: float = 0.9) -> dict[str, Estimate]:
    """The confirmed value of each metric, with a predictive interval for its final value.

    No nowcast: the estimate *is* the confirmed value. The interval says where
    the final value (once the ``n_pending`` outcomes arrive) should land **if the
    pending rows are exchangeable with the labelled ones** — i.e. if whether an
    outcome has arrived yet says nothing about its error. That is a real
    assumption: when slow outcomes differ (older customers decide later, large
    claims settle later), the confirmed value is biased and so is the interval.
    Within it, the interval is a t approximation (``n - 1`` degrees of freedom)
    for the mean of ``|error|`` (MAE), ``error`` (bias) and ``error**2`` (the MSE,
    square-rooted at both ends for RMSE). It relies on the central limit theorem
    for the pending mean: optimistic for heavy-tailed errors and a handful of
    pending rows, RMSE most of all.

    ``estimator`` is ``"realized"`` (nothing pending, ``low == high``),
    ``"realized+exchangeable"`` (interval as above) or ``"confirmed-only"`` with
    a NaN interval when no honest interval exists: MAPE always (whether a pending
    outcome will be 0 is unknown), RMSE without ``sum_quartic_err``, and any
    metric with fewer than 2 labelled rows.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(10, 2, size=400)
    >>> yhat = y + rng.normal(0, 1, size=400)
    >>> e = estimate(RegressionSums.from_arrays(np.where(np.arange(400) < 300, y, np.nan), yhat))
    >>> mae = e["mae"]
    >>> mae.estimator, round(mae.estimate, 3), round(mae.low, 3), round(mae.high, 3)
    ('realized+exchangeable', 0.797, 0.768, 0.826)
    >>> round(float(np.abs(yhat - y).mean()), 3)  # the final value, once all 400 are in
    0.807
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    confirmed = realized(sums)
    n, m = sums.n, sums.n_pending
    if m == 0:
        return {k: Estimate(v, v, v, "realized") for k, v in confirmed.items()}
    nan = math.nan
    out = {k: Estimate(v, nan, nan, "confirmed-only") for k, v in confirmed.items()}
    if n < 2:
        return out
    # sum of |e|^2 and of e^2 are both the engine's sum of squared errors
    _, low, high = _mean_interval(sums.sum_abs_err, sums.sum_sq_err, n, m, level)
    out["mae"] = Estimate(confirmed["mae"], max(low, 0.0), high, "realized+exchangeable")
    _, low, high = _mean_interval(sums.sum_yhat - sums.sum_y, sums.sum_sq_err, n, m, level)
    out["bias"] = Estimate(confirmed["bias"], low, high, "realized+exchangeable")
    if not math.isnan(sums.sum_quartic_err):
        _, low, high = _mean_interval(sums.sum_sq_err, sums.sum_quartic_err, n, m, level)
        rmse = Estimate(
            confirmed["rmse"], math.sqrt(max(low, 0.0)), math.sqrt(high), "realized+exchangeable"
        )
        out["rmse"] = rmse
    return out
