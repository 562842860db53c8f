"""Honest replays: ``seismo check --as-of T`` prints what was firing at T, whatever came later.

The command test runs the real check on the seed scenario (a DuckDB copy of the
session's seed store) through the CLI in-process; the library tests build
findings by hand and run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alert_findings import DAY, T0, YOUNG, finding
from conftest import copy_of
from typer.testing import CliRunner

from seismo.alerts import acknowledge, alert_id, found_alerts, list_alerts, replay_note, sync
from seismo.cli import app
from seismo.store import Store

runner = CliRunner(env={"COLUMNS": "250"})
CTR = "click_through_rate"
NOT_CHANGED = "stored alerts were not changed; a check as of 2026-06-05 00:00 UTC is newer"


def check(store: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", "--store", store, *args])
    return result.exit_code, result.stdout, result.stderr


def stored(store: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["alerts", "--store", store, "--state", "all", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    items: list[dict[str, Any]] = json.loads(result.stdout)
    return items


def test_check_as_of_an_earlier_day_prints_that_day_and_leaves_the_store_alone(
    seed_store_file: Path, tmp_path: Path
) -> None:
    store = copy_of(seed_store_file, tmp_path)
    code, out, err = check(store, "--as-of", "2026-06-02T23:00", "--format", "json")
    assert code == 1, err  # history in time order: 2 June first
    said_then = json.loads(out)
    assert said_then and not any(r["replay"] for r in said_then) and "replay" not in err
    code, out, err = check(store, "--as-of", "2026-06-04", "--format", "json")
    assert code == 1, err
    young = next(r for r in json.loads(out) if r["segment"] == YOUNG and r["metric"] == CTR)
    assert (young["severity"], young["first_seen"]) == ("critical", "2026-06-02T23:00:00Z")
    before = stored(store)

    code, out, err = check(store, "--as-of", "2026-06-02T23:00", "--format", "json")
    assert code == 1  # the 55+ exposure gap was critical and firing on 2 June
    assert f"replay as of 2026-06-02 23:00 UTC: {NOT_CHANGED}" in err
    records = json.loads(out)
    assert all(r["replay"] for r in records)
    # Word for word what the check said on 2 June (the 25-34 drop a warning then, with
    # that day's figures), not what 4 June stored (critical, other figures) ...
    assert [r | {"replay": False} for r in records] == said_then
    replayed = next(r for r in records if r["segment"] == YOUNG and r["metric"] == CTR)
    assert replayed["severity"] == "warning" and replayed["n_current"] != young["n_current"]
    assert replayed["first_seen"] == replayed["last_seen"] == "2026-06-02T23:00:00Z"
    assert stored(store) == before  # ... and the store is as 4 June left it

    for a in before:
        assert runner.invoke(app, ["alerts", "ack", a["id"], "--by", "max", "--store", store])
    acked = stored(store)
    code, out, err = check(store, "--as-of", "2026-06-03")
    # What fired on 3 June and was stored by then is being handled; the click
    # calibration of 25-34, first stored by the 4 June check, was not known then.
    assert code == 1, out
    assert f"replay as of 2026-06-04 00:00 UTC: {NOT_CHANGED}" in out
    listed = [line for line in out.splitlines() if line.startswith(("CRITICAL", "WARNING"))]
    assert f"{len(listed)} alert(s) need attention" in out and len(listed) >= 3
    # Handled exactly when the store knew the alert by then (first seen by the 2 June check).
    known_then = {a["id"] for a in acked if a["first_seen"] <= "2026-06-03T00:00:00Z"}
    for line in listed:
        assert ("(acknowledged)" in line) == (line.split()[1] in known_then), line
    assert any("Click predicted / observed rate" in line for line in listed)
    assert out.count("(acknowledged)") >= 2
    assert stored(store) == acked


def test_replayed_alerts_take_only_what_the_store_knows_of_that_time(store: Store) -> None:
    engine = store.engine
    sync(engine, [finding()], as_of=T0)
    sync(engine, [finding(severity="critical", current=0.12)], as_of=T0 + 2 * DAY)
    young = acknowledge(engine, alert_id(finding().key), by="max", at=T0 + 2 * DAY)
    wider = finding(segment=None)
    sync(engine, [finding(severity="critical"), wider], as_of=T0 + 3 * DAY)
    before = list_alerts(engine)

    findings = [finding(current=0.14), wider]
    result = sync(engine, findings, as_of=T0 + DAY)
    assert result.stale_kinds == ("quality",) and not result.active and not result.queued
    assert result.newer_as_of == T0 + 3 * DAY
    assert "stored alerts were not changed" in (replay_note(result) or "")
    shown = found_alerts(engine, findings, result)
    assert list_alerts(engine) == before
    assert [a.segment for a in shown] == [None, YOUNG]
    everyone, again = shown
    # Open since T0 and acknowledged: the store's life of the alert applies as of T0 + 1 day.
    assert (again.id, again.state, again.first_seen) == (young.id, "acknowledged", T0)
    assert (again.acknowledged_by, again.severity, again.current) == ("max", "warning", 0.14)
    assert again.last_seen == T0 + DAY
    # First stored at T0 + 3 days: as of T0 + 1 day the store knows nothing earlier of it.
    assert (everyone.state, everyone.first_seen, everyone.episodes) == ("firing", T0 + DAY, 1)


def test_a_check_in_time_order_prints_the_stored_alerts(store: Store) -> None:
    result = sync(store.engine, [finding()], as_of=T0)
    assert replay_note(result) is None
    assert found_alerts(store.engine, [finding()], result) == list_alerts(store.engine)
