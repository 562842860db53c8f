"""The operations layer: figures against numpy on the same rows, both engines, and its rules.

A clean simulated month raises no operations finding over any of its hours;
the simulator's planted serving incident (latency x8 and 8 % failures for
three hours) is caught as it happens, dated from its first hour; a volume
drop and a second version taking traffic, planted by hand in the same month,
are caught too.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import seismo
from seismo.cli import app
from seismo.detect.operations import (
    OperationsRules,
    judged_since,
    load_operations_rules,
    operations_findings,
)
from seismo.errors import ConfigError
from seismo.ingest import ingest
from seismo.metrics.operations import compute_operations
from seismo.simulate import Scenario, simulate
from seismo.store import open_store

SCENARIO = Scenario(seed=2, per_day=3000, serving_incident=True)
START = SCENARIO.start.replace(tzinfo=None)
INCIDENT = START + timedelta(days=SCENARIO.incident_day, hours=SCENARIO.incident_hour)
#: The planted volume drop: 90 % of the requests of three afternoon hours are lost.
DROP = START + timedelta(days=27, hours=13)
#: A second version takes 40 % of the traffic from noon of the last day.
CANARY = START + timedelta(days=29, hours=12)


def _planted(table: pa.Table) -> pa.Table:
    ts = pc.cast(table["timestamp"], pa.timestamp("s")).to_numpy()
    ids = np.arange(table.num_rows)
    in_drop = (ts >= np.datetime64(DROP)) & (ts < np.datetime64(DROP + timedelta(hours=3)))
    keep = ~in_drop | (ids % 10 == 0)
    canary = (ts >= np.datetime64(CANARY)) & (ids % 5 < 2)
    versions = np.where(
        canary, "rec-2026.06", table["model_version"].to_numpy(zero_copy_only=False)
    )
    table = table.set_column(
        table.column_names.index("model_version"), "model_version", pa.array(versions)
    )
    return table.filter(pa.array(keep))


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pa.Table]:
    """A DuckDB store of the month with the serving incident, a volume drop and a canary."""
    sim = simulate(SCENARIO)
    export = _planted(sim.export)
    path = tmp_path_factory.mktemp("ops") / "incident.duckdb"
    with open_store(str(path)) as store:
        ingest(store, export, exported_at=sim.exported_at)
    return str(path), export


def _hour_rows(export: pa.Table, hour: datetime) -> pa.Table:
    ts = pc.cast(export["timestamp"], pa.timestamp("s")).to_numpy()
    chosen = (ts >= np.datetime64(hour)) & (ts < np.datetime64(hour + timedelta(hours=1)))
    return export.filter(pa.array(chosen))


def test_figures_match_numpy_on_the_same_rows(incident: tuple[str, pa.Table]) -> None:
    path, export = incident
    hour = INCIDENT + timedelta(hours=1)
    with open_store(path) as store:
        table = compute_operations(store, since=hour - timedelta(days=1))
    rows = [r for r in table.to_pylist() if r["window_start"] == hour and r["attribute"] is None]
    by = {(r["metric"], r["status"]): r for r in rows}
    mine = _hour_rows(export, hour)
    latency = mine["latency_ms"].to_numpy()
    for metric, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
        assert by[(metric, None)]["figure"] == pytest.approx(np.quantile(latency, q), rel=1e-9)
    status = mine["status"].to_numpy(zero_copy_only=False)
    assert by[("volume", None)]["figure"] == mine.num_rows
    assert by[("error_rate", None)]["figure"] == pytest.approx(np.mean(status != "ok"))
    assert by[("status_share", "timeout")]["figure"] == pytest.approx(np.mean(status == "timeout"))
    # the normal P95 is the median of the same hour on the 7 days before
    past = [
        np.quantile(_hour_rows(export, hour - timedelta(days=k))["latency_ms"].to_numpy(), 0.95)
        for k in range(1, 8)
    ]
    assert by[("latency_p95", None)]["expected"] == pytest.approx(np.median(past), rel=1e-9)
    # the volume's normal is the mean of the same hour of the week in the weeks before
    weeks = [_hour_rows(export, hour - timedelta(weeks=k)).num_rows for k in range(1, 4)]
    assert by[("volume", None)]["expected"] == pytest.approx(np.mean(weeks))
    assert by[("volume", None)]["history"] == 3


def test_a_clean_month_raises_no_operations_finding_in_any_hour(seed_store_file: Path) -> None:
    rules = OperationsRules(lookback_hours=30 * 24)
    with open_store(str(seed_store_file)) as store:
        table = compute_operations(store)
        cut = table["as_of"][0].as_py()
        assert operations_findings(table, store, cut=cut, rules=rules) == []
        # and the daily windows read as normal too
        days = compute_operations(store, period="day", by=["device"])
    assert {r["metric"] for r in days.to_pylist()} >= {"volume", "latency_p95", "error_rate"}


def test_the_serving_incident_is_caught_as_it_happens(incident: tuple[str, pa.Table]) -> None:
    path, _ = incident
    cut = INCIDENT + timedelta(hours=2)
    with open_store(path) as store:
        found = operations_findings(
            compute_operations(store, as_of=cut), store, cut=cut, words=store.words()
        )
    by = {f.metric: f for f in found}
    assert set(by) == {"latency_p95", "error_rate"}
    slow = by["latency_p95"]
    assert slow.severity == "critical" and slow.since == INCIDENT and slow.window_end == cut
    assert slow.current > 3 * slow.baseline and slow.p_value < 1e-6
    assert slow.segment == {"model_version": "rec-2026.04"}
    assert "P95 latency of recommendations by rec-2026.04 rose to" in slow.message
    assert "since" in slow.message and slow.evidence["ongoing"]
    failing = by["error_rate"]
    assert failing.since == INCIDENT and failing.current > 0.05
    assert failing.baseline < 0.005


def test_the_incident_is_told_as_over_and_then_forgotten(incident: tuple[str, pa.Table]) -> None:
    path, _ = incident
    after = INCIDENT + timedelta(hours=6)
    later = INCIDENT + timedelta(hours=30)
    with open_store(path) as store:
        found = operations_findings(compute_operations(store, as_of=after), store, cut=after)
        assert {f.metric for f in found} == {"latency_p95", "error_rate"}
        slow = next(f for f in found if f.metric == "latency_p95")
        assert slow.window_end == INCIDENT + timedelta(hours=3)
        assert "for 3 hours from" in slow.message and not slow.evidence["ongoing"]
        assert operations_findings(compute_operations(store, as_of=later), store, cut=later) == []


def test_a_volume_drop_and_a_canary_are_caught(incident: tuple[str, pa.Table]) -> None:
    path, _ = incident
    cut = DROP + timedelta(hours=3)
    with open_store(path) as store:
        found = operations_findings(compute_operations(store, as_of=cut), store, cut=cut)
        drop = next(f for f in found if f.metric == "volume")
        assert drop.direction == "down" and drop.severity == "critical"
        assert drop.since == DROP and drop.current < 0.2 * drop.baseline
        end = START + timedelta(days=30)
        # the table a check reads: from the week before the judged day
        since = judged_since(end, OperationsRules())
        table = compute_operations(store, as_of=end, since=since)
        found = operations_findings(table, store, cut=end)
    shares = {f.segment["model_version"]: f for f in found if f.metric == "traffic_share"}
    assert set(shares) == {"rec-2026.04", "rec-2026.06"}
    new = shares["rec-2026.06"]
    assert new.direction == "up" and new.baseline == 0.0
    assert 0.25 < new.current < 0.4  # 40 % from noon, when about 80 % of a day is served
    assert new.since == CANARY
    assert "Model version rec-2026.06 now serves" in new.message


def test_the_check_stores_and_resolves_operations_alerts(tmp_path: Path) -> None:
    small = replace(
        Scenario(seed=3, per_day=300, days=9, incident_day=8, reference_days=7).no_shift(),
        serving_incident=True,
    )
    sim = simulate(small)
    began = small.start.replace(tzinfo=None) + timedelta(days=8, hours=small.incident_hour)
    with open_store(str(tmp_path / "small.duckdb")) as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        during = seismo.check(store, as_of=began + timedelta(hours=2))
        ops = [a for a in during.alerts if a.kind == "operations"]
        assert "latency_p95" in {a.metric for a in ops}
        assert all(a.severity == "critical" for a in ops if a.metric == "latency_p95")
        later = seismo.check(store, as_of=began + timedelta(hours=30))
        assert not [a for a in later.alerts if a.kind == "operations"]
        assert not [f for f in later.findings if f.kind == "operations"]


def test_rules_come_from_the_checks_toml(tmp_path: Path) -> None:
    config = tmp_path / "seismo.toml"
    config.write_text("[operations]\nlatency = 'latency_p99'\nlatency_critical = 4.0\n")
    rules = load_operations_rules(config)
    assert rules.latency == "latency_p99" and rules.latency_critical == 4.0
    assert rules.latency_warning == 2.0
    config.write_text("[operations]\nlatency_crit = 4.0\n")
    with pytest.raises(ConfigError, match="unknown \\[operations\\] key"):
        load_operations_rules(config)
    with pytest.raises(ConfigError, match="latency_warning"):
        OperationsRules(latency_warning=4.0, latency_critical=3.0)


def test_the_command_and_the_api_give_the_same_rows(incident: tuple[str, pa.Table]) -> None:
    path, _ = incident
    since = "2026-06-09"
    result = CliRunner().invoke(
        app,
        ["operations", "--store", path, "--window", "day", "--since", since, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    with open_store(path) as store:
        table = seismo.compute_operations(store, period="day", since=datetime(2026, 6, 9))
    assert len(rows) == len(table) > 0
    assert {r["metric"] for r in rows} == set(table.to_arrow()["metric"].to_pylist())
    bad = CliRunner().invoke(app, ["operations", "--store", path, "--by", "planet"])
    assert bad.exit_code == 2 and "unknown segment attribute" in bad.output


def test_both_engines_give_the_same_figures(store: seismo.Store) -> None:
    rng = np.random.default_rng(4)
    n = 600
    served = datetime(2026, 5, 1) + np.sort(rng.integers(0, 3 * 86400, n)) * timedelta(seconds=1)
    table = pa.table(
        {
            "id": [f"x{i}" for i in range(n)],
            "at": pa.array(served, pa.timestamp("us")),
            "version": np.where(rng.random(n) < 0.3, "b", "a"),
            "region": np.where(rng.random(n) < 0.5, "north", "south"),
            "ms": np.round(rng.lognormal(3.0, 0.5, n), 1),
            "code": np.where(rng.random(n) < 0.05, "503", "200"),
            "p": rng.random(n),
        }
    )
    mapping = seismo.Mapping(
        model_name="m",
        predictions=seismo.PredictionColumns(
            id="id",
            timestamp="at",
            model_version="version",
            score="p",
            latency_ms="ms",
            status="code",
            segments=("region",),
        ),
    )
    ingest(store, table, mapping=mapping)
    ops = compute_operations(store, by=["region"]).to_pylist()
    assert {r["metric"] for r in ops} == {
        "volume",
        "traffic_share",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "error_rate",
        "status_share",
    }
    first = next(
        r
        for r in ops
        if r["metric"] == "latency_p95" and r["model_version"] == "a" and r["attribute"] is None
    )
    rows = table.filter(pc.equal(table["version"], "a")).to_pylist()
    hour = [r["ms"] for r in rows if r["at"].replace(minute=0, second=0) == first["window_start"]]
    assert first["figure"] == pytest.approx(np.quantile(hour, 0.95), rel=1e-9)
    errors = sum(
        r["n"]
        for r in ops
        if r["metric"] == "status_share"
        and r["attribute"] is None
        and r["status"] == "503"
        and r["model_version"] == "a"
    )
    assert errors == sum(1 for r in rows)  # n is the whole of each window
    failed = sum(r["events"] for r in ops if r["metric"] == "error_rate" and r["attribute"] is None)
    assert failed == int(np.sum(table["code"].to_numpy(zero_copy_only=False) == "503"))


def test_a_model_without_serving_columns_gets_volume_and_shares_only(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [f"x{i}" for i in range(50)],
            "at": pa.array([datetime(2026, 5, 1) + timedelta(minutes=37 * i) for i in range(50)]),
            "p": np.linspace(0.1, 0.9, 50),
        }
    )
    mapping = seismo.Mapping(
        model_name="m",
        model_version="v1",
        predictions=seismo.PredictionColumns(id="id", timestamp="at", score="p"),
    )
    with open_store(str(tmp_path / "bare.duckdb")) as store:
        ingest(store, table, mapping=mapping)
        ops = compute_operations(store)
        assert set(ops["metric"].to_pylist()) == {"volume", "traffic_share"}
        assert sum(r["figure"] for r in ops.to_pylist() if r["metric"] == "volume") == 50
        cut = ops["as_of"][0].as_py()
        assert operations_findings(ops, store, cut=cut) == []


def test_slow_hours_are_found_on_both_engines(store: seismo.Store) -> None:
    """The latency rule counts slow requests in the engine (a join on the hours that look slow)."""
    rng = np.random.default_rng(11)
    n = 8 * 24 * 30  # one request every two minutes for 8 days
    served = [datetime(2026, 5, 1) + timedelta(minutes=2 * i) for i in range(n)]
    ms = rng.lognormal(np.log(20.0), 0.3, n)
    ms[-90:] *= 10  # the last three hours: ten times slower
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "at": pa.array(served, pa.timestamp("us")),
            "ms": np.round(ms, 1),
            "code": ["ok"] * n,
            "p": rng.random(n),
        }
    )
    mapping = seismo.Mapping(
        model_name="m",
        model_version="v1",
        predictions=seismo.PredictionColumns(
            id="id", timestamp="at", score="p", latency_ms="ms", status="code"
        ),
    )
    ingest(store, table, mapping=mapping)
    cut = datetime(2026, 5, 9)
    found = operations_findings(compute_operations(store, as_of=cut), store, cut=cut)
    assert [(f.metric, f.severity, f.since) for f in found] == [
        ("latency_p95", "critical", cut - timedelta(hours=3))
    ]
