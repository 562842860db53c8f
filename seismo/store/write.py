"""Write one validated batch into the store, all or nothing.

* predictions are immutable: a prediction id already stored is left as it is,
  so a re-sent batch or a later re-export adds nothing;
* outcomes are appended only when they say something new about a
  (prediction, outcome type): a pending outcome that has since arrived, or a
  correction. An outcome never disappears because a later file leaves it empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pyarrow as pa

from seismo.config import Declared, OutcomeType
from seismo.errors import ConfigError, SeismoError, StoreError
from seismo.events import ROW, Batch, Source
from seismo.store.engine import Engine, quote
from seismo.store.schema import CORE_PREDICTION_COLUMNS, OUTCOME_COLUMNS, sql_type
from seismo.words import NEUTRAL, Words

__all__ = ["BatchResult", "write_batch"]


@dataclass(frozen=True)
class BatchResult:
    """What one batch changed."""

    source: str
    shape: str
    rows: int
    predictions_added: int
    outcomes_added: int
    already_ingested: bool = False
    #: Re-sent prediction ids whose content differs from what is stored (the stored is kept),
    #: and the first of them as (row, id).
    conflicts: int = 0
    first_conflict: tuple[int, str] | None = None
    #: Implausible rows set aside in the ``quarantine`` table, not stored.
    quarantined: int = 0
    #: The batch's id in ``batches`` (its content hash, or an HTTP Idempotency-Key's).
    batch_id: str = ""


def register_outcome_types(engine: Engine, types: tuple[OutcomeType, ...]) -> None:
    p = engine.param()
    for t in types:
        engine.execute(f"DELETE FROM outcome_types WHERE name = {p}", (t.name,))
        engine.execute(
            f"INSERT INTO outcome_types (name, kind, window_seconds, parent, description) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            (t.name, t.kind, int(t.window.total_seconds()), t.parent, t.description),
        )


def register_positive_labels(engine: Engine, labels: tuple[str, ...]) -> None:
    """Record which served labels read as positive; refuse to change how stored ones read."""
    p = engine.param()
    rows = engine.query("SELECT value FROM seismo_meta WHERE key = 'positive_labels'")
    if rows:
        stored = tuple(json.loads(rows[0][0]))
        if stored != labels:
            raise ConfigError(
                f"positive_label {list(labels)}: the store already reads served labels "
                f"{list(stored)} as positive; one store, one reading"
            )
        return
    if engine.query("SELECT 1 FROM predictions WHERE label IS NOT NULL LIMIT 1"):
        raise ConfigError(
            f"positive_label {list(labels)}: the store already holds served labels read as "
            "1/true/yes/positive or 0/false/no/negative; declaring positive labels now would "
            "read them differently (ingest into a new store)"
        )
    engine.execute(
        f"INSERT INTO seismo_meta (key, value) VALUES ({p}, {p})",
        ("positive_labels", json.dumps(list(labels))),
    )


def register_words(engine: Engine, words: Words) -> None:
    """Record how people talk about the model: the last mapping that declares words wins."""
    _put_meta(engine, "words", words.to_json())


def register_declared(engine: Engine, declared: Declared) -> None:
    """Record the model's declared metrics: the last mapping that declares any wins."""
    _put_meta(engine, "declared", declared.to_json())


def _put_meta(engine: Engine, key: str, value: str) -> None:
    p = engine.param()
    engine.execute(f"DELETE FROM seismo_meta WHERE key = {p}", (key,))
    engine.execute(f"INSERT INTO seismo_meta (key, value) VALUES ({p}, {p})", (key, value))


def _add_attributes(engine: Engine, attributes: dict[str, tuple[str, str]]) -> None:
    existing = engine.table_columns("predictions")
    p = engine.param()
    for name, (role, dtype) in attributes.items():
        if name in existing:
            continue
        engine.execute(f"ALTER TABLE predictions ADD COLUMN {quote(name)} {sql_type(dtype)}")
        engine.execute(
            f"INSERT INTO attributes (name, role, dtype) VALUES ({p}, {p}, {p})",
            (name, role, dtype),
        )


