"""Alerts kept in the store: one row per condition, updated by every check.

``alerts`` holds one row per finding key (kind, metric, segment, direction);
``alert_checks`` remembers, per finding kind, the newest ``as_of`` a check has
applied. Both are created on first use with portable SQL, through the same
:class:`~seismo.store.engine.Engine` as the event tables, so alerts live
beside the data on DuckDB and PostgreSQL alike.

The life of an alert, as :func:`sync` applies each check's findings::

    (new key) ──► firing ──ack──► acknowledged
                    │                  │
                    └── not found ─────┴──► resolved ── found again ──► firing (episode + 1)

Choices worth knowing:

* **Episodes.** A condition that comes back after being resolved re-opens the
  *same* alert (same id, so links and tickets stay valid): ``episodes`` goes up
  by one, ``first_seen`` restarts at the check that found it again, the old
  acknowledgement is cleared (it was about the previous episode) and the
  severity starts afresh from the new finding. A silence is kept: it was set
  for a period, and flapping within that period is what people silence.
* **Severity only rises within an episode.** Warning → critical is an
  escalation and is notified; a critical alert whose latest finding is only a
  warning stays critical until it resolves, so an oscillating condition does
  not page again at each swing.
* **Out-of-order replay.** The alerts show the newest check's picture. A
  check whose ``as_of`` is older than the newest one already applied for a
  kind changes nothing for that kind (no new alerts, no updates, no
  resolutions) and reports it in ``SyncResult.stale_kinds``: replaying last
  week with ``--as-of`` must neither move ``last_seen`` backwards nor raise
  alerts that a later check already knew were gone. Re-applying the same
  ``as_of`` is allowed and is idempotent for the same findings (the latest
  call wins otherwise). To build history, replay checks in time order.
  ``seismo check --as-of`` still *prints* what the older check found
  (:func:`seismo.alerts.replay.found_alerts`), and says the store was left alone.
* **Silences** hold back notifications, not updates: a silenced alert still
  escalates, resolves and re-opens in the store. The first check after a
  silence ends tells once about an alert still active (``resumed``), so what
  the silence held back is not lost; later repeats are quiet again.
* **The outbox.** What is worth telling is recorded with the changes, in the
  same transaction (:mod:`seismo.alerts.outbox`), so a sync that does not
  notify (the dashboard, a report) leaves it for the next check with routes.
* **Concurrency.** On PostgreSQL a sync locks ``alerts`` for its transaction,
  so two checks (or a check and an ``ack``) cannot interleave their
  read-decide-write; a DuckDB file has a single writer anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from seismo.alerts.model import (
    SEVERITY_RANK,
    STATES,
    Alert,
    AlertState,
    SyncResult,
    alert_id,
    by_urgency,
    plain,
    utc_naive,
)
from seismo.alerts.notification import build_notifications
from seismo.alerts.outbox import enqueue, ensure_outbox_tables
from seismo.alerts.table import checked, ensure_alert_tables, insert, mark_checked, select, update
from seismo.detect.findings import Finding
from seismo.errors import ConfigError
from seismo.store.engine import Engine, quote
from seismo.store.read import stored_words
from seismo.words import Words

__all__ = [
    "AlertStateError",
    "UnknownAlertError",
    "acknowledge",
    "finding_fields",
    "get_alert",
    "list_alerts",
    "silence",
    "strongest_by_key",
    "sync",
]

_ID_PREFIX = re.compile(r"^[0-9a-f]{4,12}$")


class UnknownAlertError(ConfigError):
    """No alert has this id (or the prefix given matches several)."""


class AlertStateError(ConfigError):
    """The alert cannot take this action in its state (acknowledging a resolved alert)."""


# -- sync ---------------------------------------------------------------------


def sync(
    engine: Engine,
    findings: Sequence[Finding],
    *,
    as_of: datetime,
    kinds: set[str] | None = None,
    now: datetime | None = None,
) -> SyncResult:
    """Apply one check's findings to the stored alerts, in one transaction.

    The notifications of what changed (:func:`build_notifications`) go to the
    outbox in the same transaction, stamped ``now`` (default: the current
    time), for :func:`seismo.alerts.delivery.notify` to deliver: whoever
    syncs (a check, the dashboard, a report), nothing worth telling is lost.

    ``kinds`` are the finding kinds the check looked for (None: every kind,
    i.e. those of the findings, of stored alerts and of earlier checks): an
    active alert of a checked kind whose condition is not among ``findings``
    is resolved. A finding of a kind outside ``kinds`` is a caller's mistake
    and raises ``ValueError``. Two findings with one key (a detector listing a
    condition twice) count once: the more severe, then the more significant.
    """
    moment = utc_naive(as_of)
    chosen = strongest_by_key(findings)
    if kinds is not None and (outside := {f.kind for f in chosen.values()} - set(kinds)):
        raise ValueError(f"findings of kinds {sorted(outside)} are outside kinds={sorted(kinds)}")
    with engine.transaction():
        ensure_alert_tables(engine)
        ensure_outbox_tables(engine)  # before the lock, as the alert tables
        if engine.kind == "postgres":
            engine.execute("LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE")
        stored = {a.key: a for a in select(engine)}
        marks = checked(engine)
        words = stored_words(engine)
        looked = set(kinds) if kinds is not None else _all_kinds(chosen, stored, marks)
        stale = {k for k in looked if k in marks and moment < marks[k]}
        lists: dict[str, list[Alert]] = {
            n: [] for n in ("new", "updated", "escalated", "reopened", "resumed", "resolved")
        }
        for key in sorted(chosen):
            finding = chosen[key]
            if finding.kind in stale:
                continue
            change, alert = _apply(finding, stored.get(key), moment, words)
            lists[change].append(alert)
        for key in sorted(stored):
            old = stored[key]
            if old.kind in looked - stale and old.state != "resolved" and key not in chosen:
                lists["resolved"].append(replace(old, state="resolved", resolved_at=moment))
        for change, alerts in lists.items():
            for alert in alerts:
                if change == "new":
                    insert(engine, alert)
                else:
                    update(engine, alert)
        for kind in sorted(looked - stale):
            mark_checked(engine, kind, moment)
        result = SyncResult(
            as_of=moment,
            new=tuple(lists["new"]),
            updated=tuple(lists["updated"]),
            escalated=tuple(lists["escalated"]),
            reopened=tuple(lists["reopened"]),
            resumed=tuple(lists["resumed"]),
            resolved=tuple(lists["resolved"]),
            kinds=tuple(sorted(looked)),
            stale_kinds=tuple(sorted(stale)),
            newer_as_of=max((marks[k] for k in stale), default=None),
        )
        queued = enqueue(engine, build_notifications(result), at=now or _utcnow())
    return replace(result, queued=queued)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def strongest_by_key(findings: Sequence[Finding]) -> dict[str, Finding]:
    """One finding per key: the more severe, then the more significant (as :func:`sync` keeps)."""
    chosen: dict[str, Finding] = {}
    for f in findings:
        best = chosen.get(f.key)
        if best is None or _weight(f) > _weight(best):
            chosen[f.key] = f
    return chosen


def _weight(f: Finding) -> tuple[int, float]:
    return SEVERITY_RANK[f.severity], -f.adjusted_p


def _all_kinds(
    chosen: dict[str, Finding], stored: dict[str, Alert], marks: dict[str, datetime]
) -> set[str]:
    return {f.kind for f in chosen.values()} | {a.kind for a in stored.values()} | set(marks)


def _apply(
    finding: Finding, old: Alert | None, moment: datetime, words: Words
) -> tuple[str, Alert]:
    """The alert after this finding, and which kind of change that was."""
    now = finding_fields(finding)
    if old is None:
        alert = Alert(
            id=alert_id(finding.key),
            key=finding.key,
            state="firing",
            first_seen=moment,
            last_seen=moment,
            **now,
            words=words,
        )
        return "new", alert
    if old.state == "resolved":
        alert = replace(
            old,
            **now,
            state="firing",
            first_seen=moment,
            last_seen=moment,
            resolved_at=None,
            acknowledged_at=None,
            acknowledged_by=None,
            episodes=old.episodes + 1,
        )
        return "reopened", alert
    rises = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[old.severity]
    now["severity"] = finding.severity if rises else old.severity
    alert = replace(old, **now, last_seen=max(old.last_seen, moment))
    if rises:
        return "escalated", alert
    silence_ended = old.silenced_until is not None and old.last_seen < old.silenced_until <= moment
    return ("resumed" if silence_ended else "updated"), alert


def finding_fields(f: Finding) -> dict[str, Any]:
    """The alert fields a finding decides (everything but identity and life cycle)."""
    return {
        "group": f.group,
        "kind": f.kind,
        "severity": f.severity,
        "metric": f.metric,
        "metric_label": f.metric_label,
        "unit": f.unit,
        "segment": dict(f.segment) if f.segment else None,
        "root": dict(f.root) if f.root else None,
        "direction": f.direction,
        "baseline": float(f.baseline),
        "baseline_low": _float(f.baseline_low),
        "baseline_high": _float(f.baseline_high),
        "current": float(f.current),
        "current_low": _float(f.current_low),
        "current_high": _float(f.current_high),
        "baseline_start": utc_naive(f.baseline_start),
        "baseline_end": utc_naive(f.baseline_end),
        "window_start": utc_naive(f.window_start),
        "window_end": utc_naive(f.window_end),
        "test": f.test,
        "statistic": float(f.statistic),
        "p_value": float(f.p_value),
        "adjusted_p": float(f.adjusted_p),
        "n_baseline": int(f.n_baseline),
        "n_current": int(f.n_current),
        "since": utc_naive(f.since),
        "message": f.message,
        "action": f.action,
        "evidence": plain(f.evidence),
    }


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


# -- reading and acting on alerts ---------------------------------------------


def list_alerts(engine: Engine, *, states: Sequence[AlertState] | None = None) -> list[Alert]:
    """Stored alerts in the given states (None: all), most pressing first (:func:`by_urgency`)."""
    wanted = STATES if states is None else tuple(states)
    if unknown := set(wanted) - set(STATES):
        raise ConfigError(f"unknown alert state(s) {sorted(unknown)}: use {', '.join(STATES)}")
    if not wanted:
        return []
    ensure_alert_tables(engine)
    p = engine.param()
    where = f"WHERE {quote('state')} IN ({', '.join(p for _ in wanted)})"
    return by_urgency(select(engine, where, wanted))


def get_alert(engine: Engine, id: str) -> Alert:
    """The alert with this id, or with this unique prefix of at least 4 characters."""
    ensure_alert_tables(engine)
    p = engine.param()
    text = id.strip().lower()
    found = select(engine, f"WHERE {quote('id')} = {p}", [text])
    if not found and _ID_PREFIX.match(text):
        found = select(engine, f"WHERE {quote('id')} LIKE {p}", [text + "%"])
    if len(found) == 1:
        return found[0]
    if found:
        ids = ", ".join(sorted(a.id for a in found))
        raise UnknownAlertError(f"alert id {id!r} is ambiguous: it matches {ids}")
    raise UnknownAlertError(
        f"no alert with id {id!r} (see `seismo alerts --state all` for every alert)"
    )


def acknowledge(engine: Engine, id: str, *, by: str | None, at: datetime) -> Alert:
    """Mark an active alert as being handled; it stays acknowledged while its condition lasts."""
    alert = get_alert(engine, id)
    p = engine.param()
    with engine.transaction():
        changed = engine.execute(
            f"UPDATE alerts SET {quote('state')} = 'acknowledged', acknowledged_at = {p},"
            f" acknowledged_by = {p} WHERE {quote('id')} = {p} AND {quote('state')} <> 'resolved'",
            (utc_naive(at), by, alert.id),
        )
    if changed == 0:
        raise AlertStateError(
            f"alert {alert.id} is resolved: there is nothing to acknowledge"
            " (it re-opens as a new episode if its condition comes back)"
        )
    return get_alert(engine, alert.id)


def silence(engine: Engine, id: str, *, until: datetime, at: datetime) -> Alert:
    """Hold back this alert's notifications until ``until`` (the alert itself still updates).

    A silence ending at ``at`` (``--for 0s``) lifts an earlier one.
    """
    start, end = utc_naive(at), utc_naive(until)
    if end < start:
        raise ConfigError(f"a silence cannot end ({end:%Y-%m-%d %H:%M}) before it starts")
    alert = get_alert(engine, id)
    p = engine.param()
    with engine.transaction():
        engine.execute(
            f"UPDATE alerts SET silenced_until = {p} WHERE {quote('id')} = {p}", (end, alert.id)
        )
    return get_alert(engine, alert.id)
