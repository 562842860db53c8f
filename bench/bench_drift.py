"""Feature drift over 20 features: seismo beside Evidently and NannyML, time and peak memory.

Usage::

    python bench/bench_drift.py --rows 1000000 10000000

Writes (once per size and seed, kept under ``--workdir``) a reference Parquet
file of ``--reference-rows`` predictions over the 14 days before 2026-05-12 and
a production file of ``--rows`` predictions over the 30 days from 2026-05-12,
each with 12 numeric and 8 categorical features, plus a seismo mapping TOML.
From production day 20 on exactly three features move: ``num_00`` (mean +0.5
sd), ``num_01`` (lognormal sigma 0.5 to 0.8) and ``cat_00`` (frequencies
reshuffled, PSI about 0.3); every other feature keeps the reference's generator.

Then, each in a fresh process whose own peak RSS it reports (children included):

* ``plain``: one DuckDB pass over the production file, ``COUNT(*)`` and the
  average or count of every feature ``GROUP BY`` day: the unit (``× plain``);
* ``seismo-ingest``, ``seismo-reference``, ``seismo-drift``: ``seismo ingest``
  of the production file into a fresh store (in files of a million rows, one
  batch each, above that), ``seismo reference add`` of the
  reference file, ``seismo drift`` (daily windows) as JSON;
* ``nannyml``: read both files with pandas, ``UnivariateDriftCalculator``
  (KS and Jensen-Shannon for numeric, chi2 and Jensen-Shannon for categorical
  features, daily chunks) fitted on the reference, calculated on production;
* ``evidently``: read both files with pandas, the ``DataDriftPreset`` report
  over the 20 features, reference vs the whole production file (one window).

Evidently and NannyML are not project dependencies: install them in their own
virtualenv from ``bench/requirements-compare.txt`` and pass its interpreter::

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -r bench/requirements-compare.txt
    nice python bench/bench_drift.py --rows 1000000 \\
        --competitor-python /tmp/benchvenv/bin/python

Above ``--competitors-max-rows`` (1,000,000 unless raised) they are skipped,
and say so: they hold both files in pandas. Without ``seismo reference add``
and ``seismo drift`` in ``--seismo-python``, the seismo steps are skipped too.
Seconds are the wall time of each step's whole process, interpreter start and
imports included. Prints one JSON line per size and tool, then a markdown table
per size, with the features each tool flagged from day 20 on (and before it,
which are false alarms) against the three shifted ones.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
NUMERIC = [f"num_{i:02d}" for i in range(12)]
CATEGORICAL = [f"cat_{i:02d}" for i in range(8)]
FEATURES = NUMERIC + CATEGORICAL
INTEGER = {"num_05", "num_06", "num_10"}
SHIFTED = ["num_00", "num_01", "cat_00"]
PRODUCTION_START = datetime(2026, 5, 12)
PRODUCTION_DAYS = 30
REFERENCE_DAYS = 14
SHIFT_START = PRODUCTION_START + timedelta(days=20)
CHUNK_ROWS = 1_000_000
# cat_00's level frequencies; from day 20 on, level i takes CAT_00[CAT_00_SHIFT[i]] (PSI 0.305).
CAT_00 = [0.40, 0.25, 0.15, 0.12, 0.08]
CAT_00_SHIFT = [0, 4, 2, 1, 3]
# Level counts of cat_01..cat_07 (cat_00 has 5); cat_04 has 0.5% missing values.
CAT_LEVELS = {
    "cat_01": 3,
    "cat_02": 10,
    "cat_03": 50,
    "cat_04": 4,
    "cat_05": 7,
    "cat_06": 20,
    "cat_07": 12,
}
MISSING = {"num_02": 0.01, "num_06": 0.01, "num_08": 0.01, "cat_04": 0.005}


# --- data -------------------------------------------------------------------


def _zipf(levels: int) -> Any:
    import numpy as np

    weights = 1.0 / np.arange(1, levels + 1) ** 1.1
    return weights / weights.sum()


def _chunk(seed: list[int], lo: int, hi: int, total: int, start: datetime, days: int) -> Any:
    """Rows ``lo..hi`` of ``total`` spread evenly (with jitter) over ``days`` from ``start``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    n = hi - lo
    span_us = days * 86_400_000_000
    start_us = int((start - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    offset = ((np.arange(lo, hi) + rng.random(n)) / total * span_us).astype(np.int64)
    ts = start_us + offset
    shifted = ts >= int((SHIFT_START - datetime(1970, 1, 1)).total_seconds()) * 1_000_000

    numbers = {
        "num_00": rng.normal(0.0, 1.0, n) + 0.5 * shifted,
        "num_01": np.exp(rng.normal(0.0, 1.0, n) * np.where(shifted, 0.8, 0.5)),
        "num_02": rng.normal(100.0, 15.0, n),
        "num_03": rng.lognormal(3.0, 1.0, n),
        "num_04": rng.random(n),
        "num_05": rng.poisson(3.0, n),
        "num_06": rng.integers(18, 81, n),
        "num_07": rng.normal(-2.0, 0.3, n),
        "num_08": rng.exponential(2.0, n),
        "num_09": rng.uniform(-10.0, 10.0, n),
        "num_10": rng.binomial(20, 0.3, n),
        "num_11": rng.gamma(2.0, 2.0, n),
    }
    codes = {"cat_00": rng.choice(len(CAT_00), n, p=CAT_00)}
    codes["cat_00"] = np.where(shifted, np.argsort(CAT_00_SHIFT)[codes["cat_00"]], codes["cat_00"])
    for name, levels in CAT_LEVELS.items():
        codes[name] = rng.choice(levels, n, p=_zipf(levels))
    logit = 0.03 * (numbers["num_02"] - 100) + 2.0 * (numbers["num_04"] - 0.5)
    logit += np.array([-0.5, 0.0, 0.7])[codes["cat_01"]]

    prefix = "p" if start >= PRODUCTION_START else "r"
    columns: dict[str, Any] = {
        "id": pc.binary_join_element_wise(
            prefix, pc.cast(pa.array(np.arange(lo, hi)), pa.string()), ""
        ),
        "ts": pa.array(ts, pa.timestamp("us")),
        "model_version": pa.repeat(pa.scalar("v1"), n),
        "score": pa.array(1.0 / (1.0 + np.exp(-logit))),
    }
    for name, values in numbers.items():
        mask = rng.random(n) < MISSING[name] if name in MISSING else None
        columns[name] = pa.array(values, mask=mask)
    for name, values in codes.items():
        mask = rng.random(n) < MISSING[name] if name in MISSING else None
        count = CAT_LEVELS.get(name, len(CAT_00))
        levels = pa.array([f"{name[-2:]}_{i:02d}" for i in range(count)])
        columns[name] = pa.DictionaryArray.from_arrays(
            pa.array(values.astype(np.int32), mask=mask), levels
        ).dictionary_decode()
    return pa.table(columns)


def write_parquet(path: Path, kind: str, rows: int, seed: int) -> None:
    """The ``reference`` or ``production`` file, a million rows at a time."""
    import pyarrow.parquet as pq

    if kind == "production":
        part, start, days = 0, PRODUCTION_START, PRODUCTION_DAYS
    else:
        part, start, days = 1, PRODUCTION_START - timedelta(days=REFERENCE_DAYS), REFERENCE_DAYS
    tmp = path.with_suffix(".tmp")
    writer = None
    for index, lo in enumerate(range(0, rows, CHUNK_ROWS)):
        table = _chunk([seed, part, index], lo, min(lo + CHUNK_ROWS, rows), rows, start, days)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=CHUNK_ROWS)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def write_mapping(path: Path) -> None:
    dtypes = ", ".join(
        f'{name} = "{"int" if name in INTEGER else "float" if name in NUMERIC else "string"}"'
        for name in FEATURES
    )
    path.write_text(
        "# Written by bench/bench_drift.py.\n"
        '[model]\nname = "drift-bench"\nversion = "v1"\n\n'
        '[predictions]\nid = "id"\ntimestamp = "ts"\nmodel_version = "model_version"\n'
        f'score = "score"\nfeatures = {{ {dtypes} }}\n'
    )


def ingest_parts(path: Path) -> list[str]:
    """The production file as files of at most a million rows, one ingest batch each.

    ``seismo ingest`` validates and writes one file as one transaction, holding
    it in memory (about 1.4 GB per million rows); larger exports are sent in
    parts, as the README says.
    """
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    if source.metadata.num_rows <= CHUNK_ROWS:
        return [str(path)]
    parts = []
    for i in range(source.num_row_groups):
        part = path.with_name(f"{path.stem}-part{i:02d}.parquet")
        if not part.exists():
            pq.write_table(source.read_row_group(i), part)
        parts.append(str(part))
    return parts


def make_files(args: argparse.Namespace, rows: int) -> dict[str, str]:
    """The two Parquet files (written in child processes, kept) and the mapping."""
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = {
        "production": workdir / f"production-{rows}-s{args.seed}.parquet",
        "reference": workdir / f"reference-{args.reference_rows}-s{args.seed}.parquet",
        "mapping": workdir / "mapping.toml",
    }
    for kind, count in (("reference", args.reference_rows), ("production", rows)):
        if not files[kind].exists():
            job = {"path": str(files[kind]), "kind": kind, "rows": count, "seed": args.seed}
            result = run_step(sys.executable, "generate", job, args.timeout)
            print(json.dumps({"step": f"generate-{kind}", "rows": count, **result}), flush=True)
            if "error" in result:
                raise SystemExit(result["error"])
    write_mapping(files["mapping"])
    return {kind: str(path) for kind, path in files.items()}


# --- steps, run in a child process ------------------------------------------


def _peak_rss_mb() -> int:
    """Peak RSS of this process or of the largest child it waited for, in MB.

    This process's own peak is read from VmHWM where there is one: Linux carries
    ``ru_maxrss`` across exec, so a child would otherwise report its parent's peak.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024)


def step_generate(job: dict[str, Any]) -> dict[str, Any]:
    write_parquet(Path(job["path"]), job["kind"], job["rows"], job["seed"])
    return {}


def _split(flags: dict[str, list[datetime]]) -> dict[str, Any]:
    """Features flagged in a window from the shift day on, and before it (false alarms).

    ``hits`` counts the (shifted feature, window from the shift on) pairs flagged,
    ``false_alarms`` every other flagged (feature, window) pair.
    """
    pairs = {(f, s) for f, starts in flags.items() for s in starts}
    hits = sum(1 for f, s in pairs if f in SHIFTED and s >= SHIFT_START)
    return {
        "flagged": sorted({f for f, s in pairs if s >= SHIFT_START}),
        "flagged_before_shift": sorted({f for f, s in pairs if s < SHIFT_START}),
        "hits": hits,
        "false_alarms": len(pairs) - hits,
    }


def step_plain(files: dict[str, str]) -> dict[str, Any]:
    import duckdb

    aggregates = ", ".join([f"AVG({c})" for c in NUMERIC] + [f"COUNT({c})" for c in CATEGORICAL])
    rows = duckdb.sql(
        f"SELECT date_trunc('day', ts) AS d, COUNT(*), {aggregates}"
        f" FROM read_parquet('{files['production']}') GROUP BY 1"
    ).fetchall()
    return {"windows": len(rows)}


def step_nannyml(files: dict[str, str]) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    started = time.perf_counter()
    columns = ["ts", *FEATURES]
    reference = pd.read_parquet(files["reference"], columns=columns)
    production = pd.read_parquet(files["production"], columns=columns)
    read = time.perf_counter() - started
    calculator = nml.UnivariateDriftCalculator(
        column_names=FEATURES,
        timestamp_column_name="ts",
        chunk_period="D",
        continuous_methods=["kolmogorov_smirnov", "jensen_shannon"],
        categorical_methods=["chi2", "jensen_shannon"],
    )
    calculator.fit(reference)
    results = calculator.calculate(production).to_df()
    results = results[results[("chunk", "chunk", "period")] == "analysis"]
    starts = pd.to_datetime(results[("chunk", "chunk", "start_date")]).dt.tz_localize(None)
    flags: dict[str, list[datetime]] = {}
    before: dict[str, int] = {}  # alerts before the shift, per method
    for column, method, metric in results.columns:
        if metric == "alert" and column in FEATURES:
            hit = results[(column, method, metric)].astype(bool).to_numpy()
            flags.setdefault(column, []).extend(starts[hit].dt.to_pydatetime())
            early = int((hit & (starts < SHIFT_START).to_numpy()).sum())
            before[method] = before.get(method, 0) + early
    return {
        "version": nml.__version__,
        "read_seconds": round(read, 2),
        "windows": len(results),
        **_split(flags),
        "alerts_before_shift_by_method": before,
    }


def step_evidently(files: dict[str, str]) -> dict[str, Any]:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    reference = pd.read_parquet(files["reference"], columns=FEATURES)
    production = pd.read_parquet(files["production"], columns=FEATURES)
    read = time.perf_counter() - started
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    report = Report([DataDriftPreset(columns=FEATURES)], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(production, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    ).dict()
    drifted = sorted(
        test["metric_config"]["params"]["column"]
        for test in snapshot["tests"]
        if test["metric_config"]["params"].get("type", "").endswith("ValueDrift")
        and test["status"] == "FAIL"
    )
    methods = sorted(
        {
            m["config"]["method"]
            for m in snapshot["metrics"]
            if m["config"]["type"].endswith("ValueDrift")
        }
    )
    return {
        "version": evidently.__version__,
        "read_seconds": round(read, 2),
        "windows": 1,
        "methods": methods,
        "flagged": drifted,
        "flagged_before_shift": [],
        "hits": len(set(drifted) & set(SHIFTED)),
        "false_alarms": len(set(drifted) - set(SHIFTED)),
    }


def step_exec(command: list[str]) -> dict[str, Any]:
    """Run a command (its peak RSS is counted among this process's children)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    return {}


def seismo_flags(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if isinstance(data, dict):  # tolerate {"rows": [...]}-style wrappers
        data = next((v for v in data.values() if isinstance(v, list)), [])
    flags: dict[str, list[datetime]] = {}
    for row in data:
        if row.get("drifted") and row.get("feature") in FEATURES:
            start = datetime.fromisoformat(str(row["window_start"]).replace("Z", "+00:00"))
            flags.setdefault(row["feature"], []).append(start.replace(tzinfo=None))
    windows = {(r.get("window_start"), r.get("segment")) for r in data}
    return {"windows": len(windows), "result_rows": len(data), **_split(flags)}


# --- the parent ----------------------------------------------------------------


def run_step(python: str, step: str, payload: Any, timeout: float) -> dict[str, Any]:
    """Run one step in a fresh ``python`` process; wall seconds and its peak RSS."""
    argv = [python, str(HERE), "--child", step, json.dumps(payload)]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = done.stderr.strip().splitlines()[-5:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1])
    return {"seconds": round(seconds, 2), **result}


def seismo_has_drift(python: str) -> str | None:
    """Why seismo's drift commands can't run, or None when they can."""
    for command in (["reference", "add"], ["drift"]):
        probe = [python, "-m", "seismo", *command, "--help"]
        if subprocess.run(probe, capture_output=True, check=False).returncode:
            return f"`seismo {' '.join(command)}` is not available in {python}"
    return None


def bench_size(rows: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(args.workdir)
    paths = make_files(args, rows)
    results: list[dict[str, Any]] = []

    def record(tool: str, result: dict[str, Any]) -> dict[str, Any]:
        result = {"rows": rows, "tool": tool, **result}
        plain = results[0].get("seconds") if results else None
        if plain and "seconds" in result:
            result["x_plain"] = round(result["seconds"] / max(plain, 1e-3), 1)
        results.append(result)
        print(json.dumps(result), flush=True)
        return result

    record("plain", run_step(args.seismo_python, "plain", paths, args.timeout))

    reason = seismo_has_drift(args.seismo_python)
    store = workdir / f"seismo-{rows}.duckdb"
    out = workdir / f"seismo-drift-{rows}.json"
    seismo = [args.seismo_python, "-m", "seismo"]
    commands = {
        "seismo-ingest": [*seismo, "ingest", *ingest_parts(Path(paths["production"]))],
        "seismo-reference": [*seismo, "reference", "add", paths["reference"]],
        "seismo-drift": [*seismo, "drift", "--format", "json", "--out", str(out)],
    }
    commands["seismo-ingest"] += ["--mapping", paths["mapping"], "--store", str(store)]
    commands["seismo-reference"] += ["--mapping", paths["mapping"], "--model-version", "v1"]
    commands["seismo-reference"] += ["--store", str(store)]
    commands["seismo-drift"] += ["--store", str(store)]
    if reason is None:
        for leftover in (store, Path(f"{store}.wal"), out):
            leftover.unlink(missing_ok=True)
    for tool, command in commands.items():
        if reason:
            record(tool, {"skipped": reason})
            continue
        result = run_step(args.seismo_python, "exec", command, args.timeout)
        if tool == "seismo-drift" and "error" not in result:
            result.update(seismo_flags(out))
        if "error" in result:
            reason = f"{tool} failed"
        record(tool, result)

    for tool in ("nannyml", "evidently"):
        if rows > args.competitors_max_rows:
            reason = f"rows {rows:,} > --competitors-max-rows {args.competitors_max_rows:,}"
            record(tool, {"skipped": reason})
        elif not shutil.which(args.competitor_python) and not os.path.exists(
            args.competitor_python
        ):
            record(tool, {"skipped": f"no interpreter {args.competitor_python}"})
        else:
            record(tool, run_step(args.competitor_python, tool, paths, args.timeout))
    return results


def _flagged(result: dict[str, Any]) -> str:
    if "flagged" not in result:
        return ""
    text = ", ".join(result["flagged"]) or "none"
    if result.get("flagged_before_shift"):
        text += f" (before day 20: {', '.join(result['flagged_before_shift'])})"
    return text


def table(rows: int, results: list[dict[str, Any]]) -> str:
    lines = [
        f"\n### {rows:,} production rows (shifted: {', '.join(SHIFTED)})\n",
        "| tool | seconds | × plain | peak RSS | windows | flagged from day 20 | hits"
        " | false alarms | correct |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in results:
        if "seconds" not in r or "error" in r:
            why = r.get("skipped") or r.get("error", "")
            lines.append(f"| {r['tool']} | – | – | – | – | {why} | | | |")
            continue
        correct = ""
        if "flagged" in r:
            exact = r["flagged"] == sorted(SHIFTED) and not r["flagged_before_shift"]
            correct = "yes" if exact else "no"
        lines.append(
            f"| {r['tool']} | {r['seconds']:.2f} | {r.get('x_plain', 1.0):.1f} |"
            f" {r['peak_rss_mb']:,} MB | {r.get('windows', '')} | {_flagged(r)} |"
            f" {r.get('hits', '')} | {r.get('false_alarms', '')} | {correct} |"
        )
    by_tool = {r["tool"]: r for r in results if "seconds" in r and "error" not in r}
    seismo = [by_tool.get(t) for t in ("seismo-ingest", "seismo-reference", "seismo-drift")]
    if None in seismo:
        return "\n".join(lines)
    bases = {
        "seismo-drift": (seismo[2]["seconds"], seismo[2]["peak_rss_mb"]),
        "seismo ingest+reference+drift": (
            sum(r["seconds"] for r in seismo),
            max(r["peak_rss_mb"] for r in seismo),
        ),
    }
    lines.append("")
    for label, (seconds, memory) in bases.items():
        for tool in ("nannyml", "evidently"):
            if tool in by_tool:
                lines.append(
                    f"- {tool} / {label}: {by_tool[tool]['seconds'] / seconds:.1f}× the time,"
                    f" {by_tool[tool]['peak_rss_mb'] / memory:.1f}× the peak memory"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--reference-rows", type=int, default=500_000)
    parser.add_argument("--workdir", default="/tmp/seismo-drift-bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--competitors-max-rows", type=int, default=1_000_000)
    parser.add_argument("--competitor-python", default="/tmp/benchvenv/bin/python")
    parser.add_argument("--seismo-python", default=sys.executable)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per step")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, payload = args.child[0], json.loads(args.child[1])
        steps = {"generate": step_generate, "plain": step_plain, "exec": step_exec}
        steps |= {"nannyml": step_nannyml, "evidently": step_evidently}
        started = time.perf_counter()
        result = steps[step](payload)
        result["work_seconds"] = round(time.perf_counter() - started, 2)
        print(json.dumps({**result, "peak_rss_mb": _peak_rss_mb()}))
        return
    tables = [table(rows, bench_size(rows, args)) for rows in args.rows]
    print("\n".join(tables))


if __name__ == "__main__":
    main()
