"""The engineering view's drift charts as plain data: the page draws them, the JSON twin sends them.

Three pictures of how production data compares with the training reference,
each read off the snapshot only:

* **distributions** (:func:`distributions`): every watched feature in the
  latest complete window beside its reference: a numeric feature's
  percentile bins merged into about :data:`DISPLAY_BINS` bins of equal width
  (each bin's bounds are reference edges, so its counts are exact), plus a
  bin for values below and one for values above the reference's range when
  there are any; a categorical feature's :data:`TOP_CATEGORIES` largest
  categories, the rest pooled as ``(other)``;
* **drift per segment** (:func:`segment_grid`): feature × segment value, the
  PSI of the latest window and its severity, as ``seismo drift --by …``
  with every segment attribute gives them;
* **multivariate drift** (:func:`multivariate`): the mean PCA reconstruction
  error per window with its thresholds (:mod:`seismo.detect.multivariate`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from seismo.detect.distributions import Distribution
from seismo.detect.drift import feature_label
from seismo.detect.multivariate import FEATURE, LABEL, METHOD
from seismo.metrics.histograms import OTHER, Histogram
from seismo.present.web import humanize
from seismo.present.web.snapshot import Snapshot

__all__ = ["DISPLAY_BINS", "TOP_CATEGORIES", "drift_charts", "numeric_bins", "segment_grid"]

DISPLAY_BINS = 20
TOP_CATEGORIES = 12
_ORDER = {"critical": 0, "warning": 1, "none": 2}


def drift_charts(snap: Snapshot) -> dict[str, Any]:
    """Everything the drift charts draw: distributions, per segment, multivariate."""
    return {
        "distributions": distributions(snap),
        "segments": segment_grid(snap),
        "multivariate": multivariate(snap),
    }


def _bin(
    low: float | None,
    high: float | None,
    ref: float,
    cur: float,
    n: tuple[float, float],
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> dict[str, Any]:
    return {
        "low": low,
        "high": high,
        "low_inclusive": low_inclusive,
        "high_inclusive": high_inclusive,
        "reference": ref,
        "current": cur,
        "reference_share": ref / n[0] if n[0] else 0.0,
        "current_share": cur / n[1] if n[1] else 0.0,
    }


def numeric_bins(
    edges: list[float], ref: Histogram, cur: Histogram, count: int = DISPLAY_BINS
) -> list[dict[str, Any]]:
    """A numeric feature's fine bins merged into about ``count`` bins of equal width.

    Fine bin ``i`` (``edges[i-1] ≤ x < edges[i]``) joins the display bin its
    lower edge falls in; the last display bin also holds the maximum. Values
    below or above the reference's range get a bin of their own when either
    side has any.

    >>> r = Histogram({1: 5.0, 2: 5.0, 3: 1.0})
    >>> c = Histogram({0: 2.0, 1: 3.0, 3: 4.0})
    >>> bins = numeric_bins([0, 1, 2], r, c, 2)
    >>> [(b["low"], b["high"], b["reference"], b["current"]) for b in bins]
    [(None, 0.0, 0.0, 2.0), (0.0, 1.0, 5.0, 3.0), (1.0, 2.0, 6.0, 4.0)]
    """
    n = (ref.n, cur.n)
    k = len(edges) - 1
    groups: list[list[int]] = []
    if k >= 1:
        step = (edges[-1] - edges[0]) / count
        last = -1
        for i in range(1, k + 1):
            g = min(count - 1, int((edges[i - 1] - edges[0]) / step)) if step > 0 else 0
            if g != last:
                groups.append([])
                last = g
            groups[-1].append(i)
        groups[-1].append(k + 1)  # the maximum itself
    else:
        groups = [[1]]

    def total(h: Histogram, bins: list[int]) -> float:
        return float(sum(h.counts.get(b, 0.0) for b in bins))

    out = []
    if total(ref, [0]) or total(cur, [0]):
        out.append(_bin(None, float(edges[0]), total(ref, [0]), total(cur, [0]), n))
    for j, bins in enumerate(groups):
        low = float(edges[bins[0] - 1]) if k >= 1 else float(edges[0])
        high = float(edges[min(bins[-1], k)])
        closed = j == len(groups) - 1
        out.append(_bin(low, high, total(ref, bins), total(cur, bins), n, high_inclusive=closed))
    above = [k + 2]
    if total(ref, above) or total(cur, above):
        out.append(
            _bin(
                float(edges[-1]),
                None,
                total(ref, above),
                total(cur, above),
                n,
                low_inclusive=False,
            )
        )
    return out


def _categorical_bins(ref: Histogram, cur: Histogram) -> list[dict[str, Any]]:
    n = (ref.n, cur.n)
    cats = {str(c) for c in ref.counts} | {str(c) for c in cur.counts}

    def share(c: str) -> float:
        return max(ref.counts.get(c, 0.0) / (n[0] or 1), cur.counts.get(c, 0.0) / (n[1] or 1))

    ranked = sorted(cats, key=lambda c: (-share(c), c))
    kept = [c for c in ranked[:TOP_CATEGORIES] if c != OTHER]
    rest = [c for c in cats if c not in kept]
    out = []
    for c in kept:
        b = _bin(None, None, ref.counts.get(c, 0.0), cur.counts.get(c, 0.0), n)
        out.append({"category": c, **b})
    if rest:
        r = sum(ref.counts.get(c, 0.0) for c in rest)
        q = sum(cur.counts.get(c, 0.0) for c in rest)
        out.append({"category": OTHER, **_bin(None, None, r, q, n), "pooled": sorted(rest)})
    return out


def _verdicts(snap: Snapshot) -> dict[tuple[str, datetime], list[dict[str, Any]]]:
    out: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    if snap.drift is None:
        return out
    for r in snap.drift.to_pylist():
        if r["attribute"] is None and r["method"] != "stability":
            out.setdefault((r["feature"], r["window_start"]), []).append(r)
    return out


def _worst(rows: list[dict[str, Any]]) -> str:
    return min((r["severity"] for r in rows), key=lambda s: _ORDER.get(s, 3), default="none")


def _distribution(d: Distribution, rows: list[dict[str, Any]]) -> dict[str, Any]:
    numeric = d.kind == "numeric"
    bins = (
        numeric_bins(d.edges, d.reference, d.current)
        if numeric
        else _categorical_bins(d.reference, d.current)
    )
    psi = next((r for r in rows if r["method"] == "psi"), None)
    severity = _worst(rows)
    window = humanize.day_range(d.window_start, d.window_end)
    return {
        "feature": d.feature,
        "label": d.label,
        "kind": d.kind,
        "role": d.role,
        "reference_version": d.reference_version,
        "window_start": d.window_start,
        "window_end": d.window_end,
        "window_label": window,
        "reference_n": d.reference.n,
        "current_n": d.current.n,
        "reference_missing": d.reference.missing,
        "current_missing": d.current.missing,
        "reference_mean": d.reference.mean,
        "current_mean": d.current.mean,
        "bins": bins,
        "psi": None if psi is None else psi["statistic"],
        "severity": severity,
        "drifted_by": sorted(r["method"] for r in rows if r["drifted"]),
        "chart_label": (
            f"{d.label}: training data (grey) against {window} (outline),"
            f" {'share of values per bin' if numeric else 'share of each value'}"
        ),
    }


def distributions(snap: Snapshot) -> list[dict[str, Any]]:
    """Every feature's reference and current distribution, drifting ones first."""
    verdicts = _verdicts(snap)
    out = [
        _distribution(d, verdicts.get((d.feature, d.window_start), [])) for d in snap.distributions
    ]
    out.sort(key=lambda f: (_ORDER.get(f["severity"], 3), f["role"] != "feature", f["label"]))
    return out


