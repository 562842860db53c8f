"""Planned changes: known events (a collection changeover, a campaign, a release) people record.

A change that was planned still moves the figures, and the monitor should
still say so, but it should not compete with the problems nobody expected.
``seismo annotate --from 2026-06-01 --to 2026-06-03 --note "summer changeover"``
records one (optionally for one segment: ``--segment region=south``); every
check then marks the findings that *began* inside it as "during a planned
change", names the note, and ranks them below the unexplained ones. They are
still stored, grouped and notified like any other finding: a planned change
that hurts more than planned is still news.

A finding matches an annotation when its ``since`` lies within the
annotation's period (both ends inclusive, to the end of the last day) and
the annotation covers its segment: no segment covers everything; a segment
covers the findings whose segment includes it (``region=south`` covers
"25-34 in south").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from seismo.detect.findings import Finding
from seismo.errors import ConfigError
from seismo.store.engine import Engine

__all__ = ["PlannedChange", "add_planned", "list_planned", "mark_planned", "remove_planned"]

TABLE = "planned_changes"


@dataclass(frozen=True)
class PlannedChange:
    """One recorded event: a period, what it was, and whom it concerned (None: everyone)."""

    id: str
    starts: datetime
    ends: datetime
    note: str
    segment: dict[str, str] | None
    created_at: datetime

    def covers(self, f: Finding) -> bool:
        """Did ``f`` begin inside this period, for a segment this change concerns?"""
        if not self.starts <= f.since < self.ends + timedelta(days=1):
            return False
        if self.segment is None:
            return True
        return (f.segment or {}).items() >= self.segment.items()

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.starts,
            "to": self.ends,
            "note": self.note,
            "segment": self.segment,
            "created_at": self.created_at,
        }


def _create(engine: Engine) -> None:
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id VARCHAR PRIMARY KEY, starts TIMESTAMP NOT NULL,"
        " ends TIMESTAMP NOT NULL, note VARCHAR NOT NULL, segment VARCHAR,"
        " created_at TIMESTAMP NOT NULL)"
    )


def add_planned(
    engine: Engine,
    *,
    starts: datetime,
    ends: datetime,
    note: str,
    segment: dict[str, str] | None = None,
    now: datetime | None = None,
) -> PlannedChange:
    """Record a planned change (the same period, note and segment twice is one record)."""
    note = note.strip()
    if not note:
        raise ConfigError("a planned change needs a note saying what it was (--note)")
    if any(ord(c) < 32 for c in note):
        raise ConfigError("--note: control characters are not allowed")
    if ends < starts:
        raise ConfigError(f"--to {ends:%Y-%m-%d} is before --from {starts:%Y-%m-%d}")
    seg = json.dumps(segment, sort_keys=True) if segment else None
    key = f"{starts.isoformat()}|{ends.isoformat()}|{note}|{seg}"
    change = PlannedChange(
        id=hashlib.blake2b(key.encode(), digest_size=6).hexdigest(),
        starts=starts,
        ends=ends,
        note=note,
        segment=segment or None,
        created_at=(now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0),
    )
    p = engine.param()
    with engine.transaction():
        _create(engine)
        if not engine.query(f"SELECT 1 FROM {TABLE} WHERE id = {p}", (change.id,)):
            engine.execute(
                f"INSERT INTO {TABLE} (id, starts, ends, note, segment, created_at)"
                f" VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                (change.id, starts, ends, note, seg, change.created_at),
            )
    return change


def list_planned(engine: Engine) -> list[PlannedChange]:
    """Every recorded planned change, oldest period first."""
    if not engine.table_columns(TABLE):
        return []
    rows = engine.query(
        f"SELECT id, starts, ends, note, segment, created_at FROM {TABLE} ORDER BY starts, id"
    )
    return [
        PlannedChange(str(i), s, e, str(n), json.loads(g) if g else None, c)
        for i, s, e, n, g, c in rows
    ]


def remove_planned(engine: Engine, change_id: str) -> bool:
    """Forget a planned change; whether there was one with this id."""
    if not engine.table_columns(TABLE):
        return False
    p = engine.param()
    with engine.transaction():
        found = bool(engine.query(f"SELECT 1 FROM {TABLE} WHERE id = {p}", (change_id,)))
        engine.execute(f"DELETE FROM {TABLE} WHERE id = {p}", (change_id,))
    return found


def mark_planned(findings: list[Finding], changes: list[PlannedChange]) -> list[Finding]:
    """The findings, those that began inside a planned change marked and ranked last.

    A marked finding's message ends with the note; its evidence carries the
    change (``planned``), which the pages and notifications show.
    """
    out = []
    for f in findings:
        change = next((c for c in changes if c.covers(f)), None)
        if change is None:
            out.append(f)
            continue
        evidence = {**f.evidence, "planned": {"id": change.id, "note": change.note}}
        message = f"{f.message.rstrip('.')} (during a planned change: {change.note})."
        out.append(replace(f, evidence=evidence, message=message))
    # Stable: unexplained findings first, each part keeping the check's own order.
    return sorted(out, key=lambda f: "planned" in f.evidence)
