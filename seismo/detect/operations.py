"""Operations rules: slow serving, failing requests, traffic that drops or spikes, versions.

The monitoring seed's first layer, as default rules (``[operations]`` in the
check's TOML changes them):

- **latency**: the P95 over 2× its normal (warning) or 3× (critical), normal
  being the median P95 of the same hour of day over the previous 7 days;
- **errors**: the error rate over 1 % (warning) or 5 % (critical), and over
  its own normal (the pooled rate of the previous 7 days);
- **volume**: predictions per hour 50 % below or above the same hour of the
  week in previous weeks (warning), 80 % (critical: "no predictions");
- **versions**: a model version's share of traffic over the last day moving
  by 20 points or more against the 7 days before (a rollout, a rollback, an
  old model taking traffic again).

Each rule is judged on every complete hour of the last ``lookback_hours``
(24: what a daily check covers; a check every 15 minutes sees the same
hours again and keeps the same alert), and must be *sure*: a one-sided
binomial test says whether more than 5 % of the hour's requests were slower
than the multiple of the normal P95 (which is what a P95 above it means), or
whether the error rate is above the level; volume is a z-test on the
overdispersed count; the share change a two-proportion test. A window counts
when its p-value is under ``alpha`` (1e-6 a look: a month of clean hours
raises nothing). A finding covers the latest run of consecutive breaching
hours: ``since`` is its first hour, ``window_end`` the end of its last.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from scipy import stats

from seismo.detect.findings import Finding, Severity
from seismo.errors import ConfigError
from seismo.locale import formatter_for
from seismo.store.read import Store
from seismo.words import NEUTRAL, Words

__all__ = ["OperationsRules", "judged_since", "load_operations_rules", "operations_findings"]

HOUR = timedelta(hours=1)
#: Once a run of failing hours is established, the level its hours reach together is
#: judged at this (one-sided) level: a warning becomes critical on the run's own evidence.
_UPGRADE = 1e-3


@dataclass(frozen=True, kw_only=True)
class OperationsRules:
    """The operations rules' levels (``[operations]`` in the check's TOML)."""

    latency: str = "latency_p95"
    latency_warning: float = 2.0
    latency_critical: float = 3.0
    error_warning: float = 0.01
    error_critical: float = 0.05
    volume_warning: float = 0.5
    volume_critical: float = 0.8
    share_change: float = 0.2
    lookback_hours: int = 24
    alpha: float = 1e-6
    #: A window's normal must rest on this many past windows.
    min_history: int = 3

    def __post_init__(self) -> None:
        if self.latency not in ("latency_p50", "latency_p95", "latency_p99"):
            raise ConfigError(f"operations.latency must be latency_p50/p95/p99: {self.latency!r}")
        if not 1 < self.latency_warning <= self.latency_critical:
            raise ConfigError("operations: 1 < latency_warning <= latency_critical")
        if not 0 < self.error_warning <= self.error_critical < 1:
            raise ConfigError("operations: 0 < error_warning <= error_critical < 1")
        if not 0 < self.volume_warning <= self.volume_critical <= 1:
            raise ConfigError("operations: 0 < volume_warning <= volume_critical <= 1")
        if not 0 < self.share_change < 1 or not 0 < self.alpha < 0.5:
            raise ConfigError("operations: share_change in (0, 1) and alpha in (0, 0.5)")
        if self.lookback_hours < 1 or self.min_history < 1:
            raise ConfigError("operations: lookback_hours and min_history must be >= 1")

    @property
    def quantile(self) -> float:
        return {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}[self.latency]


def judged_since(cut: datetime, rules: OperationsRules) -> datetime:
    """The first window the rules read: the judged hours and the week a share is compared with.

    >>> judged_since(datetime(2026, 6, 10), OperationsRules())
    datetime.datetime(2026, 6, 2, 0, 0)
    """
    return cut - timedelta(hours=rules.lookback_hours) - timedelta(days=7)


def load_operations_rules(path: str | Path | None) -> OperationsRules:
    """The ``[operations]`` table of a check's TOML (defaults without one)."""
    if path is None:
        return OperationsRules()
    try:
        data = tomllib.loads(Path(path).read_text()).get("operations", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    known = {f.name for f in fields(OperationsRules)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown [operations] key(s) {unknown}; known: {sorted(known)}")
    return OperationsRules(**data)


def operations_findings(
    table: pa.Table,
    store: Store | None,
    *,
    cut: datetime,
    rules: OperationsRules | None = None,
    words: Words = NEUTRAL,
) -> list[Finding]:
    """Findings from an hourly operations table (``compute_operations``, period ``hour``).

    Only the aggregate rows (no segment) are judged. ``store`` is read to count
    the requests slower than a multiple of the normal latency in the hours that
    look slow (none on a clean day); without it the latency rule is skipped.
    """
    rules = rules or OperationsRules()
    start = cut - rules.lookback_hours * HOUR
    rows = [r for r in table.to_pylist() if r["attribute"] is None and r["final"]]
    cells: dict[tuple[str, Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if r["window_start"] >= start and r["window_end"] - r["window_start"] == HOUR:
            cells.setdefault((r["metric"], r["model_name"], r["model_version"]), []).append(r)
    out: list[Finding] = []
    for (metric, _, _), series in sorted(cells.items(), key=lambda c: str(c[0])):
        series.sort(key=lambda r: r["window_start"])
        if metric == rules.latency and store is not None:
            out += _latency(series, store, cut, rules, words)
        elif metric == "error_rate":
            out += _errors(series, cut, rules, words)
        elif metric == "volume":
            out += _volume(series, cut, rules, words)
    out += _shares(rows, start, cut, rules, words)
    return out


# -- the rules ---------------------------------------------------------------------------


def _judged(series: list[dict[str, Any]], rules: OperationsRules) -> list[dict[str, Any]]:
    return [
        r
        for r in series
        if r["expected"] is not None
        and math.isfinite(r["expected"])
        and (r["history"] or 0) >= rules.min_history
    ]


def _latest_run(
    marks: list[tuple[dict[str, Any], Severity | None, float]],
    lax: set[datetime] | None = None,
) -> Any:
    """The latest run of consecutive breaching hours: (rows, worst severity, smallest p).

    ``lax``: hours that breach at the looser level of :data:`_UPGRADE`; once a run is
    established, the hours just before it that do are its start (the first hour of
    an incident holds fewer of its requests, so the run is dated from when it began).
    """
    run: list[tuple[dict[str, Any], Severity, float]] = []
    before: list[dict[str, Any]] = []
    for row, severity, p in reversed(marks):
        if run and run[-1][0]["window_start"] - row["window_start"] != HOUR:
            break
        if severity is None:
            if run and lax and row["window_start"] in lax:
                before.append(row)
                run.append((row, "warning", p))
                continue
            if run:
                break
            continue
        if before:  # a strict hour after lax ones: they are inside the run
            before = []
        run.append((row, severity, p))
    if not run:
        return None
    run.reverse()
    worst: Severity = "critical" if any(s == "critical" for _, s, _ in run) else "warning"
    return [r for r, _, _ in run], worst, min(p for _, _, p in run)


def _slow_counts(
    store: Store, rows: list[dict[str, Any]], factor: float
) -> dict[datetime, tuple[int, int]]:
    """Per hour: requests with a latency, and those slower than ``factor`` × the normal."""
    if not rows:
        return {}
    r0 = rows[0]
    limits = ibis.memtable(
        pa.table(
            {
                "window_start": pa.array([r["window_start"] for r in rows], pa.timestamp("us")),
                "limit_ms": pa.array([factor * r["expected"] for r in rows], pa.float64()),
            }
        )
    )
    p = store.predictions()
    p = p.filter(
        (p.served_at >= min(r["window_start"] for r in rows))
        & (p.served_at < max(r["window_end"] for r in rows))
        & (p.model_name == r0["model_name"])
        & p.latency_ms.notnull()
    )
    if r0["model_version"] is not None:
        p = p.filter(p.model_version == r0["model_version"])
    p = p.mutate(hour=p.served_at.truncate("h"))
    joined = p.join(limits, p.hour == limits.window_start)
    counted = joined.group_by(joined.hour).aggregate(
        n=joined.count(), slow=ibis.ifelse(joined.latency_ms > joined.limit_ms, 1, 0).sum()
    )
    return {r["hour"]: (int(r["n"]), int(r["slow"] or 0)) for r in counted.to_pyarrow().to_pylist()}


def _latency(
    series: list[dict[str, Any]], store: Store, cut: datetime, rules: OperationsRules, words: Words
) -> list[Finding]:
    judged = _judged(series, rules)
    tail = 1 - rules.quantile
    # only hours whose quantile already reads over the level are counted in the engine
    slow = [r for r in judged if r["figure"] >= rules.latency_warning * r["expected"]]
    if not slow:
        return []
    warn = _slow_counts(store, slow, rules.latency_warning)
    crit = _slow_counts(store, slow, rules.latency_critical)
    marks: list[tuple[dict[str, Any], Severity | None, float]] = []
    lax: set[datetime] = set()
    for r in judged:
        severity: Severity | None = None
        p = 1.0
        for level, counts, name in (
            (rules.latency_critical, crit, "critical"),
            (rules.latency_warning, warn, "warning"),
        ):
            n, k = counts.get(r["window_start"], (0, 0))
            if n and r["figure"] >= level * r["expected"]:
                p_level = float(stats.binom.sf(k - 1, n, tail))
                if p_level < rules.alpha:
                    severity, p = name, p_level  # type: ignore[assignment]
                    break
                if name == "warning" and p_level < _UPGRADE:
                    lax.add(r["window_start"])
        marks.append((r, severity, p))
    run = _latest_run(marks, lax)
    if run is None:
        return []
    rows, severity, p = run
    level = rules.latency_critical if severity == "critical" else rules.latency_warning
    worst = max(rows, key=lambda r: r["figure"] / r["expected"])
    ratio = worst["figure"] / worst["expected"]
    label = f"P{round(rules.quantile * 100)} latency"
    fmt = formatter_for(words)
    message = (
        f"{label} of {_served(worst, words)} rose to {fmt.decimal(worst['figure'], 0)} ms,"
        f" {fmt.decimal(ratio, 1)} times its normal {fmt.decimal(worst['expected'], 0)} ms"
        f" for this hour of the day, {_when(rows, cut, words)}."
    )
    action = (
        "Serving is slow: check the serving system's health (a cache that expired, a slow "
        "dependency or database, a traffic surge, a new release or instance type) and roll "
        "back what changed; users wait for every slow answer."
    )
    return [
        _finding(
            rows,
            worst,
            severity,
            p,
            cut,
            rules.latency,
            label,
            "ms",
            message,
            action,
            test=f"binomial: share of requests slower than {level:g}x normal vs {tail:.0%}",
            extra={"ratio": ratio},
        )
    ]


def _errors(
    series: list[dict[str, Any]], cut: datetime, rules: OperationsRules, words: Words
) -> list[Finding]:
    marks: list[tuple[dict[str, Any], Severity | None, float]] = []
    lax: set[datetime] = set()
    for r in series:
        n, k = int(r["n"]), int(r["events"])
        normal = r["expected"] if r["expected"] is not None and math.isfinite(r["expected"]) else 0
        severity: Severity | None = None
        p = 1.0
        for level, name in ((rules.error_critical, "critical"), (rules.error_warning, "warning")):
            bar = max(level, normal)
            p_level = float(stats.binom.sf(k - 1, n, bar)) if n and k else 1.0
            if k / max(n, 1) > bar and p_level < rules.alpha:
                severity, p = name, p_level  # type: ignore[assignment]
                break
            if name == "warning" and k / max(n, 1) > bar and p_level < _UPGRADE:
                lax.add(r["window_start"])
        marks.append((r, severity, p))
    run = _latest_run(marks, lax)
    if run is None:
        return []
    rows, severity, p = run
    n, k = sum(r["n"] for r in rows), sum(r["events"] for r in rows)
    normal = rows[0]["expected"] or 0.0  # before the run: its own hours are not normal
    worst = {**rows[0], "figure": k / n, "n": n, "events": k, "expected": normal}
    # the run's hours together may show what no single hour can: over the critical level
    bar = max(rules.error_critical, normal)
    pooled_p = float(stats.binom.sf(k - 1, n, bar))
    if severity == "warning" and k / n > bar and pooled_p < _UPGRADE:
        severity, p = "critical", pooled_p
    fmt = formatter_for(words)
    message = (
        f"{fmt.percent(k / n, 1)} of the requests for {_served(worst, words)} failed"
        f" ({fmt.decimal(k, 0)} of {fmt.decimal(n, 0)}), against {fmt.percent(normal, 2)}"
        f" normally, {_when(rows, cut, words)}."
    )
    action = (
        "Requests are failing: read the serving system's error logs for these hours (by "
        "status: timeouts point to a slow dependency, errors to bad inputs or a broken "
        "release), and roll back or fail over if it continues."
    )
    return [
        _finding(
            rows,
            worst,
            severity,
            p,
            cut,
            "error_rate",
            "Error rate",
            "share",
            message,
            action,
            test="binomial: errors vs the larger of the level and the normal rate",
        )
    ]


def _volume(
    series: list[dict[str, Any]], cut: datetime, rules: OperationsRules, words: Words
) -> list[Finding]:
    marks: list[tuple[dict[str, Any], Severity | None, float]] = []
    z_alpha = float(stats.norm.isf(rules.alpha / 2))
    for r in _judged(series, rules):
        e, x = r["expected"], r["figure"]
        half = (r["expected_high"] - e) if r["expected_high"] is not None else 0.0
        sd = half / 1.96 if half > 0 else math.sqrt(max(e, 1.0))
        change = (x - e) / e if e > 0 else 0.0
        z = (x - e) / sd if sd > 0 else 0.0
        severity: Severity | None = None
        if e >= 10 and abs(z) >= z_alpha:
            if abs(change) >= rules.volume_critical:
                severity = "critical"
            elif abs(change) >= rules.volume_warning:
                severity = "warning"
        marks.append((r, severity, float(2 * stats.norm.sf(abs(z)))))
    run = _latest_run(marks)
    if run is None:
        return []
    rows, severity, p = run
    x, e = sum(r["figure"] for r in rows), sum(r["expected"] for r in rows)
    up = x > e
    fmt = formatter_for(words)
    worst = {**rows[-1], "figure": x, "expected": e, "n": int(x)}
    message = (
        f"{words.predictions[:1].upper()}{words.predictions[1:]} served"
        f" {'rose' if up else 'fell'} to {fmt.decimal(x, 0)} against"
        f" {fmt.decimal(e, 0)} at the same hours of past weeks"
        f" ({'+' if up else '−'}{fmt.percent(abs(x / e - 1), 0)}), {_when(rows, cut, words)}."
    )
    action = (
        "Traffic spiked: check for bots, a campaign, retries from a client, or a caller sending "
        "everything twice; make sure serving keeps up."
        if up
        else "Traffic dropped: check that callers still reach the model (routing, a client "
        "release, a failing upstream service, a fallback serving instead of the model)."
    )
    return [
        _finding(
            rows,
            worst,
            severity,
            p,
            cut,
            "volume",
            "Prediction volume",
            "count",
            message,
            action,
            test="z-test on the hour's count vs the same hour of past weeks",
            direction="up" if up else "down",
        )
    ]


def _shares(
    rows: list[dict[str, Any]],
    start: datetime,
    cut: datetime,
    rules: OperationsRules,
    words: Words,
) -> list[Finding]:
    """A version whose share of the last day moved against the 7 days before."""
    per: dict[tuple[Any, Any], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        if r["metric"] != "traffic_share":
            continue
        when = "now" if r["window_start"] >= start else "before"
        if when == "before" and r["window_start"] < start - timedelta(days=7):
            continue
        per.setdefault((r["model_name"], r["model_version"]), {"now": [], "before": []})[
            when
        ].append(r)
    # each window's whole (the model's requests) is the same for every version: count it once
    wholes: dict[tuple[Any, str], dict[datetime, int]] = {}
    for (model, _), parts in per.items():
        for when, rs in parts.items():
            for r in rs:
                wholes.setdefault((model, when), {})[r["window_start"]] = round(r["n"])
    out = []
    for (model, version), parts in sorted(per.items(), key=lambda c: str(c[0])):
        n_now = sum(wholes.get((model, "now"), {}).values())
        n_before = sum(wholes.get((model, "before"), {}).values())
        k_now = sum(r["events"] for r in parts["now"])
        k_before = sum(r["events"] for r in parts["before"])
        if not n_now or not n_before:
            continue
        s_now, s_before = k_now / n_now, k_before / n_before
        pooled = (k_now + k_before) / (n_now + n_before)
        sd = math.sqrt(pooled * (1 - pooled) * (1 / n_now + 1 / n_before))
        z = (s_now - s_before) / sd if sd > 0 else 0.0
        p = float(2 * stats.norm.sf(abs(z)))
        if abs(s_now - s_before) < rules.share_change or p >= rules.alpha:
            continue
        half = s_before + (s_now - s_before) / 2
        moved = [
            r
            for r in sorted(parts["now"], key=lambda r: r["window_start"])
            if (r["figure"] - half) * (s_now - s_before) > 0
        ]
        rows_now = moved or parts["now"]
        fmt = formatter_for(words)
        up = s_now > s_before
        message = (
            f"Model version {version} now serves {fmt.percent(s_now, 0)} of"
            f" {words.predictions} against {fmt.percent(s_before, 0)} over the week before,"
            f" since {fmt.when(rows_now[0]['window_start'])}."
        )
        action = (
            "Check that the rollout or rollback of this version is intended (the deployment's "
            "traffic split, a canary left on, an old version taking traffic again)."
        )
        worst = {
            **rows_now[-1],
            "figure": s_now,
            "expected": s_before,
            "n": n_now,
            "expected_low": None,
            "expected_high": None,
        }
        out.append(
            _finding(
                rows_now,
                worst,
                "warning",
                p,
                cut,
                "traffic_share",
                f"Traffic share of {version}",
                "share",
                message,
                action,
                test="two-proportion z-test: last day vs the 7 days before",
                direction="up" if up else "down",
                n_baseline=n_before,
            )
        )
    return out


# -- words and the finding ------------------------------------------------------------


def _served(row: dict[str, Any], words: Words) -> str:
    version = row.get("model_version")
    what = words.predictions
    return f"{what} by {version}" if version else what


def _when(rows: list[dict[str, Any]], cut: datetime, words: Words) -> str:
    fmt = formatter_for(words)
    first, last = rows[0]["window_start"], rows[-1]["window_end"]
    if last >= cut:
        return f"since {fmt.when(first)}"
    hours = round((last - first) / HOUR)
    return f"for {hours} hour{'s' if hours != 1 else ''} from {fmt.when(first)} to {fmt.when(last)}"


def _finding(
    rows: list[dict[str, Any]],
    worst: dict[str, Any],
    severity: Severity,
    p: float,
    cut: datetime,
    metric: str,
    label: str,
    unit: str,
    message: str,
    action: str,
    *,
    test: str,
    direction: str = "up",
    n_baseline: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Finding:
    history = int(worst.get("history") or 0)
    segment = {"model_version": worst["model_version"]} if worst.get("model_version") else None
    return Finding(
        kind="operations",
        metric=metric,
        metric_label=label,
        segment=segment,
        direction=direction,  # type: ignore[arg-type]
        severity=severity,
        baseline=float(worst["expected"]),
        baseline_low=_float(worst.get("expected_low")),
        baseline_high=_float(worst.get("expected_high")),
        current=float(worst["figure"]),
        current_low=None,
        current_high=None,
        baseline_start=rows[0]["window_start"] - timedelta(days=7),
        baseline_end=rows[0]["window_start"],
        window_start=rows[0]["window_start"],
        window_end=rows[-1]["window_end"],
        since=rows[0]["window_start"],
        test=test,
        statistic=float(worst["figure"]) / float(worst["expected"]) if worst["expected"] else 0.0,
        p_value=p,
        adjusted_p=min(1.0, p * max(len(rows), 1)),
        n_baseline=n_baseline if n_baseline is not None else history,
        n_current=int(sum(r["n"] for r in rows)) if unit != "count" else int(worst["n"]),
        message=message,
        action=action,
        as_of=cut,
        unit=unit,
        evidence={
            "hours": len(rows),
            "ongoing": rows[-1]["window_end"] >= cut,
            "model_name": worst.get("model_name"),
            **(extra or {}),
        },
    )


def _float(v: Any) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)
