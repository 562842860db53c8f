"""Delivering the outbox: every pending notification to every route, once, retried on failure.

:func:`notify` (run by ``seismo check`` when routes are configured) reads the
outbox (:mod:`seismo.alerts.outbox`) and, for each route, sends every entry
that route takes (``min_severity``) and has not yet received:

* **Once.** Each attempt is claimed by inserting its ``(entry, route,
  attempt)`` row before sending; the key is unique, so when two checks run
  at once on PostgreSQL only one of them sends. A delivered entry is never
  sent to that route again.
* **Retried, with backoff.** A failed attempt (HTTP error, time-out, refused
  connection) is recorded with its status or error and tried again at a
  later check, no sooner than ``retry_after`` doubled per failed attempt (at
  most ``retry_max``) after the last one. After ``max_attempts`` the
  delivery is ``failed`` and stays so (``seismo alerts deliveries`` shows it).
* **Not too late.** An entry older than ``max_age`` (when it was recorded,
  default 3 days) is no longer sent to a route that has not received it: it
  is ``expired``. A route added today gets the last few days, not last month.
* **Silences.** Changes of a silenced alert never enter the outbox (what the
  silence held back is told as ``resumed`` when it ends, see
  :mod:`seismo.alerts.store`). An entry recorded before a silence began is
  held while every alert whose change it tells is silenced (no attempt is
  spent), and sent if the silence ends before the entry expires.
* **No waiting twice.** Routes are served in parallel, each in entry order;
  once a webhook has not answered, the rest of its entries in this check are
  reported as not attempted (no attempt is recorded: they stay pending)
  rather than each waiting out the time-out again.

An attempt claimed by a check that then died stays ``sending``; after
``claim_timeout`` (15 minutes, far beyond any webhook time-out) it counts as
a failed attempt and the delivery is retried.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from seismo.alerts.model import SEVERITY_RANK
from seismo.alerts.notification import runbook_url
from seismo.alerts.outbox import Attempt, OutboxEntry, claim, finish, read_attempts, read_entries
from seismo.alerts.routing import Route, alerts_section, describe_failure
from seismo.alerts.table import ensure_alert_tables, select
from seismo.config import parse_duration
from seismo.detect.findings import Severity
from seismo.errors import ConfigError
from seismo.store.engine import Engine

__all__ = [
    "Delivery",
    "DeliveryPolicy",
    "DeliveryState",
    "DeliveryStatus",
    "delivery_state",
    "delivery_status",
    "load_policy",
    "notify",
]

_LOST = "no outcome recorded: the check that sent it stopped before it could say"

DeliveryState = Literal["pending", "sending", "retrying", "delivered", "failed", "expired"]


@dataclass(frozen=True, kw_only=True)
class DeliveryPolicy:
    """How long and how often an undelivered notification is tried (``[alerts]`` in TOML)."""

    max_age: timedelta = timedelta(days=3)
    max_attempts: int = 8
    retry_after: timedelta = timedelta(minutes=5)
    retry_max: timedelta = timedelta(hours=6)
    claim_timeout: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {self.max_attempts}")
        for name in ("max_age", "retry_after", "retry_max", "claim_timeout"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigError(f"{name} must be a positive duration")

    def backoff(self, failed: int) -> timedelta:
        """The wait after ``failed`` failed attempts: ``retry_after`` doubled each time, capped.

        >>> p = DeliveryPolicy(retry_after=timedelta(minutes=5), retry_max=timedelta(hours=1))
        >>> [int(p.backoff(n).total_seconds() // 60) for n in (1, 2, 3, 4, 5)]
        [5, 10, 20, 40, 60]
        """
        wait: timedelta = self.retry_after * 2 ** max(failed - 1, 0)
        return min(wait, self.retry_max)


@dataclass(frozen=True, kw_only=True)
class DeliveryStatus:
    """Where one outbox entry stands with one route, and every attempt so far."""

    entry: OutboxEntry
    route: str
    state: DeliveryState
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None

    def to_record(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else None
        return {
            **self.entry.to_record(),
            "route": self.route,
            "state": self.state,
            "attempts": len(self.attempts),
            "last_attempt_at": last.started_at if last else None,
            "last_status": last.status if last else None,
            "last_error": last.error if last else None,
            "next_attempt_at": self.next_attempt_at,
        }


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """What this check did about one entry and one route.

    ``state`` after it: ``delivered``, ``retrying`` (at ``next_attempt_at`` or
    the first check after), ``failed`` (no attempt left) or ``not attempted``
    (the route did not answer earlier in this check; nothing was spent).
    """

    route: str
    group: str
    alert_ids: tuple[str, ...]
    severity: Severity
    ok: bool
    status: int | None = None
    error: str | None = None
    entry: str = ""
    attempt: int | None = None
    state: str = "delivered"
    next_attempt_at: datetime | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "route": self.route,
            "group": self.group,
            "alerts": ",".join(self.alert_ids),
            "severity": self.severity,
            "ok": self.ok,
            "attempt": self.attempt,
            "state": self.state,
            "status": self.status,
            "error": self.error,
            "next_attempt_at": self.next_attempt_at,
        }


def load_policy(source: str | os.PathLike[str] | Mapping[str, Any]) -> DeliveryPolicy:
    """The retry policy from the ``[alerts]`` table of a TOML file (defaults where unset).

    >>> load_policy({"alerts": {"max_age": "1d", "max_attempts": 3}}).max_age
    datetime.timedelta(days=1)
    """
    section, _ = alerts_section(source)
    chosen: dict[str, Any] = {}
    for name in ("max_age", "retry_after", "retry_max"):
        if name in section:
            try:
                chosen[name] = parse_duration(section[name])
            except ConfigError as exc:
                raise ConfigError(f"alerts.{name}: {exc}") from exc
    if "max_attempts" in section:
        value = section["max_attempts"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"alerts.max_attempts must be a whole number, not {value!r}")
        chosen["max_attempts"] = value
    try:
        return DeliveryPolicy(**chosen)
    except ConfigError as exc:
        raise ConfigError(f"[alerts]: {exc}") from exc


def delivery_state(
    entry: OutboxEntry, attempts: Sequence[Attempt], policy: DeliveryPolicy, now: datetime
) -> tuple[DeliveryState, datetime | None]:
    """The state of one delivery from its attempts, and when it may next be tried
    (None: at the next check, or never).

    ``sending`` only while the claim is younger than ``claim_timeout``: an
    older one was left by a check that stopped, and counts as failed.
    """
    if any(a.outcome == "delivered" for a in attempts):
        return "delivered", None
    last = attempts[-1] if attempts else None
    if (
        last is not None
        and last.outcome == "sending"
        and now - last.started_at < policy.claim_timeout
    ):
        return "sending", None
    if len(attempts) >= policy.max_attempts:
        return "failed", None
    if now - entry.created_at > policy.max_age:
        return "expired", None
    if last is None:
        return "pending", None
    return "retrying", last.started_at + policy.backoff(len(attempts))


def delivery_status(
    engine: Engine,
    routes: Sequence[Route] | None = None,
    *,
    policy: DeliveryPolicy | None = None,
    now: datetime | None = None,
    alert: str | None = None,
) -> list[DeliveryStatus]:
    """Every delivery in the outbox (about ``alert`` if given), oldest entry first.

    With ``routes`` each entry is shown for every route that takes its
    severity, so what is still pending or expired shows too; without, only
    (entry, route) pairs that were attempted, and an entry no route was ever
    given appears once with route ``""``.
    """
    policy = policy or DeliveryPolicy()
    moment = now or _utcnow()
    tried = _by_pair(read_attempts(engine, alert=alert))
    out = []
    for entry in read_entries(engine, alert=alert):
        names = [r.name for r in routes if _takes(r, entry)] if routes is not None else []
        names += sorted({r for (e, r) in tried if e == entry.id} - set(names))
        for name in names or [""]:
            attempts = tried.get((entry.id, name), [])
            state, next_at = delivery_state(entry, attempts, policy, moment)
            status = DeliveryStatus(
                entry=entry,
                route=name,
                state=state,
                attempts=tuple(attempts),
                next_attempt_at=next_at,
            )
            out.append(status)
    return out


def notify(
    engine: Engine,
    routes: Sequence[Route],
    *,
    runbook_base: str | None = None,
    policy: DeliveryPolicy | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Send every due outbox entry to every route that takes it; record each attempt.

    ``runbook_base`` is the runbook link base for routes that set none;
    ``now`` the clock (default: the current time, UTC). Never raises for a
    failing route: its errors are in the deliveries, which come back in a
    fixed order (entries oldest and most severe first, then routes in
    configuration order), whatever order they completed in.
    """
    if not routes:
        return []
    names = [r.name for r in routes]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(
            f"routes need distinct names (their deliveries are kept by name): {dupes}"
        )
    policy = policy or DeliveryPolicy()
    moment = now or _utcnow()
    clock = (lambda: moment) if now is not None else _utcnow
    ensure_alert_tables(engine)
    entries = read_entries(engine, since=moment - policy.max_age)
    tried = _by_pair(read_attempts(engine, since=moment - policy.max_age))
    silenced = {a.id for a in select(engine) if a.silenced_at(moment)}
    lock = threading.Lock()  # one connection: statements from the route threads take turns

    def serve(route: Route) -> list[Delivery]:
        due = []
        for entry in entries:
            if not _takes(route, entry) or set(entry.notification.changes) <= silenced:
                continue
            attempts = tried.get((entry.id, route.name), [])
            state, next_at = delivery_state(entry, attempts, policy, moment)
            if state == "pending" or (state == "retrying" and next_at and next_at <= moment):
                abandoned = bool(attempts) and attempts[-1].outcome == "sending"
                due.append((entry, len(attempts) + 1, abandoned))
        return _serve(engine, route, due, lock, policy, clock, runbook_base)

    with ThreadPoolExecutor(max_workers=min(8, len(routes))) as pool:
        per_route = list(pool.map(serve, routes))
    done = {(d.entry, d.route): d for sent in per_route for d in sent}
    return [done[(e.id, r.name)] for e in entries for r in routes if (e.id, r.name) in done]


def _serve(
    engine: Engine,
    route: Route,
    due: Sequence[tuple[OutboxEntry, int, bool]],
    lock: threading.Lock,
    policy: DeliveryPolicy,
    clock: Callable[[], datetime],
    runbook_base: str | None,
) -> list[Delivery]:
    """Send ``due`` (entry, attempt number, whether the last claim was abandoned) to one
    route, in order; after a non-answer, do not wait again."""
    out: list[Delivery] = []
    gone: str | None = None
    for entry, number, abandoned in due:
        note = entry.notification
        link = runbook_url(route.runbook or runbook_base, note.lead.kind, note.lead.metric)
        note = replace(note, runbook=link, entry=entry.id)
        base: dict[str, Any] = {
            "route": route.name,
            "group": note.group,
            "alert_ids": note.alert_ids,
            "severity": note.severity,
            "entry": entry.id,
        }
        if gone is not None:
            out.append(Delivery(**base, ok=False, state="not attempted", error=gone))
            continue
        started = clock()
        with lock:
            if not claim(engine, entry.id, route.name, number, at=started):
                continue  # another check took this attempt: it sends, not us
            if abandoned:
                finish(engine, entry.id, route.name, number - 1, at=started, ok=False, error=_LOST)
        status: int | None = None
        error: str | None = None
        try:
            status = route.send(note)
        except Exception as exc:  # every failure is recorded, never raised
            error, unreachable, status = describe_failure(exc, route)
            if unreachable:
                gone = f"not attempted: {route.name} did not answer earlier in this check ({error})"
        with lock:
            finish(
                engine,
                entry.id,
                route.name,
                number,
                at=clock(),
                ok=error is None,
                status=status,
                error=error,
            )
        base |= {"status": status, "error": error, "attempt": number}
        if error is None:
            out.append(Delivery(**base, ok=True))
        elif number >= policy.max_attempts:
            out.append(Delivery(**base, ok=False, state="failed"))
        else:
            retry = started + policy.backoff(number)
            out.append(Delivery(**base, ok=False, state="retrying", next_attempt_at=retry))
    return out


def _takes(route: Route, entry: OutboxEntry) -> bool:
    return SEVERITY_RANK[entry.severity] >= SEVERITY_RANK[route.min_severity]


def _by_pair(attempts: Sequence[Attempt]) -> dict[tuple[str, str], list[Attempt]]:
    pairs: dict[tuple[str, str], list[Attempt]] = {}
    for a in attempts:
        pairs.setdefault((a.entry, a.route), []).append(a)
    return pairs


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
