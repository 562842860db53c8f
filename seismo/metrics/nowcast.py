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
weak Beta centred on the stratum's rate in mature cohorts, worth
``PRIOR_STRENGTH`` rows or a quarter of the cohort's own rows if that is fewer
(a small segment's day is not pulled toward the whole store by a prior
several times its size): when a cohort is hours old and its slow stratum has
shown almost nothing yet, the data cannot tell 1% from 50%, and the sensible
guess is "like before", not the Jeffreys prior's 50%; as soon as the cohort's
own conversions arrive they outweigh it.
the interval is *predictive* for the final value: draws of ``p``, then of how
many pending rows will still convert (Binomial with the conditional
probability ``p(1-F(a)) / (1-p·F(a))``), so it covers the realised final rate,
not just the parameter. The draws are stratified levels shared by every cell
(:data:`DRAWS`): same data, same figures, whatever else is computed beside.

Time is in whole hours: a pending row's age ``k`` is the cut-off hour minus
its anchor hour, and ``F(k)`` is the share of converters whose lag (the
observation hour, rounded up, minus the anchor hour) is at most ``k`` —
exactly the converters that would have been seen by then.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

__all__ = [
    "DelayModel",
    "Pending",
    "Posterior",
    "blend",
    "fit_delay",
    "fit_delay_truncated",
    "nowcast",
    "poisson_quantile",
    "posteriors",
    "prior_from",
    "seeded_rng",
]

FloatArray = NDArray[np.float64]

#: Weight of the prior from mature cohorts, in rows at most (see the module docstring) ...
PRIOR_STRENGTH = 30.0
#: ... and at most this share of the cohort's own rows: a small segment's day is not
#: pulled toward the whole store's rate by a prior several times its size.
PRIOR_SHARE = 0.25


def prior_from(rate: float | None, rows: float | None = None) -> tuple[float, float]:
    """A Beta prior centred on ``rate`` (Jeffreys if unknown), for a cohort of ``rows``.

    Worth ``PRIOR_STRENGTH`` rows, or ``PRIOR_SHARE`` of the cohort's if fewer
    (never less than one row).

    >>> prior_from(0.1)
    (3.0, 27.0)
    >>> prior_from(0.1, rows=40)
    (1.0, 9.0)
    """
    if rate is None or not 0.0 < rate < 1.0:
        return (0.5, 0.5)
    strength = PRIOR_STRENGTH if rows is None else min(max(PRIOR_SHARE * rows, 1.0), PRIOR_STRENGTH)
    return (strength * rate, strength * (1.0 - rate))


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
_COARSE = (np.arange(200) + 0.5) / 200

#: Draws of each cell's predictive distribution. They are Latin-hypercube levels,
#: ``(i + 0.5) / DRAWS`` in a fixed random order per stratum and one for the arrival
#: noise, shared by every cell: a cell's figures depend on its own data only (same
#: data, same figures, whatever else is computed beside it), and stratified levels
#: pin the tails down with far fewer draws than independent ones would.
DRAWS = 500

#: Entries (open anchor hours) evaluated at once: bounds the working memory of a pass.
_CHUNK = 12_000


@dataclass(frozen=True)
class Pending:
    """The open rows of one pass, as arrays: what :func:`nowcast` needs, for every cell at once.

    A *group* is one stratum of one cell; an *entry* one open anchor hour of a
    group. Groups are sorted by cell and entries by group: ``cell_start`` and
    ``group_start`` are the offsets (length cells + 1 and groups + 1).
    """

    cell_start: NDArray[np.int64]
    group_start: NDArray[np.int64]
    positives: FloatArray  # per group: the stratum's settled converters in the cell
    negatives: FloatArray
    prior: FloatArray  # per group: Beta (a, b), shape (groups, 2)
    slot: NDArray[np.int64]  # per group: the stratum's index (its own draw levels)
    seen: FloatArray  # per entry: share of converters already seen at its age
    count: FloatArray  # per entry: open rows, their weight and squared weight
    weight: FloatArray
    weight_sq: FloatArray

    @property
    def cells(self) -> int:
        return len(self.cell_start) - 1


@dataclass(frozen=True)
class Posterior:
    """Per group: the fine grid over ``p`` and the inverse CDF of ``p`` at the draw levels."""

    grid: FloatArray  # (groups, FINE_GRID)
    draw_index: NDArray[np.int64]  # (groups, DRAWS): a grid index per draw


def _levels(rows: int) -> FloatArray:
    """``rows`` independent orderings of the stratified levels ``(i + 0.5) / DRAWS``."""
    rng = np.random.default_rng(20140824)  # fixed: the draws are part of the method
    base = (np.arange(DRAWS) + 0.5) / DRAWS
    return np.stack([rng.permutation(base) for _ in range(rows)])


