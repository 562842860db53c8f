"""Sequential change detection: the generalized likelihood ratio (GLR) for a step change.

A cell's daily values ``x_1 .. x_n`` (each a nowcast of its final value, with a
variance ``v_i`` that grows with the share of its truth still to come) are
compared with a baseline value ``mu0`` known up to its own variance ``v0``. If
the value stepped to an unknown level on an unknown day ``k``, the
log-likelihood ratio of "changed since day k" against "never changed" is, for
Gaussian days, ``z_k**2 / 2`` with

    z_k = (xbar_k - mu0) / sqrt(1 / W_k + v0),
    xbar_k = sum_{i >= k} x_i / v_i / W_k,   W_k = sum_{i >= k} 1 / v_i,

the standardised shift of the inverse-variance weighted mean since day ``k``.
The GLR statistic maximises over the change day (within the last ``window``
judged days) and over the size of the step, so evidence piles up day after day
from the day a change began, and the maximising ``k`` is the estimate of when
it began (Lorden 1971; Siegmund & Venkatraman 1995, *Using the generalized
likelihood ratio statistic for sequential detection of a change-point*, Ann.
Statist. 23(1)). Days whose truth is mostly still to come have a large ``v_i``
and count for little; a day whose truth is all in counts fully.

Calibration. Looked at once a day, the statistic of a cell without change
crosses a threshold ``c`` (a new alarm: above ``c`` today, not yesterday) at a
rate that depends on ``c`` and on the window only. Simulated on 9e7 cell-days
of independent standard-normal days per window (``bench/calibrate_glr.py``),
the rate of new crossings is ``g * Q(c)``, with ``Q`` the normal tail and
``g`` the number of effectively independent change days: about
``A(window) * c**2`` (``A`` between 0.22 and 0.45 for windows of 7 to 56 days
and thresholds of 3 to 5.3), and never more than the window itself (a window
of one day is a plain z-test). :func:`onset_rate` uses
``min(window, A c**2)`` with ``A = 0.19 + 0.068 ln(window)``, at or above
every measured rate from ``c = 3.5`` on (by 10-50%), so the threshold it
gives errs on the quiet side. Unequal day weights and the shared baseline
error only make the windows more alike, which lowers the rate further.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import ndtr

__all__ = ["Scan", "binomial_shape", "onset_rate", "scan", "threshold"]


def _tail(c: float) -> float:
    return float(ndtr(-c))


def onset_rate(c: float, window: int) -> float:
    """Expected new crossings of ``c`` per cell and daily look, without any change.

    >>> round(onset_rate(4.0, 28) * 1e4, 2)  # measured: 1.98e-4 (bench/calibrate_glr.py)
    2.11
    >>> round(onset_rate(4.5, 2) * 1e6, 1)  # measured: 6.1e-6
    6.8
    >>> onset_rate(5.0, 28) < onset_rate(5.0, 56) < onset_rate(4.5, 56)
    True
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 day, got {window!r}")
    if c <= 0:
        return 1.0
    a = 0.19 + 0.068 * math.log(window)
    return min(1.0, min(float(window), a * c * c) * _tail(c))


def threshold(rate: float, window: int) -> float:
    """The threshold on the standardised shift whose :func:`onset_rate` is ``rate``.

    >>> round(threshold(1 / (90 * 2000), 28), 2)
    4.87
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must lie strictly between 0 and 1, got {rate!r}")
    return float(brentq(lambda c: onset_rate(c, window) - rate, 0.5, 40.0, xtol=1e-6))


@dataclass(frozen=True)
class Scan:
    """The strongest change since some day, in the direction tested.

    ``z`` is the standardised shift (positive: in the direction asked for),
    ``start`` the index of the first day of the change, ``mean`` and ``var``
    the weighted mean of the days since then and its own variance.
    """

    z: float
    start: int
    mean: float
    var: float


def binomial_shape(mean: ArrayLike, p0: float) -> np.ndarray:
    """How much stronger the binomial likelihood ratio is than the normal one, per window mean.

    For a share, the signed root of the binomial log-likelihood ratio,
    ``sqrt(2 n KL(xbar || p0))``, is what the evidence is; the normal statistic
    ``(xbar - p0) / sqrt(p0 (1 - p0) / n)`` approximates it, too harshly for a
    drop (a fall from 28% to 17% is clearer than the normal says) and too
    kindly for a rise of a rare outcome (returns), whose upper tail is heavy.
    The ratio of the two does not depend on ``n``: the scan multiplies its
    statistic by it, keeping every widening (overdispersion, nowcast,
    baseline) the normal statistic carries.

    >>> [round(float(r), 3) for r in binomial_shape([0.17, 0.285, 0.4], 0.285)]
    [1.053, 1.0, 0.968]
    """
    x = np.clip(np.asarray(mean, dtype=np.float64), 1e-9, 1 - 1e-9)
    p = min(max(p0, 1e-9), 1 - 1e-9)
    kl = x * np.log(x / p) + (1 - x) * np.log((1 - x) / (1 - p))
    gap = np.abs(x - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(2 * np.maximum(kl, 0.0) * p * (1 - p)) / gap
    return np.where(gap > 1e-12, ratio, 1.0)


def scan(
    x: ArrayLike,
    v: ArrayLike,
    mu0: float,
    v0: float,
    *,
    sign: int,
    window: int,
    min_effect: float = 0.0,
    binomial: bool = False,
) -> Scan | None:
    """The GLR scan of a daily series ``x`` (variances ``v``) against a baseline.

    ``sign`` is +1 to look for a rise, -1 for a fall. Only change days whose
    shift reaches ``min_effect`` (in the tested direction) are candidates: a
    million rows a day make a 0.2-point wobble "significant", not important.
    Returns None when no candidate exists. ``binomial``: the values are
    shares, and the statistic takes the binomial likelihood's shape
    (:func:`binomial_shape`).

    >>> days = [0.28] * 3 + [0.15] * 2
    >>> s = scan(days, [0.0006] * 5, 0.28, 0.00004, sign=-1, window=28)
    >>> s.start, round(s.mean, 3), round(s.z, 1)
    (3, 0.15, 7.1)
    >>> scan(days, [0.0006] * 5, 0.28, 0.00004, sign=+1, window=28, min_effect=0.01) is None
    True
    """
    xs = np.asarray(x, dtype=np.float64)[-window:]
    vs = np.asarray(v, dtype=np.float64)[-window:]
    if xs.size == 0:
        return None
    if np.any(~(vs > 0)) or not np.all(np.isfinite(xs)):
        raise ValueError("every day needs a finite value and a positive variance")
    w = 1.0 / vs
    # Suffix sums: windows [k, n) for every k, newest day last.
    big_w = np.cumsum(w[::-1])[::-1]
    sum_wx = np.cumsum((w * xs)[::-1])[::-1]
    mean = sum_wx / big_w
    shift = sign * (mean - mu0)
    z = shift / np.sqrt(1.0 / big_w + v0)
    if binomial:
        z = z * binomial_shape(mean, mu0)
    z = np.where(shift >= min_effect, z, -np.inf)
    k = int(np.argmax(z))
    if not np.isfinite(z[k]):
        return None
    offset = len(np.asarray(x)) - xs.size
    return Scan(float(z[k]), offset + k, float(mean[k]), float(1.0 / big_w[k]))
