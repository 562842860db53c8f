"""``seismo alerts``: list alerts, acknowledge one, silence one for a while.

A Typer sub-app, registered by the main command as ``seismo alerts``. It keeps
the contract of every seismo command (``--store``, ``--format
table|json|csv``, exit code 2 with one clear line on bad usage such as an
unknown id). The option helpers are defined here rather than imported from
:mod:`seismo.cli`, which imports this module to register it.

``--store`` and ``--format`` may be given before the subcommand
(``seismo alerts --store s.duckdb ack 3f9a``) or after it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from seismo.alerts.model import STATES, Alert, AlertState
from seismo.alerts.notification import moment_text, value_text
from seismo.alerts.store import acknowledge, get_alert, list_alerts, silence
from seismo.config import parse_duration
from seismo.errors import SeismoError
from seismo.present.console import Format, emit

if TYPE_CHECKING:
    from seismo.store import Engine

T = TypeVar("T")

__all__ = ["alerts_app", "parse_states"]

alerts_app = typer.Typer(
    name="alerts",
    help="Alerts raised by checks: list them, acknowledge one, silence one for a while.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="SEISMO_STORE", help="DuckDB file or postgresql:// URL."),
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="table, json or csv.")]
IdArg = Annotated[str, typer.Argument(help="Alert id (or a unique prefix of 4+ characters).")]


def parse_states(text: str) -> tuple[AlertState, ...]:
    """``--state``: one state, several separated by commas, ``active`` or ``all``.

    >>> parse_states("active"), parse_states("firing,resolved")
    (('firing', 'acknowledged'), ('firing', 'resolved'))
    """
    chosen: list[AlertState] = []
    for word in (w.strip() for w in text.lower().split(",")):
        if word == "all":
            chosen.extend(STATES)
        elif word == "active":
            chosen.extend(("firing", "acknowledged"))
        elif word in STATES:
            chosen.append(word)
        else:
            raise typer.BadParameter(
                f"--state must be firing, acknowledged, resolved, active or all, not {word!r}"
            )
    return tuple(dict.fromkeys(chosen))


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    store: StoreOpt = None,
    state: Annotated[
        str,
        typer.Option(
            help="firing, acknowledged, resolved (comma-separated), active "
            "(firing and acknowledged) or all."
        ),
    ] = "active",
    fmt: FormatOpt = None,
) -> None:
    """List alerts, most pressing first: firing and acknowledged ones unless --state says."""
    ctx.obj = {"store": store, "format": fmt}
    if ctx.invoked_subcommand is not None:
        return
    output = _format(fmt)
    states = parse_states(state)
    found = _run(store, lambda engine: list_alerts(engine, states=states))
    if output != "table":
        emit([_machine(a, output) for a in found], output)
        return
    if not found:
        Console().print(f"No {' or '.join(states)} alerts.")
        return
    now = _now()
    rows = [
        {
            "id": a.id,
            "severity": a.severity,
            "state": _state_words(a, now),
            "since": moment_text(a.since),
            "for whom": a.who,
            "what": f"{a.metric_label}: {value_text(a.baseline, a.unit)} → "
            f"{value_text(a.current, a.unit)}",
            "message": a.message,
        }
        for a in found
    ]
    emit(rows, "table", title=f"Alerts ({', '.join(states)})")


@alerts_app.command("ack")
def ack_command(
    ctx: typer.Context,
    id: IdArg,
    by: Annotated[
        str | None, typer.Option("--by", help="Who is handling it (default: $USER).")
    ] = None,
    store: StoreOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Acknowledge an alert: someone is on it. It stays acknowledged while its condition lasts."""
    who = by or os.environ.get("USER") or None
    at = _now()
    alert = _run(_store(ctx, store), lambda engine: acknowledge(engine, id, by=who, at=at))
    _report(alert, _format(_fmt(ctx, fmt)), f"acknowledged by {who or 'someone'}")


@alerts_app.command("silence")
def silence_command(
    ctx: typer.Context,
    id: IdArg,
    duration: Annotated[
        str, typer.Option("--for", help="How long: 30m, 12h, 7d (0s lifts a silence).")
    ],
    store: StoreOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Hold back an alert's notifications for a while; it keeps updating meanwhile."""
    try:
        length = parse_duration(duration)
    except SeismoError as exc:
        _fail(exc)
    at = _now()
    alert = _run(_store(ctx, store), lambda engine: silence(engine, id, until=at + length, at=at))
    _report(alert, _format(_fmt(ctx, fmt)), f"silenced until {moment_text(alert.silenced_until)}")


@alerts_app.command("show")
def show_command(
    ctx: typer.Context, id: IdArg, store: StoreOpt = None, fmt: FormatOpt = None
) -> None:
    """Everything about one alert: the message, and the test, p-values and evidence behind it."""
    alert = _run(_store(ctx, store), lambda engine: get_alert(engine, id))
    output = _format(_fmt(ctx, fmt))
    if output != "table":
        emit([_machine(alert, output)], output)
        return
    rows = [{"field": k, "value": _field_text(v)} for k, v in alert.to_record().items() if v != {}]
    emit(rows, "table", title=f"Alert {alert.id}: {alert.metric_label} for {alert.who}")


# -- helpers (shared by the subcommands; seismo.cli has its own twins) --------


def _format(value: str | None) -> Format:
    value = value or "table"
    if value not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format must be table, json or csv, not {value!r}")
    return value  # type: ignore[return-value]


def _fail(exc: SeismoError) -> NoReturn:
    _err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    raise typer.Exit(2)


def _store(ctx: typer.Context, store: str | None) -> str | None:
    """The subcommand's ``--store``, else the one given before the subcommand."""
    return store or (ctx.obj or {}).get("store")


def _fmt(ctx: typer.Context, fmt: str | None) -> str | None:
    return fmt or (ctx.obj or {}).get("format")


def _run(store: str | None, action: Callable[[Engine], T]) -> T:
    """Open the store, run ``action(engine)``, close; seismo errors become exit code 2."""
    from seismo.store import open_store

    try:
        handle = open_store(store)
    except SeismoError as exc:
        _fail(exc)
    try:
        return action(handle.engine)
    except SeismoError as exc:
        _fail(exc)
    finally:
        handle.close()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _state_words(alert: Alert, now: datetime) -> str:
    words: str = alert.state
    if alert.state == "acknowledged" and alert.acknowledged_by:
        words += f" by {alert.acknowledged_by}"
    elif alert.state == "resolved":
        words += f" {moment_text(alert.resolved_at)}"
    if alert.silenced_at(now):
        words += f", silenced until {moment_text(alert.silenced_until)}"
    return words


def _machine(alert: Alert, output: Format) -> dict[str, Any]:
    """The JSON record; for CSV, nested values (segment, evidence) as JSON text."""
    record = alert.to_record()
    if output == "csv":
        for key in ("segment", "root", "evidence"):
            value = record[key]
            record[key] = None if value is None else json.dumps(value, sort_keys=True)
    return record


def _report(alert: Alert, output: Format, done: str) -> None:
    if output != "table":
        emit([_machine(alert, output)], output)
        return
    Console().print(
        f"Alert {alert.id} ({alert.metric_label} for {alert.who}) {done}.",
        markup=False,
        highlight=False,
    )


def _field_text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, datetime):
        return moment_text(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
