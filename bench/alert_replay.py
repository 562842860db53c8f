"""Replay the monitor day by day: detection delay on the seed scenario, false alarms without shifts.

Usage::

    python bench/alert_replay.py --seeds 30 --no-shift     # false-alarm rate
    python bench/alert_replay.py --seeds 5                 # detection delay of the planted shifts

For each seed it simulates 30 days, ingests the export as it was known at the
end of each day (daily exports), and runs the check as of each midnight from
day ``--first`` on, the way a scheduler running ``seismo check --as-of`` would.
An alert is counted once per episode (a condition that fires, and keeps
firing, is one alert; alerts deduplicate exactly this way). With the planted
shifts it reports when the 25-34 click-through alert first fires (days after
the drop began), whether any alert fired on the aggregate click-through, and
when the 55+ sustainable-exposure fairness alert fires. JSON lines out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.detect.findings import segment_text
from seismo.detect.run import run_checks
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store


def replay(seed: int, *, shift: bool, per_day: int, first: int) -> dict[str, object]:
    scenario = Scenario(seed=seed, per_day=per_day)
    if not shift:
        scenario = scenario.no_shift()
    sim = simulate(scenario)
    drop_start = scenario.start + timedelta(days=scenario.days - scenario.drop_days)
    changeover = scenario.start + timedelta(days=scenario.changeover_day)
    active: set[str] = set()
    episodes: list[dict[str, object]] = []
    first_seen: dict[str, float] = {}
    with open_store(":memory:") as store:
        for day in range(1, scenario.days + 1):
            at = scenario.start + timedelta(days=day)
            ingest(store, sim.known_at(at), exported_at=at, name=f"export-{day}")
            if day < first:
                continue
            result = run_checks(store, as_of=at)
            keys = set()
            for f in result.findings:
                key = f"{f.kind}|{f.metric}|{segment_text(f.segment)}|{f.direction}"
                keys.add(key)
                if key not in active:
                    episodes.append({"day": day, "key": key, "severity": f.severity})
                first_seen.setdefault(key, (at - drop_start).total_seconds() / 86400)
                first_seen.setdefault(
                    key + "@changeover", (at - changeover).total_seconds() / 86400
                )
            active = keys
    monitored = scenario.days - first + 1
    out: dict[str, object] = {
        "seed": seed,
        "shift": shift,
        "monitored_days": monitored,
        "alerts": len(episodes),
        "alert_keys": sorted({str(e["key"]) for e in episodes}),
    }
    if shift:
        ctr = "quality|click_through_rate|age_group=25-34|down"
        fair = "fairness|sustainable_share|age_group=55+|down"
        out["ctr_25_34_days_after_drop"] = first_seen.get(ctr)
        out["aggregate_ctr_alert"] = any(
            "click_through_rate|all|" in str(e["key"]) for e in episodes
        )
        out["sustainable_55_days_after_changeover"] = first_seen.get(fair + "@changeover")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--no-shift", action="store_true")
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--first", type=int, default=15, help="first day checked (1-based)")
    args = parser.parse_args()
    total_alerts = total_days = 0
    started = time.perf_counter()
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        result = replay(seed, shift=not args.no_shift, per_day=args.per_day, first=args.first)
        total_alerts += int(result["alerts"])  # type: ignore[call-overload]
        total_days += int(result["monitored_days"])  # type: ignore[call-overload]
        print(json.dumps(result), flush=True)
    print(
        json.dumps(
            {
                "summary": "no-shift false alarms" if args.no_shift else "with planted shifts",
                "seeds": args.seeds,
                "monitored_days": total_days,
                "alerts": total_alerts,
                "alerts_per_90_days": round(90 * total_alerts / max(total_days, 1), 2),
                "seconds": round(time.perf_counter() - started),
            }
        )
    )


if __name__ == "__main__":
    main()
