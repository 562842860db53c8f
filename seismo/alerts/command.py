"""``seismo alerts``: list alerts, acknowledge one, silence one, see their deliveries.

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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from seismo.alerts.delivery import DeliveryPolicy, DeliveryStatus, delivery_status, load_policy
from seismo.alerts.model import STATES, Alert, AlertState, plain
from seismo.alerts.notification import moment_text, value_text
from seismo.alerts.outbox import Attempt
from seismo.alerts.routing import Route, load_routes
from seismo.alerts.store import acknowledge, get_alert, list_alerts, silence
from seismo.config import parse_duration
from seismo.errors import SeismoError
from seismo.locale import current
from seismo.present.console import Format, StoreOpt, emit, safe, speak_as

if TYPE_CHECKING:
    from seismo.store import Engine

T = TypeVar("T")

__all__ = ["alert_record", "alerts_app", "parse_states"]

alerts_app = typer.Typer(
    name="alerts",
    help="Alerts raised by checks: list them, acknowledge one, silence one for a while.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)

FormatOpt = Annotated[str | None, typer.Option("--format", help="table, json or csv.")]
IdArg = Annotated[str, typer.Argument(help="Alert id (or a unique prefix of 4+ characters).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML with [alerts] routes: list every route's deliveries."),
]
_DELIVERY_STATES = ("pending", "sending", "retrying", "delivered", "failed", "expired")


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
        emit([alert_record(a, output) for a in found], output)
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
    refuse_writers(_store(ctx, store), "change alerts")
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
    refuse_writers(_store(ctx, store), "change alerts")
    alert = _run(_store(ctx, store), lambda engine: silence(engine, id, until=at + length, at=at))
    _report(alert, _format(_fmt(ctx, fmt)), f"silenced until {moment_text(alert.silenced_until)}")


@alerts_app.command("show")
def show_command(
    ctx: typer.Context,
    id: IdArg,
    store: StoreOpt = None,
    fmt: FormatOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Everything about one alert: the message, the test and evidence, and its notifications.

    The notifications are the outbox entries about this alert, each with its
    deliveries per route and every attempt (time, HTTP status or error).
    """
    output = _format(_fmt(ctx, fmt))
    routes, policy = _routes(config)

    def read(engine: Engine) -> tuple[Alert, list[DeliveryStatus]]:
        alert = get_alert(engine, id)
        found = delivery_status(engine, routes, policy=policy, now=_now(), alert=alert.id)
        return alert, found

    alert, found = _run(_store(ctx, store), read)
    if output != "table":
        record = alert_record(alert, output)
        deliveries = plain([_status_record(d, "json") for d in found])
        csv = output == "csv"
        record["deliveries"] = json.dumps(deliveries, sort_keys=True) if csv else deliveries
        emit([record], output)
        return
    rows = [{"field": k, "value": _field_text(v)} for k, v in alert.to_record().items() if v != {}]
    emit(rows, "table", title=f"Alert {alert.id}: {alert.metric_label} for {alert.who}")
    if not found:
        Console().print("No notification about this alert yet.")
        return
    attempts = [
        {
            "as of": moment_text(d.entry.as_of),
            "reason": d.entry.reason,
            "route": d.route or "—",
            "state": d.state,
            "attempt": a.attempt if a else None,
            "at": moment_text(a.started_at) if a else "—",
            "result": _attempt_text(a),
        }
        for d in found
        for a in (d.attempts or (None,))
    ]
    emit(attempts, "table", title="Notifications, deliveries and attempts")