def _chunks(starts: NDArray[np.int64], limit: int) -> list[tuple[int, int]]:
    """Runs of consecutive items whose members (``starts`` offsets) number at most ``limit``."""
    out, lo = [], 0
    items = len(starts) - 1
    while lo < items:
        hi = int(np.searchsorted(starts, starts[lo] + limit, side="right")) - 1
        hi = min(max(hi, lo + 1), items)
        out.append((lo, hi))
        lo = hi
    return out


def _pending_loglik(p: FloatArray, pending: Pending, g0: int, g1: int) -> FloatArray:
    """Per group, the sum over its entries of ``count · log(1 - p · F(age))`` at its grid ``p``."""
    e0, e1 = int(pending.group_start[g0]), int(pending.group_start[g1])
    local = pending.group_start[g0:g1] - e0
    owner = np.repeat(np.arange(g1 - g0), np.diff(pending.group_start[g0 : g1 + 1]))
    seen = pending.seen[e0:e1, None]
    grid = p[None, :] if p.ndim == 1 else p[owner]
    terms = pending.count[e0:e1, None] * np.log1p(-grid * seen)
    summed: FloatArray = np.add.reduceat(terms, local, axis=0)
    return summed


def posteriors(pending: Pending) -> Posterior:
    """The posterior of every group's rate ``p`` on a grid, and its draws (see the module)."""
    groups = len(pending.positives)
    grid = np.empty((groups, FINE_GRID))
    index = np.empty((groups, DRAWS), dtype=np.int64)
    levels = _levels(int(pending.slot.max()) + 1 if groups else 1)
    # Each stratum reads the sorted levels in its own order: the rank of its i-th level.
    ranks = np.argsort(np.argsort(levels, axis=1), axis=1)
    a = pending.positives + pending.prior[:, 0] - 1.0
    b = pending.negatives + pending.prior[:, 1] - 1.0
    for g0, g1 in _chunks(pending.group_start, _CHUNK):

        def loglik(p: FloatArray, g0: int = g0, g1: int = g1) -> FloatArray:
            own = a[g0:g1, None] * np.log(p) + b[g0:g1, None] * np.log1p(-p)
            total: FloatArray = own + _pending_loglik(p, pending, g0, g1)
            return total

        # A coarse pass finds where each posterior lives, a fine one resolves it there.
        ll = loglik(_COARSE)
        keep = ll > ll.max(axis=1, keepdims=True) - 40.0
        first = np.argmax(keep, axis=1)
        last = len(_COARSE) - 1 - np.argmax(keep[:, ::-1], axis=1)
        lo = _COARSE[np.maximum(first - 1, 0)] - 0.5 / len(_COARSE)
        hi = _COARSE[np.minimum(last + 1, len(_COARSE) - 1)] + 0.5 / len(_COARSE)
        step = (hi - lo) / FINE_GRID
        fine = lo[:, None] + (np.arange(FINE_GRID) + 0.5)[None, :] * step[:, None]
        ll = loglik(fine)
        w = np.exp(ll - ll.max(axis=1, keepdims=True))
        cdf = np.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]
        grid[g0:g1] = fine
        # Inverse CDF at the sorted levels: level j takes the first grid point whose CDF
        # reaches it, i.e. the number of grid points whose CDF is still below it.
        rows = g1 - g0
        first_level = np.clip(np.floor(cdf * DRAWS - 0.5).astype(np.int64) + 1, 0, DRAWS)
        marks = np.bincount(
            (np.arange(rows)[:, None] * (DRAWS + 1) + first_level).ravel(),
            minlength=rows * (DRAWS + 1),
        ).reshape(rows, DRAWS + 1)
        by_level = np.minimum(np.cumsum(marks, axis=1)[:, :DRAWS], FINE_GRID - 1)
        index[g0:g1] = np.take_along_axis(by_level, ranks[pending.slot[g0:g1]], axis=1)
    return Posterior(grid=grid, draw_index=index)


def _interpolation() -> tuple[NDArray[np.int64], FloatArray]:
    """The sub-grid of nodes and the matrix that interpolates node values onto the fine grid."""
    nodes = np.unique(np.append(np.arange(0, FINE_GRID, _STRIDE), FINE_GRID - 1))
    fine = np.arange(FINE_GRID)
    right = np.clip(np.searchsorted(nodes, fine), 1, len(nodes) - 1)
    left = right - 1
    t = (fine - nodes[left]) / (nodes[right] - nodes[left])
    matrix = np.zeros((len(nodes), FINE_GRID))
    matrix[left, fine] += 1.0 - t
    matrix[right, fine] += t
    return nodes, matrix


