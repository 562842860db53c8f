"""Change detection on maturity-aware metric tables, with false-alarm control.

For every metric × segment cell (and the aggregate) the *current* window (the
last ``recent_days`` complete days that are mature enough to judge) is
compared with a *baseline* (the deployment period: the first
``baseline_days`` days of the model version's data; or a trailing window).
Both sides are pooled from the daily figures, using the nowcast estimate and
its interval, so a day whose purchases are still arriving is neither counted
as a drop nor trusted more than it deserves:

* the variance of a day is the larger of the binomial variance of its
  estimate and the variance implied by its 90% interval (nowcast uncertainty);
* a day whose outcomes are mostly still to come (less than ``min_maturity`` of
  the expected final outcome seen) is not judged at all.

The test is a two-sample z-test on the pooled values, with the variances of
"no change": a share's binomial variance is taken at the rate both sides have
in common (the pooled rate), as in the textbook two-proportion test. Taken at
each side's own value, a window that dips by chance looks more certain the
lower it dips, which turned chance dips of rare outcomes (one age group's
purchases: some 20 a day) into alerts. Both sides are widened by the
baseline's overdispersion (Pearson dispersion of its daily values, at least
1), so a metric whose days vary more than binomially needs a bigger move.

The latest judged day is also tested on its own (``latest_day``): an abrupt
change fills only half of a 2-day window on its first day, and would be seen a
day later. Both windows of a cell are tests in the correction below; a cell
reports the clearer of the windows that pass.

A change must be both statistically clear and large enough to matter: at
least ``min_relative`` of the baseline and ``min_absolute`` (so a million rows
do not turn a 0.2-point wobble into an alert), and in the adverse direction.
The false-alarm rate across all segments × metrics × windows tested in one
check is controlled with Benjamini-Hochberg at ``fdr``. *Every* tested cell
counts in the correction, including the many whose move is too small to
report: the size filter is applied to the discoveries, after the correction.
(Filtering first left a check with one noisy cell over the size bar judging it
as if it were the only test: that was most of the false alarms on data
without shifts.)

Why not more: on the simulated month without shifts the daily values of every
metric × segment are binomial (dispersion 0.96-1.06, lag-1 correlation about
0 over 10 seeds), so multi-day dips in a segment's purchases are chance, which
the correction has to absorb, not autocorrelation; a 2-day-block dispersion
estimate or a persistence rule would cost detection delay for nothing there.
Replayed daily (``bench/alert_replay.py``, checks from day 15 to 30): no alert
in 480 checked days of seeds 0-29 nor in 240 of seeds 100-114 (the rules before
these two fixes: 8 and 5); the smallest adjusted p of any reportable change
was 0.02, 40 times the threshold. With the planted shifts (seeds 0-4) the 25-34
click-through alert fires 1 day after the drop (2 days in one seed) and the
55+ exposure gap 1 day after the changeover.

Fairness gaps use the same machinery on the *gap* to the overall value
(segment minus all customers): a gap that opens or widens versus the
deployment baseline is flagged even when the overall value moves too, and a
shift that moves every segment alike (a new collection changing everyone's
category mix) is not a fairness finding.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy.stats import norm

from seismo.detect.fdr import benjamini_hochberg
from seismo.detect.findings import Finding, Severity
from seismo.detect.wording import action_for, describe

__all__ = ["DetectConfig", "benjamini_hochberg", "detect_changes", "detect_gaps"]

#: Metrics where a higher value is worse: a rise is the adverse direction.
LOWER_IS_BETTER = ("return_rate", "log_loss", "calibration_error", "brier", "mae", "rmse", "mape")


@dataclass(frozen=True, kw_only=True)
class DetectConfig:
    """Knobs of the detector; the defaults are what the seed-scenario benchmarks justify."""

    recent_days: int = 2
    #: Also test the latest judged day on its own (one more test per cell in the
    #: correction), so an abrupt change is seen the first day it is complete.
    latest_day: bool = True
    baseline: Literal["deployment", "trailing"] = "deployment"
    baseline_days: int = 14
    fdr: float = 0.0005
    min_relative: float = 0.2
    min_absolute: dict[str, float] = field(
        default_factory=lambda: {"share": 0.01, "amount": 0.0, "score": 0.02}
    )
    min_n: int = 100
    min_maturity: float = 0.8
    critical_p: float = 1e-4
    adverse_only: bool = True
    #: A fairness gap must move by this much (absolute, for shares) and this share of the
    #: overall value: a new collection nudging everyone's mix by a point is not a fairness issue.
    gap_min_absolute: float = 0.05
    gap_min_relative: float = 0.25


@dataclass
class _Side:
    """One side of a comparison, pooled over days."""

    n: float = 0.0
    total: float = 0.0  # sum of n_i * value_i
    var_total: float = 0.0  # sum of n_i^2 * var_i
    #: The same with each day's sampling variance at the rate both sides share under
    #: "no change" (what the test uses; ``var_total`` is for the side's own interval).
    null_var_total: float = math.nan
    low: float = math.inf
    high: float = -math.inf
    start: datetime | None = None
    end: datetime | None = None

    def add(self, r: dict[str, Any]) -> None:
        n, v = float(r["n"]), float(r["estimate"])
        self.n += n
        self.total += n * v
        self.var_total += n * n * _day_variance(r)
        self.start = r["window_start"] if self.start is None else min(self.start, r["window_start"])
        self.end = r["window_end"] if self.end is None else max(self.end, r["window_end"])

    @property
    def value(self) -> float:
        return self.total / self.n

    @property
    def var(self) -> float:
        return self.var_total / (self.n * self.n)

    @property
    def null_var(self) -> float:
        return self.null_var_total / (self.n * self.n)


def _day_variance(r: dict[str, Any], rate: float | None = None) -> float:
    """A day's variance: sampling (at ``rate`` if given, else at its own value) or nowcast."""
    v, n = float(r["estimate"] if rate is None else rate), max(float(r["n"]), 1.0)
    low, high = r.get("estimate_low"), r.get("estimate_high")
    interval = 0.0
    if low is not None and high is not None:
        interval = ((float(high) - float(low)) / (2 * 1.645)) ** 2
    se = r.get("std_error")
    if se is not None:
        sampling = float(se) ** 2
    elif r.get("unit") == "share":
        sampling = max(v * (1 - v), 1.0 / n) / n
    else:
        return math.nan  # no sampling error known: such a metric cannot be tested
    return max(sampling, interval)


