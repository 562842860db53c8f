"""Drift rows become findings: one per feature that drifts now, in business words.

A feature is judged on the last complete window before the check (a day that
has ended): it raises a finding when any of its methods drifted there. The
severity is the worst band among them (PSI 0.1 moderate → warning, 0.25 major
→ critical, and the matching bands of the other methods); ``since`` walks back
over the consecutive windows in which the feature kept drifting. Findings go
through the same alert mechanism as quality and fairness findings
(:mod:`seismo.alerts`), so they are deduplicated, grouped and routed alike.

The message says what moved in words a merchandising team reads: "The price
of recommended items rose sharply since 1 June: €92 on average, against €76
in the training data", or for a category mix, which values gained and lost.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import pyarrow as pa

from seismo.detect.findings import Finding
from seismo.detect.wording import fmt, since_text
from seismo.metrics.naming import CURRENCY_SUFFIXES
from seismo.words import NEUTRAL, Words

__all__ = ["drift_findings", "drifting_since"]

#: The method whose figures a feature's message quotes, by preference.
_HEADLINE = (
    "psi",
    "gini",
    "top1pct_share",
    "pca_reconstruction",
    "low_confidence",
    "unseen",
    "out_of_range",
    "missing",
)


def drift_findings(table: pa.Table, *, cut: datetime, words: Words = NEUTRAL) -> list[Finding]:
    """Findings for the features drifting in the last complete window (aggregate rows only).

    ``words``: the model's vocabulary the messages are written in (a feature's
    declared name; "of recommended items" only for a model that recommends).
    """
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in table.to_pylist():
        if r["attribute"] is None and r["final"] and r["method"] != "stability":
            series[r["feature"]].append(r)
    out = []
    for feature, rows in sorted(series.items()):
        last = max(r["window_start"] for r in rows)
        now = [r for r in rows if r["window_start"] == last and r["drifted"]]
        if not now:
            continue
        windows: dict[datetime, bool] = {}
        for r in rows:
            windows[r["window_start"]] = windows.get(r["window_start"], False) or r["drifted"]
        out.append(_finding(feature, now, drifting_since(windows) or last, cut, words))
    return out


def drifting_since(windows: dict[Any, bool]) -> Any:
    """The start of the unbroken run of drifted windows that reaches the latest one (or None).

    >>> drifting_since({1: True, 2: False, 3: True, 4: True}), drifting_since({1: True, 2: False})
    (3, None)
    """
    since = None
    for start in sorted(windows, reverse=True):
        if not windows[start]:
            break
        since = start
    return since


def _headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rank = {m: i for i, m in enumerate(_HEADLINE)}
    return min(rows, key=lambda r: (rank.get(r["method"], len(rank)), r["method"]))


def _finding(
    feature: str, rows: list[dict[str, Any]], since: datetime, cut: datetime, words: Words
) -> Finding:
    head = _headline(rows)
    declared = words.columns.get(feature)
    if declared:
        head = {**head, "label": declared[:1].upper() + declared[1:]}
    worst = "critical" if any(r["severity"] == "critical" for r in rows) else "warning"
    ref_value, cur_value = head["reference_value"], head["current_value"]
    unit = _number_unit(feature)
    moves = json.loads(head["detail"]) if head.get("detail") else []
    if head["method"] == "psi" and moves:
        top = moves[0]
        ref_value, cur_value, unit = top["reference"], top["current"], "share"
    elif head["method"] in ("out_of_range", "missing", "unseen", "low_confidence", "top1pct_share"):
        unit = "share"
    up = (cur_value or 0.0) >= (ref_value or 0.0)
    message = _message(head, worst, since, moves, up, words)
    methods = ", ".join(
        f"{r['method']} {r['statistic']:.3g}" for r in sorted(rows, key=lambda r: r["method"])
    )
    p = max((r["adjusted_p"] for r in rows if r["adjusted_p"] is not None), default=0.0)
    return Finding(
        kind="drift",
        metric=f"drift:{feature}",
        metric_label=head["label"],
        segment=None,
        direction="up" if up else "down",
        severity=worst,  # type: ignore[arg-type]
        baseline=float(ref_value or 0.0),
        baseline_low=None,
        baseline_high=None,
        current=float(cur_value or 0.0),
        current_low=None,
        current_high=None,
        baseline_start=head["window_start"],
        baseline_end=head["window_start"],
        window_start=head["window_start"],
        window_end=head["window_end"],
        since=since,
        test=f"drift against the training reference {head['reference_version']} ({methods})",
        statistic=float(head["statistic"]),
        p_value=float(head["p_value"] if head["p_value"] is not None else 0.0),
        adjusted_p=float(p),
        n_baseline=int(head["n_reference"]),
        n_current=int(head["n"]),
        message=message,
        action=_action(head["role"], words),
        as_of=cut,
        unit=unit,
        evidence={
            "methods": {
                r["method"]: {"statistic": r["statistic"], "effect": r["effect"]} for r in rows
            },
            "movers": moves,
            "reference_version": head["reference_version"],
        },
    )


def _message(
    head: dict[str, Any],
    severity: str,
    since: datetime,
    moves: list[dict[str, Any]],
    up: bool,
    words: Words,
) -> str:
    label = head["label"]
    how = "sharply" if severity == "critical" else "noticeably"
    when = f"since {since_text(since, words)}"
    role = head["role"]
    method = head["method"]
    of_items = f" of {words.served_items}" if words.served_items else ""
    if method == "psi" and moves:
        what = {
            "feature": f"The {label.lower()} mix{of_items}",
            "segment": f"The mix of {words.subjects or words.predictions} by {label.lower()}",
            "prediction": "The mix of predicted classes",
        }.get(role, f"The {label.lower()} mix")
        parts = [
            f"{m['value']} {fmt(m['reference'], 'share', words)}"
            f" → {fmt(m['current'], 'share', words)}"
            for m in moves
        ]
        return f"{what} changed {how} {when}: {', '.join(parts)} (training data → now)."
    if method == "psi":
        unit = _number_unit(head["feature"])
        subject = "The model's scores" if role == "prediction" else f"The {label.lower()}"
        if role == "feature":
            subject += of_items
        verb = "moved up" if up else "moved down"
        return (
            f"{subject} {verb} {how} {when}: {fmt(head['current_value'], unit, words)} on average,"
            f" against {fmt(head['reference_value'], unit, words)} in the training data."
        )
    if method == "pca_reconstruction":
        now, then = fmt(head["current_value"], "score"), fmt(head["reference_value"], "score")
        return (
            f"{label}: the way the inputs vary together moved {how} away from the training data"
            f" {when}: a PCA of the training inputs reconstructs them with a mean error of {now}"
            f" now, against {then} in the training data."
        )
    shown = "impressions" if words.item else words.predictions
    methods = {
        "out_of_range": "values outside the range seen in training",
        "missing": "missing values",
        "unseen": "values never seen in training",
        "low_confidence": "low-confidence predictions",
        "top1pct_share": f"{shown} going to the top 1% of items",
        "gini": f"concentration of {shown} on few items (Gini)",
    }
    what_moved = methods[method]
    unit = "score" if method == "gini" else "share"
    now = fmt(head["current_value"], unit, words)
    then = fmt(head["reference_value"], unit, words)
    if method == "gini":
        return (
            f"{label}: the {what_moved} rose {how} {when}: {now} now, "
            f"against {then} expected from the training data."
        )
    return (
        f"{label}: the share of {what_moved} moved {how} {when}: {now} now, "
        f"against {then} in the training data."
    )


def _number_unit(feature: str) -> str:
    """How a numeric feature's value reads: money for a price in a currency, else a number."""
    return "amount" if feature.endswith(CURRENCY_SUFFIXES) else "score"


def _action(role: str, words: Words) -> str:
    if role == "prediction":
        return (
            "The model behaves differently from training: check its inputs and the serving "
            "version; when the truth arrives, confirm quality before trusting the new scores."
        )
    if role == "item" and words.item:
        return (
            "Exposure is concentrating on few items (a popularity feedback loop): consider "
            "exploration or diversity constraints in the ranking."
        )
    if role == "item":
        return (
            f"The {words.predictions} are concentrating on few items: check that the input "
            "data still covers every item, and whether the change is intended."
        )
    return (
        "The data the model sees no longer looks like its training data. If the change is "
        "intended (a new collection, a campaign), watch quality closely as the truth arrives "
        "and plan a retrain on recent data; if not, look for an upstream data problem."
    )
