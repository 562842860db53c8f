"""The alert as stored, and what one check did to the alerts.

An :class:`Alert` is a :class:`~seismo.detect.findings.Finding` that has been
given an identity and a life: it is raised (``firing``), may be
``acknowledged`` by someone, and is ``resolved`` when a check no longer finds
its condition. Its identity is the finding's ``key`` (kind, metric, segment,
direction), so the same condition seen on many days is one alert, and its
``id`` is a hash of that key: the same data replayed into a fresh store gives
the same ids, which is what lets people quote an id in a ticket.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any, Literal

from seismo.detect.findings import Severity, segment_text
from seismo.detect.wording import who
from seismo.words import NEUTRAL, Words

__all__ = [
    "SEVERITY_RANK",
    "STATES",
    "Alert",
    "AlertState",
    "SyncResult",
    "alert_id",
    "by_urgency",
    "parse_time",
    "plain",
    "segment_words",
    "utc_naive",
]

AlertState = Literal["firing", "acknowledged", "resolved"]
STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "resolved")
#: Higher is worse; used for escalation and for ``min_severity`` on routes.
SEVERITY_RANK: dict[str, int] = {"warning": 1, "critical": 2}


def alert_id(key: str) -> str:
    """The alert's id: 12 hex digits of the SHA-256 of its key.

    Derived, never random, so two stores fed the same findings agree on every
    id; 48 bits keep collisions out of reach for the few thousand conditions a
    store ever holds, while staying short enough to type after ``seismo alerts ack``.

    >>> alert_id("quality|click_through_rate|age_group=25-34|down")
    'c326a58fd304'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def utc_naive(moment: datetime) -> datetime:
    """``moment`` as naive UTC, the store's convention (a naive input is taken as UTC).

    >>> from datetime import timedelta, timezone
    >>> utc_naive(datetime(2026, 6, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2026, 6, 1, 12, 0)
    """
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def plain(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and infinities become null, times ISO text.

    Evidence comes from detectors (NumPy scalars, tuples, times); stored and sent
    as JSON it must parse anywhere, and ``json.dumps`` would write a bare ``NaN``.
    Naive times are UTC (the store's convention) and say so with ``Z``.

    >>> plain({"psi": float("nan"), "bins": (1, 2), "at": datetime(2026, 6, 1)})
    {'psi': None, 'bins': [1, 2], 'at': '2026-06-01T00:00:00Z'}
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, datetime):  # naive times are UTC, marked as the CLI's JSON marks them
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # NumPy scalars
        return plain(value.item())
    return str(value)


def parse_time(text: str | None) -> datetime | None:
    """The inverse of :func:`plain` for times: ISO text (``Z`` or an offset) as naive UTC.

    >>> parse_time("2026-06-01T06:00:00Z"), parse_time(None)
    (datetime.datetime(2026, 6, 1, 6, 0), None)
    """
    if text is None:
        return None
    return utc_naive(datetime.fromisoformat(text.replace("Z", "+00:00")))


def segment_words(segment: dict[str, str] | None, words: Words = NEUTRAL) -> str:
    """A segment as people say it, in the model's words; the aggregate is everyone.

    >>> segment_words({"age_group": "25-34"}), segment_words(None)
    ('age group 25-34', 'all predictions')
    >>> segment_words(None, Words(subject="applicant"))
    'all applicants'
    """
    return who(segment, words)


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One stored alert: the latest finding of its condition plus its life cycle.

    ``first_seen`` is the start of the current *episode* (the alert was raised
    or re-opened then); ``episodes`` counts how many times the condition has
    come back after being resolved. ``segment`` and ``root`` are ``None`` for
    the aggregate (all customers).
    """

    id: str
    key: str
    group: str
    kind: str
    severity: Severity
    state: AlertState
    metric: str
    metric_label: str
    unit: str
    segment: dict[str, str] | None
    root: dict[str, str] | None
    direction: str
    baseline: float
    baseline_low: float | None
    baseline_high: float | None
    current: float
    current_low: float | None
    current_high: float | None
    baseline_start: datetime | None
    baseline_end: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    test: str
    statistic: float | None
    p_value: float | None
    adjusted_p: float | None
    n_baseline: int | None
    n_current: int | None
    since: datetime | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    silenced_until: datetime | None = None
    episodes: int = 1
    message: str = ""
    action: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    #: How people talk about the model (the store's ``[words]``), for :attr:`who`.
    words: Words = field(default=NEUTRAL, repr=False, compare=False)

    @property
    def who(self) -> str:
        """The segment in the model's words (see :func:`segment_words`)."""
        return segment_words(self.segment, self.words)

    @property
    def is_root(self) -> bool:
        """Whether this alert is its group's root cause (or stands alone)."""
        return self.root is None or segment_text(self.root) == segment_text(self.segment)

    def silenced_at(self, moment: datetime) -> bool:
        """Whether a silence covers ``moment`` (notifications are then withheld)."""
        return self.silenced_until is not None and self.silenced_until > moment

    def to_record(self) -> dict[str, Any]:
        """The documented machine format (``seismo alerts --format json``): one flat object."""
        return {
            "id": self.id,
            "severity": self.severity,
            "state": self.state,
            "kind": self.kind,
            "metric": self.metric,
            "metric_label": self.metric_label,
            "unit": self.unit,
            "segment": self.segment,
            "direction": self.direction,
            "baseline": self.baseline,
            "baseline_low": self.baseline_low,
            "baseline_high": self.baseline_high,
            "current": self.current,
            "current_low": self.current_low,
            "current_high": self.current_high,
            "baseline_start": self.baseline_start,
            "baseline_end": self.baseline_end,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
            "n_baseline": self.n_baseline,
            "n_current": self.n_current,
            "since": self.since,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "resolved_at": self.resolved_at,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "silenced_until": self.silenced_until,
            "episodes": self.episodes,
            "group": self.group,
            "root": self.root,
            "key": self.key,
            "message": self.message,
            "action": self.action,
            "evidence": self.evidence,
        }

    def to_flat_record(self) -> dict[str, Any]:
        """:meth:`to_record` with the nested values (segment, root, evidence) as JSON text:
        one flat row, as CSV and tables hold it."""
        record = self.to_record()
        for key in ("segment", "root", "evidence"):
            value = record[key]
            record[key] = None if value is None else json.dumps(value, sort_keys=True)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], words: Words = NEUTRAL) -> Alert:
        """The alert back from :meth:`to_record`, after a JSON round trip (as the outbox has it)."""
        data: dict[str, Any] = {name: record[name] for name in _FIELDS if name in record}
        data["words"] = words
        for name in _TIMES:
            value = data.get(name)
            data[name] = parse_time(value) if isinstance(value, str) else value
        data["evidence"] = data.get("evidence") or {}
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(Alert))
_TIMES = (
    "baseline_start",
    "baseline_end",
    "window_start",
    "window_end",
    "since",
    "first_seen",
    "last_seen",
    "resolved_at",
    "acknowledged_at",
    "silenced_until",
)


