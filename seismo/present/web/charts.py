"""Inline SVG charts drawn on the server: small, fast, and readable without JavaScript.

Two drawings cover the dashboard: :func:`sparkline` (one metric over the
period, e.g. a key figure or one segment in a row of small multiples) and
:func:`lines` (several segments on one axis, e.g. the sustainable share shown
to each age group). Both speak the dashboard's one visual rule for maturity:
**a solid line is confirmed, a dashed line with a shaded band is
provisional** (the band is the 90 % range of the expected final value). The
launch period that alerts compare against is a light grey background.

The SVG is returned as :class:`markupsafe.Markup` so templates embed it
as is; every piece of text that goes into it (labels, segment names from user
data) is escaped here. Colours are SVG attributes, not CSS, so a chart copied
out of the page (or a report opened by a mail client that strips styles)
keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from seismo.present.web import humanize
from seismo.present.web.figures import Day

__all__ = ["Line", "lines", "nice_ticks", "shared_range", "sparkline"]

INK = "#1f4e79"  # the normal line
ALERT = "#b42318"  # a segment that needs attention
MUTED = "#9aa5b1"  # the other segments
OVERALL = "#111827"  # all customers
LAUNCH = "#eef1f5"  # the launch period's background
DASH = "4 3"
PLANNED = "#b45309"  # a planned change (seismo annotate): amber, apart from alerts


@dataclass(frozen=True)
class Line:
    """One series on a :func:`lines` chart: ``style`` is normal, highlight or overall."""

    name: str
    days: Sequence[Day]
    style: str = "normal"


def shared_range(series: Sequence[Sequence[Day]], *, pad: float = 0.08) -> tuple[float, float]:
    """One y range for several series (small multiples share a scale, so heights compare).

    >>> from datetime import datetime as t
    >>> firm = [Day(t(2026, 6, 1), t(2026, 6, 2), 10, 0.2, 0.1, 0.3, 0.2, True)]
    >>> soft = [Day(t(2026, 6, 2), t(2026, 6, 3), 10, 0.25, 0.1, 0.3, 0.1, False)]
    >>> tuple(round(x, 3) for x in shared_range([firm, soft]))  # a provisional band counts
    (0.084, 0.316)
    """
    values = [
        v
        for days in series
        for d in days
        for v in (d.estimate, d.low if not d.final else None, d.high if not d.final else None)
        if v is not None and math.isfinite(v)
    ]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - max(abs(lo) * 0.1, 1e-3), hi + max(abs(hi) * 0.1, 1e-3)
    margin = (hi - lo) * pad
    return max(0.0, lo - margin) if lo >= 0 else lo - margin, hi + margin


def nice_ticks(lo: float, hi: float, count: int = 3) -> list[float]:
    """About ``count`` round values inside [lo, hi] for gridlines.

    >>> nice_ticks(0.13, 0.31)
    [0.15, 0.2, 0.25, 0.3]
    """
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / (count + 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    k = 0
    while first + k * step <= hi + 1e-12:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


class _Frame:
    """Maps days and values to pixels inside a width × height box with margins."""

    def __init__(
        self,
        days: Sequence[Day],
        y: tuple[float, float],
        size: tuple[int, int],
        margin: tuple[int, int, int, int],
    ) -> None:
        self.t0 = min(d.start for d in days)
        self.t1 = max(d.end for d in days)
        self.lo, self.hi = y
        self.width, self.height = size
        self.top, self.right, self.bottom, self.left = margin

    def x(self, t: datetime) -> float:
        span = (self.t1 - self.t0).total_seconds() or 1.0
        inner = self.width - self.left - self.right
        return self.left + inner * (t - self.t0).total_seconds() / span

    def xmid(self, d: Day) -> float:
        return self.x(d.start + (d.end - d.start) / 2)

    def y(self, v: float) -> float:
        inner = self.height - self.top - self.bottom
        frac = (v - self.lo) / ((self.hi - self.lo) or 1.0)
        return self.top + inner * (1 - min(1.0, max(0.0, frac)))


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def _runs(days: Sequence[Day]) -> list[list[Day]]:
    """Consecutive days with a value (a day without one breaks the line)."""
    runs: list[list[Day]] = [[]]
    for d in days:
        if d.estimate is None or not math.isfinite(d.estimate):
            runs.append([])
        else:
            runs[-1].append(d)
    return [r for r in runs if r]


def _trace(f: _Frame, days: Sequence[Day], colour: str, width: float, cls: str) -> list[str]:
    """A series as SVG: solid where confirmed, dashed with a band where provisional."""
    out: list[str] = []
    for run in _runs(days):
        firm = [d for d in run if d.final]
        soft_from = next((i for i, d in enumerate(run) if not d.final), None)
        soft = [] if soft_from is None else run[max(0, soft_from - 1) :]
        band = [d for d in run if not d.final and d.low is not None and d.high is not None]
        if band:
            upper = [(f.xmid(d), f.y(d.high or 0.0)) for d in band]
            lower = [(f.xmid(d), f.y(d.low or 0.0)) for d in reversed(band)]
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower)
            out.append(
                f'<polygon class="band" points="{pts}" fill="{colour}" fill-opacity="0.13"/>'
            )
        if firm and soft_from != 0:
            confirmed = run[: soft_from if soft_from is not None else len(run)]
            pts_c = [(f.xmid(d), f.y(d.estimate or 0.0)) for d in confirmed]
            if len(pts_c) == 1:
                x, y = pts_c[0]
                out.append(
                    f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="{colour}"/>'
                )
            else:
                out.append(
                    f'<path class="{cls} confirmed" d="{_path(pts_c)}" fill="none"'
                    f' stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"/>'
                )
        if soft:
            pts_s = [(f.xmid(d), f.y(d.estimate or 0.0)) for d in soft]
            out.append(
                f'<path class="{cls} provisional" d="{_path(pts_s)}" fill="none" stroke="{colour}"'
                f' stroke-width="{width}" stroke-dasharray="{DASH}" stroke-linejoin="round"/>'
            )
    return out


def _launch(f: _Frame, launch_end: datetime | None) -> str:
    if launch_end is None or launch_end <= f.t0:
        return ""
    x0, x1 = f.x(f.t0), f.x(min(launch_end, f.t1))
    h = f.height - f.top - f.bottom
    return (
        f'<rect class="launch" x="{x0:.1f}" y="{f.top}" width="{x1 - x0:.1f}" height="{h}"'
        f' fill="{LAUNCH}"/>'
    )


#: A period: (start, end, what it was), e.g. a planned change recorded with ``seismo annotate``.
Period = tuple[datetime, datetime, str]


def _planned(f: _Frame, planned: Sequence[Period], label: bool = False) -> list[str]:
    """Each planned change as a tinted band over its days (its note as the tooltip).

    >>> from datetime import datetime as t
    >>> days = [Day(t(2026, 6, d), t(2026, 6, d + 1), 100, 0.2, None, None, None, True)
    ...         for d in range(1, 9)]
    >>> svg = sparkline(days, label="x", planned=[(t(2026, 6, 4), t(2026, 6, 6), "changeover")])
    >>> svg.count('class="planned"'), "Planned change: changeover" in svg
    (1, True)
    """
    out = []
    h = f.height - f.top - f.bottom
    for start, end, note in planned:
        if end <= f.t0 or start >= f.t1:
            continue
        x0, x1 = f.x(max(start, f.t0)), f.x(min(end, f.t1))
        out.append(
            f'<rect class="planned" x="{x0:.1f}" y="{f.top}" width="{max(x1 - x0, 1.5):.1f}"'
            f' height="{h}" fill="{PLANNED}" fill-opacity="0.12" stroke="{PLANNED}"'
            f' stroke-opacity="0.5" stroke-width="0.6">'
            f"<title>Planned change: {escape(note)}</title></rect>"
        )
        if label:
            out.append(
                f'<text class="planned-label" x="{x0 + 3:.1f}" y="{f.top + 11}" font-size="10"'
                f' fill="{PLANNED}">{escape(note)}</text>'
            )
    return out


def sparkline(
    days: Sequence[Day],
    *,
    label: str,
    width: int = 220,
    height: int = 54,
    y_range: tuple[float, float] | None = None,
    launch_end: datetime | None = None,
    highlight: bool = False,
    planned: Sequence[Period] = (),
) -> Markup:
    """One series, day by day, with no axes: the shape of a trend at a glance.

    ``label`` is what a screen reader says (and the tooltip): the chart in words.

    >>> from datetime import datetime as t
    >>> days = [Day(t(2026, 6, d), t(2026, 6, d + 1), 100, 0.2 + d / 100, None, None, None, d < 3)
    ...         for d in (1, 2, 3)]
    >>> svg = sparkline(days, label="Click-through <all>")
    >>> "stroke-dasharray" in svg, "&lt;all&gt;" in svg, "<all>" in svg
    (True, True, False)
    """
    present = [d for d in days if d.estimate is not None]
    if not present:
        return Markup("")
    f = _Frame(present, y_range or shared_range([present]), (width, height), (4, 6, 4, 2))
    colour = ALERT if highlight else INK
    parts = [
        f'<svg class="spark{" highlight" if highlight else ""}" role="img" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        _launch(f, launch_end),
        *_planned(f, planned),
        *_trace(f, present, colour, 2.0 if highlight else 1.6, "line"),
    ]
    last = present[-1]
    x, y = f.xmid(last), f.y(last.estimate or 0.0)
    fill = colour if last.final else "#ffffff"
    parts.append(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{fill}" stroke="{colour}"'
        ' stroke-width="1.4"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    series: Sequence[Line],
    *,
    label: str,
    unit: str = "share",
    width: int = 560,
    height: int = 220,
    launch_end: datetime | None = None,
    currency: str = "€",
    planned: Sequence[Period] = (),
) -> Markup:
    """Several series on one axis, each named at its right end.

    Highlighted series (the segments that need attention) are drawn red and
    thick, "overall" (all customers) dark, the others grey, so the one that
    matters is found without a legend.
    """
    drawn = [s for s in series if any(d.estimate is not None for d in s.days)]
    if not drawn:
        return Markup(f'<p class="no-data">{escape("No data for this chart yet.")}</p>')
    every = [d for s in drawn for d in s.days if d.estimate is not None]
    lo, hi = shared_range([every], pad=0.05)
    f = _Frame(every, (lo, hi), (width, height), (10, 118, 22, 46))
    parts = [
        f'<svg class="lines" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        _launch(f, launch_end),
        *_planned(f, planned, label=True),
    ]
    for tick in nice_ticks(lo, hi):
        y = f.y(tick)
        parts.append(
            f'<line x1="{f.left}" x2="{width - f.right}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#e5e7eb" stroke-width="1"/>'
        )
        text = escape(humanize.value(tick, unit, currency))
        parts.append(
            f'<text x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="#4b5563">{text}</text>'
        )
    base = height - 6
    parts.append(
        f'<text x="{f.left}" y="{base}" font-size="11" fill="#4b5563">'
        f"{escape(humanize.day(f.t0))}</text>"
    )
    last_day = max(d.start for d in every)
    parts.append(
        f'<text x="{width - f.right}" y="{base}" text-anchor="end" font-size="11"'
        f' fill="#4b5563">{escape(humanize.day(last_day))}</text>'
    )
    if launch_end is not None and f.t0 < launch_end < f.t1:
        parts.append(
            f'<text x="{(f.x(f.t0) + f.x(launch_end)) / 2:.1f}" y="{base}" text-anchor="middle"'
            f' font-size="11" fill="#6b7280">launch period</text>'
        )
    order = {"normal": 0, "overall": 1, "highlight": 2}
    ends: list[tuple[float, Line]] = []
    for s in sorted(drawn, key=lambda s: order.get(s.style, 0)):
        colour = {"highlight": ALERT, "overall": OVERALL}.get(s.style, MUTED)
        stroke = {"highlight": 2.6, "overall": 2.0}.get(s.style, 1.4)
        parts += _trace(f, s.days, colour, stroke, f"line {s.style}")
        last = [d for d in s.days if d.estimate is not None][-1]
        ends.append((f.y(last.estimate or 0.0), s))
    for y, s in _spread(ends, gap=12.0, top=f.top, bottom=height - f.bottom):
        colour = {"highlight": ALERT, "overall": OVERALL}.get(s.style, "#4b5563")
        weight = ' font-weight="700"' if s.style != "normal" else ""
        parts.append(
            f'<text class="end-label" x="{width - f.right + 6}" y="{y + 4:.1f}" font-size="11"'
            f' fill="{colour}"{weight}>{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _spread(
    ends: list[tuple[float, Line]], *, gap: float, top: float, bottom: float
) -> list[tuple[float, Line]]:
    """End labels pushed apart so they do not overlap (kept in their vertical order)."""
    placed = sorted(ends, key=lambda e: e[0])
    ys: list[float] = []
    for y, _ in placed:
        ys.append(max(y, ys[-1] + gap) if ys else max(y, top))
    overflow = ys[-1] - bottom if ys else 0.0
    if overflow > 0:
        ys = [y - overflow for y in ys]
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = min(ys[i], ys[i + 1] - gap)
    return [(y, s) for y, (_, s) in zip(ys, placed, strict=True)]
