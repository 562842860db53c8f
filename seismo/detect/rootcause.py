"""Attribute each change to the smallest segment that explains it, not to every segment it touches.

Every device group contains some 25-34 customers, so when their click-through
collapses, each device's click-through dips a little, and so does the region
that holds many of them. For two findings ``G`` and ``R`` on the same metric
and direction, seismo asks: with ``R``'s rows taken out, does ``G`` still
change?

It needs no second pass over raw rows: ``G``'s value is a mix of its rows in
``R`` and the rest, ``v_G = s·v_{G∩R} + (1-s)·v_{G∖R}``, with ``s`` the share
of ``G``'s rows that belong to ``R`` (one small count query in the engine, per
period). Taking ``v_{G∩R} ≈ v_R`` gives ``v_{G∖R}`` in the baseline and in the
current window; if its change is no longer clear (below the minimum effect, or
not significant at ``explain_alpha``), ``G`` is explained by ``R``.

Segments can nest: the pair "25-34 in DE" lies inside "25-34" and inside
"DE". Which of them is the root depends on where the change is:

* **concentrated**: the parent without the pair moved less than half as
  much (relatively) as the pair: the pair is the root and its parents are
  related to it ("names the smallest segment that explains a change, not its
  parents");
* **broad**: the parent without the pair moved at least half as much: the
  parent is the root and the pair, a part of a change that covers the
  parent, is related.

Segments that overlap without nesting (a device and an age group) are judged
by the first rule, the stronger finding explaining the weaker.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import ibis
from scipy.stats import norm

from seismo.detect.change import DetectConfig
from seismo.detect.findings import Finding
from seismo.detect.wording import describe
from seismo.store.read import Store
from seismo.words import Words

__all__ = ["attribute_roots"]


def _share(
    store: Store,
    inner: dict[str, str],
    outer: dict[str, str] | None,
    start: datetime,
    end: datetime,
) -> float | None:
    """Share of the ``outer`` segment's predictions in [start, end) that belong to ``inner``."""
    p = store.predictions()
    p = p.filter((p.served_at >= start) & (p.served_at < end))
    for attribute, value in (outer or {}).items():
        p = p.filter(p[attribute].cast("string") == value)
    member = ibis.literal(True)
    for attribute, value in inner.items():
        member = member & (p[attribute].cast("string") == value)
    # CASE, not a cast of the condition: PostgreSQL refuses CAST(TRUE AS BIGINT).
    hit = ibis.ifelse(member, ibis.literal(1), ibis.literal(0))
    row = p.aggregate(n=p.count(), k=hit.sum()).to_pyarrow().to_pylist()[0]
    return None if not row["n"] else (row["k"] or 0) / row["n"]


def _rest_changes(store: Store, g: Finding, r: Finding, config: DetectConfig) -> bool | None:
    """Does ``g`` still change once ``r``'s rows are taken out? None: cannot tell."""
    assert r.segment is not None
    s_base = _share(store, r.segment, g.segment, g.baseline_start, g.baseline_end)
    s_cur = _share(store, r.segment, g.segment, g.window_start, g.window_end)
    if s_base is None or s_cur is None or max(s_base, s_cur) >= 0.95 or (s_base + s_cur) == 0:
        return None

    def rest(v_g: float, v_r: float, s: float) -> float:
        return (v_g - s * v_r) / (1.0 - s)

    base = rest(g.baseline, r.baseline, s_base)
    cur = rest(g.current, r.current, s_cur)
    diff = cur - base
    minimum = max(config.min_relative * abs(base), config.min_absolute.get(g.unit, 0.0))
    if abs(diff) < minimum or (diff > 0) != (g.direction == "up"):
        return False

    def var(low: float | None, high: float | None, s: float) -> float:
        if low is None or high is None:
            return math.inf
        return ((high - low) / (2 * 1.645) / (1.0 - s)) ** 2

    se = math.sqrt(
        var(g.baseline_low, g.baseline_high, s_base) + var(g.current_low, g.current_high, s_cur)
    )
    if not math.isfinite(se) or se == 0:
        return None
    return bool(2 * norm.sf(abs(diff / se)) <= config.explain_alpha)


def _nested(store: Store, parent: Finding, child: Finding) -> str | None:
    """Is a change found in ``parent`` and in its part ``child`` broad or concentrated?

    ``broad``: what is left of the parent without the child moved at least
    half as much (relatively) as the child did, in the same direction: the
    change covers the parent. ``concentrated``: it moved less: the child
    carries it. A child holding (nearly) all of the parent's rows is the
    parent under a longer name ("store S07 in region west"): broad. A point
    comparison, symmetric in both answers (a test of "the rest did not
    change" would call every small rest quiet for want of rows).
    None when the shares cannot be told.
    """
    assert child.segment is not None
    s_base = _share(
        store, child.segment, parent.segment, parent.baseline_start, parent.baseline_end
    )
    s_cur = _share(store, child.segment, parent.segment, parent.window_start, parent.window_end)
    if s_base is None or s_cur is None:
        return None
    if min(s_base, s_cur) >= 0.95:
        return "broad"  # the same rows (a store is in one region): name the simpler group
    if max(s_base, s_cur) >= 0.95:
        return None
    rest_base = (parent.baseline - s_base * child.baseline) / (1.0 - s_base)
    rest_cur = (parent.current - s_cur * child.current) / (1.0 - s_cur)
    if rest_base == 0 or child.baseline == 0:
        return None
    rest = (rest_cur - rest_base) / abs(rest_base)
    own = (child.current - child.baseline) / abs(child.baseline)
    # Concentrated only when the rest clearly moved less than half as much as the child: a
    # child's young, noisy figure that happens to overshoot its parent's does not make it
    # the root of a change that covers the whole parent.
    shortfall = abs(own) / 2 - math.copysign(1.0, own) * rest
    se = _relative_se(child) / 2
    se = math.hypot(se, _rest_relative_se(parent, child, s_base, s_cur, rest_base, rest_cur))
    if math.isfinite(se) and se > 0:
        return "concentrated" if shortfall / se > _CLEARLY else "broad"
    return "broad" if rest * own > 0 and abs(rest) >= abs(own) / 2 else "concentrated"


