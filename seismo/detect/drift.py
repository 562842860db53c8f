"""Drift of inputs and of model behaviour per window × segment, against the training reference.

:func:`compute_drift` asks the engine for histograms (one pass per feature,
:mod:`seismo.metrics.histograms`) and compares each window with the reference
registered for its model version (:mod:`seismo.ingest.reference`; a version
without its own reference is compared with the most recently registered one).
The statistics are in :mod:`seismo.detect.drift_stats`. Besides the input
features and segment attributes it watches the model's behaviour:

* the score distribution (``score``) and the predicted class mix (``label``),
  and the share of low-confidence scores (``max(s, 1 − s) < 0.6``, read off
  the score's histogram);
* the stability of what is recommended: each categorical feature's mix
  against the previous window (``stability``: Jensen–Shannon distance, with
  the χ² test between the two windows);
* the concentration of exposure over items (``gini``, ``top1pct_share``),
  compared with what the reference's item mix gives for a window of the same
  size (drawn, seeded), since concentration measured on few impressions is
  inflated by chance alone;
* all inputs together (feature ``(multivariate)``, method
  ``pca_reconstruction``): the window's mean PCA reconstruction error against
  the reference's own chunk-to-chunk spread (:mod:`seismo.detect.multivariate`),
  which sees two features change how they vary together when neither
  feature's own distribution moves.

A row is ``drifted`` when its effect reaches the method's warning band
(``BANDS``) *and* its p-value, adjusted over the whole table by
Benjamini–Hochberg, is below ``alpha`` (0.01): big samples cannot make a
trivial difference drift, small ones cannot make noise drift. Windows with
fewer than ``min_rows`` (100) rows are reported but never drifted.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from seismo.detect.drift_stats import (
    Stat,
    bin_ranges,
    categorical_stats,
    concentration,
    missing_stat,
    numeric_stats,
    severity,
    two_proportions,
)
from seismo.detect.fdr import benjamini_hochberg
from seismo.detect.multivariate import FEATURE, LABEL, window_errors
from seismo.errors import ConfigError
from seismo.metrics.cohorts import AGGREGATE
from seismo.metrics.histograms import Histogram, count_histograms
from seismo.metrics.naming import stem, words
from seismo.metrics.nowcast import seeded_rng
from seismo.metrics.reconstruction import PcaFit
from seismo.metrics.windows import Period, Windows, cutoff
from seismo.store.read import Store
from seismo.store.references import Reference, load_references

__all__ = ["DRIFT_SCHEMA", "DriftConfig", "compute_drift", "feature_label", "movers"]

DRIFT_SCHEMA = pa.schema(
    [
        ("feature", pa.string()),
        ("label", pa.string()),
        ("role", pa.string()),
        ("method", pa.string()),
        ("attribute", pa.string()),
        ("value", pa.string()),
        ("model_version", pa.string()),
        ("reference_version", pa.string()),
        ("window_start", pa.timestamp("us")),
        ("window_end", pa.timestamp("us")),
        ("statistic", pa.float64()),
        ("p_value", pa.float64()),
        ("adjusted_p", pa.float64()),
        ("effect", pa.float64()),
        ("drifted", pa.bool_()),
        ("severity", pa.string()),
        ("reference_value", pa.float64()),
        ("current_value", pa.float64()),
        ("n", pa.int64()),
        ("n_reference", pa.int64()),
        ("detail", pa.string()),
        ("final", pa.bool_()),
        ("as_of", pa.timestamp("us")),
    ]
)

#: A window's (start, end) and whether it is over.
_Window = tuple[tuple[datetime, datetime], bool]
_ROLE_LABELS = {
    "score": "Model score",
    "label": "Predicted class",
    "item_id": "Items",
    FEATURE: LABEL,
}
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True, kw_only=True)
class DriftConfig:
    """When a drift row counts as drifted (see the module docstring)."""

    alpha: float = 0.01
    min_rows: int = 100


def feature_label(feature: str) -> str:
    """Business words for a feature: ``price_eur`` → ``Price``.

    >>> feature_label("price_eur"), feature_label("score")
    ('Price', 'Model score')
    """
    if feature in _ROLE_LABELS:
        return _ROLE_LABELS[feature]
    text = words(stem(feature))
    return text[:1].upper() + text[1:]


def compute_drift(
    store: Store,
    *,
    as_of: datetime | None = None,
    period: Period = "day",
    every: int | None = None,
    by: list[str] | None = None,
    config: DriftConfig | None = None,
    since: datetime | None = None,
) -> pa.Table:
    """Every drift statistic per feature × method × window × segment × model version.

    ``period`` sets calendar windows; ``every`` instead cuts each model
    version's predictions into chunks of exactly that many, in time order
    (:class:`~seismo.metrics.windows.Windows`; the last one, usually
    smaller, is never final). ``since``: only the predictions served from then
    on (give a window start: the latest days alone, for a view of the present).
    """
    config = config or DriftConfig()
    if since is not None and every is not None:
        raise ConfigError("since selects calendar windows; count chunks (every) start at the first")
    refs = load_references(store.engine)
    if not refs:
        raise ConfigError(
            "no reference is registered: run 'seismo reference add PATH' with the training data"
        )
    segments = list(by or [])
    unknown = [s for s in segments if s not in store.segments()]
    if unknown:
        raise ConfigError(
            f"unknown segment attribute(s) {unknown}; the store has {store.segments()}"
        )
    cut = cutoff(store, as_of)
    windows = Windows(store, period, every, cut)
    columns = set(store.engine.table_columns("predictions"))
    p = store.predictions()
    p = p.filter(p.served_at < cut)
    if since is not None:
        p = p.filter(p.served_at >= _naive(since))
    versions = [
        str(v) for (v,) in store.engine.query("SELECT DISTINCT model_version FROM predictions")
    ]
    latest = list(refs)[-1]
    by_ref: dict[str, list[str]] = defaultdict(list)
    for v in versions:
        by_ref[v if v in refs else latest].append(v)
    rows: list[dict[str, Any]] = []
    for ref_version, served in sorted(by_ref.items()):
        ref = refs[ref_version]
        rows += _compare(store, p, ref, served, segments, columns, windows, cut, config)
    _adjust(rows, config)
    table = pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA)
    order = ("feature", "method", "attribute", "value", "model_version", "window_start")
    return table.sort_by([(c, "ascending") for c in order])


def _compare(
    store: Store,
    p: Any,
    ref: Reference,
    served: list[str],
    segments: list[str],
    columns: set[str],
    windows: Windows,
    cut: datetime,
    config: DriftConfig,
) -> list[dict[str, Any]]:
    p = p.filter(p.model_version.isin(served))
    features = {f: prof for f, prof in ref.features.items() if f in columns}
    watched = {f: prof for f, prof in features.items() if prof.role != "item"}

    def count(names: dict[str, Any], by: list[str]) -> Any:
        return count_histograms(
            store.engine.kind,
            store.engine.query,
            p,
            window=windows.key(p),
            version=p.model_version,
            segments=by,
            numeric={f: prof.edges for f, prof in names.items() if prof.kind == "numeric"},
            categorical=[f for f, prof in names.items() if prof.kind == "categorical"],
        )

    counted = count(watched, segments)
    items = {f: prof for f, prof in features.items() if prof.role == "item"}
    item_counts = count(items, []) if items else {}
    whole = ref.histograms.get((AGGREGATE, AGGREGATE), {})
    out: list[dict[str, Any]] = []
    history: dict[tuple[str, str, str, str], list[tuple[_Window, Histogram]]]
    history = defaultdict(list)
    for (start, version, attribute, value), cell in sorted(counted.items(), key=_key_order):
        span = windows.span(start, version)
        closed = windows.closed(start, version, cut)
        ref_cell = ref.histograms.get((attribute, value), whole)
        for feature, cur in sorted(cell.items()):
            prof = watched[feature]
            ref_h = ref_cell.get(feature) or whole.get(feature)
            if ref_h is None:
                continue
            if attribute == feature:
                continue  # a segment's own attribute is constant inside it
            stats_: list[Stat] = [missing_stat(ref_h, cur)]
            if prof.kind == "numeric":
                stats_ += numeric_stats(ref_h, cur, prof.edges)
                if feature == "score":
                    stats_ += _low_confidence(ref_h, cur, prof.edges)
            else:
                stats_ += categorical_stats(ref_h, cur)
                if prof.role in ("feature", "prediction"):
                    history[(feature, str(version), attribute, value)].append(((span, closed), cur))
            base = _base(feature, prof.role, attribute, value, version, ref, span, closed, cut)
            base["n"] = int(cur.n + cur.missing)
            base["n_reference"] = int(ref_h.n + ref_h.missing)
            moved = movers(ref_h, cur) if prof.kind == "categorical" else None
            out += [
                {**_row(base, s), "detail": moved if s.method == "psi" else None} for s in stats_
            ]
    out += _stability(history, ref, cut, watched)
    out += _concentration(item_counts, whole, ref, windows, cut)
    out += _multivariate(store, p, ref, windows, cut, columns)
    for r in out:
        r["_small"] = r["n"] < config.min_rows
    return out


def movers(ref: Histogram, cur: Histogram, top: int = 3) -> str:
    """The categories whose share moved most, as JSON: value, reference and current share."""
    n_ref, n_cur = ref.n or 1.0, cur.n or 1.0
    cats = {str(k) for k in ref.counts} | {str(k) for k in cur.counts}
    moves = [
        (c, ref.counts.get(c, 0.0) / n_ref, cur.counts.get(c, 0.0) / n_cur) for c in sorted(cats)
    ]
    moves.sort(key=lambda m: -abs(m[2] - m[1]))
    return json.dumps(
        [{"value": c, "reference": round(r, 6), "current": round(q, 6)} for c, r, q in moves[:top]]
    )


def _key_order(item: Any) -> tuple[Any, ...]:
    (start, version, attribute, value), _ = item
    return (start, str(version), attribute != AGGREGATE, attribute, value)


def _base(
    feature: str,
    role: str,
    attribute: str,
    value: str,
    version: Any,
    ref: Reference,
    span: tuple[datetime, datetime],
    closed: bool,
    cut: datetime,
) -> dict[str, Any]:
    aggregate = attribute == AGGREGATE
    return {
        "feature": feature,
        "label": feature_label(feature),
        "role": role,
        "attribute": None if aggregate else attribute,
        "value": None if aggregate else value,
        "model_version": None if version is None else str(version),
        "reference_version": ref.model_version,
        "window_start": span[0],
        "window_end": span[1],
        "final": closed,
        "as_of": cut,
    }


def _row(base: dict[str, Any], s: Stat) -> dict[str, Any]:
    return {
        **base,
        "method": s.method,
        "statistic": s.statistic,
        "p_value": s.p_value,
        "effect": s.effect,
        "reference_value": s.reference_value,
        "current_value": s.current_value,
    }


def _share_between(h: Histogram, edges: list[float], lo: float, hi: float) -> float:
    """Share of values in (lo, hi), each bin's mass spread evenly between its edges."""
    total = h.n
    if not total:
        return 0.0
    starts, ends = bin_ranges(h, edges)
    inside = 0.0
    for b, n in h.counts.items():
        a, z = starts[int(b)], ends[int(b)]
        if z <= a:
            inside += n if lo < a < hi else 0.0
            continue
        inside += n * max(0.0, min(z, hi) - max(a, lo)) / (z - a)
    return inside / total


