"""Read one input (CSV, Parquet, Arrow IPC, JSON lines, or an in-memory frame) into an Arrow table.

CSV is read with every column as text so that validation, not the reader,
decides what a bad value is and can name its row. The dialect is fixed
(comma, or the separator the header line uses; double quotes) rather than
sniffed: a sniffer that guesses on a truncated or foreign file produces
baffling errors further down.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seismo.errors import InputError, RowError
from seismo.events import ROW, Source

__all__ = ["MEDIA_TYPES", "read_bytes", "read_source"]
_PARQUET_MAGIC = b"PAR1"
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


def read_source(data: Any, *, name: str | None = None) -> Source:
    """Read a path (CSV / Parquet) or a pandas, Polars or Arrow table."""
    if isinstance(data, str | Path):
        return _read_path(Path(data))
    table = _to_arrow(data)
    label = name or "<frame>"
    digest = _digest_table(table)
    return Source(label, _with_rows(table), digest, is_csv=False)


#: The media types :func:`read_bytes` reads (an HTTP body's ``Content-Type``) → format.
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
}


def read_bytes(body: bytes, media_type: str, *, name: str) -> Source:
    """Read one batch sent as bytes (an HTTP body) of a type named in :data:`MEDIA_TYPES`.

    CSV goes through the same reader as a CSV file (every column text, rows
    named by line); JSON lines are one object per line, read as text like
    CSV so validation decides what a bad value is (a list or an object where
    one value belongs is refused by row); Parquet and Arrow IPC (stream or
    file) keep their types. The body's SHA-256 is the source's digest, so
    the same bytes make the same batch id as the same file would.
    """
    kind = MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
    if kind is None:
        raise InputError(
            f"cannot read {media_type!r}: send one of {sorted(MEDIA_TYPES)}", source=name
        )
    if not body:
        raise InputError("the body is empty", source=name)
    digest = hashlib.sha256(body).hexdigest()
    if kind == "csv":
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".csv") as fh:
            fh.write(body)
            fh.flush()
            table = _read_csv(Path(fh.name), name=name)
        return Source(name, _with_rows(table), digest, is_csv=True)
    if kind == "jsonl":
        return Source(name, _with_rows(_read_json_lines(body, name)), digest, is_csv=False)
    try:
        if kind == "parquet":
            table = pq.read_table(pa.BufferReader(body))
        elif body[:6] == b"ARROW1":
            table = pa.ipc.open_file(pa.BufferReader(body)).read_all()
        else:
            table = pa.ipc.open_stream(pa.BufferReader(body)).read_all()
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError variants
        raise InputError(f"not a readable {kind} body: {_first(exc)}", source=name) from exc
    return Source(name, _with_rows(table), digest, is_csv=False)


def _first(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_json_lines(body: bytes, name: str) -> pa.Table:
    """One JSON object per line → a table of text columns (blank lines are skipped)."""
    import json

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("not JSON lines (the body is not UTF-8 text)", source=name) from exc
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise RowError(
                f"not a JSON object: {exc.args[0] if exc.args else exc}",
                source=name,
                row=len(rows) + 1,
                column=None,
                line=number,
            ) from exc
        if not isinstance(obj, dict):
            raise RowError(
                f"expected a JSON object, not {type(obj).__name__}",
                source=name,
                row=len(rows) + 1,
                column=None,
                line=number,
            )
        rows.append(obj)
    if not rows:
        raise InputError("no data rows", source=name)
    columns: dict[str, list[str | None]] = {}
    for i, obj in enumerate(rows):
        for key, value in obj.items():
            if isinstance(value, list | dict):
                what = "list" if isinstance(value, list) else "object"
                raise RowError(
                    f"expected one value, not a JSON {what}",
                    source=name,
                    row=i + 1,
                    column=key,
                )
            if key not in columns:
                columns[key] = [None] * i
            columns[key].append(_json_text(value))
        for values in columns.values():
            if len(values) == i:
                values.append(None)
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise InputError(
        f"cannot read a {type(data).__name__}: pass a path, or a pandas, Polars or Arrow table"
    )


def _read_path(path: Path) -> Source:
    name = str(path)
    if not path.exists():
        raise InputError("file does not exist", source=name)
    if path.is_dir():
        raise InputError("is a folder, not a file", source=name)
    size = path.stat().st_size
    if size == 0:
        raise InputError("file is empty", source=name)
    with path.open("rb") as fh:
        head = fh.read(4)
    digest = _digest_file(path)
    if head == _PARQUET_MAGIC:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid and OSError variants
            raise InputError(f"not a readable Parquet file: {exc}", source=name) from exc
        return Source(name, _with_rows(table), digest, is_csv=False)
    return Source(name, _with_rows(_read_csv(path)), digest, is_csv=True)


def _read_csv(path: Path, name: str | None = None) -> pa.Table:
    name = name or str(path)
    header = _header(path, name)
    delimiter = max(",;\t|", key=header.count)
    try:
        columns = next(csv.reader(io.StringIO(header), delimiter=delimiter), [])
    except csv.Error as exc:  # a stray carriage return, say: not a header line
        raise InputError(f"not a CSV file with a header row (line 1: {exc})", source=name) from exc
    columns = [c.strip() for c in columns]
    if len(columns) < 2 or any(not c for c in columns):
        raise InputError(
            "not a CSV file with a header row (expected comma-separated column names on line 1)",
            source=name,
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise InputError(f"header names column(s) {duplicated} more than once", source=name)
    spec = ", ".join(f"'{_sql_str(c)}': 'VARCHAR'" for c in columns)
    sql = (
        f"SELECT * FROM read_csv('{_sql_str(str(path))}', delim='{_sql_str(delimiter)}', "
        f"quote='\"', escape='\"', header=true, auto_detect=false, strict_mode=true, "
        f"columns={{{spec}}})"
    )
    con = duckdb.connect()
    try:
        table = con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise _csv_error(str(exc), name) from exc
    finally:
        con.close()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table


def _header(path: Path, name: str) -> str:
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    if b"\x00" in first:
        raise InputError("not a CSV file (binary content)", source=name)
    try:
        return first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError("not a CSV file (line 1 is not UTF-8 text)", source=name) from exc


def _csv_error(message: str, source: str) -> InputError:
    """Turn DuckDB's multi-paragraph CSV error into one line naming the line and reason."""
    match = _CSV_LINE.search(message)
    reason = "the CSV parser could not read this file (is it a CSV file?)"
    # DuckDB's message: "CSV Error on Line: N", "Original Line: ..." (the row, which can
    # span lines), the reason on a line of its own, then "Possible fixes: ...".
    before, fixes, _ = message.partition("Possible fixes")
    said = [ln.strip() for ln in before.splitlines() if ln.strip()]
    if fixes and said and not said[-1].startswith(("Original Line:", "Invalid Input Error")):
        reason = said[-1]
    if "Expected Number of Columns" in reason or "unterminated quote" in reason:
        reason += " (truncated or malformed row)"
    if "unicode" in reason.lower():
        reason = "not UTF-8 text (is it a CSV file?)"
    if match:
        line = int(match.group(1))
        return RowError(reason, source=source, row=line - 1, column=None, line=line)
    return InputError(reason, source=source)


def _with_rows(table: pa.Table) -> pa.Table:
    if ROW in table.column_names:
        raise InputError(f"column name {ROW!r} is reserved")
    return table.append_column(ROW, pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _digest_table(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _sql_str(text: str) -> str:
    return text.replace("'", "''")
