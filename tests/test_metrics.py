"""Maturity-aware metrics: values, maturity fields, nowcasts, windows, engines, incrementality."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from seismo.cli import app
from seismo.config import RECOMMENDATIONS, OutcomeEvents
from seismo.ingest import ingest
from seismo.metrics.cohorts import refresh
from seismo.metrics.compute import compute_metrics
from seismo.metrics.spec import default_metrics
from seismo.simulate import Scenario, Simulation, simulate
from seismo.store import Store, open_store

SMALL = Scenario(days=16, per_day=400, seed=11, reference_days=1, changeover_day=10, drop_days=5)
EVENTS = replace(
    RECOMMENDATIONS,
    outcome_columns=(),
    final=None,
    outcomes=OutcomeEvents(
        id="recommendation_id", timestamp="at", type_column="type", value="value"
    ),
)


@pytest.fixture(scope="module")
def small() -> Simulation:
    return simulate(SMALL)


def as_events(export: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The flat export split into a predictions table and outcome events (positives only)."""
    predictions = export.select(
        [
            c
            for c in export.column_names
            if c
            not in (
                "clicked",
                "click_timestamp",
                "purchased",
                "purchase_timestamp",
                "returned",
                "return_timestamp",
                "ground_truth_available",
            )
        ]
    )
    parts = []
    for kind, flag, stamp in (
        ("click", "clicked", "click_timestamp"),
        ("purchase", "purchased", "purchase_timestamp"),
        ("return", "returned", "return_timestamp"),
    ):
        hit = export.filter(pc.equal(export.column(flag), 1))
        parts.append(
            pa.table(
                {
                    "recommendation_id": hit.column("recommendation_id"),
                    "at": hit.column(stamp).cast(pa.timestamp("s", "UTC")),
                    "type": pa.array([kind] * hit.num_rows),
                    "value": pa.array([1] * hit.num_rows, pa.int64()),
                }
            )
        )
    return predictions, pa.concat_tables(parts)


def comparable(table: pa.Table) -> list[tuple[object, ...]]:
    keys = ["metric", "attribute", "value", "model_version", "window_start"]
    rows = []
    for r in table.sort_by([(k, "ascending") for k in keys]).to_pylist():
        rows.append(
            tuple(round(v, 9) if isinstance(v, float) else v for k, v in r.items() if k != "as_of")
        )
    return rows


def test_every_value_carries_its_maturity(small: Simulation) -> None:
    with open_store(":memory:") as store:
        ingest(store, small.export, exported_at=small.exported_at)
        table = compute_metrics(store)
    names = set(table.column("metric").to_pylist())
    assert names == {
        "click_through_rate",
        "purchase_conversion",
        "purchase_per_click",
        "return_rate",
        "revenue_per_recommendation",
        # the model's click probability, judged on the clicks
        "click_roc_auc",
        "click_log_loss",
        "click_calibration_error",
        "click_calibration_in_the_large",
    }
    rows = table.to_pylist()
    attributes = {r["attribute"] for r in rows}
    assert attributes == {
        None,
        "age_group",
        "sustainability_preference",
        "region",
        "customer_type",
        "device",
    }
    for r in rows:
        assert r["n"] == r["confirmed_n"] + r["pending_n"]
        if r["estimate"] is not None:  # every figure has its sampling error
            assert r["std_error"] is not None and r["std_error"] >= 0, r
        if r["final"]:
            assert r["pending_n"] == 0 and r["estimate"] == pytest.approx(r["confirmed_value"])
        elif r["estimate"] is not None:
            assert r["estimate_low"] <= r["estimate"] <= r["estimate_high"]
            if r["observed_value"] is not None:  # a rate: what arrived cannot leave
                assert r["estimate_low"] >= r["observed_value"] - 1e-12
        assert r["final_at"] > r["window_end"]
    # A purchase can take 12 days: the last 12 daily cohorts are provisional, older ones final.
    agg = [r for r in rows if r["metric"] == "purchase_conversion" and r["attribute"] is None]
    assert [r["final"] for r in agg] == [True] * 4 + [False] * 12
    clicks = [r for r in rows if r["metric"] == "click_through_rate" and r["attribute"] is None]
    assert all(r["final"] for r in clicks[:-1])


