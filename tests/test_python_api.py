"""The whole job from Python: reference, drift, check and report, as the commands do them.

Real data through real components: the seed scenario (30 days, 400 a day) is
simulated, written as files and ingested into a DuckDB store through the
public API once per module; each test works on a private copy of that file.
Where a command exists, the API's answer is compared with the command's on an
identical copy of the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import copy_of
from typer.testing import CliRunner

import seismo
from seismo.alerts import list_alerts
from seismo.cli import app
from seismo.detect.drift import DRIFT_SCHEMA
from seismo.present.console import to_json
from seismo.results import ALERT_SCHEMA
from seismo.simulate import Scenario, write_scenario

runner = CliRunner(env={"COLUMNS": "250"})
SCENARIO = Scenario(seed=2, per_day=400)
CTR = "click_through_rate"
YOUNG = {"age_group": "25-34"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_scenario(tmp_path_factory.mktemp("data"), SCENARIO)


@pytest.fixture(scope="module")
def store_file(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export ingested and the training reference registered, through the public API."""
    path = tmp_path_factory.mktemp("store") / "seismo.duckdb"
    with seismo.open_store(path) as store:
        seismo.ingest(store, files["export"])
        seismo.add_reference(store, files["reference"])
    return path


def _rounded(value: Any) -> Any:
    """``value`` with every float to 9 significant digits (DuckDB's threads may sum
    doubles in another order)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def command(*args: str) -> tuple[int, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_add_reference_registers_once_and_names_the_version(
    files: dict[str, Path], tmp_path: Path
) -> None:
    with seismo.open_store(tmp_path / "s.duckdb") as store:
        first = seismo.add_reference(store, files["reference"])
        again = seismo.add_reference(store, files["reference"])
    assert isinstance(first, seismo.ReferenceResult)
    assert (first.model_version, first.rows, first.added) == ("rec-2026.04", 5600, True)
    assert first.features > 5 and not again.added


def test_drift_is_a_table_and_the_same_as_the_command(store_file: Path, tmp_path: Path) -> None:
    store_path = copy_of(store_file, tmp_path)
    with seismo.open_store(store_path) as store:
        every = seismo.compute_drift(store)
        drifted = seismo.compute_drift(store, drifted_only=True)
        price = seismo.compute_drift(store, features=["price_eur"], by=["age_group"])
        with pytest.raises(seismo.ConfigError, match="unknown feature"):
            seismo.compute_drift(store, features=["prize_eur"])
        with pytest.raises(seismo.ConfigError, match="period must be"):
            seismo.compute_drift(store, period="fortnight")  # type: ignore[arg-type]
    assert isinstance(every, seismo.Table) and every.columns == DRIFT_SCHEMA.names
    assert 0 < len(drifted) < len(every) and all(drifted.to_arrow().column("drifted").to_pylist())
    # The summer changeover moves the category mix and the prices: planted input drift.
    assert {"category", "collection", "price_eur"} <= {r["feature"] for r in drifted.to_pylist()}
    assert set(price.to_arrow().column("feature").to_pylist()) == {"price_eur"}
    assert {r["attribute"] for r in price.to_pylist()} == {None, "age_group"}
    frame = every.to_pandas()
    assert len(frame) == len(every) and list(frame.columns) == every.columns
    _, said = command("drift", "--store", store_path, "--drifted", "--format", "json")
    ours = [(r["feature"], r["method"], r["window_start"]) for r in drifted.to_pylist()]
    theirs = [(r["feature"], r["method"], r["window_start"]) for r in said]
    assert [(f, m, w.isoformat() + "Z") for f, m, w in ours] == theirs


def test_check_finds_the_planted_drop_as_the_command_does(store_file: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    theirs, ours = copy_of(store_file, tmp_path / "a"), copy_of(store_file, tmp_path / "b")
    config = tmp_path / "seismo.toml"
    config.write_text(
        '[detect]\nfalse_alarms_per_90_days = 1\n\n[[alerts.routes]]\ntype = "log"\n'
        'path = "alerts.jsonl"\n'
    )
    code, said = command("check", "--store", theirs, "--config", str(config), "--format", "json")
    with seismo.open_store(ours) as store:
        result = seismo.check(store, config=config)
        stored = list_alerts(store.engine)

    assert isinstance(result, seismo.Check) and len(result) == len(result.alerts) > 0
    young = [a for a in result.alerts if a.metric == CTR and a.segment == YOUNG]
    assert [(a.severity, a.state, a.direction) for a in young] == [("critical", "firing", "down")]
    assert [a.segment for a in result.alerts if a.metric == CTR] == [YOUNG]  # not the aggregate
    # What the command printed and exited with, record for record.
    assert _rounded(json.loads(to_json(result.records()))) == _rounded(said)
    assert result.critical and code == 1
    # The stored alerts are this check's, and the log route was told.
    assert not result.replay and result.note is None
    assert {a.id for a in stored} == {a.id for a in result.alerts}
    assert result.deliveries and all(d.ok for d in result.deliveries)
    assert "25-34" in (tmp_path / "alerts.jsonl").read_text()

    table = result.to_table()
    assert table.columns == ALERT_SCHEMA.names == [*result.alerts[0].to_record(), "replay"]
    assert len(result.to_pandas()) == len(result) == result.to_arrow().num_rows
    row = next(r for r in table.to_pylist() if r["id"] == young[0].id)
    assert json.loads(row["segment"]) == YOUNG and row["replay"] is False
    page = result._repr_html_()
    assert result.headline() in page and young[0].message in page
    assert repr(result).startswith("<Check as of ") and "critical firing" in repr(result)


def test_an_earlier_check_leaves_the_stored_alerts_alone(store_file: Path, tmp_path: Path) -> None:
    with seismo.open_store(copy_of(store_file, tmp_path)) as store:
        latest = seismo.check(store)
        before = list_alerts(store.engine)
        earlier = seismo.check(store, as_of=date(2026, 6, 5))
        after = list_alerts(store.engine)
    assert not latest.replay
    assert earlier.replay and earlier.note is not None and "were not changed" in earlier.note
    assert earlier.as_of < latest.as_of and after == before
    assert all(r["replay"] for r in earlier.records()) and earlier.note in earlier._repr_html_()


def test_write_report_leaves_the_store_open(store_file: Path, tmp_path: Path) -> None:
    with seismo.open_store(copy_of(store_file, tmp_path)) as store:
        written = seismo.write_report(store, tmp_path / "out" / "report.html")
        assert store.count("predictions") > 0  # still open: the caller's to close
    assert isinstance(written, seismo.ReportResult)
    page = written.path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert " · seismo</title>" in page and written.bytes == len(page.encode("utf-8"))
    assert written.snapshot.findings  # the planted shifts need attention


def test_table_html_is_escaped_and_bounded() -> None:
    evil = "<script>alert('x')</script>"
    data = pa.table({"segment": [evil] * 50, "n": list(range(50)), "rate": [0.25] * 50})
    table = seismo.Table(data, title="<b>rates</b>")
    page = table._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;rates&lt;/b&gt;" in page
    assert page.count("<tr>") == 21 and "20 of 50 rows shown" in page  # header + 20 rows
    assert repr(table) == "<Table '<b>rates</b>': 50 rows × 3 columns (segment, n, rate)>"
    assert len(table.to_pandas()) == len(table) == 50 and table.to_arrow() is data
    with pytest.raises(TypeError, match=r"pyarrow\.Table"):
        seismo.Table(data.to_pandas())


def test_to_polars_converts_and_says_when_polars_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polars = pytest.importorskip("polars")
    table = seismo.Table(pa.table({"segment": ["25-34", "55+"], "n": [3, 4]}))
    frame = table.to_polars()
    assert isinstance(frame, polars.DataFrame) and frame.height == 2
    assert frame.columns == ["segment", "n"]
    monkeypatch.setitem(sys.modules, "polars", None)  # as if it were not installed
    with pytest.raises(ImportError, match="needs the polars package"):
        table.to_polars()


def test_importing_seismo_leaves_the_api_for_first_use() -> None:
    code = (
        "import sys, seismo; heavy = ('seismo.api', 'seismo.results', 'seismo.present.web');"
        " print(sorted(m for m in heavy if m in sys.modules)); seismo.check;"
        " print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['seismo.api', 'seismo.results']"]
