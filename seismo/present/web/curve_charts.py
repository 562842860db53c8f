"""The classifier charts of the engineering view, drawn from its view data as inline SVG.

ROC, precision-recall and calibration curves are x-y plots (:func:`xy`);
performance over time reuses :func:`~seismo.present.web.charts.lines`, so it
speaks the dashboard's one rule for maturity (solid confirmed, dashed with a
shaded band where the final value is an estimate). Each function takes the
dictionary :mod:`~seismo.present.web.classifier_view` puts in the JSON twin,
so the page and ``/api/engineering`` draw the same numbers. Text is escaped
here, as in :mod:`~seismo.present.web.charts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from seismo.present.web import charts
from seismo.present.web.figures import Day

__all__ = ["CHARTS", "XYLine", "calibration", "performance", "precision_recall", "roc", "xy"]

GRID = "#e5e7eb"
TEXT = "#4b5563"


@dataclass(frozen=True)
class XYLine:
    """One series of an :func:`xy` plot: points joined by a line, or dots sized by weight."""

    name: str
    points: Sequence[tuple[float, float]]
    colour: str = charts.INK
    dashed: bool = False
    dots: bool = False
    weights: Sequence[float] = ()


def xy(
    series: Sequence[XYLine],
    *,
    label: str,
    x_title: str,
    y_title: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    size: int = 300,
) -> Markup:
    """A square x-y plot with gridlines, axis titles and a legend under it.

    >>> svg = xy([XYLine("a <b>", [(0, 0), (0.5, 0.8), (1, 1)])], label="ROC", x_title="x",
    ...          y_title="y")
    >>> "<path" in svg, "a &lt;b&gt;" in svg
    (True, True)
    """
    left, top, right, bottom = 44, 8, 10, 34
    legend = 16 * len(series)
    width, height = size, size + legend
    inner_w, inner_h = size - left - right, size - top - bottom
    (x0, x1), (y0, y1) = x_range, y_range

    def px(x: float) -> float:
        return left + inner_w * (x - x0) / ((x1 - x0) or 1.0)

    def py(y: float) -> float:
        frac = min(1.0, max(0.0, (y - y0) / ((y1 - y0) or 1.0)))
        return top + inner_h * (1 - frac)

    parts = [
        f'<svg class="xy" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for t in charts.nice_ticks(x0, x1):
        parts.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + inner_h}"'
            f' stroke="{GRID}"/><text x="{px(t):.1f}" y="{top + inner_h + 13}"'
            f' text-anchor="middle" font-size="10" fill="{TEXT}">{t:g}</text>'
        )
    for t in charts.nice_ticks(y0, y1):
        parts.append(
            f'<line x1="{left}" x2="{left + inner_w}" y1="{py(t):.1f}" y2="{py(t):.1f}"'
            f' stroke="{GRID}"/><text x="{left - 5}" y="{py(t) + 3:.1f}" text-anchor="end"'
            f' font-size="10" fill="{TEXT}">{t:g}</text>'
        )
    parts.append(
        f'<text x="{left + inner_w / 2:.1f}" y="{size - 6}" text-anchor="middle" font-size="11"'
        f' fill="{TEXT}">{escape(x_title)}</text>'
        f'<text transform="translate(11 {top + inner_h / 2:.1f}) rotate(-90)"'
        f' text-anchor="middle" font-size="11" fill="{TEXT}">{escape(y_title)}</text>'
    )
    for i, s in enumerate(series):
        pts = [(px(x), py(y)) for x, y in s.points]
        if s.dots:
            top_weight = max(s.weights, default=1.0) or 1.0
            for j, (x, y) in enumerate(pts):
                r = 2.0 + 3.0 * (s.weights[j] / top_weight) ** 0.5 if s.weights else 3.0
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{s.colour}"'
                    ' fill-opacity="0.8"/>'
                )
        if pts and not (s.dots and len(pts) == 1):
            dash = f' stroke-dasharray="{charts.DASH}"' if s.dashed else ""
            d = " ".join(f"{'M' if j == 0 else 'L'}{x:.1f},{y:.1f}" for j, (x, y) in enumerate(pts))
            parts.append(
                f'<path class="curve" d="{d}" fill="none" stroke="{s.colour}" stroke-width="1.8"'
                f' stroke-linejoin="round"{dash}/>'
            )
        y = size + 12 + 16 * i
        dash = f' stroke-dasharray="{charts.DASH}"' if s.dashed else ""
        parts.append(
            f'<line x1="{left}" x2="{left + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{s.colour}"'
            f' stroke-width="2"{dash}/><text x="{left + 24}" y="{y}" font-size="11"'
            f' fill="{TEXT}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def roc(view: dict[str, Any]) -> Markup:
    """The ROC curve, chance's diagonal, and the point of the decisions served."""
    pts = [(p["fpr"], p["tpr"]) for p in view["points"]]
    series = [
        XYLine(f"score thresholds (AUC {view['auc']:.3f})", pts),
        XYLine("chance", [(0.0, 0.0), (1.0, 1.0)], charts.MUTED, dashed=True),
    ]
    served = view.get("served")
    if served is not None:
        point = [(served["fpr"], served["tpr"])]
        series.append(XYLine("decisions served", point, charts.ALERT, dots=True))
    return xy(series, label=view["title"], x_title="false-positive rate", y_title="recall")


