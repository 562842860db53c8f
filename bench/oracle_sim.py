"""The oracle's world: daily cohorts whose truth trickles in, and what each look knows.

A cohort is one day's rows of one cell. The oracle knows the rates before
and after the change and the delay distributions, so at each daily look it
can write the exact log-likelihood ratio (after vs before) of everything
observed so far about each cohort. This module simulates those observations
and returns, per run × cohort × age in days, that log-likelihood ratio;
:mod:`oracle_cusum` turns them into a CUSUM.

Three kinds of case:

* ``rate`` (click-through, conversion, return rate): each member is positive
  with probability p; a positive is *seen* after a delay. Members may join
  late (a return rate is per purchase: a purchase joins the population when
  it happens, ``parent_delay``). At a look, a member of age ``a`` whose joining
  fell in day-bucket ``b`` is seen positive with probability ``p·G[b, a]``, so
  a cohort with ``k`` seen positives among ``m`` members contributes
  ``k·log(p1/p0) + (m-k)·log((1-p1·G)/(1-p0·G))``.
* ``accuracy``: each row's label arrives after ``delay``; a labelled row is
  correct with probability a (a rate whose members are the labelled rows,
  their outcome known at once).
* ``auc``: the cohort's AUC estimate over the labels in so far is Gaussian
  around the true AUC with the Hanley-McNeil variance of its labelled
  positives and negatives (taken at the mean of the two AUCs, so that the
  variance is the same under both hypotheses and the ratio exact);
  estimates of one cohort at successive looks are those of a running mean
  (a Brownian motion in information time).

Every term is the exact log-likelihood ratio of the data seen so far (delay
probabilities cancel), which is what lets :mod:`oracle_cusum` calibrate its
threshold by importance sampling.

Times: a row arrives uniformly within its day; the look at the end of day
``i + a`` sees what happened within ``a + 1`` days of the start of day ``i``.

>>> case = Case(kind="rate", rows_per_day=100, before=0.2, after=0.1)
>>> llr = simulate_llr(case, lag_tables(case), np.full(3, 0.1), 2, np.random.default_rng(0))
>>> llr.shape, bool(np.all(llr[:, :, 0] == llr[:, :, -1]))
((2, 3, 1), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bench.independent.delays import Delay, Mixture

__all__ = ["Case", "Tables", "hanley_mcneil_var", "lag_tables", "simulate_llr"]

DelayLike = Delay | Mixture
NO_DELAY = Delay("none")
Floats = NDArray[np.float64]
_STEPS = 96  # quadrature points per day (15 minutes)


@dataclass(frozen=True, kw_only=True)
class Case:
    """One cell's change, as the oracle knows it.

    ``rows_per_day``: members a day (rate: rows, or for a per-purchase rate
    purchases; accuracy and AUC: rows that will be labelled). ``delay`` and
    ``window``: the outcome (or label) delay in days and its window.
    ``parent_delay``: rate only, when members join (purchase → return).
    """

    kind: Literal["rate", "accuracy", "auc"] = "rate"
    rows_per_day: float
    before: float
    after: float
    delay: DelayLike = NO_DELAY
    window: float = 1.0
    parent_delay: DelayLike | None = None
    parent_window: float = 12.0
    positive_share: float = 0.1
    poisson: bool = False

    def __post_init__(self) -> None:
        if self.rows_per_day <= 0:
            raise ValueError(f"rows_per_day must be > 0, got {self.rows_per_day}")
        low, high = (0.5, 1.0) if self.kind == "auc" else (0.0, 1.0)
        for name in ("before", "after"):
            if not low < getattr(self, name) < high:
                raise ValueError(f"{name} must lie in ({low}, {high}), got {getattr(self, name)}")
        if self.before == self.after:
            raise ValueError("before and after must differ")
        if self.kind != "rate" and self.parent_delay is not None:
            raise ValueError("parent_delay is for rates per parent event only")
        if not 0 < self.positive_share < 1:
            raise ValueError("positive_share must lie in (0, 1)")

    @property
    def label(self) -> str:
        delay = self.delay.label if self.delay else "none"
        if self.parent_delay is not None:
            delay = f"{self.parent_delay.label} then {delay}"
        return delay


@dataclass(frozen=True)
class Tables:
    """``join[b]``: share of members joining in day-bucket b (seen from look b on);
    ``seen[b, a]``: P(a positive member of bucket b is seen by the look at age a)."""

    join: Floats
    seen: Floats

    @property
    def ages(self) -> int:
        return int(self.seen.shape[1])


def _cdf(delay: DelayLike | None, t: Floats, window: float) -> Floats:
    if delay is None:
        return np.where(t >= 0, 1.0, 0.0)
    return np.where(t >= 0, delay.cdf(np.maximum(t, 0.0), window=window), 0.0)


def lag_tables(case: Case) -> Tables:
    """Joining buckets and seen-by-age probabilities, by quadrature over arrival times."""
    if case.kind == "rate":
        parent, parent_window = case.parent_delay, case.parent_window
        child, child_window = case.delay, case.window
    else:  # members are the labelled rows: they join with the label, known at once
        parent, parent_window = case.delay, case.window
        child, child_window = None, 1.0
    if parent is None or (isinstance(parent, Delay) and parent.kind == "none"):
        parent, buckets = None, 1
    else:
        buckets = math.ceil(parent_window) + 1
    no_child = child is None or (isinstance(child, Delay) and child.kind == "none")
    ages = buckets if no_child else buckets + math.ceil(child_window) + 1
    # Joining time s = arrival within the day + parent delay; its density is
    # F(s) - F(s - 1) (uniform arrival convolved with the delay).
    s = (np.arange(buckets * _STEPS) + 0.5) / _STEPS
    weight = _cdf(parent, s, parent_window) - _cdf(parent, s - 1.0, parent_window)
    if parent is None:
        weight = np.where(s <= 1.0, 1.0, 0.0)
    weight = weight.reshape(buckets, _STEPS)
    join = weight.sum(axis=1) / weight.sum()
    seen = np.zeros((buckets, ages))
    for b in range(buckets):
        w = weight[b] / weight[b].sum() if weight[b].sum() > 0 else np.full(_STEPS, 1.0 / _STEPS)
        for a in range(b, ages):
            after = a + 1.0 - s[b * _STEPS : (b + 1) * _STEPS]
            seen[b, a] = 1.0 if no_child else float(np.dot(w, _cdf(child, after, child_window)))
    return Tables(join, np.minimum(seen, 1.0))


def hanley_mcneil_var(auc: float | Floats, pos: Floats, neg: Floats) -> Floats:
    """Hanley & McNeil (1982) variance of an AUC estimate from P positives and N negatives.

    >>> round(float(hanley_mcneil_var(0.8, np.array([50.0]), np.array([450.0]))[0]), 6)
    0.001484
    """
    auc = np.asarray(auc, dtype=np.float64)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    num = auc * (1 - auc) + (pos - 1) * (q1 - auc**2) + (neg - 1) * (q2 - auc**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((pos >= 1) & (neg >= 1), num / (pos * neg), np.inf)


def _members(case: Case, shape: tuple[int, ...], rng: np.random.Generator) -> NDArray[np.int64]:
    n = case.rows_per_day
    if case.poisson:
        return rng.poisson(n, size=shape)
    return np.full(shape, round(n), dtype=np.int64)


def _spread(counts: NDArray[np.int64], pmf: Floats, rng: np.random.Generator) -> NDArray[np.int64]:
    """Each count split over ``pmf``'s cells (multinomial): shape ``counts.shape + (len,)``."""
    p = np.clip(pmf, 0.0, None)
    return rng.multinomial(counts, p / p.sum())


