"""Fixtures: real stores on DuckDB and on the PostgreSQL server, and simulated data.

Engine-facing tests take the ``store`` fixture and run once per engine. The
PostgreSQL run uses ``$SEISMO_TEST_PG_URL`` (default: the local server,
database ``test``) with a fresh schema per test, and is skipped with the
reason shown when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from seismo.store import Store, open_store

PG_URL = os.environ.get("SEISMO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_URL.split("?")[0], connect_timeout=3) as con:
            con.execute("SELECT 1")
    except Exception as exc:  # any connection failure means: skip, and say why
        return (
            f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {str(exc).strip()[:120]}"
        )
    return None


_PG_REASON = _pg_unavailable()


def pg_url_for_new_schema() -> tuple[str, str]:
    schema = f"seismo_test_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}", schema


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.split("?")[0], autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store location on each engine."""
    if request.param == "duckdb":
        yield str(tmp_path / "store.duckdb")
        return
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    url, schema = pg_url_for_new_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as handle:
        yield handle


@pytest.fixture(scope="session")
def seed_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the seed scenario (seed 2, 3,000 a day), exported at the end.

    The 25-34 click-through drop is a warning as of 2 June and critical by 4 June;
    the 55+ exposure gap is critical from 2 June; nothing is found before. Built
    once per test process: copy it (:func:`copy_of`) before writing to it.
    """
    from seismo.ingest import ingest
    from seismo.simulate import Scenario, simulate

    sim = simulate(Scenario(seed=2, per_day=3000))
    path = tmp_path_factory.mktemp("seed") / "seed.duckdb"
    with open_store(str(path)) as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
    return path


def copy_of(path: Path, folder: Path) -> str:
    """A private copy of a closed DuckDB store file."""
    import shutil

    target = folder / path.name
    shutil.copyfile(path, target)
    return str(target)


# Headless Chromium for every browser test (tests/served.py), or a skip saying what is missing.
from served import browser  # noqa: E402, F401
