"""The seed scenario says what DESIGN.md says it says, on real generated data.

Tolerances are statistical: at the default volume (about 90,000 rows) a
click-through rate over 10 days of a 10 % segment has a standard error near
0.8 points, so "stable" is a two-proportion z-test (|z| < 3.5, which keeps the
family of ~17 comparisons quiet) plus a 3-point cap, and planted effects are
asserted far outside that noise.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import seismo.simulate as simulate_pkg
from seismo.errors import ConfigError
from seismo.simulate import (
    COLUMNS,
    Scenario,
    Simulation,
    as_known_at,
    simulate,
    write_scenario,
    write_simulation,
)
from seismo.simulate.command import simulate_command

AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
SEGMENT_ATTRIBUTES = ("sustainability_preference", "region", "customer_type", "device")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(Scenario())


@pytest.fixture(scope="module")
def clean() -> Simulation:
    return simulate(Scenario().no_shift())


def frame(sim: Simulation, name: str = "export") -> pd.DataFrame:
    """The table as pandas with ``day`` (0-based from start) and ``late`` (last 10 days)."""
    df: pd.DataFrame = getattr(sim, name).to_pandas()
    start = pd.Timestamp(sim.scenario.start)
    df["day"] = (df["timestamp"] - start).dt.days
    df["late"] = df["day"] >= sim.scenario.days - 10
    return df


@pytest.fixture(scope="module")
def export(sim: Simulation) -> pd.DataFrame:
    return frame(sim)


@pytest.fixture(scope="module")
def clean_export(clean: Simulation) -> pd.DataFrame:
    return frame(clean)


def ctr(df: pd.DataFrame) -> float:
    return float(df["clicked"].mean())  # pandas skips the few pending clicks


def z_two_proportions(a: pd.Series, b: pd.Series) -> float:
    """z statistic of the difference between two 0/1 samples' means."""
    a, b = a.dropna(), b.dropna()
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    return float((a.mean() - b.mean()) / se)


def assert_stable(early: pd.Series, late: pd.Series, what: str) -> None:
    z = z_two_proportions(early, late)
    gap = abs(early.mean() - late.mean())
    shown = f"{what}: {early.mean():.4f} -> {late.mean():.4f}, z={z:.2f}"
    assert abs(z) < 3.5 and gap < 0.03, shown


def assert_ctr_stable(df: pd.DataFrame, what: str) -> None:
    """Click-through of the first 20 days vs the last 10."""
    assert_stable(df.loc[~df["late"], "clicked"], df.loc[df["late"], "clicked"], what)


# --- the source material's facts -------------------------------------------------------------


def test_overall_click_through_is_about_23_5_percent(export: pd.DataFrame) -> None:
    assert ctr(export) == pytest.approx(0.235, abs=0.01)


def test_25_34_is_about_12_percent_of_traffic(export: pd.DataFrame) -> None:
    assert (export["age_group"] == "25-34").mean() == pytest.approx(0.12, abs=0.01)


def test_25_34_click_through_drops_from_28_to_15_percent(export: pd.DataFrame) -> None:
    group = export[export["age_group"] == "25-34"]
    assert ctr(group[~group["late"]]) == pytest.approx(0.28, abs=0.02)
    assert ctr(group[group["late"]]) == pytest.approx(0.15, abs=0.02)


def test_aggregate_click_through_moves_by_under_2_points(export: pd.DataFrame) -> None:
    change = ctr(export[~export["late"]]) - ctr(export[export["late"]])
    assert 0 < change < 0.02


@pytest.mark.parametrize("age", [a for a in AGE_GROUPS if a != "25-34"])
def test_other_age_groups_click_through_is_stable(export: pd.DataFrame, age: str) -> None:
    assert_ctr_stable(export[export["age_group"] == age], age)


@pytest.mark.parametrize("attribute", SEGMENT_ATTRIBUTES)
def test_every_other_segment_is_stable_outside_25_34(export: pd.DataFrame, attribute: str) -> None:
    others = export[export["age_group"] != "25-34"]
    for value, group in others.groupby(attribute):
        assert_ctr_stable(group, f"{attribute}={value}")


def test_about_60_percent_of_rows_have_ground_truth(export: pd.DataFrame) -> None:
    assert 0.55 <= export["ground_truth_available"].mean() <= 0.65


def test_older_customers_take_longer_to_buy(sim: Simulation) -> None:
    medians = purchase_delay_medians(sim)
    assert list(medians) == sorted(medians), medians
    assert medians[-1] > 3 * medians[0]


