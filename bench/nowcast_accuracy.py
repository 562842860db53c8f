"""How close the nowcast gets to the final truth, by cohort age, over many seeds.

Usage::

    python bench/nowcast_accuracy.py --seeds 20 [--per-day 3000] [--metric purchase_conversion]

For each seed it simulates the seed scenario, ingests the export (as known at
the end of day 30) into an in-memory store, computes the daily metrics, and
compares every daily cohort's figures with the final truth the simulator knows:

* ``nowcast``: the estimate (delay-model nowcast);
* ``confirmed``: the rate among rows whose outcome is settled (biased toward
  fast deciders: while purchases are pending, it is mostly converters);
* ``so_far``: conversions seen so far over all rows (pending counted as not
  converted: the "fake drop" every recent day);
* ``coverage``: share of 90% intervals that contain the final value.

It prints one line per cohort age (days between the cohort and the export)
and a summary over cohorts at least 2 days old, as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seismo.ingest import ingest
from seismo.metrics.compute import compute_metrics
from seismo.simulate import Scenario, simulate
from seismo.store import open_store


def final_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """The final value of each metric per day and age group (and overall, value '*')."""
    truth = truth.assign(
        day=pd.to_datetime(truth["timestamp"]).dt.tz_localize(None).dt.floor("D"),
        revenue=truth["price_eur"] * truth["purchased"],
    )
    frames = []
    for attribute, keys in ((None, ["day"]), ("age_group", ["day", "age_group"])):
        g = truth.groupby(keys)
        f = pd.DataFrame(
            {
                "click_through_rate": g["clicked"].mean(),
                "purchase_conversion": g["purchased"].mean(),
                "revenue_per_recommendation": g["revenue"].mean(),
                "purchase_per_click": truth[truth["clicked"] == 1]
                .groupby(keys)["purchased"]
                .mean(),
                "return_rate": truth[truth["purchased"] == 1].groupby(keys)["returned"].mean(),
            }
        ).reset_index()
        f["attribute"] = attribute
        f["value"] = f["age_group"] if attribute else None
        frames.append(f.drop(columns=["age_group"], errors="ignore"))
    long = pd.concat(frames).melt(
        id_vars=["day", "attribute", "value"], var_name="metric", value_name="truth"
    )
    return long


def evaluate(seed: int, per_day: int = 3000, days: int = 30) -> pd.DataFrame:
    """One seed: every daily metric cell beside its final truth."""
    sim = simulate(Scenario(seed=seed, per_day=per_day, days=days))
    with open_store(":memory:") as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        result = compute_metrics(store, by=["age_group"]).to_pandas()
    so_far = result["confirmed_value"] * result["confirmed_n"]  # positives seen
    result["so_far"] = np.where(
        result["metric"] == "revenue_per_recommendation", np.nan, so_far / result["n"]
    )
    truth = final_truth(sim.truth.to_pandas())
    merged = result.merge(
        truth,
        left_on=["window_start", "attribute", "value", "metric"],
        right_on=["day", "attribute", "value", "metric"],
        how="left",
    )
    export_day = pd.Timestamp(sim.exported_at).tz_localize(None)
    merged["age_days"] = (export_day - merged["window_start"]).dt.days
    merged["seed"] = seed
    return merged


def summarize(frame: pd.DataFrame) -> list[dict[str, Any]]:
    pending = frame[(frame["pending_n"] > 0) & frame["truth"].notna() & (frame["truth"] > 0)]
    pending = pending.assign(
        nowcast_err=(pending["estimate"] - pending["truth"]).abs() / pending["truth"],
        confirmed_err=(pending["confirmed_value"] - pending["truth"]).abs() / pending["truth"],
        so_far_err=(pending["so_far"] - pending["truth"]).abs() / pending["truth"],
        covered=(pending["estimate_low"] <= pending["truth"] + 1e-12)
        & (pending["truth"] <= pending["estimate_high"] + 1e-12),
    )
    lines = []
    for age, g in pending.groupby("age_days"):
        lines.append(
            {
                "cohort_age_days": int(age),
                "cells": len(g),
                "nowcast_rel_error": round(float(g["nowcast_err"].mean()), 4),
                "confirmed_rel_error": round(float(g["confirmed_err"].mean()), 4),
                "so_far_rel_error": round(float(g["so_far_err"].mean()), 4),
                "coverage_90": round(float(g["covered"].mean()), 3),
            }
        )
    old = pending[pending["age_days"] >= 2]
    lines.append(
        {
            "summary": "cohorts >= 2 days old",
            "cells": len(old),
            "nowcast_rel_error": round(float(old["nowcast_err"].mean()), 4),
            "confirmed_rel_error": round(float(old["confirmed_err"].mean()), 4),
            "so_far_rel_error": round(float(old["so_far_err"].mean()), 4),
            "coverage_90": round(float(old["covered"].mean()), 3),
            "coverage_90_all_ages": round(float(pending["covered"].mean()), 3),
        }
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--metric", default="purchase_conversion")
    parser.add_argument("--segments", action="store_true", help="include age-group cells")
    args = parser.parse_args()
    frames = [evaluate(seed, args.per_day) for seed in range(args.seeds)]
    frame = pd.concat(frames)
    frame = frame[frame["metric"] == args.metric] if args.metric != "all" else frame
    if not args.segments:
        frame = frame[frame["attribute"].isna()]
    for line in summarize(frame):
        print(json.dumps({"metric": args.metric, **line}))


if __name__ == "__main__":
    main()
