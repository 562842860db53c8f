"""How alerts sit in the store: the ``alerts`` and ``alert_checks`` tables.

Portable SQL through :class:`~seismo.store.engine.Engine`, so the same
statements run on DuckDB and PostgreSQL; what the rows *mean* over time is
decided in :mod:`seismo.alerts.store`. Segments and evidence are kept as JSON
text: every engine stores text, and an alert is read whole, never queried by
its evidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from seismo.alerts.model import Alert
from seismo.store.engine import Engine, quote
from seismo.store.read import stored_words
from seismo.words import NEUTRAL, Words

__all__ = [
    "COLUMNS",
    "checked",
    "ensure_alert_tables",
    "insert",
    "mark_checked",
    "select",
    "update",
]

#: Column → portable SQL type, in :class:`Alert` field order. Names are quoted in
#: every statement ("group", "key" and "current" are keywords somewhere).
COLUMNS: dict[str, str] = {
    "id": "VARCHAR PRIMARY KEY",
    "key": "VARCHAR NOT NULL UNIQUE",
    "group": "VARCHAR NOT NULL",
    "kind": "VARCHAR NOT NULL",
    "severity": "VARCHAR NOT NULL",
    "state": "VARCHAR NOT NULL",
    "metric": "VARCHAR NOT NULL",
    "metric_label": "VARCHAR",
    "unit": "VARCHAR",
    "segment": "VARCHAR",  # JSON text, NULL for the aggregate
    "root": "VARCHAR",  # JSON text
    "direction": "VARCHAR",
    "baseline": "DOUBLE PRECISION",
    "baseline_low": "DOUBLE PRECISION",
    "baseline_high": "DOUBLE PRECISION",
    "current": "DOUBLE PRECISION",
    "current_low": "DOUBLE PRECISION",
    "current_high": "DOUBLE PRECISION",
    "baseline_start": "TIMESTAMP",
    "baseline_end": "TIMESTAMP",
    "window_start": "TIMESTAMP",
    "window_end": "TIMESTAMP",
    "test": "VARCHAR",
    "statistic": "DOUBLE PRECISION",
    "p_value": "DOUBLE PRECISION",
    "adjusted_p": "DOUBLE PRECISION",
    "n_baseline": "BIGINT",
    "n_current": "BIGINT",
    "since": "TIMESTAMP",
    "first_seen": "TIMESTAMP NOT NULL",
    "last_seen": "TIMESTAMP NOT NULL",
    "resolved_at": "TIMESTAMP",
    "acknowledged_at": "TIMESTAMP",
    "acknowledged_by": "VARCHAR",
    "silenced_until": "TIMESTAMP",
    "episodes": "BIGINT NOT NULL",
    "message": "VARCHAR",
    "action": "VARCHAR",
    "evidence": "VARCHAR",  # JSON text
}
_JSON_COLUMNS = ("segment", "root", "evidence")
_SELECT = "SELECT " + ", ".join(quote(c) for c in COLUMNS) + " FROM alerts"


def ensure_alert_tables(engine: Engine) -> None:
    """Create ``alerts`` and ``alert_checks`` if missing (safe inside a transaction)."""
    columns = ",\n  ".join(f"{quote(c)} {t}" for c, t in COLUMNS.items())
    engine.execute(f"CREATE TABLE IF NOT EXISTS alerts (\n  {columns}\n)")
    engine.execute(
        "CREATE TABLE IF NOT EXISTS alert_checks"
        " (kind VARCHAR PRIMARY KEY, last_as_of TIMESTAMP NOT NULL)"
    )


def _to_row(alert: Alert) -> list[Any]:
    values = []
    for column in COLUMNS:
        value = getattr(alert, column)
        if column in _JSON_COLUMNS:
            value = None if value is None else json.dumps(value, sort_keys=True)
        values.append(value)
    return values


def _from_row(row: tuple[Any, ...], words: Words) -> Alert:
    data = dict(zip(COLUMNS, row, strict=True))
    for column in _JSON_COLUMNS:
        data[column] = None if data[column] is None else json.loads(data[column])
    data["evidence"] = data["evidence"] or {}
    for column in ("n_baseline", "n_current", "episodes"):
        data[column] = None if data[column] is None else int(data[column])
    return Alert(**data, words=words)


def insert(engine: Engine, alert: Alert) -> None:
    """Store a new alert (the caller holds the transaction)."""
    p = engine.param()
    names = ", ".join(quote(c) for c in COLUMNS)
    holders = ", ".join(p for _ in COLUMNS)
    engine.execute(f"INSERT INTO alerts ({names}) VALUES ({holders})", _to_row(alert))


def update(engine: Engine, alert: Alert) -> None:
    """Write every field of an existing alert: the decision was made whole in Python."""
    p = engine.param()
    row = dict(zip(COLUMNS, _to_row(alert), strict=True))
    settable = [c for c in COLUMNS if c not in ("id", "key")]
    assignments = ", ".join(f"{quote(c)} = {p}" for c in settable)
    engine.execute(
        f"UPDATE alerts SET {assignments} WHERE {quote('id')} = {p}",
        [*(row[c] for c in settable), alert.id],
    )


def checked(engine: Engine) -> dict[str, datetime]:
    """Per finding kind, the newest ``as_of`` a sync has applied."""
    return {str(k): v for k, v in engine.query("SELECT kind, last_as_of FROM alert_checks")}


def mark_checked(engine: Engine, kind: str, moment: datetime) -> None:
    """Record that a check of ``kind`` as of ``moment`` was applied (update, else insert)."""
    p = engine.param()
    if not engine.query(f"SELECT 1 FROM alert_checks WHERE kind = {p}", (kind,)):
        engine.execute(
            f"INSERT INTO alert_checks (kind, last_as_of) VALUES ({p}, {p})", (kind, moment)
        )
    else:
        engine.execute(f"UPDATE alert_checks SET last_as_of = {p} WHERE kind = {p}", (moment, kind))


def select(engine: Engine, where: str = "", params: Sequence[Any] = ()) -> list[Alert]:
    """Alerts matching a ``WHERE`` clause (placeholders from ``engine.param()``)."""
    rows = engine.query(f"{_SELECT} {where}", list(params))
    words = stored_words(engine) if rows else NEUTRAL
    return [_from_row(r, words) for r in rows]
