"""A full disk refuses the batch with a clear error, and leaves the store as it was and usable.

The store lives on a small tmpfs mounted for the test (root only: skipped
with the reason otherwise), filled up to the last few hundred kilobytes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from seismo.errors import StoreError
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _renamed(table: pa.Table, prefix: str) -> pa.Table:
    ids = pa.array([prefix + v for v in table.column("recommendation_id").to_pylist()])
    return table.set_column(table.column_names.index("recommendation_id"), "recommendation_id", ids)


def test_a_full_disk_refuses_the_batch_and_keeps_the_store(small_disk: Path) -> None:
    scenario = Scenario(days=10, per_day=1500, seed=8, reference_days=1)
    sim = simulate(scenario)
    export = sim.known_at(scenario.start + timedelta(days=10))
    path = small_disk / "s.duckdb"
    with open_store(str(path)) as store:
        ingest(store, export, exported_at=scenario.start + timedelta(days=10))
        before = {t: store.count(t) for t in ("predictions", "outcomes", "batches")}
    size = path.stat().st_size
    free = os.statvfs(small_disk)
    filler = small_disk / "filler"
    with filler.open("wb") as out:  # leave about 256 KB
        out.write(b"\0" * max(free.f_bavail * free.f_frsize - 256 * 1024, 0))
    more = _renamed(export, "again-")
    with open_store(str(path)) as store:
        with pytest.raises(StoreError, match=r"No space left|nothing of it was written"):
            ingest(store, more, exported_at=scenario.start + timedelta(days=10))
        assert {t: store.count(t) for t in before} == before
    assert path.stat().st_size <= size + 256 * 1024  # the attempt took no lasting space
    filler.unlink()
    with open_store(str(path)) as store:  # and once there is room, it takes the batch
        ingest(store, more, exported_at=scenario.start + timedelta(days=10))
        assert store.count("predictions") == 2 * before["predictions"]
