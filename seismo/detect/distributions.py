"""Each feature's distribution in one window beside its training reference's, from the engine.

What drift's statistics are computed from, kept for people to look at: per
feature the reference's histogram (:mod:`seismo.store.references`) and the
current window's, counted by the very code drift counts with
(:func:`seismo.metrics.histograms.count_histograms`, bins at the
reference's percentiles), so a chart drawn from them shows what the
statistic measured. The current window is the last complete one before the
cut (the one drift findings judge), else the latest; its rows are those of
the model versions compared with the reference that served most of it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from seismo.detect.drift import feature_label
from seismo.metrics.cohorts import AGGREGATE
from seismo.metrics.histograms import Histogram, count_histograms
from seismo.metrics.windows import Period, Windows, cutoff
from seismo.store.read import Store
from seismo.store.references import load_references

__all__ = ["Distribution", "window_distributions"]


@dataclass(frozen=True)
class Distribution:
    """One feature in one window, against its reference."""

    feature: str
    label: str
    kind: str  # "numeric" or "categorical"
    role: str
    reference_version: str
    window_start: datetime
    window_end: datetime
    edges: list[float]  # a numeric feature's reference bin edges
    reference: Histogram
    current: Histogram


def window_distributions(
    store: Store, *, as_of: datetime | None = None, period: Period = "day"
) -> list[Distribution]:
    """Every watched feature's reference and current histogram (empty without a reference)."""
    refs = load_references(store.engine)
    if not refs:
        return []
    cut = cutoff(store, as_of)
    windows = Windows(store, period, None, cut)
    p = store.predictions()
    p = p.filter(p.served_at < cut)
    served = (
        p.group_by(w=p.served_at.truncate(windows.unit), v=p.model_version)
        .aggregate(n=p.count())
        .to_pyarrow()
        .to_pylist()
    )
    if not served:
        return []
    starts = sorted({r["w"] for r in served})
    complete = [s for s in starts if windows.span(s)[1] <= cut]
    start = (complete or starts)[-1]
    end = windows.span(start)[1]
    latest = list(refs)[-1]
    by_ref: Counter[str] = Counter()
    versions: dict[str, list[str | None]] = {}
    for r in served:
        if r["w"] != start:
            continue
        v = None if r["v"] is None else str(r["v"])
        ref_version = v if v in refs else latest
        by_ref[ref_version] += int(r["n"])
        versions.setdefault(ref_version, []).append(v)
    ref = refs[by_ref.most_common(1)[0][0]]
    chosen = [v for v in versions[ref.model_version] if v is not None]
    rows = p.filter((p.served_at >= start) & (p.served_at < end))
    rows = rows.filter(rows.model_version.isin(chosen)) if chosen else rows
    columns = set(store.engine.table_columns("predictions"))
    watched = {f: prof for f, prof in ref.features.items() if prof.role != "item" and f in columns}
    counted = count_histograms(
        store.engine.kind,
        store.engine.query,
        rows,
        window=None,
        version=None,
        segments=[],
        numeric={f: prof.edges for f, prof in watched.items() if prof.kind == "numeric"},
        categorical=[f for f, prof in watched.items() if prof.kind == "categorical"],
    )
    current = counted.get((None, None, AGGREGATE, AGGREGATE), {})
    whole = ref.histograms.get((AGGREGATE, AGGREGATE), {})
    words = store.words().columns
    out = []
    for feature, prof in sorted(watched.items()):
        if feature not in whole:
            continue
        declared = words.get(feature)
        out.append(
            Distribution(
                feature=feature,
                label=declared[:1].upper() + declared[1:] if declared else feature_label(feature),
                kind=prof.kind,
                role=prof.role,
                reference_version=ref.model_version,
                window_start=start,
                window_end=end,
                edges=list(prof.edges),
                reference=whole[feature],
                current=current.get(feature, Histogram()),
            )
        )
    return out
