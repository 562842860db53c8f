"""While ``seismo serve`` runs on a DuckDB store it is the store's one writer; reads go on.

DuckDB admits one process at a time on a file. The server opens it per
request, so readers in other processes get their turn between requests, but
the CLI's writing commands refuse to start while it serves (a clear line
naming the server and how to send the data through it, exit code 2, no
traceback), and the same file sent with ``seismo ingest --server`` lands.
Pages keep answering throughout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from served import ROOT, get, serving

from seismo.errors import StoreError
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.serving import claim_store, refuse_if_served, release_claim, served_by
from seismo.store.tokens import add_token


def test_the_server_is_the_one_writer_and_reads_go_on(tmp_path: Path) -> None:
    scenario = Scenario(days=14, per_day=800, seed=6, reference_days=2)
    sim = simulate(scenario)
    store = tmp_path / "s.duckdb"
    first_day = scenario.start + timedelta(days=10)
    with open_store(str(store)) as handle:
        ingest(handle, sim.known_at(first_day), exported_at=first_day)
        token = add_token(handle.engine, scope="write")[1]
    later = tmp_path / "later.parquet"
    last_day = scenario.start + timedelta(days=14)
    pq.write_table(sim.known_at(last_day), later)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seismo = [sys.executable, "-m", "seismo"]

    def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"SEISMO_TOKEN": token} if token else {}
        return subprocess.run(
            [*seismo, *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=600,
        )

    with serving(store, tmp_path / "serve.log") as base:
        claim = served_by(str(store))
        assert claim is not None and claim.url == base
        statuses: list[int] = []
        stop = threading.Event()

        def poll() -> None:  # a browser left open on the page, reloading
            while not stop.is_set():
                try:
                    get(f"{base}/", timeout=120)
                    statuses.append(200)
                except urllib.error.HTTPError as exc:
                    statuses.append(exc.code)
                time.sleep(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        time.sleep(1.0)
        exported = ["--exported-at", last_day.isoformat()]
        refused = run("ingest", "--store", str(store), *exported, str(later))
        checked = run("check", "--store", str(store))
        acked = run("alerts", "ack", "0123abcd", "--store", str(store))
        status = run("status", "--store", str(store), "--format", "json")
        sent = run("ingest", "--server", base, *exported, str(later), token=token)
        again = run(
            "ingest", "--server", base, "--format", "json", *exported, str(later), token=token
        )
        time.sleep(1.0)
        stop.set()
        poller.join(timeout=180)
    for refusal in (refused, checked, acked):
        assert refusal.returncode == 2, refusal.stderr[-2000:]
        said = " ".join(refusal.stderr.split())
        assert f"is open in seismo serve (pid {claim.pid}, {base})" in said, said
        assert "Traceback" not in refusal.stderr
    assert f"seismo ingest --server {base} FILE" in " ".join(refused.stderr.split())
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr[-2000:]
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert [r["note"] for r in json.loads(again.stdout)] == ["already ingested"]
    assert statuses and set(statuses) == {200}, statuses
    assert served_by(str(store)) is None  # a clean stop takes the claim back
    with open_store(str(store)) as handle:
        assert handle.count("predictions") == sim.known_at(last_day).num_rows


def test_a_claim_lasts_as_long_as_its_process(tmp_path: Path) -> None:
    store = str(tmp_path / "c.duckdb")
    claim_file = tmp_path / "c.duckdb.serve.json"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim_file.write_text(json.dumps({"pid": child.pid, "url": "http://127.0.0.1:9"}))
        found = served_by(store)
        assert found is not None and found.pid == child.pid
        with pytest.raises(StoreError, match=r"is open in seismo serve \(pid"):
            refuse_if_served(store, "ingest")
        with pytest.raises(StoreError, match="already served"):
            claim_store(store, "http://127.0.0.1:10")
        child.kill()  # killed, not yet reaped (a zombie): it holds no file any more
        deadline = time.monotonic() + 10
        while served_by(store) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served_by(store) is None
        refuse_if_served(store, "ingest")
    finally:
        child.kill()
        child.wait()
    mine = claim_store(store, "http://127.0.0.1:11")
    assert mine == claim_file and served_by(store) is None  # this process's own claim
    release_claim(mine)
    assert not claim_file.exists()
    assert served_by("postgresql://me@db/x") is None
