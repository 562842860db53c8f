"""The oracle: a CUSUM that knows the rates and the delays, at seismo's false-alarm budget.

Usage::

    python bench/oracle_cusum.py --rows-per-day 600 --before 0.23 --after 0.153 \\
        --delay none --cells 100
    python bench/oracle_cusum.py --rows-per-day 880 --before 0.051 --after 0.028 \\
        --delay weibull:0.65,1.5 --window 12 --cells 100
    python bench/oracle_cusum.py --kind accuracy --rows-per-day 300 --before 0.92 --after 0.77 \\
        --delay gamma:2.2,28 --window 110 --cells 200
    python bench/oracle_cusum.py --kind auc --rows-per-day 150 --before 0.75 --after 0.58 \\
        --positive-share 0.08 --delay gamma:2.2,36 --window 110 --cells 200

What a detector could do at best: the oracle knows the rate before and
after and the delay distribution, so at each daily look it has the exact
log-likelihood ratio of every daily cohort given what has been seen of it so
far (``oracle_sim``). Its statistic at a look is the CUSUM over cohorts,
``max(0, max over change days c of Σ_{cohorts i >= c} LLR_i)``, recomputed
with the information of that look (a late positive raises the evidence of
an old cohort); change days reach back ``--lookback`` days (a
window-limited GLR).

**Budget.** ``--budget`` false alarms per ``--per-days`` days (default 1 per
90) for the whole store, shared by ``--cells`` watched cells: each cell's
in-control average run length is ``ARL0 = per_days · cells / budget`` days.

**Threshold.** In-control chains start in steady state (a full lookback of
cohorts) and run ``--horizon`` looks; run lengths are then geometric, so
ARL(h) = -horizon / log(1 - P(the statistic crosses h within the horizon)).
ARLs of 1e5-1e6 days put that probability at 1e-3 or below, out of reach of
plain simulation, and log ARL is *not* linear in h here (with hundreds of
rows a day one day's evidence dominates: the tail is Gaussian-like, the
slope of log ARL grows with h; a straight line fitted on reachable ARLs
over-states the threshold). So P is estimated by importance sampling: each
chain is drawn with a change at a uniformly chosen day of the horizon, and a
chain that crosses at look t is weighted by the in-control / proposal density
ratio of what t has seen, ``horizon / (Σ_c exp(Σ_{i>=c} LLR_i(t)) + days
after t)``, which every term being an exact log-likelihood ratio makes exact
and the crossing bounds by ``horizon · e^-h``. The threshold is found by
bisection; it is checked against plain simulation at the threshold a fifth
of in-control chains cross (both ARLs printed).

**Delay.** A step change at a day boundary, after a full lookback of
pre-change cohorts; looks from the end of the change's first day; found at
the end of day ``d + j - 1`` is a delay of ``j``. Mean over ``--runs`` runs
(runs not found within ``--max-days`` are counted as censored).

>>> r = run_oracle(Case(rows_per_day=600, before=0.23, after=0.153), cells=20,
...                runs=200, calibration_runs=400, horizon=100, lookback=30, seed=1)
>>> round(r.threshold, 2), round(r.mean_delay, 2), r.censored
(4.38, 1.07, 0)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.independent.delays import Delay
from bench.oracle_sim import Case, lag_tables, simulate_llr

__all__ = ["Calibration", "OracleResult", "calibrate", "cusum_paths", "mean_delay", "run_oracle"]

Floats = NDArray[np.float64]
_CELLS_PER_BATCH = 4_000_000  # runs × cohorts × ages simulated at once


def cusum_paths(llr: Floats, first_look: int, looks: int, lookback: int) -> Floats:
    """The statistic at looks ``first_look`` .. ``first_look + looks - 1``: ``(runs, looks)``.

    >>> llr = np.array([[[-1.0], [2.0], [-0.5], [3.0]]])  # one run, four cohorts, no delay
    >>> cusum_paths(llr, 0, 4, 10).tolist()
    [[0.0, 2.0, 1.5, 4.5]]
    """
    return _paths(llr, first_look, looks, lookback)[0]


def _paths(
    llr: Floats, first: int, looks: int, lookback: int, *, mixture: bool = False
) -> tuple[Floats, Floats]:
    """The CUSUM at each look and, with ``mixture``, the log of
    ``Σ_{c=first}^{t} exp(Σ_{i>=c} LLR_i(t)) + (cohorts - 1 - t)`` (the proposal's density
    ratio on what look t has seen, times the number of change days it draws from)."""
    runs, cohorts, ages = llr.shape
    stat, mix = np.empty((runs, looks)), np.empty((runs, looks))
    for j, t in enumerate(range(first, first + looks)):
        lo = min(first, t - lookback + 1) if mixture else t - lookback + 1
        i = np.arange(max(0, lo), t + 1)
        suffix = np.cumsum(llr[:, i, np.minimum(t - i, ages - 1)][:, ::-1], axis=1)[:, ::-1]
        stat[:, j] = np.maximum(suffix[:, i >= t - lookback + 1].max(axis=1), 0.0)
        if mixture:
            terms = suffix[:, i >= first]
            rest = np.full((runs, 1), math.log(cohorts - 1 - t) if t < cohorts - 1 else -np.inf)
            mix[:, j] = np.logaddexp.reduce(np.concatenate([terms, rest], axis=1), axis=1)
    return stat, mix


def _batches(runs: int, cohorts: int, ages: int) -> list[int]:
    size = max(1, _CELLS_PER_BATCH // max(1, cohorts * ages))
    return [min(size, runs - k) for k in range(0, runs, size)]


@dataclass(frozen=True)
class Calibration:
    """How the threshold was found: importance sampling, checked by plain simulation.

    ``relative_error``: the standard error of the importance-sampling estimate of
    P(cross within the horizon) at the threshold, relative to it. ``check_*``:
    at a threshold plain simulation reaches (about 20 % of chains cross), the
    ARL by plain simulation and by importance sampling.
    """

    method: str
    relative_error: float
    check_threshold: float
    check_arl_direct: float
    check_arl_is: float


def _arl(stat: Floats, mix: Floats, horizon: int, h: float) -> tuple[float, float]:
    """(ARL, relative standard error) at threshold ``h`` from the importance-sampling runs."""
    crossed = stat >= h
    hit = crossed.any(axis=1)
    at = crossed.argmax(axis=1)
    w = np.where(hit, np.exp(math.log(horizon) - mix[np.arange(mix.shape[0]), at]), 0.0)
    p = float(w.mean())
    if p <= 0:
        return math.inf, math.inf
    return -horizon / math.log1p(-min(p, 1 - 1e-12)), float(w.std() / math.sqrt(w.size) / p)


def calibrate(
    case: Case,
    *,
    arl0: float,
    lookback: int,
    runs: int,
    horizon: int,
    rng: np.random.Generator,
) -> tuple[float, Calibration]:
    """The threshold whose in-control ARL is ``arl0`` days (see the module docstring)."""
    tables = lag_tables(case)
    first = lookback - 1
    cohorts = first + horizon
    stats, mixes, maxima = [], [], []
    for batch in _batches(runs, cohorts, tables.ages):
        # Proposal: a change at a uniform day of the horizon (rates after it).
        change = rng.integers(first, cohorts, size=batch)
        rates = np.where(np.arange(cohorts)[None, :] >= change[:, None], case.after, case.before)
        stat, mix = _paths(simulate_llr(case, tables, rates, batch, rng), first, horizon,
                           lookback, mixture=True)  # fmt: skip
        stats.append(stat)
        mixes.append(mix)
        plain = simulate_llr(case, tables, np.full(cohorts, case.before), batch, rng)
        maxima.append(cusum_paths(plain, first, horizon, lookback).max(axis=1))
    stat, mix = np.concatenate(stats), np.concatenate(mixes)
    lo, hi = 0.0, 80.0
    for _ in range(60):  # ARL grows with h: bisection on log ARL
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _arl(stat, mix, horizon, mid)[0] < arl0 else (lo, mid)
    threshold = (lo + hi) / 2
    # Plain simulation where it reaches: the threshold about 20 % of in-control chains cross.
    plain_max = np.concatenate(maxima)
    h_check = float(np.quantile(plain_max, 0.8))
    direct = -horizon / math.log1p(-float((plain_max >= h_check).mean()))
    calibration = Calibration(
        method="importance sampling (mixture of change days)",
        relative_error=_arl(stat, mix, horizon, threshold)[1],
        check_threshold=h_check,
        check_arl_direct=direct,
        check_arl_is=_arl(stat, mix, horizon, h_check)[0],
    )
    return threshold, calibration


def mean_delay(
    case: Case,
    threshold: float,
    *,
    lookback: int,
    runs: int,
    max_days: int,
    rng: np.random.Generator,
) -> tuple[float, float, int]:
    """(mean delay in days, median, runs not detected within ``max_days``)."""
    tables = lag_tables(case)
    change = lookback
    cohorts = change + max_days
    rates = np.where(np.arange(cohorts) >= change, case.after, case.before)
    delays = []
    for batch in _batches(runs, cohorts, tables.ages):
        llr = simulate_llr(case, tables, rates, batch, rng)
        over = cusum_paths(llr, change, max_days, lookback) > threshold
        found = over.any(axis=1)
        delays.append(np.where(found, over.argmax(axis=1) + 1, -1))
    d = np.concatenate(delays)
    detected = d[d > 0]
    if detected.size == 0:
        return math.inf, math.inf, int(d.size)
    return float(detected.mean()), float(np.median(detected)), int((d < 0).sum())


@dataclass(frozen=True)
class OracleResult:
    case: dict[str, Any]
    cells: int
    budget: float
    per_days: float
    arl0: float
    threshold: float
    calibration: Calibration
    mean_delay: float
    median_delay: float
    runs: int
    censored: int
    seconds: float


def run_oracle(
    case: Case,
    *,
    cells: int,
    budget: float = 1.0,
    per_days: float = 90.0,
    lookback: int = 90,
    runs: int = 2000,
    calibration_runs: int = 2000,
    horizon: int = 400,
    max_days: int = 150,
    seed: int = 0,
) -> OracleResult:
    """Calibrate at the per-cell ARL0 of the budget, then measure the mean detection delay."""
    started = time.perf_counter()
    arl0 = per_days * cells / budget
    rng = np.random.default_rng(seed)
    threshold, calibration = calibrate(
        case, arl0=arl0, lookback=lookback, runs=calibration_runs, horizon=horizon, rng=rng
    )
    mean, median, censored = mean_delay(
        case, threshold, lookback=lookback, runs=runs, max_days=max_days, rng=rng
    )
    described = {k: v for k, v in asdict(case).items() if k not in ("delay", "parent_delay")}
    described["delay"] = case.label
    seconds = round(time.perf_counter() - started, 1)
    return OracleResult(
        described, cells, budget, per_days, arl0, threshold, calibration, mean, median, runs,
        censored, seconds,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["rate", "accuracy", "auc"], default="rate")
    p.add_argument("--rows-per-day", type=float, required=True)
    p.add_argument("--before", type=float, required=True)
    p.add_argument("--after", type=float, required=True)
    p.add_argument("--delay", default="none", help="none, exponential:MEAN, lognormal:MEDIAN,SD,"
                   " weibull:SHAPE,SCALE, gamma:SHAPE,MEAN, empirical:FILE (days)")  # fmt: skip
    p.add_argument("--window", type=float, default=None, help="outcome window, days")
    p.add_argument("--parent-delay", default=None, help="members join after this (returns)")
    p.add_argument("--parent-window", type=float, default=12.0)
    p.add_argument("--positive-share", type=float, default=0.1, help="auc: share of positives")
    p.add_argument("--poisson", action="store_true", help="Poisson rows a day, not fixed")
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--budget", type=float, default=1.0, help="false alarms per --per-days")
    p.add_argument("--per-days", type=float, default=90.0)
    p.add_argument("--lookback", type=int, default=90)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--calibration-runs", type=int, default=2000)
    p.add_argument("--horizon", type=int, default=400)
    p.add_argument("--max-days", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    delay = Delay.parse(a.delay)
    window = a.window if a.window is not None else (1.0 if delay.kind == "none" else 30.0)
    case = Case(
        kind=a.kind,
        rows_per_day=a.rows_per_day,
        before=a.before,
        after=a.after,
        delay=delay,
        window=window,
        parent_delay=Delay.parse(a.parent_delay) if a.parent_delay else None,
        parent_window=a.parent_window,
        positive_share=a.positive_share,
        poisson=a.poisson,
    )
    r = run_oracle(
        case, cells=a.cells, budget=a.budget, per_days=a.per_days, lookback=a.lookback,
        runs=a.runs, calibration_runs=a.calibration_runs, horizon=a.horizon,
        max_days=a.max_days, seed=a.seed,
    )  # fmt: skip
    if a.json:
        print(json.dumps(asdict(r), default=str))
        return
    c = r.calibration
    lines = [
        f"case       {a.kind} {a.rows_per_day:g}/day {a.before:g} -> {a.after:g}, "
        f"delay {case.label}",
        f"budget     {a.budget:g} per {a.per_days:g} days over {a.cells} cells: "
        f"ARL0 {r.arl0:,.0f} days per cell",
        f"threshold  {r.threshold:.3f}  ({c.method}, relative error {c.relative_error:.2f}; "
        f"check at h={c.check_threshold:.2f}: ARL {c.check_arl_direct:,.0f} plain, "
        f"{c.check_arl_is:,.0f} importance sampling)",
        f"delay      mean {r.mean_delay:.2f} days, median {r.median_delay:g} "
        f"({r.runs} runs, {r.censored} not found in {a.max_days} days; {r.seconds} s)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
