"""Alerts: life cycle in the store, grouping, routing to real servers, and the command.

The store tests take the ``store`` fixture, so they run on DuckDB and on
PostgreSQL. Webhooks are real HTTP servers on 127.0.0.1 started by the test;
the log route writes a real file. Findings are built directly, as a detector
would return them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from alert_findings import DAY, T0, XSS, YOUNG, finding
from typer.testing import CliRunner

from seismo.alerts import (
    AlertStateError,
    LogRoute,
    Route,
    SlackRoute,
    SyncResult,
    UnknownAlertError,
    WebhookRoute,
    acknowledge,
    alert_id,
    build_notifications,
    get_alert,
    list_alerts,
    load_routes,
    notify,
    silence,
    sync,
)
from seismo.alerts.command import alerts_app
from seismo.errors import ConfigError
from seismo.store import Engine, Store, open_store


def only(alerts: list[Any] | tuple[Any, ...]) -> Any:
    assert len(alerts) == 1, alerts
    return alerts[0]


# -- life cycle (DuckDB and PostgreSQL) ----------------------------------------


def test_a_new_finding_raises_a_firing_alert_with_every_field(store: Store) -> None:
    f = finding(evidence={"psi": float("nan"), "bins": (1, 2)})
    result = sync(store.engine, [f], as_of=T0)
    alert = only(result.new)
    assert alert.id == alert_id(f.key) and len(alert.id) == 12
    stored = only(list_alerts(store.engine))
    assert stored == alert
    assert stored.state == "firing" and stored.severity == "warning"
    assert stored.first_seen == stored.last_seen == T0 and stored.episodes == 1
    assert stored.segment == YOUNG and stored.root is None and stored.group == f.group
    assert (stored.baseline, stored.current, stored.current_low) == (0.28, 0.15, f.current_low)
    assert stored.since == datetime(2026, 5, 21) and stored.window_end == T0
    assert (stored.test, stored.adjusted_p, stored.n_current) == ("two-proportion z", 1e-11, 3000)
    assert stored.evidence == {"psi": None, "bins": [1, 2]}  # strict JSON: NaN is null
    assert stored.message == f.message and stored.action == f.action


def test_a_repeat_updates_the_same_alert_and_tells_nobody(store: Store, tmp_path: Path) -> None:
    log = LogRoute(path=tmp_path / "alerts.jsonl")
    first = sync(store.engine, [finding()], as_of=T0)
    assert len(notify(store.engine, [log])) == 1
    again = sync(store.engine, [finding(current=0.14)], as_of=T0 + DAY)
    assert not again.new and only(again.updated).id == only(first.new).id
    assert notify(store.engine, [log]) == [] and again.to_notify == () and again.queued == ()
    alert = only(list_alerts(store.engine))
    assert (alert.first_seen, alert.last_seen, alert.current) == (T0, T0 + DAY, 0.14)
    assert len(log.path.read_text().splitlines()) == 1


def test_rerunning_a_check_changes_nothing(store: Store) -> None:
    findings = [finding(), finding(segment=None, severity="critical")]
    sync(store.engine, findings, as_of=T0)
    before = list_alerts(store.engine)
    again = sync(store.engine, findings, as_of=T0)
    assert len(again.updated) == 2 and not again.changed
    assert list_alerts(store.engine) == before


def test_escalation_notifies_and_severity_does_not_drop_within_an_episode(
    store: Store, tmp_path: Path
) -> None:
    log = LogRoute(path=tmp_path / "alerts.jsonl")
    sync(store.engine, [finding()], as_of=T0)
    notify(store.engine, [log])
    log.path.unlink()
    up = sync(store.engine, [finding(severity="critical")], as_of=T0 + DAY)
    assert only(up.escalated).severity == "critical"
    [delivery] = notify(store.engine, [log])
    assert delivery.ok and delivery.severity == "critical"
    assert json.loads(log.path.read_text())["reason"] == "escalated"
    calmer = sync(store.engine, [finding(severity="warning")], as_of=T0 + 2 * DAY)
    assert only(calmer.updated).severity == "critical" and not calmer.to_notify


def test_gone_resolves_and_back_reopens_the_same_alert(store: Store) -> None:
    first = only(sync(store.engine, [finding()], as_of=T0).new)
    gone = sync(store.engine, [], as_of=T0 + DAY)
    resolved = only(gone.resolved)
    assert (resolved.state, resolved.resolved_at) == ("resolved", T0 + DAY)
    assert list_alerts(store.engine, states=["firing", "acknowledged"]) == []
    back = sync(store.engine, [finding()], as_of=T0 + 3 * DAY)
    reopened = only(back.reopened)
    assert reopened.id == first.id and reopened.state == "firing"
    assert (reopened.episodes, reopened.first_seen, reopened.resolved_at) == (2, T0 + 3 * DAY, None)
    assert only(build_notifications(back)).reason == "reopened"
    assert len(list_alerts(store.engine, states=None)) == 1


def test_only_the_checked_kinds_resolve(store: Store) -> None:
    drift = finding(kind="drift", metric="price_eur")
    sync(store.engine, [finding(), drift], as_of=T0)
    result = sync(store.engine, [], as_of=T0 + DAY, kinds={"drift"})
    assert only(result.resolved).kind == "drift"
    assert only(list_alerts(store.engine, states=["firing"])).kind == "quality"
    with pytest.raises(ValueError, match="outside kinds"):
        sync(store.engine, [finding()], as_of=T0 + DAY, kinds={"drift"})


def test_acknowledged_stays_acknowledged_while_the_condition_lasts(store: Store) -> None:
    alert = only(sync(store.engine, [finding()], as_of=T0).new)
    acked = acknowledge(store.engine, alert.id[:6], by="max", at=T0 + timedelta(hours=1))
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "max")
    assert acked.acknowledged_at == T0 + timedelta(hours=1)
    repeat = sync(store.engine, [finding()], as_of=T0 + DAY)
    assert only(repeat.updated).state == "acknowledged" and not repeat.to_notify
    worse = sync(store.engine, [finding(severity="critical")], as_of=T0 + 2 * DAY)
    assert only(worse.escalated).state == "acknowledged"
    assert only(worse.to_notify).id == alert.id  # a critical turn is told even when handled
    sync(store.engine, [], as_of=T0 + 3 * DAY)
    with pytest.raises(AlertStateError, match="resolved"):
        acknowledge(store.engine, alert.id, by="max", at=T0 + 3 * DAY)
    back = only(sync(store.engine, [finding()], as_of=T0 + 4 * DAY).reopened)
    assert back.state == "firing" and back.acknowledged_by is None  # a new episode


def test_unknown_or_ambiguous_ids_are_clear_errors(store: Store) -> None:
    sync(store.engine, [finding()], as_of=T0)
    with pytest.raises(UnknownAlertError, match="no alert with id 'ffffffffffff'"):
        get_alert(store.engine, "ffffffffffff")
    with pytest.raises(UnknownAlertError):
        silence(store.engine, "nope", until=T0 + DAY, at=T0)
    assert isinstance(UnknownAlertError("x"), ConfigError)


def test_silence_holds_notifications_back_until_it_ends(store: Store, tmp_path: Path) -> None:
    log = LogRoute(path=tmp_path / "alerts.jsonl")
    alert = only(sync(store.engine, [finding()], as_of=T0).new)
    assert only(notify(store.engine, [log])).ok  # the new alert, told before the silence
    log.path.unlink()
    silence(store.engine, alert.id, until=T0 + 2 * DAY + timedelta(hours=1), at=T0)
    muted = sync(store.engine, [finding(severity="critical")], as_of=T0 + DAY)
    assert only(muted.escalated).severity == "critical"  # the alert still updates
    assert only(muted.silenced).id == alert.id and muted.queued == ()
    assert notify(store.engine, [log]) == []
    sync(store.engine, [finding(severity="critical")], as_of=T0 + 2 * DAY)
    assert notify(store.engine, [log]) == []
    ended = sync(store.engine, [finding(severity="critical")], as_of=T0 + 3 * DAY)
    assert only(ended.resumed).id == alert.id
    assert only(notify(store.engine, [log])).ok
    told = json.loads(log.path.read_text())
    assert (told["reason"], told["severity"]) == ("resumed", "critical")
    after = sync(store.engine, [finding(severity="critical")], as_of=T0 + 4 * DAY)
    assert not after.to_notify  # told once, not on every check after the silence


def test_a_silence_ending_at_once_lifts_it_and_cannot_end_before_it_starts(store: Store) -> None:
    alert = only(sync(store.engine, [finding()], as_of=T0).new)
    silence(store.engine, alert.id, until=T0 + 7 * DAY, at=T0)
    lifted = silence(store.engine, alert.id, until=T0 + DAY, at=T0 + DAY)
    assert not lifted.silenced_at(T0 + DAY)
    with pytest.raises(ConfigError, match="before it starts"):
        silence(store.engine, alert.id, until=T0, at=T0 + DAY)


def test_related_segments_make_one_notification(store: Store, tmp_path: Path) -> None:
    segments = [
        {"age_group": "25-34", "device": "mobile"},
        YOUNG,
        {"age_group": "25-34", "customer_type": "returning"},
    ]
    findings = [finding(segment=s, root=YOUNG) for s in segments]
    assert len({f.group for f in findings}) == 1 and len({f.key for f in findings}) == 3
    result = sync(store.engine, findings, as_of=T0)
    assert len(result.new) == 3
    log = LogRoute(path=tmp_path / "alerts.jsonl")
    [delivery] = notify(store.engine, [log])
    assert len(delivery.alert_ids) == 3
    note = only(build_notifications(result))
    assert note.lead.segment == YOUNG and note.lead.is_root
    assert "and 2 related segments" in note.text()
    assert "age group 25-34 and device mobile" in note.text()
    assert f"Details: seismo alerts show {note.lead.id}" in note.text()
    sent = json.loads(log.path.read_text())
    assert sent["alert"]["segment"] == YOUNG and len(sent["related"]) == 2
    # A further related segment later: one more notification for the group, led by its root.
    more = [*findings, finding(segment={"age_group": "25-34", "region": "north"}, root=YOUNG)]
    later = only(build_notifications(sync(store.engine, more, as_of=T0 + DAY)))
    assert later.reason == "related" and later.lead.segment == YOUNG
    assert len(later.related) == 3 and len(later.changes) == 1


def test_older_checks_do_not_rewrite_newer_ones(store: Store) -> None:
    alert = only(sync(store.engine, [finding(current=0.15)], as_of=T0 + 2 * DAY).new)
    late = sync(
        store.engine,
        [finding(current=0.20), finding(segment=None)],
        as_of=T0 + DAY,
    )
    assert late.stale_kinds == ("quality",) and not late.active and not late.resolved
    [kept] = list_alerts(store.engine)
    assert (kept.id, kept.last_seen, kept.current) == (alert.id, T0 + 2 * DAY, 0.15)
    empty = sync(store.engine, [], as_of=T0)  # an old check without the finding resolves nothing
    assert empty.stale_kinds == ("quality",) and not empty.resolved
    newer = sync(store.engine, [finding(current=0.13)], as_of=T0 + 3 * DAY)
    assert newer.stale_kinds == () and only(newer.updated).last_seen == T0 + 3 * DAY


def test_as_of_with_a_zone_is_stored_in_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    alert = only(sync(store.engine, [finding()], as_of=datetime(2026, 6, 1, 8, tzinfo=paris)).new)
    assert alert.first_seen == T0 and get_alert(store.engine, alert.id).first_seen == T0


def test_replaying_the_same_checks_gives_the_same_alerts_in_any_store(
    store: Store, tmp_path: Path
) -> None:
    checks = [
        (T0, [finding(), finding(segment=None, severity="critical")]),
        (T0 + DAY, [finding(severity="critical")]),
        (T0 + 2 * DAY, []),
        (T0 + 3 * DAY, [finding(segment={"region": XSS})]),
    ]
    with open_store(str(tmp_path / "other.duckdb")) as other:
        for engine in (store.engine, other.engine):
            for moment, findings in checks:
                sync(engine, findings, as_of=moment)
                sync(engine, findings, as_of=moment)  # a re-run duplicates nothing
        mine = [a.to_record() for a in list_alerts(store.engine)]
        theirs = [a.to_record() for a in list_alerts(other.engine)]
    assert mine == theirs and len(mine) == 3
    assert {r["id"] for r in mine} == {alert_id(f.key) for _, fs in checks for f in fs}


# -- routing: real servers, a real file ----------------------------------------


@dataclass
class Hooks:
    """What the test server received, per path."""

    url: str = ""
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """An HTTP server: ``/fail`` answers 500, ``/hang`` never answers, anything else 200."""
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received[self.path].append(json.loads(body))
            if self.path == "/hang":
                state.release.wait(10)
                return
            if self.path == "/moved":  # a POST redirected: following it would lose the body
                self.send_response(302)
                self.send_header("Location", "/json")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/drip":  # answers, one byte at a time, forever
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 200:
                    if state.release.wait(0.1):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                return
            status = 500 if self.path == "/fail" else 200
            reply = b"server exploded" if status == 500 else b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Engine]:
    with open_store(str(tmp_path / "routing.duckdb")) as handle:
        yield handle.engine


def two_groups(engine: Engine) -> SyncResult:
    """One critical aggregate alert and a warning for a segment whose value is hostile."""
    findings = [finding(segment=None, severity="critical"), finding(segment={"region": XSS})]
    return sync(engine, findings, as_of=T0)


def test_webhooks_refuse_redirects_and_dripping_answers(duck: Engine, hooks: Hooks) -> None:
    routes: list[Route] = [
        WebhookRoute(url=f"{hooks.url}/moved", name="moved"),
        WebhookRoute(url=f"{hooks.url}/drip", name="drip", timeout=0.5),
    ]
    sync(duck, [finding(segment=None, severity="critical")], as_of=T0)
    started = time.monotonic()
    moved, drip = notify(duck, routes)
    assert time.monotonic() - started < 3  # one deadline for the whole answer, not per read
    assert not moved.ok and moved.status == 302 and "not followed" in (moved.error or "")
    assert "/json" not in hooks.received  # the POST was not turned into anything else
    assert not drip.ok and drip.error == "no answer within 0.5 s"


def test_webhooks_log_and_failures_are_each_reported(
    duck: Engine, hooks: Hooks, tmp_path: Path
) -> None:
    routes: list[Route] = [
        LogRoute(path=tmp_path / "log" / "alerts.jsonl"),
        WebhookRoute(url=f"{hooks.url}/json", runbook="https://runbooks.example.com/ml"),
        SlackRoute(url=f"{hooks.url}/slack"),
        WebhookRoute(url=f"{hooks.url}/fail", name="broken"),
        WebhookRoute(url=f"{hooks.url}/hang", name="silent", timeout=0.3),
    ]
    two_groups(duck)
    started = time.monotonic()
    deliveries = notify(duck, routes, runbook_base="https://wiki.example.com/rb")
    assert time.monotonic() - started < 3  # the silent hook is given up on, not waited for
    assert [(d.route, d.severity) for d in deliveries] == [
        (r.name, s) for s in ("critical", "warning") for r in routes
    ]
    by_route = defaultdict(list)
    for d in deliveries:
        by_route[d.route].append(d)
    for name in ("log", "webhook", "slack"):
        assert all(d.ok and d.error is None for d in by_route[name]), by_route[name]
    assert [d.status for d in by_route["webhook"]] == [200, 200]
    assert all(d.status == 500 and not d.ok for d in by_route["broken"])
    assert "HTTP 500" in (by_route["broken"][0].error or "")
    assert "server exploded" in (by_route["broken"][0].error or "")
    first, second = by_route["silent"]
    assert not first.ok and first.error == "no answer within 0.3 s"
    assert not second.ok and (second.error or "").startswith("not attempted: silent did not")
    assert len(hooks.received["/hang"]) == 1 and len(hooks.received["/fail"]) == 2

    [critical, warning] = hooks.received["/json"]
    assert critical["severity"] == "critical" and critical["alert"]["segment"] is None
    assert warning["alert"]["segment"] == {"region": XSS}  # user data, exactly, as JSON
    assert critical["runbook_url"] == "https://runbooks.example.com/ml/quality/click_through_rate"
    assert critical["what_to_do"].startswith("Check what the model recommends")
    lines = (tmp_path / "log" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["alert"]["segment"] for x in lines] == [None, {"region": XSS}]
    assert json.loads(lines[0])["runbook_url"].startswith("https://wiki.example.com/rb/")


def test_slack_messages_carry_the_six_answers_and_escape_user_data(
    duck: Engine, hooks: Hooks
) -> None:
    route = SlackRoute(url=f"{hooks.url}/slack", runbook="https://runbooks.example.com/ml")
    two_groups(duck)
    assert all(d.ok for d in notify(duck, [route]))
    critical, warning = hooks.received["/slack"]
    assert set(critical) == {"text", "blocks"}
    assert {b["type"] for b in critical["blocks"]} <= {"section", "context"}
    shown = json.dumps(critical, ensure_ascii=False)
    for words in (
        "CRITICAL",
        "click on recommendations much less",  # what changed, in business words
        "28.0% [27.0%, 29.0%] → 15.0% [14.0%, 16.0%]",  # by how much
        "all customers",  # for whom
        "2026-05-21",  # since when
        "two-proportion z, adjusted p = 1e-11",  # how sure
        "What to do:",
        "<https://runbooks.example.com/ml/quality/click_through_rate|Runbook>",
    ):
        assert words in shown, words
    text = json.dumps(warning)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_min_severity_keeps_warnings_off_a_route(duck: Engine, hooks: Hooks) -> None:
    pager = WebhookRoute(url=f"{hooks.url}/pager", min_severity="critical")
    two_groups(duck)
    [delivery] = notify(duck, [pager])
    assert delivery.severity == "critical" and len(hooks.received["/pager"]) == 1


def test_routes_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.slack.example/services/T/B/secret")
    config = tmp_path / "conf" / "seismo.toml"
    config.parent.mkdir()
    config.write_text(
        """
