"""Validate one input against its mapping and turn it into seismo's event rows.

The work runs in an in-memory DuckDB over the input's Arrow table: every
type conversion is a ``TRY_CAST`` and every check a query for the *first*
offending row, so a million-row file is validated in a few vectorised passes
and the error still names the row, the column and the reason. Nothing here
touches the store: a rejected batch has written nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from seismo.config import (
    NEGATIVE_LABELS,
    POSITIVE_LABELS,
    REQUEST_COLUMN,
    REQUEST_ROLE,
    Mapping,
    OutcomeColumns,
    OutcomeType,
)
from seismo.errors import ConfigError, InputError, RowError
from seismo.events import ROW, Batch, Source
from seismo.ingest.plausible import NAMES, check_rows
from seismo.store.schema import CORE_PREDICTION_COLUMNS

__all__ = ["Batch", "prepare"]

_TRUE = "('true','t','1','yes','y','1.0')"
_FALSE = "('false','f','0','no','n','0.0')"
_CORE_DTYPES = {
    "prediction_id": "string",
    "served_at": "timestamp",
    "model_version": "string",
    "entity_id": "string",
    "item_id": "string",
    "score": "float",
    "label": "string",
    "latency_ms": "float",
    "status": "string",
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conv(expr: str, dtype: str, source: pa.DataType) -> tuple[str, str]:
    """SQL converting ``expr`` (of Arrow type ``source``) to ``dtype``, NULL where it cannot.

    Two stages, so the costly cast runs once per value: ``inner`` parses the
    raw value; ``outer`` (a template over ``{v}``, the inner result) rejects
    what parses but is not a valid observation.
    """
    text = pa.types.is_string(source) or pa.types.is_large_string(source)
    if dtype == "string":
        return (f"NULLIF(TRIM({expr}), '')" if text else f"CAST({expr} AS VARCHAR)"), "{v}"
    if dtype == "float":
        # NaN and infinity parse as doubles but are never a valid observation.
        return f"TRY_CAST({expr} AS DOUBLE)", "CASE WHEN isfinite({v}) THEN {v} END"
    if dtype == "int":
        return (
            f"TRY_CAST({expr} AS DOUBLE)",
            # TRY_CAST: a whole number beyond 64 bits is "not a whole number", not a crash.
            "CASE WHEN isfinite({v}) AND {v} = ROUND({v}) THEN TRY_CAST({v} AS BIGINT) END",
        )
    if dtype == "bool":
        return (
            f"LOWER(TRIM(CAST({expr} AS VARCHAR)))",
            f"CASE WHEN {{v}} IN {_TRUE} THEN TRUE WHEN {{v}} IN {_FALSE} THEN FALSE END",
        )
    if dtype == "timestamp":
        if pa.types.is_timestamp(source) or pa.types.is_date(source):
            inner = f"CAST({expr} AS TIMESTAMPTZ)"
        else:
            # DuckDB also reads 'epoch' and 'infinity' as timestamps: a date must lead.
            inner = (
                f"CASE WHEN LEFT(TRIM(CAST({expr} AS VARCHAR)), 1) BETWEEN '0' AND '9' "
                f"THEN TRY_CAST({expr} AS TIMESTAMPTZ) END"
            )
        return inner, "CASE WHEN isfinite({v}) THEN timezone('UTC', {v}) END"
    raise ValueError(dtype)


def _present(expr: str, source: pa.DataType) -> str:
    """SQL true where the raw value is there (not NULL, not blank text)."""
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return f"NULLIF(TRIM({expr}), '') IS NOT NULL"
    return f"{expr} IS NOT NULL"


_EXPECT = {
    "float": "a number",
    "int": "a whole number",
    "bool": "true or false",
    "timestamp": "a timestamp (ISO 8601, e.g. 2026-05-12T08:30:00Z)",
    "string": "text",
}


class _Checker:
    """Runs the conversions and checks on one source, raising on the first bad row."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("src", source.table)

    def fail(self, row: int, column: str | None, reason: str, value: Any = None) -> RowError:
        return self.source.row_error(row, column, reason, value)

    def one(self, sql: str) -> tuple[Any, ...] | None:
        """The first row of ``sql``, the result read to its end (the connection is free after)."""
        rows = self.con.execute(sql).fetchall()
        return tuple(rows[0]) if rows else None

    def first(self, sql_from_where: str, columns: str = "") -> tuple[Any, ...] | None:
        extra = f", {columns}" if columns else ""
        return self.one(f"SELECT {ROW}{extra} {sql_from_where} ORDER BY {ROW} LIMIT 1")

    def convert(self, columns: dict[str, tuple[str, str]], required: set[str]) -> None:
        """Create table ``typed`` with ``alias -> conv(user column, dtype)``; check values."""
        present = set(self.source.table.column_names)
        missing = sorted({user for user, _ in columns.values()} - present)
        if missing:
            raise InputError(
                f"missing required column(s) {missing}; the file has {sorted(present - {ROW})}",
                source=self.source.name,
            )
        schema = self.source.table.schema
        inner, outer, flags, probes = [], [], [], []
        for alias, (user, dtype) in columns.items():
            first, finish = _conv(q(user), dtype, schema.field(user).type)
            inner.append(
                f"{first} AS {q(alias)}, "
                f"{_present(q(user), schema.field(user).type)} AS {q('p:' + alias)}"
            )
            outer.append(f"{finish.format(v=q(alias))} AS {q(alias)}")
            flags.append(q("p:" + alias))
            # Per column, the first row whose value does not convert, and the first
            # empty row of a required column: one pass over the typed table.
            probes.append(f"MIN({ROW}) FILTER (WHERE {q('p:' + alias)} AND {q(alias)} IS NULL)")
            probes.append(
                f"MIN({ROW}) FILTER (WHERE NOT {q('p:' + alias)})" if alias in required else "NULL"
            )
        self.con.execute(
            f"CREATE TABLE typed AS SELECT {ROW}, {', '.join(outer)}, {', '.join(flags)} "
            f"FROM (SELECT {ROW}, {', '.join(inner)} FROM src)"
        )
        found = self.one(f"SELECT {', '.join(probes)} FROM typed") or ()
        aliases = list(columns)
        bad = sorted(
            (row, aliases[k // 2], k % 2 == 1) for k, row in enumerate(found) if row is not None
        )
        if bad:
            row, alias, empty = bad[0]
            user, dtype = columns[alias]
            if empty:
                raise self.fail(row, user, "value is required but empty")
            value = self.first(f"FROM src WHERE {ROW} = {row}", q(user))
            raise self.fail(row, user, f"expected {_EXPECT[dtype]}", value[1] if value else None)

    def infer(self, user: str) -> str:
        """A dtype for a feature declared ``auto``: float, bool or string."""
        arrow_type = self.source.table.schema.field(user).type
        if pa.types.is_boolean(arrow_type):
            return "bool"
        if pa.types.is_integer(arrow_type):
            return "int"
        if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
            return "float"
        for dtype in ("float", "bool"):
            first, finish = _conv(q(user), dtype, arrow_type)
            ok = self.one(
                f"SELECT COUNT(*) FILTER (WHERE {_present(q(user), arrow_type)} AND "
                f"({finish.format(v='v')}) IS NULL) = 0 "
                f"FROM (SELECT {first} AS v, {q(user)} FROM src)"
            )
            if ok and ok[0]:
                return dtype
        return "string"

    def close(self) -> None:
        self.con.close()


def prepare(
    source: Source,
    mapping: Mapping,
    *,
    store_attributes: dict[str, tuple[str, str]],
    store_types: dict[str, OutcomeType],
    exported_at: datetime | None = None,
    shape: str = "auto",
    store_positive_labels: tuple[str, ...] = (),
    store_first: datetime | None = None,
) -> Batch:
    """Validate ``source`` against ``mapping``; raise :class:`RowError` on the first bad row.

    ``store_positive_labels``: the served labels the store already reads as
    positive (see :class:`~seismo.config.PredictionColumns`); a mapping that
    declares others is refused. ``store_first``: when the store's first
    prediction was served (what a row's time is judged against, with the
    batch's own, see :mod:`seismo.ingest.plausible`).
    """
    columns = set(source.table.column_names)
    shape = _choose_shape(mapping, columns, shape, source.name)
    if source.table.num_rows == 0:
        raise InputError("no data rows", source=source.name)
    latest = datetime.now(UTC).replace(tzinfo=None) + mapping.checks.future
    if exported_at is not None and exported_at.replace(tzinfo=None) > latest:
        raise InputError(
            f"the export time {exported_at} lies in the future (after {latest:%Y-%m-%d %H:%M} UTC)",
            source=source.name,
        )
    checker = _Checker(source)
    try:
        types = {t.name: t for t in (*store_types.values(), *mapping.outcome_types)}
        if shape == "outcomes":
            outcomes, held = _outcome_events(checker, mapping, types, store_first)
            return Batch(
                source,
                shape,
                _batch_id(source, mapping, exported_at),
                None,
                {},
                outcomes,
                mapping.outcome_types,
                None,
                quarantined=tuple(held),
            )
        positive = _positive_labels(mapping, store_positive_labels)
        predicts_value = any(t.kind == "value" for t in types.values())
        predictions, attributes, held = _predictions(
            checker, mapping, store_attributes, positive, predicts_value, store_first
        )
        outcomes = None
        if shape == "flat":
            exported_at = _exported_at(checker, mapping, exported_at)
            outcomes = _flat_outcomes(checker, mapping, types, exported_at)
        return Batch(
            source,
            shape,
            _batch_id(source, mapping, exported_at),
            predictions,
            attributes,
            outcomes,
            mapping.outcome_types,
            exported_at,
            positive if mapping.predictions and mapping.predictions.positive_label else (),
            tuple(held),
            mapping.words,
            mapping.declared,
        )
    finally:
        checker.close()


def _choose_shape(mapping: Mapping, columns: set[str], shape: str, name: str) -> str:
    if shape != "auto":
        if shape in ("flat", "predictions") and mapping.predictions is None:
            raise ConfigError(f"{name}: the mapping has no [predictions] section")
        if shape == "outcomes" and mapping.outcomes is None:
            raise ConfigError(f"{name}: the mapping has no [outcomes] section")
        return shape
    p = mapping.predictions
    if p and {p.id, p.timestamp} <= columns:
        return "flat" if mapping.outcome_columns else "predictions"
    o = mapping.outcomes
    if (
        o
        and {o.id, o.timestamp} <= columns
        and not (p and p.id in columns and p.timestamp in columns)
    ):
        return "outcomes"
    wanted = []
    if p:
        wanted.append(f"predictions need {sorted({p.id, p.timestamp} - columns)}")
    if o:
        wanted.append(f"outcome events need {sorted({o.id, o.timestamp} - columns)}")
    raise InputError(
        f"missing required column(s): {'; '.join(wanted)}; the file has {sorted(columns - {ROW})}",
        source=name,
    )


def _positive_labels(mapping: Mapping, stored: tuple[str, ...]) -> tuple[str, ...]:
    """The served labels read as positive: the mapping's, else the store's (empty: 1/0 etc.)."""
    declared = mapping.predictions.positive_label if mapping.predictions else ()
    if declared and stored and declared != stored:
        raise ConfigError(
            f"positive_label {list(declared)}: the store already reads served labels "
            f"{list(stored)} as positive; one store, one reading"
        )
    return declared or stored


def _check_labels(checker: _Checker, column: str, positive: tuple[str, ...]) -> None:
    """Without declared positive labels, every served label must read as a class."""
    if positive:
        return
    known = ", ".join(_lit(v) for v in (*POSITIVE_LABELS, *NEGATIVE_LABELS))
    bad = checker.first(
        f"FROM typed WHERE label IS NOT NULL AND LOWER(label) NOT IN ({known})", "label"
    )
    if bad:
        raise checker.fail(
            bad[0],
            column,
            "a served label is read as predicted positive (1, true, yes, positive) or negative "
            "(0, false, no, negative); for other classes declare positive_label in [predictions]",
            bad[1],
        )


#: Core columns a file may omit although the mapping names them.
_SERVING = frozenset({"latency_ms", "status"})


def _predictions(
    checker: _Checker,
    mapping: Mapping,
    store_attributes: dict[str, tuple[str, str]],
    positive: tuple[str, ...] = (),
    predicts_value: bool = False,
    store_first: datetime | None = None,
) -> tuple[pa.Table, dict[str, tuple[str, str]], list[dict[str, Any]]]:
    spec = mapping.predictions
    assert spec is not None
    in_file = set(checker.source.table.column_names)
    # The serving columns may be left out of a file even where mapped (an export from
    # before the serving system logged them): they are stored empty then.
    columns = {
        core: (user, _CORE_DTYPES[core])
        for core, user in spec.core().items()
        if core not in _SERVING or user in in_file
    }
    attributes: dict[str, tuple[str, str]] = {}
    for name in spec.segments:
        attributes[name] = ("segment", "string")
    for name, dtype in spec.features.items():
        known = store_attributes.get(name)
        resolved: str = dtype
        if dtype == "auto":
            present = name in checker.source.table.column_names
            resolved = known[1] if known else checker.infer(name) if present else "string"
        elif known and known[1] != dtype:
            raise ConfigError(
                f"feature {name!r} is declared {dtype} but the store already holds it as {known[1]}"
            )
        attributes[name] = ("feature", resolved)
    for name in attributes:
        if name in CORE_PREDICTION_COLUMNS:
            raise ConfigError(
                f"column {name!r} would collide with seismo's own column of that name; rename it"
            )
        known = store_attributes.get(name)
        if known and known[0] != attributes[name][0]:
            raise ConfigError(
                f"column {name!r} is a {known[0]} in the store, not a {attributes[name][0]}"
            )
        columns[name] = (name, attributes[name][1])
    if spec.request_id:
        known = store_attributes.get(REQUEST_COLUMN)
        if known and known[0] != REQUEST_ROLE:
            raise ConfigError(
                f"request_id: the store already holds a {known[0]} named {REQUEST_COLUMN!r}"
            )
        attributes[REQUEST_COLUMN] = (REQUEST_ROLE, "string")
        columns[REQUEST_COLUMN] = (spec.request_id, "string")
    for oc in mapping.outcome_columns:
        columns[f"__v:{oc.type}"] = (oc.value, "float")
        if oc.timestamp:
            columns[f"__t:{oc.type}"] = (oc.timestamp, "timestamp")
    if mapping.final:
        columns["__final"] = (mapping.final, "bool")
    checker.convert(columns, required={"prediction_id", "served_at", "model_version"})
    if spec.label:
        _check_labels(checker, spec.label, positive)
    held = check_rows(
        checker,
        columns,
        mapping.checks,
        times=["served_at", *(f"__t:{oc.type}" for oc in mapping.outcome_columns if oc.timestamp)],
        names=[*NAMES, *spec.segments],
        score_range=mapping.checks.score_range(predicts_value),
        store_first=store_first,
    )

    dup = checker.first(
        "FROM (SELECT *, COUNT(*) OVER (PARTITION BY prediction_id) AS n, "
        f"MIN({ROW}) OVER (PARTITION BY prediction_id) AS first_row FROM typed) WHERE n > 1 "
        f"AND {ROW} > first_row",
        "prediction_id, first_row",
    )
    if dup:
        raise checker.fail(dup[0], spec.id, f"duplicate id (first seen on row {dup[2]})", dup[1])

    version = "model_version" if spec.model_version else f"{_lit(mapping.model_version or '')}"
    core_select = [
        "prediction_id",
        "served_at",
        f"{_lit(mapping.model_name)} AS model_name",
        f"{version} AS model_version",
    ]
    for core in ("entity_id", "item_id", "score", "label", "latency_ms", "status"):
        core_select.append(core if core in columns else f"NULL AS {core}")
    select = [ROW, *core_select, *(q(a) for a in attributes)]
    table = checker.con.sql(
        f"SELECT {', '.join(select)} FROM typed ORDER BY {ROW}"
    ).to_arrow_table()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    table = table.cast(_prediction_schema(table.schema, attributes))
    return table, attributes, held


def _prediction_schema(schema: pa.Schema, attributes: dict[str, tuple[str, str]]) -> pa.Schema:
    arrow = {"string": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
    fixed = {
        "prediction_id": pa.string(),
        "served_at": pa.timestamp("us"),
        "model_name": pa.string(),
        "model_version": pa.string(),
        "entity_id": pa.string(),
        "item_id": pa.string(),
        "score": pa.float64(),
        "label": pa.string(),
        "latency_ms": pa.float64(),
        "status": pa.string(),
    }
    fixed[ROW] = pa.int64()
    fields = [pa.field(n, fixed.get(n) or arrow[attributes[n][1]]) for n in schema.names]
    return pa.schema(fields)


def _exported_at(checker: _Checker, mapping: Mapping, given: datetime | None) -> datetime:
    stamps = ["served_at"] + [f'"__t:{oc.type}"' for oc in mapping.outcome_columns if oc.timestamp]
    latest = checker.one(f"SELECT MAX(GREATEST({', '.join(stamps)})) FROM typed")
    newest = latest[0] if latest else None
    if given is None:
        if newest is None:
            raise InputError("cannot tell when the file was exported", source=checker.source.name)
        assert isinstance(newest, datetime)
        return newest
    given = given.replace(tzinfo=None)
    if newest is not None and newest > given:
        row = checker.first(
            f"FROM typed WHERE GREATEST({', '.join(stamps)}) > ?".replace(
                "?", f"TIMESTAMP '{given.isoformat()}'"
            )
        )
        raise checker.fail(
            row[0] if row else 1, None, f"has a timestamp after the export time {given}"
        )
    return given


def _flat_outcomes(
    checker: _Checker, mapping: Mapping, types: dict[str, OutcomeType], exported_at: datetime
) -> pa.Table:
    parts = []
    spec = mapping.predictions
    assert spec is not None
    for oc in mapping.outcome_columns:
        kind = types[oc.type].kind
        v, t = q(f"__v:{oc.type}"), q(f"__t:{oc.type}") if oc.timestamp else "NULL"
        if kind == "event":
            bad = checker.first(f"FROM typed WHERE {v} IS NOT NULL AND {v} NOT IN (0, 1)", v)
            if bad:
                raise checker.fail(
                    bad[0], oc.value, f"a {oc.type} is 1 (happened) or 0 (did not)", bad[1]
                )
            if oc.timestamp:
                bad = checker.first(f"FROM typed WHERE {v} = 1 AND {t} IS NULL")
                if bad:
                    raise checker.fail(
                        bad[0], oc.timestamp, f"{oc.value} is 1 but the {oc.type} time is empty"
                    )
                bad = checker.first(
                    f"FROM typed WHERE ({v} = 0 OR {v} IS NULL) AND {t} IS NOT NULL", t
                )
                if bad:
                    raise checker.fail(
                        bad[0], oc.timestamp, f"has a time but {oc.value} is not 1", str(bad[1])
                    )
        if oc.timestamp:
            bad = checker.first(f"FROM typed WHERE {t} < served_at", t)
            if bad:
                raise checker.fail(
                    bad[0],
                    oc.timestamp,
                    f"the {oc.type} is before the prediction it follows",
                    str(bad[1]),
                )
        parent = types[oc.type].parent
        parent_col = next((p for p in mapping.outcome_columns if p.type == parent), None)
        if parent_col is not None and kind == "event":
            pv, pt = q(f"__v:{parent}"), q(f"__t:{parent}")
            bad = checker.first(f"FROM typed WHERE {v} = 1 AND ({pv} IS NULL OR {pv} <> 1)")
            if bad:
                raise checker.fail(bad[0], oc.value, f"a {oc.type} without a {parent}")
            if oc.timestamp and parent_col.timestamp:
                bad = checker.first(f"FROM typed WHERE {t} < {pt}", t)
                if bad:
                    raise checker.fail(
                        bad[0], oc.timestamp, f"the {oc.type} is before its {parent}", str(bad[1])
                    )
        event_time = f"CASE WHEN {v} <> 0 OR {_lit(kind)} <> 'event' THEN {t} END"
        parts.append(
            f"SELECT {ROW}, prediction_id, {_lit(oc.type)} AS outcome_type, {v} AS value, "
            f"CAST(NULL AS VARCHAR) AS label, {event_time} AS event_time, "
            f"COALESCE({event_time}, TIMESTAMP '{exported_at.isoformat(sep=' ')}') AS observed_at "
            f"FROM typed WHERE {v} IS NOT NULL"
        )
    if mapping.final:
        pending = " OR ".join(f"({_pending(mapping, types, oc)})" for oc in mapping.outcome_columns)
        bad = checker.first(f"FROM typed WHERE __final AND ({pending})")
        if bad:
            raise checker.fail(
                bad[0],
                mapping.final,
                "says the truth is final but an outcome is still empty (pending)",
            )
    table = checker.con.sql(
        " UNION ALL ".join(parts) + f" ORDER BY {ROW}, outcome_type"
    ).to_arrow_table()
    return _outcome_table(table)


def _pending(mapping: Mapping, types: dict[str, OutcomeType], oc: OutcomeColumns) -> str:
    """SQL true where the outcome column ``oc`` is still pending on a flat row.

    Empty means pending, except for a child outcome whose parent event did not
    happen (``returned`` left empty where ``purchased`` is 0): that child is not
    applicable. Nothing is stored for it, and it does not contradict a "final"
    flag. Its metrics never miss it: a child is measured per parent positive.
    """
    v = q(f"__v:{oc.type}")
    parent = types[oc.type].parent
    has_parent = any(p.type == parent for p in mapping.outcome_columns)
    if parent is None or not has_parent or types[parent].kind != "event":
        return f"{v} IS NULL"
    return f"{v} IS NULL AND {q(f'__v:{parent}')} IS DISTINCT FROM 0"


def _outcome_events(
    checker: _Checker,
    mapping: Mapping,
    types: dict[str, OutcomeType],
    store_first: datetime | None = None,
) -> tuple[pa.Table, list[dict[str, Any]]]:
    spec = mapping.outcomes
    assert spec is not None
    columns: dict[str, tuple[str, str]] = {
        "prediction_id": (spec.id, "string"),
        "event_time": (spec.timestamp, "timestamp"),
    }
    if spec.type_column:
        columns["outcome_type"] = (spec.type_column, "string")
    if spec.value:
        columns["value"] = (spec.value, "float")
    if spec.label:
        columns["label"] = (spec.label, "string")
    checker.convert(columns, required={"prediction_id", "event_time", "outcome_type"})
    held = check_rows(
        checker,
        columns,
        mapping.checks,
        times=["event_time"],
        names=["prediction_id", "outcome_type", "label"],
        score_range=None,
        store_first=store_first,
    )
    type_sql = "outcome_type" if spec.type_column else _lit(spec.type or "")
    known = ", ".join(_lit(n) for n in types) or "NULL"
    bad = checker.first(f"FROM typed WHERE {type_sql} NOT IN ({known})", type_sql)
    if bad:
        raise checker.fail(
            bad[0], spec.type_column, f"unknown outcome type (declared: {sorted(types)})", bad[1]
        )
    need = "value" if spec.value else "label"
    if spec.value and spec.label:
        bad = checker.first("FROM typed WHERE value IS NULL AND label IS NULL")
        if bad:
            raise checker.fail(bad[0], spec.value, "an outcome needs a value or a label")
    else:
        bad = checker.first(f"FROM typed WHERE {need} IS NULL")
        if bad:
            raise checker.fail(bad[0], spec.value or spec.label, "value is required but empty")
    events = [n for n, t in types.items() if t.kind == "event"]
    if spec.value and events:
        in_events = ", ".join(_lit(n) for n in events)
        bad = checker.first(
            f"FROM typed WHERE {type_sql} IN ({in_events}) AND value NOT IN (0, 1)", "value"
        )
        if bad:
            raise checker.fail(
                bad[0], spec.value, "an event outcome is 1 (happened) or 0 (did not)", bad[1]
            )
    dup = checker.first(
        f"FROM (SELECT *, COUNT(*) OVER (PARTITION BY prediction_id, {type_sql}) AS n, "
        f"MIN({ROW}) OVER (PARTITION BY prediction_id, {type_sql}) AS first_row FROM typed) "
        f"WHERE n > 1 AND {ROW} > first_row",
        "prediction_id, first_row",
    )
    if dup:
        raise checker.fail(
            dup[0], spec.id, f"duplicate outcome for this id (first on row {dup[2]})", dup[1]
        )
    value = "value" if spec.value else "CAST(NULL AS DOUBLE)"
    label = "label" if spec.label else "CAST(NULL AS VARCHAR)"
    absent = f"({type_sql} IN ({', '.join(_lit(n) for n in events) or 'NULL'}) AND {value} = 0)"
    table = checker.con.sql(
        f"SELECT {ROW}, prediction_id, {type_sql} AS outcome_type, {value} AS value, "
        f"{label} AS label, CASE WHEN {absent} THEN NULL ELSE event_time END AS event_time, "
        f"event_time AS observed_at FROM typed ORDER BY {ROW}"
    ).to_arrow_table()
    return _outcome_table(table), held


def _outcome_table(table: pa.Table | pa.RecordBatchReader) -> pa.Table:
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table.cast(
        pa.schema(
            [
                (ROW, pa.int64()),
                ("prediction_id", pa.string()),
                ("outcome_type", pa.string()),
                ("value", pa.float64()),
                ("label", pa.string()),
                ("event_time", pa.timestamp("us")),
                ("observed_at", pa.timestamp("us")),
            ]
        )
    )


def _batch_id(source: Source, mapping: Mapping, exported_at: datetime | None) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(source.digest.encode())
    h.update(repr(mapping).encode())
    h.update(str(exported_at).encode())
    return h.hexdigest()[:32]
