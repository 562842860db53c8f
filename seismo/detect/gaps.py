"""Fairness gaps: a group compared with everyone else, not with a total that contains it.

For every segment value and day, the *rest* of the population is the
aggregate minus the segment (``(N a - n x) / (N - n)``), and the gap is the
segment's value minus the rest's. The gap's daily series goes through the same
sequential scan and false-alarm budget as every quality metric
(:mod:`seismo.detect.change`): a gap that opens or widens against the
deployment baseline is a finding even when everyone's value moves too, and a
shift that moves every segment alike (a new collection changing everyone's
category mix) is not.

One more rule keeps the finding about the group it names: the group's *own*
value must carry the gap, moving the same way by at least half of the gap's
change. When one group's share of sustainable items falls from 46% to 16%, the
rest of the population falls with it (it contains that group), so every other
group's gap to the rest widens a little; their own values barely move, and no
finding says "rose from 30% to 32%, opening a gap".
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from seismo.detect.change import (
    CellTest,
    DetectConfig,
    Series,
    Side,
    _day_variance,
    dispersions,
    findings_of,
    scan_series,
    series_of,
)
from seismo.detect.findings import Finding

__all__ = ["GAP_TEST", "detect_gaps", "gap_tests"]

GAP_TEST = "sequential GLR test on the gap to everyone else"


def _rest(seg: dict[str, Any], everyone: dict[str, Any]) -> tuple[float, float, float] | None:
    """(value, variance, rows) of everyone outside the segment on one day."""
    n, big_n = float(seg["n"]), float(everyone["n"])
    rest_n = big_n - n
    if rest_n < 1:
        return None
    value = (big_n * float(everyone["estimate"]) - n * float(seg["estimate"])) / rest_n
    if seg["unit"] == "share":
        value = min(max(value, 0.0), 1.0)
        var = max(value * (1 - value), 1.0 / rest_n) / rest_n
    else:
        # Per-row variances from each side's variance of the mean; leaving out the
        # between-group term overstates the rest's spread, which errs on the quiet side.
        spread_all = _day_variance(everyone) * big_n
        spread_seg = _day_variance(seg) * n
        if not (math.isfinite(spread_all) and math.isfinite(spread_seg)):
            return None
        var = max(big_n * spread_all - n * spread_seg, spread_all) / rest_n / rest_n
    return value, var, rest_n


def _gap_rows(
    rows: list[dict[str, Any]], everyone: dict[datetime, dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        a = everyone.get(r["window_start"])
        rest = None if a is None else _rest(r, a)
        own = _day_variance(r)
        if rest is None or not math.isfinite(own):
            continue
        value, var, _ = rest
        out.append(
            {
                **r,
                "unit": "gap",
                "estimate": float(r["estimate"]) - value,
                "std_error": math.sqrt(own + var),
                "estimate_low": None,
                "estimate_high": None,
                "_rest": value,
                "_row": r,
            }
        )
    return out


def gap_tests(table: pa.Table, cut: datetime, config: DetectConfig, kind: str) -> list[CellTest]:
    """The scan of every segment's gap to the rest of the population, both ways."""
    all_series = series_of(table, cut, config)
    everyone = {
        (s.key[0], s.key[3]): {r["window_start"]: r for r in s.base + s.days}
        for s in all_series
        if s.key[1] is None
    }
    gaps: list[tuple[Series, float]] = []
    for s in all_series:
        metric, attribute, _, version = s.key
        days_of_all = everyone.get((metric, version))
        if attribute is None or days_of_all is None:
            continue
        gap = Series(s.key, _gap_rows(s.base, days_of_all), _gap_rows(s.days, days_of_all))
        if not gap.base or not gap.days:
            continue
        unit = s.row["unit"]
        rest_base = _pooled(gap.base, "_rest")
        gap.base[0]["_rest_base"] = rest_base
        minimum = max(
            config.gap_min_relative * abs(rest_base),
            config.gap_min_absolute if unit == "share" else 0.0,
        )
        gaps.append((gap, minimum))
    phi = dispersions([g for g, _ in gaps])
    return [
        _own_test(t, g.base[0]["_rest_base"])
        for g, minimum in gaps
        for t in scan_series(g, config, kind, min_effect=minimum, phi=phi[g.key])
    ]


def _pooled(rows: list[dict[str, Any]], key: str) -> float:
    return float(sum(r[key] * r["n"] for r in rows) / sum(r["n"] for r in rows))


def _own_test(t: CellTest, rest_base: float) -> CellTest:
    """The gap test, reported in the segment's own values; material only if they carry it."""
    base_rows = t.series.base
    own_base = _side(base_rows)
    unit = base_rows[0]["_row"]["unit"]
    if t.scan is None or t.current is None:
        return replace(t, base=own_base, current=None, unit=unit)
    rows = t.series.days[t.scan.start :]
    own_current = _side(rows)
    gap_change = t.scan.mean - t.base.value
    own_change = own_current.value - own_base.value
    carried = t.sign * own_change >= 0.5 * abs(gap_change)
    evidence = {
        "gap": True,
        "rest_baseline": rest_base,
        "rest_current": _pooled(rows, "_rest"),
        "gap_baseline": t.base.value,
        "gap_current": t.scan.mean,
    }
    return replace(
        t, base=own_base, current=own_current, material=carried, evidence=evidence, unit=unit
    )


def _side(rows: list[dict[str, Any]]) -> Side:
    return Side.pooled([r["_row"] for r in rows])


def detect_gaps(
    table: pa.Table,
    *,
    cut: datetime,
    config: DetectConfig | None = None,
    kind: str = "fairness",
    watched: int | None = None,
) -> list[Finding]:
    """Findings for segments whose gap to everyone else opened or widened since the baseline."""
    config = config or DetectConfig()
    tests = gap_tests(table, cut, config, kind)
    found = findings_of(
        tests,
        cut,
        config,
        kind,
        watched=watched or len(tests),
        label=GAP_TEST,
    )
    return found
