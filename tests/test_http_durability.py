"""A real ``seismo serve`` (Uvicorn, its own process) taking batches over HTTP, killed with -9.

Every batch the server acknowledged is in the store after a restart, and
sending every batch again (acknowledged or not) adds each exactly once: the
store then holds what ingesting the batches directly would. On PostgreSQL
the server and a CLI ingest write at the same time. The full measurement
(10,000 events/s for 60 s, p99 latency, a kill during it) is
``bench/bench_http_ingest.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import _PG_REASON, drop_pg_schema, pg_url_for_new_schema
from served import ROOT, free_port

from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.tokens import add_token

ARROW = "application/vnd.apache.arrow.stream"


def start(store: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``seismo serve`` on a free port, answering; the caller stops it."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "seismo", "serve", "--store", store, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):
                return process, base
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"seismo serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def post(base: str, token: str, body: bytes, key: str, timeout: float = 60) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/v1/predictions",
        data=body,
        method="POST",
        headers={"Content-Type": ARROW, "Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return dict(json.loads(answer.read()))


@pytest.fixture(scope="module")
def batches() -> list[pa.Table]:
    export = simulate(Scenario(days=3, per_day=1200, seed=9, reference_days=1)).export
    return [export.slice(i, 300) for i in range(0, export.num_rows, 300)]


def _expected(batches: list[pa.Table], folder: Path) -> tuple[int, int]:
    """Predictions and outcomes that ingesting the batches directly stores."""
    with open_store(str(folder / "direct.duckdb")) as handle:
        for i, b in enumerate(batches):
            ingest(handle, b, name=f"b{i}")
        return handle.count("predictions"), handle.count("outcomes")


def test_acknowledged_batches_survive_kill_9(batches: list[pa.Table], tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    with open_store(store) as handle:
        token = add_token(handle.engine, scope="write")[1]
    bodies = [arrow(b) for b in batches]
    log = tmp_path / "serve.log"
    process, base = start(store, log)
    acked: dict[str, dict[str, Any]] = {}
    failed: list[str] = []

    def send() -> None:
        for i, body in enumerate(bodies):
            try:
                acked[f"b{i}"] = post(base, token, body, f"b{i}")
            except (urllib.error.URLError, OSError):
                failed.extend(f"b{j}" for j in range(i, len(bodies)))
                return

    sender = threading.Thread(target=send)
    try:
        sender.start()
        while len(acked) < 4 and sender.is_alive():
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # mid-stream: a request is likely in flight
        process.wait()
        sender.join(timeout=120)
    finally:
        stop(process)
    assert len(acked) >= 4 and failed, (len(acked), failed)
    assert all(not a["already_ingested"] for a in acked.values())
    # after the restart: every acknowledged batch is there, whole
    process, base = start(store, log)
    try:
        with open_store(store, wait=30) as handle:
            by_batch = dict(
                handle.engine.query("SELECT batch_id, COUNT(*) FROM predictions GROUP BY 1")
            )
        for a in acked.values():
            assert by_batch.get(a["batch_id"]) == a["predictions_added"] == 300
        # sending everything again adds what was not acknowledged, once
        again = {f"b{i}": post(base, token, body, f"b{i}") for i, body in enumerate(bodies)}
        for key in acked:
            assert (
                again[key]["already_ingested"] and again[key]["batch_id"] == acked[key]["batch_id"]
            )
        twice = {f"b{i}": post(base, token, body, f"b{i}") for i, body in enumerate(bodies)}
        assert all(t["already_ingested"] for t in twice.values())
    finally:
        stop(process)
    with open_store(store) as handle:
        stored = handle.count("predictions"), handle.count("outcomes")
        ids = handle.engine.query("SELECT COUNT(DISTINCT prediction_id) FROM predictions")[0][0]
    assert stored == _expected(batches, tmp_path)
    assert ids == sum(b.num_rows for b in batches)


@pytest.fixture
def pg_store() -> Iterator[str]:
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    url, schema = pg_url_for_new_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.mark.postgres
def test_on_postgresql_the_server_and_the_cli_write_at_once(
    pg_store: str, batches: list[pa.Table], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    with open_store(pg_store) as handle:
        token = add_token(handle.engine, scope="write")[1]
    files = []
    for i in range(4):
        files.append(tmp_path / f"cli{i}.parquet")
        pq.write_table(batches[i], files[-1])
    process, base = start(pg_store, tmp_path / "serve.log")
    try:
        cli = subprocess.Popen(
            [sys.executable, "-m", "seismo", "ingest", "--store", pg_store, *map(str, files)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sent = [post(base, token, arrow(b), f"h{i}") for i, b in enumerate(batches[4:10])]
        _, errors = cli.communicate(timeout=300)
    finally:
        stop(process)
    assert cli.returncode == 0, errors[-2000:]
    assert all(s["predictions_added"] == 300 for s in sent)
    with open_store(pg_store) as handle:
        assert handle.count("predictions") == 10 * 300


def test_a_reader_gets_its_turn_under_a_steady_stream(
    batches: list[pa.Table], tmp_path: Path
) -> None:
    """Two senders keep the server busy (the store stays open while a batch waits); a CLI
    reader asks for a turn and gets one well within its wait."""
    store = str(tmp_path / "busy.duckdb")
    with open_store(store) as handle:
        token = add_token(handle.engine, scope="write")[1]
        ingest(handle, batches[0], name="first")
    bodies = [arrow(b.slice(0, 100)) for b in batches[1:]]
    process, base = start(store, tmp_path / "serve.log")
    stop_sending = threading.Event()
    answered: list[int] = []

    def send(offset: int) -> None:
        i = offset
        while not stop_sending.is_set():  # bounded: the reader below runs 60 s at most
            post(base, token, bodies[i % len(bodies)], f"k{i % len(bodies)}")
            answered.append(i)
            i += 2

    senders = [threading.Thread(target=send, args=(k,)) for k in (0, 1)]
    try:
        for t in senders:
            t.start()
        while len(answered) < 4:
            time.sleep(0.01)
        began = time.monotonic()
        status = subprocess.run(
            [sys.executable, "-m", "seismo", "status", "--store", store, "--format", "json"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "SEISMO_LOCK_WAIT": "20"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - began
        during = len(answered)
        deadline = time.monotonic() + 20
        while len(answered) < during + 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the senders go on after the reader
    finally:
        stop_sending.set()
        for t in senders:
            t.join(timeout=60)
        stop(process)
    assert status.returncode == 0, status.stderr[-2000:]
    assert took < 20 and len(answered) >= during + 2
