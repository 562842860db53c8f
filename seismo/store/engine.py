"""The engine seam: one object that reaches DuckDB or PostgreSQL.

Reads go through Ibis (``Engine.ibis``), so every aggregate is written once and
runs on either engine. Writes are a handful of portable SQL statements
(``INSERT … SELECT … ON CONFLICT``) that Ibis does not model; the only
engine-specific part is how a batch's Arrow table is staged next to the target
tables (DuckDB scans the Arrow memory directly, PostgreSQL receives it through
``COPY``), which is what :meth:`Engine.stage` hides.

Timestamps are stored as UTC without a zone (``TIMESTAMP``), which both
engines treat identically; ingest converts every input to UTC first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import ibis
import pyarrow as pa

from seismo.errors import StoreError

__all__ = ["DEFAULT_WORKSPACE", "Engine", "connect", "resolve_store"]

DEFAULT_WORKSPACE = Path("seismo-workspace")
_PG_SCHEMES = ("postgresql", "postgres")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve_store(store: str | os.PathLike[str] | None) -> str:
    """Where the store lives: the argument, else ``$SEISMO_STORE``, else the workspace file.

    >>> resolve_store("postgresql://me@db/prod")
    'postgresql://me@db/prod'
    """
    if store is not None and str(store):
        return str(store)
    env = os.environ.get("SEISMO_STORE")
    if env:
        return env
    workspace = Path(os.environ.get("SEISMO_WORKSPACE", DEFAULT_WORKSPACE))
    return str(workspace / "seismo.duckdb")


def quote(name: str) -> str:
    """Quote an identifier for both engines (user column names reach SQL)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Engine:
    """A live connection to the store's engine."""

    url: str
    kind: str  # "duckdb" or "postgres"
    ibis: Any  # the Ibis backend
    schema: str | None = None

    @property
    def raw(self) -> Any:
        """The DB-API connection under Ibis (duckdb or psycopg)."""
        return self.ibis.con

    # -- statements -------------------------------------------------------
    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] | None = None) -> int:
        """Run one statement; return the number of rows it changed (``-1`` if unknown)."""
        if self.kind == "duckdb":
            cur = self.raw.execute(sql, params or [])
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                row = cur.fetchone()
                return int(row[0]) if row else 0
            return -1
        with self.raw.cursor() as cur:
            cur.execute(sql, params)
            return int(cur.rowcount)

    def query(
        self, sql: str, params: tuple[Any, ...] | list[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        if self.kind == "duckdb":
            return [tuple(r) for r in self.raw.execute(sql, params or []).fetchall()]
        with self.raw.cursor() as cur:
            cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a batch either lands whole or leaves the store as it was.

        Writers of one store take turns. DuckDB allows one writing process per
        file. On PostgreSQL, where many processes write at once, every write
        transaction first takes the store's advisory lock (held to commit), so
        batches get their sequence numbers in commit order, a metric refresh
        sees every batch committed before it and none half-way, and tables are
        created once: concurrent ingests, checks and refreshes store exactly
        what running them one after another would. Reads never wait for it.
        """
        if self.kind == "duckdb":
            self.raw.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self.raw.execute("ROLLBACK")
                raise
            self.raw.execute("COMMIT")
        else:
            with self.raw.transaction():
                with self.raw.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
                yield

    @property
    def lock_key(self) -> int:
        """The store's advisory-lock key on PostgreSQL: one per schema of one database."""
        return writer_lock_key(self.schema)

    @contextlib.contextmanager
    def stage(self, table: pa.Table, column_types: dict[str, str]) -> Iterator[str]:
        """Make ``table`` readable by SQL under a temporary name for the duration."""
        name = f"seismo_stage_{uuid.uuid4().hex[:12]}"
        if self.kind == "duckdb":
            self.raw.register(name, table)
            try:
                yield name
            finally:
                # In a transaction a failure aborted, DuckDB refuses even this; the error
                # that aborted it is the one to report.
                with contextlib.suppress(Exception):
                    self.raw.unregister(name)
            return
        cols = ", ".join(f"{quote(c)} {column_types[c]}" for c in table.column_names)
        with self.raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {name} ({cols})")
            names = ", ".join(quote(c) for c in table.column_names)
            with cur.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                for batch in table.to_batches(max_chunksize=50_000):
                    columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                    for row in zip(*columns, strict=True):
                        copy.write_row(row)
        try:
            yield name
        finally:
            with self.raw.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {name}")

    def table_columns(self, table: str) -> dict[str, str]:
        """Column name → declared type, as the engine reports it."""
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
            f"{self.param()} AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        )
        return {str(n): str(t) for n, t in rows}

    def param(self) -> str:
        """The placeholder for one bound parameter."""
        return "?" if self.kind == "duckdb" else "%s"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ibis.disconnect()


def writer_lock_key(schema: str | None) -> int:
    """The advisory-lock key seismo's writers of a PostgreSQL schema share (a signed int64).

    >>> writer_lock_key("a") == writer_lock_key("a") != writer_lock_key("b")
    True
    """
    digest = hashlib.blake2b(f"seismo-writer:{schema or ''}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def connect(
    store: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    wait: float | None = None,
) -> Engine:
    """Open the store's engine: a DuckDB file (created with its folder) or a PostgreSQL URL.

    A PostgreSQL URL may carry ``?schema=NAME`` to keep seismo's tables in
    their own schema (created if missing).
    """
    url = resolve_store(store)
    scheme = urlsplit(url).scheme.lower()
    if scheme in _PG_SCHEMES:
        return _connect_postgres(url)
    path = url.removeprefix("duckdb://")
    if path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    backend = _open_duckdb(path, read_only, wait)
    backend.con.execute("SET TimeZone = 'UTC'")
    # DuckDB would take 80% of RAM for its buffers; seismo shares the machine with the
    # model it watches, so cap it (it spills to disk beyond) unless told otherwise.
    limit = os.environ.get("SEISMO_DUCKDB_MEMORY", "1500MB")
    backend.con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    return Engine(url=path, kind="duckdb", ibis=backend)


#: How long a process waits for another one that has the DuckDB file open (``seismo serve``
#: computing a page, a check) before it gives up and says who holds it.
LOCK_WAIT_SECONDS = 60.0
_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _open_duckdb(path: str, read_only: bool, wait: float | None = None) -> Any:
    """The DuckDB backend on ``path``, waiting (bounded) while another process holds the file.

    DuckDB lets one process at a time open a file for writing. Waiting out a
    holder that is busy for seconds (a check, a page being computed) beats
    failing; a holder that stays is named, with what to do.
    """
    if wait is None:
        wait = float(os.environ.get("SEISMO_LOCK_WAIT", LOCK_WAIT_SECONDS))
    deadline = time.monotonic() + max(wait, 0.0)
    pause = 0.05
    asked = False
    while True:
        try:
            backend = ibis.duckdb.connect(path, read_only=read_only)
            if asked:
                _turns().turn_done(path)
            return backend
        except Exception as exc:  # duckdb raises its own IOException family
            held = _HOLDER.search(str(exc))
            if "Could not set lock" not in str(exc):
                raise StoreError(f"cannot open the DuckDB store at {path}: {exc}") from exc
            if not asked and _turns().served_by(path) is not None:
                # seismo serve holds it between batches: ask for a gap, and look often
                _turns().ask_turn(path)
                asked, pause = True, 0.01
            if time.monotonic() >= deadline:
                if asked:
                    _turns().turn_done(path)
                who = f"process {held.group(2)} ({held.group(1)})" if held else "another process"
                raise StoreError(
                    f"the DuckDB store {path} is in use by {who} and stayed so for {wait:g} s. "
                    "A DuckDB file has one writer at a time: wait for that process to finish, "
                    "stop it, or use a PostgreSQL store for several writers at once "
                    "(SEISMO_LOCK_WAIT sets how long to wait)"
                ) from exc
            time.sleep(pause)
            pause = pause if asked else min(pause * 2, 1.0)


def _turns() -> Any:
    from seismo.store import serving

    return serving


def _connect_postgres(url: str) -> Engine:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    if schema is not None and not _IDENT.match(schema):
        raise StoreError(f"schema name {schema!r} must be a plain identifier")
    clean = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query, doseq=True)))
    try:
        backend = ibis.connect(clean)
    except Exception as exc:  # psycopg.OperationalError and friends
        raise StoreError(
            f"cannot reach PostgreSQL at {parts.hostname}:{parts.port}: {exc}"
        ) from exc
    engine = Engine(url=url, kind="postgres", ibis=backend, schema=schema)
    with backend.con.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        if schema:
            # Two processes creating the same schema at once would collide: take turns.
            with backend.con.transaction():
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (engine.lock_key,))
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            cur.execute(f"SET search_path TO {quote(schema)}")
    return engine
