"""Tables for the terminal (Rich), and the same rows as JSON or CSV for machines.

Every command that prints results goes through :func:`emit`, so ``--format``
means the same everywhere: ``table`` for people, ``json`` (one JSON array of
objects, timestamps in ISO 8601 UTC) and ``csv`` for machines. Tables write
numbers and times as the store's words declare (``locale``, ``timezone``; see
:func:`speak_as`); JSON and CSV never change with them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seismo.locale import current, declare, formatter_for
from seismo.words import Words

__all__ = ["Format", "StoreOpt", "emit", "fmt_value", "safe", "speak_as", "to_json"]

Format = Literal["table", "json", "csv"]
#: Every command's ``--store`` (or ``$SEISMO_STORE``).
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="SEISMO_STORE", help="DuckDB file or postgresql:// URL."),
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object) -> str:
    r"""``text`` fit to print on a terminal through Rich: markup and control characters escaped.

    Values come from user data: ``[bold]`` must print as text, and an escape
    sequence (``ESC[2J`` clears the screen) as its visible code.

    >>> safe("25-34\x1b[2J [b]x[/b]")
    '25-34\\x1b[2J \\[b]x\\[/b]'
    """
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return escape(shown)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    """One JSON array, one object per line (readable, and encoded by the C encoder)."""
    if not rows:
        return "[]"
    lines = (
        json.dumps({k: _jsonable(v) if isinstance(v, float | date) else v for k, v in r.items()})
        for r in rows
    )
    return "[\n  " + ",\n  ".join(lines) + "\n]"


def speak_as(words: Words) -> None:
    """Write the running command's tables and times as ``words`` declare, until it ends.

    Called once a command has opened its store; the CLI's root callback opens a
    :func:`seismo.locale.scope` around every command, so nothing outlives it.
    """
    declare(formatter_for(words))


def fmt_value(value: Any, *, percent: bool = False) -> str:
    """A value rounded for humans, in the current number format (:func:`seismo.locale.current`).

    >>> fmt_value(0.1534, percent=True), fmt_value(1234.5), fmt_value(datetime(2026, 6, 1))
    ('15.3%', '1,234.500', '2026-06-01')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    fmt = current()
    if percent and isinstance(value, float):
        return fmt.percent(value, 1)
    if isinstance(value, float):
        return fmt.decimal(value, 3)
    if isinstance(value, int):
        return fmt.decimal(value, 0)
    if isinstance(value, datetime):
        return fmt.table_time(value)
    return str(value)


def emit(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    title: str | None = None,
    percent: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """Print ``rows`` as a Rich table, a JSON array or CSV on standard output."""
    if fmt == "json":
        sys.stdout.write(to_json(rows) + "\n")
        return
    if fmt == "csv":
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _jsonable(v) for k, v in r.items()})
        sys.stdout.write(buf.getvalue())
        return
    console = console or Console()
    table = Table(title=title, title_justify="left", header_style="bold")
    columns = list(rows[0]) if rows else []
    for c in columns:
        numeric = any(isinstance(r.get(c), int | float) for r in rows)
        table.add_column(safe(c.replace("_", " ")), justify="right" if numeric else "left")
    for r in rows:
        # Values come from user data: escape them so '[bold]' or '<script>' print as text.
        table.add_row(*(safe(fmt_value(r.get(c), percent=c in percent)) for c in columns))
    console.print(table)