def precision_recall(view: dict[str, Any]) -> Markup:
    """Precision against recall over the score thresholds, with the base rate for reference."""
    pts = [(p["recall"], p["precision"]) for p in view["points"]]
    base = view["base_rate"]
    series = [
        XYLine(f"score thresholds (average precision {view['average_precision']:.3f})", pts),
        XYLine(f"base rate {base:.1%}", [(0.0, base), (1.0, base)], charts.MUTED, dashed=True),
    ]
    served = view.get("served")
    if served is not None and served["precision"] is not None:
        point = [(served["recall"], served["precision"])]
        series.append(XYLine("decisions served", point, charts.ALERT, dots=True))
    return xy(series, label=view["title"], x_title="recall", y_title="precision")


def calibration(view: dict[str, Any]) -> Markup:
    """Observed rate against mean score per group, on a scale fitted to the scores."""
    groups = view["groups"]
    top = max([0.05, *(g["mean_score"] for g in groups), *(g["observed"] for g in groups)])
    top = min(1.0, charts.nice_ticks(0.0, top * 1.05, 4)[-1] * 1.25)
    pts = [(g["mean_score"], g["observed"]) for g in groups]
    series = [
        XYLine("observed rate per score group", pts, dots=True, weights=[g["n"] for g in groups]),
        XYLine("perfectly calibrated", [(0.0, 0.0), (top, top)], charts.MUTED, dashed=True),
    ]
    return xy(
        series,
        label=view["title"],
        x_title="mean score",
        y_title="observed rate",
        x_range=(0.0, top),
        y_range=(0.0, top),
    )


def performance(view: dict[str, Any], width: int = 520) -> Markup:
    """Expected final value, realised value and alert levels of one metric, window by window."""
    windows = view["windows"]

    def days(key: str, firm: bool) -> list[Day]:
        return [
            Day(
                w["start"],
                w["end"],
                w["n"],
                w[key],
                w["low"] if key == "estimate" else None,
                w["high"] if key == "estimate" else None,
                None,
                True if firm else w["final"],
            )
            for w in windows
        ]

    series = [charts.Line("expected final", days("estimate", False), "overall")]
    series.append(charts.Line("realised", days("realised", True), "normal"))
    for side in ("lower", "upper"):
        if any(w[side] is not None for w in windows):
            series.append(charts.Line(f"alert level ({side})", days(side, True), "highlight"))
    return charts.lines(
        series, label=view["title"], unit=view["unit"], launch_end=view["baseline_end"], width=width
    )


#: What the template calls them by (``classifier_charts.roc(o.roc)``).
CHARTS = {
    "roc": roc,
    "precision_recall": precision_recall,
    "calibration": calibration,
    "performance": performance,
}
