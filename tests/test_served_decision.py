"""Threshold metrics on the decision the model served, through ingest → store → compute_metrics.

The credit model serves "decline" at a score >= 0.65, and a policy overrides
some of its decisions; a few applications carry no decision at all (judged by
their score at the threshold). Accuracy, precision, recall, specificity and F1
must equal a NumPy computation on the raw rows, overall and per segment.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from seismo.config import load_mapping
from seismo.errors import ConfigError, RowError
from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics
from seismo.metrics.spec import MetricsConfig, default_metrics, load_metrics_config
from seismo.store import Store, open_store

EXAMPLE = Path(__file__).parent.parent / "examples" / "credit.toml"
THRESHOLD_METRICS = ("accuracy", "precision", "recall", "specificity", "f1")


def credit_rows(n: int = 4000, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1)
    p = rng.beta(2, 4, n)
    score = np.round(np.clip(p + rng.normal(0, 0.05, n), 0, 1), 2)  # many scores on bin edges
    served = score >= 0.65
    overridden = rng.uniform(size=n) < 0.08  # the policy overrides some decisions
    decision = np.where(overridden, ~served, served)
    label = np.where(decision, "decline", "approve").astype(object)
    label[rng.uniform(size=n) < 0.03] = None  # no decision served: judged at the threshold
    return {
        "id": np.array([f"app-{i:05d}" for i in range(n)]),
        "at": np.array([start + timedelta(minutes=int(m)) for m in rng.integers(0, 14 * 1440, n)]),
        "region": rng.choice(["north", "south", "east"], n),
        "channel": rng.choice(["web", "branch"], n),
        "score": score,
        "label": label,
        "y": (rng.uniform(size=n) < p).astype(np.int64),
    }


def _decisions(rows: dict[str, np.ndarray]) -> pa.Table:
    n = rows["id"].size
    decisions = {
        "application_id": rows["id"],
        "decided_at": pa.array(rows["at"], pa.timestamp("s")),
        "model": ["credit-v2"] * n,
        "customer_id": [f"c{i % 97}" for i in range(n)],
        "region": rows["region"],
        "channel": rows["channel"],
        "income": np.full(n, 50_000.0),
        "age": np.full(n, 40),
        "employment": ["salaried"] * n,
        "p_default": rows["score"],
    }
    if rows["label"] is not None:
        decisions["decision"] = pa.array(list(rows["label"]), pa.string())
    return pa.table(decisions)


def _ingest(store: Store, rows: dict[str, np.ndarray], mapping_path: Path = EXAMPLE) -> None:
    mapping = load_mapping(mapping_path)
    labels = {
        "application_id": rows["id"],
        "labelled_at": pa.array([t + timedelta(days=40) for t in rows["at"]], pa.timestamp("s")),
        "defaulted": rows["y"],
    }
    ingest(store, _decisions(rows), mapping=mapping)
    ingest(store, pa.table(labels), mapping=mapping)


def _numpy(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(predicted & (y == 1)))
    fp = float(np.sum(predicted & (y == 0)))
    fn = float(np.sum(~predicted & (y == 1)))
    tn = float(np.sum(~predicted & (y == 0)))
    return {
        "accuracy": (tp + tn) / y.size,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "specificity": tn / (tn + fp) if tn + fp else math.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
    }


def _check(table: pa.Table, rows: dict[str, np.ndarray], predicted: np.ndarray) -> int:
    """Every threshold metric row equals NumPy on its window × segment's raw rows."""
    day = np.array([t.date() for t in rows["at"]])
    checked = 0
    for r in table.to_pylist():
        name = r["metric"].removeprefix("default_90d_")
        if name not in THRESHOLD_METRICS:
            continue
        chosen = day == r["window_start"].date()
        if r["attribute"] is not None:
            chosen &= rows[r["attribute"]] == r["value"]
        want = _numpy(rows["y"][chosen], predicted[chosen])[name]
        assert r["final"] and r["pending_n"] == 0 and r["n"] == chosen.sum()
        for field in ("confirmed_value", "estimate"):
            assert r[field] == pytest.approx(want, abs=1e-9, rel=1e-9), (r, field, want)
        assert r["std_error"] is not None and r["std_error"] >= 0
        checked += 1
    return checked


def test_threshold_metrics_use_the_served_decision(store: Store) -> None:
    rows = credit_rows()
    _ingest(store, rows)
    table = compute_metrics(store, as_of=datetime(2026, 6, 1), by=["region", "channel"])
    label = rows["label"]
    served = np.array([v is not None for v in label])
    predicted = np.where(served, label == "decline", rows["score"] >= 0.5)
    # 14 days × (aggregate + 3 regions + 2 channels) × 5 metrics
    assert _check(table, rows, predicted) == 14 * 6 * 5
    # the served decision matters: at score >= 0.5 the figures would differ
    naive = _numpy(rows["y"], rows["score"] >= 0.5)
    overall = _numpy(rows["y"], predicted)
    assert abs(naive["accuracy"] - overall["accuracy"]) > 0.02
    names = {r["metric"] for r in table.to_pylist()}
    assert {
        "default_90d_specificity",
        "default_90d_positive_rate",
        "default_90d_mean_score",
    } <= names