def by_urgency(alerts: Iterable[Alert]) -> list[Alert]:
    """Most pressing first: active before resolved, critical before warning, most
    recently raised first, then by key (so a listing is the same on every engine)."""
    ordered = sorted(alerts, key=lambda a: a.key)
    ordered.sort(key=lambda a: a.first_seen, reverse=True)
    ordered.sort(key=lambda a: (a.state == "resolved", -SEVERITY_RANK[a.severity]))
    return ordered


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """What one check did to the stored alerts; each alert is in exactly one list.

    ``new``: raised now. ``updated``: seen again, nothing worth telling.
    ``escalated``: warning became critical. ``reopened``: resolved before, back
    now (a new episode). ``resumed``: still active when its silence ended, so
    what the silence held back is told now. ``resolved``: no longer found.
    ``kinds``: the finding kinds the check looked for; ``stale_kinds``: those
    left untouched because a newer check of that kind was already applied
    (see :func:`seismo.alerts.store.sync`), ``newer_as_of`` the newest such
    check. ``queued``: the ids of the outbox entries this sync recorded (see
    :mod:`seismo.alerts.outbox`).
    """

    as_of: datetime
    new: tuple[Alert, ...] = ()
    updated: tuple[Alert, ...] = ()
    escalated: tuple[Alert, ...] = ()
    reopened: tuple[Alert, ...] = ()
    resumed: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()
    kinds: tuple[str, ...] = ()
    stale_kinds: tuple[str, ...] = ()
    newer_as_of: datetime | None = None
    queued: tuple[str, ...] = ()

    @property
    def active(self) -> tuple[Alert, ...]:
        """Every alert whose condition this check found (the ones not resolved)."""
        found = (*self.new, *self.updated, *self.escalated, *self.reopened, *self.resumed)
        return tuple(sorted(found, key=lambda a: a.key))

    @property
    def changed(self) -> tuple[Alert, ...]:
        """Alerts whose change is worth a notification, silenced or not."""
        found = (*self.new, *self.escalated, *self.reopened, *self.resumed)
        return tuple(sorted(found, key=lambda a: a.key))

    @property
    def to_notify(self) -> tuple[Alert, ...]:
        """The changes to tell people about: :attr:`changed` minus the silenced ones."""
        return tuple(a for a in self.changed if not a.silenced_at(self.as_of))

    @property
    def silenced(self) -> tuple[Alert, ...]:
        """Changes a silence held back (they will be told when it ends, if still active)."""
        return tuple(a for a in self.changed if a.silenced_at(self.as_of))