def simulate_llr(
    case: Case, tables: Tables, rates: Floats, runs: int, rng: np.random.Generator
) -> Floats:
    """log-likelihood ratio (after vs before) of each cohort at each age: ``(runs, cohorts, ages)``.

    ``rates[i]`` (or ``rates[run, i]``) is the true rate, accuracy or AUC of cohort ``i``.
    """
    rates = np.broadcast_to(np.asarray(rates, dtype=np.float64), (runs, rates.shape[-1]))
    if case.kind == "auc":
        return _auc_llr(case, tables, rates, runs, rng)
    cohorts, ages = rates.shape[1], tables.ages
    p0, p1 = case.before, case.after
    members = _spread(_members(case, (runs, cohorts), rng), tables.join, rng)  # (R, C, B)
    positives = rng.binomial(members, rates[:, :, None])
    step = np.arange(ages)[None, :] >= np.arange(tables.join.size)[:, None]
    if tables.seen.shape == step.shape and np.array_equal(tables.seen, step.astype(float)):
        # Outcomes known on joining (labelled rows): cumulative counts are the evidence.
        members_in, positives_in = np.cumsum(members, axis=-1), np.cumsum(positives, axis=-1)
        no = math.log((1 - p1) / (1 - p0))
        return positives_in * math.log(p1 / p0) + (members_in - positives_in) * no
    llr = np.zeros((runs, cohorts, ages))
    age = np.arange(ages)
    for b in range(tables.join.size):
        g = tables.seen[b]
        pmf = np.diff(np.concatenate([[0.0], g]))
        tail = max(0.0, 1.0 - g[-1])  # seen after the last age tracked (none when windows fit)
        seen = np.cumsum(
            _spread(positives[:, :, b], np.append(pmf, tail), rng)[..., :ages], axis=-1
        )
        present = (age >= b).astype(np.float64)
        with np.errstate(divide="ignore"):
            neg = np.log1p(-p1 * g) - np.log1p(-p0 * g)
        llr += seen * math.log(p1 / p0) + (members[:, :, b, None] * present - seen) * neg
    return llr


def _auc_llr(
    case: Case, tables: Tables, aucs: Floats, runs: int, rng: np.random.Generator
) -> Floats:
    cohorts = aucs.shape[1]
    rows = _members(case, (runs, cohorts), rng)
    pos = rng.binomial(rows, case.positive_share)
    by_lag_pos = np.cumsum(_spread(pos, tables.join, rng), axis=-1).astype(np.float64)
    by_lag_neg = np.cumsum(_spread(rows - pos, tables.join, rng), axis=-1).astype(np.float64)
    middle = (case.before + case.after) / 2
    var = hanley_mcneil_var(middle, by_lag_pos, by_lag_neg)
    info = np.where(np.isfinite(var), 1.0 / var, 0.0)
    info = np.maximum.accumulate(info, axis=-1)  # labels only add information
    step = np.diff(info, axis=-1, prepend=0.0)
    # I·(estimate - AUC) is a Brownian motion in the information I.
    brownian = np.cumsum(rng.standard_normal(info.shape) * np.sqrt(step), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = aucs[:, :, None] + np.where(info > 0, brownian / info, 0.0)
    llr = info * (case.after - case.before) * (estimate - middle)
    return np.asarray(np.where(info > 0, llr, 0.0))