def test_ctr_values_match_the_raw_data(small: Simulation) -> None:
    with open_store(":memory:") as store:
        ingest(store, small.export, exported_at=small.exported_at)
        table = compute_metrics(store, by=["age_group"])
    export = small.export.to_pandas()
    export["day"] = export["timestamp"].dt.tz_localize(None).dt.floor("D")
    expected = export.groupby(["day", "age_group"])["clicked"].mean()
    got = {
        (r["window_start"], r["value"]): r["confirmed_value"]
        for r in table.to_pylist()
        if r["metric"] == "click_through_rate" and r["attribute"] == "age_group"
    }
    for (day, group), value in expected.items():
        assert got[(day.to_pydatetime(), group)] == pytest.approx(value, abs=1e-3), (day, group)


def test_nowcast_beats_confirmed_only_on_the_seed_scenario() -> None:
    """Purchase conversion of cohorts 2-12 days old: close to the final truth; naive far off."""
    sim = simulate(Scenario(seed=4, per_day=3000))
    with open_store(":memory:") as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        table = compute_metrics(store, by=[])
    truth = sim.truth.to_pandas()
    truth["day"] = truth["timestamp"].dt.tz_localize(None).dt.floor("D")
    final = truth.groupby("day")["purchased"].mean()
    end = sim.exported_at.replace(tzinfo=None)
    errors, naive = [], []
    for r in table.to_pylist():
        if r["metric"] != "purchase_conversion" or r["attribute"] is not None or r["final"]:
            continue
        if (end - r["window_start"]).days < 2:
            continue
        f = final[r["window_start"]]
        errors.append(abs(r["estimate"] - f) / f)
        naive.append(abs(r["observed_value"] - f) / f)
    assert len(errors) == 11
    assert np.mean(errors) < 0.10
    assert np.mean(naive) > 2 * np.mean(errors)


def test_weeks_and_count_windows_add_up(small: Simulation) -> None:
    with open_store(":memory:") as store:
        ingest(store, small.export, exported_at=small.exported_at)
        daily = compute_metrics(store, by=[])
        weekly = compute_metrics(store, period="week", by=[])
        counted = compute_metrics(store, every=1000, by=[])

    def total(t: pa.Table, metric: str, field: str) -> int:
        return sum(r[field] for r in t.to_pylist() if r["metric"] == metric)

    for metric in ("click_through_rate", "purchase_conversion", "return_rate"):
        for field in ("n", "confirmed_n", "pending_n"):
            assert (
                total(daily, metric, field)
                == total(weekly, metric, field)
                == total(counted, metric, field)
            )
    starts = [r["window_start"] for r in weekly.to_pylist() if r["metric"] == "click_through_rate"]
    assert all(s.weekday() == 0 for s in starts)
    sizes = [r["n"] for r in counted.to_pylist() if r["metric"] == "click_through_rate"]
    assert all(s >= 1000 for s in sizes[:-1]) and len(sizes) > 3