def test_summer_replaces_spring_on_day_20(export: pd.DataFrame) -> None:
    summer_by_day = (export["collection"] == "summer").groupby(export["day"]).mean()
    assert summer_by_day.loc[:19].max() == 0.0
    assert summer_by_day.loc[20:].min() > 0.9
    before, after = export[export["day"] < 20], export[export["day"] >= 20]

    def share(df: pd.DataFrame, *categories: str) -> float:
        return float(df["category"].isin(categories).mean())

    assert share(after, "dresses", "tops") > share(before, "dresses", "tops") + 0.15
    assert share(after, "knitwear", "outerwear") < share(before, "knitwear", "outerwear") - 0.2
    assert share(before, "swimwear", "shorts") == 0.0
    assert after["price_eur"].mean() > 1.1 * before["price_eur"].mean()


def test_55_plus_see_fewer_sustainable_items_but_click_as_before(export: pd.DataFrame) -> None:
    before, after = export[export["day"] < 20], export[export["day"] >= 20]
    old_before = before[before["age_group"] == "55+"]
    old_after = after[after["age_group"] == "55+"]
    assert old_before["is_sustainable"].mean() > 0.30
    assert old_after["is_sustainable"].mean() < 0.20
    assert_stable(old_before["clicked"], old_after["clicked"], "55+ click-through")
    for age in ("18-24", "25-34", "35-44", "45-54"):
        shown = export[export["age_group"] == age]
        early = shown.loc[shown["day"] < 20, "is_sustainable"].astype(float)
        late = shown.loc[shown["day"] >= 20, "is_sustainable"].astype(float)
        assert_stable(early, late, f"{age} sustainable share")


