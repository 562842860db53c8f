"""Nowcasting a rate whose outcomes are still arriving (right-censored conversions).

The problem: of today's recommendations, the purchases of fast deciders are
already in, the slow ones' are not. Counting only what arrived biases the
rate low; counting pending rows as failures biases it lower still.

The model (the delayed-feedback mixture of Chapelle, KDD 2014): a row of a
cohort converts within the maturity window with probability ``p`` (what we
want: the cohort's final rate), and a converter's delay follows a distribution
``F`` that is *shared* across cohorts and learned from mature ones, where every
conversion has arrived. A row still pending at age ``a`` has not converted *yet*,
which has likelihood ``1 - p·F(a)``; a converted row has ``p·f(lag)``; a row
whose window closed without converting has ``1 - p``. So each cohort's own
data decide ``p`` (a drop in this week's rate is not smoothed away by the past);
only the *shape* of the delay is borrowed from mature cohorts.

Delays differ by segment (older customers decide more slowly), so ``F`` is
learned per stratum (e.g. per age group) and every pending row uses its own
stratum's ``F``; otherwise a cohort's pending rows, over-represented by slow
deciders, would be treated as fast ones and the nowcast biased low.

Uncertainty: the posterior of ``p`` is computed on a grid. Its prior is a
weak Beta centred on the stratum's rate in mature cohorts (worth
``PRIOR_STRENGTH`` rows): when a cohort is hours old and its slow stratum has
shown almost nothing yet, the data cannot tell 1% from 50%, and the sensible
guess is "like before", not the Jeffreys prior's 50%; as soon as the cohort's
own conversions arrive they outweigh it.
the interval is *predictive* for the final value: draws of ``p``, then of how
many pending rows will still convert (Binomial with the conditional
probability ``p(1-F(a)) / (1-p·F(a))``), so it covers the realised final rate,
not just the parameter. Draws are seeded from the cell's key: same data, same
figures.

Time is in whole hours: a pending row's age ``k`` is the cut-off hour minus
its anchor hour, and ``F(k)`` is the share of converters whose lag (the
observation hour, rounded up, minus the anchor hour) is at most ``k`` —
exactly the converters that would have been seen by then.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DelayModel",
    "blend",
    "draw_remaining",
    "fit_delay",
    "fit_delay_truncated",
    "prior_from",
    "seeded_rng",
    "summarize_draws",
]

FloatArray = NDArray[np.float64]

#: Weight of the prior from mature cohorts, in rows (see the module docstring).
PRIOR_STRENGTH = 30.0


def prior_from(rate: float | None) -> tuple[float, float]:
    """A Beta prior worth ``PRIOR_STRENGTH`` rows centred on ``rate`` (Jeffreys if unknown).

    >>> prior_from(0.1)
    (3.0, 27.0)
    """
    if rate is None or not 0.0 < rate < 1.0:
        return (0.5, 0.5)
    return (PRIOR_STRENGTH * rate, PRIOR_STRENGTH * (1.0 - rate))


@dataclass(frozen=True)
class DelayModel:
    """The delay from anchor to event among rows that convert, in whole hours.

    ``cdf[k]`` is the share of converters whose lag is at most ``k`` hours
    (lag: rounded-up observation hour minus anchor hour); beyond the last
    entry every converter has been seen.

    >>> m = fit_delay(np.array([0, 1, 1, 3]), np.array([10, 20, 20, 10]), window_hours=4)
    >>> [round(float(x), 2) for x in m.seen_by(np.array([0, 1, 2, 4, 9]))]
    [0.17, 0.83, 0.83, 1.0, 1.0]
    """

    cdf: FloatArray
    events: int

    def seen_by(self, age_hours: NDArray[np.int64]) -> FloatArray:
        """Share of converters already observed at age ``k`` (hour boundaries passed)."""
        k = np.clip(np.asarray(age_hours, dtype=np.int64), 0, len(self.cdf) - 1)
        return self.cdf[k]


def fit_delay(
    lags: NDArray[np.int64], counts: NDArray[np.int64], *, window_hours: int
) -> DelayModel:
    """The delay distribution from the converters of mature cohorts.

    ``lags`` are whole-hour lags, ``counts`` how many converters had each.
    """
    lags = np.asarray(lags, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    size = int(window_hours) + 2
    hist = np.bincount(np.clip(lags, 0, size - 1), weights=counts, minlength=size)
    total = hist.sum()
    upto = np.cumsum(hist) / total if total > 0 else np.ones(size)
    upto[-1] = 1.0
    return DelayModel(cdf=np.clip(upto, 0.0, 1.0), events=int(total))


def fit_delay_truncated(
    lags: NDArray[np.int64],
    ages: NDArray[np.int64],
    counts: NDArray[np.int64],
    *,
    window_hours: int,
) -> DelayModel:
    """The delay distribution from converters of *every* cohort, young ones included.

    A cohort of age ``a`` shows only its converters with lag <= ``a``: the
    sample is right-truncated, and naively pooling it would make delays look
    short. The Lynden-Bell (1971) estimator corrects for it: the reverse
    hazard at lag ``d`` (the share of converters with lag <= ``d`` that have
    lag exactly ``d``) is estimated only among cohorts old enough to have shown
    lag ``d``, and ``F(d-1) = F(d) (1 - g(d))`` walks back from ``F(window) = 1``.
    Recent cohorts thus teach the shape of the delay as soon as they arrive,
    instead of waiting a whole window to become mature.

    >>> lags = np.array([0, 1, 2, 0, 1])   # two cohorts: one old (age 5), one young (age 1)
    >>> ages = np.array([5, 5, 5, 1, 1])
    >>> m = fit_delay_truncated(lags, ages, np.array([10, 10, 10, 10, 10]), window_hours=3)
    >>> [round(float(x), 2) for x in m.cdf]
    [0.33, 0.67, 1.0, 1.0, 1.0]
    """
    size = int(window_hours) + 2
    lag = np.clip(np.asarray(lags, dtype=np.int64), 0, size - 1)
    age = np.clip(np.asarray(ages, dtype=np.int64), 0, size - 1)
    hist = np.zeros((size, size))
    np.add.at(hist, (lag, age), np.asarray(counts, dtype=np.float64))
    # seen[d', d] = converters with lag d' in cohorts of age >= d
    seen = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
    at_risk = np.array([seen[: d + 1, d].sum() for d in range(size)])
    events = hist.sum(axis=1)
    reverse_hazard = np.divide(events, at_risk, out=np.zeros(size), where=at_risk > 0)
    cdf = np.ones(size)
    for d in range(size - 1, 0, -1):
        cdf[d - 1] = cdf[d] * (1.0 - reverse_hazard[d])
    return DelayModel(cdf=np.clip(cdf, 0.0, 1.0), events=int(events.sum()))


def blend(own: DelayModel, pooled: DelayModel, *, prior_events: float) -> DelayModel:
    """``own``'s delay curve, shrunk toward ``pooled`` as if it had ``prior_events`` more.

    >>> fast = fit_delay(np.array([1]), np.array([10]), window_hours=3)
    >>> slow = fit_delay(np.array([3]), np.array([10]), window_hours=3)
    >>> [round(float(x), 2) for x in blend(fast, slow, prior_events=10).cdf]
    [0.0, 0.5, 0.5, 1.0, 1.0]
    """
    size = max(len(own.cdf), len(pooled.cdf))
    a = np.pad(own.cdf, (0, size - len(own.cdf)), constant_values=1.0)
    b = np.pad(pooled.cdf, (0, size - len(pooled.cdf)), constant_values=1.0)
    weight = own.events / (own.events + prior_events)
    return DelayModel(cdf=weight * a + (1.0 - weight) * b, events=own.events)


#: Points of the fine posterior grid over ``p``; the conditional mean and variance of what
#: is still to come are evaluated on every ``_STRIDE``-th point and interpolated between.
FINE_GRID = 240
_STRIDE = 6


@functools.lru_cache(maxsize=8192)
def _posterior_cached(
    positives: float, negatives: float, seen: bytes, pending: bytes, prior: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """:func:`_posterior_grid` remembered: the metrics of one pass share each cell's posterior."""
    return _posterior_grid(positives, negatives, np.frombuffer(seen), np.frombuffer(pending), prior)


