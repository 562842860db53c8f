"""What one check tells people: one notification per group of related alerts.

A shift in one segment usually drags others along (the 25-34 drop shows in
"25-34 × mobile" and "25-34 × returning" too); detectors attribute such
findings to one ``root`` and give them one ``group``. Paging once per segment
would bury the cause under its echoes, so :func:`build_notifications` makes
one :class:`Notification` per group: the root alert, "and N related
segments", and only when something in the group is worth telling (new,
escalated, re-opened, or still active when its silence ended).

Rendering lives here too, in three shapes: plain text (log lines, fallbacks),
a JSON document (generic webhooks) and Slack's incoming-webhook format.
User data (segment values, labels) is escaped for Slack, whose ``<…>`` syntax
would otherwise let a segment value named ``<!channel>`` ping everyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from seismo.alerts.model import SEVERITY_RANK, Alert, SyncResult, plain
from seismo.detect.findings import Severity
from seismo.locale import Formatter, current, formatter_for

__all__ = [
    "Notification",
    "build_notifications",
    "change_text",
    "moment_text",
    "runbook_url",
    "value_text",
]

_HEADLINES = {
    "new": "New alert",
    "escalated": "Escalated to critical",
    "reopened": "Back again",
    "resumed": "Still active after its silence ended",
    "related": "More segments affected",
}
_MAX_LISTED = 10  # related segments named in a message; the rest are counted


def value_text(value: float | None, unit: str, fmt: Formatter | None = None) -> str:
    """A metric value as people read it: shares in %, amounts with 2 decimals (and the
    currency, when the model declares one), in ``fmt``'s number format (else the current
    one, see :func:`seismo.locale.current`).

    >>> value_text(0.153, "share"), value_text(1234.5, "amount"), value_text(None, "share")
    ('15.3%', '1,234.50', '—')
    >>> value_text(3, "amount", Formatter(locale="de_DE", currency="EUR"))
    '3,00\xa0€'
    """
    if value is None or not math.isfinite(value):
        return "—"
    fmt = fmt or current()
    if unit == "share":
        return fmt.percent(value, 1)
    if unit == "amount":
        return fmt.money(value, 2) if fmt.currency else fmt.decimal(value, 2)
    return fmt.decimal(value, 3, group=False)


def moment_text(moment: datetime | None, fmt: Formatter | None = None) -> str:
    """A day (a window's, as cut in UTC), or a moment in the model's time zone, named.

    >>> moment_text(datetime(2026, 5, 21)), moment_text(datetime(2026, 5, 21, 14, 5))
    ('2026-05-21', '2026-05-21 14:05 UTC')
    >>> moment_text(datetime(2026, 5, 21, 23, 30), Formatter(timezone="Europe/Berlin"))
    '2026-05-22 01:30 CEST'
    """
    if moment is None:
        return "—"
    fmt = fmt or current()
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return fmt.table_time(moment)
    return fmt.when(moment)


def change_text(alert: Alert) -> str:
    """``baseline → current`` with their intervals, in the metric's unit."""
    fmt = formatter_for(alert.words)

    def with_interval(value: float, low: float | None, high: float | None) -> str:
        shown = value_text(value, alert.unit, fmt)
        if low is None or high is None:
            return shown
        return f"{shown} [{value_text(low, alert.unit, fmt)}, {value_text(high, alert.unit, fmt)}]"

    before = with_interval(alert.baseline, alert.baseline_low, alert.baseline_high)
    after = with_interval(alert.current, alert.current_low, alert.current_high)
    return f"{before} → {after}"


def runbook_url(base: str | None, kind: str, metric: str) -> str | None:
    """The runbook page of a kind of change on a metric: ``{base}/{kind}/{metric}``.

    One page per (kind, metric) rather than per alert: what to do about a
    falling click-through is the same whichever segment it falls in.

    >>> runbook_url("https://wiki.example.com/runbooks/", "quality", "click_through_rate")
    'https://wiki.example.com/runbooks/quality/click_through_rate'
    >>> runbook_url(None, "quality", "click_through_rate") is None
    True
    """
    if not base:
        return None
    return f"{base.rstrip('/')}/{quote(kind, safe='')}/{quote(metric, safe='')}"


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One message about one group: its lead (root) alert and the related ones.

    ``changes`` maps the id of every alert that made this notification
    necessary to what happened to it (``new``, ``escalated``, ``reopened``,
    ``resumed``). ``runbook`` is the link for this route, when one is configured;
    ``lead.action`` is the hint in words either way. ``entry`` is its outbox
    id once recorded: webhooks receive it as ``notification_id``, the same on
    every retry, so a receiver can drop a copy it already has.
    """

    group: str
    as_of: datetime
    severity: Severity
    lead: Alert
    related: tuple[Alert, ...]
    changes: dict[str, str]
    runbook: str | None = None
    entry: str | None = None

    @property
    def reason(self) -> str:
        """What happened, from the lead's point of view (``related`` if only others changed)."""
        return self.changes.get(self.lead.id, "related")

    @property
    def headline(self) -> str:
        words = _HEADLINES[self.reason]
        if self.reason == "reopened":
            words += f" (episode {self.lead.episodes})"
        line = f"{self.severity.upper()}: {words}: {self.lead.metric_label} for {self.lead.who}"
        if self.related:
            noun = "segment" if len(self.related) == 1 else "segments"
            line += f" and {len(self.related)} related {noun}"
        return line

    @property
    def formatter(self) -> Formatter:
        """Numbers and times as the model's words declare (see :mod:`seismo.locale`)."""
        return formatter_for(self.lead.words)

    @property
    def alert_ids(self) -> tuple[str, ...]:
        return (self.lead.id, *(a.id for a in self.related))

    def related_text(self) -> str:
        """``Related segments: age group 25-34, device mobile; …``, or empty."""
        if not self.related:
            return ""
        names = [a.who for a in self.related[:_MAX_LISTED]]
        more = len(self.related) - len(names)
        return "Related segments: " + "; ".join(names) + (f"; and {more} more" if more else "")

    def how_sure(self) -> str:
        a = self.lead
        fmt = self.formatter
        p = "—" if a.adjusted_p is None else fmt.significant(a.adjusted_p, 2)
        n = f"n = {fmt.decimal(a.n_baseline or 0, 0)} vs {fmt.decimal(a.n_current or 0, 0)}"
        return f"{a.test}, adjusted p = {p}, {n}"

    def text(self) -> str:
        """The notification as plain text: six questions, one line each."""
        lead = self.lead
        lines = [
            self.headline,
            lead.message,
            f"{change_text(lead)} since {moment_text(lead.since, self.formatter)}",
            f"How sure: {self.how_sure()}",
        ]
        if self.related:
            lines.append(self.related_text())
        if lead.action:
            lines.append(f"What to do: {lead.action}")
        if self.runbook:
            lines.append(f"Runbook: {self.runbook}")
        lines.append(f"Details: seismo alerts show {lead.id}")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The JSON document for generic webhooks and the log file (strict JSON data)."""
        document = {
            "type": "seismo.alert",
            "notification_id": self.entry,
            "as_of": self.as_of,
            "group": self.group,
            "reason": self.reason,
            "severity": self.severity,
            "title": self.headline,
            "text": self.text(),
            "changes": self.changes,
            "alert": self.lead.to_record(),
            "related": [a.to_record() for a in self.related],
            "runbook_url": self.runbook,
            "what_to_do": self.lead.action or None,
        }
        return dict(plain(document))

    def slack(self) -> dict[str, Any]:
        """Slack's incoming-webhook format: a fallback ``text`` and Block Kit ``blocks``."""
        lead = self.lead
        icon = ":red_circle:" if self.severity == "critical" else ":large_yellow_circle:"
        title = _slack_escape(self.headline)
        fields = [
            f"*Change*\n{_slack_escape(change_text(lead))}",
            f"*Since*\n{moment_text(lead.since, self.formatter)}"
            f" (first seen {moment_text(lead.first_seen, self.formatter)})",
            f"*For whom*\n{_slack_escape(lead.who)}",
            f"*How sure*\n{_slack_escape(self.how_sure())}",
        ]
        blocks: list[dict[str, Any]] = [
            _section(f"{icon} *{title}*\n{_slack_escape(lead.message)}"),
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": _clip(f, 2000)} for f in fields],
            },
        ]
        if self.related:
            blocks.append(_section(_slack_escape(self.related_text())))
        todo = []
        if lead.action:
            todo.append(f"*What to do:* {_slack_escape(lead.action)}")
        if self.runbook:
            todo.append(f"<{_slack_url(self.runbook)}|Runbook>")
        if todo:
            blocks.append(_section("\n".join(todo)))
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"seismo · as of {moment_text(self.as_of, self.formatter)}"
                        " · details:"
                        f" `seismo alerts show {lead.id}`",
                    }
                ],
            }
        )
        return {"text": _clip(_slack_escape(self.text()), 3000), "blocks": blocks}


