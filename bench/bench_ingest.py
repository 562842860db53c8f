"""Ingest throughput and peak memory for a flat export, CSV vs Parquet.

Usage::

    python bench/bench_ingest.py --rows 1000000 [--store postgresql://...]

Simulates the seed scenario once at about ``--rows`` export rows (files are
kept under ``bench/out/`` and reused), then ingests the CSV and the Parquet
file, each into a fresh store in its own process (peak RSS only ever grows
within a process), and prints rows/s and peak resident memory as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_files(rows: int, out: Path) -> dict[str, Path]:
    from seismo.simulate import Scenario, simulate, write_simulation

    out.mkdir(parents=True, exist_ok=True)
    csv, parquet = (
        out / "production-recommendations-sample.csv",
        out / "production-recommendations-sample.parquet",
    )
    if not (csv.exists() and parquet.exists()):
        sim = simulate(Scenario(days=30, per_day=rows // 30, weekly_pattern=False))
        write_simulation(sim, out, fmt="csv", truth=False)
        write_simulation(sim, out, fmt="parquet", truth=False)
    return {"csv": csv, "parquet": parquet}


def ingest_once(path: Path, store: str) -> dict[str, float | int]:
    from seismo.ingest import ingest
    from seismo.store import open_store

    started = time.perf_counter()
    with open_store(store) as handle:
        result = ingest(handle, path)
    seconds = time.perf_counter() - started
    return {
        "rows": result.rows,
        "outcomes": result.outcomes_added,
        "seconds": round(seconds, 2),
        "rows_per_s": round(result.rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--store", default=None, help="default: a fresh DuckDB file per run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest_once(Path(args.child[0]), args.child[1])))
        return
    out = ROOT / "bench" / "out" / f"ingest-{args.rows}"
    files = make_files(args.rows, out)
    for fmt, path in files.items():
        store = args.store or str(out / f"store-{fmt}.duckdb")
        if not args.store:
            Path(store).unlink(missing_ok=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(path), store],
            check=True,
            capture_output=True,
            text=True,
        )
        print(json.dumps({"format": fmt, **json.loads(child.stdout)}))


if __name__ == "__main__":
    main()
