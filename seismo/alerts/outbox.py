"""The outbox: what is worth telling, kept in the store until every route has it.

Every :func:`~seismo.alerts.store.sync` (``seismo check``, the dashboard, the
report) records the notifications of its changes (new, escalated, re-opened,
resumed, related: :func:`~seismo.alerts.notification.build_notifications`)
in ``alert_outbox``, in the transaction that changes the alerts, whatever
routes exist. Delivering them is a separate step
(:func:`seismo.alerts.delivery.notify`), which writes one row per attempt to
``alert_deliveries``. So a page view can no longer "use up" a change: it
only adds it to the outbox, and the next ``seismo check`` with routes tells it.

Two tables, created on first use with portable SQL (DuckDB and PostgreSQL):

``alert_outbox``
    one row per notification: its id (a hash of the check's moment, the
    group and the changes, so a re-run check records nothing twice and two
    stores fed the same checks agree), when it was recorded, the check's
    ``as_of``, group, severity, reason, the alert ids (lead first) and the
    notification itself as JSON (the alerts as they were at that check, so a
    retry tomorrow still says what happened then).
``alert_deliveries``
    one row per attempt to send one entry to one route, keyed by
    ``(entry, route, attempt)``. Inserting the row *is* the claim: the key is
    unique, so of two checks that pick the same delivery at once only one
    inserts it (``ON CONFLICT DO NOTHING``) and sends; the other skips. The
    row starts as ``sending`` and becomes ``delivered`` or ``failed`` with the
    HTTP status or the error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from seismo.alerts.model import Alert, plain, utc_naive
from seismo.alerts.notification import Notification
from seismo.detect.findings import Severity
from seismo.store.engine import Engine, quote
from seismo.words import NEUTRAL, Words

__all__ = [
    "Attempt",
    "OutboxEntry",
    "claim",
    "enqueue",
    "ensure_outbox_tables",
    "entry_id",
    "finish",
    "read_attempts",
    "read_entries",
]

Outcome = Literal["sending", "delivered", "failed"]

_OUTBOX = {
    "id": "VARCHAR PRIMARY KEY",
    "created_at": "TIMESTAMP NOT NULL",
    "as_of": "TIMESTAMP NOT NULL",
    "group": "VARCHAR NOT NULL",
    "severity": "VARCHAR NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "alert_ids": "VARCHAR NOT NULL",  # comma-separated, lead first
    "notification": "VARCHAR NOT NULL",  # JSON
}
_DELIVERIES = {
    "entry": "VARCHAR NOT NULL",
    "route": "VARCHAR NOT NULL",
    "attempt": "BIGINT NOT NULL",
    "started_at": "TIMESTAMP NOT NULL",
    "finished_at": "TIMESTAMP",
    "outcome": "VARCHAR NOT NULL",  # sending, delivered, failed
    "http_status": "BIGINT",
    "error": "VARCHAR",
}
_ENTRY_SELECT = "SELECT " + ", ".join(f"o.{quote(c)}" for c in _OUTBOX) + " FROM alert_outbox o"
_ATTEMPT_SELECT = (
    "SELECT " + ", ".join(f"d.{quote(c)}" for c in _DELIVERIES) + " FROM alert_deliveries d"
)


@dataclass(frozen=True, kw_only=True)
class OutboxEntry:
    """One notification waiting for, or given to, the routes."""

    id: str
    created_at: datetime
    as_of: datetime
    group: str
    severity: Severity
    reason: str
    alert_ids: tuple[str, ...]
    notification: Notification

    def to_record(self) -> dict[str, Any]:
        return {
            "entry": self.id,
            "created_at": self.created_at,
            "as_of": self.as_of,
            "group": self.group,
            "severity": self.severity,
            "reason": self.reason,
            "alerts": ",".join(self.alert_ids),
            "title": self.notification.headline,
        }


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One attempt to send one entry to one route (``sending`` while in flight)."""

    entry: str
    route: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: Outcome
    status: int | None
    error: str | None

    def to_record(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "route": self.route,
            "attempt": self.attempt,
            "at": self.started_at,
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
        }


def ensure_outbox_tables(engine: Engine) -> None:
    """Create ``alert_outbox`` and ``alert_deliveries`` if missing (safe inside a transaction)."""
    for name, columns, extra in (
        ("alert_outbox", _OUTBOX, ""),
        ("alert_deliveries", _DELIVERIES, ",\n  PRIMARY KEY (entry, route, attempt)"),
    ):
        body = ",\n  ".join(f"{quote(c)} {t}" for c, t in columns.items())
        engine.execute(f"CREATE TABLE IF NOT EXISTS {name} (\n  {body}{extra}\n)")


