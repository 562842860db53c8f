"""One writer, many readers: which ``seismo serve`` owns a DuckDB store, and who must step back.

A DuckDB file admits one writing process at a time. ``seismo serve`` opens
the store per request and closes it again, so other processes can read it
between two requests; but while it serves, it is the store's one writer:
batches arrive over HTTP, and a CLI ingest holding the file for its whole
transaction would stall every acknowledgement meanwhile. So the server
leaves a claim next to the file (``STORE.serve.json``: its pid and address)
and the CLI's writing commands (ingest, check, annotate, alerts ack and
silence, reference add) refuse to start while the claim's process lives,
saying how to send the data through the server instead. A claim whose
process is gone (a ``kill -9``) is stale and ignored. PostgreSQL admits
many writers: no claim is made there.

Under a steady stream of batches the server reopens the file right after
closing it, so a reader polling for the file would rarely find it free. A
reader that finds it held asks for a turn (``STORE.serve.json.turn``, its
pid); the server, between two batches, closes the store and waits until
the reader has opened it (:func:`give_way`), then waits its own turn.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from seismo.errors import StoreError
from seismo.store.engine import resolve_store

__all__ = [
    "Claim",
    "ask_turn",
    "claim_store",
    "give_way",
    "refuse_if_served",
    "served_by",
    "turn_done",
    "turn_wanted",
]


@dataclass(frozen=True)
class Claim:
    """A running server's claim on a DuckDB store."""

    pid: int
    url: str
    path: Path


def _claim_path(store: str | None) -> Path | None:
    url = resolve_store(store)
    if urlsplit(url).scheme.lower() in ("postgresql", "postgres"):
        return None
    path = url.removeprefix("duckdb://")
    if path == ":memory:":
        return None
    db = Path(path).expanduser().resolve()
    return db.with_name(db.name + ".serve.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    # A zombie (killed, not yet reaped by its parent) holds no file any more.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def served_by(store: str | None) -> Claim | None:
    """The live server (other than this process) that claimed the store, if any."""
    path = _claim_path(store)
    if path is None or not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        pid, url = int(data["pid"]), str(data["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    return Claim(pid, url, path)


def claim_store(store: str | None, url: str) -> Path | None:
    """Record that this process serves ``store`` at ``url``; return the claim file to remove.

    Refuses when another live server already claimed it.
    """
    path = _claim_path(store)
    if path is None:
        return None
    other = served_by(store)
    if other is not None:
        raise StoreError(
            f"the store {resolve_store(store)} is already served by seismo serve "
            f"(pid {other.pid}) at {other.url}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    tmp.replace(path)
    return path


def release_claim(path: Path | None) -> None:
    """Remove this process's claim (at a clean stop; a killed server's claim goes stale)."""
    if path is None:
        return
    try:
        data = json.loads(path.read_text())
        if int(data["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def refuse_if_served(store: str | None, what: str) -> None:
    """Raise a :class:`StoreError` saying what to do when a server owns this DuckDB store.

    ``what`` is the refused command's action in words, e.g. ``"ingest files"``.
    """
    claim = served_by(store)
    if claim is None:
        return
    base = claim.url.rstrip("/")
    if what == "ingest":
        how = (
            f"send the files through it: seismo ingest --server {base} FILE... "
            f"(with SEISMO_TOKEN set to a write token), or curl -H 'Authorization: Bearer TOKEN' "
            f"-H 'Content-Type: text/csv' --data-binary @FILE {base}/v1/batches"
        )
    elif what == "change alerts":
        how = f"use its API with a write token: POST {base}/v1/alerts/ID/ack or /silence"
    elif what == "annotate":
        how = f"use its API with a write token: POST {base}/v1/annotations"
    else:
        how = "stop the server first"
    raise StoreError(
        f"the store {resolve_store(store)} is open in seismo serve (pid {claim.pid}, {base}), "
        f"its one writer while it runs: to {what}, {how}. Reading commands keep working; "
        "a PostgreSQL store takes several writers at once"
    )


def _turn_path(store: str | None) -> Path | None:
    path = _claim_path(store)
    return None if path is None else path.with_name(path.name + ".turn")


def ask_turn(store: str | None) -> None:
    """A reader that found the served file held asks the server for a gap between batches."""
    path = _turn_path(store)
    if path is None or served_by(store) is None:
        return
    with contextlib.suppress(OSError):
        path.write_text(str(os.getpid()))


def turn_done(store: str | None) -> None:
    """The reader got the file (or gave up): the server may go on."""
    path = _turn_path(store)
    if path is None:
        return
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except (OSError, ValueError):
        pass


def turn_wanted(store: str | None) -> bool:
    """Whether a live reader asked for a turn."""
    path = _turn_path(store)
    if path is None or not path.exists():
        return False
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid() or not _alive(pid):
        path.unlink(missing_ok=True)
        return False
    return True


def give_way(store: str | None, *, longest: float = 2.0) -> bool:
    """With the store closed, wait (at most ``longest`` s) until a reader that asked has it.

    Returns whether a reader was waiting.
    """
    if not turn_wanted(store):
        return False
    deadline = time.monotonic() + longest
    while turn_wanted(store) and time.monotonic() < deadline:
        time.sleep(0.01)
    return True
