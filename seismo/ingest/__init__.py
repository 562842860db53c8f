"""Ingest: read files or frames, validate them against a mapping, upsert into the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from seismo.config import RECOMMENDATIONS, Mapping
from seismo.events import Batch, Source
from seismo.ingest.convert import prepare
from seismo.ingest.read import read_source
from seismo.store.read import Store
from seismo.store.write import BatchResult, write_batch

__all__ = ["Batch", "BatchResult", "Source", "ingest", "ingest_source", "prepare", "read_source"]


def ingest(
    store: Store,
    data: Any,
    *,
    mapping: Mapping = RECOMMENDATIONS,
    exported_at: datetime | None = None,
    shape: str = "auto",
    name: str | None = None,
    strict: bool = False,
) -> BatchResult:
    """Validate ``data`` (a path, or a pandas / Polars / Arrow table) and write it as one batch.

    Raises :class:`seismo.errors.InputError` (often a :class:`~seismo.errors.RowError`
    naming file, row, column and reason) and writes nothing when any row is bad.
    Ingesting the same data again adds nothing; ids re-sent with other content
    keep what is stored and are counted (``conflicts``), or with ``strict``
    refuse the batch.
    """
    source = read_source(data, name=name)
    return ingest_source(
        store, source, mapping=mapping, exported_at=exported_at, shape=shape, strict=strict
    )


def ingest_source(
    store: Store,
    source: Source,
    *,
    mapping: Mapping = RECOMMENDATIONS,
    exported_at: datetime | None = None,
    shape: str = "auto",
    strict: bool = False,
    batch_id: str | None = None,
    source_name: str | None = None,
) -> BatchResult:
    """Validate and write one input already read (:func:`read_source`, or an HTTP body's).

    The one path every batch takes, from a file or over HTTP: same checks,
    same errors, same batch id (from the source's digest and the mapping)
    unless ``batch_id`` names it otherwise (an HTTP ``Idempotency-Key``).
    ``source_name`` is what ``batches.source`` records (default: the source's name).
    """
    batch = prepare(
        source,
        mapping,
        store_attributes=store.attributes(),
        store_types=store.outcome_types(),
        exported_at=exported_at,
        shape=shape,
        store_positive_labels=store.positive_labels(),
        store_first=store.engine.query("SELECT MIN(served_at) FROM predictions")[0][0],
    )
    if batch_id is not None:
        batch = replace(batch, batch_id=batch_id)
    return write_batch(store.engine, batch, source_name=source_name, strict=strict)
