"""The engineering view's classifier charts, checked against the ingested files themselves.

A credit classifier written by the independent generator (bench/independent)
is ingested through ``examples/credit.toml``; its confusion matrix, ROC, PR
and calibration curves and its quality over time are read from the real app's
JSON twin and compared with what the decisions and labels files say, counted
here with pandas and scipy. The alert levels drawn beside the days are put to
the detector itself: a day just past its level raises an alert, a day just
short of it does not. In Chromium, the engineering page shows the charts for
the classifier and none for a demand regressor (``examples/demand.toml``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from scipy.stats import mannwhitneyu
from served import ROOT, new_page, serving

from seismo import ingest, load_mapping, open_store
from seismo.detect.change import detect_changes
from seismo.metrics.classification import ScoreBins, realized, roc_auc_binning_error
from seismo.present.web import SnapshotCache, create_app
from seismo.present.web.snapshot import Snapshot

sys.path.insert(0, str(ROOT))

from bench.independent import generate

RECOMMENDER_WORDS = ("recommend", "customer", "click", "shown")
B = 100  # the engine's score bins


def _store(kind: str, mapping: str, folder: Path, **size: Any) -> Path:
    truth = generate(kind, seed=3, out_dir=folder, **size)
    if kind == "classifier":
        # The generator's lender declines exactly the scores >= 0.5; a credit officer who
        # declines a third of the cases sent for review makes the served decision differ
        # from the score's, so the matrix shows which of the two it counts.
        file = folder / "decisions.csv"
        rows = pd.read_csv(file, dtype=str, keep_default_na=False)
        review = rows.index[rows["decision"] == "review"][::3]
        rows.loc[review, "decision"] = "decline"
        rows.to_csv(file, index=False)
    store = folder / "store.duckdb"
    with open_store(store) as s:
        for file in truth["ingest"]:
            ingest(s, folder / file, mapping=load_mapping(ROOT / "examples" / mapping))
    return store


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The credit store, its snapshot, the engineering JSON from the app, and the raw rows."""
    folder = tmp_path_factory.mktemp("credit")
    store = _store("classifier", "credit.toml", folder, days=60, per_day=200)
    cache = SnapshotCache(str(store))
    snap = cache.get()
    client = TestClient(create_app(cache=cache))
    response = client.get("/api/engineering")
    assert response.status_code == 200
    decisions = pd.read_csv(folder / "decisions.csv")
    labels = pd.read_csv(folder / "labels.csv")
    rows = decisions.merge(labels, on="application_id", how="left")
    served = rows["decision"].str.strip().str.lower()
    rows["predicted"] = np.where(served.isna(), rows["p_default"] >= 0.5, served == "decline")
    yield {
        "store": store,
        "folder": folder,
        "snap": snap,
        "view": response.json(),
        "rows": rows,
        "labelled": rows[rows["defaulted"].notna()],
    }


def _outcome(credit: dict[str, Any]) -> dict[str, Any]:
    (only,) = credit["view"]["classifier"]
    assert only["outcome"] == "default_90d"
    return dict(only)


def _bin(scores: pd.Series[float]) -> np.ndarray:
    """The engine's bin of each score: b / B <= s < (b + 1) / B, a score of 1 in the last."""
    edges = np.arange(B + 1) / B
    return np.clip(np.searchsorted(edges, scores.to_numpy(), side="right") - 1, 0, B - 1)


def test_confusion_matrix_counts_the_decisions_served(credit: dict[str, Any]) -> None:
    o, labelled = _outcome(credit), credit["labelled"]
    yes, flagged = labelled["defaulted"] == 1, labelled["predicted"]
    expected = {
        "tp": int((yes & flagged).sum()),
        "fp": int((~yes & flagged).sum()),
        "fn": int((yes & ~flagged).sum()),
        "tn": int((~yes & ~flagged).sum()),
    }
    assert {k: o["confusion"][k] for k in expected} == expected
    assert o["labelled"] == len(labelled)
    assert o["pending"] == len(credit["rows"]) - len(labelled)
    by_score = int(((labelled["p_default"] >= 0.5) & yes).sum())
    assert by_score != expected["tp"], "served decisions equal the score's: nothing tested"


