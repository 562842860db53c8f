"""Change detection on maturity-aware metric tables: evidence that accumulates, on a budget.

Every metric × segment cell (the aggregate, each segment value, each pair of
segment values) × model version is a daily series. Its *baseline* is the
deployment period (the first ``baseline_days`` days of that model version's
data; or the days before the scanned ones, ``baseline="trailing"``). Every
day after it, up to ``window_days`` of them, is scanned for a step change with
the GLR of :mod:`seismo.detect.glr`: the shift of all the days since a
candidate change day, weighted by how much of their truth has arrived, so a
12-day-old drop in purchases or a 25-day-old rise in returns keeps adding
evidence every day instead of being judged on a sliding two-day window. The
day that maximises the evidence is the alert's ``since``.

A day's value is the nowcast of its final value (:mod:`seismo.metrics.compute`),
and its variance the larger of its sampling variance under "no change" (a
share's binomial variance at the baseline rate; the ``std_error`` the metric
carries otherwise) and the variance of its nowcast interval; a day with less
than ``min_maturity`` of its expected outcomes seen is not judged. Both sides
are widened by the baseline days' overdispersion (Pearson dispersion, at
least 1), so a metric whose days vary more than binomially needs a bigger
move.

**The false-alarm budget** is stated for the store: ``false_alarms_per_90_days``
(default 1) over every cell and direction watched and every daily look. With
``C`` of them watched in a check, each may raise a new alarm at a rate of
``budget / (90 C)`` a day, and :func:`seismo.detect.glr.threshold` turns that
into the shift (in standard errors) a change must reach. ``adjusted_p`` of a
finding is the chance that a store without any change shows an alarm that
strong on a given day (``C`` times the cell's rate at that strength).

A change must also be large enough to matter (``min_relative`` of the baseline
and ``min_absolute``, so a million rows do not turn a 0.2-point wobble into an
alert) and in the adverse direction for its metric (a fall in click-through,
a rise in returns or log loss; both ways for a bias or a calibration ratio).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy.special import ndtr

from seismo.detect.adverse import IN_POINTS, two_sided, worse_when_up
from seismo.detect.findings import Finding, Severity
from seismo.detect.glr import Scan, onset_rate, scan, threshold
from seismo.detect.wording import action_for, describe
from seismo.metrics.naming import segment_of
from seismo.words import NEUTRAL, Words

__all__ = [
    "CellTest",
    "DetectConfig",
    "Series",
    "detect_changes",
    "directions",
    "dispersions",
    "findings_of",
    "minimum_effect",
    "scan_series",
    "series_of",
    "tests_of",
]


@dataclass(frozen=True, kw_only=True)
class DetectConfig:
    """Knobs of the detector (``[detect]`` in the check's TOML); defaults suit most stores."""

    #: Expected false alerts per 90 days for the whole store, every cell and look counted.
    false_alarms_per_90_days: float = 1.0
    #: The run of days a change is scanned over (and that the budget is calibrated for) ...
    window_days: int = 28
    #: ... reaching further back over days whose truth is still arriving, up to this many:
    #: a default rate whose labels take months keeps gaining evidence on days long past.
    max_window_days: int = 120
    baseline: Literal["deployment", "trailing"] = "deployment"
    baseline_days: int = 14
    min_relative: float = 0.2
    min_absolute: dict[str, float] = field(
        default_factory=lambda: {"share": 0.01, "amount": 0.0, "score": 0.02}
    )
    min_n: int = 100
    #: A day is judged once this share of its expected final outcomes has been seen.
    min_maturity: float = 0.5
    #: Critical: as clear as a budget this many times smaller would demand.
    critical_factor: float = 100.0
    adverse_only: bool = True
    #: Watch pairs of segment attributes (age group × region) too.
    pairs: bool = True
    #: Also test a classifier's days on the labels in so far, beside their label-free
    #: estimates (:func:`labelled_view`): what finds a change the scores cannot show.
    labelled_so_far: bool = True
    #: A fairness gap must move by this much (absolute, for shares) and this share of the
    #: value of everyone else: a new collection nudging everyone's mix is not a fairness issue.
    gap_min_absolute: float = 0.05
    gap_min_relative: float = 0.25
    #: Root-cause attribution: a segment's change is explained by another's when what is
    #: left without it is no longer clear at this (two-sided, per test) level.
    explain_alpha: float = 0.0005
    #: Which way each metric (or every rate of an outcome) is worse, as the model declares
    #: in ``[words.better]``: ``higher``, ``lower`` or ``either`` (:mod:`seismo.detect.adverse`).
    better: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.false_alarms_per_90_days > 0:
            raise ValueError("false_alarms_per_90_days must be positive")
        if self.window_days < 1 or self.baseline_days < 1:
            raise ValueError("window_days and baseline_days must be at least 1")
        if self.max_window_days < self.window_days:
            raise ValueError("max_window_days must be at least window_days")
        if not 0.0 <= self.min_maturity <= 1.0:
            raise ValueError("min_maturity must lie between 0 and 1")
        for name, way in self.better.items():
            if way not in ("higher", "lower", "either"):
                raise ValueError(
                    f"better.{name} must be 'higher', 'lower' or 'either', not {way!r}"
                )
        if self.baseline not in ("deployment", "trailing"):
            raise ValueError(f"baseline must be 'deployment' or 'trailing', not {self.baseline!r}")

    def rate(self, cells: int) -> float:
        """The new-alarm rate each of ``cells`` may have per daily look."""
        return min(0.5, self.false_alarms_per_90_days / (90.0 * max(cells, 1)))

    def thresholds(self, cells: int, days: int | None = None) -> tuple[float, float]:
        """(alarm, critical) thresholds on the standardised shift for ``cells`` watched.

        ``days``: the days a cell's scan covers (fewer candidate change days,
        a lower threshold; more, a higher one); by default ``window_days``.
        """
        rate = self.rate(cells)
        window = min(self.max_window_days, days or self.window_days)
        return threshold(rate, window), threshold(rate / self.critical_factor, window)


_Key = tuple[str, str | None, str | None, str | None]

#: Metrics a small sample biases (an expected calibration error is larger on fewer
#: labels, a ratio of means too): on the few labels of a young day they would "worsen".
_SIZE_BIASED = ("calibration_error", "calibration_in_the_large")
#: A day is weighed on its labels so far once this share of its rows is labelled: the
#: first few labels are the quickest of each class, and how much quicker one class is
#: than the other (what weighs them back) is least sure at the youngest ages.
_MIN_LABELLED = 0.1
#: The test of a classifier cell's days on the labels in so far (:func:`labelled_view`).
LABELLED_TEST = "sequential GLR test on the labels in so far"


@dataclass
class Series:
    """One cell's days, split into baseline and the days scanned for a change."""

    key: _Key
    base: list[dict[str, Any]]
    days: list[dict[str, Any]]
    #: Judged days after the baseline and before the scanned ones: where a change that
    #: began before the window is traced back to (its ``since``), not tested on.
    earlier: list[dict[str, Any]] = field(default_factory=list)
    #: ``estimate``: each day's estimate of its final value; ``labelled``: a classifier's
    #: realised value on the labels in so far (:func:`labelled_view`).
    view: str = "estimate"

    @property
    def row(self) -> dict[str, Any]:
        return (self.days or self.base)[-1]


def directions(metric: str, unit: str, kind: str, config: DetectConfig) -> tuple[int, ...]:
    """Signs of the changes worth an alert: -1 a fall, +1 a rise.

    >>> c = DetectConfig()
    >>> directions("click_through_rate", "share", "quality", c)
    (-1,)
    >>> directions("return_rate", "share", "quality", DetectConfig(better={"return": "lower"}))
    (1,)
    >>> directions("demand_bias", "score", "quality", c)
    (-1, 1)
    """
    if kind != "quality" or not config.adverse_only:
        return (-1, 1)
    if two_sided(metric, config.better):
        return (-1, 1)
    return (1,) if worse_when_up(metric, config.better) else (-1,)


def _mature(r: dict[str, Any], config: DetectConfig) -> bool:
    """Is the day judged: final, or enough of its outcomes in, or estimated without them?

    A model-quality estimate from the scores alone (CBPE, calibrated on mature
    labels) needs no label to arrive: its interval is its uncertainty, and it
    is judged from the first day, as NannyML does. It cannot see a change in
    the relation between scores and outcomes, which the labels show once in.
    """
    if r["final"]:
        return True
    estimator = r.get("estimator") or ""
    n = r["n"] or 0
    if "cbpe" in estimator:  # its observed value is the metric on the labels so far
        if "uncalibrated" not in estimator:
            return True
        return bool(n and (r["confirmed_n"] or 0) / n >= config.min_maturity)
    est, seen = r.get("estimate"), r.get("observed_value")
    if est is not None and seen is not None and est > 0:
        return bool(seen / est >= config.min_maturity)
    return bool(n and (r["confirmed_n"] or 0) / n >= config.min_maturity)


def _by_cell(table: pa.Table) -> dict[_Key, list[dict[str, Any]]]:
    by: dict[_Key, list[dict[str, Any]]] = defaultdict(list)
    for r in table.to_pylist():
        if r["estimate"] is None or not r["n"] or not math.isfinite(r["estimate"]):
            continue
        by[(r["metric"], r["attribute"], r["value"], r["model_version"])].append(r)
    for rows in by.values():
        rows.sort(key=lambda r: r["window_start"])
    return by


def labelled_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A classifier cell's days on the labels in so far (None: the cell is not estimated).

    A label-free estimate (CBPE) fills each pending label with the probability
    its score implies: it sees a drop that the scores show (the inputs moved),
    never one in how outcomes follow scores (a default rate tripling at the
    same scores). Days a few weeks old hold some labels already; their
    realised value (``observed_value``, each class weighed back to its final
    share when one class's labels come sooner: :mod:`seismo.metrics.label_delays`),
    counted as ``n`` = the labels in, gathers the evidence a CUSUM on arriving
    labels would, while the estimate dilutes it with the pending rows'
    unchanged expectation. Settled days are kept as they are; days with fewer
    than a tenth of their rows labelled are left out. An event outcome's rows
    (a click) carry no such value: its negatives are known only once its
    window closes.

    >>> day = {"metric": "default_accuracy", "final": False, "estimator": "realized+cbpe",
    ...        "n": 500, "confirmed_n": 60, "observed_value": 0.8, "estimate": 0.9,
    ...        "estimate_low": 0.88, "estimate_high": 0.92, "std_error": 0.01}
    >>> [(r["n"], r["estimate"], round(r["std_error"], 4)) for r in labelled_view([day])]
    [(60, 0.8, 0.0289)]
    >>> labelled_view([{**day, "estimator": "nowcast"}]) is None
    True
    """
    estimated = any("cbpe" in (r.get("estimator") or "") for r in rows)
    if not estimated or rows[0]["metric"].endswith(_SIZE_BIASED):
        return None
    if all(r.get("observed_value") is None for r in rows if not r["final"]):
        return None
    out = []
    for r in rows:
        if r["final"]:
            out.append(r)
        elif r["confirmed_n"] >= _MIN_LABELLED * r["n"] and r.get("observed_value") is not None:
            se = r.get("std_error")  # of the final value, over all its rows
            if se is not None:
                se = float(se) * math.sqrt(max(float(r["n"]), 1.0) / float(r["confirmed_n"]))
            out.append(
                {
                    **r,
                    "estimate": r["observed_value"],
                    "n": r["confirmed_n"],
                    "estimate_low": None,
                    "estimate_high": None,
                    "std_error": se,  # over the labels in
                    "estimator": "labelled so far",
                }
            )
    return out


def series_of(
    table: pa.Table, cut: datetime, config: DetectConfig, *, labelled: bool = True
) -> list[Series]:
    """Every cell's baseline and scanned days as of ``cut`` (complete, judged days only).

    ``labelled``: a classifier cell estimated from its scores has a second
    series, its days on the labels in so far (:func:`labelled_view`).
    """
    cells: dict[tuple[_Key, str], list[dict[str, Any]]] = {
        (k, "estimate"): rows for k, rows in _by_cell(table).items()
    }
    if labelled:
        for (key, _), rows in list(cells.items()):
            so_far = labelled_view(rows)
            if so_far:
                cells[(key, "labelled")] = so_far
    firsts: dict[str | None, datetime] = {}
    for ((_, _, _, version), _), rows in cells.items():
        first = rows[0]["window_start"]
        firsts[version] = min(firsts.get(version, first), first)
    out = []
    for (key, view), rows in cells.items():
        judged = [
            r for r in rows if r["window_end"] <= cut and (view != "estimate" or _mature(r, config))
        ]
        earlier: list[dict[str, Any]] = []
        if config.baseline == "deployment":
            limit = firsts[key[3]] + timedelta(days=config.baseline_days)
            base = [r for r in judged if r["window_end"] <= limit]
            after = [r for r in judged if r["window_start"] >= limit]
            span = _span(after, config)
            days, earlier = after[-span:], after[:-span]
        else:
            days = judged[-_span(judged, config) :]
            start = days[0]["window_start"] if days else cut
            lo = start - timedelta(days=config.baseline_days)
            base = [r for r in judged if lo <= r["window_start"] < start]
        if base and days:
            out.append(Series(key, base, days, earlier, view))
    return out


def _span(rows: list[dict[str, Any]], config: DetectConfig) -> int:
    """How many of the newest days are scanned: ``window_days``, and every day not yet final.

    A day whose truth is still arriving can still show a change that began on
    it, so it stays in the scan (up to ``max_window_days``); with outcomes known
    within days this is the plain window.

    >>> config = DetectConfig(window_days=3, max_window_days=5)
    >>> _span([{"final": f} for f in [True] * 4 + [False] * 2], config)
    3
    >>> _span([{"final": f} for f in [False] * 8], config)
    5
    """
    pending = next((i for i, r in enumerate(reversed(rows)) if r["final"]), len(rows))
    return max(1, min(max(config.window_days, pending), config.max_window_days))


def _day_variance(
    r: dict[str, Any], rate: float | None = None, per_row: float | None = None
) -> float:
    """A day's variance: sampling (at ``rate`` for a share if given) or its nowcast's, the larger.

    ``per_row``: for a metric that is not a share, the variance of one row
    under "no change" (from the baseline days); the day's sampling variance is
    then at least ``per_row / n``, so a day that dips for want of its rare
    large values (an expensive purchase) does not look surer the lower it dips.

    >>> day = {"n": 400, "estimate": 0.2, "unit": "share", "estimate_low": 0.15}
    >>> round(_day_variance({**day, "estimate_high": 0.25}) * 1e4, 3)  # the nowcast's
    9.239
    >>> round(_day_variance({**day, "estimate_high": None}) * 1e4, 3)  # binomial
    4.0
    """
    n = max(float(r["n"]), 1.0)
    low, high = r.get("estimate_low"), r.get("estimate_high")
    interval = 0.0
    if low is not None and high is not None:
        interval = ((float(high) - float(low)) / (2 * 1.645)) ** 2
    se = r.get("std_error")
    if r.get("unit") == "share" and (se is None or rate is not None):
        v = float(r["estimate"] if rate is None else rate)
        sampling = max(v * (1 - v), 1.0 / n) / n
    elif se is not None and math.isfinite(se) and se > 0:
        sampling = max(float(se) ** 2, (per_row or 0.0) / n)
    elif se is None and per_row:
        sampling = per_row / n  # a day without its own error: the baseline's per row
    else:
        return math.nan  # no sampling error known: such a metric cannot be tested
    return max(sampling, interval)


def _pearson(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """Pearson's statistic of the daily values around their pooled mean, and its df."""
    if len(rows) < 3:
        return 0.0, 0
    n = np.array([float(r["n"]) for r in rows])
    v = np.array([float(r["estimate"]) for r in rows])
    var = np.array([_day_variance(r) for r in rows])
    if not np.all(np.isfinite(var)) or np.any(var <= 0):
        return 0.0, 0
    mean = float((n * v).sum() / n.sum())
    return float(((v - mean) ** 2 / var).sum()), len(rows) - 1


def _dispersion(rows: list[dict[str, Any]]) -> float:
    """Pearson dispersion of the daily values around their pooled mean (at least 1).

    >>> days = [{"n": 100, "estimate": v, "unit": "share"} for v in (0.2, 0.3, 0.1, 0.4)]
    >>> round(_dispersion(days), 2)
    12.38
    """
    stat, df = _pearson(rows)
    return max(1.0, stat / df) if df else 1.0


def dispersions(series: list[Series]) -> dict[_Key, float]:
    """Each cell's overdispersion, its own estimate shrunk toward its metric's.

    Fourteen baseline days estimate a dispersion with a standard error of
    about 0.4; taken alone, and never below 1, the estimate inflates a
    binomial metric's variance by some 15% on average, which costs power for
    nothing. A metric's cells share most of what makes days vary (weekdays,
    campaigns, the catalog), so each cell's estimate is pooled with its
    metric's (worth twice its own days).

    >>> days = lambda *v: [{"n": 100, "estimate": x, "unit": "share"} for x in v]
    >>> a = Series(("m", "g", "a", None), days(0.2, 0.3, 0.1, 0.4), [])
    >>> b = Series(("m", "g", "b", None), days(0.2, 0.21, 0.19, 0.2), [])
    >>> {k[2]: round(v, 2) for k, v in dispersions([a, b]).items()}
    {'a': 8.26, 'b': 4.15}
    """
    # a cell's labelled view (same baseline, mostly) takes its estimate's dispersion
    own = {s.key: _pearson(s.base) for s in series if s.view == "estimate"}
    own |= {s.key: _pearson(s.base) for s in series if s.key not in own}
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, (stat, df) in own.items():
        totals[key[0]][0] += stat
        totals[key[0]][1] += df
    out = {}
    for key, (stat, df) in own.items():
        pooled_stat, pooled_df = totals[key[0]]
        metric = pooled_stat / pooled_df if pooled_df else 1.0
        out[key] = max(1.0, (stat + 2 * df * metric) / (3 * df)) if df else max(1.0, metric)
    return out


@dataclass(frozen=True)
class Side:
    """One side of a comparison: an n-weighted value over days, with its own variance."""

    value: float
    var: float
    n: float
    start: datetime
    end: datetime

    @classmethod
    def pooled(cls, rows: list[dict[str, Any]], phi: float = 1.0) -> Side:
        n = np.array([float(r["n"]) for r in rows])
        x = np.array([float(r["estimate"]) for r in rows])
        var = np.array([_day_variance(r) for r in rows])
        total = float(n.sum())
        return cls(
            float((n * x).sum() / total),
            float((n * n * var).sum() / (total * total)) * phi,
            total,
            rows[0]["window_start"],
            rows[-1]["window_end"],
        )


@dataclass(frozen=True)
class CellTest:
    """The strongest change found in one cell and direction."""

    series: Series
    sign: int
    scan: Scan | None
    base: Side
    current: Side | None
    material: bool = True
    evidence: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # of the values reported, when not the scanned series' own


def minimum_effect(
    metric: str, unit: str, baseline: float, config: DetectConfig, scale: float | None = None
) -> float:
    """The smallest change of ``metric`` from ``baseline`` worth an alert.

    Business rates and errors: ``min_relative`` of the baseline (of ``scale``
    when given: a bias is measured against the typical error, its own baseline
    being about 0), at least ``min_absolute`` for the unit. Bounded quality
    scores (accuracy, AUC, ...): ``min_absolute["score"]`` points. A ratio of
    predicted to observed rate: 0.1.

    >>> c = DetectConfig()
    >>> minimum_effect("click_through_rate", "share", 0.23, c)
    0.046000000000000006
    >>> minimum_effect("default_accuracy", "score", 0.92, c)
    0.02
    >>> minimum_effect("units_bias", "score", 0.01, c, scale=12.0)
    2.4000000000000004
    """
    if metric.endswith(IN_POINTS):
        return config.min_absolute.get("score", 0.0)
    if metric.endswith("calibration_in_the_large"):
        return 0.1
    reference = abs(baseline if scale is None else scale)
    return max(config.min_relative * reference, config.min_absolute.get(unit, 0.0))


def scan_series(
    s: Series,
    config: DetectConfig,
    kind: str,
    *,
    min_effect: float | None = None,
    phi: float | None = None,
    scale: float | None = None,
) -> list[CellTest]:
    """The GLR scan of one cell, in each direction worth an alert (none when untestable).

    ``min_effect``: the smallest shift worth reporting (default: ``min_relative``
    of the baseline value and ``min_absolute`` for the metric's unit).
    ``phi``: the cell's overdispersion (default: from its own baseline days).
    ``scale``: what a relative minimum effect is relative to (default: the baseline).
    """
    base_var = [_day_variance(r) for r in s.base]
    if not all(math.isfinite(v) and v > 0 for v in base_var):
        return []
    phi = _dispersion(s.base) if phi is None else phi
    base = Side.pooled(s.base, phi)
    if base.n < config.min_n:
        return []
    row = s.row
    unit = row["unit"]
    # The variances of "no change": a share's sampling variance at the baseline rate, so a
    # day that dips by chance is not judged more certain the lower it dips.
    rate = base.value if unit == "share" else None
    per_row = None
    if rate is None:
        n_base = np.array([float(r["n"]) for r in s.base])
        per_row = float((n_base * n_base * np.array(base_var)).sum() / n_base.sum())
    days = _values(s.days, rate, per_row, phi)
    if days is None:
        return []
    x, v = days
    base_null = Side.pooled(s.base, phi) if rate is None else _at_rate(s.base, rate, phi)
    out = []
    for sign in directions(row["metric"], unit, kind, config):
        found = scan(
            x,
            v,
            base.value,
            base_null.var,
            sign=sign,
            window=len(x),
            binomial=unit == "share",
            min_effect=(
                minimum_effect(row["metric"], unit, base.value, config, scale)
                if min_effect is None
                else min_effect
            ),
        )
        current = None
        if found is not None:
            rows = s.days[found.start :]
            if found.start == 0 and s.earlier:
                rows = _traced_back(s, rows, rate, per_row, phi, base, base_null.var, sign)
            current = Side.pooled(rows, phi)
            if current.n < config.min_n:
                found = None
        out.append(CellTest(s, sign, found, base, current))
    return out


def _values(
    rows: list[dict[str, Any]], rate: float | None, per_row: float | None, phi: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The days' values and their variances under "no change" (None: a day cannot be weighed)."""
    v = np.array([_day_variance(r, rate, per_row) for r in rows]) * phi
    if not np.all(np.isfinite(v) & (v > 0)):
        return None
    return np.array([float(r["estimate"]) for r in rows]), v


def _traced_back(
    s: Series,
    rows: list[dict[str, Any]],
    rate: float | None,
    per_row: float | None,
    phi: float,
    base: Side,
    base_var: float,
    sign: int,
) -> list[dict[str, Any]]:
    """The days since a change that was already under way on the first scanned day.

    The scan is calibrated on the last ``window_days`` days, so its change day is
    at best the first of them; when the days before hold the same shift, the
    change began earlier. The same statistic over every judged day since the
    baseline says where: its best change day, if that lies before the window.
    The alarm itself stays the window's (the budget is calibrated for it).
    """
    every = s.earlier + s.days
    days = _values(every, rate, per_row, phi)
    if days is None:
        return rows
    x, v = days
    back = scan(x, v, base.value, base_var, sign=sign, window=len(every), binomial=rate is not None)
    if back is None or back.start >= len(s.earlier):
        return rows
    return every[back.start :]


def _at_rate(rows: list[dict[str, Any]], rate: float, phi: float) -> Side:
    n = np.array([float(r["n"]) for r in rows])
    var = np.array([_day_variance(r, rate) for r in rows])
    total = float(n.sum())
    return Side(
        rate,
        float((n * n * var).sum() / (total * total)) * phi,
        total,
        rows[0]["window_start"],
        rows[-1]["window_end"],
    )


def tests_of(table: pa.Table, cut: datetime, config: DetectConfig, kind: str) -> list[CellTest]:
    """The scan of every cell of a metric table, in each direction worth an alert."""
    series = series_of(table, cut, config, labelled=config.labelled_so_far)
    phi = dispersions(series)
    typical = _typical_errors(series)
    return [
        t
        for s in series
        for t in scan_series(s, config, kind, phi=phi[s.key], scale=typical.get(s.key))
    ]


def _typical_errors(series: list[Series]) -> dict[_Key, float]:
    """For each ``<outcome>_bias`` cell, the baseline MAE of the same outcome and cell."""
    mae = {}
    for s in series:
        metric, attribute, value, version = s.key
        if metric.endswith("_mae"):
            mae[(metric.removesuffix("_mae"), attribute, value, version)] = s.base
    out = {}
    for s in series:
        metric, attribute, value, version = s.key
        base = mae.get((metric.removesuffix("_bias"), attribute, value, version))
        if metric.endswith("_bias") and base:
            out[s.key] = Side.pooled(base).value
    return out


def detect_changes(
    table: pa.Table,
    *,
    cut: datetime,
    config: DetectConfig | None = None,
    kind: str = "quality",
    watched: int | None = None,
    words: Words = NEUTRAL,
) -> list[Finding]:
    """Findings for every metric × segment whose days since some day clearly moved from baseline.

    ``watched`` is the number of cells × directions the budget is spread over
    (by default those tested here; a check testing several tables passes its
    total so that every table answers to the same budget).
    """
    config = config or DetectConfig()
    tests = tests_of(table, cut, config, kind)
    return findings_of(tests, cut, config, kind, watched=watched or len(tests), words=words)


def findings_of(
    tests: list[CellTest],
    cut: datetime,
    config: DetectConfig,
    kind: str,
    *,
    watched: int,
    label: str = "sequential GLR test on nowcast-weighted days",
    evidence: dict[str, Any] | None = None,
    words: Words = NEUTRAL,
) -> list[Finding]:
    """The tests that pass the store's threshold and are material, as findings.

    ``words``: the model's vocabulary the messages are written in.
    """
    out: dict[str, tuple[float, Finding]] = {}
    for t in tests:
        if t.scan is None or t.current is None or not t.material:
            continue
        days = len(t.series.days)
        alarm, critical = config.thresholds(watched, days)
        if t.scan.z < alarm:
            continue
        metric, attribute, value, _ = t.series.key
        row = t.series.row
        z = t.scan.z
        daily = onset_rate(z, days) * watched
        severity: Severity = "critical" if z >= critical else "warning"
        direction: Literal["up", "down"] = "up" if t.sign > 0 else "down"
        finding = Finding(
            kind=kind,
            metric=metric,
            metric_label=row["label"],
            segment=segment_of(attribute, value),
            direction=direction,
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
            since=t.current.start,
            test=label if t.series.view == "estimate" else LABELLED_TEST,
            statistic=z,
            p_value=float(ndtr(-z)),
            adjusted_p=min(1.0, daily),
            n_baseline=int(t.base.n),
            n_current=int(t.current.n),
            message="",
            action=action_for(kind, metric, direction, config.better),
            as_of=cut,
            unit=t.unit or row["unit"],
            evidence={
                **(evidence or {}),
                **t.evidence,
                "false_alarms_per_90_days": config.false_alarms_per_90_days,
                "watched": watched,
                "threshold": round(alarm, 3),
                "window_days": (t.current.end - t.current.start).days,
                "days_scanned": len(t.series.days),
                "false_alarms_per_90_days_this_strong": daily * 90,
                "basis": t.series.view,
            },
        )
        strength = z / alarm
        if finding.key in out and out[finding.key][0] >= strength:
            continue  # the cell's other view (estimate or labels so far) is clearer
        out[finding.key] = (strength, replace(finding, message=describe(finding, words)))
    found = [f for _, f in out.values()]
    found.sort(key=lambda f: (f.severity != "critical", f.adjusted_p, f.key))
    return found
