"""The engineering view's classifier section: confusion matrix, curves, performance over time.

For every outcome a model's score predicts as a *label* (a default within 90
days, not a click), from the snapshot alone:

* the confusion matrix of the labelled predictions at the decision the model
  served (else the score at the threshold);
* ROC and precision-recall curves over the engine's score bins, with the
  point of the decisions served, and a calibration (reliability) curve of
  mean score against observed rate (:mod:`seismo.metrics.curves`);
* per window, the expected final value of ROC AUC and accuracy (CBPE while
  labels are pending), the value realised on the labels in so far, and the
  levels a window must reach to raise an alert on its own
  (:mod:`seismo.detect.levels`): NannyML's estimated-vs-realised plot.

A regressor, a recommender's click model or a model without scores gets an
empty list: the page shows no section for them.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from seismo.detect.levels import Levels, alert_levels
from seismo.metrics import curves
from seismo.metrics.classification import ScoreBins, realized, roc_auc_binning_error
from seismo.present.web.snapshot import Snapshot

__all__ = ["PERFORMANCE", "classifier_view"]

#: The metrics shown over time, in this order. Precision and recall are left out: a model
#: that flags few rows (a lender declining 1 in 500) has too few flagged a day for them.
PERFORMANCE = ("roc_auc", "accuracy")
#: About this many calibration groups (adjacent score bins merged to equal counts).
CALIBRATION_GROUPS = 12


def classifier_view(snap: Snapshot) -> list[dict[str, Any]]:
    """One entry per classifier outcome of the store (none for other models)."""
    return [_outcome(snap, outcome, bins) for outcome, bins in sorted(snap.score_bins.items())]


def _outcome(snap: Snapshot, outcome: str, bins: ScoreBins) -> dict[str, Any]:
    word = snap.words.column(outcome)
    title = word[:1].upper() + word[1:]
    c = curves.confusion(bins)
    n_pos, n_neg = c.tp + c.fn, c.fp + c.tn
    served = None
    if n_pos and n_neg:
        served = {
            "fpr": c.fp / n_neg,
            "tpr": c.tp / n_pos,
            "recall": c.tp / n_pos,
            "precision": c.tp / (c.tp + c.fp) if c.tp + c.fp else None,
        }
    return {
        "outcome": outcome,
        "title": title,
        "threshold": bins.threshold,
        "bin_width": 1 / bins.bins,
        "labelled": bins.n_labelled,
        "pending": bins.n_pending,
        "confusion": {
            "tp": c.tp,
            "fp": c.fp,
            "fn": c.fn,
            "tn": c.tn,
            "n": c.n,
            "accuracy": _ratio(c.tp + c.tn, c.n),
            "precision": _ratio(c.tp, c.tp + c.fp),
            "recall": _ratio(c.tp, n_pos),
            "specificity": _ratio(c.tn, n_neg),
        },
        "roc": _roc(bins, title, served),
        "pr": _pr(bins, title, served),
        "calibration": _calibration(bins, title),
        "performance": _performance(snap, outcome, title),
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _roc(bins: ScoreBins, title: str, served: dict[str, Any] | None) -> dict[str, Any] | None:
    curve = curves.roc(bins)
    if curve is None:
        return None
    return {
        "title": f"{title}: ROC curve of the labelled predictions",
        "auc": curve.area,
        "auc_binning_error": roc_auc_binning_error(bins),
        "points": [
            {"threshold": t, "fpr": x, "tpr": y}
            for t, x, y in zip(curve.thresholds, curve.x, curve.y, strict=True)
        ],
        "served": served,
    }


def _pr(bins: ScoreBins, title: str, served: dict[str, Any] | None) -> dict[str, Any] | None:
    curve = curves.pr(bins)
    if curve is None:
        return None
    return {
        "title": f"{title}: precision against recall",
        "average_precision": curve.area,
        "base_rate": float(bins.pos.sum()) / bins.n_labelled,
        "points": [
            {"threshold": t, "recall": x, "precision": y}
            for t, x, y in zip(curve.thresholds, curve.x, curve.y, strict=True)
        ],
        "served": served,
    }


def _calibration(bins: ScoreBins, title: str) -> dict[str, Any] | None:
    if not bins.n_labelled:
        return None
    r = curves.reliability(bins, max(1, bins.n_labelled // CALIBRATION_GROUPS))
    return {
        "title": f"{title}: observed rate against mean score (calibration)",
        "calibration_error": realized(bins)["calibration_error"],
        "groups": [
            {"low": lo, "high": hi, "n": n, "mean_score": s, "observed": o}
            for lo, hi, n, s, o in zip(r.low, r.high, r.n, r.mean_score, r.observed, strict=True)
        ],
    }


def _performance(snap: Snapshot, outcome: str, title: str) -> list[dict[str, Any]]:
    """Per metric and model version: each window's estimate, realised value and alert levels."""
    names = [f"{outcome}_{m}" for m in PERFORMANCE]
    table = snap.metrics
    if table.num_rows == 0:
        return []
    table = table.filter(pc.is_in(table.column("metric"), value_set=pa.array(names)))
    levels: dict[Any, Levels] = {}
    if snap.watch is not None:
        levels = alert_levels(table, cut=snap.as_of, config=snap.detect, watched=snap.watch.cells)
    rows = table.filter(pc.is_null(table.column("attribute"))).to_pylist()
    versions = sorted({r["model_version"] for r in rows}, key=lambda v: (v is None, v or ""))
    alerting = {f.metric for f in snap.findings if f.kind == "quality" and not f.segment}
    out = []
    for metric in names:
        for version in versions:
            chosen = sorted(
                (r for r in rows if r["metric"] == metric and r["model_version"] == version),
                key=lambda r: r["window_start"],
            )
            if not chosen:
                continue
            cell = levels.get((metric, None, None, version))
            windows = [_window(r, cell, snap.detect.min_maturity) for r in chosen]
            label = chosen[0]["label"]
            out.append(
                {
                    "metric": metric,
                    "label": label,
                    "unit": chosen[0]["unit"],
                    "model_version": version,
                    "title": f"{label} per day: expected final value, realised value and alert"
                    " levels" + (f" (model {version})" if len(versions) > 1 else ""),
                    "baseline": cell.baseline if cell else None,
                    "baseline_start": cell.baseline_start if cell else None,
                    "baseline_end": cell.baseline_end if cell else None,
                    "alert_threshold_z": cell.threshold if cell else None,
                    "alert": metric in alerting,  # an alert for everyone on this metric
                    "windows": windows,
                }
            )
    return out