def _mature(r: dict[str, Any], config: DetectConfig) -> bool:
    if r["final"]:
        return True
    est, seen = r.get("estimate"), r.get("observed_value")
    if est is not None and seen is not None and est > 0:
        return bool(seen / est >= config.min_maturity)
    n = r["n"] or 0
    return bool(n and r["confirmed_n"] / n >= config.min_maturity)


_Series = dict[tuple[str, str | None, str | None, str | None], list[dict[str, Any]]]


def _series(table: pa.Table) -> _Series:
    by: _Series = defaultdict(list)
    for r in table.to_pylist():
        if r["estimate"] is None or r["n"] is None or not r["n"]:
            continue
        by[(r["metric"], r["attribute"], r["value"], r["model_version"])].append(r)
    for rows in by.values():
        rows.sort(key=lambda r: r["window_start"])
    return by


def _windows(config: DetectConfig) -> tuple[int, ...]:
    """Lengths (in judged days) of the current windows tested, the main one first."""
    if config.latest_day and config.recent_days > 1:
        return (config.recent_days, 1)
    return (config.recent_days,)


def _split(
    rows: list[dict[str, Any]],
    cut: datetime,
    config: DetectConfig,
    first_day: datetime,
    days: int | None = None,
) -> tuple[_Side, _Side] | None:
    """Baseline and current sides of one cell's daily series, or None when not testable."""
    complete = [r for r in rows if r["window_end"] <= cut]
    judged = [r for r in complete if _mature(r, config)]
    current_rows = judged[-(days or config.recent_days) :]
    if not current_rows:
        return None
    current_start = current_rows[0]["window_start"]
    if config.baseline == "deployment":
        limit = first_day + timedelta(days=config.baseline_days)
        base_rows = [r for r in complete if r["window_end"] <= limit and r["final"]]
    else:
        lo = current_start - timedelta(days=config.baseline_days)
        base_rows = [r for r in complete if lo <= r["window_start"] < current_start]
    base_rows = [r for r in base_rows if r["window_start"] < current_start]
    if not base_rows:
        return None
    base, current = _Side(), _Side()
    for r in base_rows:
        base.add(r)
    for r in current_rows:
        current.add(r)
    if base.n < config.min_n or current.n < config.min_n:
        return None
    # The test's variances are those under "no change": a share's sampling variance at
    # the pooled rate of both sides (as in the textbook two-proportion test). At its own
    # estimate, a window that dips by chance would look more certain the lower it dips,
    # which made chance dips in rare outcomes (a segment's purchases) look significant.
    pooled = (base.total + current.total) / (base.n + current.n)
    for side, side_rows in ((base, base_rows), (current, current_rows)):
        side.null_var_total = sum(
            float(r["n"]) ** 2 * _day_variance(r, rate=pooled) for r in side_rows
        )
    # Real traffic is overdispersed: customers and items make days vary more than a
    # binomial says. The baseline days show by how much; both sides are widened by it
    # so a noisy metric needs a bigger move to alert (never narrowed below sampling).
    phi = _dispersion(base_rows)
    for side in (base, current):
        side.var_total *= phi
        side.null_var_total *= phi
    return base, current


