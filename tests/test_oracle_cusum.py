"""The oracle CUSUM (bench/oracle_cusum.py): examples, and its threshold vs plain simulation."""

from __future__ import annotations

import doctest
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import oracle_cusum, oracle_sim
from bench.independent import common, delays, judge, metrics
from bench.independent.delays import Delay
from bench.oracle_sim import Case, lag_tables, simulate_llr


@pytest.mark.parametrize("module", [oracle_cusum, oracle_sim, delays, common, judge, metrics])
def test_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


def test_seen_probabilities_grow_to_one_and_members_sum_to_one() -> None:
    case = Case(rows_per_day=50, before=0.2, after=0.4, delay=Delay("lognormal", 7, 0.4),
                window=14, parent_delay=Delay("weibull", 0.65, 1.5), parent_window=12)  # fmt: skip
    tables = lag_tables(case)
    assert tables.join.sum() == pytest.approx(1.0)
    assert np.all(np.diff(tables.seen, axis=1) >= -1e-12)
    assert tables.seen[:, -1] == pytest.approx(1.0, abs=1e-9)


def test_importance_sampling_agrees_with_plain_simulation_where_both_reach() -> None:
    """A delayed case whose ARL at the check threshold plain simulation can measure."""
    case = Case(rows_per_day=200, before=0.05, after=0.03, delay=Delay("exponential", 2), window=12)
    _, cal = oracle_cusum.calibrate(
        case, arl0=5000, lookback=30, runs=1500, horizon=120, rng=np.random.default_rng(3)
    )
    assert math.log(cal.check_arl_is / cal.check_arl_direct) == pytest.approx(0.0, abs=0.25)


def test_every_cohort_term_is_an_exact_likelihood_ratio() -> None:
    """Under 'before', E[exp(LLR)] = 1 at every age: the ratio is a likelihood ratio."""
    case = Case(rows_per_day=40, before=0.1, after=0.05, delay=Delay("gamma", 2.0, 3.0), window=10)
    llr = simulate_llr(case, lag_tables(case), np.full(2000, 0.1), 20, np.random.default_rng(0))
    assert np.exp(llr).mean(axis=(0, 1)) == pytest.approx(1.0, abs=0.05)