def _posterior_grid(
    positives: float,
    negatives: float,
    seen: FloatArray,
    pending: FloatArray,
    prior: tuple[float, float] = (0.5, 0.5),
) -> tuple[FloatArray, FloatArray]:
    """Grid over ``p`` and normalised posterior weights under a Beta ``prior``."""
    a, b = prior

    def loglik(p: FloatArray) -> FloatArray:
        pp = p[:, None]
        ll = (positives + a - 1.0) * np.log(p) + (negatives + b - 1.0) * np.log1p(-p)
        total: FloatArray = ll + (pending[None, :] * np.log1p(-pp * seen[None, :])).sum(axis=1)
        return total

    # A coarse pass finds where the posterior lives, a fine one resolves it there.
    coarse = (np.arange(200) + 0.5) / 200
    ll = loglik(coarse)
    keep = np.flatnonzero(ll > ll.max() - 40.0)
    lo = coarse[max(keep[0] - 1, 0)] - 0.5 / 200
    hi = coarse[min(keep[-1] + 1, len(coarse) - 1)] + 0.5 / 200
    fine = lo + (np.arange(FINE_GRID) + 0.5) * (hi - lo) / FINE_GRID
    ll = loglik(fine)
    w = np.exp(ll - ll.max())
    return fine, w / w.sum()


