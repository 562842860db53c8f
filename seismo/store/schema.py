"""The store's tables (the event model of DESIGN.md), created on first use.

``predictions``
    one row per prediction served. Fixed columns below, plus one column per
    segment attribute or feature the mappings declared (added on first sight,
    listed in ``attributes`` with their role), so the engine can GROUP BY them.
``outcomes``
    ground truth, arriving later, keyed by prediction id. Append-only and
    bitemporal: ``event_time`` is when the outcome happened (NULL for a confirmed
    absence, e.g. "not purchased"), ``observed_at`` is when it became known.
    The state as of T is, per (prediction, type), the latest row observed by T;
    a correction is a newer row, so replaying an earlier day sees what was then
    known. An outcome may arrive before its prediction.
``outcome_types``
    name, kind (event / label / value), maturity window and parent.
``attributes``
    the declared segment / feature / context columns of ``predictions``.
``batches``
    one row per ingested batch (content hash), so a re-sent batch is a no-op.
``reference_sets``, ``reference_features``, ``reference_bins``, ``reference_moments``
    the training reference registered per model version, profiled once into
    per-feature histograms (percentile bins of numeric features, category
    counts), for the whole reference and per segment value; drift is measured
    against them (:mod:`seismo.store.references`).
``reference_multivariate``
    the PCA fitted on a reference's inputs and the spread of its own chunks'
    reconstruction error (:mod:`seismo.metrics.reconstruction`), as JSON.
``api_tokens``
    the HTTP API's bearer tokens, hashed (:mod:`seismo.store.tokens`).
``changes``
    the days whose predictions a batch touched (new predictions, or outcomes
    of older ones), numbered by batch: derived state (per-day metric
    aggregates) recomputes exactly those days and remembers the last number seen.
"""

from __future__ import annotations

import re
import threading

from seismo.store.engine import Engine, quote
from seismo.store.tokens import DDL as TOKENS_DDL

__all__ = ["CORE_PREDICTION_COLUMNS", "SCHEMA_VERSION", "create_schema", "sql_type"]

SCHEMA_VERSION = "1"

#: Fixed columns of ``predictions`` (name → portable SQL type).
CORE_PREDICTION_COLUMNS: dict[str, str] = {
    "prediction_id": "VARCHAR",
    "served_at": "TIMESTAMP",
    "model_name": "VARCHAR",
    "model_version": "VARCHAR",
    "entity_id": "VARCHAR",
    "item_id": "VARCHAR",
    "score": "DOUBLE PRECISION",
    "label": "VARCHAR",
    "latency_ms": "DOUBLE PRECISION",
    "status": "VARCHAR",
    "batch_id": "VARCHAR",
}

OUTCOME_COLUMNS: dict[str, str] = {
    "prediction_id": "VARCHAR",
    "outcome_type": "VARCHAR",
    "value": "DOUBLE PRECISION",
    "label": "VARCHAR",
    "event_time": "TIMESTAMP",
    "observed_at": "TIMESTAMP",
    "batch_id": "VARCHAR",
}

_SQL_TYPES = {
    "string": "VARCHAR",
    "float": "DOUBLE PRECISION",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}


def sql_type(dtype: str) -> str:
    """The portable SQL type for one of seismo's column dtypes."""
    return _SQL_TYPES[dtype]


def _ddl() -> list[str]:
    pred = ",\n  ".join(f"{quote(c)} {t}" for c, t in CORE_PREDICTION_COLUMNS.items())
    outc = ",\n  ".join(f"{quote(c)} {t}" for c, t in OUTCOME_COLUMNS.items())
    return [
        "CREATE TABLE IF NOT EXISTS seismo_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        f"CREATE TABLE IF NOT EXISTS predictions (\n  {pred},\n  PRIMARY KEY (prediction_id)\n)",
        f"CREATE TABLE IF NOT EXISTS outcomes (\n  {outc}\n)",
        "CREATE TABLE IF NOT EXISTS outcome_types (name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL,"
        " window_seconds BIGINT NOT NULL, parent VARCHAR, description VARCHAR)",
        "CREATE TABLE IF NOT EXISTS attributes (name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL,"
        " dtype VARCHAR NOT NULL)",
        "CREATE TABLE IF NOT EXISTS batches (batch_id VARCHAR PRIMARY KEY, source VARCHAR,"
        " shape VARCHAR, rows BIGINT, predictions_added BIGINT, outcomes_added BIGINT,"
        " ingested_at TIMESTAMP)",
        "CREATE TABLE IF NOT EXISTS changes (seq BIGINT NOT NULL, served_day DATE NOT NULL)",
        "CREATE TABLE IF NOT EXISTS quarantine (batch_id VARCHAR NOT NULL, source VARCHAR,"
        " row_number BIGINT, column_name VARCHAR, value VARCHAR, reason VARCHAR,"
        " quarantined_at TIMESTAMP)",
        "CREATE TABLE IF NOT EXISTS reference_sets (model_version VARCHAR PRIMARY KEY,"
        " model_name VARCHAR, source VARCHAR, digest VARCHAR NOT NULL, rows BIGINT,"
        " registered_at TIMESTAMP)",
        "CREATE TABLE IF NOT EXISTS reference_features (model_version VARCHAR NOT NULL,"
        " feature VARCHAR NOT NULL, kind VARCHAR NOT NULL, role VARCHAR NOT NULL,"
        " edges VARCHAR, PRIMARY KEY (model_version, feature))",
        "CREATE TABLE IF NOT EXISTS reference_bins (model_version VARCHAR NOT NULL,"
        " feature VARCHAR NOT NULL, attribute VARCHAR NOT NULL, value VARCHAR NOT NULL,"
        " bin BIGINT, category VARCHAR, n DOUBLE PRECISION)",
        "CREATE TABLE IF NOT EXISTS reference_moments (model_version VARCHAR NOT NULL,"
        " feature VARCHAR NOT NULL, attribute VARCHAR NOT NULL, value VARCHAR NOT NULL,"
        " low DOUBLE PRECISION, high DOUBLE PRECISION, total DOUBLE PRECISION,"
        " squares DOUBLE PRECISION)",
        "CREATE TABLE IF NOT EXISTS reference_multivariate (model_version VARCHAR PRIMARY KEY,"
        " fit VARCHAR NOT NULL)",
        TOKENS_DDL,
    ]


#: Threads of one process (the dashboard's pages and its warm-up) open the store at once;
#: two transactions creating the same table conflict in DuckDB's catalog, so they take turns.
_CREATING = threading.Lock()
_TABLES = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def create_schema(engine: Engine) -> None:
    """Create missing tables; existing ones are left as they are (nothing is written then)."""
    wanted = {m.group(1) for m in map(_TABLES.match, _ddl()) if m}
    present = engine.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    if wanted <= {str(r[0]) for r in present}:
        return
    with _CREATING, engine.transaction():
        for statement in _ddl():
            engine.execute(statement)
        if engine.kind == "postgres":
            # DuckDB answers the anti-join below with a hash join; PostgreSQL needs the index.
            engine.execute(
                "CREATE INDEX IF NOT EXISTS outcomes_by_prediction"
                " ON outcomes (prediction_id, outcome_type)"
            )
        p = engine.param()
        if not engine.query(f"SELECT value FROM seismo_meta WHERE key = {p}", ("schema_version",)):
            engine.execute(
                f"INSERT INTO seismo_meta (key, value) VALUES ({p}, {p})",
                ("schema_version", SCHEMA_VERSION),
            )