def test_roc_auc_of_the_curve_is_the_mann_whitney_auc(credit: dict[str, Any]) -> None:
    roc, labelled = _outcome(credit)["roc"], credit["labelled"]
    fpr = np.array([p["fpr"] for p in roc["points"]])
    tpr = np.array([p["tpr"] for p in roc["points"]])
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    area = float(np.trapezoid(tpr, fpr))
    assert area == pytest.approx(roc["auc"], abs=1e-12)
    pos = labelled[labelled["defaulted"] == 1]
    neg = labelled[labelled["defaulted"] == 0]
    # On the binned scores, Mann-Whitney (ties count half) is the curve's area exactly ...
    binned = mannwhitneyu(_bin(pos["p_default"]), _bin(neg["p_default"])).statistic
    assert area == pytest.approx(binned / (len(pos) * len(neg)), abs=1e-9)
    # ... and on the raw scores it is within the binning's bound.
    raw = mannwhitneyu(pos["p_default"], neg["p_default"]).statistic / (len(pos) * len(neg))
    assert abs(area - raw) <= roc["auc_binning_error"] + 1e-12
    assert 0.6 < raw < 0.95  # a real model, not a coin: the comparison means something


def test_precision_recall_points_are_counts_above_each_threshold(credit: dict[str, Any]) -> None:
    pr, labelled = _outcome(credit)["pr"], credit["labelled"]
    scores, yes = labelled["p_default"].to_numpy(), labelled["defaulted"].to_numpy() == 1
    assert len(pr["points"]) > 10
    for p in pr["points"]:
        above = scores >= p["threshold"]
        assert p["recall"] == pytest.approx((above & yes).sum() / yes.sum(), abs=1e-12)
        assert p["precision"] == pytest.approx((above & yes).sum() / above.sum(), abs=1e-12)
    assert pr["base_rate"] == pytest.approx(yes.mean(), abs=1e-12)


def test_calibration_points_are_mean_score_against_observed_rate(credit: dict[str, Any]) -> None:
    groups, labelled = _outcome(credit)["calibration"]["groups"], credit["labelled"]
    assert len(groups) >= 5
    bins = _bin(labelled["p_default"])
    for g in groups:
        inside = labelled[(bins >= round(g["low"] * B)) & (bins < round(g["high"] * B))]
        assert g["n"] == len(inside)
        assert g["mean_score"] == pytest.approx(inside["p_default"].mean(), abs=1e-12)
        assert g["observed"] == pytest.approx(inside["defaulted"].mean(), abs=1e-12)
    assert sum(g["n"] for g in groups) == len(labelled)


