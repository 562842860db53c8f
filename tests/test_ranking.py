"""Ranking metrics: equal to a direct computation on a hand fixture, and watched by the check.

The fixture is a handful of served lists (slates) small enough to check by
eye; the reference values below are computed from it directly with pandas
and numpy, not through seismo, and compared to what the engine returns.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seismo.cli import app
from seismo.config import mapping_from_dict
from seismo.errors import ConfigError
from seismo.ingest import ingest
from seismo.metrics.ranking import compute_ranking
from seismo.metrics.ranking_spec import RankingSpec
from seismo.simulate import Scenario, simulate
from seismo.store import Store, open_store

K = 3
START = datetime(2026, 3, 2, tzinfo=UTC)
MAPPING = mapping_from_dict(
    {
        "model": {"name": "ranker", "version": "v1"},
        "predictions": {
            "id": "id",
            "timestamp": "ts",
            "entity": "customer",
            "item": "item",
            "request_id": "request",
            "segments": ["region"],
            "features": {"position": "int"},
            "outcomes": [
                {"type": "click", "value": "clicked", "timestamp": "click_ts"},
                {"type": "purchase", "value": "purchased", "timestamp": "purchase_ts"},
            ],
        },
        "outcome_types": {"click": {"window": "30m"}, "purchase": {"window": "7d"}},
    }
)

# request, day, hour, region, [(item, position, clicked, purchased), ...]
SLATES: list[tuple[str, int, int, str, list[tuple[str, int, int, int]]]] = [
    ("r1", 0, 9, "north", [("a", 1, 1, 1), ("b", 2, 0, 0), ("c", 3, 1, 0), ("d", 4, 1, 1)]),
    ("r2", 0, 10, "north", [("a", 1, 0, 0), ("e", 2, 0, 0), ("b", 3, 0, 0)]),
    ("r3", 0, 11, "south", [("c", 1, 0, 0), ("a", 2, 1, 0), ("f", 3, 0, 0), ("g", 4, 1, 0)]),
    ("r4", 0, 12, "south", [("a", 2, 1, 0), ("h", 1, 1, 0)]),
    ("r5", 1, 9, "north", [("b", 1, 1, 0), ("a", 2, 1, 1), ("c", 3, 0, 0)]),
    ("r6", 1, 13, "south", [("a", 1, 1, 0), ("d", 2, 0, 0), ("e", 3, 1, 1), ("f", 5, 1, 0)]),
    ("r7", 1, 15, "south", [("g", 1, 0, 0)]),
]


def frame(pending: set[str] = frozenset()) -> pd.DataFrame:  # type: ignore[assignment]
    """The fixture as a flat export; the purchases of requests in ``pending`` not yet known."""
    rows = []
    for request, day, hour, region, entries in SLATES:
        served = START + timedelta(days=day, hours=hour)
        for j, (item, position, clicked, purchased) in enumerate(entries):
            unknown = request in pending
            bought = served + timedelta(hours=3) if purchased and not unknown else None
            rows.append(
                {
                    "id": f"{request}-{j}",
                    "ts": served,
                    "customer": f"c-{request}",
                    "item": item,
                    "request": request,
                    "region": region,
                    "position": position,
                    "clicked": clicked,
                    "click_ts": served + timedelta(minutes=5) if clicked else None,
                    "purchased": None if unknown else purchased,
                    "purchase_ts": bought,
                }
            )
    return pd.DataFrame(rows)


def reference(df: pd.DataFrame, k: int = K) -> dict[tuple[str, str | None, int], float]:
    """Every ranking metric per (metric, region or None, day), computed directly."""
    df = df.assign(
        day=(pd.to_datetime(df["ts"]) - START).dt.days,
        grade=np.where(df["purchased"].fillna(0) == 1, 2, np.where(df["clicked"] == 1, 1, 0)),
    )
    per_slate = []
    for request, s in df.groupby("request"):
        gain = 2.0 ** s["grade"].to_numpy() - 1
        pos = s["position"].to_numpy()
        top = pos <= k
        dcg = float(np.sum(gain[top] / np.log2(pos[top] + 1)))
        ideal = np.sort(gain)[::-1][:k]
        idcg = float(np.sum(ideal / np.log2(np.arange(2, ideal.size + 2))))
        relevant = (s["grade"].to_numpy() > 0) & top
        per_slate.append(
            {
                "request": request,
                "day": int(s["day"].iloc[0]),
                "region": s["region"].iloc[0],
                "ndcg": dcg / idcg if idcg > 0 else 0.0,
                "rr": 1.0 / pos[relevant].min() if relevant.any() else 0.0,
                "prec": relevant.sum() / k,
                "hit": float(relevant.any()),
            }
        )
    slates = pd.DataFrame(per_slate)
    counts = df.groupby("item").size()
    popularity = counts / counts.sum()
    catalog = counts.index
    top_item = counts.sort_values(ascending=False, kind="stable").index[0]
    out: dict[tuple[str, str | None, int], float] = {}
    names = {"ndcg": "ndcg", "rr": "mrr", "prec": "precision", "hit": "hit_rate"}
    for region in (None, "north", "south"):
        for day in (0, 1):
            rows = df[(df["day"] == day) & ((df["region"] == region) if region else True)]
            if rows.empty:
                continue
            chosen = (slates["region"] == region) if region else True
            lists = slates[(slates["day"] == day) & chosen]
            for col, metric in names.items():
                out[(f"{metric}_at_{k}", region, day)] = float(lists[col].mean())
            exposure = rows.groupby("item").size().reindex(catalog, fill_value=0)
            x = np.sort(exposure.to_numpy().astype(float))
            m = x.size
            out[("exposure_gini", region, day)] = float(
                2 * np.sum(np.arange(1, m + 1) * x) / (m * x.sum()) - (m + 1) / m
            )
            out[("catalog_coverage", region, day)] = float((exposure > 0).sum() / m)
            out[("novelty", region, day)] = float(
                (-np.log2(popularity[rows["item"]].to_numpy())).mean()
            )
            out[("popular_exposure_share", region, day)] = float((rows["item"] == top_item).mean())
            first = rows[rows["position"] == 1]
            rest = rows[(rows["position"] > 1) & (rows["position"] <= k)]
            out[("click_rate_at_position_1", region, day)] = float(first["clicked"].mean())
            out[("click_position_lift", region, day)] = float(
                first["clicked"].mean() / rest["clicked"].mean()
            )
    return out


def ranked_store(df: pd.DataFrame, exported_at: datetime) -> Store:
    store = open_store(":memory:")
    ingest(store, df, mapping=MAPPING, exported_at=exported_at)
    return store


def rows_by_key(table: Any) -> dict[tuple[str, str | None, int], dict[str, Any]]:
    out = {}
    for r in table.to_pylist():
        day = (r["window_start"] - START.replace(tzinfo=None)).days
        out[(r["metric"], r["value"], day)] = r
    return out


def test_ranking_metrics_equal_a_direct_computation() -> None:
    df = frame()
    with ranked_store(df, START + timedelta(days=30)) as store:
        table = compute_ranking(store, spec=RankingSpec(k=K))
    got = rows_by_key(table)
    want = reference(df)
    assert set(want) <= set(got)
    for key, value in want.items():
        row = got[key]
        assert row["estimate"] == pytest.approx(value, abs=1e-9), key
        assert row["observed_value"] == pytest.approx(value, abs=1e-9), key
        assert row["pending_n"] == 0 and row["final"], key
    # A few by hand, so the reference itself is checked: slate r2 has nothing relevant,
    # r1's ideal order puts its two purchases first.
    r1 = (3 / 1 + 0 + 1 / 2) / (3 + 3 / math.log2(3) + 1 / 2)
    assert want[("ndcg_at_3", "north", 0)] == pytest.approx((r1 + 0) / 2)
    assert want[("mrr_at_3", "south", 0)] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert got[("catalog_coverage", None, 0)]["n"] == 8  # items a..h


def test_late_purchases_leave_their_lists_provisional() -> None:
    """Lists whose purchases may still arrive are pending; the confirmed value leaves them out."""
    exported = START + timedelta(days=2)
    df = frame(pending={"r6", "r7"})
    with ranked_store(df, exported) as store:
        table = compute_ranking(store, as_of=exported, spec=RankingSpec(k=K))
    got = rows_by_key(table)
    ndcg = got[("ndcg_at_3", None, 1)]
    hit = got[("hit_rate_at_3", None, 1)]
    assert ndcg["n"] == 3 and ndcg["pending_n"] == 2 and not ndcg["final"]
    assert ndcg["estimator"] != "confirmed"
    # r7's single entry was not clicked and may still be bought: pending for hit rate too;
    # r6 was clicked at the top, so a late purchase cannot change whether it was a hit.
    assert hit["pending_n"] == 1
    settled = reference(frame().query("request == 'r5'"))
    assert ndcg["confirmed_value"] == pytest.approx(settled[("ndcg_at_3", None, 1)], abs=1e-9)
    # What has arrived so far: r6 and r7 without their purchases.
    so_far = reference(df.assign(purchased=df["purchased"].fillna(0)))
    assert ndcg["observed_value"] == pytest.approx(so_far[("ndcg_at_3", None, 1)], abs=1e-9)
    # Exposure needs no outcome: settled at once.
    assert got[("exposure_gini", None, 1)]["final"]


def test_a_model_that_does_not_rank_gets_no_ranking_metric() -> None:
    df = frame().drop(columns=["request", "position", "item"])
    mapping = mapping_from_dict(
        {
            "model": {"name": "scorer", "version": "v1"},
            "predictions": {
                "id": "id",
                "timestamp": "ts",
                "entity": "customer",
                "segments": ["region"],
                "outcomes": [{"type": "click", "value": "clicked", "timestamp": "click_ts"}],
            },
            "outcome_types": {"click": {"window": "30m"}},
        }
    )
    with open_store(":memory:") as store:
        ingest(store, df, mapping=mapping, exported_at=START + timedelta(days=30))
        assert compute_ranking(store).num_rows == 0


def test_a_position_below_one_is_refused_with_row_and_field() -> None:
    df = frame()
    df.loc[5, "position"] = 0
    refused = pytest.raises(ConfigError, match=r"prediction 'r2-1', field 'position'.*from 1")
    with ranked_store(df, START + timedelta(days=30)) as store, refused:
        compute_ranking(store, spec=RankingSpec(k=K))


# -- watched by the check: a planted position bias, and the same month without it --------

SHIFT_DAY = 16
MONTH = Scenario(seed=3, per_day=1500, days=20).no_shift()
RANKING = (
    *("ndcg_", "mrr_", "precision_", "hit_rate_", "_position_"),
    *("exposure_gini", "popular_exposure_share", "catalog_coverage", "novelty"),
)


def checked_store(path: Path, planted: bool) -> str:
    scenario = replace(MONTH, position_shift=planted, position_shift_day=SHIFT_DAY)
    sim = simulate(scenario)
    with open_store(str(path)) as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
    return str(path)


def check(path: str, as_of: datetime) -> list[dict[str, Any]]:
    """``seismo check`` as of a moment: the alerts it reports, as JSON."""
    args = ["check", "--store", path, "--as-of", f"{as_of:%Y-%m-%dT%H:%M}", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    alerts: list[dict[str, Any]] = json.loads(result.stdout)
    return alerts


def ranking_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if any(part in a["metric"] for part in RANKING)]


def test_a_planted_position_bias_is_flagged_on_its_day(tmp_path: Path) -> None:
    path = checked_store(tmp_path / "planted.duckdb", planted=True)
    shift = MONTH.start + timedelta(days=SHIFT_DAY)
    assert ranking_alerts(check(path, shift)) == []  # the end of the last day before it
    alerts = ranking_alerts(check(path, shift + timedelta(days=2)))
    top = [a for a in alerts if a["metric"] == "click_rate_at_position_1"]
    assert top, alerts
    alert = top[0]
    assert alert["segment"] is None and alert["direction"] == "down"
    assert datetime.fromisoformat(alert["since"]) == shift
    assert alert["current"] < 0.6 * alert["baseline"]
    assert "Click-through at position 1" in alert["message"]


def test_the_same_month_without_the_plant_raises_no_ranking_alert(tmp_path: Path) -> None:
    path = checked_store(tmp_path / "clean.duckdb", planted=False)
    shift = MONTH.start + timedelta(days=SHIFT_DAY)
    assert ranking_alerts(check(path, shift + timedelta(days=2))) == []
