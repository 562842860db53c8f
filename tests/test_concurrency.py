"""Several seismo processes writing one PostgreSQL store at once store what one after another would.

Each test holds the store's writer lock from the test while it starts the
processes, so they all reach their first write together and race for it as
hard as they can; then it lets go. Counts are compared exactly with the
stored rows and with the same work done one process at a time.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.engine import writer_lock_key
from tests.conftest import _PG_REASON, PG_URL, drop_pg_schema, pg_url_for_new_schema

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(_PG_REASON is not None, reason=_PG_REASON or ""),
]


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The seed export of a small simulation, split into two files of different predictions."""
    folder = tmp_path_factory.mktemp("halves")
    sim = simulate(Scenario(days=8, per_day=500, seed=3, reference_days=1))
    whole = folder / "export.csv"
    sim.export.to_pandas().to_csv(whole, index=False)
    with whole.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out = []
    for i, part in enumerate((body[0::2], body[1::2])):
        path = folder / f"half{i}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *part])
        out.append(path)
    return out[0], out[1], sim.exported_at.isoformat()


@pytest.fixture
def pg_store() -> Iterator[tuple[str, str]]:
    url, schema = pg_url_for_new_schema()
    try:
        yield url, schema
    finally:
        drop_pg_schema(schema)


def _seismo(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SEISMO_STORE": url}
    return subprocess.Popen(
        [sys.executable, "-m", "seismo", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _together(schema: str, url: str, commands: list[tuple[str, ...]]) -> list[str]:
    """Start every command while blocking the store; unblock it; every command must succeed.

    The holder takes the writers' lock and an exclusive lock on the table of
    batch sequence numbers, which every writer and every refresh reads first:
    each process, however it coordinates (or fails to), waits there until all
    are up, then all go at once.
    """
    import psycopg

    with open_store(url):  # the tables exist, so they can be locked
        pass
    with psycopg.connect(PG_URL.split("?")[0]) as holder:
        holder.execute(f'SET search_path TO "{schema}"')
        holder.execute("SELECT pg_advisory_lock(%s)", (writer_lock_key(schema),))
        holder.execute("LOCK TABLE changes IN ACCESS EXCLUSIVE MODE")
        procs = [_seismo(url, *c) for c in commands]
        time.sleep(5.0)  # every process is up and waiting
        holder.execute("SELECT pg_advisory_unlock(%s)", (writer_lock_key(schema),))
        holder.commit()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        assert "Traceback" not in err, err[-2000:]
        outputs.append(out)
    return outputs


def _stored(url: str) -> dict[str, int]:
    with open_store(url) as store:
        q = store.engine.query
        return {
            "predictions": int(q("SELECT COUNT(*) FROM predictions")[0][0]),
            "outcomes": int(q("SELECT COUNT(*) FROM outcomes")[0][0]),
            "batches": int(q("SELECT COUNT(*) FROM batches")[0][0]),
            "distinct_seq": int(q("SELECT COUNT(DISTINCT seq) FROM changes")[0][0]),
        }


#: A metric refresh: what every test races against the writers.
METRICS = ("metrics", "--metric", "click_through_rate", "--format", "json")


def _metric_n(url: str) -> int:
    """Recommendations counted by the click-through rate over all days (aggregate cells)."""
    proc = _seismo(url, *METRICS)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return sum(int(r["n"]) for r in json.loads(out) if not r["segment"])


def test_concurrent_ingests_and_refreshes_count_every_row_once(
    halves: tuple[Path, Path, str], pg_store: tuple[str, str]
) -> None:
    url, schema = pg_store
    first, second, exported_at = halves
    ingest = ("ingest", "--exported-at", exported_at)
    # Two different files and the first once more, all at once, into a new store.
    _together(schema, url, [(*ingest, str(first)), (*ingest, str(second)), (*ingest, str(first))])
    stored = _stored(url)
    assert stored["batches"] == 2 and stored["distinct_seq"] == 2
    # The same files one after another, in a second store: the same tables.
    other, other_schema = pg_url_for_new_schema()
    try:
        for path in (first, second):
            proc = _seismo(other, *ingest, str(path))
            assert proc.wait(timeout=600) == 0
        assert _stored(other) == stored
    finally:
        drop_pg_schema(other_schema)
    # Two refreshes racing right after the ingests: each figure counts each row once.
    _together(schema, url, [METRICS, METRICS])
    assert _metric_n(url) == stored["predictions"]


def test_a_batch_committed_during_a_refresh_is_counted_by_the_next(
    halves: tuple[Path, Path, str], pg_store: tuple[str, str]
) -> None:
    url, schema = pg_store
    first, second, exported_at = halves
    ingest = ("ingest", "--exported-at", exported_at)
    assert _seismo(url, *ingest, str(first)).wait(timeout=600) == 0
    _together(schema, url, [METRICS, (*ingest, str(second)), METRICS])
    assert _metric_n(url) == _stored(url)["predictions"]
