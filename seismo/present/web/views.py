"""The dashboard's views: plain data, drawn as HTML by templates or sent as JSON.

Each page has one view function here and two routes: ``/`` and
``/api/overview`` both come from :func:`overview`, ``/engineering`` and
``/api/engineering`` from :func:`engineering` (Datasette's habit: the page and
its JSON twin cannot disagree). Views return dictionaries of numbers, words
and times; nothing here knows about HTML, and everything here reads the
snapshot's aggregates only.

The business view (:func:`overview`) reads top to bottom as a merchandising
team would ask: what needs attention now (:func:`attention`), how the key
figures are doing (:func:`key_figures`), which customer groups differ
(:mod:`~seismo.present.web.breakdown`), and whether every age group is
treated alike.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from seismo.detect.adverse import family
from seismo.detect.findings import Finding, segment_text
from seismo.detect.wording import who
from seismo.locale import current
from seismo.present.web import humanize
from seismo.present.web.breakdown import fairness, segments, small_multiples
from seismo.present.web.classifier_view import classifier_view
from seismo.present.web.context import DAY, Context
from seismo.present.web.drift_charts import drift_charts
from seismo.present.web.figures import EARLY
from seismo.present.web.snapshot import Snapshot

__all__ = ["attention", "engineering", "key_figures", "overview"]

#: A relative change smaller than this is "stable" (detection's minimum effect).
MIN_RELATIVE = 0.15
_SEVERITY_WORDS = {"critical": "Act now", "warning": "Keep an eye on this"}
#: Drift is an early warning about the data, not proof of worse results: its own words.
_DRIFT_WORDS = {
    "critical": "Big change in what the model sees",
    "warning": "Change in what the model sees",
}


def overview(snap: Snapshot) -> dict[str, Any]:
    """The business view: everything a merchandising team reads, top to bottom."""
    ctx = Context.of(snap)
    cards = attention(ctx)
    return {
        "page": "overview",
        "words": _words(ctx),
        "as_of": snap.as_of,
        "empty": snap.empty,
        "volume": _volume(ctx),
        "periods": _periods(ctx),
        "attention": cards,
        "attention_summary": _summary(ctx, len(cards)),
        "figures": key_figures(ctx),
        "segments": segments(ctx),
        "small_multiples": small_multiples(ctx),
        "fairness": fairness(ctx),
        "notes": {
            "provisional": _provisional_note(ctx),
            "drift": _drift_note(snap),
        },
    }


def _words(ctx: Context) -> dict[str, str]:
    """The model's words the page is written in (its mapping's ``[words]``)."""
    w = ctx.words
    return {
        "prediction": w.prediction,
        "predictions": w.predictions,
        "everyone": w.everyone,
        "groups": f"{w.subject} group" if w.subject else "group",
    }


def _volume(ctx: Context) -> dict[str, Any]:
    m = ctx.volume_metric
    days = ctx.series(m) if m else []
    total = sum(d.n for d in days)
    return {
        "predictions": total if days else 0,
        "in_store": ctx.snap.predictions,
        "first_day": days[0].start if days else None,
        "last_day": days[-1].start if days else None,
        "per_day": total / len(days) if days else None,
        "days": len(days),
    }


def _periods(ctx: Context) -> dict[str, Any]:
    start, end = ctx.launch
    out: dict[str, Any] = {
        "launch": {"start": start, "end": end, "label": humanize.day_range(start, end)}
    }
    # a planned change's last day is a whole day: its band ends at the next midnight
    out["planned"] = [
        {
            "start": c.starts,
            "end": c.ends + DAY,
            "note": c.note,
            "segment": c.segment,
            "label": humanize.day_range(c.starts, c.ends + DAY),
        }
        for c in ctx.snap.planned
    ]
    if ctx.recent is not None:
        rs, re = ctx.recent
        out["recent"] = {"start": rs, "end": re, "label": humanize.day_range(rs, re)}
    else:
        out["recent"] = None
    return out


def _provisional_note(ctx: Context) -> str:
    waits = []
    for name, t in sorted(ctx.snap.types.items()):
        if t.window < timedelta(hours=1):
            continue
        after = f"after the {t.parent}" if t.parent else f"after {humanize.a(ctx.words.prediction)}"
        waits.append(f"{humanize.duration(t.window)} {after} for a {name}")
    if not waits:
        return ""
    return (
        "The truth takes its time: we wait up to " + "; up to ".join(waits) + ". "
        "Until then a day's figures are provisional: we show the expected final value "
        "(dashed line, shaded range) and how much of it has yet to come in."
    )


# -- what needs attention -----------------------------------------------------


def attention(ctx: Context) -> list[dict[str, Any]]:
    """The findings as alert cards, most severe first, in plain sentences.

    Quality changes of one group are one card: the business figure leads (a
    fall in click-through), and what else moved for the same group (the
    model's calibration, its log loss) is said on the card, not on a card of
    its own: one problem, one card. Drift that began the same day is one
    change in the data, one card too.
    """
    cards: list[dict[str, Any]] = []
    by_group: dict[str, dict[str, Any]] = {}
    # Unexplained changes first; those that began inside a planned change after them.
    findings = sorted(
        ctx.snap.findings,
        key=lambda f: (
            "planned" in f.evidence,
            f.kind != "quality" or family(f.metric) != "business",
        ),
    )
    for f in findings:
        key = {"quality": segment_text(f.root or f.segment), "drift": f.group}.get(f.kind)
        if key is not None and key in by_group:
            by_group[key]["also"].append(f.message)
            continue
        card = _card(ctx, f)
        if key is not None:
            by_group[key] = card
        cards.append(card)
    order = {id(c): i for i, c in enumerate(cards)}
    rank = {"critical": 0, "warning": 1}
    return sorted(cards, key=lambda c: (rank.get(c["severity"], 2), order[id(c)]))


def _summary(ctx: Context, n: int) -> str:
    """One sentence on where the problems are (``n`` cards): everyone, or some groups only."""
    findings = ctx.snap.findings
    if not findings:
        return ""
    head = f"{n} {'thing needs' if n == 1 else 'things need'} attention, most urgent first."
    if any(not f.segment or f.kind == "operations" for f in findings):
        return head
    groups = list(dict.fromkeys(who(f.segment, ctx.words) for f in findings))
    listed = groups[0] if len(groups) == 1 else ", ".join(groups[:-1]) + " and " + groups[-1]
    return f"{head} No alert concerns {ctx.words.everyone} together: the problems are for {listed}."


def _card(ctx: Context, f: Finding) -> dict[str, Any]:
    life = ctx.alert_of(f)
    days_since = (ctx.snap.as_of - f.since) / DAY
    share = None
    if f.segment and len(f.segment) == 1 and f.kind != "operations":
        ((attribute, value),) = f.segment.items()
        share = ctx.traffic_share(attribute, value)
    ops = f.kind == "operations"
    baseline_words = {"drift": "in the training data", "operations": "normally"}
    return {
        **life,
        "severity": f.severity,
        "severity_words": (_DRIFT_WORDS if f.kind == "drift" else _SEVERITY_WORDS).get(
            f.severity, f.severity
        ),
        "baseline_words": baseline_words.get(f.kind, "at launch"),
        "kind": f.kind,
        "metric": f.metric,
        "metric_label": f.metric_label,
        "segment": f.segment,
        "who": _served_by(ctx, f) if ops else who(f.segment, ctx.words),
        "traffic_share": share,
        "headline": f.message,
        "planned": (f.evidence.get("planned") or {}).get("note"),
        "since": f.since,
        "since_words": humanize.day(f.since)
        + (f" ({_days(days_since)} ago)" if days_since >= 1 else ""),
        "baseline": f.baseline,
        "current": f.current,
        "baseline_text": _value_text(ctx, f, f.baseline),
        "current_text": _value_text(ctx, f, f.current),
        "meaning": _meaning(ctx, f),
        "action": f.action,
        "also": [],
        "also_title": "Changed the same day" if f.kind == "drift" else "Also for this group",
        "sure": _operations_sure(ctx, f) if ops else _sure(ctx, f),
        "technical": (
            f"{f.test}; adjusted p = {_num(f.adjusted_p, 2)}; n = {_whole(f.n_baseline)}"
            f" {_BASELINE_N.get(f.kind, 'launch')}, {_whole(f.n_current)}"
            " recent"
            f" ({humanize.day_range(f.window_start, f.window_end)})"
        ),
    }


_BASELINE_N = {"drift": "training", "operations": "normal (past windows or requests)"}


def _served_by(ctx: Context, f: Finding) -> str:
    """Whom an operations finding concerns: the requests one model version served."""
    version = (f.segment or {}).get("model_version")
    what = ctx.words.predictions
    return f"All {what} served by model version {version}" if version else f"All {what}"


def _operations_sure(ctx: Context, f: Finding) -> str:
    hours = int(f.evidence.get("hours") or 1)
    strength = "Very sure" if f.severity == "critical" else "Fairly sure"
    return (
        f"{strength}: {humanize.count(f.n_current)} {ctx.words.predictions} over {hours}"
        f" hour{'s' if hours != 1 else ''}; chance alone would give hours this far from normal"
        f" with a probability of {_num(f.p_value, 2)}."
    )


def _num(x: float | None, digits: int) -> str:
    return humanize.DASH if x is None else current().significant(x, digits)


def _whole(n: float | None) -> str:
    return humanize.DASH if n is None else current().decimal(n, 0)


def _value_text(ctx: Context, f: Finding, x: float) -> str:
    if f.unit == "score":
        return _num(x, 3)
    if f.kind == "drift":  # drift findings name their unit; they are not among the metrics
        return humanize.value(x, f.unit, ctx.currency)
    if f.kind == "operations":
        if f.unit == "ms":
            return f"{current().decimal(x, 0)} ms"
        if f.unit == "count":
            return humanize.count(x)
        return humanize.share(x)
    return ctx.fmt(f.metric, x)


def _days(n: float) -> str:
    whole = math.floor(n)
    return "1 day" if whole == 1 else f"{whole} days"


def _meaning(ctx: Context, f: Finding) -> str:
    """What the change amounts to in a day of business for this group."""
    span = (f.window_end - f.window_start) / DAY if f.window_end > f.window_start else 1.0
    members = f.n_current / span if span > 0 else 0.0
    diff = f.current - f.baseline
    if members <= 0 or not math.isfinite(diff):
        return ""
    people = who(f.segment, ctx.words)
    if f.kind == "drift":
        return _drift_meaning(ctx, f, diff, members)
    if f.kind == "quality" and f.unit == "share":
        more = "more" if diff > 0 else "fewer"
        noun, pop = ctx.counted(f.metric), ctx.population(f.metric)
        if noun is None:
            return ""
        text = (
            f"About {humanize.about(abs(diff) * members)} {more} {noun} a day from {people} than at"
            f" launch, out of about {humanize.about(members)} {pop} a day."
        )
        return text + _worth(ctx, f, diff * members)
    if f.kind == "quality" and f.unit == "amount":
        amount = humanize.money(abs(diff) * members, ctx.currency)
        return (
            f"About {amount} {'more' if diff > 0 else 'less'} in sales a day from {people}"
            f" than at launch."
        )
    if f.kind == "fairness" and f.unit == "share":
        items = f.metric_label.removeprefix("Share of ").removesuffix(" shown")
        return (
            f"Of about {humanize.about(members)} {ctx.words.predictions} for {people} each day,"
            " about"
            f" {humanize.about(abs(diff) * members)} {'more' if diff > 0 else 'fewer'} are {items}"
            " than at launch."
        )
    if f.unit == "amount":
        return (
            f"{f.metric_label} for {people} is {humanize.money(abs(diff), ctx.currency)}"
            f" {'higher' if diff > 0 else 'lower'} than at launch."
        )
    return ""


def _worth(ctx: Context, f: Finding, more_per_day: float) -> str:
    """What ``more_per_day`` more outcomes are worth a day, where the model declares a value."""
    outcome = ctx.counted_outcome(f.metric)
    worth = ctx.words.values.get(outcome) if outcome else None
    if not worth:
        return ""
    amount = more_per_day * worth
    if amount:  # three significant figures: an estimate, not an invoice
        amount = round(amount, 2 - math.floor(math.log10(abs(amount))))
    each = humanize.money(abs(worth), ctx.currency)
    money = humanize.money(abs(amount), ctx.currency)
    if amount < 0:
        return f" At {each} each, that costs about {money} a day."
    return f" At {each} each, that is about {money} more a day."


def _drift_meaning(ctx: Context, f: Finding, diff: float, members: float) -> str:
    movers = f.evidence.get("movers") or []
    if f.unit == "share" and movers:
        top = movers[0]
        change = (top["current"] - top["reference"]) * members
        return (
            f"Of about {humanize.about(members)} {ctx.words.predictions} a day, about"
            f" {humanize.about(abs(change))} {'more' if change > 0 else 'fewer'} are"
            f" {top['value']} than the training data would give."
        )
    if f.unit == "amount":
        what = ctx.words.served_items or f"The {f.metric_label.lower()}"
        return (
            f"{what[:1].upper()}{what[1:]} {'cost' if ctx.words.item else 'is'} about"
            f" {humanize.money(abs(diff), ctx.currency)} {'more' if diff > 0 else 'less'} on"
            " average than in the training data."
        )
    return ""


def _sure(ctx: Context, f: Finding) -> str:
    if f.kind == "drift":
        return (
            f"Very sure: {humanize.count(f.n_current)} {ctx.words.predictions} on"
            f" {humanize.day_range(f.window_start, f.window_end)} compared with"
            f" {humanize.count(f.n_baseline)} in the training data; a shift this large is not"
            " chance. It says the data changed, not yet that results got worse."
        )
    pop = ctx.population(f.metric) if f.kind == "quality" else ctx.words.predictions
    strength = "Very sure" if f.severity == "critical" else "Fairly sure"
    return (
        f"{strength}: based on {humanize.count(f.n_baseline)} {pop} at launch and"
        f" {humanize.count(f.n_current)} on {humanize.day_range(f.window_start, f.window_end)};"
        f" {_chance(f)}"
    )


def _chance(f: Finding) -> str:
    """How rarely chance alone gives a change this clear, over everything watched."""
    per_90 = f.evidence.get("false_alarms_per_90_days_this_strong")
    if not isinstance(per_90, int | float) or per_90 <= 0:
        return "a change this large is very unlikely to be chance."
    years = 90 / per_90 / 365.25
    if years >= 1000:
        return "chance alone would give a change this clear less than once in a thousand years."
    once = "chance alone would give a change this clear about once in"
    if years >= 2:
        return f"{once} {humanize.count(years)} years."
    return f"{once} {humanize.count(90 / per_90)} days."


# -- key figures --------------------------------------------------------------


def key_figures(ctx: Context) -> list[dict[str, Any]]:
    """Each key figure for everyone: recent vs launch, its trend, and its maturity."""
    return [_figure(ctx, m) for m in ctx.key_figures]


def _figure(ctx: Context, metric: str) -> dict[str, Any]:
    days = ctx.series(metric)
    launch = ctx.pooled(metric, None, None, "launch")
    recent = ctx.pooled(metric, None, None, "recent")
    rel = None
    if ctx.comparable and launch and recent and launch.estimate and recent.estimate is not None:
        rel = recent.estimate / launch.estimate - 1
    alerts = ctx.findings_for(metric=metric)
    groups = [f for f in ctx.findings_for(metric=metric, any_segment=True) if f.segment]
    worse = rel is not None and (rel > 0) == ctx.lower_is_better(metric)
    provisional = recent is not None and recent.provisional
    if alerts:
        status, words = "alert", ("Rising" if alerts[0].direction == "up" else "Falling")
        words += ": see the alert above"
    elif rel is None:
        status = "unknown"
        words = f"Launch period: the baseline is being set until {humanize.day(ctx.launch[1])}"
    elif recent is not None and provisional and recent.to_come >= EARLY:
        status, words = "early", f"Too early to tell: most {ctx.noun(metric)} are still to come"
    elif abs(rel) < MIN_RELATIVE:
        status, words = "stable", "Stable"
    elif provisional:
        status, words = "early", f"Too early to tell: many {ctx.noun(metric)} are still to come"
    else:
        status, words = "changed", f"{'Down' if rel < 0 else 'Up'}, but not a significant change"
    note = ""
    if status == "stable" and groups:
        words += " overall"
        note = f"but not for {who(groups[0].segment, ctx.words)}: see the alert above"
    soft_days = [d for d in days if not d.final]
    maturity = "Confirmed" if recent is not None else "Not known yet"
    if recent is not None and provisional:
        maturity = (
            f"Provisional: still waiting for {humanize.share(recent.to_come)} of {ctx.noun(metric)}"
        )
        final = ctx.final_by(metric, ctx.recent[1]) if ctx.recent else None
        if final is not None:
            maturity += f", final by {humanize.day(final)}"
    elif recent is not None and not recent.final:
        maturity = f"Almost final: under 1% of {ctx.noun(metric)} still to come"
    interval = None
    if recent and recent.std_error and recent.estimate is not None and provisional:
        low, high = (
            recent.estimate - 1.645 * recent.std_error,
            recent.estimate + 1.645 * recent.std_error,
        )
        interval = f"likely between {ctx.fmt(metric, max(low, 0.0))} and {ctx.fmt(metric, high)}"
    return {
        "metric": metric,
        "label": ctx.label(metric),
        "unit": ctx.unit(metric),
        "description": ctx.words.figures.get(metric, ""),
        "recent": _pooled_record(ctx, metric, recent),
        "launch": _pooled_record(ctx, metric, launch),
        "change": rel,
        "change_text": humanize.change(rel),
        "worse": bool(worse) if status in ("alert", "changed") else None,
        "status": status,
        "status_words": words,
        "status_note": note,
        "provisional": provisional,
        "maturity_words": maturity,
        "interval_words": interval,
        "provisional_days": len(soft_days),
        "provisional_from": soft_days[0].start if soft_days else None,
        "days": [_day_record(d) for d in days],
        "chart_label": _chart_words(ctx, metric, days),
    }


def _pooled_record(ctx: Context, metric: str, p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "value": p.estimate,
        "text": ctx.fmt(metric, p.estimate),
        "n": p.n,
        "final": p.final,
        "to_come": p.to_come,
        "observed": p.observed,
    }


def _day_record(d: Any) -> dict[str, Any]:
    return {
        "start": d.start,
        "end": d.end,
        "n": d.n,
        "estimate": d.estimate,
        "low": d.low,
        "high": d.high,
        "observed": d.observed,
        "final": d.final,
    }


def _chart_words(ctx: Context, metric: str, days: list[Any]) -> str:
    shown = [d for d in days if d.estimate is not None]
    if not shown:
        return f"{ctx.label(metric)}: no data"
    soft = sum(1 for d in shown if not d.final)
    text = (
        f"{ctx.label(metric)} per day, {humanize.day(shown[0].start)} to"
        f" {humanize.day(shown[-1].start)}: from {ctx.fmt(metric, shown[0].estimate)} to"
        f" {ctx.fmt(metric, shown[-1].estimate)}"
    )
    return text + (f"; the last {soft} days are provisional" if soft else "; all confirmed")


# -- engineering --------------------------------------------------------------


def engineering(
    snap: Snapshot, *, metric: str | None = None, attribute: str | None = None
) -> dict[str, Any]:
    """The engineering view: statistics behind each alert, metric tables, model versions."""
    ctx = Context.of(snap)
    names = sorted(ctx.labels, key=lambda m: (ctx.exposure.get((m, None, None)) is not None, m))
    metric = metric if metric in ctx.labels else (ctx.key_figures[0] if ctx.key_figures else None)
    attributes = ["all", *snap.segments]
    attribute = (
        attribute if attribute in attributes else (snap.segments[0] if snap.segments else "all")
    )
    return {
        "page": "engineering",
        "words": _words(ctx),
        "as_of": snap.as_of,
        "data_version": snap.version,
        "computed_at": snap.computed_at,
        "compute_seconds": round(snap.seconds, 3),
        "predictions": snap.predictions,
        "alerts_synced": snap.synced,
        "periods": _periods(ctx),
        "detection": None
        if snap.watch is None
        else {**snap.watch.to_record(), "text": snap.watch.text()},
        "alerts": [_alert_detail(ctx, f) for f in snap.findings],
        "resolved": [a.to_record() for a in snap.alerts if a.state == "resolved"],
        "table": {
            "metric": metric,
            "attribute": attribute,
            "metrics": [{"name": m, "label": ctx.label(m)} for m in names],
            "attributes": attributes,
            "rows": _metric_rows(snap, metric, attribute),
        },
        "model_versions": _versions(snap),
        "drift": drift_view(snap),
        "classifier": classifier_view(snap),
        "drift_charts": drift_charts(snap),
    }


def _drift_note(snap: Snapshot) -> str:
    if snap.drift is None:
        return (
            "Changes in what the model sees (input drift) are measured once a training reference"
            " is registered: seismo reference add."
        )
    drifting = sorted({f.metric_label for f in snap.findings if f.kind == "drift"})
    if not drifting:
        return "What the model sees still looks like its training data."
    return f"What the model sees has moved away from its training data: {', '.join(drifting)}."


def drift_view(snap: Snapshot) -> dict[str, Any]:
    """Per feature: the latest verdict of every method and its headline effect over time."""
    if snap.drift is None:
        return {
            "available": False,
            "note": "No training reference is registered, so drift is not measured. Register"
            " one with: seismo reference add TRAINING_FILE [--model-version V].",
            "features": [],
        }
    rows = [r for r in snap.drift.to_pylist() if r["attribute"] is None]
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_feature.setdefault(r["feature"], []).append(r)
    features = []
    for feature, frows in by_feature.items():
        last = max(r["window_start"] for r in frows)
        latest = sorted((r for r in frows if r["window_start"] == last), key=lambda r: r["method"])
        role = frows[0]["role"]
        chart_method = {"item": "gini", "multivariate": "pca_reconstruction"}.get(role, "psi")
        series = sorted(
            (r for r in frows if r["method"] == chart_method), key=lambda r: r["window_start"]
        )
        chart = [
            {
                "start": r["window_start"],
                "end": r["window_end"],
                "n": r["n"],
                "estimate": r["statistic"] if chart_method == "psi" else r["effect"],
                "low": None,
                "high": None,
                "observed": None,
                "final": r["final"],
            }
            for r in series
        ]
        drifting = any(r["drifted"] for r in latest)
        features.append(
            {
                "feature": feature,
                "label": frows[0]["label"],
                "role": role,
                "reference_version": frows[0]["reference_version"],
                "drifted": drifting,
                "severity": next(
                    (s for s in ("critical", "warning") if any(r["severity"] == s for r in latest)),
                    "none",
                ),
                "chart_method": chart_method,
                "chart": chart,
                # One scale from zero to past the critical band: calm features look calm.
                "chart_range": [
                    min([0.0, *(d["estimate"] or 0.0 for d in chart)]),
                    max([0.3, *(d["estimate"] or 0.0 for d in chart)]),
                ],
                "drifted_windows": sum(1 for r in series if r["drifted"]),
                "windows": len(series),
                "latest": latest,
            }
        )
    order = {"critical": 0, "warning": 1, "none": 2}
    features.sort(key=lambda f: (order[f["severity"]], f["role"] != "feature", f["label"]))
    return {
        "available": True,
        "note": "Each feature's distribution per day against the training reference: PSI over"
        " the reference's deciles (bands 0.1 moderate, 0.25 major), KS and Wasserstein for"
        " numbers, chi-squared and Jensen-Shannon for categories, missing / out-of-range / unseen"
        " shares, the score's distribution and low-confidence share, and the concentration of"
        " impressions over items (Gini, against what the reference gives for the same volume)."
        " A row drifts when its effect reaches the warning band and its Benjamini-Hochberg"
        " adjusted p-value is below 1%.",
        "features": features,
    }


def _alert_detail(ctx: Context, f: Finding) -> dict[str, Any]:
    return {
        **ctx.alert_of(f),
        "key": f.key,
        "group": f.group,
        "severity": f.severity,
        "kind": f.kind,
        "metric": f.metric,
        "metric_label": f.metric_label,
        "unit": f.unit,
        "segment": f.segment,
        "root": f.root,
        "related": list(f.related),
        "direction": f.direction,
        "baseline": f.baseline,
        "baseline_low": f.baseline_low,
        "baseline_high": f.baseline_high,
        "baseline_start": f.baseline_start,
        "baseline_end": f.baseline_end,
        "current": f.current,
        "current_low": f.current_low,
        "current_high": f.current_high,
        "window_start": f.window_start,
        "window_end": f.window_end,
        "since": f.since,
        "test": f.test,
        "statistic": f.statistic,
        "p_value": f.p_value,
        "adjusted_p": f.adjusted_p,
        "n_baseline": f.n_baseline,
        "n_current": f.n_current,
        "message": f.message,
        "action": f.action,
        "evidence": f.evidence,
    }


_TABLE_COLUMNS = (
    "window_start",
    "window_end",
    "value",
    "model_version",
    "n",
    "confirmed_n",
    "pending_n",
    "confirmed_value",
    "observed_value",
    "estimate",
    "estimate_low",
    "estimate_high",
    "estimator",
    "final",
    "final_at",
)


def _metric_rows(snap: Snapshot, metric: str | None, attribute: str) -> list[dict[str, Any]]:
    """One metric's rows for one attribute (or the aggregate), newest window first."""
    import pyarrow.compute as pc

    if metric is None:
        return []
    out: list[dict[str, Any]] = []
    for table in (snap.metrics, snap.exposure):
        if table is None or table.num_rows == 0:
            continue
        chosen = table.filter(pc.equal(table.column("metric"), metric))
        if attribute == "all":
            chosen = chosen.filter(pc.is_null(chosen.column("attribute")))
        else:
            chosen = chosen.filter(pc.equal(chosen.column("attribute"), attribute))
        out += chosen.select(list(_TABLE_COLUMNS)).to_pylist()
    out.sort(key=lambda r: (r["value"] or "", r["model_version"] or ""))
    out.sort(key=lambda r: r["window_start"], reverse=True)  # the newest windows first
    return out


def _versions(snap: Snapshot) -> list[dict[str, Any]]:
    """Model versions seen: first and last day served, and how many predictions."""
    if snap.metrics.num_rows == 0:
        return []
    seen: dict[str, dict[datetime, int]] = {}
    for r in snap.metrics.select(["attribute", "model_version", "window_start", "n"]).to_pylist():
        if r["attribute"] is not None:
            continue
        days = seen.setdefault(r["model_version"] or "unknown", {})
        days[r["window_start"]] = max(days.get(r["window_start"], 0), int(r["n"] or 0))
    return [
        {
            "model_version": v,
            "first_window": min(days),
            "last_window": max(days),
            "windows": len(days),
            "predictions": sum(days.values()),
        }
        for v, days in sorted(seen.items(), key=lambda kv: min(kv[1]))
    ]
