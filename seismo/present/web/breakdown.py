"""The business view's segment sections: who differs, and is everyone treated alike.

:func:`segments` is a heat table per segment attribute: each customer group's
key figures over the recent days, coloured by their change since launch. A
cell is coloured only when the change is both large (5 %, 15 %, 30 % steps)
and clear of noise (two standard errors), so a small group's wobble stays
white and the degrading group stands out; the row of a group with an alert
is marked as well (class ``alerting``), never by colour alone.

:func:`small_multiples` draws one metric per value of the attribute that
needs attention, on one shared scale. :func:`fairness` compares quality
(click-through, conversion) with exposure (what each group is shown) across
the groups, over time and against the launch period, through
:func:`seismo.metrics.fairness.fairness_table`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from seismo.detect.findings import Finding
from seismo.detect.wording import who
from seismo.metrics.compute import RESULT_SCHEMA
from seismo.metrics.fairness import fairness_baseline, fairness_table
from seismo.present.web import humanize
from seismo.present.web.charts import shared_range
from seismo.present.web.context import Context
from seismo.present.web.figures import EARLY, Pooled, z_score

__all__ = ["change_level", "fairness", "segments", "small_multiples"]

#: Relative-change steps for the heat table's colour levels 1, 2 and 3.
LEVELS = (0.05, 0.15, 0.30)
#: A change must be this many standard errors away from launch to be coloured.
CLEAR_Z = 2.0


def change_level(rel: float | None, z: float | None) -> int:
    """Colour level 0-3 of a relative change: 0 unless it is clear of noise.

    >>> change_level(-0.46, -9.0), change_level(-0.46, -1.2), change_level(0.07, 2.5)
    (3, 0, 1)
    """
    if rel is None or z is None or abs(z) < CLEAR_Z:
        return 0
    return sum(abs(rel) >= step for step in LEVELS)


def _rel(recent: Pooled | None, launch: Pooled | None) -> float | None:
    if recent is None or launch is None or recent.estimate is None or not launch.estimate:
        return None
    return recent.estimate / launch.estimate - 1


def _cell(ctx: Context, metric: str, attribute: str | None, value: str | None) -> dict[str, Any]:
    recent = ctx.pooled(metric, attribute, value, "recent")
    launch = ctx.pooled(metric, attribute, value, "launch")
    rel = _rel(recent, launch) if ctx.comparable else None
    level = change_level(rel, z_score(recent, launch))
    worse = None if rel is None else (rel > 0) == ctx.lower_is_better(metric)
    provisional = recent is not None and recent.provisional
    early = provisional and recent is not None and recent.to_come >= EARLY
    title = f"{ctx.label(metric)}: {ctx.fmt(metric, launch.estimate if launch else None)} at launch"
    if provisional and recent is not None:
        title += f"; provisional, still waiting for {humanize.share(recent.to_come)} of"
        title += f" {ctx.noun(metric)}"
        if early:
            title += ": too early to judge the change"
    return {
        "metric": metric,
        "value": recent.estimate if recent else None,
        "text": ctx.fmt(metric, recent.estimate if recent else None),
        "launch_text": ctx.fmt(metric, launch.estimate if launch else None),
        "change": rel,
        "change_text": humanize.change(rel),
        "level": level,
        "tone": "flat" if level == 0 else ("worse" if worse else "better"),
        "provisional": provisional,
        "early": early,
        "to_come": recent.to_come if recent else None,
        "title": title,
    }


def _flagged(ctx: Context, attribute: str, value: str, metric: str | None = None) -> list[Finding]:
    return [
        f
        for f in ctx.snap.findings
        if f.segment == {attribute: value} and (metric is None or f.metric == metric)
    ]


def _attention_attribute(
    ctx: Context, kind: str | None = None
) -> tuple[str | None, Finding | None]:
    """The attribute to show first: that of the first (root) finding, else the delay strata."""
    for f in ctx.snap.findings:
        if f.segment and len(f.segment) == 1 and (kind is None or f.kind == kind):
            return next(iter(f.segment)), f
    if ctx.snap.delay_strata in ctx.snap.segments:
        return ctx.snap.delay_strata, None
    return (ctx.snap.segments[0] if ctx.snap.segments else None), None


def _days(series: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "start": d.start,
            "end": d.end,
            "n": d.n,
            "estimate": d.estimate,
            "low": d.low,
            "high": d.high,
            "observed": d.observed,
            "final": d.final,
        }
        for d in series
    ]


def _short(ctx: Context, f: Finding) -> str:
    """A finding in a few words, for a table row: "Click-through 28% → 15%"."""
    name = f.metric_label.removesuffix(" shown").replace("Share of ", "")
    fmt = ctx.fmt(f.metric, f.baseline), ctx.fmt(f.metric, f.current)
    return f"{name[:1].upper()}{name[1:]} {fmt[0]} → {fmt[1]}"


def segments(ctx: Context) -> list[dict[str, Any]]:
    """One heat table per segment attribute, the attribute needing attention first."""
    first, _ = _attention_attribute(ctx)
    order = sorted(ctx.snap.segments, key=lambda a: (a != first, ctx.snap.segments.index(a)))
    figures = ctx.key_figures
    out = []
    for attribute in order:
        values = ctx.values(attribute)
        if not values:
            continue
        quality = [f for f in ctx.snap.findings if f.segment and attribute in f.segment]
        spark_metric = quality[0].metric if quality and quality[0].kind == "quality" else None
        spark_metric = spark_metric or ctx.volume_metric
        spark = {v: ctx.series(spark_metric, attribute, v) for v in values} if spark_metric else {}
        rows = []
        for v in values:
            flagged = _flagged(ctx, attribute, v)
            rows.append(
                {
                    "value": v,
                    "who": who({attribute: v}, ctx.words),
                    "traffic_share": ctx.traffic_share(attribute, v),
                    "alert": bool(flagged),
                    "alert_words": [f.message for f in flagged],
                    "alert_labels": [_short(ctx, f) for f in flagged],
                    "spark_alert": any(f.metric == spark_metric for f in flagged),
                    "cells": [_cell(ctx, m, attribute, v) for m in figures],
                    "days": _days(spark.get(v, [])),
                }
            )
        out.append(
            {
                "attribute": attribute,
                "label": attribute.replace("_", " ").capitalize(),
                "metrics": [{"metric": m, "label": ctx.label(m)} for m in figures],
                "overall": [_cell(ctx, m, None, None) for m in figures],
                "rows": rows,
                "spark_metric": spark_metric,
                "spark_label": ctx.label(spark_metric) if spark_metric else "",
                "spark_range": shared_range(list(spark.values())) if spark else None,
                "alerting": any(r["alert"] for r in rows),
            }
        )
    return out


def small_multiples(ctx: Context) -> dict[str, Any] | None:
    """One small chart per group of the attribute needing attention, on a shared scale."""
    attribute, finding = _attention_attribute(ctx, "quality")
    metric = finding.metric if finding else ctx.volume_metric
    if attribute is None or metric is None:
        return None
    values = ctx.values(attribute)
    series = {v: ctx.series(metric, attribute, v) for v in values}
    tiles = []
    for v in values:
        cell = _cell(ctx, metric, attribute, v)
        tiles.append(
            {
                "value": v,
                "who": who({attribute: v}, ctx.words),
                "highlight": bool(_flagged(ctx, attribute, v, metric)),
                "text": cell["text"],
                "launch_text": cell["launch_text"],
                "change_text": cell["change_text"],
                "tone": cell["tone"],
                "days": _days(series[v]),
            }
        )
    return {
        "attribute": attribute,
        "metric": metric,
        "title": f"{ctx.label(metric)} by {attribute.replace('_', ' ')}, day by day",
        "range": shared_range(list(series.values())),
        "tiles": tiles,
    }


def _exposure_metrics(ctx: Context, attribute: str) -> list[str]:
    flagged = [
        f.metric
        for f in ctx.snap.findings
        if f.kind == "fairness" and f.segment and attribute in f.segment
    ]
    plain = sorted(
        m for (m, a, _) in ctx.exposure if a is None and ":" not in m and "_above_" not in m
    )
    return list(dict.fromkeys([*flagged, *plain]))[:3]


def fairness(ctx: Context) -> dict[str, Any] | None:
    """How quality and exposure compare across the groups of one attribute, now and at launch."""
    attribute, _ = _attention_attribute(ctx, "fairness")
    if attribute is None or not ctx.comparable:
        return None
    values = ctx.values(attribute)
    quality = ctx.key_figures[:2]
    exposure = _exposure_metrics(ctx, attribute)
    chosen = [*quality, *exposure]
    standing = _standing(ctx, attribute, values, chosen)
    rows = []
    for v in values:
        cells = []
        for m in chosen:
            s = standing.get((m, v), {})
            flagged = _flagged(ctx, attribute, v, m)
            flag = ""
            if flagged:
                moved = "rose" if flagged[0].direction == "up" else "fell"
                flag = "gap opened" if flagged[0].kind == "fairness" else f"{moved} since launch"
            elif s.get("four_fifths_ok") is False:
                flag = f"under 4/5 of the best group ({s.get('best_value')})"
            cells.append(
                {
                    **_cell(ctx, m, attribute, v),
                    "gap": s.get("gap_to_overall"),
                    "gap_text": _gap_text(ctx, m, s.get("gap_to_overall")),
                    "launch_gap_text": _gap_text(ctx, m, s.get("baseline_gap")),
                    "ratio_to_best": s.get("ratio_to_best"),
                    "four_fifths_ok": s.get("four_fifths_ok"),
                    "best_value": s.get("best_value"),
                    "flagged": bool(flagged),
                    "flag": flag,
                }
            )
        rows.append({"value": v, "who": who({attribute: v}, ctx.words), "cells": cells})
    findings = [
        f
        for f in ctx.snap.findings
        if f.kind == "fairness" and f.segment and attribute in f.segment
    ]
    return {
        "attribute": attribute,
        "label": attribute.replace("_", " "),
        "metrics": [
            {"metric": m, "label": ctx.label(m), "kind": "exposure" if m in exposure else "quality"}
            for m in chosen
        ],
        "rows": rows,
        "findings": [
            {"message": f.message, "action": f.action, "segment": f.segment} for f in findings
        ],
        "charts": [
            c for m in [*exposure[:1], *quality[:1]] if (c := _chart(ctx, attribute, values, m))
        ],
    }


def _gap_text(ctx: Context, metric: str, gap: float | None) -> str:
    if gap is None:
        return humanize.DASH
    if ctx.unit(metric) == "share":
        return humanize.points(gap)
    sign = "+" if gap >= 0 else "\u2212"
    return sign + ctx.fmt(metric, abs(gap))


def _standing(
    ctx: Context, attribute: str, values: list[str], metrics: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Gap to the aggregate and ratio to the best group, recent vs launch, per metric × value."""
    rows: list[dict[str, Any]] = []
    recent_rows: list[dict[str, Any]] = []
    periods = {"launch": ctx.launch, "recent": ctx.recent}
    for m in metrics:
        for a, v in [(None, None), *((attribute, v) for v in values)]:
            for name, span in periods.items():
                p = ctx.pooled(m, a, v, name)
                if p is None or span is None:
                    continue
                row = {
                    "metric": m,
                    "label": ctx.label(m),
                    "unit": ctx.unit(m),
                    "attribute": a,
                    "value": v,
                    "model_version": None,
                    "window_start": span[0],
                    "window_end": span[1],
                    "n": p.n,
                    "estimate": p.estimate,
                    "final": p.final,
                }
                (recent_rows if name == "recent" else rows).append(row)
    if not recent_rows:
        return {}
    fields = (
        "metric",
        "label",
        "unit",
        "attribute",
        "value",
        "model_version",
        "window_start",
        "window_end",
        "n",
        "estimate",
        "final",
    )
    schema = pa.schema([RESULT_SCHEMA.field(name) for name in fields])
    lower = {r["metric"] for r in rows if ctx.lower_is_better(r["metric"])}
    launch = pa.Table.from_pylist(rows, schema=schema)
    baseline = fairness_baseline(launch, until=ctx.launch[1], lower_is_better=lower)
    recent = pa.Table.from_pylist(recent_rows, schema=schema)
    table = fairness_table(recent, baseline=baseline, lower_is_better=lower)
    return {(r["metric"], r["value"]): r for r in table.to_pylist()}


def _chart(ctx: Context, attribute: str, values: list[str], metric: str) -> dict[str, Any] | None:
    everyone = ctx.words.everyone
    lines = [
        {
            "name": everyone[:1].upper() + everyone[1:],
            "style": "overall",
            "days": _days(ctx.series(metric)),
        }
    ]
    for v in values:
        style = "highlight" if _flagged(ctx, attribute, v, metric) else "normal"
        lines.append({"name": v, "style": style, "days": _days(ctx.series(metric, attribute, v))})
    if not any(line["days"] for line in lines):
        return None
    return {
        "metric": metric,
        "unit": ctx.unit(metric),
        "title": f"{ctx.label(metric)}, per day, by {attribute.replace('_', ' ')}",
        "lines": lines,
    }
