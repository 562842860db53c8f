"""Drift on the seed scenario over many seeds: what is flagged, when, and what is not.

Usage::

    python bench/drift_replay.py --seeds 20              # planted shifts
    python bench/drift_replay.py --seeds 20 --no-shift   # false alarms

For each seed it simulates the month, ingests the export, registers the
training reference and computes the daily drift table for the aggregate and
for every segment attribute. It reports, per seed, the features drifted in
any window (aggregate and per segment), the first drifted day of each, and
the day of the collection changeover; then totals: windows judged, drifted
rows, and features flagged that the scenario did not shift. JSON lines out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.detect.drift import compute_drift
from seismo.ingest import ingest
from seismo.ingest.reference import add_reference
from seismo.simulate import Scenario, simulate
from seismo.store import open_store

#: What the collection changeover shifts for all customers: category and collection mix, price.
SHIFTED = {"category", "collection", "price_eur"}
#: Shifted within segments too: the brand mix (every summer product is new, and brand is drawn
#: per product, so each group's brand mix moves; for all customers together it stays under the
#: PSI band) and the sustainable share shown to 55+ (the planted fairness shift).
SHIFTED_IN_SEGMENTS = SHIFTED | {"brand", "is_sustainable@age_group=55+"}


def replay(seed: int, *, shift: bool, per_day: int) -> dict[str, object]:
    scenario = Scenario(seed=seed, per_day=per_day)
    if not shift:
        scenario = scenario.no_shift()
    sim = simulate(scenario)
    changeover = (scenario.start + timedelta(days=scenario.changeover_day)).replace(tzinfo=None)
    started = time.perf_counter()
    with open_store(":memory:") as store:
        ingest(store, sim.export)
        add_reference(store, sim.reference)
        table = compute_drift(store, by=store.segments())
    first: dict[str, str] = {}
    segments: dict[str, set[str]] = defaultdict(set)
    drifted = 0
    for r in table.to_pylist():
        if not r["drifted"]:
            continue
        drifted += 1
        where = "all" if r["attribute"] is None else f"{r['attribute']}={r['value']}"
        if r["attribute"] is None:
            day = r["window_start"].date().isoformat()
            first[r["feature"]] = min(first.get(r["feature"], day), day)
        segments[r["feature"]].add(where)
    expected = SHIFTED if shift else set()
    in_segments = SHIFTED_IN_SEGMENTS if shift else set()
    flagged_in_segments = {
        f if f in in_segments else f"{f}@{where}"
        for f, places in segments.items()
        for where in places
        if where != "all"
    }
    return {
        "seed": seed,
        "shift": shift,
        "rows": table.num_rows,
        "drifted_rows": drifted,
        "changeover": changeover.date().isoformat(),
        "first_drifted_day": dict(sorted(first.items())),
        "unexpected": sorted(set(first) - expected),
        "unexpected_in_segments": sorted(flagged_in_segments - in_segments),
        "segments_flagged": {f: len(s - {"all"}) for f, s in sorted(segments.items())},
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--no-shift", action="store_true")
    parser.add_argument("--per-day", type=int, default=3000)
    args = parser.parse_args()
    unexpected = 0
    rows = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        result = replay(seed, shift=not args.no_shift, per_day=args.per_day)
        unexpected += len(result["unexpected"]) + len(result["unexpected_in_segments"])  # type: ignore[arg-type]
        rows += int(result["rows"])  # type: ignore[call-overload]
        print(json.dumps(result), flush=True)
    print(
        json.dumps(
            {"seeds": args.seeds, "rows_judged": rows, "unexpected_features_flagged": unexpected}
        )
    )


if __name__ == "__main__":
    main()