def test_score_is_informative_and_blind_to_the_drop(export: pd.DataFrame) -> None:
    early = export[~export["late"]].dropna(subset=["clicked"])
    for age, group in early.groupby("age_group"):
        assert group["score"].mean() == pytest.approx(ctr(group), abs=0.015), age
    ranks = early["score"].rank()
    clicked = early["clicked"] == 1
    n_pos, n_neg = clicked.sum(), (~clicked).sum()
    auc = (ranks[clicked].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    assert auc > 0.58
    dropped = export[(export["age_group"] == "25-34") & export["late"]]
    assert dropped["score"].mean() - ctr(dropped) > 0.08


# --- no_shift: the same month with nothing planted -------------------------------------------


def test_no_shift_has_no_25_34_drop(clean_export: pd.DataFrame) -> None:
    assert_ctr_stable(clean_export[clean_export["age_group"] == "25-34"], "25-34")


def test_no_shift_has_no_changeover_and_no_exposure_shift(clean_export: pd.DataFrame) -> None:
    assert set(clean_export["collection"]) == {"spring"}
    old = clean_export[clean_export["age_group"] == "55+"]
    early = old.loc[old["day"] < 20, "is_sustainable"].astype(float)
    late = old.loc[old["day"] >= 20, "is_sustainable"].astype(float)
    assert_stable(early, late, "55+ sustainable share")


def test_no_shift_has_one_purchase_delay_for_all(clean: Simulation) -> None:
    medians = purchase_delay_medians(clean)
    assert max(medians) < 1.35 * min(medians), medians


def test_no_shift_keeps_the_same_traffic(sim: Simulation, clean: Simulation) -> None:
    """Common random numbers: switching shifts off changes outcomes, not who came when."""
    for name in ("recommendation_id", "timestamp", "customer_id", "position"):
        assert sim.export[name].equals(clean.export[name]), name


def test_each_switch_turns_off_only_its_shift() -> None:
    base = Scenario(days=30, per_day=1500)
    no_drop = frame(simulate(dataclasses.replace(base, segment_drop=False)))
    assert_ctr_stable(no_drop[no_drop["age_group"] == "25-34"], "25-34")
    assert (no_drop.loc[no_drop["day"] >= 20, "collection"] == "summer").mean() > 0.9
    no_exposure = frame(simulate(dataclasses.replace(base, sustainable_exposure_shift=False)))
    old = no_exposure[(no_exposure["age_group"] == "55+") & (no_exposure["day"] >= 20)]
    assert old["is_sustainable"].mean() > 0.28


# --- consistency of export, truth and reference ----------------------------------------------


def test_export_is_truth_censored_at_export_time(sim: Simulation) -> None:
    """Re-derive the censoring independently, outcome by outcome."""
    at = pd.Timestamp(sim.exported_at)
    e, t = sim.export.to_pandas(), sim.truth.to_pandas()
    assert (e["recommendation_id"] == t["recommendation_id"]).all()
    fixed = list(COLUMNS[:17])
    assert sim.export.select(fixed).equals(sim.truth.select(fixed))

    windows = sim.scenario.outcome_windows
    expected_gt = pd.Series(True, index=e.index)
    start_of = {"clicked": t["timestamp"], "purchased": t["timestamp"]}
    for flag, stamp, window in (
        ("clicked", "click_timestamp", windows["click"]),
        ("purchased", "purchase_timestamp", windows["purchase"]),
    ):
        happened = (t[flag] == 1) & (t[stamp] <= at)
        closed = start_of[flag] + window <= at
        assert (e.loc[happened, flag] == 1).all()
        assert (e.loc[happened, stamp] == t.loc[happened, stamp]).all()
        assert (e.loc[~happened & closed, flag] == 0).all()
        assert e.loc[~happened & ~closed, flag].isna().all()
        assert e.loc[~happened, stamp].isna().all()
        expected_gt &= happened | closed

    purchase_known = e["purchased"] == 1
    returned = purchase_known & (t["returned"] == 1) & (t["return_timestamp"] <= at)
    closed = purchase_known & (t["purchase_timestamp"] + windows["return"] <= at)
    assert (e.loc[returned, "returned"] == 1).all()
    assert (e.loc[purchase_known & ~returned & closed, "returned"] == 0).all()
    assert e.loc[purchase_known & ~returned & ~closed, "returned"].isna().all()
    assert (e.loc[e["purchased"] == 0, "returned"] == 0).all()
    assert e.loc[e["purchased"].isna(), "returned"].isna().all()
    expected_gt &= ~purchase_known | returned | closed
    assert (e["ground_truth_available"] == expected_gt).all()
    # the truth is the end state: nothing pending, every flag 0/1
    for flag in ("clicked", "purchased", "returned"):
        assert t[flag].notna().all() and set(t[flag]) <= {0, 1}
    assert t["ground_truth_available"].all()


def test_knowledge_only_accumulates(sim: Simulation) -> None:
    """Replaying the month: a known outcome never changes, pending ones resolve."""
    start = sim.scenario.start
    days = [5, 15, 25, 30]
    known = [as_known_at(sim.truth, start + timedelta(days=d), sim.scenario) for d in days]
    assert known[-1].equals(sim.export)
    truth = sim.truth.to_pandas().set_index("recommendation_id")
    previous_settled = 0
    for table in known:
        df = table.to_pandas().set_index("recommendation_id")
        for flag in ("clicked", "purchased", "returned"):
            seen = df[flag].notna()
            final = truth.loc[df.index[seen], flag]
            assert (df.loc[seen, flag] == final).all(), flag
        settled = int(df["ground_truth_available"].sum())
        assert settled >= previous_settled
        previous_settled = settled
    all_closed = sim.exported_at + timedelta(days=27)
    assert as_known_at(sim.truth, all_closed, sim.scenario).equals(sim.truth)


def test_reference_is_final_spring_and_before_start(sim: Simulation) -> None:
    ref = frame(sim, "reference")
    assert sim.reference.schema.equals(sim.export.schema)
    assert ref["ground_truth_available"].all()
    assert set(ref["collection"]) == {"spring"}
    assert (ref["timestamp"] < pd.Timestamp(sim.scenario.start)).all()
    assert ref["day"].min() == -sim.scenario.reference_days
    assert ref["recommendation_id"].str.startswith("t").all()
    assert ctr(ref) == pytest.approx(ctr(frame(sim).query("not late")), abs=0.01)
    assert ctr(ref[ref["age_group"] == "25-34"]) == pytest.approx(0.28, abs=0.02)


def test_rows_are_well_formed(sim: Simulation) -> None:
    e = sim.export.to_pandas()
    assert e["recommendation_id"].is_unique and e["recommendation_id"].str.startswith("r").all()
    assert e["timestamp"].is_monotonic_increasing
    assert e["position"].between(1, 10).all()
    assert e["score"].between(0, 1, inclusive="neither").all()
    assert (e["price_eur"].round(2) == e["price_eur"]).all() and (e["price_eur"] > 0).all()
    assert set(e["age_group"]) == set(AGE_GROUPS)
    assert e["model_version"].nunique() == 1
    assert 1000 < e["product_id"].nunique() <= sim.scenario.catalog_size
    clicked = e["clicked"] == 1
    delay = e.loc[clicked, "click_timestamp"] - e.loc[clicked, "timestamp"]
    assert (delay > pd.Timedelta(0)).all() and (delay <= pd.Timedelta(minutes=30)).all()
    assert e["clicked"].isna().sum() < 100  # only the last half hour is pending
    hourly = e["timestamp"].dt.hour.value_counts(normalize=True)
    assert hourly.loc[19] > 3 * hourly.loc[3]  # evenings are busy, nights quiet


# --- determinism, files, command -------------------------------------------------------------


def test_same_seed_same_tables_other_seed_other_tables() -> None:
    small = Scenario(days=5, per_day=400, seed=3, reference_days=2)
    a, b = simulate(small), simulate(small)
    for name in ("export", "reference", "truth"):
        assert getattr(a, name).equals(getattr(b, name)), name
    c = simulate(dataclasses.replace(small, seed=4))
    assert not a.export.equals(c.export)


def test_written_csv_and_parquet_read_back_exactly(tmp_path: Path) -> None:
    sim = simulate(Scenario(days=3, per_day=300, reference_days=1))
    csv_paths = write_simulation(sim, tmp_path, fmt="csv")
    assert set(csv_paths) == {"export", "reference", "truth"}
    header = csv_paths["export"].read_text().splitlines()[0]
    assert header.split(",") == list(COLUMNS)
    options = pacsv.ConvertOptions(column_types=sim.export.schema)
    for name, path in csv_paths.items():
        assert pacsv.read_csv(path, convert_options=options).equals(getattr(sim, name)), name
    # the fast timestamp formatting prints exactly what Arrow itself would
    native = pa.BufferOutputStream()
    pacsv.write_csv(sim.export, native, pacsv.WriteOptions(quoting_style="none"))
    ours = csv_paths["export"].read_bytes().split(b"\n", 1)[1]
    assert ours == native.getvalue().to_pybytes().split(b"\n", 1)[1]
    parquet_paths = write_simulation(sim, tmp_path, fmt="parquet", truth=False)
    assert set(parquet_paths) == {"export", "reference"}
    # Parquet has no second unit: timestamps come back as milliseconds, same instants
    assert pq.read_table(parquet_paths["export"]).cast(sim.export.schema).equals(sim.export)


def test_write_scenario_names_the_files(tmp_path: Path) -> None:
    paths = write_scenario(tmp_path, Scenario(days=2, per_day=100, reference_days=1), truth=False)
    assert paths["export"].name == "production-recommendations-sample.csv"
    assert paths["reference"].name == "training-reference.csv"
    assert not (tmp_path / "final-outcomes.csv").exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"per_day": 0},
        {"drop_segment": "99+"},
        {"drop_ctr": 1.5},
        {"start": datetime(2026, 5, 12)},
        {"purchase_window": timedelta(0)},
        {"changeover_day": -1},
    ],
)
def test_invalid_scenarios_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Scenario(**bad)  # type: ignore[arg-type]