def draw_remaining(
    *,
    positives: float,
    negatives: float,
    pending_age: NDArray[np.int64],
    pending_count: NDArray[np.int64],
    pending_weight: FloatArray | None,
    pending_weight_sq: FloatArray | None,
    delay: DelayModel,
    rng: np.random.Generator,
    prior: tuple[float, float] = (0.5, 0.5),
    draws: int = 1000,
) -> FloatArray:
    """Predictive draws of the (weighted) conversions still to arrive for one stratum.

    For each draw of ``p`` the pending rows convert independently with their
    own conditional probability; their (weighted) sum is drawn from its exact
    mean and variance, as a Poisson when the expected count is small (a sum of
    rare Bernoullis) and a normal otherwise, which keeps the cost independent
    of the number of pending rows.

    >>> rng = np.random.default_rng(0)
    >>> m = fit_delay(np.arange(48), np.ones(48, dtype=np.int64), window_hours=48)
    >>> d = draw_remaining(positives=30, negatives=600, pending_age=np.array([12]),
    ...     pending_count=np.array([400]), pending_weight=None, pending_weight_sq=None,
    ...     delay=m, rng=rng)
    >>> 5 < float(d.mean()) < 25
    True
    """
    count = np.asarray(pending_count, dtype=np.float64)
    seen = delay.seen_by(np.asarray(pending_age))
    if count.sum() == 0 or seen.min() >= 0.9999:  # nothing can still arrive
        return np.zeros(draws)
    seen = np.ascontiguousarray(seen, dtype=np.float64)
    grid, weights = _posterior_cached(
        float(positives), float(negatives), seen.tobytes(), count.tobytes(), tuple(prior)
    )
    p = rng.choice(grid, size=draws, p=weights)
    # The mean and variance of what is still to come are smooth in p: computed on a
    # sub-grid and interpolated, not once per draw (a draw costs one lookup, not a pass).
    nodes = np.unique(np.append(grid[::_STRIDE], grid[-1]))
    q = np.clip(nodes[:, None] * (1.0 - seen) / (1.0 - nodes[:, None] * seen), 0.0, 1.0)
    if pending_weight is None:
        w, w2 = count, count
    else:
        w = np.asarray(pending_weight, dtype=np.float64)
        w2 = np.asarray(
            pending_weight_sq if pending_weight_sq is not None else w * w, dtype=np.float64
        )
    mean = np.interp(p, nodes, q @ w)
    var = np.maximum(np.interp(p, nodes, (q * (1.0 - q)) @ w2), 0.0)
    if pending_weight is None:
        small = mean < 30.0
        out: FloatArray = np.empty(draws)
        if small.any():
            out[small] = rng.poisson(mean[small])
        if not small.all():
            out[~small] = np.rint(rng.normal(mean[~small], np.sqrt(var[~small])))
        return np.clip(out, 0.0, count.sum())
    weighted: FloatArray = np.clip(rng.normal(mean, np.sqrt(var)), 0.0, w.sum())
    return weighted


def summarize_draws(
    confirmed: float, remaining: FloatArray, population: float, *, level: float = 0.9
) -> tuple[float, float, float]:
    """Median and central ``level`` interval of (confirmed + remaining) / population.

    The median, not the mean: the predictive distribution of a young cohort is
    skewed (few conversions seen, many possible), and the median is the value
    the final figure is as likely to fall below as above; it is also always
    inside the interval, which the mean of a lumpy distribution need not be.
    """
    final = (confirmed + remaining) / population
    tail = (1.0 - level) / 2.0
    low, mid, high = np.quantile(final, [tail, 0.5, 1.0 - tail])
    return float(mid), float(low), float(high)


def seeded_rng(*key: object) -> np.random.Generator:
    """A generator seeded from a cell's identity: the same cell always draws the same."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))
