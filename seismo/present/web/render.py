"""Views drawn as HTML: the Jinja2 environment, its filters, and the static report.

Autoescaping is on for every template, whatever its name: segment values come
from user data, and a value such as ``<script>`` must reach the page as text.
Charts (:mod:`~seismo.present.web.charts`) escape their own text and come back
as ``Markup``. The stylesheet is inlined into every page, so the served
dashboard and the mailed report are the same document and need no network.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from seismo.alerts.model import plain
from seismo.locale import current, formatter_for, using
from seismo.present.web import charts, curve_charts, drift_svg, humanize
from seismo.present.web.figures import Day
from seismo.present.web.snapshot import Snapshot

__all__ = ["environment", "render_page", "render_report", "to_json"]

HERE = Path(__file__).parent


def _days(records: list[dict[str, Any]]) -> list[Day]:
    return [
        Day(
            start=r["start"],
            end=r["end"],
            n=r["n"],
            estimate=r["estimate"],
            low=r["low"],
            high=r["high"],
            observed=r["observed"],
            final=r["final"],
        )
        for r in records
    ]


def _spark(
    records: list[dict[str, Any]],
    label: str,
    *,
    y_range: tuple[float, float] | list[float] | None = None,
    launch_end: datetime | None = None,
    highlight: bool = False,
    width: int = 220,
    height: int = 54,
    planned: list[dict[str, Any]] | None = None,
) -> Markup:
    return charts.sparkline(
        _days(records),
        label=label,
        width=width,
        height=height,
        y_range=tuple(y_range) if y_range is not None else None,  # type: ignore[arg-type]
        launch_end=launch_end,
        highlight=highlight,
        planned=_periods(planned),
    )


def _lines(
    chart: dict[str, Any],
    *,
    launch_end: datetime | None = None,
    width: int = 520,
    planned: list[dict[str, Any]] | None = None,
) -> Markup:
    series = [charts.Line(s["name"], _days(s["days"]), s["style"]) for s in chart["lines"]]
    return charts.lines(
        series,
        label=chart["title"],
        unit=chart["unit"],
        launch_end=launch_end,
        width=width,
        planned=_periods(planned),
    )


def _periods(planned: list[dict[str, Any]] | None) -> list[charts.Period]:
    """The view's planned changes as chart periods."""
    return [(p["start"], p["end"], p["note"]) for p in planned or ()]


def _pretty_json(value: Any) -> str:
    return json.dumps(plain(value), indent=2, sort_keys=True)


def _num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return humanize.DASH
    return current().significant(x, digits)


@cache
def environment() -> Environment:
    """The one Jinja2 environment: autoescape everywhere, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        share=humanize.share,
        money=humanize.money,
        count=humanize.count,
        about=humanize.about,
        change=humanize.change,
        points=humanize.points,
        day=humanize.day,
        moment=humanize.moment,
        stamp=humanize.stamp,
        num=_num,
        whole=lambda n: current().decimal(n, 0),
        fixed=lambda x, digits: current().decimal(x, digits),
        pretty_json=_pretty_json,
    )
    env.globals.update(
        spark=_spark,
        lines_chart=_lines,
        classifier_charts=curve_charts.CHARTS,
        histogram_pair=drift_svg.histogram_pair,
        bar_pairs=drift_svg.bar_pairs,
        threshold_chart=drift_svg.threshold_chart,
        day_range=humanize.day_range,
        value=humanize.value,
        css=Markup((HERE / "static" / "dashboard.css").read_text(encoding="utf-8")),
    )
    return env


def render_page(
    template: str,
    view: dict[str, Any],
    *,
    standalone: bool = False,
    acts: dict[str, Any] | None = None,
) -> str:
    """One page from its view data; ``standalone`` drops the links to the live server.

    ``acts`` (:func:`.acts.page_acts`) draws the live server's forms; without
    it (a report) a page has none.
    """
    return (
        environment()
        .get_template(template)
        .render(view=view, standalone=standalone, acts=None if standalone else acts)
    )


def render_report(snap: Snapshot) -> str:
    """The business view as one self-contained HTML document (inline CSS and SVG, no script)."""
    from seismo.present.web.views import overview

    with using(formatter_for(snap.words)):
        return render_page("overview.html.j2", overview(snap), standalone=True)


def to_json(view: dict[str, Any]) -> Any:
    """A view as strict JSON data (times as ISO 8601 UTC, NaN as null)."""
    return plain(view)
