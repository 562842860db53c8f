"""A child outcome left empty because its parent did not happen is not applicable, not pending.

Exports from other systems leave ``returned`` empty where ``purchased`` is 0:
such a file ingests, and every figure equals that of the same file saying 0.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from flat_rows import valid_flat, with_value
from test_metrics import SMALL, comparable

from seismo.config import RECOMMENDATIONS
from seismo.errors import RowError
from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics
from seismo.metrics.summary import summarize
from seismo.simulate import simulate
from seismo.store import Store, open_store


def _blank_returns_without_purchase(export: pa.Table) -> pa.Table:
    no_purchase = pc.fill_null(pc.equal(export.column("purchased"), 0), False)
    blank = pc.if_else(
        no_purchase,
        pa.scalar(None, export.schema.field("returned").type),
        export.column("returned"),
    )
    return export.set_column(export.column_names.index("returned"), "returned", blank)


def test_empty_child_of_an_absent_parent_equals_a_zero(store: Store, tmp_path: Path) -> None:
    sim = simulate(SMALL)
    blanked = _blank_returns_without_purchase(sim.export)
    final = blanked.column("ground_truth_available").to_numpy(zero_copy_only=False)
    empty = pc.is_null(blanked.column("returned")).to_numpy(zero_copy_only=False)
    assert (final & empty).sum() > 1000  # the case at hand: final rows with `returned` empty
    pacsv.write_csv(blanked, tmp_path / "blanked.csv")
    ingest(store, tmp_path / "blanked.csv", exported_at=sim.exported_at)
    with open_store(":memory:") as zeros:
        ingest(zeros, sim.export, exported_at=sim.exported_at)
        want_metrics = compute_metrics(zeros, by=["age_group"])
        want = summarize(zeros)
        stored_zeros = zeros.count("outcomes")
    got_metrics = compute_metrics(store, by=["age_group"])
    got = summarize(store)
    # nothing is stored for the blank children: one outcome row fewer per blank
    assert store.count("outcomes") == stored_zeros - int(
        empty.sum() - pc.sum(pc.is_null(sim.export.column("returned"))).as_py()
    )

    def only(table: pa.Table, metric: str) -> pa.Table:
        return table.filter(pc.equal(table.column("metric"), metric))

    returns = comparable(only(got_metrics, "return_rate"))
    assert returns and returns == comparable(only(want_metrics, "return_rate"))
    assert comparable(got_metrics) == comparable(want_metrics)
    assert got.completeness.to_pylist() == want.completeness.to_pylist()
    assert got.daily.to_pylist() == want.daily.to_pylist()
    ret = next(r for r in got.completeness.to_pylist() if r["outcome_type"] == "return")
    assert ret["known"] > ret["positives"] > 0


def test_empty_child_of_a_pending_or_happened_parent_is_still_pending(tmp_path: Path) -> None:
    table = valid_flat()
    purchased = table.column("purchased").to_pylist()
    bought = purchased.index("1") + 1  # a purchase, its return left empty, the row "final"
    with_return_blank = with_value(table, bought, "returned", None)
    with_return_blank = with_value(with_return_blank, bought, "return_timestamp", None)
    waiting = purchased.index(None) + 1  # the purchase itself is pending
    for row, bad in ((bought, with_return_blank), (waiting, table)):
        bad = with_value(bad, row, "ground_truth_available", "true")
        path = tmp_path / f"final-{row}.csv"
        pacsv.write_csv(bad, path)
        with open_store(":memory:") as store, pytest.raises(RowError) as info:
            ingest(store, path)
        err = info.value
        assert (err.row, err.column) == (row, "ground_truth_available")
        assert "final but an outcome is still empty (pending)" in str(err)
        assert f"row {row}" in str(err) and str(path) in str(err)


def test_blank_child_where_the_parent_is_zero_ingests_and_stores_nothing(tmp_path: Path) -> None:
    table = valid_flat()
    zero = table.column("purchased").to_pylist().index("0") + 1
    blank = with_value(table, zero, "returned", None)
    pacsv.write_csv(blank, tmp_path / "blank.csv")
    with open_store(":memory:") as store:
        result = ingest(store, tmp_path / "blank.csv")
        stored = store.outcomes().to_pyarrow().to_pylist()
        flat = store.flat(RECOMMENDATIONS).to_pylist()
    ids = {(r["prediction_id"], r["outcome_type"]) for r in stored}
    pid = table.column("recommendation_id")[zero - 1].as_py()
    assert (pid, "purchase") in ids and (pid, "return") not in ids
    assert result.predictions_added == table.num_rows
    # the flat view gives back what went in: the return empty, the row's truth final
    back = next(r for r in flat if r["recommendation_id"] == pid)
    assert back["returned"] is None and back["ground_truth_available"] is True
    finals = [r["ground_truth_available"] for r in flat]
    assert set(finals) == {True, False}  # pending rows say False, never NULL
    assert finals == [v == "true" for v in table.column("ground_truth_available").to_pylist()]
