"""Time the seed-scenario simulator at benchmark volumes.

Usage::

    python bench/bench_simulate.py --rows 1000000 10000000

For each volume (export rows; the training reference adds ``reference_days /
days`` as many again and the truth table as many as the export) it times
``simulate`` and writing all three files as CSV and as Parquet, and prints the
peak resident memory. Each volume runs in its own process because peak RSS
only ever grows within one.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.simulate import Scenario, simulate, write_simulation


def run_one(rows: int, days: int, out: Path) -> dict[str, float | int]:
    """Simulate about ``rows`` export rows and write them; returns the figures."""
    scenario = Scenario(days=days, per_day=max(1, rows // days), weekly_pattern=False)
    started = time.perf_counter()
    sim = simulate(scenario)
    simulated = time.perf_counter()
    csv_paths = write_simulation(sim, out, fmt="csv")
    written_csv = time.perf_counter()
    parquet_paths = write_simulation(sim, out, fmt="parquet")
    written_parquet = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "export_rows": sim.export.num_rows,
        "reference_rows": sim.reference.num_rows,
        "simulate_s": round(simulated - started, 2),
        "write_csv_s": round(written_csv - simulated, 2),
        "write_parquet_s": round(written_parquet - written_csv, 2),
        "total_s": round(written_parquet - started, 2),
        "csv_mb": round(sum(p.stat().st_size for p in csv_paths.values()) / 1e6, 1),
        "parquet_mb": round(sum(p.stat().st_size for p in parquet_paths.values()) / 1e6, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, help="directory for the files (default: a temp dir)")
    args = parser.parse_args()
    if len(args.rows) > 1:
        for rows in args.rows:
            command = [sys.executable, __file__, "--rows", str(rows), "--days", str(args.days)]
            if args.out:
                command += ["--out", str(args.out)]
            subprocess.run(command, check=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = run_one(args.rows[0], args.days, args.out or Path(tmp))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
