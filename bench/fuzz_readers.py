"""Fuzz the CSV and Parquet readers: any file either ingests or is refused with a clear error.

Usage::

    python bench/fuzz_readers.py --minutes 10

Hypothesis builds files from the seed export: a valid export with bytes
flipped, lines cut, duplicated or shuffled, quotes and separators injected,
cells replaced by hostile values (huge numbers, control characters, other
encodings, dates out of range), and Parquet tables whose columns change type
(lists, structs, unsigned 64-bit, binary, nulls). Each file is ingested into
a fresh in-memory store. The only acceptable outcomes are a stored batch or a
:class:`seismo.errors.SeismoError` (exit 2 on the command line); anything else
(a traceback) is printed with the input that caused it and counts as a
failure. The last line is a JSON summary: examples tried, stored, refused,
crashed.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from seismo.errors import SeismoError
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store

HOSTILE = [
    "",
    " ",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "99999999999999999999",
    "-0",
    "0x1F",
    "1,5",
    "\x00",
    "\x1b[2J",
    "é",
    "\ufeff",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1900-01-01",
    "epoch",
    "infinity",
    '"',
    '""',
    "a,b",
    "\n",
    "\r\n",
    "true",
    "NULL",
    "[1, 2]",
    "{'a': 1}",
    "🙂" * 50,
    "x" * 10_000,
]


def base_export() -> pa.Table:
    sim = simulate(Scenario(days=3, per_day=60, seed=11, reference_days=1))
    return sim.export


def _csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


@st.composite
def csv_files(draw: st.DrawFn, text: bytes) -> bytes:
    lines = text.split(b"\n")
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "dup", "swap", "cell", "inject", "drop"]))
        data = bytearray(b"\n".join(lines))
        if action == "flip" and data:
            for _ in range(draw(st.integers(1, 20))):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            lines = bytes(data).split(b"\n")
        elif action == "cut":
            joined = b"\n".join(lines)
            lines = joined[: rnd.randrange(len(joined) + 1)].split(b"\n")
        elif action == "dup" and len(lines) > 1:
            i = rnd.randrange(len(lines))
            lines.insert(i, lines[i])
        elif action == "swap" and len(lines) > 2:
            i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "cell" and len(lines) > 1:
            i = rnd.randrange(1, len(lines))
            cells = lines[i].split(b",") or [b""]
            value = draw(st.sampled_from(HOSTILE)).encode("utf-8", "surrogatepass")
            cells[rnd.randrange(len(cells))] = value
            lines[i] = b",".join(cells)
        elif action == "inject" and lines:
            i = rnd.randrange(len(lines))
            lines[i] = lines[i] + draw(st.sampled_from([b'"', b",", b";", b"\t", b"\r", b"\x00"]))
        elif action == "drop" and lines:
            del lines[rnd.randrange(len(lines))]
    return b"\n".join(lines)


@st.composite
def parquet_tables(draw: st.DrawFn, table: pa.Table) -> pa.Table:
    names = table.column_names
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(names))
        n = table.num_rows
        kind = draw(
            st.sampled_from(["list", "struct", "uint64", "binary", "null", "float", "text"])
        )
        if kind == "list":
            column = pa.array([[1, 2]] * n)
        elif kind == "struct":
            column = pa.array([{"a": 1}] * n)
        elif kind == "uint64":
            column = pa.array([2**64 - 1] * n, pa.uint64())
        elif kind == "binary":
            column = pa.array([b"\xff\x00"] * n, pa.binary())
        elif kind == "null":
            column = pa.nulls(n)
        elif kind == "float":
            column = pa.array([draw(st.floats(allow_nan=True, allow_infinity=True))] * n)
        else:
            column = pa.array([draw(st.sampled_from(HOSTILE))] * n)
        table = table.set_column(names.index(name), name, column)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    table = base_export()
    text = _csv_bytes(table)
    counts = {"tried": 0, "stored": 0, "refused": 0, "crashed": 0}
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="seismo-fuzz-"))

    def attempt(data: bytes | pa.Table, suffix: str) -> None:
        counts["tried"] += 1
        path = folder / f"input{suffix}"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            pq.write_table(data, path)
        try:
            with open_store(":memory:") as store:
                ingest(store, path)
            counts["stored"] += 1
        except SeismoError:
            counts["refused"] += 1
        except Exception:
            counts["crashed"] += 1
            print(f"CRASH on {suffix} input:\n{traceback.format_exc()}", file=sys.stderr)
            keep = folder / f"crash-{counts['crashed']}{suffix}"
            path.replace(keep)
            print(f"kept as {keep}", file=sys.stderr)

    half = args.minutes * 30  # seconds for each format
    csvs, tables = csv_files(text), parquet_tables(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        while time.monotonic() - started < half:
            attempt(csvs.example(), ".csv")
        while time.monotonic() - started < 2 * half:
            attempt(tables.example(), ".parquet")
    summary = {**counts, "minutes": round((time.monotonic() - started) / 60, 1)}
    print(json.dumps(summary))
    sys.exit(1 if counts["crashed"] else 0)


if __name__ == "__main__":
    main()
