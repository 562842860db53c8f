"""Record the metric tables each replayed check sees, so detection rules can be re-run offline.

Usage::

    python bench/alert_record.py --seeds 30 --no-shift --out /tmp/seismo_cache

For each seed and checked day it writes ``metrics-<day>.parquet`` and
``exposure-<day>.parquet`` (what :func:`seismo.detect.run.run_checks` computes
before detecting) under ``<out>/<shift|noshift>/<seed>/``. Computing the metrics
is what makes the replay slow; detection itself takes well under a second, so a
rule can be evaluated on 30 seeds in a minute from the recording
(``bench/alert_replay.py --from-cache``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics, cutoff
from seismo.metrics.exposure import compute_exposure
from seismo.simulate import Scenario, simulate
from seismo.store import open_store


def record(seed: int, *, shift: bool, per_day: int, first: int, out: Path) -> None:
    scenario = Scenario(seed=seed, per_day=per_day)
    if not shift:
        scenario = scenario.no_shift()
    folder = out / ("shift" if shift else "noshift") / str(seed)
    try:  # another recorder already has (or had) this seed
        folder.mkdir(parents=True)
    except FileExistsError:
        return
    sim = simulate(scenario)
    with open_store(":memory:") as store:
        for day in range(1, scenario.days + 1):
            at = scenario.start + timedelta(days=day)
            ingest(store, sim.known_at(at), exported_at=at, name=f"export-{day}")
            if day < first:
                continue
            cut = cutoff(store, at)
            pq.write_table(
                compute_metrics(store, as_of=cut, quality=False), folder / f"metrics-{day}.parquet"
            )
            pq.write_table(compute_exposure(store, as_of=cut), folder / f"exposure-{day}.parquet")
    (folder / "done").write_text("ok\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--no-shift", action="store_true")
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--first", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("/tmp/seismo_cache"))
    parser.add_argument("--seed-list", default="", help="comma-separated seeds, in this order")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seed_list.split(",") if s] or list(
        range(args.seed_offset, args.seed_offset + args.seeds)
    )
    for seed in seeds:
        record(seed, shift=not args.no_shift, per_day=args.per_day, first=args.first, out=args.out)
        print(f"seed {seed} recorded", flush=True)


if __name__ == "__main__":
    main()