def _dispersion(rows: list[dict[str, Any]]) -> float:
    """Pearson dispersion of the daily values around their pooled mean (at least 1).

    >>> days = [{"n": 100, "estimate": v, "unit": "share"} for v in (0.2, 0.3, 0.1, 0.4)]
    >>> round(_dispersion(days), 2)
    12.38
    """
    if len(rows) < 3:
        return 1.0
    n = np.array([float(r["n"]) for r in rows])
    v = np.array([float(r["estimate"]) for r in rows])
    var = np.array([_day_variance(r) for r in rows])
    if not np.all(np.isfinite(var)) or np.any(var <= 0):
        return 1.0
    mean = float((n * v).sum() / n.sum())
    return max(1.0, float(((v - mean) ** 2 / var).sum() / (len(rows) - 1)))


@dataclass(frozen=True)
class _Test:
    key: tuple[str, str | None, str | None, str | None]
    rows: list[dict[str, Any]]
    row: dict[str, Any]
    base: _Side
    current: _Side
    diff: float
    z: float
    p: float
    #: Large enough to matter and in the adverse direction: may raise a finding.
    material: bool = True


def _test(
    key: tuple[str, str | None, str | None, str | None],
    row: dict[str, Any],
    base: _Side,
    current: _Side,
    config: DetectConfig,
    *,
    reference: float | None = None,
) -> _Test | None:
    """A z-test of current vs base; None when the cell cannot be tested.

    Every testable cell is a test, whatever its effect: the multiple-testing
    correction counts them all, and ``material`` says whether the change is
    large enough (and adverse) to be reported should it be significant.
    Dropping the small effects before the correction would let a check where
    only one noisy cell moves by 20% judge that cell as if nothing else had
    been looked at.
    """
    diff = current.value - base.value
    se = math.sqrt(base.null_var + current.null_var)
    if not se > 0:  # zero, or NaN for a metric without a known sampling error
        return None
    scale = abs(base.value if reference is None else reference)
    minimum = max(config.min_relative * scale, config.min_absolute.get(row["unit"], 0.0))
    material = abs(diff) >= minimum and diff != 0.0
    if config.adverse_only:
        worse_up = key[0].endswith(LOWER_IS_BETTER) or key[0] in LOWER_IS_BETTER
        if (diff > 0) != worse_up and row.get("_kind", "quality") == "quality":
            material = False
    z = diff / se
    return _Test(key, [], row, base, current, diff, z, float(2 * norm.sf(abs(z))), material)


def detect_changes(
    table: pa.Table, *, cut: datetime, config: DetectConfig | None = None, kind: str = "quality"
) -> list[Finding]:
    """Findings for every metric × segment whose current value clearly moved from baseline."""
    config = config or DetectConfig()
    tests = _all_tests(table, cut, config, kind)
    return _findings(tests, cut, config, kind)


def detect_gaps(
    table: pa.Table, *, cut: datetime, config: DetectConfig | None = None, kind: str = "fairness"
) -> list[Finding]:
    """Findings for segments whose gap to all customers opened or widened since the baseline."""
    config = config or DetectConfig()
    return _findings(_gap_tests(table, cut, config, kind), cut, config, kind, gap=True)