def _window(r: dict[str, Any], cell: Levels | None, maturity: float) -> dict[str, Any]:
    start, n = r["window_start"], r["n"] or 0
    labelled = r["confirmed_n"] or 0
    # Every metric shown lies in [0, 1]: a level outside it means the window cannot alert alone.
    lower = cell.lower.get(start) if cell else None
    lower = lower if lower is not None and lower >= 0.0 else None
    upper = cell.upper.get(start) if cell else None
    upper = upper if upper is not None and upper <= 1.0 else None
    estimate = r["estimate"]
    beyond = estimate is not None and (
        (lower is not None and estimate < lower) or (upper is not None and estimate > upper)
    )
    # The value on the labels in so far says little until most of them are: drawn from then.
    shown = r["confirmed_value"] if n and labelled / n >= maturity else None
    return {
        "start": start,
        "end": r["window_end"],
        "n": n,
        "labelled": labelled,
        "estimate": _finite(estimate),
        "low": _finite(r["estimate_low"]),
        "high": _finite(r["estimate_high"]),
        "estimator": r["estimator"],
        "realised_so_far": _finite(r["confirmed_value"]),
        "realised": _finite(shown),
        "final": bool(r["final"]),
        "lower": lower,
        "upper": upper,
        "beyond_level": bool(beyond),
    }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