#: One-sided z a child's change must clear over half its parent's rest to be called its own.
_CLEARLY = 1.645


def _var(low: float | None, high: float | None) -> float:
    """The variance of a figure from its 90% interval (infinite when it has none)."""
    if low is None or high is None:
        return math.inf
    return ((high - low) / (2 * 1.645)) ** 2


def _relative_se(f: Finding) -> float:
    """The standard error of ``f``'s relative change, current / baseline - 1 (delta method)."""
    b, c = f.baseline, f.current
    vb, vc = _var(f.baseline_low, f.baseline_high), _var(f.current_low, f.current_high)
    if b == 0:
        return math.inf
    return math.sqrt(vc + (c / b) ** 2 * vb) / abs(b)


def _rest_relative_se(
    parent: Finding, child: Finding, s_base: float, s_cur: float, rest_base: float, rest_cur: float
) -> float:
    """The standard error of the relative change of the parent's rows outside the child.

    The parent is the child and the rest mixed, the two independent:
    ``var(parent) = s² var(child) + (1 - s)² var(rest)``; what the child
    explains of the parent's variance is taken out (at least a tenth of the
    parent's is kept, so a rounding of the intervals cannot make it vanish).
    """

    def rest_var(low_p: float | None, high_p: float | None, vc: float, s: float) -> float:
        vp = _var(low_p, high_p)
        return max(vp - s * s * vc, 0.1 * vp) / (1.0 - s) ** 2

    vb = rest_var(
        parent.baseline_low,
        parent.baseline_high,
        _var(child.baseline_low, child.baseline_high),
        s_base,
    )
    vc = rest_var(
        parent.current_low, parent.current_high, _var(child.current_low, child.current_high), s_cur
    )
    return math.sqrt(vc + (rest_cur / rest_base) ** 2 * vb) / abs(rest_base)


def _inside(small: dict[str, str] | None, big: dict[str, str] | None) -> bool:
    """Is segment ``small`` a strict part of ``big`` (None: everyone)?"""
    if small is None:
        return False
    return big is None or (len(small) > len(big) and big.items() <= small.items())


def _owner(f: Finding, roots: list[Finding], store: Store, config: DetectConfig) -> Finding | None:
    """The root that explains ``f``, if any."""
    for r in roots:
        if (r.kind, r.metric, r.direction) != (f.kind, f.metric, f.direction):
            continue
        if _inside(f.segment, r.segment):
            # f is part of r: a broad change of r carries f along.
            if _nested(store, r, f) == "broad":
                return r
        elif _inside(r.segment, f.segment):
            # r is part of f: a change concentrated in r explains f.
            if _nested(store, f, r) == "concentrated":
                return r
        elif r.segment is not None and f.segment is not None and set(f.segment) == set(r.segment):
            continue  # siblings (two age groups) explain nothing of each other
        elif r.segment is not None and _rest_changes(store, f, r, config) is False:
            return r  # f is r's parent, or overlaps it: without r, f is quiet
    return None


def attribute_roots(
    findings: list[Finding], store: Store, config: DetectConfig | None = None
) -> list[Finding]:
    """The findings that stand on their own, each with the segments it explains as ``related``."""
    config = config or DetectConfig()
    # The narrowest and clearest first: a concentrated change is claimed by the part it
    # is in before its parents are looked at; a broad one hands the part back below.
    ordered = sorted(findings, key=lambda f: (-abs(f.statistic), -len(f.segment or {})))
    roots: list[Finding] = []
    explained: dict[str, list[Finding]] = {}
    for f in ordered:
        owner = _owner(f, roots, store, config)
        if owner is None:
            roots.append(f)
            explained[f.key] = []
        else:
            explained[owner.key].append(f)
    # Nested roots (a parent found before or after its part) settle by where the change is.
    while (pair := _nested_roots(roots, store)) is not None:
        keep, fold = pair
        roots.remove(fold)
        explained[keep.key] += [fold, *explained.pop(fold.key)]
    return _finish(roots, explained, store.words())


def _nested_roots(roots: list[Finding], store: Store) -> tuple[Finding, Finding] | None:
    """A (kept, folded) pair of nested roots on the same metric and direction, if any."""
    for parent in roots:
        for child in roots:
            same = (child.kind, child.metric, child.direction) == (
                parent.kind,
                parent.metric,
                parent.direction,
            )
            if child is parent or not same or not _inside(child.segment, parent.segment):
                continue
            verdict = _nested(store, parent, child)
            if verdict == "broad":
                return parent, child
            if verdict == "concentrated":
                return child, parent
    return None


def _finish(
    roots: list[Finding], explained: dict[str, list[Finding]], words: Words
) -> list[Finding]:
    out = []
    for r in roots:
        peers = [
            f
            for f in roots
            if f is not r
            and f.metric == r.metric
            and f.segment
            and r.segment
            and set(f.segment) == set(r.segment)
        ]
        evidence: dict[str, Any] = {**r.evidence, "peers_stable": bool(r.segment) and not peers}
        related = tuple(f.segment for f in explained[r.key])
        if related:
            evidence["explains"] = list(related)
        updated = replace(r, root=r.segment, related=related, evidence=evidence)
        out.append(replace(updated, message=describe(updated, words)))
    out.sort(key=lambda f: (f.severity != "critical", f.adjusted_p, f.key))
    return out
