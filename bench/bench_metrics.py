"""Time the maturity-aware metrics on a large store, beside a plain GROUP BY (the floor).

Usage::

    python bench/bench_metrics.py --rows 10000000

Builds (once, kept under ``bench/out/``) a DuckDB store holding the seed
scenario at about ``--rows`` recommendations, ingested day by day as daily
exports would arrive. Then, each in a fresh process so peak memory is its own:

* ``floor``: one plain DuckDB pass, ``GROUP BY day, age_group`` over the
  predictions table with a count and a sum (what any dashboard query costs);
* ``full``: every metric × daily window × aggregate and 5 segment attributes,
  rebuilding the stored cohort state from scratch (the first run on a store);
* ``incremental``: the same after one more day's late outcomes arrived (only
  the touched days are recomputed);
* ``evaluate``: the same with the state up to date (what a dashboard refresh costs).

Prints JSON lines with seconds, peak RSS and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_store(rows: int) -> Path:
    """The bench store of ``rows`` predictions under bench/out, built on first use."""
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"metrics-{rows}.duckdb"
    if not path.exists():
        started = time.perf_counter()
        build(path, rows)
        print(json.dumps({"step": "build", "seconds": round(time.perf_counter() - started, 1)}))
    return path


def build(path: Path, rows: int) -> None:
    from seismo.ingest import ingest
    from seismo.simulate import Scenario, simulate
    from seismo.store import open_store

    scenario = Scenario(days=30, per_day=rows // 30, weekly_pattern=False)
    sim = simulate(scenario)
    with open_store(str(path)) as store:
        # The month as known at its end, in day-sized batches (memory stays flat).
        export = sim.export
        stamps = export.column("timestamp")
        import pyarrow.compute as pc

        for day in range(scenario.days):
            lo = scenario.start + timedelta(days=day)
            hi = lo + timedelta(days=1)
            mask = pc.and_(pc.greater_equal(stamps, lo), pc.less(stamps, hi))
            ingest(store, export.filter(mask), exported_at=sim.exported_at, name=f"day-{day}")


def late_outcomes(path: Path) -> None:
    """One correction-free batch of late outcomes touching a single served day."""
    import pyarrow as pa

    from seismo.config import RECOMMENDATIONS, OutcomeEvents
    from seismo.ingest import ingest
    from seismo.store import open_store

    with open_store(str(path)) as store:
        rows = store.engine.query(
            "SELECT p.prediction_id, p.served_at FROM predictions p"
            " WHERE CAST(p.served_at AS DATE) = (SELECT MAX(CAST(served_at AS DATE))"
            " FROM predictions) AND NOT EXISTS (SELECT 1 FROM "
            "outcomes o WHERE o.prediction_id = p.prediction_id AND o.outcome_type = 'purchase')"
            " LIMIT 500"
        )
        events = pa.table(
            {
                "recommendation_id": [r[0] for r in rows],
                "at": [r[1] + timedelta(hours=20) for r in rows],
                "purchased": [1] * len(rows),
            }
        )
        mapping = RECOMMENDATIONS.__class__(
            model_name="recommender",
            outcomes=OutcomeEvents(
                id="recommendation_id", timestamp="at", type="purchase", value="purchased"
            ),
            outcome_types=RECOMMENDATIONS.outcome_types,
        )
        ingest(store, events, mapping=mapping)


def measure(step: str, path: str) -> dict[str, object]:
    from seismo.metrics.compute import compute_metrics
    from seismo.store import open_store

    with open_store(path) as store:
        started = time.perf_counter()
        if step == "floor":
            store.engine.query(
                "SELECT CAST(served_at AS DATE) AS day, age_group, COUNT(*), SUM(price_eur)"
                " FROM predictions GROUP BY 1, 2"
            )
            cells = None
        else:
            if step == "full":
                store.engine.execute("DELETE FROM seismo_meta WHERE key LIKE 'metric_state_%'")
            table = compute_metrics(store)
            cells = table.num_rows
        seconds = time.perf_counter() - started
    return {
        "step": step,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "metric_values": cells,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1])))
        return
    path = bench_store(args.rows)
    floor = None
    for step in ("floor", "full", "evaluate", "incremental"):
        if step == "incremental":
            late_outcomes(path)
        child = subprocess.run(
            [sys.executable, __file__, "--child", step, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout)
        if step == "floor":
            floor = result["seconds"]
        elif floor:
            result["ratio_to_floor"] = round(result["seconds"] / max(floor, 1e-3), 1)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
