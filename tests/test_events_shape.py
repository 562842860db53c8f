"""A non-recommender: a credit classifier whose labels arrive weeks later, in event shape."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from seismo.config import load_mapping
from seismo.errors import RowError
from seismo.ingest import ingest
from seismo.store import Store

EXAMPLE = Path(__file__).parent.parent / "examples" / "credit.toml"


def credit_data(n: int = 400, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """Decisions over 20 days; a default label for 70% of them, 30-100 days later."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1)
    decided = [start + timedelta(seconds=int(s)) for s in np.sort(rng.uniform(0, 20 * 86400, n))]
    p = rng.beta(2, 8, n)
    decisions = pa.table(
        {
            "application_id": [f"app-{i:05d}" for i in range(n)],
            "decided_at": pa.array(decided, pa.timestamp("s")),
            "model": ["credit-v2"] * n,
            "customer_id": [f"c{i % 97}" for i in range(n)],
            "region": rng.choice(["north", "south", "east"], n),
            "channel": rng.choice(["web", "branch"], n),
            "income": np.round(rng.lognormal(10.5, 0.4, n), 2),
            "age": rng.integers(18, 80, n),
            "employment": rng.choice(["salaried", "self-employed", "retired"], n),
            "p_default": np.round(p, 4),
            "decision": np.where(p > 0.3, "decline", "approve"),
        }
    )
    labelled = rng.random(n) < 0.7
    idx = np.flatnonzero(labelled)
    labels = pa.table(
        {
            "application_id": [f"app-{i:05d}" for i in idx],
            "labelled_at": pa.array(
                [
                    decided[i] + timedelta(days=int(d))
                    for i, d in zip(idx, rng.integers(30, 100, idx.size), strict=True)
                ],
                pa.timestamp("s"),
            ),
            "defaulted": (rng.random(idx.size) < p[idx]).astype(np.int64),
        }
    )
    return decisions, labels


def test_credit_classifier_predictions_and_late_labels(store: Store, tmp_path: Path) -> None:
    decisions, labels = credit_data()
    mapping = load_mapping(EXAMPLE)
    pacsv.write_csv(decisions, tmp_path / "decisions.csv")
    pacsv.write_csv(labels, tmp_path / "labels.csv")

    r1 = ingest(store, tmp_path / "decisions.csv", mapping=mapping)
    r2 = ingest(store, tmp_path / "labels.csv", mapping=mapping)
    assert (r1.shape, r1.predictions_added) == ("predictions", decisions.num_rows)
    assert (r2.shape, r2.outcomes_added) == ("outcomes", labels.num_rows)

    assert store.attributes() == {
        "region": ("segment", "string"),
        "channel": ("segment", "string"),
        "income": ("feature", "float"),
        "age": ("feature", "int"),
        "employment": ("feature", "string"),
    }
    stored = store.predictions().order_by("prediction_id").to_pyarrow()
    assert stored.column("score").to_pylist() == decisions.column("p_default").to_pylist()
    assert stored.column("label").to_pylist() == decisions.column("decision").to_pylist()
    assert set(stored.column("model_name").to_pylist()) == {"credit-risk"}
    assert stored.column("age").to_pylist() == decisions.column("age").to_pylist()

    outs = store.outcomes().order_by("prediction_id").to_pyarrow()
    assert outs.column("value").to_pylist() == [
        float(v) for v in labels.column("defaulted").to_pylist()
    ]
    assert store.outcome_types()["default_90d"].window == timedelta(days=120)


def test_labels_may_arrive_before_their_predictions(store: Store) -> None:
    decisions, labels = credit_data(n=50)
    mapping = load_mapping(EXAMPLE)
    ingest(store, labels, mapping=mapping)
    assert store.count("outcomes") == labels.num_rows
    ingest(store, decisions, mapping=mapping)
    joined = store.predictions().join(store.outcomes(), "prediction_id").count().to_pyarrow()
    assert joined.as_py() == labels.num_rows


def test_outcome_before_its_prediction_is_rejected_against_the_store(store: Store) -> None:
    decisions, labels = credit_data(n=30)
    mapping = load_mapping(EXAMPLE)
    ingest(store, decisions, mapping=mapping)
    early = labels.set_column(
        1, "labelled_at", pa.array([datetime(2025, 12, 1)] * labels.num_rows, pa.timestamp("s"))
    )
    with pytest.raises(RowError, match="before the prediction") as info:
        ingest(store, early, mapping=mapping, name="labels.parquet")
    assert info.value.row == 1 and info.value.source == "labels.parquet"
    assert store.count("outcomes") == 0


def test_unknown_outcome_type_names_the_row(store: Store) -> None:
    mapping = load_mapping(EXAMPLE)
    events = pa.table(
        {
            "application_id": ["a1", "a2", "a3"],
            "labelled_at": ["2026-02-01T00:00:00Z"] * 3,
            "kind": ["default_90d", "default_90d", "fraud"],
            "defaulted": [0, 1, 1],
        }
    )
    from dataclasses import replace

    from seismo.config import OutcomeEvents

    by_column = replace(
        mapping,
        outcomes=OutcomeEvents(
            id="application_id", timestamp="labelled_at", type_column="kind", value="defaulted"
        ),
    )
    with pytest.raises(RowError) as info:
        ingest(store, events, mapping=by_column)
    assert (info.value.row, info.value.column, info.value.value) == (3, "kind", "fraud")
    assert "unknown outcome type" in str(info.value)
    assert store.count("outcomes") == 0
