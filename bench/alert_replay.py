"""Replay the monitor day by day: detection delay on the seed scenario, false alarms without shifts.

Usage::

    python bench/alert_replay.py --seeds 30 --no-shift --cache /tmp/seismo_cache  # false alarms
    python bench/alert_replay.py --seeds 5                                        # delays

For each seed it simulates 30 days, ingests the export, and runs the check as
of each midnight from day ``--first`` on, in time order, the way a scheduler
running ``seismo check --as-of`` would. The store is bitemporal: one ingest of
the final export, replayed as of each midnight, sees exactly what was known
then (outcomes observed later are not counted; rows served later are not
there), so the daily exports need not be ingested one by one
(``--daily-exports`` does, for comparison). An alert is counted once per
episode (a condition that fires, and keeps firing, is one alert; alerts
deduplicate exactly this way). With the planted shifts it reports when the
25-34 click-through alert first fires (days after the drop began), whether any
alert fired on the aggregate click-through, and when the 55+
sustainable-exposure fairness alert fires. JSON lines out; the last line sums
up, with the false alarms per 90 days and the cells watched.

Computing the metrics is what makes a replay slow; detection takes a fraction
of that. ``--cache DIR`` keeps the metric and exposure tables of every check,
so a change to the detection rules can be replayed on 30 seeds in minutes: the
checks then run :func:`seismo.detect.run.detect`, exactly what ``run_checks``
runs after computing its tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from seismo.detect.change import DetectConfig
from seismo.detect.findings import segment_text
from seismo.detect.run import CheckResult, detect
from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics, cutoff
from seismo.metrics.exposure import compute_exposure
from seismo.metrics.ranking import compute_ranking
from seismo.simulate import Scenario, simulate
from seismo.store import Store, open_store


def _tables(
    store: Store, folder: Path | None, day: int, cut: object
) -> tuple[pa.Table, pa.Table, pa.Table | None]:
    """The metric, exposure and ranking tables a check computes (cached under ``folder``)."""
    names = ("metrics", "exposure", "ranking")
    paths = [None if folder is None else folder / f"{n}-{day}.parquet" for n in names]
    if all(p is not None and p.exists() for p in paths):
        metrics, exposure, ranking = (pq.read_table(p) for p in paths)  # type: ignore[arg-type]
        return metrics, exposure, (ranking if ranking.num_rows else None)
    metrics = compute_metrics(store, as_of=cut, pairs=True)  # type: ignore[arg-type]
    exposure = compute_exposure(store, as_of=cut)  # type: ignore[arg-type]
    # a ranker's list metrics are watched as the check watches them
    ranking = compute_ranking(store, as_of=cut, rates=metrics)  # type: ignore[arg-type]
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        empty = metrics.schema.empty_table()
        for p, table in zip(paths, (metrics, exposure, ranking or empty), strict=True):
            pq.write_table(table, p)  # type: ignore[arg-type]
    return metrics, exposure, ranking


def replay(
    seed: int,
    *,
    shift: bool,
    per_day: int,
    first: int,
    cache: Path | None = None,
    daily: bool = False,
    config: DetectConfig | None = None,
) -> dict[str, object]:
    config = config or DetectConfig()
    scenario = Scenario(seed=seed, per_day=per_day)
    if not shift:
        scenario = scenario.no_shift()
    sim = simulate(scenario)
    drop_start = scenario.start + timedelta(days=scenario.days - scenario.drop_days)
    changeover = scenario.start + timedelta(days=scenario.changeover_day)
    active: set[str] = set()
    episodes: list[dict[str, object]] = []
    first_seen: dict[str, float] = {}
    folder = None if cache is None else cache / ("shift" if shift else "noshift") / str(seed)
    watched: list[int] = []
    with open_store(":memory:") as store:
        if not daily:
            ingest(store, sim.export, exported_at=sim.exported_at, name="export")
        for day in range(1, scenario.days + 1):
            at = scenario.start + timedelta(days=day)
            if daily:
                ingest(store, sim.known_at(at), exported_at=at, name=f"export-{day}")
            if day < first:
                continue
            cut = cutoff(store, at)
            metrics, exposure, ranking = _tables(store, folder, day, cut)
            result: CheckResult = detect(
                store, metrics, exposure, None, cut=cut, config=config, ranking=ranking
            )
            assert result.watch is not None
            watched.append(result.watch.cells)
            keys = set()
            for f in result.findings:
                key = f"{f.kind}|{f.metric}|{segment_text(f.segment)}|{f.direction}"
                keys.add(key)
                if key not in active:
                    episodes.append(
                        {"day": day, "key": key, "severity": f.severity, "z": round(f.statistic, 2)}
                    )
                first_seen.setdefault(key, (at - drop_start).total_seconds() / 86400)
                first_seen.setdefault(
                    key + "@changeover", (at - changeover).total_seconds() / 86400
                )
            active = keys
    out: dict[str, object] = {
        "seed": seed,
        "shift": shift,
        "monitored_days": scenario.days - first + 1,
        "watched": max(watched, default=0),
        "alerts": len(episodes),
        "alert_keys": sorted({str(e["key"]) for e in episodes}),
        "episodes": episodes,
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
    parser.add_argument("--daily-exports", action="store_true", help="ingest each day's export")
    parser.add_argument(
        "--cache", type=Path, default=None, help="read/write each check's metric tables here"
    )
    parser.add_argument("--budget", type=float, default=1.0, help="false alarms per 90 days")
    parser.add_argument("--min-maturity", type=float, default=0.5, help="[detect] min_maturity")
    args = parser.parse_args()
    config = DetectConfig(false_alarms_per_90_days=args.budget, min_maturity=args.min_maturity)
    total_alerts = total_days = 0
    watched = 0
    started = time.perf_counter()
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        result = replay(
            seed,
            shift=not args.no_shift,
            per_day=args.per_day,
            first=args.first,
            cache=args.cache,
            daily=args.daily_exports,
            config=config,
        )
        total_alerts += int(result["alerts"])  # type: ignore[call-overload]
        total_days += int(result["monitored_days"])  # type: ignore[call-overload]
        watched = max(watched, int(result["watched"]))  # type: ignore[call-overload]
        print(json.dumps(result), flush=True)
    print(
        json.dumps(
            {
                "summary": "no-shift false alarms" if args.no_shift else "with planted shifts",
                "seeds": args.seeds,
                "monitored_days": total_days,
                "alerts": total_alerts,
                "alerts_per_90_days": round(90 * total_alerts / max(total_days, 1), 2),
                "budget_per_90_days": args.budget,
                "cells_watched": watched,
                "seconds": round(time.perf_counter() - started),
            }
        )
    )


if __name__ == "__main__":
    main()
