"""Judge a replay's findings against the truth: hits, related findings and false flags.

Works on plain data (the truth file's shifts, and one :class:`Seen` per
condition a replay found), so it needs nothing from seismo and reads findings
of any detector: a segment is a dict of any number of attributes (an
intersection such as ``{"age_group": "25-34", "region": "iberia"}`` is two),
a metric any name.

* **hit**: the planted shift's metric, its exact segment and direction,
  first seen on or after the shift began;
* **related**: explained by a planted shift — first seen after it began, a
  metric it moves (its own, or one its mechanics imply, such as purchases
  after a click drop) on its segment or on a segment *containing* it (a parent
  such as ``age_group=25-34`` of the intersection, or all customers);
* **false**: everything else. A false flag on a segment that merely overlaps a
  shifted one (``channel=online`` when ``region=south`` shifted) is noted as
  such: a root-cause attribution should have folded it into the shift's alert.

>>> shift = {"name": "s", "metric": "click_through_rate", "segment": {"device": "tablet"},
...          "start": "2026-03-07T00:00:00Z", "direction": "down", "implied": []}
>>> at = datetime(2026, 3, 9, tzinfo=UTC)
>>> judge(Seen.first("quality", "click_through_rate", {"device": "tablet"}, "down", at), [shift])
('hit', 's', '')
>>> judge(Seen.first("quality", "click_through_rate", None, "down", at), [shift])
('related', 's', 'contains the shifted segment')
>>> judge(Seen.first("quality", "return_rate", {"device": "tablet"}, "up", at), [shift])
('false', None, '')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Seen", "judge", "parse_time", "segment_text", "shift_outcomes"]

Segment = dict[str, str] | None


def parse_time(text: str) -> datetime:
    """``2026-03-07T00:00:00Z`` → an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def segment_text(segment: Segment) -> str:
    """``{"region": "uk"}`` → ``region=uk``; None → ``all``."""
    return ",".join(f"{k}={v}" for k, v in sorted(segment.items())) if segment else "all"


@dataclass
class Seen:
    """One condition (kind, metric, segment, direction) over a replay."""

    kind: str
    metric: str
    segment: Segment
    direction: str
    first_seen: datetime
    last_seen: datetime
    days_seen: int = 1
    severity: str = "warning"
    since_first: datetime | None = None
    since_last: datetime | None = None
    firing_at_end: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def first(cls, kind: str, metric: str, segment: Segment, direction: str, at: datetime) -> Seen:
        return cls(kind, metric, segment, direction, at, at)

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.metric}|{segment_text(self.segment)}|{self.direction}"

    def update(self, at: datetime, severity: str, since: datetime | None) -> None:
        self.last_seen, self.days_seen = at, self.days_seen + 1
        if severity == "critical":
            self.severity = "critical"
        self.since_last = since


def _contains(outer: Segment, inner: dict[str, str]) -> bool:
    """``outer`` holds every row of ``inner``: all its attributes match (None holds all)."""
    return all(inner.get(k) == v for k, v in (outer or {}).items())


def _overlaps(a: Segment, b: dict[str, str]) -> bool:
    """Two segments share rows but neither contains the other (other attributes)."""
    if a is None:
        return False
    return not _contains(a, b) and all(b.get(k, v) == v for k, v in a.items())


def _family(shift: dict[str, Any]) -> set[str]:
    return {shift["metric"], *shift.get("implied", ())}


def judge(seen: Seen, shifts: list[dict[str, Any]]) -> tuple[str, str | None, str]:
    """(verdict, shift name, note): ``hit``, ``related`` or ``false``."""
    after = [s for s in shifts if seen.first_seen >= parse_time(s["start"])]
    for s in after:
        exact = seen.segment == s["segment"] and seen.metric == s["metric"]
        if exact and seen.direction == s["direction"]:
            return "hit", s["name"], ""
    for s in after:
        if seen.metric not in _family(s) or not _contains(seen.segment, s["segment"]):
            continue
        if seen.metric == s["metric"] and seen.direction != s["direction"]:
            continue
        if seen.segment == s["segment"]:
            return "related", s["name"], "a metric the shift moves"
        return "related", s["name"], "contains the shifted segment"
    near = [
        s["name"]
        for s in after
        if seen.metric in _family(s) and _overlaps(seen.segment, s["segment"])
    ]
    return "false", None, f"overlaps {', '.join(near)}" if near else ""


def shift_outcomes(seen: list[Seen], shifts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per planted shift: detected on its exact metric and segment? when? still firing?"""
    out = []
    for s in shifts:
        start = parse_time(s["start"])
        hits = [x for x in seen if judge(x, [s])[0] == "hit"]
        related = [x for x in seen if judge(x, [s])[0] == "related"]
        row: dict[str, Any] = {
            "type": "shift",
            "name": s["name"],
            "metric": s["metric"],
            "segment": s["segment"],
            "direction": s["direction"],
            "start": s["start"],
            "before": s.get("before"),
            "after": s.get("after"),
            "rows_per_day": s.get("rows_per_day"),
            "detected": bool(hits),
            "related": [
                f"{x.metric} {segment_text(x.segment)} +{_days(x, start)}d" for x in related
            ],
        }
        if hits:
            first = min(hits, key=lambda x: x.first_seen)
            row |= {
                "first_seen": first.first_seen.isoformat(),
                "delay_days": _days(first, start),
                "severity": first.severity,
                "firing_at_end": first.firing_at_end,
                "since": first.since_first.isoformat() if first.since_first else None,
            }
        out.append(row)
    return out


def _days(seen: Seen, start: datetime) -> int:
    """Checks run at midnight: seen at the end of the shift's first day is a delay of 1."""
    return round((seen.first_seen - start).total_seconds() / 86400)
