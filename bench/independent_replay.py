"""Replay seismo's daily check on the independent generator's data; judge it against the truth.

Usage::

    python bench/independent_replay.py                           # recommender + classifier, seed 0
    python bench/independent_replay.py --scenario regressor
    python bench/independent_replay.py --no-shift --seeds 3      # false flags on clean data
    python bench/independent_replay.py --verify-asof             # as-of replay == daily exports?

For each scenario and seed it generates the data (``bench/independent``),
ingests the final export into a fresh DuckDB store (one ingest; the flat seed
export needs no mapping, the others bring theirs), then runs
``run_checks(store, as_of=midnight)`` for every day from ``--first`` on, in
time order, syncing alerts as ``seismo check`` does. As-of replay is exact:
``--verify-asof`` checks it against ingesting each day's export and checking
right after (see ``bench/independent_asof.py``).

Every condition found is judged (``bench/independent/judge.py``): a *hit*
is a planted shift's metric on its exact segment (a parent segment is not a
hit); a *related* finding is explained by a planted shift (a metric it moves,
on its segment or one containing it); everything else is a *false flag*.
JSON lines go to ``--jsonl`` (one ``run``, one ``shift`` per planted shift,
one ``finding`` per condition); a readable summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.independent import SCENARIOS, build
from bench.independent.judge import judge, segment_text, shift_outcomes
from bench.independent_io import load, midnights, replay
from seismo import open_store
from seismo.detect.change import DetectConfig

#: First day checked (1-based): once the deployment period's outcomes can be final.
DEFAULT_FIRST = {"recommender": 28, "classifier": 140, "regressor": 20}


def run_one(scenario: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Generate, ingest, replay and judge one scenario × seed; JSON records."""
    started = time.perf_counter()
    data = build(
        scenario,  # type: ignore[arg-type]
        seed=seed,
        days=args.days,
        per_day=args.per_day,
        shifts="none" if args.no_shift else None,
    )
    folder = args.workdir / f"{scenario}-{seed}{'-clean' if args.no_shift else ''}"
    shutil.rmtree(folder, ignore_errors=True)
    with open_store(folder / "store.duckdb") as store:
        meta = load(store, data, folder, reference=args.reference)
        loaded = time.perf_counter()
        first = min(args.first or DEFAULT_FIRST[scenario], meta["days"])
        config = (
            DetectConfig(min_maturity=args.min_maturity) if args.min_maturity is not None else None
        )
        result = replay(store, midnights(meta, first), config=config)
    done = time.perf_counter()
    shifts = meta["shifts"]
    findings = []
    for s in sorted(result.seen.values(), key=lambda s: s.first_seen):
        verdict, shift, note = judge(s, shifts)
        findings.append(
            {
                "type": "finding",
                "verdict": verdict,
                "shift": shift,
                "note": note,
                "kind": s.kind,
                "metric": s.metric,
                "segment": s.segment,
                "direction": s.direction,
                "severity": s.severity,
                "since": s.since_first.isoformat() if s.since_first else None,
                "first_seen": s.first_seen.isoformat(),
                "last_seen": s.last_seen.isoformat(),
                "days_seen": s.days_seen,
                "firing_at_end": s.firing_at_end,
                "alert_state": result.alert_states.get(s.key),
            }
        )
    cells = result.checks[-1]["cells"] if result.checks else 0
    run = {
        "type": "run",
        "scenario": scenario,
        "seed": seed,
        "shift": not args.no_shift,
        "days": meta["days"],
        "first_checked": first,
        "checks": len(result.checks),
        "cells_watched": cells,
        "cells_from": result.checks[-1]["cells_from"] if result.checks else None,
        "notes": meta["notes"],
        "seconds_generate_ingest": round(loaded - started, 1),
        "seconds_replay": round(done - loaded, 1),
    }
    outcomes = shift_outcomes(list(result.seen.values()), shifts)
    return [run, *outcomes, *findings]


def summary(records: list[dict[str, Any]]) -> list[str]:
    """Readable lines for one run's records."""
    run = records[0]
    shifts = [r for r in records if r["type"] == "shift"]
    found = [r for r in records if r["type"] == "finding"]
    false = [r for r in found if r["verdict"] == "false"]
    related = [r for r in found if r["verdict"] == "related"]
    lines = [
        f"{run['scenario']} seed {run['seed']}{'' if run['shift'] else ' (no shift)'}: "
        f"{run['checks']} daily checks from day {run['first_checked']}, "
        f"~{run['cells_watched']} cells, {run['seconds_replay']} s; "
        f"{sum(r['detected'] for r in shifts)}/{len(shifts)} planted shifts detected, "
        f"{len(related)} related, {len(false)} false flags",
        *(f"  note: {n}" for n in run["notes"]),
    ]
    for r in shifts:
        where = f"{r['metric']} {segment_text(r['segment'])} {r['direction']}"
        head = f"  {r['name']:<28} {where:<52} from {r['start'][:10]}"
        if r["detected"]:
            end = "still firing" if r["firing_at_end"] else "not firing at the export"
            lines.append(f"{head}  DETECTED day +{r['delay_days']} ({r['severity']}, {end})")
        else:
            lines.append(f"{head}  MISSED")
        if r["related"]:
            lines.append(f"      related: {'; '.join(r['related'])}")
    for r in false:
        end = "firing at the end" if r["firing_at_end"] else f"last {r['last_seen'][:10]}"
        note = f" [{r['note']}]" if r["note"] else ""
        lines.append(
            f"  FALSE {r['kind']} {r['metric']} {segment_text(r['segment'])} {r['direction']}"
            f" first {r['first_seen'][:10]}, {r['days_seen']} days, {end}{note}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="seeds --seed .. --seed+N-1")
    parser.add_argument("--no-shift", action="store_true", help="clean data: every finding false")
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--per-day", type=float, default=None)
    parser.add_argument("--first", type=int, default=None, help="first day checked (1-based)")
    parser.add_argument("--reference", action="store_true", help="register the training reference")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/seismo-independent"))
    parser.add_argument("--jsonl", type=Path, default=None, help="default: WORKDIR/replay.jsonl")
    parser.add_argument("--verify-asof", action="store_true")
    parser.add_argument(
        "--min-maturity", type=float, default=None, help="[detect] min_maturity (default 0.5)"
    )
    args = parser.parse_args()
    if args.verify_asof:
        from bench.independent_asof import main as verify

        verify(args.workdir / "asof")
        return
    chosen = ["recommender", "classifier"] if args.scenario is None else [args.scenario]
    scenarios = list(SCENARIOS) if args.scenario == "all" else chosen
    args.workdir.mkdir(parents=True, exist_ok=True)
    jsonl = args.jsonl or args.workdir / "replay.jsonl"
    with jsonl.open("w", encoding="utf-8") as out:
        for scenario in scenarios:
            for seed in range(args.seed, args.seed + args.seeds):
                records = run_one(scenario, seed, args)
                for r in records:
                    out.write(json.dumps(r, default=str) + "\n")
                out.flush()
                print("\n".join(summary(records)), flush=True)
    print(f"JSON lines: {jsonl}")


if __name__ == "__main__":
    main()
