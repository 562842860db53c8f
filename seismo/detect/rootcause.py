"""Attribute each change to its root segment instead of alerting on every segment it touches.

Every device group contains some 25-34 customers, so when their click-through
collapses, each device's click-through dips a little, and so does a
sustainability-preference group that happens to hold many of them. For each
finding ``G`` (a segment of another attribute, or all customers) and a
stronger finding ``R`` for the same metric and direction, seismo asks: with
``R``'s rows taken out, does ``G`` still change?

It needs no second pass over raw rows: ``G``'s value is a mix of its rows in
``R`` and the rest, ``v_G = s·v_{G∩R} + (1-s)·v_{G∖R}``, with ``s`` the share
of ``G``'s rows that belong to ``R`` (one small count query in the engine,
per period). Taking ``v_{G∩R} ≈ v_R`` gives ``v_{G∖R}`` in the baseline and
in the current window; if its change is no longer clear (below the minimum
effect, or not significant at the check's level), ``G`` is explained by ``R``
and becomes part of ``R``'s alert rather than one of its own.
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
    row = p.aggregate(n=p.count(), k=member.cast("int64").sum()).to_pyarrow().to_pylist()[0]
    return None if not row["n"] else (row["k"] or 0) / row["n"]


def _explained(store: Store, g: Finding, r: Finding, config: DetectConfig, alpha: float) -> bool:
    assert r.segment is not None
    s_base = _share(store, r.segment, g.segment, g.baseline_start, g.baseline_end)
    s_cur = _share(store, r.segment, g.segment, g.window_start, g.window_end)
    if s_base is None or s_cur is None or max(s_base, s_cur) >= 0.95 or (s_base + s_cur) == 0:
        return False

    def rest(v_g: float, v_r: float, s: float) -> float:
        return (v_g - s * v_r) / (1.0 - s)

    base = rest(g.baseline, r.baseline, s_base)
    cur = rest(g.current, r.current, s_cur)
    diff = cur - base
    minimum = max(config.min_relative * abs(base), config.min_absolute.get(g.unit, 0.0))
    if abs(diff) < minimum or (diff > 0) != (g.direction == "up"):
        return True

    def var(low: float | None, high: float | None, s: float) -> float:
        if low is None or high is None:
            return math.inf
        return ((high - low) / (2 * 1.645) / (1.0 - s)) ** 2

    se = math.sqrt(
        var(g.baseline_low, g.baseline_high, s_base) + var(g.current_low, g.current_high, s_cur)
    )
    if not math.isfinite(se) or se == 0:
        return False
    return bool(2 * norm.sf(abs(diff / se)) > alpha)


def attribute_roots(
    findings: list[Finding], store: Store, config: DetectConfig | None = None
) -> list[Finding]:
    """The findings that stand on their own, each with the segments it explains as ``related``."""
    config = config or DetectConfig()
    alpha = config.fdr
    ordered = sorted(findings, key=lambda f: -abs(f.statistic))
    roots: list[Finding] = []
    explained_by: dict[str, list[dict[str, str] | None]] = {}
    for f in ordered:
        owner = None
        for r in roots:
            same = r.kind == f.kind and r.metric == f.metric and r.direction == f.direction
            other_attribute = r.segment is not None and (
                f.segment is None or set(f.segment) != set(r.segment)
            )
            if same and other_attribute and _explained(store, f, r, config, alpha):
                owner = r
                break
        if owner is None:
            roots.append(f)
            explained_by[f.key] = []
        else:
            explained_by[owner.key].append(f.segment)
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
        related = tuple(explained_by[r.key])
        if related:
            evidence["explains"] = [s for s in related]
        updated = replace(r, root=r.segment, related=related, evidence=evidence)
        out.append(replace(updated, message=describe(updated)))
    out.sort(key=lambda f: (f.severity != "critical", f.adjusted_p, f.key))
    return out
