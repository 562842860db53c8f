"""Time the operations layer and ``GET /metrics`` on the ``seismo demo`` store.

Usage::

    python bench/bench_operations.py [--store bench/out/demo/seismo.duckdb]
    python bench/bench_operations.py --rows 1000000 --no-serve

``--rows N`` uses the bench store of ``bench/bench_metrics.py`` (the seed
scenario at about N rows, built once) instead of the demo store, and also
times the operations rules over the last day (what a check adds).

Builds the demo store once (``seismo demo --workspace bench/out/demo``: the seed
scenario, 30 days × 3,000, with its training reference and a check), then
measures:

* ``operations_hourly`` / ``operations_daily_by_segment``: ``compute_operations``
  over the month (hourly windows, aggregate; daily windows, every segment);
* ``metrics_first``: the first ``GET /metrics`` of a fresh ``seismo serve``
  (it computes the snapshot: one check), and ``metrics``: the median of
  ``--repeat`` later scrapes (drawn from the kept snapshot);
* ``series``: the number of samples the exposition holds, and per family.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=ROOT / "bench/out/demo/seismo.duckdb")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--no-serve", action="store_true", help="Skip the /metrics timings.")
    args = parser.parse_args()
    if args.rows is not None:
        from bench_metrics import bench_store

        args.store = bench_store(args.rows)
    elif not args.store.exists():
        workspace = args.store.parent
        subprocess.run(
            [sys.executable, "-m", "seismo", "demo", "--workspace", str(workspace)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    from seismo.metrics.operations import compute_operations
    from seismo.store import open_store

    out: dict[str, object] = {}
    with open_store(str(args.store)) as store:
        t = time.perf_counter()
        hourly = compute_operations(store)
        out["operations_hourly_s"] = round(time.perf_counter() - t, 2)
        out["operations_hourly_rows"] = hourly.num_rows
        t = time.perf_counter()
        daily = compute_operations(store, period="day", by=store.segments())
        out["operations_daily_by_segment_s"] = round(time.perf_counter() - t, 2)
        out["operations_daily_by_segment_rows"] = daily.num_rows
        from datetime import timedelta

        from seismo.detect.operations import operations_findings

        cut = hourly["as_of"][0].as_py()
        t = time.perf_counter()
        recent = compute_operations(store, as_of=cut, since=cut - timedelta(hours=24))
        found = operations_findings(recent, store, cut=cut)
        out["operations_rules_last_day_s"] = round(time.perf_counter() - t, 2)
        out["operations_findings"] = len(found)
    if args.no_serve:
        print(json.dumps(out, indent=1))
        return

    from served import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "seismo", "serve", "--store", str(args.store), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("seismo serve did not start") from None
                time.sleep(0.3)
        t = time.perf_counter()
        body = urllib.request.urlopen(f"{base}/metrics", timeout=600).read()
        out["metrics_first_s"] = round(time.perf_counter() - t, 2)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            body = urllib.request.urlopen(f"{base}/metrics", timeout=600).read()
            times.append(time.perf_counter() - t)
        out["metrics_median_ms"] = round(statistics.median(times) * 1000, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    samples = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    out["series"] = len(samples)
    out["bytes"] = len(body)
    out["per_family"] = dict(Counter(line.split("{")[0].split(" ")[0] for line in samples))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