def _low_confidence(ref: Histogram, cur: Histogram, edges: list[float]) -> list[Stat]:
    if not edges or edges[0] < 0.0 or edges[-1] > 1.0:
        return []  # not a probability
    lo, hi = 1.0 - LOW_CONFIDENCE, LOW_CONFIDENCE
    r, c = _share_between(ref, edges, lo, hi), _share_between(cur, edges, lo, hi)
    p = two_proportions(c * cur.n, cur.n, r * ref.n, ref.n)
    return [Stat("low_confidence", c, p, c - r, r, c)]


def _stability(
    history: dict[tuple[str, str, str, str], list[tuple[_Window, Histogram]]],
    ref: Reference,
    cut: datetime,
    watched: dict[str, Any],
) -> list[dict[str, Any]]:
    out = []
    for (feature, version, attribute, value), series in history.items():
        for (_, before), ((span, closed), cur) in itertools.pairwise(series):
            js = [s for s in categorical_stats(before, cur) if s.method == "js"]
            if not js:
                continue
            s = js[0]
            role = watched[feature].role
            base = _base(feature, role, attribute, value, version, ref, span, closed, cut)
            base["n"] = int(cur.n + cur.missing)
            base["n_reference"] = int(before.n + before.missing)
            out.append(_row(base, Stat("stability", s.statistic, s.p_value, s.effect)))
    return out


