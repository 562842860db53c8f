"""The command line, run in-process as a user would type it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from flat_rows import valid_flat, with_value
from typer.testing import CliRunner

from seismo.cli import app

runner = CliRunner()
README = (Path(__file__).parent.parent / "README.md").read_text()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_every_command_has_help() -> None:
    code, out, _ = run("--help")
    assert code == 0
    commands = {c.name or c.callback.__name__: c.callback for c in app.registered_commands}
    assert {"ingest", "status", "simulate", "demo"} <= set(commands)
    for name, callback in commands.items():
        code, out, _ = run(name, "--help")
        assert code == 0 and "Usage" in out
        assert (callback.__doc__ or "").strip(), name
        assert name in README, f"command {name} is not in README.md"


def test_simulate_ingest_status_round(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    code, out, err = run(
        "simulate", "--out", str(tmp_path / "data"), "--days", "5", "--per-day", "200"
    )
    assert code == 0, err
    export = tmp_path / "data" / "production-recommendations-sample.csv"
    assert export.exists() and (tmp_path / "data" / "training-reference.csv").exists()

    code, out, err = run("ingest", str(export), "--store", store, "--format", "json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["predictions_added"] == row["rows"] > 900

    code, out, _ = run("ingest", str(export), "--store", store, "--format", "json")
    assert json.loads(out)[0]["note"] == "already ingested"

    code, out, _ = run("status", "--store", store, "--format", "json")
    rows = json.loads(out)
    daily = [r for r in rows if r["table"] == "daily"]
    assert len(daily) == 5 and sum(r["predictions"] for r in daily) == row["rows"]
    click = next(r for r in rows if r["table"] == "completeness" and r["outcome_type"] == "click")
    assert 0.15 < click["confirmed_rate"] < 0.35

    code, out, _ = run("status", "--store", store, "--as-of", "2026-05-13", "--format", "json")
    daily_then = [r for r in json.loads(out) if r["table"] == "daily"]
    assert [r["day"][:10] for r in daily_then] == ["2026-05-12", "2026-05-13"]

    code, out, _ = run("status", "--store", store)
    assert code == 0 and "Outcome completeness" in out


def test_ingest_keeps_the_metric_state_current(tmp_path: Path) -> None:
    """An ingest folds its batch into the metric state: the next check only evaluates it."""
    from seismo.metrics.compute import update_state
    from seismo.store import open_store

    store = str(tmp_path / "s.duckdb")
    data = tmp_path / "data"
    run("simulate", "--out", str(data), "--days", "4", "--per-day", "150")
    code, _, err = run(
        "ingest", str(data / "production-recommendations-sample.csv"), "--store", store
    )
    assert code == 0, err
    with open_store(store) as s:
        assert update_state(s) == [], "the state was left behind the ingest"
    # Late outcomes for the served days: the ingest recomputes exactly those days.
    code, _, err = run("ingest", str(data / "final-outcomes.csv"), "--store", store)
    assert code == 0, err
    with open_store(store) as s:
        assert update_state(s) == []
        n = s.engine.query(
            "SELECT SUM(n) FROM metric_cohorts"
            " WHERE pass_key = 'click|' AND kind <> 'pop' AND attribute = '*'"
        )
        stored = s.engine.query("SELECT COUNT(*) FROM outcomes WHERE outcome_type = 'click'")
        assert n == stored


def test_bad_input_exits_2_and_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pacsv.write_csv(with_value(valid_flat(), 6, "price_eur", "cheap"), path)
    code, out, err = run(
        "ingest", str(path), "--store", str(tmp_path / "s.duckdb"), "--format", "json"
    )
    assert code == 2
    assert "row 6 (line 7), column 'price_eur': expected a number (value 'cheap')" in " ".join(
        err.split()
    )
    assert json.loads(out)[0]["note"] == "rejected, nothing written"


def test_option_mapping_for_an_arbitrary_model(tmp_path: Path) -> None:
    """A regressor's predictions and late actuals, mapped with options only."""
    preds = tmp_path / "forecasts.csv"
    preds.write_text(
        "forecast_id,made_at,store,predicted_units,version\n"
        "f1,2026-03-01T06:00:00Z,berlin,120.5,v7\n"
        "f2,2026-03-01T06:00:00Z,hamburg,80,v7\n"
    )
    actuals = tmp_path / "actuals.csv"
    actuals.write_text("forecast_id,known_at,units\nf1,2026-03-02T00:00:00Z,131\n")
    store = str(tmp_path / "s.duckdb")
    common = ["--store", store, "--model-name", "demand", "--outcome-type", "units:value:2d"]
    code, _, err = run(
        "ingest",
        str(preds),
        *common,
        "--id",
        "forecast_id",
        "--timestamp",
        "made_at",
        "--score",
        "predicted_units",
        "--model-version-column",
        "version",
        "--segment",
        "store",
    )
    assert code == 0, err
    code, out, err = run(
        "ingest",
        str(actuals),
        *common,
        "--outcome-id",
        "forecast_id",
        "--outcome-timestamp",
        "known_at",
        "--outcome-value",
        "units",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)[0]["outcomes_added"] == 1


@pytest.mark.parametrize("fmt", ["xml", "yaml"])
def test_unknown_format_is_a_usage_error(tmp_path: Path, fmt: str) -> None:
    code, _, err = run("status", "--store", str(tmp_path / "s.duckdb"), "--format", fmt)
    assert code == 2 and "--format" in err
