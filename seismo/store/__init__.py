"""The event store: DuckDB by default, PostgreSQL by URL, read through Ibis."""

from __future__ import annotations

from seismo.store.engine import DEFAULT_WORKSPACE, Engine, connect, resolve_store
from seismo.store.read import Store, open_store
from seismo.store.write import BatchResult

__all__ = [
    "DEFAULT_WORKSPACE",
    "BatchResult",
    "Engine",
    "Store",
    "connect",
    "open_store",
    "resolve_store",
]