def segment_grid(snap: Snapshot) -> dict[str, Any]:
    """Feature × segment value: the latest window's PSI and worst severity, per cell."""
    table = snap.segment_drift
    if table is None:
        reason = "no segment attribute" if not snap.segments else "no training reference"
        return {"available": False, "note": f"Drift per segment needs {reason}.", "rows": []}
    latest: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = {}
    for r in table.to_pylist():
        if r["method"] == "stability" or r["feature"] == FEATURE or r["role"] == "item":
            continue
        key = (r["feature"], r["attribute"], r["value"])
        rows = latest.get(key)
        if not rows or r["window_start"] > rows[0]["window_start"]:
            latest[key] = [r]
        elif r["window_start"] == rows[0]["window_start"]:
            rows.append(r)
    values: dict[str, set[str]] = {}
    for _, attribute, value in latest:
        if attribute is not None and value is not None:
            values.setdefault(attribute, set()).add(value)
    columns: list[tuple[str | None, str | None]] = [(None, None)]
    words = snap.words.columns
    attributes = []
    for attribute in snap.segments:
        vals = sorted(values.get(attribute, ()))
        columns += [(attribute, v) for v in vals]
        label = words.get(attribute) or feature_label(attribute)
        attributes.append({"attribute": attribute, "label": label, "values": vals})
    labels = {f: rows[0]["label"] for (f, _, _), rows in latest.items()}
    out_rows = []
    for feature in sorted(labels, key=lambda f: (labels[f], f)):
        cells: list[dict[str, Any] | None] = []
        for attribute, value in columns:
            rows = latest.get((feature, attribute, value))
            if rows is None:
                cells.append(None)
                continue
            psi = next((r for r in rows if r["method"] == "psi"), None)
            cells.append(
                {
                    "attribute": attribute,
                    "value": value,
                    "window_start": rows[0]["window_start"],
                    "psi": None if psi is None else psi["statistic"],
                    "severity": _worst(rows),
                    "drifted_by": sorted(r["method"] for r in rows if r["drifted"]),
                    "n": rows[0]["n"],
                }
            )
        declared = words.get(feature)
        label = declared[:1].upper() + declared[1:] if declared else labels[feature]
        out_rows.append({"feature": feature, "label": label, "cells": cells})
    return {
        "available": True,
        "method": "psi",
        "note": "PSI of each feature in the latest window, for everyone and for each segment"
        " value, against the training data of the same segment; the colour is the worst"
        " severity of any method (as seismo drift --by each attribute reports it). A blank"
        " cell is a segment's own attribute.",
        "attributes": attributes,
        "rows": out_rows,
    }