def _concentration(
    counted: dict[Any, dict[str, Histogram]],
    whole: dict[str, Histogram],
    ref: Reference,
    windows: Windows,
    cut: datetime,
) -> list[dict[str, Any]]:
    out = []
    for (start, version, _, _), cell in sorted(counted.items(), key=_key_order):
        span = windows.span(start, version)
        closed = windows.closed(start, version, cut)
        for feature, cur in cell.items():
            ref_h = whole.get(feature)
            if ref_h is None or not cur.n:
                continue
            counts = np.array(sorted(cur.counts.values()), dtype=float)
            gini, top = concentration(counts)
            ref_counts = np.array([n for _, n in sorted(ref_h.counts.items())], dtype=float)
            draws = seeded_rng("concentration", feature, span[0], str(version)).multinomial(
                int(cur.n), ref_counts / ref_counts.sum(), size=20
            )
            expected = np.array([concentration(d.astype(float)) for d in draws])
            ref_gini, ref_top = (float(x) for x in expected.mean(axis=0))
            spread = expected.std(axis=0, ddof=1)
            base = _base(feature, "item", AGGREGATE, AGGREGATE, version, ref, span, closed, cut)
            base["n"] = int(cur.n)
            base["n_reference"] = int(ref_h.n)
            for method, value, expect, sd in (
                ("gini", gini, ref_gini, spread[0]),
                ("top1pct_share", top, ref_top, spread[1]),
            ):
                z = (value - expect) / sd if sd > 0 else 0.0
                p_value = float(2 * _norm_sf(abs(z)))
                effect = value - expect if method == "gini" else value / expect - 1.0
                out.append(_row(base, Stat(method, value, p_value, effect, expect, value)))
    return out


