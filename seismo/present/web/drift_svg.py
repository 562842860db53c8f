"""Inline SVG of the drift charts (:mod:`~seismo.present.web.drift_charts` gives their data).

The reference is always grey and filled, the current window an outline in
the dashboard's ink (red when the feature drifts), so reference against now
reads the same on every chart. Text is escaped here; colours are SVG
attributes, as in :mod:`~seismo.present.web.charts`, whose colours and ticks
these reuse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from seismo.present.web import humanize
from seismo.present.web.charts import ALERT, INK, MUTED, OVERALL, nice_ticks

__all__ = ["bar_pairs", "histogram_pair", "threshold_chart"]

REFERENCE = "#c3cad3"
_TEXT = 'font-size="11" fill="#4b5563"'


def _open(cls: str, width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg class="{cls}" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]


def _number(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def histogram_pair(
    bins: Sequence[dict[str, Any]],
    *,
    label: str,
    drifted: bool = False,
    width: int = 330,
    height: int = 130,
) -> Markup:
    """Overlaid histograms of a numeric feature: height is share per display-bin width.

    Bins outside the reference's range (no lower or no upper bound) are drawn
    one typical bin wide at either end.
    """
    inside = [b for b in bins if b["low"] is not None and b["high"] is not None]
    if not inside:
        return Markup("")
    lo, hi = float(inside[0]["low"]), float(inside[-1]["high"])
    step = (hi - lo) / max(1, len(inside)) or 1.0
    left, right, top, bottom = 8, 8, 8, 20
    ends = [b for b in bins if b["low"] is None or b["high"] is None]
    span = (hi - lo) + step * len(ends) or 1.0
    inner = width - left - right

    def x(v: float) -> float:
        below = step if bins[0]["low"] is None else 0.0
        return left + inner * (v - lo + below) / span

    shapes = []
    for b in bins:
        if b["low"] is None:
            x0, x1 = x(lo - step), x(lo)
        elif b["high"] is None:
            x0, x1 = x(hi), x(hi + step)
        else:
            x0, x1 = x(b["low"]), x(b["high"]) if b["high"] > b["low"] else x(b["low"]) + 4
        w = (b["high"] - b["low"]) if b["low"] is not None and b["high"] is not None else step
        scale = step / w if w > 0 else 1.0
        shapes.append(
            (x0, max(x1, x0 + 1.0), b["reference_share"] * scale, b["current_share"] * scale)
        )
    peak = max([s for _, _, r, c in shapes for s in (r, c)] + [1e-9])
    base = height - bottom

    def y(v: float) -> float:
        return float(base - (base - top) * v / peak)

    colour = ALERT if drifted else INK
    parts = _open("histogram", width, height, label)
    for x0, x1, r, _ in shapes:
        parts.append(
            f'<rect class="reference" x="{x0:.1f}" y="{y(r):.1f}" width="{x1 - x0:.1f}"'
            f' height="{base - y(r):.1f}" fill="{REFERENCE}"/>'
        )
    # The current window as one step line over the grey bars: both stay visible.
    outline = [(shapes[0][0], float(base))]
    for x0, x1, _, c in shapes:
        outline += [(x0, y(c)), (x1, y(c))]
    outline.append((shapes[-1][1], float(base)))
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(outline)
    )
    parts.append(
        f'<path class="current" d="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>'
    )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{MUTED}"/>'
    )
    parts.append(f'<text x="{x(lo):.1f}" y="{height - 6}" {_TEXT}>{escape(_number(lo))}</text>')
    parts.append(
        f'<text x="{x(hi):.1f}" y="{height - 6}" text-anchor="end" {_TEXT}>'
        f"{escape(_number(hi))}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_pairs(
    bins: Sequence[dict[str, Any]],
    *,
    label: str,
    drifted: bool = False,
    width: int = 330,
) -> Markup:
    """A categorical feature: per value a grey bar (training) over an ink bar (now)."""
    if not bins:
        return Markup("")
    row, name_w, top = 20, 110, 4
    height = top + row * len(bins) + 4
    peak = max([max(b["reference_share"], b["current_share"]) for b in bins] + [1e-9])
    inner = width - name_w - 46
    colour = ALERT if drifted else INK
    parts = _open("bars", width, height, label)
    for i, b in enumerate(bins):
        y0 = top + i * row
        name = str(b["category"])
        short = name if len(name) <= 16 else name[:15] + "…"
        parts.append(
            f'<text x="{name_w - 6}" y="{y0 + 13}" text-anchor="end" {_TEXT}>'
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        for j, (share, fill) in enumerate(
            ((b["reference_share"], REFERENCE), (b["current_share"], colour))
        ):
            w = inner * share / peak
            parts.append(
                f'<rect class="{"reference" if j == 0 else "current"}" x="{name_w}"'
                f' y="{y0 + 2 + j * 8}" width="{max(w, 0.5):.1f}" height="7" fill="{fill}"/>'
            )
        end = name_w + inner * max(b["reference_share"], b["current_share"]) / peak + 4
        parts.append(
            f'<text x="{end:.1f}" y="{y0 + 13}" {_TEXT}>'
            f"{escape(humanize.share(b['current_share']))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def threshold_chart(
    points: Sequence[dict[str, Any]],
    *,
    label: str,
    reference: float | None = None,
    width: int = 620,
    height: int = 200,
) -> Markup:
    """A statistic per window inside its threshold band; windows that drifted in red."""
    shown = [p for p in points if p["value"] is not None and math.isfinite(p["value"])]
    if not shown:
        return Markup('<p class="no-data">No windows yet.</p>')
    values = [p["value"] for p in shown]
    values += [p[k] for p in shown for k in ("upper", "lower") if p.get(k) is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.1
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 52, 12, 10, 22
    t0, t1 = shown[0]["start"], shown[-1]["end"]
    lo, hi = float(lo), float(hi)
    total = (t1 - t0).total_seconds() or 1.0

    def x(p: dict[str, Any]) -> float:
        mid = p["start"] + (p["end"] - p["start"]) / 2
        return float(left + (width - left - right) * (mid - t0).total_seconds() / total)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    parts = _open("threshold", width, height, label)
    for tick in nice_ticks(lo, hi):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
            ' stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" {_TEXT}>{tick:g}</text>'
        )
    band = [p for p in shown if p.get("upper") is not None and p.get("lower") is not None]
    if band:
        upper = [f"{x(p):.1f},{y(p['upper']):.1f}" for p in band]
        lower = [f"{x(p):.1f},{y(p['lower']):.1f}" for p in reversed(band)]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{INK}"'
            ' fill-opacity="0.10"/>'
        )
        path = " ".join(f"{'M' if i == 0 else 'L'}{c}" for i, c in enumerate(upper))
        parts.append(
            f'<path class="upper" d="{path}" fill="none" stroke="{INK}" stroke-width="1"'
            ' stroke-dasharray="4 3"/>'
        )
    if reference is not None:
        parts.append(
            f'<line class="reference" x1="{left}" x2="{width - right}" y1="{y(reference):.1f}"'
            f' y2="{y(reference):.1f}" stroke="{MUTED}" stroke-dasharray="2 3"/>'
        )
    line = " ".join(
        f"{'M' if i == 0 else 'L'}{x(p):.1f},{y(p['value']):.1f}" for i, p in enumerate(shown)
    )
    parts.append(
        f'<path class="line" d="{line}" fill="none" stroke="{OVERALL}" stroke-width="1.6"/>'
    )
    for p in shown:
        fill = ALERT if p["drifted"] else "#ffffff"
        stroke = ALERT if p["drifted"] else OVERALL
        parts.append(
            f'<circle class="{"drifted" if p["drifted"] else "window"}" cx="{x(p):.1f}"'
            f' cy="{y(p["value"]):.1f}" r="2.8" fill="{fill}" stroke="{stroke}"/>'
        )
    base = height - 6
    parts.append(f'<text x="{left}" y="{base}" {_TEXT}>{escape(humanize.day(t0))}</text>')
    parts.append(
        f'<text x="{width - right}" y="{base}" text-anchor="end" {_TEXT}>'
        f"{escape(humanize.day(shown[-1]['start']))}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
