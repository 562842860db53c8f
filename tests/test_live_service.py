"""The live service: scheduled checks, ``GET /metrics`` scraped by a real Prometheus, and
alerts sent to a real Alertmanager.

One ``seismo serve --check-every 3s`` over a short month whose last day holds the
simulator's serving incident; Debian's ``prometheus`` scrapes it every second and
the values are read back through Prometheus's query API. Each test skips, saying
what to install, where the binary is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from served import free_port, serving

import seismo
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store

PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
#: Small enough that a check takes about 2 s, so the server is idle between its runs.
SCENARIO = replace(
    Scenario(seed=1, per_day=300, days=9, incident_day=8, reference_days=7).no_shift(),
    serving_incident=True,
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The month with a reference, twice: one file to serve, one for other processes."""
    sim = simulate(SCENARIO)
    folder = tmp_path_factory.mktemp("live")
    served = folder / "served.duckdb"
    with open_store(str(served)) as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        seismo.add_reference(store, sim.reference)
    other = folder / "other.duckdb"
    shutil.copyfile(served, other)
    return served, other


@pytest.fixture(scope="module")
def server(stores: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(stores[0], log, ["--check-every", "3s"]) as base:
        yield base


def _wait(what: str, probe: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def _checks(base: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/api/checks", timeout=30).json()["checks"])


def test_the_server_runs_the_check_on_its_schedule(server: str) -> None:
    first = _wait("a scheduled check", lambda: (c := _checks(server))["runs"] >= 1 and c)
    assert first["last_error"] is None, first["last_error"]
    assert first["schedule"] == "every 3s"
    # the incident on the last afternoon is found by the server's own checks
    assert first["last_alerts"] >= 1 and first["last_critical"] >= 1
    later = _wait("another check", lambda: (c := _checks(server))["runs"] > first["runs"] and c)
    assert later["last_finished"] > first["last_finished"]  # runs 3 s apart
    assert later["next_at"] >= later["last_started"]
    for page in ("/", "/engineering"):
        html = httpx.get(server + page, timeout=600).text
        assert 'id="checks"' in html and "Checks run every 3s" in html
        assert "Next check:" in html
    overview = httpx.get(f"{server}/api/overview", timeout=600).json()
    assert overview["checks"]["schedule"] == "every 3s"


def _exposition(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base}/metrics", timeout=600).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_are_in_the_exposition_format(server: str) -> None:
    response = httpx.get(f"{server}/metrics", timeout=600)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _exposition(server)
    names = {name for name, _ in samples}
    assert {
        "seismo_quality_estimate",
        "seismo_quality_estimate_low",
        "seismo_quality_estimate_high",
        "seismo_drift_statistic",
        "seismo_alert_active",
        "seismo_operations_latency_ms",
        "seismo_operations_error_rate",
        "seismo_operations_requests",
        "seismo_operations_traffic_share",
        "seismo_check_last_run_timestamp_seconds",
    } <= names
    segments = {
        dict(labels).get("segment") for name, labels in samples if "segment" in dict(labels)
    }
    assert "all" in segments and "age_group=25-34" in segments
    assert not any(" × " in str(s) for s in segments)  # no pairs: bounded cardinality


@pytest.fixture(scope="module")
def prometheus(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PROMETHEUS.exists():
        pytest.skip(f"{PROMETHEUS} is missing: apt-get install prometheus to run this test")
    folder = tmp_path_factory.mktemp("prometheus")
    target = server.removeprefix("http://")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: seismo\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("Prometheus to start", lambda: _ready(base, process), timeout=60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _ready(base: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        pytest.fail("prometheus exited at start")
    try:
        return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_scrapes_the_figures(server: str, prometheus: str) -> None:
    promql = 'seismo_operations_latency_ms{quantile="0.95",segment="all"}'
    result = _wait("Prometheus to scrape seismo", lambda: _query(prometheus, promql))
    ours = _exposition(server)
    for series in result:
        scraped = series["metric"].items()
        labels = {k: v for k, v in scraped if k not in ("job", "instance", "__name__")}
        key = ("seismo_operations_latency_ms", tuple(sorted(labels.items())))
        assert float(series["value"][1]) == pytest.approx(ours[key])
    # every interval holds its estimate, as scraped
    inverted = _query(
        prometheus, "count(seismo_quality_estimate_low > seismo_quality_estimate) or vector(0)"
    )
    assert float(inverted[0]["value"][1]) == 0
    estimates = _query(prometheus, 'seismo_quality_estimate{segment="all"}')
    assert estimates and all(float(s["value"][1]) >= 0 for s in estimates)
    drift = _query(prometheus, "seismo_drift_statistic")
    assert {s["metric"]["feature"] for s in drift} >= {"price_eur", "category"}
    firing = _query(prometheus, 'seismo_alert_active{kind="operations",metric="latency_p95"}')
    assert firing and firing[0]["metric"]["severity"] == "critical"
    assert firing[0]["metric"]["version"] == SCENARIO.model_version
    values = _query(prometheus, "count(count by (segment) (seismo_quality_estimate))")
    assert (
        1
        < float(values[0]["value"][1])
        <= 1 + 20 * len(seismo.RECOMMENDATIONS.predictions.segments)
    )


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not ALERTMANAGER.exists():
        pytest.skip(
            f"{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager to run this test"
        )
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text("route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n")
    port = free_port()
    log = (folder / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("Alertmanager to start", lambda: _ready(base, process), timeout=60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_alerts_are_delivered_to_alertmanager(
    stores: tuple[Path, Path], alertmanager: str, tmp_path: Path
) -> None:
    config = tmp_path / "seismo.toml"
    config.write_text(
        '[alerts]\nrunbook = "https://wiki.example.com/runbooks"\n'
        f'[[alerts.routes]]\ntype = "alertmanager"\nurl = "{alertmanager}"\n'
    )
    with open_store(str(stores[1])) as store:
        result = seismo.check(store, config=config)
    sent = [d for d in result.deliveries if d.route.startswith("alertmanager:")]
    assert sent and all(d.ok for d in sent), sent
    alerts = _wait(
        "the alerts in Alertmanager",
        lambda: httpx.get(f"{alertmanager}/api/v2/alerts", timeout=10).json(),
        timeout=20,
    )
    by_metric = {a["labels"]["metric"]: a for a in alerts}
    slow = by_metric["latency_p95"]
    assert slow["labels"]["alertname"] == "seismo_operations"
    assert slow["labels"]["severity"] == "critical"
    assert slow["labels"]["model_version"] == SCENARIO.model_version
    assert slow["status"]["state"] == "active"
    assert "P95 latency" in slow["annotations"]["description"]
    assert slow["annotations"]["runbook_url"].startswith("https://wiki.example.com/runbooks")
    ids = {a.id for a in result.alerts}
    assert {a["labels"]["alert_id"] for a in alerts} <= ids