def test_as_of_replays_an_earlier_day(small: Simulation) -> None:
    """Daily exports arrive; replayed as of day 8, the store answers as it did on day 8."""
    day8 = SMALL.start + timedelta(days=8)
    with open_store(":memory:") as full, open_store(":memory:") as then:
        ingest(full, small.known_at(day8), exported_at=day8)
        ingest(full, small.export, exported_at=small.exported_at)
        ingest(then, small.known_at(day8), exported_at=day8)
        replay = compute_metrics(full, as_of=day8)
        direct = compute_metrics(then, as_of=day8)
    assert comparable(replay) == comparable(direct)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_incremental_equals_from_scratch_in_any_order(
    small: Simulation, data: st.DataObject
) -> None:
    """Predictions and outcomes arrive shuffled, in random batches, outcomes even first."""
    sim = simulate(replace(SMALL, days=6, per_day=150))
    predictions, outcomes = as_events(sim.export)
    pieces = []
    for table, kind in ((predictions, "p"), (outcomes, "o")):
        order = data.draw(st.permutations(range(table.num_rows)))
        cuts = sorted(data.draw(st.sets(st.integers(1, table.num_rows - 1), max_size=3)))
        bounds = [0, *cuts, table.num_rows]
        for a, b in itertools.pairwise(bounds):
            pieces.append((kind, table.take(pa.array(order[a:b]))))
    pieces = data.draw(st.permutations(pieces))
    with open_store(":memory:") as step, open_store(":memory:") as scratch:
        for _, piece in pieces:
            ingest(step, piece, mapping=EVENTS)
            compute_metrics(step, as_of=sim.exported_at)  # refreshes the stored state as it goes
        ingest(scratch, predictions, mapping=EVENTS)
        ingest(scratch, outcomes, mapping=EVENTS)
        assert comparable(compute_metrics(step, as_of=sim.exported_at)) == comparable(
            compute_metrics(scratch, as_of=sim.exported_at)
        )


def test_late_outcomes_recompute_exactly_their_days(small: Simulation) -> None:
    predictions, outcomes = as_events(small.export)
    with open_store(":memory:") as store:
        ingest(store, predictions, mapping=EVENTS)
        config = default_metrics(store.outcome_types(), store.attributes(), store.declared())
        assert refresh(store, config, store.outcome_types()) is None  # first build: everything
        assert refresh(store, config, store.outcome_types()) == []  # nothing new: nothing to do
        served = dict(
            zip(
                predictions.column("recommendation_id").to_pylist(),
                predictions.column("timestamp").to_pylist(),
                strict=True,
            )
        )
        late = outcomes.filter(
            pc.is_in(
                outcomes.column("recommendation_id"),
                value_set=pa.array([pid for pid, ts in served.items() if ts.day in (14, 17)]),
            )
        )
        ingest(store, late, mapping=EVENTS)
        days = refresh(store, config, store.outcome_types())
        assert [d.day for d in days] == [14, 17]


def test_same_figures_on_duckdb_and_postgres(store: Store, small: Simulation) -> None:
    ingest(store, small.export, exported_at=small.exported_at)
    with open_store(":memory:") as reference:
        ingest(reference, small.export, exported_at=small.exported_at)
        expected = comparable(compute_metrics(reference))
    assert comparable(compute_metrics(store)) == expected