def write_batch(
    engine: Engine, batch: Batch, *, source_name: str | None = None, strict: bool = False
) -> BatchResult:
    """Write a validated :class:`~seismo.events.Batch` in one transaction.

    A prediction id already stored keeps what was stored; one re-sent with other
    content (time, version, score or served label) is counted as a conflict, and
    with ``strict`` refuses the batch.
    """
    name = source_name or batch.source.name
    rows = batch.source.table.num_rows
    p = engine.param()
    done = BatchResult(
        name, batch.shape, rows, 0, 0, already_ingested=True, batch_id=batch.batch_id
    )
    if engine.query(f"SELECT 1 FROM batches WHERE batch_id = {p}", (batch.batch_id,)):
        return done
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        return replace(
            _write(engine, batch, name, rows, now, done, strict), batch_id=batch.batch_id
        )
    except SeismoError:
        raise
    except Exception as exc:  # the engine's own: a full disk, a lost connection
        raise StoreError(
            f"{name}: the store could not take this batch, nothing of it was written: "
            f"{_first_line(exc)}"
        ) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _write(
    engine: Engine,
    batch: Batch,
    name: str,
    rows: int,
    now: datetime,
    done: BatchResult,
    strict: bool,
) -> BatchResult:
    p = engine.param()
    with engine.transaction():
        # Asked again under the writers' lock: the same file sent twice at once lands once.
        if engine.query(f"SELECT 1 FROM batches WHERE batch_id = {p}", (batch.batch_id,)):
            return done
        register_outcome_types(engine, batch.outcome_types)
        if batch.positive_labels:
            register_positive_labels(engine, batch.positive_labels)
        if batch.words != NEUTRAL:
            register_words(engine, batch.words)
        if batch.declared != Declared():
            register_declared(engine, batch.declared)
        seq = int(engine.query("SELECT COALESCE(MAX(seq), 0) + 1 FROM changes")[0][0])
        added_p = added_o = conflicts = 0
        first: tuple[int, str] | None = None
        if batch.predictions is not None:
            _add_attributes(engine, batch.attributes)
            added_p, conflicts, first = _insert_predictions(
                engine,
                batch.predictions,
                batch.batch_id,
                batch.attributes,
                batch.source,
                seq,
                strict,
            )
        if batch.outcomes is not None and batch.outcomes.num_rows:
            added_o = _insert_outcomes(
                engine, batch.outcomes, batch.batch_id, name, batch.source, seq
            )
        for q in batch.quarantined:
            engine.execute(
                "INSERT INTO quarantine (batch_id, source, row_number, column_name, value,"
                f" reason, quarantined_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
                (
                    batch.batch_id,
                    name,
                    q["row"],
                    q["column"],
                    None if q["value"] is None else str(q["value"]),
                    q["reason"],
                    now,
                ),
            )
        engine.execute(
            "INSERT INTO batches (batch_id, source, shape, rows, predictions_added,"
            " outcomes_added,"
            f" ingested_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (batch.batch_id, name, batch.shape, rows, added_p, added_o, now),
        )
    return BatchResult(
        name, batch.shape, rows, added_p, added_o, False, conflicts, first, len(batch.quarantined)
    )


def _types(table: pa.Table, attributes: dict[str, tuple[str, str]]) -> dict[str, str]:
    known = {**CORE_PREDICTION_COLUMNS, **OUTCOME_COLUMNS, ROW: "BIGINT"}
    return {c: known.get(c) or sql_type(attributes[c][1]) for c in table.column_names}


