"""Bad input gets one clear error naming file, row, column and reason; the store is unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from flat_rows import valid_flat, with_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seismo.config import RECOMMENDATIONS, checks_from_dict
from seismo.errors import InputError, RowError
from seismo.ingest import ingest
from seismo.store import Store, open_store


def snapshot(store: Store) -> tuple[int, ...]:
    return tuple(store.count(t) for t in ("predictions", "outcomes", "batches", "attributes"))


def write(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(table, path)
    return path


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    """A store that already holds one good batch, so 'unchanged' means something."""
    ingest(store, write(valid_flat(10, seed=5, start=datetime(2026, 4, 1)), tmp_path / "good.csv"))
    return store


CASES = [
    # (row, column, bad value, words the reason must contain)
    (4, "price_eur", "12,50 EUR", "expected a number"),
    (7, "timestamp", "yesterday", "expected a timestamp"),
    (2, "timestamp", "2026-02-30T10:00:00Z", "expected a timestamp"),
    (3, "is_sustainable", "maybe", "expected true or false"),
    (5, "position", "1.5", "expected a whole number"),
    (6, "clicked", "2", "1 (happened) or 0"),
    (8, "model_version", None, "required but empty"),
    (9, "click_timestamp", "2026-01-01T00:00:00Z", ""),
    (3, "score", "NaN", "expected a number"),
]


@pytest.mark.parametrize(("row", "column", "value", "words"), CASES)
def test_bad_field_names_file_row_line_column(
    seeded: Store, tmp_path: Path, row: int, column: str, value: str | None, words: str
) -> None:
    before = snapshot(seeded)
    path = write(with_value(valid_flat(), row, column, value), tmp_path / "bad.csv")
    with pytest.raises(RowError) as info:
        ingest(seeded, path)
    err = info.value
    assert (err.source, err.row, err.line, err.column) == (str(path), row, row + 1, column)
    assert words in str(err)
    assert str(path) in str(err) and f"row {row}" in str(err) and f"line {row + 1}" in str(err)
    assert snapshot(seeded) == before


def test_outcome_before_prediction(seeded: Store, tmp_path: Path) -> None:
    table = with_value(valid_flat(), 5, "clicked", "1")
    table = with_value(table, 5, "click_timestamp", "2026-05-11T00:00:00Z")
    with pytest.raises(RowError, match="before the prediction") as info:
        ingest(seeded, write(table, tmp_path / "early.csv"))
    assert (info.value.row, info.value.column) == (5, "click_timestamp")


def test_duplicate_id_names_both_rows(seeded: Store, tmp_path: Path) -> None:
    table = with_value(valid_flat(), 9, "recommendation_id", "r0002")
    before = snapshot(seeded)
    with pytest.raises(RowError, match=r"duplicate id \(first seen on row 3\)") as info:
        ingest(seeded, write(table, tmp_path / "dup.csv"))
    assert (info.value.row, info.value.column, info.value.value) == (
        9,
        "recommendation_id",
        "r0002",
    )
    assert snapshot(seeded) == before


def test_final_flag_contradicting_pending_outcome(seeded: Store, tmp_path: Path) -> None:
    table = valid_flat()
    pending = table.column("purchased").to_pylist().index(None) + 1
    table = with_value(table, pending, "ground_truth_available", "true")
    with pytest.raises(RowError, match="still empty") as info:
        ingest(seeded, write(table, tmp_path / "final.csv"))
    assert (info.value.row, info.value.column) == (pending, "ground_truth_available")


def test_missing_columns_are_listed(seeded: Store, tmp_path: Path) -> None:
    table = valid_flat().drop_columns(["price_eur", "score"])
    before = snapshot(seeded)
    with pytest.raises(InputError, match=r"missing required column\(s\) \['price_eur', 'score'\]"):
        ingest(seeded, write(table, tmp_path / "cols.csv"))
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a CSV file"),
        (b"just some prose, not a table\n", "missing required column"),
        (b"recommendation_id,timestamp\n", "no data rows"),
        (b"\r0", "not a CSV file with a header row"),  # found by schemathesis over HTTP
        (b"\r", "not a CSV file with a header row"),
    ],
)
def test_files_that_are_not_usable(
    seeded: Store, tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    before = snapshot(seeded)
    with pytest.raises(InputError, match=words) as info:
        ingest(seeded, path)
    assert info.value.source == str(path)
    assert snapshot(seeded) == before


def test_truncated_csv_names_the_line(seeded: Store, tmp_path: Path) -> None:
    path = write(valid_flat(), tmp_path / "cut.csv")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 150])  # cut mid-row, as an interrupted copy does
    lines = path.read_bytes().count(b"\n") + 1
    before = snapshot(seeded)
    with pytest.raises(RowError, match="truncated or malformed row") as info:
        ingest(seeded, path)
    assert info.value.line == lines
    assert snapshot(seeded) == before


def test_failure_after_schema_change_rolls_back_everything(store: Store, tmp_path: Path) -> None:
    """A batch that adds a column and then fails leaves neither column nor rows behind."""
    from seismo.config import OutcomeEvents

    events = replace(
        RECOMMENDATIONS,
        outcomes=OutcomeEvents(
            id="recommendation_id", timestamp="at", type="click", value="clicked"
        ),
    )
    # The click on r0003 arrives first, time-stamped before the recommendation will be.
    ingest(
        store,
        pa.table({"recommendation_id": ["r0003"], "at": ["2026-05-12T00:05:00Z"], "clicked": [1]}),
        mapping=events,
    )
    spec = RECOMMENDATIONS.predictions
    assert spec is not None
    with_colour = replace(
        RECOMMENDATIONS, predictions=replace(spec, features={**spec.features, "colour": "string"})
    )
    table = valid_flat().append_column("colour", pa.array(["red"] * 20))
    before = snapshot(store)
    columns_before = store.engine.table_columns("predictions")
    with pytest.raises(RowError, match="earlier than it") as info:
        ingest(store, table, mapping=with_colour)
    assert info.value.row == 4
    assert snapshot(store) == before
    assert store.engine.table_columns("predictions") == columns_before


BAD_VALUES = {
    "timestamp": st.from_regex(r"\A[a-z]{2,8}( [0-9]{1,2})?\Z").filter(lambda s: s != "now"),
    "price_eur": st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9 ]{0,6}\Z").filter(
        lambda s: s.lower() not in ("inf", "nan", "infinity")
    ),
    "position": st.sampled_from(["1.5", "two", "3rd", "0x10", "9.99"]),
    "is_sustainable": st.sampled_from(["maybe", "2", "ja", "-"]),
    "clicked": st.sampled_from(["2", "-1", "0.5", "yes please"]),
    "score": st.sampled_from(["high", "inf", "1,5", "--3"]),
    "recommendation_id": st.just("__dup__"),
}

_CONTROL = st.characters(min_codepoint=0, max_codepoint=31) | st.just("\x7f")
#: Values that convert to the column's type but cannot be true (see seismo.ingest.plausible).
IMPLAUSIBLE = {
    "score": st.floats(1.0, 1e300, exclude_min=True) | st.floats(-1e300, 0.0, exclude_max=True),
    "price_eur": st.floats(-1e300, 0.0, exclude_max=True) | st.floats(100_000.5, 1e300),
    "position": st.integers(-(10**25), -1) | st.integers(2**63, 10**25),
    "timestamp": st.integers(1000, 2024).map(lambda y: f"{y:04d}-03-01T10:00:00Z")
    | st.integers(2028, 9999).map(lambda y: f"{y:04d}-03-01T10:00:00Z"),
    "age_group": st.tuples(st.sampled_from(["18-24", ""]), _CONTROL).map("".join),
    "recommendation_id": st.tuples(st.just("r"), _CONTROL, st.just("x")).map("".join),
}


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(column=st.sampled_from(sorted(IMPLAUSIBLE)), row=st.integers(2, 20), data=st.data())
def test_implausible_values_are_refused_with_their_row(
    tmp_path: Path, column: str, row: int, data: st.DataObject
) -> None:
    """A value of the right type that cannot be true is refused, on its row, writing nothing."""
    value = data.draw(IMPLAUSIBLE[column])
    earlier = valid_flat(10, seed=5, start=datetime(2026, 4, 1))
    ids = pa.array([f"s{i}" for i in range(earlier.num_rows)])
    earlier = earlier.set_column(
        earlier.column_names.index("recommendation_id"), "recommendation_id", ids
    )
    with open_store(":memory:") as store:
        ingest(store, earlier)
        before = snapshot(store)
        with pytest.raises(RowError) as info:
            ingest(store, with_value(valid_flat(), row, column, str(value)))
        assert (info.value.row, info.value.column) == (row, column), str(info.value)
        assert snapshot(store) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [("score", "0"), ("score", "1"), ("price_eur", "0"), ("position", str(2**62))],
)
def test_values_at_the_edge_of_plausible_are_stored_exactly(column: str, value: str) -> None:
    with open_store(":memory:") as store:
        ingest(store, with_value(valid_flat(), 3, column, value))
        (stored,) = store.engine.query(
            f'SELECT "{column}" FROM predictions WHERE prediction_id = ?', ("r0002",)
        )[0]
    assert float(stored) == float(value)


def test_a_score_that_is_not_a_probability_is_accepted_when_declared(tmp_path: Path) -> None:
    mapping = replace(RECOMMENDATIONS, checks=checks_from_dict({"score": "any"}))
    with open_store(":memory:") as store:
        ingest(store, with_value(valid_flat(), 3, "score", "3.5"), mapping=mapping)
        assert store.engine.query("SELECT MAX(score) FROM predictions")[0][0] == 3.5


def test_hostile_values_exit_2_and_print_safely(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seismo.cli import app

    path = write(with_value(valid_flat(), 4, "age_group", "25-34\x1b[2J"), tmp_path / "x.csv")
    result = CliRunner().invoke(app, ["ingest", "--store", str(tmp_path / "s.duckdb"), str(path)])
    assert result.exit_code == 2
    assert "control character" in result.output and "\x1b" not in result.output
    assert "\\x1b" in result.output  # shown as its code, not sent to the terminal


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    column=st.sampled_from(sorted(BAD_VALUES)),
    row=st.integers(2, 20),
    data=st.data(),
)
def test_generated_bad_rows_are_pinpointed(
    tmp_path: Path, column: str, row: int, data: st.DataObject
) -> None:
    """Hypothesis corrupts one field of one row: the error names exactly that row and column."""
    value = data.draw(BAD_VALUES[column])
    table = valid_flat()
    if value == "__dup__":
        value = table.column("recommendation_id")[row - 2].as_py()
    with open_store(":memory:") as store:
        with pytest.raises(RowError) as info:
            ingest(store, with_value(table, row, column, value))
        assert (info.value.row, info.value.column) == (row, column)
        assert store.count("predictions") == 0 and store.count("outcomes") == 0


def test_re_sent_ids_with_other_content_are_counted_and_refused_when_strict(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from seismo.cli import app

    store = str(tmp_path / "s.duckdb")
    first = write(valid_flat(), tmp_path / "first.csv")
    changed = with_value(with_value(valid_flat(), 3, "score", "0.99"), 7, "score", "0.01")
    second = write(changed, tmp_path / "second.csv")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--store", store, str(first)]).exit_code == 0
    strict = runner.invoke(app, ["ingest", "--store", store, "--strict", str(second)])
    assert strict.exit_code == 2 and "row 3" in strict.output and "other content" in strict.output
    lenient = runner.invoke(app, ["ingest", "--store", store, "--format", "json", str(second)])
    assert lenient.exit_code == 0
    assert "2 re-sent id(s) differ" in lenient.output and "row 3" in lenient.output
    with open_store(store) as handle:  # what was stored first is kept
        stored = handle.engine.query("SELECT score FROM predictions WHERE prediction_id = 'r0002'")
        assert stored[0][0] == float(valid_flat().column("score")[2].as_py())


LABELS_WITHOUT_TIMES = """
[model]
name = "credit"
[predictions]
id = "id"
timestamp = "ts"
model_version = "v"
score = "p"
outcomes = [{ type = "default", value = "defaulted" }]
[outcome_types.default]
kind = "label"
window = "90d"
"""


def test_flat_labels_without_a_time_column_are_stored(tmp_path: Path) -> None:
    from seismo.config import load_mapping

    (tmp_path / "m.toml").write_text(LABELS_WITHOUT_TIMES, encoding="utf-8")
    path = tmp_path / "f.csv"
    path.write_text(
        "id,ts,v,p,defaulted\na,2026-10-01T10:00:00Z,v1,0.2,1\nb,2026-10-02T10:00:00Z,v1,0.3,\n"
    )
    with open_store(":memory:") as store:
        result = ingest(store, path, mapping=load_mapping(tmp_path / "m.toml"))
        assert (result.predictions_added, result.outcomes_added) == (2, 1)


def test_unterminated_quote_says_so_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    rows = valid_flat(3).to_pylist()
    header = ",".join(rows[0])
    lines = [",".join("" if v is None else str(v) for v in r.values()) for r in rows]
    path.write_text("\n".join([header, lines[0], '"' + lines[1], lines[2]]) + "\n")
    with open_store(":memory:") as store, pytest.raises(RowError) as info:
        ingest(store, path)
    assert info.value.line == 3 and "unterminated quote" in info.value.reason


def test_implausible_rows_can_be_quarantined_instead(tmp_path: Path) -> None:
    mapping = replace(RECOMMENDATIONS, checks=checks_from_dict({"implausible": "quarantine"}))
    table = with_value(valid_flat(), 3, "score", "1.7")
    table = with_value(table, 9, "timestamp", "2999-01-01T00:00:00Z")
    table = with_value(table, 12, "age_group", "55+\x1b[2J")
    with open_store(":memory:") as store:
        result = ingest(store, table, mapping=mapping)
        assert (result.predictions_added, result.quarantined) == (17, 3)
        held = store.engine.query(
            "SELECT row_number, column_name, reason FROM quarantine ORDER BY row_number"
        )
        assert [(r, c) for r, c, _ in held] == [(3, "score"), (9, "timestamp"), (12, "age_group")]
        assert "outside the accepted range" in held[0][2] and "future" in held[1][2]
        stored = {r[0] for r in store.engine.query("SELECT prediction_id FROM predictions")}
        assert "r0002" not in stored and "r0000" in stored
        again = ingest(store, table, mapping=mapping)  # the same file again adds nothing
        assert again.already_ingested and store.count("quarantine") == 3