def entry_id(note: Notification) -> str:
    """16 hex digits of the SHA-256 of the check's moment, the group and what changed.

    Derived, so re-applying a check records nothing twice and two stores fed
    the same checks name their entries alike.
    """
    text = json.dumps([plain(note.as_of), note.group, note.changes], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def enqueue(engine: Engine, notes: Sequence[Notification], *, at: datetime) -> tuple[str, ...]:
    """Record ``notes`` (the caller holds the transaction); return the ids of the new entries."""
    if not notes:
        return ()
    ensure_outbox_tables(engine)
    p = engine.param()
    names = ", ".join(quote(c) for c in _OUTBOX)
    holders = ", ".join(p for _ in _OUTBOX)
    added = []
    for note in notes:
        ident = entry_id(note)
        row = (
            ident,
            utc_naive(at),
            note.as_of,
            note.group,
            note.severity,
            note.reason,
            ",".join(note.alert_ids),
            json.dumps(_dump(note), sort_keys=True, ensure_ascii=False),
        )
        sql = f"INSERT INTO alert_outbox ({names}) VALUES ({holders}) ON CONFLICT DO NOTHING"
        if engine.execute(sql, row) != 0:
            added.append(ident)
    return tuple(added)


def read_entries(
    engine: Engine, *, since: datetime | None = None, alert: str | None = None
) -> list[OutboxEntry]:
    """Entries recorded at or after ``since`` (None: all), about ``alert`` if given; oldest first.

    Within one check the order is the notifications' own (most severe first).
    """
    ensure_outbox_tables(engine)
    p = engine.param()
    where, params = _where(p, since, alert)
    rows = engine.query(f"{_ENTRY_SELECT}{where}", params)
    entries = [_entry(r) for r in rows]
    entries.sort(key=lambda e: (e.created_at, e.as_of, e.severity != "critical", e.group, e.id))
    return entries


def read_attempts(
    engine: Engine, *, since: datetime | None = None, alert: str | None = None
) -> list[Attempt]:
    """Every attempt for the entries :func:`read_entries` would return, in attempt order."""
    ensure_outbox_tables(engine)
    p = engine.param()
    where, params = _where(p, since, alert)
    rows = engine.query(
        f"{_ATTEMPT_SELECT} JOIN alert_outbox o ON o.{quote('id')} = d.entry{where}", params
    )
    attempts = [
        Attempt(
            entry=str(r[0]),
            route=str(r[1]),
            attempt=int(r[2]),
            started_at=r[3],
            finished_at=r[4],
            outcome=r[5],
            status=None if r[6] is None else int(r[6]),
            error=r[7],
        )
        for r in rows
    ]
    attempts.sort(key=lambda a: (a.entry, a.route, a.attempt))
    return attempts


def claim(engine: Engine, entry: str, route: str, attempt: int, *, at: datetime) -> bool:
    """Take attempt number ``attempt`` of this delivery; False if another check already has it.

    Runs on its own (autocommit), so the claim is visible to other checks at once.
    """
    p = engine.param()
    changed = engine.execute(
        "INSERT INTO alert_deliveries (entry, route, attempt, started_at, outcome)"
        f" VALUES ({p}, {p}, {p}, {p}, 'sending') ON CONFLICT DO NOTHING",
        (entry, route, attempt, utc_naive(at)),
    )
    return changed != 0


def finish(
    engine: Engine,
    entry: str,
    route: str,
    attempt: int,
    *,
    at: datetime,
    ok: bool,
    status: int | None = None,
    error: str | None = None,
) -> None:
    """Record how a claimed attempt ended (only while it is still ``sending``)."""
    p = engine.param()
    engine.execute(
        f"UPDATE alert_deliveries SET finished_at = {p}, outcome = {p}, http_status = {p},"
        f" error = {p} WHERE entry = {p} AND route = {p} AND attempt = {p}"
        " AND outcome = 'sending'",
        (utc_naive(at), "delivered" if ok else "failed", status, error, entry, route, attempt),
    )


def _where(p: str, since: datetime | None, alert: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"o.created_at >= {p}")
        params.append(utc_naive(since))
    if alert is not None:
        clauses.append(f"o.alert_ids LIKE {p}")  # ids are hex digits: no LIKE wildcards
        params.append(f"%{alert}%")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _dump(note: Notification) -> dict[str, Any]:
    return {
        "group": note.group,
        "as_of": plain(note.as_of),
        "severity": note.severity,
        "changes": note.changes,
        "lead": plain(note.lead.to_record()),
        "words": note.lead.words.to_json(),
        "related": [plain(a.to_record()) for a in note.related],
    }


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    data = dict(zip(_OUTBOX, row, strict=True))
    doc = json.loads(data["notification"])
    words = Words.from_json(doc["words"]) if "words" in doc else NEUTRAL
    note = Notification(
        entry=str(data["id"]),
        group=doc["group"],
        as_of=data["as_of"],
        severity=doc["severity"],
        lead=Alert.from_record(doc["lead"], words),
        related=tuple(Alert.from_record(r, words) for r in doc["related"]),
        changes=dict(doc["changes"]),
    )
    return OutboxEntry(
        id=str(data["id"]),
        created_at=data["created_at"],
        as_of=data["as_of"],
        group=str(data["group"]),
        severity=data["severity"],
        reason=str(data["reason"]),
        alert_ids=tuple(str(data["alert_ids"]).split(",")),
        notification=note,
    )
