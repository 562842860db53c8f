"""``/metrics`` text drawn from a snapshot: bounded segments, and the schedule's record.

The exposition is parsed back with prometheus-client's own parser; the real
Prometheus scrape is in ``tests/test_live_service.py``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

import seismo
from seismo.ingest import ingest
from seismo.present.web.prometheus import MAX_SEGMENT_VALUES, exposition
from seismo.present.web.schedule import CheckSchedule, Scheduler, load_schedule
from seismo.present.web.snapshot import compute_snapshot
from seismo.store import open_store


def test_segment_values_are_capped(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    served = datetime(2026, 5, 1) + np.sort(rng.integers(0, 6 * 3600, n)) * timedelta(seconds=1)
    # 30 stores (every one busy each hour), the first ones busier: 20 are exported
    weights = np.linspace(2.0, 1.0, 30)
    shop = rng.choice(30, size=n, p=weights / weights.sum())
    table = pa.table(
        {
            "id": [f"x{i}" for i in range(n)],
            "at": pa.array(served, pa.timestamp("us")),
            "shop": [f"s{k:02d}" for k in shop],
            "ms": np.round(rng.lognormal(3.0, 0.4, n), 1),
            "code": np.where(rng.random(n) < 0.01, "500", "200"),
            "p": rng.random(n),
        }
    )
    mapping = seismo.Mapping(
        model_name="forecaster",
        model_version="v1",
        predictions=seismo.PredictionColumns(
            id="id", timestamp="at", score="p", latency_ms="ms", status="code", segments=("shop",)
        ),
    )
    with open_store(str(tmp_path / "s.duckdb")) as store:
        ingest(store, table, mapping=mapping)
        snap = compute_snapshot(store, sync_alerts=False)
    text = exposition(snap).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    latency = families["seismo_operations_latency_ms"].samples
    shops = {s.labels["segment"] for s in latency} - {"all"}
    assert len(shops) == MAX_SEGMENT_VALUES
    dropped = families["seismo_segments_dropped"].samples[0]
    assert dropped.labels == {"model": "forecaster"} and dropped.value >= 30 - MAX_SEGMENT_VALUES
    assert {s.labels["version"] for s in latency} == {"v1"}
    assert "seismo_check_runs" not in families  # no schedule: no schedule series


def test_a_failed_check_is_recorded_and_the_next_one_still_comes() -> None:
    calls: list[int] = []
    done = threading.Event()

    def check() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the store is gone")
        done.set()
        return seismo.Check(as_of=datetime(2026, 1, 1), alerts=(), findings=(), synced=None)

    scheduler = Scheduler(CheckSchedule(every=timedelta(seconds=1)), check)
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.stop()
    record = scheduler.record()
    assert record["failures"] == 1 and record["runs"] >= 2
    assert record["last_error"] is None and record["last_alerts"] == 0
    assert record["next_at"] > record["last_started"] - timedelta(seconds=1)


def test_the_schedule_comes_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "seismo.toml"
    config.write_text('[schedule]\nevery = "15m"\nat = ["23:55"]\n')
    schedule = load_schedule(config)
    assert (
        schedule.every == timedelta(minutes=15) and schedule.text() == "every 15m and at 23:55 UTC"
    )
    assert load_schedule(config, "2h").every == timedelta(hours=2)
    assert not load_schedule(None).enabled