def multivariate(snap: Snapshot) -> dict[str, Any]:
    """The mean PCA reconstruction error per window with its thresholds, per model version."""
    rows = (
        []
        if snap.drift is None
        else [
            r for r in snap.drift.to_pylist() if r["feature"] == FEATURE and r["method"] == METHOD
        ]
    )
    if not rows:
        return {
            "available": False,
            "label": LABEL,
            "note": "Multivariate drift needs a training reference with at least two inputs"
            " (registered with this version of seismo: seismo reference add --replace).",
            "series": [],
        }
    by_version: dict[str | None, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["window_start"]):
        limits = json.loads(r["detail"] or "{}")
        by_version.setdefault(r["model_version"], []).append(
            {
                "start": r["window_start"],
                "end": r["window_end"],
                "n": r["n"],
                "value": r["statistic"],
                "upper": limits.get("upper"),
                "lower": limits.get("lower"),
                "effect": r["effect"],
                "drifted": r["drifted"],
                "severity": r["severity"],
                "final": r["final"],
            }
        )
    last = max(rows, key=lambda r: r["window_start"])
    fit = json.loads(last["detail"] or "{}")
    return {
        "available": True,
        "label": LABEL,
        "reference_version": last["reference_version"],
        "reference_value": last["reference_value"],
        "components": fit.get("components"),
        "inputs": fit.get("inputs"),
        "explained": fit.get("explained"),
        "chunk_rows": fit.get("chunk_rows"),
        "chunks": fit.get("chunks"),
        "drifted_windows": sum(1 for r in rows if r["drifted"]),
        "windows": len(rows),
        "severity": last["severity"],
        "note": "A PCA fitted on the training data's inputs (numbers standardised, categories"
        " with few values one-hot) keeps the components that explain 65% of their variance;"
        " each window's mean reconstruction error is compared with the training data's own"
        " chunk-to-chunk spread (±3 standard deviations, scaled to the window's size, and at"
        " least the 10% warning band). It rises when inputs change how they vary together,"
        " which no single feature's test sees.",
        "series": [
            {"model_version": v, "points": points}
            for v, points in sorted(by_version.items(), key=lambda kv: kv[1][0]["start"])
        ],
    }
