"""No lost notifications: the outbox, deliveries once per route, retries, expiry, concurrency.

Receivers are real HTTP servers on 127.0.0.1 (:mod:`receiver`); stores are real
(the ``store`` fixture runs each test on DuckDB and PostgreSQL). The clock is
passed to :func:`notify` so backoff and expiry are tested without waiting.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alert_findings import T0, finding
from conftest import _PG_REASON, copy_of, drop_pg_schema, pg_url_for_new_schema
from receiver import Receiver, receiving
from typer.testing import CliRunner

from seismo.alerts import (
    DeliveryPolicy,
    WebhookRoute,
    alert_id,
    build_notifications,
    delivery_status,
    list_alerts,
    load_policy,
    notify,
    read_entries,
    silence,
    sync,
)
from seismo.alerts.outbox import claim, read_attempts
from seismo.cli import app
from seismo.errors import ConfigError
from seismo.ingest import ingest
from seismo.present.web.snapshot import SnapshotCache, compute_snapshot
from seismo.simulate import Scenario, Simulation, simulate
from seismo.store import Store, open_store

W = T0 + timedelta(hours=1)  # the wall clock of the synthetic tests: just after the check
MINUTE = timedelta(minutes=1)
runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as state:
        yield state


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(Scenario(seed=2, per_day=3000))


def route(receiver: Receiver, path: str, name: str | None = None) -> WebhookRoute:
    return WebhookRoute(url=f"{receiver.url}{path}", name=name or path.strip("/"))


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_the_dashboard_keeps_its_notifications_for_the_routes(
    store: Store, sim: Simulation, receiver: Receiver
) -> None:
    ingest(store, sim.export, exported_at=sim.exported_at)
    snap = compute_snapshot(store)  # what a page view does: sync, notify nobody
    assert snap.synced and {f.segment["age_group"] for f in snap.findings if f.segment} == {
        "25-34",
        "55+",
    }
    entries = read_entries(store.engine)
    assert len(entries) == 2 and {e.reason for e in entries} == {"new"}
    assert {i for e in entries for i in e.alert_ids} == {alert_id(f.key) for f in snap.findings}
    ok, flaky = route(receiver, "/ok"), route(receiver, "/flaky")

    first = notify(store.engine, [ok, flaky])
    assert [(d.route, d.state, d.attempt, d.status) for d in first] == [
        (name, state, 1, status)
        for _ in entries
        for name, state, status in (("ok", "delivered", 200), ("flaky", "retrying", 500))
    ]
    assert sorted(receiver.ids("/ok")) == sorted(e.id for e in entries)
    assert notify(store.engine, [ok, flaky], now=_utcnow() + MINUTE) == []  # backoff: not yet
    later = notify(store.engine, [ok, flaky], now=_utcnow() + 10 * MINUTE)
    assert [(d.route, d.state, d.attempt) for d in later] == [("flaky", "delivered", 2)] * 2
    assert notify(store.engine, [ok, flaky], now=_utcnow() + timedelta(hours=2)) == []
    assert len(receiver.ids("/ok")) == 2 and len(receiver.ids("/flaky")) == 4  # none re-sent
    statuses = delivery_status(store.engine, [ok, flaky])
    assert {(s.route, s.state) for s in statuses} == {("ok", "delivered"), ("flaky", "delivered")}
    for s in statuses:
        expected = (
            [("delivered", 200)] if s.route == "ok" else [("failed", 500), ("delivered", 200)]
        )
        assert [(a.outcome, a.status) for a in s.attempts] == expected
        assert [a.attempt for a in s.attempts] == list(range(1, len(expected) + 1))


def test_check_delivers_and_retries_beside_the_served_dashboard(
    seed_store_file: Path, receiver: Receiver, tmp_path: Path
) -> None:
    store = copy_of(seed_store_file, tmp_path)
    snap = SnapshotCache(store).get()  # the served dashboard: it changes no alert
    with open_store(store) as handle:
        assert read_entries(handle.engine) == [] and list_alerts(handle.engine) == []
    config = tmp_path / "seismo.toml"
    config.write_text(
        f'[alerts]\nretry_after = "1s"\n\n[[alerts.routes]]\ntype = "webhook"\n'
        f'name = "ops"\nurl = "{receiver.url}/flaky"\n'
    )
    first = runner.invoke(app, ["check", "--store", store, "--config", str(config)])
    assert first.exit_code == 1  # critical alerts are firing
    warnings = " ".join(first.stderr.split()).split("warning: ")[1:]  # unwrapped
    assert len(warnings) == 2 and all("notification to ops failed: HTTP 500" in w for w in warnings)
    assert all("(attempt 1; retried at the first check after" in w for w in warnings)
    second = runner.invoke(app, ["check", "--store", store, "--config", str(config)])
    assert second.exit_code == 1 and "warning" not in second.stderr
    ids = receiver.ids("/flaky")
    assert len(ids) == 4 and sorted(set(ids)) == sorted(ids[:2])  # each twice: 500, then 200
    # One notification per problem: the click-through drop of 25-34 and the click
    # probabilities it leaves miscalibrated are one group, its lead and a related alert.
    assert {a["id"] for b in receiver.received["/flaky"] for a in [b["alert"], *b["related"]]} == {
        alert_id(f.key) for f in snap.findings
    }

    listed = runner.invoke(
        app, ["alerts", "deliveries", "--store", store, "--config", str(config), "--format", "json"]
    )
    assert listed.exit_code == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [(r["route"], r["state"], r["attempts"]) for r in records] == [
        ("ops", "delivered", 2)
    ] * 2
    assert [[(h["outcome"], h["status"]) for h in r["history"]] for r in records] == [
        [("failed", 500), ("delivered", 200)]
    ] * 2
    table = runner.invoke(app, ["alerts", "deliveries", "--store", store])
    assert "ops" in table.stdout and "delivered (HTTP 200)" in table.stdout
    lead = records[0]["alerts"].split(",")[0]
    shown = runner.invoke(app, ["alerts", "show", lead, "--store", store, "--format", "json"])
    assert shown.exit_code == 0, (shown.stderr, shown.exception)
    [record] = json.loads(shown.stdout)
    [delivery] = record["deliveries"]
    assert [h["attempt"] for h in delivery["history"]] == [1, 2]
    assert "HTTP 500" in delivery["history"][0]["error"]
    shown = runner.invoke(app, ["alerts", "show", lead, "--store", store])
    assert "Notifications, deliveries and attempts" in shown.stdout and "HTTP 500" in shown.stdout


def test_attempts_are_capped_then_the_delivery_is_failed(store: Store, receiver: Receiver) -> None:
    sync(store.engine, [finding()], as_of=T0, now=W)
    down = route(receiver, "/down")
    policy = DeliveryPolicy(max_attempts=3, retry_after=MINUTE)
    [one] = notify(store.engine, [down], policy=policy, now=W)
    assert (one.state, one.attempt, one.status, one.next_attempt_at) == (
        "retrying",
        1,
        500,
        W + MINUTE,
    )
    assert "HTTP 500" in (one.error or "") and "try again later" in (one.error or "")
    assert notify(store.engine, [down], policy=policy, now=W + MINUTE / 2) == []
    [two] = notify(store.engine, [down], policy=policy, now=W + MINUTE)
    assert (two.attempt, two.next_attempt_at) == (2, W + 3 * MINUTE)
    [three] = notify(store.engine, [down], policy=policy, now=W + 3 * MINUTE)
    assert (three.attempt, three.state) == (3, "failed")
    assert notify(store.engine, [down], policy=policy, now=W + timedelta(hours=1)) == []
    [status] = delivery_status(store.engine, [down], policy=policy, now=W + timedelta(hours=1))
    assert (status.state, len(status.attempts)) == ("failed", 3)
    assert len(receiver.ids("/down")) == 3


def test_a_route_added_later_gets_only_recent_entries(store: Store, receiver: Receiver) -> None:
    sync(store.engine, [finding()], as_of=T0, now=W)
    ok, late = route(receiver, "/ok"), route(receiver, "/slow", name="late")
    assert [d.route for d in notify(store.engine, [ok], now=W)] == ["ok"]
    days = W + timedelta(days=4)
    assert notify(store.engine, [ok, late], now=days) == []  # 4 days old: too late for "late"
    [status] = [s for s in delivery_status(store.engine, [ok, late], now=days) if s.route == "late"]
    assert (status.state, status.attempts) == ("expired", ())
    fresh = sync(store.engine, [finding(segment=None)], as_of=T0 + timedelta(days=4), now=days)
    sent = notify(store.engine, [ok, late], now=days)
    assert [(d.route, d.entry) for d in sent] == [
        ("ok", fresh.queued[0]),
        ("late", fresh.queued[0]),
    ]
    assert receiver.ids("/slow") == list(fresh.queued)


def test_an_entry_is_held_while_every_alert_it_tells_of_is_silenced(
    store: Store, receiver: Receiver
) -> None:
    alert = sync(store.engine, [finding()], as_of=T0, now=W).new[0]
    silence(store.engine, alert.id, until=W + timedelta(days=1), at=W)
    ok = route(receiver, "/ok")
    assert notify(store.engine, [ok], now=W + MINUTE) == []
    [status] = delivery_status(store.engine, [ok], now=W + MINUTE)
    assert (status.state, status.attempts) == ("pending", ())  # held: no attempt spent
    [sent] = notify(store.engine, [ok], now=W + timedelta(days=2))
    assert sent.ok and receiver.ids("/ok") == [sent.entry]


def test_a_claim_left_by_a_stopped_check_is_retried(store: Store, receiver: Receiver) -> None:
    result = sync(store.engine, [finding()], as_of=T0, now=W)
    ok = route(receiver, "/ok")
    assert claim(store.engine, result.queued[0], "ok", 1, at=W)  # ... and the check died
    assert not claim(store.engine, result.queued[0], "ok", 1, at=W)  # claimed once
    assert notify(store.engine, [ok], now=W + MINUTE) == []  # it may still be sending
    [status] = delivery_status(store.engine, [ok], now=W + MINUTE)
    assert status.state == "sending"
    [sent] = notify(store.engine, [ok], now=W + 20 * MINUTE)
    assert (sent.state, sent.attempt) == ("delivered", 2)
    first, second = read_attempts(store.engine)
    assert first.outcome == "failed" and "stopped" in (first.error or "")
    assert second.outcome == "delivered"


def test_the_outbox_keeps_each_notification_as_it_was(store: Store, tmp_path: Path) -> None:
    checks = [(T0, [finding(), finding(segment=None, severity="critical")])]
    checks.append((T0 + timedelta(days=1), [finding(severity="critical")]))
    results = [sync(store.engine, fs, as_of=t, now=W) for t, fs in checks]
    told = [n.payload() for r in results for n in build_notifications(r)]
    entries = read_entries(store.engine)
    assert [e.notification.payload() | {"notification_id": None} for e in entries] == told
    assert [e.reason for e in entries] == ["new", "new", "escalated"]
    assert sync(store.engine, checks[-1][1], as_of=checks[-1][0], now=W).queued == ()  # a re-run
    with open_store(str(tmp_path / "other.duckdb")) as other:
        for moment, findings in checks:
            sync(other.engine, findings, as_of=moment)
        assert [e.id for e in read_entries(other.engine)] == [e.id for e in entries]


@pytest.mark.postgres
def test_two_checks_at_once_on_postgres_deliver_each_entry_once(receiver: Receiver) -> None:
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    url, schema = pg_url_for_new_schema()
    try:
        with open_store(url) as store:
            findings = [finding(segment={"region": f"r{i}"}) for i in range(8)]
            queued = sync(store.engine, findings, as_of=T0, now=W).queued
        assert len(queued) == 8
        slow = route(receiver, "/slow")
        start = threading.Barrier(2)
        results: list[list[Any]] = []

        def one_check() -> None:
            with open_store(url) as handle:
                start.wait()
                results.append(notify(handle.engine, [slow], now=W + MINUTE))

        threads = [threading.Thread(target=one_check) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(receiver.ids("/slow")) == sorted(queued)  # each exactly once
        assert sorted(d.entry for r in results for d in r) == sorted(queued)
        with open_store(url) as store:
            attempts = read_attempts(store.engine)
        assert len(attempts) == 8 and {a.outcome for a in attempts} == {"delivered"}
    finally:
        drop_pg_schema(schema)


def test_the_retry_policy_from_toml() -> None:
    policy = load_policy(
        {"alerts": {"max_age": "2d", "max_attempts": 4, "retry_after": "30s", "retry_max": "1h"}}
    )
    assert (policy.max_age, policy.max_attempts) == (timedelta(days=2), 4)
    assert (policy.retry_after, policy.retry_max) == (timedelta(seconds=30), timedelta(hours=1))
    assert load_policy({}) == DeliveryPolicy()
    for bad, words in (
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"max_attempts": "3"}, "whole number"),
        ({"retry_after": "soon"}, "alerts.retry_after: cannot read duration"),
        ({"max_age": 0}, "max_age must be a positive duration"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_policy({"alerts": bad})


def test_the_deliveries_command_when_empty_and_on_bad_usage(tmp_path: Path) -> None:
    store = str(tmp_path / "empty.duckdb")
    empty = runner.invoke(app, ["alerts", "deliveries", "--store", store])
    assert empty.exit_code == 0 and "No notifications." in empty.stdout
    for args, words in (
        (["--state", "lost"], "--state must be among pending, sending"),
        (["--config", str(tmp_path / "missing.toml")], "cannot read alert routes"),
    ):
        bad = runner.invoke(app, ["alerts", "deliveries", "--store", store, *args])
        assert bad.exit_code == 2 and words in " ".join((bad.stdout + bad.stderr).split())
    with open_store(store) as handle, pytest.raises(ConfigError, match="distinct names"):
        notify(handle.engine, [WebhookRoute(url="http://127.0.0.1:9/a")] * 2)
