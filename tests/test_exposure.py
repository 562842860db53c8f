"""Exposure metrics and fairness gaps on the simulated month, checked against the raw export.

The planted story: on day 20 (2026-06-01) summer replaces spring, the mix
moves to dresses and tops, prices rise, and 55+ customers are shown far fewer
sustainable items (35 % → 15 %) while their click-through stays flat.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from seismo.errors import ConfigError
from seismo.ingest import ingest
from seismo.metrics.compute import RESULT_SCHEMA, compute_metrics
from seismo.metrics.exposure import ExposureSpec, Threshold, compute_exposure, default_exposure
from seismo.metrics.fairness import (
    BASELINE_SCHEMA,
    FAIRNESS_SCHEMA,
    fairness_baseline,
    fairness_table,
)
from seismo.simulate import Scenario, Simulation, simulate
from seismo.store import Store, open_store

SCENARIO = Scenario(days=30, per_day=1500, seed=21)
CHANGEOVER = datetime(2026, 6, 1)  # day 20, a Monday: weekly windows split cleanly there
AGES = ("18-24", "25-34", "35-44", "45-54", "55+")


def _store(sim: Simulation) -> Iterator[Store]:
    with open_store(":memory:") as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        yield store


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SCENARIO)


@pytest.fixture(scope="module")
def seeded(sim: Simulation) -> Iterator[Store]:
    yield from _store(sim)


@pytest.fixture(scope="module")
def daily(seeded: Store) -> pa.Table:
    return compute_exposure(seeded)


@pytest.fixture(scope="module")
def weekly(seeded: Store) -> pa.Table:
    return compute_exposure(seeded, period="week")


def pooled(table: pa.Table, metric: str, value: str | None, *, after: bool) -> float:
    """The n-weighted value of a metric for one age group (None: all) before/after day 20."""
    df = table.to_pandas()
    df = df[(df.metric == metric) & ((df.window_start >= CHANGEOVER) == after)]
    df = df[df.attribute.isna()] if value is None else df[df.value == value]
    assert (df.attribute.isna() | (df.attribute == "age_group")).all()
    return float((df.n * df.estimate).sum() / df.n.sum())


def test_the_seed_scenario_gets_its_exposure_metrics(seeded: Store, daily: pa.Table) -> None:
    spec = default_exposure(seeded)
    assert spec.shares == ("is_sustainable",)
    assert spec.mix == ("category", "collection")  # brand has too many values for a mix
    assert spec.means == ("price_eur",)
    assert [t.name for t in spec.above] == ["price_above_p75"]
    assert daily.schema.equals(RESULT_SCHEMA)
    labels = dict(zip(daily["metric"].to_pylist(), daily["label"].to_pylist(), strict=True))
    assert labels["sustainable_share"] == "Share of sustainable items shown"
    assert labels["category_share:dresses"] == "Share of dresses shown"
    assert labels["mean_price_shown"] == "Average price shown"
    assert labels["collection_share:summer"] == "Share of summer collection items shown"
    categories = {m.split(":")[1] for m in labels if m.startswith("category_share:")}
    assert categories == {
        "dresses",
        "tops",
        "knitwear",
        "outerwear",
        "trousers",
        "shorts",
        "swimwear",
        "shoes",
        "accessories",
    }
    units = dict(zip(daily["metric"].to_pylist(), daily["unit"].to_pylist(), strict=True))
    assert units["mean_price_shown"] == "amount" and units["sustainable_share"] == "share"
    assert set(daily["attribute"].to_pylist()) == {None, *seeded.segments()}


def test_55_plus_are_shown_fewer_sustainable_items_after_the_changeover(daily: pa.Table) -> None:
    before = pooled(daily, "sustainable_share", "55+", after=False)
    after = pooled(daily, "sustainable_share", "55+", after=True)
    assert before > 0.30 and after < 0.20
    for age in AGES[:-1]:  # everyone else keeps seeing about as many
        was = pooled(daily, "sustainable_share", age, after=False)
        now = pooled(daily, "sustainable_share", age, after=True)
        assert abs(now - was) < 0.04, age
    days = daily.filter(
        pc.and_(
            pc.equal(daily["metric"], "sustainable_share"),
            pc.equal(daily["value"], "55+"),
        )
    ).to_pylist()
    assert all(r["estimate"] < 0.25 for r in days if r["window_start"] >= CHANGEOVER)


def test_the_summer_mix_and_prices_show_up(daily: pa.Table) -> None:
    def change(metric: str) -> float:
        return pooled(daily, metric, None, after=True) - pooled(daily, metric, None, after=False)

    assert change("category_share:dresses") > 0.05
    assert change("category_share:tops") > 0.03
    assert change("category_share:knitwear") < -0.05
    assert change("category_share:outerwear") < -0.05
    assert change("collection_share:summer") > 0.8
    assert change("price_above_p75") > 0.05  # from the deployment quarter
    price_before = pooled(daily, "mean_price_shown", None, after=False)
    assert pooled(daily, "mean_price_shown", None, after=True) > 1.1 * price_before


def test_every_value_matches_the_raw_export(
    sim: Simulation, seeded: Store, daily: pa.Table
) -> None:
    raw = sim.export.to_pandas()
    raw["window_start"] = raw["timestamp"].dt.tz_localize(None).dt.floor("D")
    raw["sustainable_share"] = raw["is_sustainable"].astype(float)
    raw["mean_price_shown"] = raw["price_eur"]
    (band,) = default_exposure(seeded).above
    raw["price_above_p75"] = (raw["price_eur"] > band.at).astype(float)
    for feature in ("category", "collection"):
        for v in raw[feature].unique():
            raw[f"{feature}_share:{v}"] = (raw[feature] == v).astype(float)
    metrics = [c for c in raw.columns if "share" in c or c.endswith(("_shown", "_p75"))]
    raw["*"] = "*"
    expected = {}
    for attribute in ["*", *seeded.segments()]:
        cells = raw.groupby(["window_start", attribute])[metrics].agg(["mean", "count"])
        for (start, value), r in cells.iterrows():
            for metric in metrics:
                key = (metric, None if attribute == "*" else attribute, value, start)
                expected[key] = (r[(metric, "count")], r[(metric, "mean")])
    got = {
        (r["metric"], r["attribute"], r["value"] or "*", r["window_start"]): (r["n"], r["estimate"])
        for r in daily.to_pylist()
    }
    assert got.keys() == expected.keys()
    assert len(got) == 30 * (1 + 18) * 14  # days × (all + 18 segment values) × metrics
    for key, (n, estimate) in got.items():
        assert n == expected[key][0] and estimate == pytest.approx(expected[key][1], rel=1e-9)


def test_intervals_match_textbook_formulas(sim: Simulation, daily: pa.Table) -> None:
    raw = sim.export.to_pandas()
    day = raw[raw["timestamp"].dt.tz_localize(None).dt.floor("D") == CHANGEOVER]
    old = day[day["age_group"] == "55+"]
    rows = {
        (r["metric"], r["value"]): r
        for r in daily.to_pylist()
        if r["window_start"] == CHANGEOVER and r["attribute"] in (None, "age_group")
    }
    share = rows[("sustainable_share", "55+")]
    ci = stats.binomtest(int(old["is_sustainable"].sum()), len(old)).proportion_ci(
        confidence_level=0.9, method="wilson"
    )
    assert (share["estimate_low"], share["estimate_high"]) == pytest.approx((ci.low, ci.high))
    price = rows[("mean_price_shown", None)]
    low, high = stats.t.interval(
        0.9, len(day) - 1, loc=day["price_eur"].mean(), scale=stats.sem(day["price_eur"])
    )
    assert (price["estimate_low"], price["estimate_high"]) == pytest.approx((low, high))


def test_exposure_is_settled_at_once(daily: pa.Table) -> None:
    for r in daily.to_pylist():
        assert r["confirmed_n"] == r["n"] > 0 and r["pending_n"] == 0
        assert r["estimate"] == r["confirmed_value"] == r["observed_value"]
        assert r["estimator"] == "observed"
        assert r["estimate_low"] <= r["estimate"] <= r["estimate_high"]
        assert r["final"] == (r["window_end"] <= r["as_of"])
        assert r["final_at"] == r["window_end"]


def test_without_the_planted_shift_nothing_jumps() -> None:
    clean = simulate(SCENARIO.no_shift())
    with open_store(":memory:") as store:
        ingest(store, clean.export, exported_at=clean.exported_at)
        table = compute_exposure(store, by=["age_group"])
        weekly = compute_exposure(store, period="week", by=["age_group"])
    for age in AGES:
        was = pooled(table, "sustainable_share", age, after=False)
        now = pooled(table, "sustainable_share", age, after=True)
        assert was > 0.28 and abs(now - was) < 0.04, age
    for metric in ("category_share:dresses", "category_share:knitwear", "price_above_p75"):
        was, now = (pooled(table, metric, None, after=a) for a in (False, True))
        assert abs(now - was) < 0.03, metric
    price = [pooled(table, "mean_price_shown", None, after=a) for a in (False, True)]
    assert abs(price[1] / price[0] - 1) < 0.03
    flags = fairness_table(weekly).to_pylist()
    assert all(r["four_fifths_ok"] for r in flags if r["metric"] == "sustainable_share")


def test_fairness_flags_55_plus_after_the_changeover_only(weekly: pa.Table) -> None:
    baseline = fairness_baseline(weekly, until=datetime(2026, 5, 25))  # the first two weeks
    assert baseline.schema.equals(BASELINE_SCHEMA)
    table = fairness_table(weekly, baseline=baseline)
    assert table.schema.equals(FAIRNESS_SCHEMA)
    rows = [
        r
        for r in table.to_pylist()
        if r["metric"] == "sustainable_share" and r["attribute"] == "age_group"
    ]
    assert len(rows) == 5 * 5  # five weeks (two partial) × five age groups
    for r in rows:
        shifted = r["value"] == "55+" and r["window_start"] >= CHANGEOVER
        assert r["four_fifths_ok"] is (not shifted), (r["value"], r["window_start"])
        if shifted:
            assert r["ratio_to_best"] < 0.6 and r["gap_change"] < -0.1
            assert r["baseline_ratio_to_best"] > 0.85  # fair at deployment
        else:  # the others' gaps did not widen (they rise a little as 55+ pull the overall down)
            assert r["gap_change"] > -0.04
        assert r["gap_to_overall"] == pytest.approx(r["estimate"] - r["overall"])
        assert r["ratio_to_best"] == pytest.approx(r["estimate"] / r["best_estimate"])


def test_the_exposure_shift_is_invisible_in_click_through(seeded: Store) -> None:
    quality = compute_metrics(seeded, period="week", by=["age_group"])
    ctr = quality.filter(pc.equal(quality["metric"], "click_through_rate"))
    table = fairness_table(ctr, baseline=fairness_baseline(ctr, until=datetime(2026, 5, 25)))
    after = [r for r in table.to_pylist() if r["window_start"] >= CHANGEOVER]
    # 55+ click through as before: whatever their standing was, it did not worsen...
    old = [r for r in after if r["value"] == "55+"]
    assert len(old) == 2 and all(r["gap_change"] > -0.03 for r in old)
    # ...while the planted 25-34 drop of the last ten days opens a quality gap.
    young = [r for r in after if r["value"] == "25-34"]
    assert all(r["four_fifths_ok"] is False and r["gap_change"] < -0.07 for r in young)


def _row(value: str | None, estimate: float | None, n: int = 100) -> dict[str, object]:
    return {
        "metric": "return_rate",
        "attribute": None if value is None else "age_group",
        "value": value,
        "model_version": "v1",
        "window_start": datetime(2026, 6, 1),
        "window_end": datetime(2026, 6, 2),
        "n": n,
        "estimate": estimate,
    }


def test_lower_is_better_metrics_measure_against_the_lowest() -> None:
    rows = [_row(None, 0.25), _row("18-24", 0.2), _row("55+", 0.3), _row("tiny", 0.01, n=3)]
    lower = {"return_rate"}  # as the seed scenario declares it: [words.better] return = "lower"
    table = fairness_table(pa.Table.from_pylist(rows), lower_is_better=lower).to_pylist()
    table = {r["value"]: r for r in table}
    assert table["55+"]["lower_is_better"] and table["55+"]["best_value"] == "18-24"
    assert table["55+"]["ratio_to_best"] == pytest.approx(0.2 / 0.3)
    assert table["55+"]["four_fifths_ok"] is False and table["18-24"]["four_fifths_ok"] is True
    assert table["55+"]["gap_to_overall"] == pytest.approx(0.05)
    assert table["55+"]["ratio_to_overall"] == pytest.approx(1.2)
    assert table["tiny"]["four_fifths_ok"] is None  # too small to judge or to set the bar
    # Declared higher-is-better instead, the best group is 55+.
    plain = fairness_table(pa.Table.from_pylist(rows), lower_is_better=())
    assert {r["value"]: r["four_fifths_ok"] for r in plain.to_pylist()}["18-24"] is False


def test_fairness_edge_cases_keep_the_shape() -> None:
    empty = fairness_table(RESULT_SCHEMA.empty_table())
    assert empty.schema.equals(FAIRNESS_SCHEMA) and empty.num_rows == 0
    rows = [_row(None, 0.0), _row("a", 0.0), _row("b", 0.0), _row("c", None)]
    table = {r["value"]: r for r in fairness_table(pa.Table.from_pylist(rows)).to_pylist()}
    assert table["a"]["ratio_to_best"] == 1.0 and table["a"]["four_fifths_ok"] is True
    assert table["c"]["ratio_to_best"] is None and table["c"]["gap_to_overall"] is None
    negative = [{**r, "metric": "click_bias", "estimate": -0.1} for r in rows[:2]]
    assert fairness_table(pa.Table.from_pylist(negative))["ratio_to_best"].to_pylist() == [None]
    with pytest.raises(ConfigError, match="lacks column"):
        fairness_table(pa.table({"metric": ["x"]}))


def test_count_windows_and_as_of(seeded: Store, sim: Simulation) -> None:
    spec = ExposureSpec(shares=("is_sustainable",))
    counted = compute_exposure(seeded, every=5000, by=[], spec=spec).to_pylist()
    assert sum(r["n"] for r in counted) == sim.export.num_rows
    assert all(r["n"] == 5000 and r["final"] for r in counted[:-1])  # chunks of exactly N
    assert counted[-1]["n"] == sim.export.num_rows % 5000 and not counted[-1]["final"]
    assert all(a["window_end"] <= b["window_start"] for a, b in itertools.pairwise(counted))
    as_of = SCENARIO.start + timedelta(days=10, hours=5, minutes=30)
    early = compute_exposure(seeded, as_of=as_of, by=[], spec=spec).to_pylist()
    served = sim.export.to_pandas()["timestamp"] < SCENARIO.start + timedelta(days=10, hours=5)
    assert sum(r["n"] for r in early) == served.sum()
    assert [r["final"] for r in early] == [True] * 10 + [False]


def test_bad_specs_are_refused(seeded: Store) -> None:
    with pytest.raises(ConfigError, match="not a declared column"):
        compute_exposure(seeded, spec=ExposureSpec(shares=("is_vegan",)))
    with pytest.raises(ConfigError, match="shares need a bool"):
        compute_exposure(seeded, spec=ExposureSpec(shares=("category",)))
    with pytest.raises(ConfigError, match="unknown segment"):
        compute_exposure(seeded, by=["planet"])
    band = ExposureSpec(above=(Threshold(feature="price_eur", at=100.0),))
    assert band.names() == ["price_above_100"]


def comparable(table: pa.Table) -> list[tuple[object, ...]]:
    return [
        tuple(round(v, 9) if isinstance(v, float) else v for v in r.values())
        for r in table.to_pylist()
    ]


def test_duckdb_and_postgres_give_the_same_tables(store: Store) -> None:
    small = simulate(Scenario(days=30, per_day=200, seed=4))
    ingest(store, small.export, exported_at=small.exported_at)
    with open_store(":memory:") as reference:
        ingest(reference, small.export, exported_at=small.exported_at)
        want = compute_exposure(reference, period="week")
        want_counted = compute_exposure(reference, every=1000, by=["age_group"])
        assert default_exposure(store) == default_exposure(reference)
    got = compute_exposure(store, period="week")
    assert comparable(got) == comparable(want)
    counted = compute_exposure(store, every=1000, by=["age_group"])
    assert comparable(counted) == comparable(want_counted)
    assert comparable(fairness_table(got)) == comparable(fairness_table(want))
