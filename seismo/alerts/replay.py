"""What a check found as of its moment, whatever later checks have stored.

The stored alerts show the newest check's picture (:mod:`seismo.alerts.store`
leaves them alone when an older check comes, so history stays in time
order). ``seismo check --as-of T`` must still answer *what was firing at T*:
for the kinds its sync applied, that is the stored alerts it just wrote; for
the kinds it could not apply (a check as of a later moment was already
stored), it is the check's own findings turned into alerts here, with the
ids the stored alerts have (:func:`~seismo.alerts.model.alert_id`).

Replayed alerts take from the store only what it can tell about T: when the
stored alert's current episode was already open at T (first seen at or
before T, not resolved by then), its first sighting, episode count,
acknowledgement and silence; otherwise the replay knows no earlier check and
shows the alert as ``firing``, first seen at T, episode 1. Severity and every
figure are the finding's own, as computed as of T.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from seismo.alerts.model import Alert, SyncResult, alert_id, by_urgency, utc_naive
from seismo.alerts.store import finding_fields, strongest_by_key
from seismo.alerts.table import ensure_alert_tables, select
from seismo.detect.findings import Finding
from seismo.store.engine import Engine
from seismo.store.read import stored_words
from seismo.words import NEUTRAL, Words

__all__ = ["found_alerts", "replay_note", "replayed"]


def replayed(
    findings: Sequence[Finding],
    stored: Mapping[str, Alert],
    *,
    as_of: datetime,
    words: Words = NEUTRAL,
) -> list[Alert]:
    """``findings`` as alerts as of ``as_of``, with what ``stored`` (by key) knows of that time."""
    moment = utc_naive(as_of)
    out = []
    for key, finding in sorted(strongest_by_key(findings).items()):
        old = stored.get(key)
        alert = Alert(
            id=alert_id(key),
            key=key,
            state="firing",
            first_seen=moment,
            last_seen=moment,
            **finding_fields(finding),
            words=words,
        )
        if old is not None and _open_at(old, moment):
            alert = replace(
                alert,
                state="acknowledged" if old.acknowledged_at is not None else "firing",
                first_seen=old.first_seen,
                episodes=old.episodes,
                acknowledged_at=old.acknowledged_at,
                acknowledged_by=old.acknowledged_by,
                silenced_until=old.silenced_until,
            )
        out.append(alert)
    return by_urgency(out)


def found_alerts(engine: Engine, findings: Sequence[Finding], result: SyncResult) -> list[Alert]:
    """Every condition a check found as of ``result.as_of``, most pressing first.

    ``findings`` are the check's, ``result`` what :func:`~seismo.alerts.store.sync`
    did with them: the alerts it stored for the kinds it applied, the
    findings :func:`replayed` for the kinds it left alone (``stale_kinds``).
    """
    stale = set(result.stale_kinds)
    alerts = [a for a in result.active if a.kind not in stale]
    if stale:
        ensure_alert_tables(engine)
        stored = {a.key: a for a in select(engine)}
        old = [f for f in findings if f.kind in stale]
        alerts += replayed(old, stored, as_of=result.as_of, words=stored_words(engine))
    return by_urgency(alerts)


def replay_note(result: SyncResult) -> str | None:
    """One line saying the stored alerts were left alone, or None when the sync applied all.

    >>> from datetime import datetime
    >>> late = SyncResult(as_of=datetime(2026, 6, 3, 23), kinds=("drift", "quality"),
    ...     stale_kinds=("drift",), newer_as_of=datetime(2026, 6, 5, 23))
    >>> print(replay_note(late))  # doctest: +NORMALIZE_WHITESPACE
    replay as of 2026-06-03 23:00 UTC: stored drift alerts were not changed;
    a check as of 2026-06-05 23:00 UTC is newer
    >>> every = replace(late, stale_kinds=("drift", "quality"))
    >>> print(replay_note(every))  # doctest: +NORMALIZE_WHITESPACE
    replay as of 2026-06-03 23:00 UTC: stored alerts were not changed;
    a check as of 2026-06-05 23:00 UTC is newer
    """
    if not result.stale_kinds:
        return None
    every = set(result.stale_kinds) >= set(result.kinds)
    what = "stored alerts" if every else f"stored {', '.join(result.stale_kinds)} alerts"
    newer = "a later moment" if result.newer_as_of is None else _clock(result.newer_as_of)
    return (
        f"replay as of {_clock(result.as_of)}: {what} were not changed;"
        f" a check as of {newer} is newer"
    )


def _clock(moment: datetime) -> str:
    """Always with the time: a bare date's end is the next midnight, which a day alone hides."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _open_at(alert: Alert, moment: datetime) -> bool:
    """Whether the stored alert's current episode had begun, and not ended, by ``moment``."""
    return alert.first_seen <= moment and (alert.resolved_at is None or alert.resolved_at > moment)
