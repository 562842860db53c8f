"""Ingest round trips, idempotency, late truth updating earlier rows, and replay with as-of.

Every test runs on DuckDB and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from seismo.config import RECOMMENDATIONS
from seismo.ingest import ingest
from seismo.simulate import COLUMNS, Scenario, Simulation, simulate
from seismo.store import Store

SCENARIO = Scenario(days=8, per_day=120, seed=3, reference_days=1, drop_days=3, changeover_day=5)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SCENARIO)


def normalised(table: pa.Table) -> list[tuple[object, ...]]:
    """Rows as comparable tuples: text and numbers as floats, times as naive UTC datetimes."""
    columns = []
    for name in RECOMMENDATIONS_COLUMNS:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("s"))
            values = col.to_pylist()
        elif name.endswith("timestamp"):
            values = [
                None if v is None else datetime.fromisoformat(v.replace("Z", ""))
                for v in col.cast(pa.string()).to_pylist()
            ]
        elif pa.types.is_boolean(col.type):
            values = col.to_pylist()
        elif name in NUMERIC:
            values = [None if v is None else float(v) for v in col.cast(pa.string()).to_pylist()]
        elif name in BOOLS:
            values = [
                None if v is None else v in ("true", "True", "1")
                for v in col.cast(pa.string()).to_pylist()
            ]
        else:
            values = col.cast(pa.string()).to_pylist()
        columns.append(values)
    return sorted(zip(*columns, strict=True), key=lambda r: str(r[0]))


RECOMMENDATIONS_COLUMNS = list(COLUMNS)
NUMERIC = {"price_eur", "position", "score", "clicked", "purchased", "returned"}
BOOLS = {"is_sustainable", "ground_truth_available"}


def test_simulator_and_mapping_agree_on_outcome_windows() -> None:
    declared = {t.name: t.window for t in RECOMMENDATIONS.outcome_types}
    assert declared == Scenario().outcome_windows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_what_goes_in_comes_out(store: Store, sim: Simulation, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"export.{fmt}"
    if fmt == "csv":
        pacsv.write_csv(sim.export, path)
    else:
        pq.write_table(sim.export, path)
    result = ingest(store, path)
    assert result.predictions_added == sim.export.num_rows
    assert normalised(store.flat(RECOMMENDATIONS)) == normalised(sim.export)


def test_frames_from_pandas_polars_and_arrow_give_the_same_store(
    store: Store, sim: Simulation
) -> None:
    import polars as pl

    third = sim.export.num_rows // 3
    parts = [
        sim.export.slice(0, third),
        sim.export.slice(third, third),
        sim.export.slice(2 * third),
    ]
    ingest(store, parts[0].to_pandas(), exported_at=sim.exported_at)
    ingest(store, pl.from_arrow(parts[1]), exported_at=sim.exported_at)
    ingest(store, parts[2], exported_at=sim.exported_at)
    assert normalised(store.flat(RECOMMENDATIONS)) == normalised(sim.export)


def test_reingesting_adds_nothing(store: Store, sim: Simulation, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    pacsv.write_csv(sim.export, path)
    first = ingest(store, path)
    counts = (store.count("predictions"), store.count("outcomes"))
    again = ingest(store, path)
    assert again.already_ingested and (again.predictions_added, again.outcomes_added) == (0, 0)
    # The same rows in another container are a different batch, yet add no fact.
    as_parquet = tmp_path / "export.parquet"
    pq.write_table(sim.export, as_parquet)
    other = ingest(store, as_parquet)
    assert not other.already_ingested and (other.predictions_added, other.outcomes_added) == (0, 0)
    assert (store.count("predictions"), store.count("outcomes")) == counts
    assert first.outcomes_added == counts[1]


def test_later_export_fills_pending_outcomes_without_duplicates(
    store: Store, sim: Simulation
) -> None:
    early_at = SCENARIO.start + timedelta(days=5)
    early = sim.known_at(early_at)
    ingest(store, early, exported_at=early_at)
    early_ids = set(early.column("recommendation_id").to_pylist())
    pending_before = _pending(store, early_ids)
    late = ingest(store, sim.export, exported_at=sim.exported_at)
    assert late.predictions_added == sim.export.num_rows - early.num_rows
    assert store.count("predictions") == sim.export.num_rows
    assert normalised(store.flat(RECOMMENDATIONS)) == normalised(sim.export)
    # Some of the early rows' pending outcomes arrived;
    # what is still pending is what the late export says.
    pending_after = _pending(store, early_ids)
    in_export = sim.export.filter(
        pc.is_in(sim.export.column("recommendation_id"), pa.array(sorted(early_ids)))
    )
    assert pending_after == sum(
        in_export.column(c).null_count for c in ("clicked", "purchased", "returned")
    )
    assert pending_after < pending_before


def test_an_older_export_arriving_late_loses_nothing_confirmed(
    store: Store, sim: Simulation
) -> None:
    ingest(store, sim.export, exported_at=sim.exported_at)
    early_at = SCENARIO.start + timedelta(days=4)
    result = ingest(store, sim.known_at(early_at), exported_at=early_at)
    assert result.predictions_added == 0
    assert normalised(store.flat(RECOMMENDATIONS)) == normalised(sim.export)


def test_as_of_replays_what_was_known_then(store: Store, sim: Simulation) -> None:
    early_at = SCENARIO.start + timedelta(days=4, hours=6)
    ingest(store, sim.known_at(early_at), exported_at=early_at)
    ingest(store, sim.export, exported_at=sim.exported_at)
    then = store.flat(RECOMMENDATIONS, as_of=early_at)
    export_then = sim.known_at(early_at)
    assert then.num_rows == export_then.num_rows
    # Every positive outcome known then is known in the replay, with its time; nothing later.
    for col in ("clicked", "purchased", "returned"):
        replay = pc.sum(pc.equal(then.column(col), 1.0)).as_py() or 0
        known = pc.sum(pc.equal(export_then.column(col).cast(pa.float64()), 1.0)).as_py() or 0
        assert replay == known, col
    assert normalised(then) == normalised(export_then)


def _pending(store: Store, ids: set[str]) -> int:
    flat = store.flat(RECOMMENDATIONS)
    flat = flat.filter(pc.is_in(flat.column("recommendation_id"), pa.array(sorted(ids))))
    return sum(flat.column(c).null_count for c in ("clicked", "purchased", "returned"))
