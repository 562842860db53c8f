"""Scheduled checks: ``seismo serve`` runs ``seismo check`` itself, so pages and notices stay live.

A :class:`CheckSchedule` says when: every ``every`` (``--check-every 15m``)
and/or at fixed times of day (``at = ["23:55"]``, UTC), from the ``[schedule]``
table of the config file ``seismo serve --config`` takes::

    [schedule]
    every = "15m"        # a duration, as for silences: 30s, 15m, 2h, 1d
    at = ["23:55"]       # and at these times of day (UTC): the end of each day

A :class:`Scheduler` runs it on one background thread: each run opens the
store, calls :func:`seismo.api.check` (the very function ``seismo check``
calls: it syncs the stored alerts and, with ``[alerts]`` routes in the same
file, notifies), closes the store and warms the dashboard's snapshot so the
next page shows what it found. A run that fails is recorded (``last_error``)
and the next one still comes; runs never overlap. :meth:`Scheduler.record`
is what the pages show: when the last check ran, what it found, when the
next will.
"""

from __future__ import annotations

import threading
import time as clock
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from seismo.config import parse_duration
from seismo.errors import ConfigError, SeismoError

__all__ = ["CheckSchedule", "Scheduler", "load_schedule"]


@dataclass(frozen=True)
class CheckSchedule:
    """When the server runs the check: every ``every`` and at the times of day in ``at`` (UTC).

    >>> s = CheckSchedule(every=timedelta(minutes=15), at=(time(23, 55),))
    >>> s.next_after(datetime(2026, 6, 1, 23, 50))  # the first run: at once
    datetime.datetime(2026, 6, 1, 23, 50)
    >>> s.next_after(datetime(2026, 6, 1, 23, 51), last=datetime(2026, 6, 1, 23, 50))
    datetime.datetime(2026, 6, 1, 23, 55)
    >>> s.next_after(datetime(2026, 6, 1, 23, 56), last=datetime(2026, 6, 1, 23, 55))
    datetime.datetime(2026, 6, 2, 0, 10)
    >>> CheckSchedule().enabled
    False
    """

    every: timedelta | None = None
    at: tuple[time, ...] = ()

    def __post_init__(self) -> None:
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ConfigError(f"the check interval must be at least 1 second, got {self.every}")

    @property
    def enabled(self) -> bool:
        return self.every is not None or bool(self.at)

    def next_after(self, now: datetime, last: datetime | None = None) -> datetime | None:
        """The next run after ``now`` (naive UTC); ``last`` is when the last run started."""
        candidates = []
        if self.every is not None:
            candidates.append(now if last is None else max(now, last + self.every))
        for moment in self.at:
            today = datetime.combine(now.date(), moment)
            candidates.append(today if today > now else today + timedelta(days=1))
        return min(candidates) if candidates else None

    def text(self) -> str:
        parts = []
        if self.every is not None:
            parts.append(f"every {_duration(self.every)}")
        if self.at:
            parts.append("at " + ", ".join(f"{t:%H:%M}" for t in self.at) + " UTC")
        return " and ".join(parts) or "never"


def _duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def load_schedule(path: str | Path | None, every: str | None = None) -> CheckSchedule:
    """The ``[schedule]`` table of ``path`` (if any), with ``every`` (``--check-every``) over it."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text()).get("schedule", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    unknown = sorted(set(data) - {"every", "at"})
    if unknown:
        raise ConfigError(f"{path}: unknown [schedule] key(s) {unknown}; known: ['at', 'every']")
    interval = every if every is not None else data.get("every")
    parsed = None if interval in (None, "", "0") else parse_duration(str(interval))
    at = data.get("at", [])
    if isinstance(at, str):
        at = [at]
    try:
        times = tuple(time.fromisoformat(str(t)) for t in at)
    except ValueError as exc:
        raise ConfigError(f"{path}: [schedule] at must list times of day such as '23:55'") from exc
    return CheckSchedule(every=parsed, at=times)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class _State:
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_seconds: float | None = None
    last_error: str | None = None
    last_alerts: int | None = None
    last_critical: int | None = None
    runs: int = 0
    failures: int = 0
    next_at: datetime | None = None


class Scheduler:
    """Runs ``check()`` on ``schedule`` on one daemon thread until :meth:`stop`.

    ``check`` is called with no argument and returns the :class:`~seismo.results.Check`
    (``seismo serve`` passes one that opens the store and calls :func:`seismo.api.check`);
    ``after`` runs after every successful check (the dashboard warms its snapshot).
    """

    def __init__(
        self,
        schedule: CheckSchedule,
        check: Callable[[], Any],
        *,
        after: Callable[[], Any] | None = None,
    ) -> None:
        self.schedule = schedule
        self._check, self._after = check, after
        self._state = _State()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        self._state.next_at = self.schedule.next_after(_now())
        self._thread = threading.Thread(target=self._loop, name="seismo-checks", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = self._state.next_at
            if due is None:
                return
            wait = (due - _now()).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 1.0)):
                return
            if wait > 0:
                continue
            self.run_once()

    def run_once(self) -> None:
        """One check now (what the thread does when a run is due)."""
        started, t0 = _now(), clock.perf_counter()
        with self._lock:
            self._state.last_started = started
        error, alerts, critical = None, None, None
        try:
            result = self._check()
            alerts = len(result.alerts)
            critical = sum(1 for a in result.alerts if a.severity == "critical")
            if self._after is not None:
                self._after()
        except SeismoError as exc:
            error = str(exc)
        except Exception as exc:  # a failed run is recorded and shown; the next one still comes
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            s = self._state
            s.last_finished, s.last_seconds = _now(), clock.perf_counter() - t0
            s.last_error, s.runs = error, s.runs + 1
            if error is None:
                s.last_alerts, s.last_critical = alerts, critical
            else:
                s.failures += 1
            s.next_at = self.schedule.next_after(_now(), last=started)

    def record(self) -> dict[str, Any]:
        """What the pages and ``/metrics`` show about the scheduled checks."""
        with self._lock:
            s = self._state
            return {
                "schedule": self.schedule.text(),
                "last_started": s.last_started,
                "last_finished": s.last_finished,
                "last_seconds": s.last_seconds,
                "last_error": s.last_error,
                "last_alerts": s.last_alerts,
                "last_critical": s.last_critical,
                "runs": s.runs,
                "failures": s.failures,
                "next_at": s.next_at,
                "running": s.last_started is not None
                and (s.last_finished is None or s.last_finished < s.last_started),
            }
