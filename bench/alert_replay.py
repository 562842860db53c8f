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

Computing the metrics is what makes a replay slow (seconds per check; the
detectors take a fraction of that). ``--cache DIR`` keeps the metric and
exposure tables of every check (``bench/alert_record.py`` writes the same
files), so a change to the detection rules can be replayed on 30 seeds in
minutes: the checks then run the same detectors as ``run_checks`` on the
recorded tables, with root-cause attribution reading a store holding the
whole export (attribution only counts predictions served before the check,
which the daily and the final export agree on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from seismo.detect.change import DetectConfig, detect_changes, detect_gaps
from seismo.detect.findings import Finding, segment_text
from seismo.detect.rootcause import attribute_roots
from seismo.detect.run import run_checks
from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics, cutoff
from seismo.metrics.exposure import compute_exposure
from seismo.simulate import Scenario, simulate
from seismo.store import Store, open_store


def _cached_findings(
    store: Store, metrics: pa.Table, exposure: pa.Table, at: datetime
) -> list[Finding]:
    """What ``run_checks`` finds, from tables it would have computed.

    (The replay ingests exports only, no reference set, so ``run_checks`` runs no
    drift detector here either.)
    """
    config = DetectConfig()
    cut = cutoff(store, at)
    findings = attribute_roots(detect_changes(metrics, cut=cut, config=config), store, config)
    findings += detect_gaps(exposure, cut=cut, config=config)
    findings.sort(key=lambda f: (f.severity != "critical", f.adjusted_p, f.key))
    return findings


def _cached_tables(folder: Path, day: int) -> tuple[pa.Table, pa.Table] | None:
    m, e = folder / f"metrics-{day}.parquet", folder / f"exposure-{day}.parquet"
    if m.exists() and e.exists():
        return pq.read_table(m), pq.read_table(e)
    return None


def replay(
    seed: int, *, shift: bool, per_day: int, first: int, cache: Path | None = None
) -> dict[str, object]:
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
    checked = range(first, scenario.days + 1)
    with open_store(":memory:") as store:
        recorded = folder is not None and all(
            (folder / f"{t}-{d}.parquet").exists() for d in checked for t in ("metrics", "exposure")
        )
        if recorded:  # attribution needs the predictions only, which every export agrees on
            ingest(store, sim.export, exported_at=sim.exported_at, name="export")
        for day in range(1, scenario.days + 1):
            at = scenario.start + timedelta(days=day)
            if not recorded:
                ingest(store, sim.known_at(at), exported_at=at, name=f"export-{day}")
            if day < first:
                continue
            if folder is None:
                findings = run_checks(store, as_of=at).findings
            else:
                tables = _cached_tables(folder, day)
                if tables is None:
                    cut = cutoff(store, at)
                    tables = (
                        compute_metrics(store, as_of=cut, quality=False),
                        compute_exposure(store, as_of=cut),
                    )
                    folder.mkdir(parents=True, exist_ok=True)
                    pq.write_table(tables[0], folder / f"metrics-{day}.parquet")
                    pq.write_table(tables[1], folder / f"exposure-{day}.parquet")
                findings = _cached_findings(store, *tables, at)
            keys = set()
            for f in findings:
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
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="read/write each check's metric tables here (see bench/alert_record.py)",
    )
    args = parser.parse_args()
    total_alerts = total_days = 0
    started = time.perf_counter()
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        result = replay(
            seed, shift=not args.no_shift, per_day=args.per_day, first=args.first, cache=args.cache
        )
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
