"""A DuckDB store served by ``seismo serve`` still takes ingests and checks from other processes.

DuckDB admits one process at a time on a file. The server holds it only while
a page is computed; a writer that finds it held waits for it, and a page load
that finds a writer busy shows the pages it has rather than an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
from served import ROOT, get, serving

from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store


def test_ingest_and_check_beside_a_busy_dashboard(tmp_path: Path) -> None:
    scenario = Scenario(days=14, per_day=800, seed=6, reference_days=2)
    sim = simulate(scenario)
    store = tmp_path / "s.duckdb"
    first_day = scenario.start + timedelta(days=10)
    with open_store(str(store)) as handle:
        ingest(handle, sim.known_at(first_day), exported_at=first_day)
    later = tmp_path / "later.parquet"
    last_day = scenario.start + timedelta(days=14)
    pq.write_table(sim.known_at(last_day), later)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with serving(store, tmp_path / "serve.log") as base:
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
        seismo = [sys.executable, "-m", "seismo"]
        ingested = subprocess.run(
            [
                *seismo,
                "ingest",
                "--store",
                str(store),
                "--exported-at",
                last_day.isoformat(),
                str(later),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        checked = subprocess.run(
            [*seismo, "check", "--store", str(store)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        time.sleep(1.0)
        stop.set()
        poller.join(timeout=180)
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert checked.returncode in (0, 1), checked.stderr[-2000:]  # 1: a critical alert fires
    assert "Traceback" not in ingested.stderr + checked.stderr
    assert statuses and set(statuses) == {200}, statuses
    with open_store(str(store)) as handle:
        assert handle.count("predictions") == sim.known_at(last_day).num_rows