def test_cli_metrics_json_format(tmp_path: Path, small: Simulation) -> None:
    store = str(tmp_path / "s.duckdb")
    with open_store(store) as handle:
        ingest(handle, small.export, exported_at=small.exported_at)
    result = CliRunner().invoke(
        app,
        [
            "metrics",
            "--store",
            store,
            "--format",
            "json",
            "--metric",
            "purchase_conversion",
            "--out",
            str(tmp_path / "m.parquet"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    required = {
        "metric",
        "segment",
        "model_version",
        "window_start",
        "window_end",
        "n",
        "confirmed_n",
        "pending_n",
        "confirmed_value",
        "estimate",
        "estimate_low",
        "estimate_high",
        "estimator",
        "std_error",
        "final",
        "final_at",
    }
    assert all(required <= set(i) for i in items)
    assert {json.dumps(i["segment"]) for i in items} >= {"null", '{"age_group": "25-34"}'}
    assert {i["metric"] for i in items} == {"purchase_conversion"}
    assert (tmp_path / "m.parquet").exists()
    first = items[0]
    assert datetime.fromisoformat(first["window_start"].rstrip("Z"))


def test_classifier_with_late_labels_gets_cbpe_then_realized(tmp_path: Path) -> None:
    """A credit model: labels arrive 30-100 days late; CBPE fills in, then hands over."""
    from test_events_shape import EXAMPLE, credit_data

    from seismo.config import load_mapping

    decisions, labels = credit_data(n=6000, seed=3)
    mapping = load_mapping(EXAMPLE)
    with open_store(":memory:") as store:
        ingest(store, decisions, mapping=mapping)
        ingest(store, labels, mapping=mapping)
        early = compute_metrics(store, as_of=datetime(2026, 2, 25), period="week", by=[])
        late = compute_metrics(store, as_of=datetime(2026, 9, 1), period="week", by=[])

    def pick(table: pa.Table, metric: str) -> list[dict[str, object]]:
        return [r for r in table.to_pylist() if r["metric"] == metric]

    final = {r["window_start"]: r for r in pick(late, "default_90d_accuracy")}
    assert all(r["final"] and r["estimator"] == "confirmed" for r in final.values())
    mixed = [r for r in pick(early, "default_90d_accuracy") if r["pending_n"] > 0]
    assert mixed and {r["estimator"] for r in mixed} <= {"cbpe", "realized+cbpe"}
    for r in mixed:
        truth = final[r["window_start"]]["estimate"]
        assert abs(r["estimate"] - truth) < 0.05
        assert r["estimate_low"] - 0.02 <= truth <= r["estimate_high"] + 0.02
    auc = pick(late, "default_90d_roc_auc")
    assert all(0.55 < r["estimate"] < 0.9 for r in auc)
    for r in (*early.to_pylist(), *late.to_pylist()):
        if r["estimate"] is not None:
            assert r["std_error"] is not None and r["std_error"] >= 0, r
    # while labels are pending, the error is that of the final value: close to the final one's
    for r in mixed:
        truth = final[r["window_start"]]
        assert r["std_error"] == pytest.approx(truth["std_error"], rel=0.35)


def test_regressor_errors_per_window() -> None:
    """A demand forecaster's MAE and RMSE from in-engine error sums."""
    from seismo.config import Mapping, OutcomeEvents, OutcomeType, PredictionColumns

    rng = np.random.default_rng(2)
    n = 500
    made = [datetime(2026, 3, 1) + timedelta(hours=int(h)) for h in rng.integers(0, 72, n)]
    actual = rng.normal(100, 20, n)
    predicted = actual + rng.normal(0, 5, n)
    mapping = Mapping(
        model_name="demand",
        model_version="v7",
        predictions=PredictionColumns(id="id", timestamp="at", score="yhat", segments=("store",)),
        outcomes=OutcomeEvents(id="id", timestamp="known", type="units", value="y"),
        outcome_types=(OutcomeType(name="units", kind="value", window=timedelta(days=2)),),
    )
    ids = [f"f{i}" for i in range(n)]
    with open_store(":memory:") as store:
        ingest(
            store,
            pa.table(
                {"id": ids, "at": made, "yhat": predicted, "store": rng.choice(["a", "b"], n)}
            ),
            mapping=mapping,
        )
        ingest(
            store,
            pa.table({"id": ids, "known": [t + timedelta(days=1) for t in made], "y": actual}),
            mapping=mapping,
        )
        table = compute_metrics(store, as_of=datetime(2026, 3, 10), by=[])
    days = np.array([t.date() for t in made])
    for r in table.to_pylist():
        chosen = days == r["window_start"].date()
        err = predicted[chosen] - actual[chosen]
        expected = {
            "units_mae": np.abs(err).mean(),
            "units_rmse": np.sqrt((err**2).mean()),
            "units_bias": err.mean(),
            "units_mape": np.mean(np.abs(err) / np.abs(actual[chosen])),
        }
        assert r["estimate"] == pytest.approx(expected[r["metric"]], rel=1e-9), r["metric"]
        assert r["final"]
        assert r["std_error"] is not None and r["std_error"] > 0