def _gap_tests(table: pa.Table, cut: datetime, config: DetectConfig, kind: str) -> list[_Test]:
    gap_config = replace(
        config,
        min_relative=config.gap_min_relative,
        min_absolute={**config.min_absolute, "share": config.gap_min_absolute},
    )
    series = _series(table)
    first_day = min((r["window_start"] for rows in series.values() for r in rows), default=cut)
    tests: list[_Test] = []
    for key, rows in series.items():
        metric, attribute, _, version = key
        if attribute is None:
            continue
        overall = series.get((metric, None, None, version))
        if not overall:
            continue
        for days in _windows(config):
            sides = _split(rows, cut, config, first_day, days)
            all_sides = _split(overall, cut, config, first_day, days)
            if sides is None or all_sides is None:
                continue
            (base, current), (all_base, all_current) = sides, all_sides
            gap_base, gap_current = _Side(), _Side()
            gap_base.n, gap_current.n = base.n, current.n
            gap_base.total = (base.value - all_base.value) * base.n
            gap_current.total = (current.value - all_current.value) * current.n
            gap_base.var_total, gap_current.var_total = base.var_total, current.var_total
            gap_base.null_var_total = base.null_var_total
            gap_current.null_var_total = current.null_var_total
            gap_base.start, gap_base.end = base.start, base.end
            gap_current.start, gap_current.end = current.start, current.end
            row = {**rows[-1], "_kind": kind}
            reference = max(abs(all_base.value), abs(all_current.value))
            t = _test(key, row, gap_base, gap_current, gap_config, reference=reference)
            if t is not None:
                # Report the segment's own values; the test was on the gap.
                tests.append(replace(t, base=base, current=current, rows=rows))
    return tests


def _all_tests(table: pa.Table, cut: datetime, config: DetectConfig, kind: str) -> list[_Test]:
    series = _series(table)
    first_day = min((r["window_start"] for rows in series.values() for r in rows), default=cut)
    tests = []
    for key, rows in series.items():
        for days in _windows(config):
            sides = _split(rows, cut, config, first_day, days)
            if sides is None:
                continue
            t = _test(key, {**rows[-1], "_kind": kind}, *sides, config)
            if t is not None:
                tests.append(replace(t, rows=rows))
    return tests


def _since(t: _Test, cut: datetime) -> datetime:
    """The first day of the run of days, up to now, already on the changed side of halfway."""
    halfway = t.base.value + t.diff / 2
    since = t.current.start
    assert since is not None
    for r in reversed([r for r in t.rows if r["window_end"] <= cut]):
        changed = r["estimate"] < halfway if t.diff < 0 else r["estimate"] > halfway
        if not changed:
            break
        since = min(since, r["window_start"])
    return since


def _findings(
    tests: list[_Test], cut: datetime, config: DetectConfig, kind: str, *, gap: bool = False
) -> list[Finding]:
    adjusted = benjamini_hochberg([t.p for t in tests])
    # One finding per cell: of its windows that pass, the clearest (the main one on a tie).
    chosen: dict[tuple[str, str | None, str | None, str | None], tuple[_Test, float]] = {}
    for t, q in zip(tests, adjusted, strict=True):
        if q <= config.fdr and t.material and (t.key not in chosen or q < chosen[t.key][1]):
            chosen[t.key] = (t, q)
    out = []
    for t, q in chosen.values():
        metric, attribute, value, _ = t.key
        segment = None if attribute is None else {attribute: str(value)}
        assert t.base.start and t.base.end and t.current.start and t.current.end
        severity: Severity = "critical" if q <= config.critical_p else "warning"
        row = t.row
        finding = Finding(
            kind=kind,
            metric=metric,
            metric_label=row["label"],
            segment=segment,
            direction="up" if t.diff > 0 else "down",
            severity=severity,
            baseline=t.base.value,
            baseline_low=t.base.value - 1.645 * math.sqrt(t.base.var),
            baseline_high=t.base.value + 1.645 * math.sqrt(t.base.var),
            current=t.current.value,
            current_low=t.current.value - 1.645 * math.sqrt(t.current.var),
            current_high=t.current.value + 1.645 * math.sqrt(t.current.var),
            baseline_start=t.base.start,
            baseline_end=t.base.end,
            window_start=t.current.start,
            window_end=t.current.end,
            since=_since(t, cut),
            test="two-sample z-test on the gap to all customers"
            if gap
            else "two-sample z-test (nowcast-aware variances)",
            statistic=t.z,
            p_value=t.p,
            adjusted_p=q,
            n_baseline=int(t.base.n),
            n_current=int(t.current.n),
            message="",
            action=action_for(kind, metric, "up" if t.diff > 0 else "down"),
            as_of=cut,
            unit=row["unit"],
            evidence={
                "fdr": config.fdr,
                "tests": len(tests),
                "gap": gap,
                "window_days": (t.current.end - t.current.start).days,
            },
        )
        out.append(replace(finding, message=describe(finding)))
    out.sort(key=lambda f: (f.severity != "critical", f.adjusted_p, f.key))
    return out