def _multivariate(
    store: Store, p: Any, ref: Reference, windows: Windows, cut: datetime, columns: set[str]
) -> list[dict[str, Any]]:
    """The inputs' PCA reconstruction error per window (:mod:`seismo.detect.multivariate`)."""
    if ref.multivariate is None:
        return []
    fit = PcaFit.from_record(ref.multivariate)
    if not set(fit.features) <= columns:
        return []
    out = []
    for start, version, n, stat, detail in window_errors(
        store.engine.kind,
        store.engine.query,
        p,
        window=windows.key(p),
        fit=fit,
    ):
        span = windows.span(start, version)
        closed = windows.closed(start, version, cut)
        base = _base(FEATURE, "multivariate", AGGREGATE, AGGREGATE, version, ref, span, closed, cut)
        base["n"] = n
        base["n_reference"] = fit.chunk_rows * fit.chunks
        out.append({**_row(base, stat), "detail": detail})
    return out


def _naive(t: datetime) -> datetime:
    """A moment as the store's naive UTC."""
    from datetime import UTC

    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _adjust(rows: list[dict[str, Any]], config: DriftConfig) -> None:
    """Benjamini–Hochberg over the table's p-values; then each row's verdict."""
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    adjusted = benjamini_hochberg([float(rows[i]["p_value"]) for i in tested])
    for i, a in zip(tested, adjusted, strict=True):
        rows[i]["adjusted_p"] = a
    for r in rows:
        small = r.pop("_small", False)
        band = severity(r["method"], r["effect"]) if r["effect"] is not None else "none"
        significant = r.get("adjusted_p") is None or r["adjusted_p"] < config.alpha
        r["drifted"] = band != "none" and significant and not small
        r["severity"] = band if r["drifted"] else "none"
        r.setdefault("adjusted_p", None)