[metrics.other]
outcome = "click"

[alerts]
runbook = "https://wiki.example.com/rb"
timeout = "2s"

[[alerts.routes]]
type = "log"
path = "alerts.jsonl"

[[alerts.routes]]
type = "webhook"
url = "https://ops.example.com/hooks/seismo"
min_severity = "critical"
timeout = 0.5

[[alerts.routes]]
type = "slack"
url_env = "TEST_SLACK_URL"
name = "merchandising"
runbook = "https://wiki.example.com/merch"
"""
    )
    log, hook, slack = load_routes(config)
    assert isinstance(log, LogRoute) and log.path == config.parent / "alerts.jsonl"
    assert log.runbook == "https://wiki.example.com/rb"
    assert isinstance(hook, WebhookRoute) and not isinstance(hook, SlackRoute)
    assert (hook.name, hook.min_severity, hook.timeout) == (
        "webhook:ops.example.com",
        "critical",
        0.5,
    )
    assert isinstance(slack, SlackRoute) and slack.name == "merchandising"
    assert slack.timeout == 2.0 and slack.runbook == "https://wiki.example.com/merch"
    assert "secret" not in slack.name
    assert load_routes({}) == []


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"type": "email"}, "type must be log, webhook, slack or alertmanager"),
        ({"type": "webhook"}, "`url` (or `url_env`) is required"),
        ({"type": "slack", "url": "file:///etc/passwd"}, "must be http"),
        ({"type": "slack", "url_env": "SEISMO_NOT_SET_ANYWHERE"}, "is not set"),
        ({"type": "log"}, "`path` is required"),
        ({"type": "log", "path": "a", "min_severity": "info"}, "min_severity"),
        ({"type": "log", "path": "a", "colour": "red"}, "unknown key"),
        ({"type": "webhook", "url": "http://h/x", "timeout": "soon"}, "timeout"),
        ({"type": "log", "path": "a", "runbook": "ask Max"}, "runbook must be an http(s) URL"),
    ],
)
def test_bad_routes_are_rejected_with_a_reason(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"alerts\.routes #1") as caught:
        load_routes({"alerts": {"routes": [route]}})
    assert message in str(caught.value)


def test_two_routes_with_one_name_are_rejected() -> None:
    twice = {"type": "log", "path": "a.jsonl"}
    with pytest.raises(ConfigError, match="distinct names"):
        load_routes({"alerts": {"routes": [twice, twice]}})


# -- the command ---------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "250"})


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(alerts_app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def filled(tmp_path: Path) -> str:
    path = str(tmp_path / "cli.duckdb")
    with open_store(path) as handle:
        sync(
            handle.engine,
            [finding(), finding(segment=None, severity="critical"), finding(metric="gone")],
            as_of=T0,
        )
        sync(handle.engine, [finding(), finding(segment=None, severity="critical")], as_of=T0 + DAY)
    return path


def test_alerts_json_has_the_documented_fields(filled: str) -> None:
    code, out, err = run("--store", filled, "--format", "json")
    assert code == 0, err
    items = json.loads(out)
    assert [i["severity"] for i in items] == ["critical", "warning"]  # most pressing first
    for item in items:
        assert {"id", "severity", "state", "metric", "segment", "first_seen", "baseline"} <= set(
            item
        )
        assert {"current", "message", "last_seen", "adjusted_p", "test", "action"} <= set(item)
        assert item["state"] == "firing" and item["first_seen"] == "2026-06-01T06:00:00Z"
    assert [i["segment"] for i in items] == [None, YOUNG]
    code, out, _ = run("--store", filled, "--format", "json", "--state", "all")
    assert len(json.loads(out)) == 3
    code, out, _ = run("--store", filled, "--format", "json", "--state", "resolved")
    assert [i["metric"] for i in json.loads(out)] == ["gone"]


def test_alerts_table_and_csv(filled: str) -> None:
    code, out, err = run("--store", filled)
    assert code == 0, err
    assert "Click-through rate: 28.0%" in out and "all customers" in out
    assert "age group 25-34" in out and "2026-05-21" in out
    code, out, _ = run("--store", filled, "--format", "csv")
    header, *rows = out.strip().splitlines()
    assert header.startswith("id,severity,state") and len(rows) == 2
    code, out, _ = run("--store", filled, "--state", "resolved", "--format", "table")
    assert code == 0 and "resolved 2026-06-02" in out


def test_ack_silence_and_show_from_the_command_line(filled: str) -> None:
    young = alert_id(finding().key)
    code, out, err = run("ack", young[:6], "--by", "max", "--store", filled)
    assert code == 0, err
    assert "acknowledged by max" in out
    code, out, _ = run("--store", filled)
    assert "acknowledged by max" in out
    code, out, err = run("--store", filled, "silence", young, "--for", "7d", "--format", "json")
    assert code == 0, err
    until = datetime.fromisoformat(json.loads(out)[0]["silenced_until"].rstrip("Z"))
    expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=7)
    assert abs((until - expected).total_seconds()) < 60
    code, out, _ = run("--store", filled)
    assert "silenced until" in out
    code, out, _ = run("show", young, "--store", filled)
    assert code == 0 and "two-proportion z" in out and "adjusted_p" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ack", "ffffffffffff"), "no alert with id"),
        (("silence", "ffffffffffff", "--for", "1d"), "no alert with id"),
        (("silence", "{young}", "--for", "soon"), "cannot read duration"),
        (("ack", "{gone}"), "is resolved"),
        (("--state", "sleeping"), "--state must be"),
        (("--format", "xml"), "--format must be"),
    ],
)
def test_command_errors_exit_2_with_a_clear_message(
    filled: str, args: tuple[str, ...], message: str
) -> None:
    ids = {"young": alert_id(finding().key), "gone": alert_id(finding(metric="gone").key)}
    code, out, err = run("--store", filled, *(a.format(**ids) for a in args))
    assert code == 2
    assert message in " ".join((out + err).split())


def test_the_sub_app_works_once_registered_under_seismo(filled: str) -> None:
    import typer

    main = typer.Typer()

    @main.command()
    def other() -> None:
        """Another command, so the parent is a group as seismo's is."""

    main.add_typer(alerts_app, name="alerts")
    result = runner.invoke(main, ["alerts", "--store", filled, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2
    result = runner.invoke(main, ["alerts", "ack", "ffff", "--store", filled])
    assert result.exit_code == 2 and "no alert with id" in result.stderr


def test_listing_by_state(store: Store) -> None:
    sync(store.engine, [finding()], as_of=T0)
    assert list_alerts(store.engine, states=[]) == []
    with pytest.raises(ConfigError, match="unknown alert state"):
        list_alerts(store.engine, states=["sleeping"])  # type: ignore[list-item]
    sync(store.engine, [finding()], as_of=T0)
    assert notify(store.engine, []) == []
