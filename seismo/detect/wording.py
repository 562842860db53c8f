"""Findings in business language: who, what, by how much, since when, what to do.

"Click-through for customers aged 25-34 fell from 28% to 15% since 1 June"
communicates; "PSI 0.31 on segment_new" does not. The phrases here are the
only place that knows how to talk about a segment or a metric to people.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from seismo.detect.adverse import family, two_sided, worse_when_up
from seismo.locale import formatter_for
from seismo.words import NEUTRAL, Words

if TYPE_CHECKING:
    from seismo.detect.findings import Finding

__all__ = ["action_for", "describe", "fmt", "since_text", "who"]


def who(segment: dict[str, str] | None, words: Words = NEUTRAL) -> str:
    """The people (or rows) a segment stands for, in the model's words; a pair reads as one group.

    >>> who({"region": "south"}), who(None), who({"plan": "gold", "region": "DE"})
    ('region south', 'all predictions', 'plan gold and region DE')
    >>> shop = Words(subject="customer", who={"age_group": "customers aged {v}",
    ...     "region": "customers in {v}", "customer_type": "{v} customers"})
    >>> who({"age_group": "25-34", "region": "DE"}, shop), who({"customer_type": "new"}, shop)
    ('customers aged 25-34 in DE', 'new customers')
    >>> who(None, shop), who({"plan": "gold"}, shop)
    ('all customers', 'customers with plan gold')
    """
    if not segment:
        return words.everyone
    phrases = [words.group(attribute, value) for attribute, value in sorted(segment.items())]
    if not words.subjects:
        return " and ".join(phrases)
    people = words.subjects
    # A phrase that names the people as an adjective ("new customers") leads.
    phrases.sort(key=lambda t: not t.endswith(f" {people}"))
    head, *rest = phrases
    return " ".join([head, *(t.removeprefix(f"{people} ") for t in rest)])


def fmt(value: float, unit: str, words: Words = NEUTRAL) -> str:
    """A value rounded for people, in the number format the model's words declare.

    >>> fmt(0.2834, "share"), fmt(3.456, "amount"), fmt(0.61234, "score")
    ('28%', '€3.46', '0.61')
    >>> fmt(3, "amount", Words(locale="de_DE", currency="EUR"))
    '3,00\xa0€'
    """
    formatter = formatter_for(words)
    if unit == "share":
        return formatter.percent(value, 1 if abs(value) < 0.1 else 0)
    if unit == "amount":
        return formatter.money(value, 2)
    return formatter.decimal(value, 2, group=False)


def since_text(since: datetime, words: Words = NEUTRAL) -> str:
    """The day a change began, for a sentence: "1 June" (a window's day, as cut in UTC)."""
    return formatter_for(words).long_day(since)


def describe(f: Finding, words: Words = NEUTRAL) -> str:
    """One sentence the people who depend on the model can act on, in its words."""
    moved = "rose" if f.direction == "up" else "fell"
    since = since_text(f.since, words)
    change = (
        f"{f.metric_label} for {who(f.segment, words)} {moved} from"
        f" {fmt(f.baseline, f.unit, words)} to {fmt(f.current, f.unit, words)} since {since}"
    )
    if f.evidence.get("gap"):
        before, after = f.evidence.get("rest_baseline"), f.evidence.get("rest_current")
        if before is None or after is None:
            return change + ", opening a gap to everyone else that was not there at launch."
        return (
            f"{change}, while for everyone else it went from {fmt(before, f.unit, words)} to "
            f"{fmt(after, f.unit, words)}: a gap that was not there at launch."
        )
    if f.related:
        change += f"; it also moves the figure for {len(f.related)} overlapping group(s)"
    if f.evidence.get("peers_stable"):
        attribute = " × ".join(words.column(a) for a in sorted(f.segment or {}))
        change += (
            f"; other {attribute} groups are stable"
            if len(f.segment or {}) > 1
            else (f"; other {attribute}s are stable")
        )
    return change + "."


_ACTIONS = {
    ("business", "worse"): (
        "Check what changed for this group (its inputs, upstream data, what it is offered, "
        "a release) and whether the model still serves it well: compare model versions and "
        "input drift for the group; if the change persists, retrain with recent data or "
        "fall back to the previous model for this group."
    ),
    ("business", "better"): (
        "Confirm the rise is real (tracking, bots, a campaign) before relying on it."
    ),
    ("model", "worse"): (
        "The model's own quality fell for this group: check that its labels arrive as "
        "usual and compare its inputs with the training data; then retrain on recent "
        "labelled data or fall back to the previous version for this group."
    ),
    ("ranking", "worse"): (
        "Look at what the model now puts at the top of its lists for this group and how "
        "widely it spreads what it serves (a release, a layout change, a popularity feedback "
        "loop); compare model versions, and if the change persists, retrain or roll back."
    ),
    ("calibration", "worse"): (
        "The model's probabilities no longer match what happens for this group: "
        "recalibrate on recent labelled data, or adjust the decision threshold, before "
        "relying on its scores."
    ),
    ("fairness", "down"): (
        "Review what the model serves this group and why it changed (new items or inputs "
        "that skew to other groups); consider exposure constraints or re-weighting for it."
    ),
    ("fairness", "up"): (
        "This group now gets noticeably more of this than everyone else; check it is intended."
    ),
}


def action_for(
    kind: str, metric: str, direction: str, better: Mapping[str, str] | None = None
) -> str:
    """What to do about a finding, in a sentence (``better``: the declared directions).

    >>> action_for("quality", "return_rate", "up", {"return": "lower"}).startswith("Check what")
    True
    >>> action_for("quality", "default_90d_accuracy", "down").startswith("The model's own")
    True
    """
    if kind == "fairness":
        return _ACTIONS[("fairness", direction)]
    if kind != "quality":
        return "Look into the change and its cause."
    kind_of = family(metric)
    better = better or {}
    worse = (direction == "up") == worse_when_up(metric, better) or two_sided(metric, better)
    return _ACTIONS.get((kind_of, "worse" if worse else "better"), _ACTIONS[("business", "worse")])