def test_quality_over_time_has_estimate_realised_and_levels(credit: dict[str, Any]) -> None:
    o, rows = _outcome(credit), credit["rows"]
    performance = {p["metric"]: p for p in o["performance"]}
    assert set(performance) == {"default_90d_roc_auc", "default_90d_accuracy"}
    days = sorted(pd.to_datetime(rows["decided_at"]).dt.strftime("%Y-%m-%d").unique())
    for p in performance.values():
        windows = p["windows"]
        assert [w["start"][:10] for w in windows] == days
        assert all(w["estimate"] is not None for w in windows)
        launch = [w for w in windows if w["end"] <= p["baseline_end"]]
        weighted = sum(w["n"] * w["estimate"] for w in launch) / sum(w["n"] for w in launch)
        assert p["baseline"] == pytest.approx(weighted, rel=1e-9)
        levels = [w["lower"] for w in windows if w["lower"] is not None]
        assert len(levels) > len(windows) / 2
        assert all(level < p["baseline"] for level in levels)
        assert all(w["upper"] is None for w in windows)  # a rise in quality raises no alert
        assert any(w["realised"] is not None for w in windows)
        assert windows[-1]["realised"] is None  # yesterday's labels are not in yet
    # A realised value is the day's own labelled rows at the served decision.
    day = next(w for w in performance["default_90d_accuracy"]["windows"] if w["realised"])
    mine = credit["labelled"][credit["labelled"]["decided_at"].str.startswith(day["start"][:10])]
    bins = ScoreBins.from_arrays(
        mine["p_default"], mine["defaulted"], decisions=mine["predicted"].astype(float)
    )
    assert day["realised"] == pytest.approx(realized(bins)["accuracy"], abs=1e-12)
    auc_day = next(
        w for w in performance["default_90d_roc_auc"]["windows"] if w["start"] == day["start"]
    )
    pos, neg = mine[mine["defaulted"] == 1], mine[mine["defaulted"] == 0]
    raw = mannwhitneyu(pos["p_default"], neg["p_default"]).statistic / (len(pos) * len(neg))
    assert abs(auc_day["realised"] - raw) <= roc_auc_binning_error(bins) + 1e-12


def _with_estimate(table: pa.Table, metric: str, start: Any, value: float) -> pa.Table:
    rows = table.to_pylist()
    for r in rows:
        if r["metric"] == metric and r["attribute"] is None and r["window_start"] == start:
            r["estimate"] = value
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_a_day_past_its_alert_level_raises_an_alert(credit: dict[str, Any]) -> None:
    snap: Snapshot = credit["snap"]
    metric = "default_90d_roc_auc"
    (p,) = [p for p in _outcome(credit)["performance"] if p["metric"] == metric]
    last = [w for w in p["windows"] if w["lower"] is not None][-1]
    start = pd.Timestamp(last["start"]).tz_localize(None).to_pydatetime()
    assert snap.watch is not None

    def alerts(value: float) -> list[Any]:
        table = _with_estimate(snap.metrics, metric, start, value)
        found = detect_changes(table, cut=snap.as_of, config=snap.detect, watched=snap.watch.cells)
        return [f for f in found if f.metric == metric and not f.segment]

    assert alerts(last["estimate"]) == []
    assert alerts(last["lower"] + 0.01) == []
    (alert,) = alerts(last["lower"] - 0.01)
    assert alert.direction == "down" and alert.since == start


def test_regressor_gets_no_classifier_section(tmp_path: Path) -> None:
    store = _store("regressor", "demand.toml", tmp_path, days=20)
    view = TestClient(create_app(str(store))).get("/api/engineering").json()
    assert view["classifier"] == []


def test_engineering_page_draws_the_classifier_charts(
    credit: dict[str, Any], tmp_path: Path, browser: Any
) -> None:
    demand = _store("regressor", "demand.toml", tmp_path, days=20)
    with serving(credit["store"], tmp_path / "credit.log") as base:
        page = new_page(browser, height=1400)
        page.goto(f"{base}/engineering")
        section = page.locator("section.classifier")
        assert section.count() == 1
        assert section.locator("svg.xy").count() == 3  # ROC, PR, calibration
        assert section.locator("figure.performance svg.lines").count() == 2
        text = section.inner_text()
        assert "Confusion matrix at the decision served" in text
        o = _outcome(credit)
        assert f"{o['confusion']['tp']:,}" in section.locator("td.tp").inner_text()
        assert not [w for w in RECOMMENDER_WORDS if w in text.lower()]
        section.screenshot(path=str(ROOT / "docs" / "engineering-classifier.png"))
    with serving(demand, tmp_path / "demand.log") as base:
        page = new_page(browser)
        page.goto(f"{base}/engineering")
        assert page.locator("h2#metrics-h").count() == 1  # the page itself is there
        assert page.locator("section.classifier").count() == 0
        assert page.locator("svg.xy").count() == 0
    assert math.isfinite(o["roc"]["auc"])
