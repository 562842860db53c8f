"""``seismo annotate``: record a planned change, list them, forget one (see :mod:`.planned`).

A thin layer: it parses the options, opens the store through the alerts
commands' helper and prints what the store now holds.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated

import typer

from seismo.alerts.command import FormatOpt, _format, _run, refuse_writers
from seismo.alerts.planned import add_planned, list_planned, remove_planned
from seismo.present.console import StoreOpt, emit

__all__ = ["annotate_command"]


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time())
    except ValueError as exc:
        raise typer.BadParameter(f"{option} must be a day, YYYY-MM-DD, not {text!r}") from exc


def _segment(texts: list[str]) -> dict[str, str] | None:
    out = {}
    for text in texts:
        attribute, sep, value = text.partition("=")
        if not sep or not attribute.strip() or not value.strip():
            raise typer.BadParameter(f"--segment must be ATTRIBUTE=VALUE, not {text!r}")
        out[attribute.strip()] = value.strip()
    return out or None


def annotate_command(
    start: Annotated[
        str | None, typer.Option("--from", help="First day of the change (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of the change (default: --from).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="What it was: 'summer changeover'.")] = None,
    segment: Annotated[
        list[str], typer.Option(help="Only for this group, ATTRIBUTE=VALUE (repeat).")
    ] = [],  # noqa: B006
    remove: Annotated[
        str | None, typer.Option(help="Forget the planned change of this id.")
    ] = None,
    store: StoreOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Record a planned change (a changeover, a campaign, a release); without --note, list them.

    Findings that began inside a planned change are marked "during a planned
    change" and ranked below the unexplained ones; they are still shown.
    """
    output = _format(fmt)
    if remove is not None or note is not None or start is not None:
        refuse_writers(store, "annotate")
    if remove is not None:
        found = _run(store, lambda engine: remove_planned(engine, remove))
        if not found:
            typer.echo(f"error: no planned change with id {remove!r}", err=True)
            raise typer.Exit(2)
    elif note is not None or start is not None:
        if note is None or start is None:
            raise typer.BadParameter("a planned change needs --from and --note")
        first = _day(start, "--from")
        last = _day(end, "--to") if end else first
        if last < first:
            raise typer.BadParameter(f"--to {end} is before --from {start}")
        if last - first > timedelta(days=366):
            raise typer.BadParameter("a planned change longer than a year explains nothing")
        group = _segment(segment)
        _run(
            store,
            lambda engine: add_planned(engine, starts=first, ends=last, note=note, segment=group),
        )
    changes = _run(store, list_planned)
    rows = [
        {
            "id": c.id,
            "from": f"{c.starts:%Y-%m-%d}",
            "to": f"{c.ends:%Y-%m-%d}",
            "for whom": ", ".join(f"{k}={v}" for k, v in sorted((c.segment or {}).items()))
            or "everyone",
            "note": c.note,
        }
        for c in changes
    ]
    emit(rows, output, title="Planned changes")