def _insert_predictions(
    engine: Engine,
    table: pa.Table,
    batch_id: str,
    attributes: dict[str, tuple[str, str]],
    source: Source,
    seq: int,
    strict: bool = False,
) -> tuple[int, int, tuple[int, str] | None]:
    """Insert the new predictions; (added, conflicting re-sends, the first conflict)."""
    table = table.append_column("batch_id", pa.array([batch_id] * table.num_rows, pa.string()))
    cols = ", ".join(quote(c) for c in table.column_names if c != ROW)
    with engine.stage(table, _types(table, attributes)) as stage:
        differs = " OR ".join(
            f"p.{quote(c)} IS DISTINCT FROM s.{quote(c)}"
            for c in ("served_at", "model_version", "score", "label")
        )
        clash = (
            f"FROM {stage} s JOIN predictions p ON p.prediction_id = s.prediction_id "
            f"WHERE {differs}"
        )
        conflicts = int(engine.query(f"SELECT COUNT(*) {clash}")[0][0])
        first = None
        if conflicts:
            row = engine.query(f"SELECT s.{ROW}, s.prediction_id {clash} ORDER BY s.{ROW} LIMIT 1")
            first = (int(row[0][0]), str(row[0][1]))
            if strict:
                raise source.row_error(
                    first[0],
                    None,
                    f"this id is stored with other content ({conflicts:,} such row(s) in the "
                    "batch); --strict refuses re-sent ids that changed",
                    first[1],
                )
        # Outcomes may arrive before their prediction; once it does, they must not precede it.
        early = engine.query(
            f"SELECT s.{ROW}, s.prediction_id FROM {stage} s JOIN outcomes o "
            f"ON o.prediction_id = s.prediction_id WHERE o.observed_at < s.served_at "
            f"ORDER BY s.{ROW} LIMIT 1"
        )
        if early:
            raise source.row_error(
                early[0][0],
                None,
                "a stored outcome of this prediction is earlier than it",
                early[0][1],
            )
        # Only the stored rows of the batch's ids can match: saying so up front lets the
        # engine probe the store with the small batch instead of hashing the whole table.
        stored = (
            f"(SELECT prediction_id FROM predictions WHERE prediction_id IN "
            f"(SELECT prediction_id FROM {stage}))"
        )
        new = (
            f"FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {stored} p "
            "WHERE p.prediction_id = s.prediction_id)"
        )
        engine.execute(
            f"INSERT INTO changes (seq, served_day) "
            f"SELECT DISTINCT {int(seq)}, CAST(s.served_at AS DATE) {new}"
        )
        added = engine.execute(f"INSERT INTO predictions ({cols}) SELECT {cols} {new}")
        return added, conflicts, first


def _insert_outcomes(
    engine: Engine, table: pa.Table, batch_id: str, name: str, source: Source, seq: int
) -> int:
    table = table.append_column("batch_id", pa.array([batch_id] * table.num_rows, pa.string()))
    cols = [c for c in table.column_names if c != ROW]
    names = ", ".join(quote(c) for c in cols)
    with engine.stage(table, _types(table, {})) as stage:
        late = engine.query(
            f"SELECT s.{ROW}, s.prediction_id FROM {stage} s JOIN predictions p "
            f"ON p.prediction_id = s.prediction_id WHERE s.observed_at < p.served_at "
            f"ORDER BY s.{ROW} LIMIT 1"
        )
        if late:
            raise source.row_error(
                late[0][0], None, "the outcome is before the prediction it follows", late[0][1]
            )
        # Append only what is new for the (prediction, type): same value and time = same fact.
        same = "o.prediction_id = s.prediction_id AND o.outcome_type = s.outcome_type"
        fact = (
            "o.value IS NOT DISTINCT FROM s.value AND o.label IS NOT DISTINCT FROM s.label "
            "AND o.event_time IS NOT DISTINCT FROM s.event_time"
        )
        # As for predictions: only the stored outcomes of the batch's ids can match.
        known = (
            f"(SELECT * FROM outcomes WHERE prediction_id IN (SELECT prediction_id FROM {stage}))"
        )
        new = f"FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {known} o WHERE {same} AND {fact})"
        joined = (
            f"FROM {stage} s JOIN predictions p ON p.prediction_id = s.prediction_id "
            f"WHERE NOT EXISTS (SELECT 1 FROM {known} o WHERE {same} AND {fact})"
        )
        engine.execute(
            "INSERT INTO changes (seq, served_day) "
            f"SELECT DISTINCT {int(seq)}, CAST(p.served_at AS DATE) {joined}"
        )
        if engine.query(
            f"SELECT 1 {new} AND EXISTS (SELECT 1 FROM {known} o WHERE {same}) LIMIT 1"
        ):
            # A different fact for a (prediction, type) already known: a correction. Readers
            # then need the version history (which fact held when), which costs a window
            # function; without corrections they skip it.
            engine.execute("DELETE FROM seismo_meta WHERE key = 'outcome_corrections'")
            engine.execute(
                "INSERT INTO seismo_meta (key, value) VALUES ('outcome_corrections', '1')"
            )
        return engine.execute(f"INSERT INTO outcomes ({names}) SELECT {names} {new}")


def ensure_writable(engine: Engine) -> None:
    if engine.kind == "duckdb" and engine.url == ":memory:":
        return
    try:
        engine.query("SELECT 1")
    except Exception as exc:  # engine-specific errors
        raise StoreError(f"store {engine.url} is not usable: {exc}") from exc