def test_short_months_still_work() -> None:
    short = simulate(Scenario(days=5, per_day=300, start=datetime(2026, 1, 1, tzinfo=UTC)))
    df = frame(short)
    assert set(df["collection"]) == {"spring"}  # changeover day 20 never comes
    assert ctr(df[df["age_group"] == "25-34"]) < 0.2  # the drop covers all 5 days


def test_command_writes_files_and_prints_a_summary(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("simulate")(simulate_command)
    app.callback()(lambda: None)
    runner = CliRunner()
    args = ["simulate", "--out", str(tmp_path), "--days", "3", "--per-day", "200"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ground truth" in result.output and "25-34 drop" in result.output
    assert (tmp_path / "final-outcomes.csv").exists()
    result = runner.invoke(app, [*args, "--no-shift", "--format", "parquet", "--no-truth"])
    assert result.exit_code == 0, result.output
    assert "nothing (no shift)" in result.output
    assert (tmp_path / "production-recommendations-sample.parquet").exists()
    assert not (tmp_path / "final-outcomes.parquet").exists()


def test_public_api_is_complete_and_documented() -> None:
    for name in simulate_pkg.__all__:
        obj = getattr(simulate_pkg, name)
        if callable(obj):
            assert obj.__doc__, name


def purchase_delay_medians(sim: Simulation) -> list[float]:
    t = sim.truth.to_pandas()
    bought = t[t["purchased"] == 1]
    delay = (bought["purchase_timestamp"] - bought["timestamp"]).dt.total_seconds() / 86_400
    return [float(delay[bought["age_group"] == age].median()) for age in AGE_GROUPS]