@alerts_app.command("deliveries")
def deliveries_command(
    ctx: typer.Context,
    store: StoreOpt = None,
    fmt: FormatOpt = None,
    config: ConfigOpt = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only these states (comma-separated): pending, sending, retrying, delivered,"
            " failed, expired."
        ),
    ] = None,
) -> None:
    """Notifications in the outbox and where each route stands: delivered, retrying, failed.

    With --config, every configured route is listed for every notification it
    takes, so what is still pending (or expired before it was sent) shows too.
    """
    output = _format(_fmt(ctx, fmt))
    wanted = _delivery_states(state)
    routes, policy = _routes(config)
    found = _run(
        _store(ctx, store),
        lambda engine: delivery_status(engine, routes, policy=policy, now=_now()),
    )
    found = [d for d in found if wanted is None or d.state in wanted]
    if output != "table":
        emit([_status_record(d, output) for d in found], output)
        return
    if not found:
        Console().print("No notifications" + (f" {' or '.join(wanted)}." if wanted else "."))
        return
    rows = [
        {
            "as of": moment_text(d.entry.as_of),
            "severity": d.entry.severity,
            "reason": d.entry.reason,
            "alert": d.entry.alert_ids[0],
            "route": d.route or "—",
            "state": d.state,
            "attempts": len(d.attempts),
            "last result": _attempt_text(d.attempts[-1] if d.attempts else None),
            "next attempt": moment_text(d.next_attempt_at) if d.next_attempt_at else "—",
        }
        for d in found
    ]
    emit(rows, "table", title="Notifications and their deliveries")


# -- helpers (shared by the subcommands; seismo.cli has its own twins) --------


def _format(value: str | None) -> Format:
    value = value or "table"
    if value not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format must be table, json or csv, not {value!r}")
    return value  # type: ignore[return-value]


def _routes(config: Path | None) -> tuple[list[Route] | None, DeliveryPolicy | None]:
    """The routes and retry policy of ``--config``, or (None, None) without one."""
    if config is None:
        return None, None
    try:
        return load_routes(config), load_policy(config)
    except SeismoError as exc:
        _fail(exc)


def _delivery_states(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    words = tuple(w.strip().lower() for w in text.split(",") if w.strip())
    if unknown := [w for w in words if w not in _DELIVERY_STATES]:
        raise typer.BadParameter(
            f"--state must be among {', '.join(_DELIVERY_STATES)}, not {', '.join(unknown)}"
        )
    return words


def _status_record(status: DeliveryStatus, output: Format) -> dict[str, Any]:
    """A delivery's record; every attempt nested (JSON) or as JSON text (CSV)."""
    record = status.to_record()
    history = plain([a.to_record() for a in status.attempts])
    record["history"] = json.dumps(history, sort_keys=True) if output == "csv" else history
    return record


def _attempt_text(attempt: Attempt | None) -> str:
    if attempt is None:
        return "—"
    if attempt.outcome == "sending":
        return "sending"
    said = f"HTTP {attempt.status}" if attempt.status is not None else ""
    if attempt.outcome == "delivered":
        return "delivered" + (f" ({said})" if said else "")
    return attempt.error or said or "failed"


def _fail(exc: SeismoError) -> NoReturn:
    _err.print(f"[bold red]error:[/] {safe(exc)}", markup=True, highlight=False)
    raise typer.Exit(2)


def _store(ctx: typer.Context, store: str | None) -> str | None:
    """The subcommand's ``--store``, else the one given before the subcommand."""
    return store or (ctx.obj or {}).get("store")


def _fmt(ctx: typer.Context, fmt: str | None) -> str | None:
    return fmt or (ctx.obj or {}).get("format")


def refuse_writers(store: str | None, what: str) -> None:
    """Exit 2 with what to do when ``seismo serve`` is this DuckDB store's one writer."""
    from seismo.store.serving import refuse_if_served

    try:
        refuse_if_served(store, what)
    except SeismoError as exc:
        _fail(exc)


def _run(store: str | None, action: Callable[[Engine], T]) -> T:
    """Open the store, run ``action(engine)``, close; seismo errors become exit code 2."""
    from seismo.store import open_store
    from seismo.store.read import stored_words

    try:
        handle = open_store(store)
        speak_as(stored_words(handle.engine))  # times in the store's declared locale and zone
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


def alert_record(alert: Alert, output: Format) -> dict[str, Any]:
    """The alert's record for ``--format``; for CSV, nested values (segment, evidence) as
    JSON text."""
    return alert.to_flat_record() if output == "csv" else alert.to_record()


def _report(alert: Alert, output: Format, done: str) -> None:
    if output != "table":
        emit([alert_record(alert, output)], output)
        return
    Console().print(
        safe(f"Alert {alert.id} ({alert.metric_label} for {alert.who}) {done}."),
        highlight=False,
    )


def _field_text(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, datetime):
        return moment_text(value)
    if isinstance(value, float):
        return current().significant(value, 4)
    return "—" if value is None else str(value)
