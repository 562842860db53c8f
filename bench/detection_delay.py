"""Head to head: seismo's detection delay against the oracle CUSUM, at the same false-alarm budget.

Usage::

    python bench/detection_delay.py                      # all five cases, 3 runs each
    python bench/detection_delay.py --cases ctr_device,purchase_region --runs 5
    python bench/detection_delay.py --cases accuracy_region --max-days 40 --json out.jsonl
    python bench/detection_delay.py --oracle-only --cells 105   # the oracle alone, no seismo

Cases (the issue's): a one-third click-through drop on one device (600
rows a day), a 45 % purchase-conversion drop in one region (880 a day, this
generator's Weibull/exponential purchase delays), new customers' return rate
doubling (about 60 purchases a day, returns log-normal after the purchase),
and for the credit classifier with labels weeks late (gamma, mean 28-45 days)
accuracy in one region (default rate 8 % → 23 %) and ROC AUC in one channel
(scores losing their signal).

Per run (a seed): the independent generator plants only that case's shift,
at a day boundary after ``--pre-days`` days of normal traffic (customers
homogeneous, so rows are independent as the oracle assumes); the final
export is ingested once and seismo's check replayed as of each midnight from
the end of the change's first day, stopping at the first check that reports
the planted metric on the exact segment in the right direction (a delay of
``j`` days = found at the end of the change's ``j``-th day), or after
``--max-days``. The number of cells seismo watches is read from its
findings' evidence if it says (``cells``), else counted from its metric table
(metric × segment cell × model version; when the check computes no metric of
this model, as today's for a classifier, from the full table with model
quality). The oracle (``bench/oracle_cusum.py``)
then runs with that cell count and budget (1 false alarm per 90 days for the
store), the cell's rows a day, the measured rates before and after, and the
cell's delays as drawn by the generator (empirical distributions).

Target: seismo's mean delay at most 1.5 × the oracle's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.independent import build
from bench.independent.classifier import ClassifierData, DefaultRateShift, DiscriminationLoss
from bench.independent.delays import Delay
from bench.independent.judge import Seen, judge
from bench.independent.recommender import DEFAULT_SHIFTS, RecommenderData
from bench.independent_io import count_cells, load, midnights, replay
from bench.oracle_cusum import run_oracle
from bench.oracle_sim import Case
from seismo import compute_metrics, open_store
from seismo.detect.change import DetectConfig

_SHIFTS = {s.name: s for s in DEFAULT_SHIFTS}


@dataclass(frozen=True)
class Spec:
    """One case: which scenario and shift, how long before and after, how to tell the oracle."""

    name: str
    scenario: str
    shift: Any
    pre_days: int
    max_days: int
    kind: str
    per_day: float


SPECS = {
    "ctr_device": Spec("ctr_device", "recommender", _SHIFTS["device_click_drop"], 28, 10, "click",
                       4000),
    "purchase_region": Spec("purchase_region", "recommender", _SHIFTS["region_purchase_drop"],
                            35, 25, "purchase", 4000),
    "returns_new": Spec("returns_new", "recommender", _SHIFTS["new_customer_returns"], 45, 35,
                        "return", 4000),
    "accuracy_region": Spec("accuracy_region", "classifier", DefaultRateShift(), 150, 60,
                            "accuracy", 1500),
    "auc_channel": Spec("auc_channel", "classifier", DiscriminationLoss(), 150, 60, "auc", 1500),
}  # fmt: skip


def _data(spec: Spec, seed: int, pre_days: int, max_days: int) -> Any:
    shift = dataclasses.replace(spec.shift, days_before_export=max_days)
    options: dict[str, Any] = {}
    if spec.scenario == "recommender":  # independent rows, as the oracle assumes
        options = {"heterogeneity": 0.0, "activity_sigma": 0.0}
    return build(
        spec.scenario,  # type: ignore[arg-type]
        seed=seed,
        days=pre_days + max_days,
        per_day=spec.per_day,
        shifts=[shift],
        **options,
    )


def _empirical(days: np.ndarray, cap: int = 20_000) -> Delay:
    days = np.sort(days)[:: max(1, days.size // cap)]
    return Delay("empirical", samples=tuple(float(d) for d in days))


def oracle_case(spec: Spec, data: Any, truth: dict[str, Any]) -> Case:
    """The oracle's view of the cell: rows a day, rates, and the generator's own delays."""
    before, after, per_day = truth["before"], truth["after"], truth["rows_per_day"]
    if isinstance(data, RecommenderData):
        rows = data.rows
        cell = rows.member(truth["segment"])
        bought = cell & rows.purchased
        buy_days = (rows.purchase_ts - rows.ts)[bought] / 86400
        if spec.kind == "click":
            lag = (rows.click_ts - rows.ts)[cell & rows.clicked] / 86400
            return Case(rows_per_day=per_day, before=before, after=after,
                        delay=_empirical(lag), window=30 / 1440)  # fmt: skip
        if spec.kind == "purchase":
            return Case(rows_per_day=per_day, before=before, after=after,
                        delay=_empirical(buy_days), window=12)  # fmt: skip
        back = (rows.return_ts - rows.purchase_ts)[bought & rows.returned] / 86400
        return Case(rows_per_day=per_day, before=before, after=after, delay=_empirical(back),
                    window=14, parent_delay=_empirical(buy_days), parent_window=12)  # fmt: skip
    assert isinstance(data, ClassifierData)
    cell = data.member(truth["segment"])
    known = cell & (data.labelled_at < np.iinfo(np.int64).max)
    labels = _empirical((data.labelled_at - data.ts)[known] / 86400)
    labelled = per_day * known.sum() / max(1, cell.sum())
    window = data.config.label_cutoff_days
    if spec.kind == "accuracy":
        return Case(kind="accuracy", rows_per_day=labelled, before=before, after=after,
                    delay=labels, window=window)  # fmt: skip
    share = truth["extra"]["default_rate_before"]
    return Case(kind="auc", rows_per_day=labelled, before=before, after=after, delay=labels,
                window=window, positive_share=share)  # fmt: skip


def seismo_run(spec: Spec, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One seed: plant, ingest once, look daily from the change until detection."""
    pre = args.pre_days or spec.pre_days
    most = args.max_days or spec.max_days
    data = _data(spec, seed, pre, most)
    folder = args.workdir / f"{spec.name}-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    with open_store(folder / "store.duckdb") as store:
        meta = load(store, data, folder)
        truth = meta["shifts"][0]
        looks = midnights(meta, pre + 1 - args.warmup, pre + most)

        def found(at: Any, today: list[Seen]) -> bool:
            return any(judge(s, [truth])[0] == "hit" for s in today)

        config = DetectConfig(min_maturity=args.min_maturity)
        result = replay(store, looks, alerts=False, stop=found, config=config)
        cells = max((c["cells"] for c in result.checks), default=0)
        source = result.checks[0]["cells_from"] if result.checks else None
        if cells == 0:  # the check computed no metric this model has: count what it could watch
            cells = count_cells(compute_metrics(store, as_of=looks[0]))
            source = "metrics table with model quality (the check watched none)"
    hit = [s for s in result.seen.values() if judge(s, [truth])[0] == "hit"]
    delay = min(round((s.first_seen - looks[args.warmup]).days) + 1 for s in hit) if hit else None
    return {
        "case": spec.name,
        "seed": seed,
        "delay_days": delay,
        "looks": len(result.checks),
        "cells": cells,
        "cells_from": source,
        "truth": truth,
        "oracle_case": oracle_case(spec, data, truth),
        "notes": meta["notes"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def oracle_only(spec: Spec, args: argparse.Namespace) -> dict[str, Any]:
    """The oracle alone for a case: the generator's cell, rates and delays, ``--cells`` cells."""
    most = args.max_days or spec.max_days
    data = _data(spec, args.seed, args.pre_days or spec.pre_days, most)
    truth = data.planted()[0].to_json()
    case = oracle_case(spec, data, truth)
    r = run_oracle(case, cells=args.cells, budget=args.budget, per_days=args.per_days,
                   runs=args.oracle_runs, max_days=max(60, 2 * most), seed=args.seed)  # fmt: skip
    return {
        "case": spec.name,
        "rows_per_day": round(case.rows_per_day, 1),
        "before": round(case.before, 4),
        "after": round(case.after, 4),
        "delay_shape": _shape(spec, case),
        "cells": args.cells,
        "oracle_arl0_days": r.arl0,
        "oracle_threshold": round(r.threshold, 2),
        "oracle_mean_delay": round(r.mean_delay, 2),
        "oracle_median_delay": r.median_delay,
        "calibration": dataclasses.asdict(r.calibration),
        "seconds_oracle": r.seconds,
    }


def compare(spec: Spec, args: argparse.Namespace) -> dict[str, Any]:
    runs = [seismo_run(spec, args.seed + k, args) for k in range(args.runs)]
    most = args.max_days or spec.max_days
    delays = [r["delay_days"] for r in runs]
    found = [d for d in delays if d is not None]
    cells = args.cells or max(r["cells"] for r in runs) or 1
    first: Case = runs[0]["oracle_case"]
    case = Case(
        kind=first.kind,
        rows_per_day=float(np.mean([r["oracle_case"].rows_per_day for r in runs])),
        before=float(np.mean([r["truth"]["before"] for r in runs])),
        after=float(np.mean([r["truth"]["after"] for r in runs])),
        delay=first.delay,
        window=first.window,
        parent_delay=first.parent_delay,
        parent_window=first.parent_window,
        positive_share=first.positive_share,
    )
    oracle = run_oracle(
        case,
        cells=cells,
        budget=args.budget,
        per_days=args.per_days,
        runs=args.oracle_runs,
        max_days=max(60, 2 * most),
        seed=args.seed,
    )
    mean = float(np.mean(found)) if found else None
    bound = float(np.mean([d if d is not None else most + 1 for d in delays]))
    ratio = (mean / oracle.mean_delay) if mean is not None and len(found) == len(runs) else None
    return {
        "case": spec.name,
        "rows_per_day": round(case.rows_per_day, 1),
        "before": round(case.before, 4),
        "after": round(case.after, 4),
        "delay_shape": _shape(spec, first),
        "cells": cells,
        "cells_from": runs[0]["cells_from"],
        "seismo_delays": delays,
        "seismo_mean_delay": mean,
        "seismo_mean_delay_at_least": bound,
        "oracle_mean_delay": round(oracle.mean_delay, 2),
        "oracle_threshold": round(oracle.threshold, 2),
        "oracle_arl0_days": oracle.arl0,
        "ratio": None if ratio is None else round(ratio, 2),
        "passes": ratio is not None and ratio <= 1.5,
        "max_days": most,
        "notes": sorted({n for r in runs for n in r["notes"]}),
        "seconds_seismo": round(sum(r["seconds"] for r in runs), 1),
        "seconds_oracle": oracle.seconds,
    }


def _shape(spec: Spec, case: Case) -> str:
    return {
        "click": "click within 30 min (log-normal)",
        "purchase": "purchase: exp 30 min + Weibull(0.65), by device × region, 12 d",
        "return": "purchase delay, then return log-normal by region + deadline bump, 14 d",
        "accuracy": "labels gamma(2.2), mean 28-45 d by channel, 110 d",
        "auc": "labels gamma(2.2), mean 36 d (partner), 110 d",
    }[spec.kind]


def _row(r: dict[str, Any]) -> str:
    found = sum(d is not None for d in r["seismo_delays"])
    if r["seismo_mean_delay"] is None:
        seismo = f"missed all (>{r['max_days']} d)"
    elif found < len(r["seismo_delays"]):
        seismo = f"{r['seismo_mean_delay']:.1f} ({found}/{len(r['seismo_delays'])} found)"
    else:
        seismo = f"{r['seismo_mean_delay']:.1f}"
    ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}{' ok' if r['passes'] else ''}"
    change = f"{r['before']:.3f}→{r['after']:.3f}"
    return (f"{r['case']:<16} {r['rows_per_day']:>8.1f} {change:>13}  {r['delay_shape']:<70}"
            f" {r['cells']:>6} {seismo:>22} {r['oracle_mean_delay']:>7.2f} {ratio:>8}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(SPECS), help=f"comma list of {', '.join(SPECS)}")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pre-days", type=int, default=None, help="days before the change")
    p.add_argument("--max-days", type=int, default=None, help="days looked at after it")
    p.add_argument("--warmup", type=int, default=0, help="also look this many days before it")
    p.add_argument("--cells", type=int, default=None, help="override the cells seismo watches")
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--per-days", type=float, default=90.0)
    p.add_argument("--oracle-runs", type=int, default=2000)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/seismo-independent/delay"))
    p.add_argument("--json", type=Path, default=None, help="also write one JSON line per case")
    p.add_argument("--oracle-only", action="store_true", help="the oracle alone (needs --cells)")
    p.add_argument("--min-maturity", type=float, default=DetectConfig().min_maturity,
                   help="[detect] min_maturity of seismo's check")  # fmt: skip
    args = p.parse_args()
    if args.oracle_only:
        args.cells = args.cells or 105
        for name in args.cases.split(","):
            r = oracle_only(SPECS[name], args)
            print(json.dumps(r), flush=True)
        return
    header = (f"{'case':<16} {'rows/day':>8} {'before→after':>13}  {'delay shape':<70}"
              f" {'cells':>6} {'seismo mean delay':>22} {'oracle':>7} {'ratio':>8}")  # fmt: skip
    print(header, flush=True)
    out = args.json.open("w", encoding="utf-8") if args.json else None
    for name in args.cases.split(","):
        r = compare(SPECS[name], args)
        print(_row(r), flush=True)
        if out:
            out.write(json.dumps(r, default=str) + "\n")
            out.flush()
    print("target: ratio <= 1.5 (seismo's mean delay over the oracle's, same budget and cells)")


if __name__ == "__main__":
    main()