def test_label_rate_and_mean_score_are_shares_with_errors(store: Store) -> None:
    rows = credit_rows(n=2000)
    _ingest(store, rows)
    table = compute_metrics(store, as_of=datetime(2026, 6, 1), period="month", by=["region"])
    got = {(r["metric"], r["value"]): r for r in table.to_pylist()}
    for region in ("north", "south", "east", None):
        chosen = np.ones(rows["y"].size, bool) if region is None else rows["region"] == region
        rate = got[("default_90d_positive_rate", region)]
        assert rate["unit"] == "share" and rate["label"] == "Default rate"
        assert rate["estimate"] == pytest.approx(rows["y"][chosen].mean(), rel=1e-12)
        v = rate["estimate"]
        assert rate["std_error"] == pytest.approx(math.sqrt(v * (1 - v) / chosen.sum()))
        mean = got[("default_90d_mean_score", region)]
        assert mean["unit"] == "share"
        assert mean["estimate"] == pytest.approx(rows["score"][chosen].mean(), rel=1e-9)
        assert mean["std_error"] == pytest.approx(
            rows["score"][chosen].std() / math.sqrt(chosen.sum()), rel=1e-6
        )


def test_without_a_served_label_the_configured_threshold_applies(
    store: Store, tmp_path: Path
) -> None:
    rows = {**credit_rows(), "label": None}
    no_label = tmp_path / "credit-no-label.toml"
    no_label.write_text(
        EXAMPLE.read_text()
        .replace('label = "decision"', "# no served label")
        .replace('positive_label = "decline"', "")
    )
    _ingest(store, rows, no_label)
    config_path = tmp_path / "metrics.toml"
    config_path.write_text("[quality]\nthreshold = 0.57\n")  # 0.57 * 100 = 56.99... in floats
    config = load_metrics_config(config_path, store.outcome_types())
    assert config.threshold == 0.57 and config.quality == ("default_90d",)
    table = compute_metrics(store, as_of=datetime(2026, 6, 1), by=["region"], config=config)
    assert np.sum(rows["score"] == 0.57) > 10  # rows exactly on the threshold count positive
    assert _check(table, rows, rows["score"] >= 0.57) == 14 * 4 * 5


@pytest.mark.parametrize("threshold", [0.655, 1.0, 0.0, "0.5"])
def test_threshold_off_the_bin_edges_is_a_config_error(threshold: object) -> None:
    with pytest.raises(ConfigError, match="threshold"):
        MetricsConfig(metrics=(), threshold=threshold)  # type: ignore[arg-type]


def test_threshold_in_the_metrics_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[quality]\nthreshold = 0.333\n")
    with pytest.raises(ConfigError, match="edge of the 100 score bins"):
        load_metrics_config(path, {})
    path.write_text("[quality]\ncutoff = 0.5\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_metrics_config(path, {})


def test_unreadable_served_label_is_an_ingest_error() -> None:
    mapping = load_mapping(EXAMPLE)
    spec = replace(mapping.predictions, positive_label=())  # type: ignore[arg-type]
    plain = replace(mapping, predictions=spec)
    rows = credit_rows(n=20)
    rows["label"] = np.array(["1", "0", "yes", "No ", "true", "maybe", *["0"] * 14], dtype=object)
    table = _decisions(rows)
    with open_store(":memory:") as store:
        with pytest.raises(RowError) as info:
            ingest(store, table, mapping=plain, name="decisions.csv")
        err = info.value
        assert (err.row, err.column, err.value) == (6, "decision", "maybe")
        assert "decisions.csv" in str(err) and "declare positive_label" in str(err)
        assert store.count("predictions") == 0
        ingest(store, table.slice(0, 5), mapping=plain)  # 1/0/yes/no/true read as classes
        # labels already read as 1/0: a declaration now would read them differently
        with pytest.raises(ConfigError, match="already holds served labels"):
            ingest(store, table.slice(6), mapping=mapping)


def test_a_store_keeps_one_reading_of_served_labels() -> None:
    mapping = load_mapping(EXAMPLE)
    assert mapping.predictions is not None
    other = replace(mapping, predictions=replace(mapping.predictions, positive_label=("refer",)))
    plain = replace(mapping, predictions=replace(mapping.predictions, positive_label=()))
    rows = credit_rows(n=12)
    with open_store(":memory:") as store:
        _ingest(store, {k: v[:10] for k, v in rows.items()})
        assert store.positive_labels() == ("decline",)
        with pytest.raises(ConfigError, match="one store, one reading"):
            ingest(store, _decisions({k: v[10:11] for k, v in rows.items()}), mapping=other)
        # a mapping that declares nothing reads labels the store's way: "approve" is fine
        last = {k: v[11:] for k, v in rows.items()}
        last["label"] = np.array(["approve"], dtype=object)
        ingest(store, _decisions(last), mapping=plain)
        assert store.count("predictions") == 11
    assert default_metrics({}).threshold == 0.5
    with pytest.raises(ConfigError, match="needs a label column"):
        replace(mapping.predictions, label=None)