def poisson_quantile(u: FloatArray, mean: FloatArray) -> FloatArray:
    """The smallest ``k`` with ``P(Poisson(mean) <= k) >= u``, elementwise (exact, small means).

    >>> [int(k) for k in poisson_quantile(np.array([0.01, 0.5, 0.99]), np.full(3, 4.0))]
    [0, 4, 9]
    """
    out = np.zeros(u.shape)
    flat_u, flat_m = u.ravel(), mean.ravel()
    pmf = np.exp(-flat_m)
    cdf = pmf.copy()
    at = np.flatnonzero(flat_u > cdf)
    pmf, cdf, uu, mm = pmf[at], cdf[at], flat_u[at], flat_m[at]
    flat, k = out.reshape(-1), 0
    while at.size:
        k += 1
        flat[at] = k
        pmf = pmf * mm / k
        cdf = cdf + pmf
        keep = uu > cdf
        if not keep.all():
            at, pmf, cdf, uu, mm = at[keep], pmf[keep], cdf[keep], uu[keep], mm[keep]
    return out


def nowcast(
    pending: Pending,
    posterior: Posterior,
    *,
    confirmed: FloatArray,
    population: FloatArray,
    weighted: bool,
    level: float = 0.9,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Median and central ``level`` interval of every cell's final value (one array each).

    For each draw of a stratum's ``p``, its open rows convert independently with
    their own conditional probability ``p(1-F(a)) / (1-p·F(a))``. What is still to
    come in a cell, summed over its strata, is drawn from its exact mean and
    variance: as a Poisson when the expected count is small (a sum of rare
    Bernoullis, and a sum of Poissons is one) and a normal otherwise, so the cost
    does not grow with the number of open rows. The median, not the mean: a young
    cohort's predictive distribution is skewed, and the median is the value the
    final figure is as likely to fall below as above, always inside the interval.

    >>> m = fit_delay(np.arange(48), np.ones(48, dtype=np.int64), window_hours=48)
    >>> one = Pending(cell_start=np.array([0, 1]), group_start=np.array([0, 1]),
    ...     positives=np.array([30.0]), negatives=np.array([600.0]),
    ...     prior=np.array([[0.5, 0.5]]), slot=np.array([0]),
    ...     seen=m.seen_by(np.array([12])), count=np.array([400.0]),
    ...     weight=np.array([400.0]), weight_sq=np.array([400.0]))
    >>> mid, low, high = nowcast(one, posteriors(one), confirmed=np.array([30.0]),
    ...     population=np.array([1030.0]), weighted=False)
    >>> bool(low[0] < mid[0] < high[0]) and 0.035 < float(mid[0]) < 0.06
    True
    """
    nodes, interpolate = _interpolation()
    noise = _levels(int(pending.slot.max()) + 2 if len(pending.slot) else 2)[-1]
    normal = ndtri(noise)
    tail = (1.0 - level) / 2.0
    out = np.empty((3, pending.cells))
    for c0, c1 in _chunks(pending.cell_start, max(_CHUNK // 8, 1)):
        g0, g1 = int(pending.cell_start[c0]), int(pending.cell_start[c1])
        e0, e1 = int(pending.group_start[g0]), int(pending.group_start[g1])
        owner = np.repeat(np.arange(g1 - g0), np.diff(pending.group_start[g0 : g1 + 1]))
        p = posterior.grid[g0:g1][:, nodes][owner]
        seen = pending.seen[e0:e1, None]
        q = np.clip(p * (1.0 - seen) / (1.0 - p * seen), 0.0, 1.0)
        w = (pending.weight if weighted else pending.count)[e0:e1, None]
        w2 = (pending.weight_sq if weighted else pending.count)[e0:e1, None]
        local = pending.group_start[g0:g1] - e0
        mean_fine = np.add.reduceat(q * w, local, axis=0) @ interpolate
        var_fine = np.add.reduceat(q * (1.0 - q) * w2, local, axis=0) @ interpolate
        index = posterior.draw_index[g0:g1]
        cells = pending.cell_start[c0:c1] - g0
        mean = np.add.reduceat(np.take_along_axis(mean_fine, index, axis=1), cells, axis=0)
        var = np.add.reduceat(np.take_along_axis(var_fine, index, axis=1), cells, axis=0)
        var = np.maximum(var, 0.0)
        ceiling = np.add.reduceat(w[:, 0], pending.group_start[pending.cell_start[c0:c1]] - e0)
        if weighted:
            remaining = mean + np.sqrt(var) * normal
        else:
            small = mean < 30.0
            remaining = np.rint(mean + np.sqrt(var) * normal)
            u = np.broadcast_to(noise, mean.shape)
            remaining[small] = poisson_quantile(u[small], mean[small])
        remaining = np.clip(remaining, 0.0, ceiling[:, None])
        final = (confirmed[c0:c1, None] + remaining) / population[c0:c1, None]
        low, mid, high = np.quantile(final, [tail, 0.5, 1.0 - tail], axis=1)
        out[:, c0:c1] = mid, low, high
    return out[0], out[1], out[2]


def seeded_rng(*key: object) -> np.random.Generator:
    """A generator seeded from a cell's identity: the same cell always draws the same."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))