def build_notifications(
    result: SyncResult, *, runbook_base: str | None = None
) -> list[Notification]:
    """One notification per group with something worth telling, most severe first.

    The group's members are the alerts this check found active in that group;
    the lead is the root alert if it is among them, else the most severe and
    most significant one. Silenced changes do not trigger a notification, but a
    silenced member is still listed when another member triggers one.
    """
    trigger: dict[str, dict[str, str]] = {}
    change_of = {a.id: "new" for a in result.new}
    change_of |= {a.id: "escalated" for a in result.escalated}
    change_of |= {a.id: "reopened" for a in result.reopened}
    change_of |= {a.id: "resumed" for a in result.resumed}
    for alert in result.to_notify:
        trigger.setdefault(alert.group, {})[alert.id] = change_of[alert.id]
    members: dict[str, list[Alert]] = {}
    for alert in result.active:
        members.setdefault(alert.group, []).append(alert)
    out = []
    for group, changes in trigger.items():
        ordered = sorted(members[group], key=_lead_order)
        lead = ordered[0]
        worst = max(ordered, key=lambda a: SEVERITY_RANK[a.severity]).severity
        note = Notification(
            group=group,
            as_of=result.as_of,
            severity=worst,
            lead=lead,
            related=tuple(ordered[1:]),
            changes=changes,
        )
        out.append(replace(note, runbook=runbook_url(runbook_base, lead.kind, lead.metric)))
    out.sort(key=lambda n: (-SEVERITY_RANK[n.severity], n.group))
    return out


def _lead_order(alert: Alert) -> tuple[bool, int, float, str]:
    p = alert.adjusted_p if alert.adjusted_p is not None else 1.0
    return (not alert.is_root, -SEVERITY_RANK[alert.severity], p, alert.key)


def _slack_escape(text: str) -> str:
    """Slack's three control characters, as its docs ask (``&``, ``<``, ``>``).

    >>> _slack_escape("<script>alert(1)</script> & <!channel>")
    '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    """A URL inside ``<url|label>``: the characters that would end the link are encoded."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 3000)}}


def _clip(text: str, limit: int) -> str:
    """Slack rejects a whole message when one text is over its limit: shorten instead."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
