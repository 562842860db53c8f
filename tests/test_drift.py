"""Drift: statistics from in-engine histograms agree with SciPy on the raw arrays; seed scenario.

The randomised comparisons run the whole path (ingest, ``reference add``,
engine histograms, statistics) on both engines, and check each statistic
against SciPy or the textbook formula computed on the raw values, to the
tolerance binning allows (documented in :mod:`seismo.detect.drift_stats`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from seismo.config import Mapping, PredictionColumns
from seismo.detect.drift import compute_drift
from seismo.detect.drift_stats import ks_p, psi
from seismo.detect.multivariate import FEATURE
from seismo.errors import ConfigError, InputError
from seismo.ingest import ingest
from seismo.ingest.reference import add_reference
from seismo.metrics.histograms import bin_of
from seismo.store import Store, open_store
from seismo.store.references import load_references

MAPPING = Mapping(
    model_name="m",
    predictions=PredictionColumns(
        id="id",
        timestamp="at",
        model_version="version",
        score="score",
        segments=("group",),
        features={"x": "float", "k": "int", "colour": "string"},
    ),
)
DAY = datetime(2026, 3, 1, tzinfo=UTC)
COLOURS = np.array(["red", "green", "blue", "black", "white", "grey"])


def _frame(rng: np.random.Generator, n: int, *, shift: float, prefix: str) -> dict[str, object]:
    x = rng.normal(shift, 1.0 + shift / 2, n)
    x[rng.random(n) < 0.02] = np.nan
    weights = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    if shift:
        weights = np.roll(weights, 1)
    colour = rng.choice(COLOURS, n, p=weights).astype(object)
    if shift:
        colour[rng.random(n) < 0.05] = "purple"  # a category the reference never had
    return {
        "id": [f"{prefix}{i}" for i in range(n)],
        "at": [DAY + timedelta(seconds=int(s)) for s in rng.integers(0, 86_000, n)],
        "version": ["v1"] * n,
        "score": rng.beta(2, 5, n),
        "group": rng.choice(["a", "b"], n).tolist(),
        "x": x.tolist(),
        "k": rng.integers(0, 8 + int(shift * 4), n).tolist(),
        "colour": colour.tolist(),
    }


def _table(columns: dict[str, object]) -> pa.Table:
    table = pa.table(columns)
    x = table.column("x").to_numpy(zero_copy_only=False)
    return table.set_column(
        table.schema.get_field_index("x"), "x", pa.array(x, mask=np.isnan(x), type=pa.float64())
    )


def _rows(table: pa.Table, feature: str, method: str) -> list[dict[str, object]]:
    return [
        r
        for r in table.to_pylist()
        if r["feature"] == feature and r["method"] == method and r["attribute"] is None
    ]


@pytest.mark.parametrize("seed,shift", [(1, 0.0), (2, 0.4), (3, 1.0)])
def test_statistics_match_scipy_on_raw_arrays(store: Store, seed: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    ref_cols = _frame(rng, 4000, shift=0.0, prefix="r")
    cur_cols = _frame(rng, 1500 + seed * 300, shift=shift, prefix="c")
    add_reference(store, _table(ref_cols), mapping=MAPPING)
    ingest(store, _table(cur_cols), mapping=MAPPING)
    table = compute_drift(store, as_of=DAY + timedelta(days=1))
    assert table.num_rows > 0
    edges = load_references(store.engine)["v1"].features["x"].edges

    ref_x = np.array(ref_cols["x"], dtype=float)
    cur_x = np.array(cur_cols["x"], dtype=float)
    ref_x, cur_x = ref_x[~np.isnan(ref_x)], cur_x[~np.isnan(cur_x)]
    size = len(edges) + 2
    p = np.bincount(bin_of(ref_x, edges), minlength=size) / ref_x.size
    q = np.bincount(bin_of(cur_x, edges), minlength=size) / cur_x.size

    # KS: the binned D can miss at most one bin's share of the exact gap.
    (ks,) = _rows(table, "x", "ks")
    exact = stats.ks_2samp(ref_x, cur_x, method="asymp")
    assert ks["statistic"] <= exact.statistic + 1e-12
    assert exact.statistic - ks["statistic"] <= max(p.max(), q.max()) + 1e-12
    assert ks["n"] == len(cur_cols["id"])

    # Wasserstein: within the sum of bin shares times the bins' widths (edges inside the
    # reference's range, the data's own minimum and maximum outside it).
    (w,) = _rows(table, "x", "wasserstein")
    lo = min(ref_x.min(), cur_x.min())
    hi = max(ref_x.max(), cur_x.max())
    width = np.diff([lo, *edges, edges[-1], hi])
    width = np.append(width, 0.0) if width.size < size else width
    bound = float(np.sum((p + q) * width[:size]))
    exact_w = stats.wasserstein_distance(ref_x, cur_x)
    assert abs(w["statistic"] - exact_w) <= bound + 1e-9
    assert abs(w["statistic"] - exact_w) <= 0.05 * exact_w + 0.01  # in practice, far tighter
    assert w["reference_value"] == pytest.approx(ref_x.mean(), rel=1e-9)  # means are exact
    assert w["current_value"] == pytest.approx(cur_x.mean(), rel=1e-9)

    # PSI: the textbook formula over the reference's deciles is exact.
    (row,) = _rows(table, "x", "psi")
    before = np.concatenate([[0.0], np.cumsum(p)[:-1]])
    group = np.unique(np.minimum((before * 10 + 1e-9).astype(int), 9), return_inverse=True)[1]
    expected = psi(np.bincount(group, weights=p), np.bincount(group, weights=q))
    assert row["statistic"] == pytest.approx(expected, rel=1e-9, abs=1e-12)

    # Categorical: chi-squared, PSI, Jensen-Shannon and unseen are exact (counts are exact).
    ref_c, cur_c = np.array(ref_cols["colour"]), np.array(cur_cols["colour"])
    cats = sorted(set(ref_c) | set(cur_c))
    rc = np.array([(ref_c == c).sum() for c in cats], dtype=float)
    cc = np.array([(cur_c == c).sum() for c in cats], dtype=float)
    chi2, chi_p, _, _ = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    (row,) = _rows(table, "colour", "chi2")
    assert row["statistic"] == pytest.approx(chi2, rel=1e-9)
    assert row["p_value"] == pytest.approx(chi_p, rel=1e-6, abs=1e-300)
    (row,) = _rows(table, "colour", "js")
    assert row["statistic"] == pytest.approx(
        distance.jensenshannon(rc / rc.sum(), cc / cc.sum(), base=2), rel=1e-9
    )
    (row,) = _rows(table, "colour", "psi")
    assert row["statistic"] == pytest.approx(psi(rc / rc.sum(), cc / cc.sum()), rel=1e-9)
    (row,) = _rows(table, "colour", "unseen")
    assert row["statistic"] == pytest.approx((cur_c == "purple").mean(), rel=1e-9)

    # Missing share, and the integer feature's bins are its values (exact KS).
    (row,) = _rows(table, "x", "missing")
    assert row["current_value"] == pytest.approx(np.isnan(cur_cols["x"]).mean(), rel=1e-9)
    (row,) = _rows(table, "k", "ks")
    assert row["statistic"] == pytest.approx(
        stats.ks_2samp(ref_cols["k"], cur_cols["k"]).statistic, abs=1e-12
    )

    drifted = {r["feature"] for r in table.to_pylist() if r["drifted"]}
    if shift == 0.0:
        assert drifted == set()
    if shift >= 1.0:
        assert {"x", "colour", "k"} <= drifted
        assert {"group", "score"}.isdisjoint(drifted)


@pytest.mark.parametrize("n,m", [(50, 80), (400, 4000), (3000, 42000), (100_000, 500_000)])
def test_ks_p_value_matches_scipy(n: int, m: int) -> None:
    en = round(n * m / (n + m))
    for d in np.linspace(0.001, 0.4, 60):
        assert ks_p(float(d), n, m) == pytest.approx(stats.kstwo.sf(d, en), abs=5e-3)


def test_large_samples_flag_effects_not_trivial_differences() -> None:
    """A million rows make a 0.02-sd shift significant; it must still not count as drift."""
    rng = np.random.default_rng(7)
    n = 400_000
    with open_store(":memory:") as store:
        ref = _frame(rng, n, shift=0.0, prefix="r")
        cur = _frame(rng, n, shift=0.0, prefix="c")
        cur["x"] = (np.array(cur["x"], dtype=float) + 0.02).tolist()
        add_reference(store, _table(ref), mapping=MAPPING)
        ingest(store, _table(cur), mapping=MAPPING)
        table = compute_drift(store, as_of=DAY + timedelta(days=1))
    (ks,) = _rows(table, "x", "ks")
    assert ks["p_value"] < 1e-6  # the test sees it...
    assert not any(r["drifted"] for r in table.to_pylist())  # ...the effect bands do not


def test_seed_scenario_changeover_is_drift_in_category_and_price(tmp_path: Path) -> None:
    from seismo.simulate import Scenario, simulate

    scenario = Scenario()
    sim = simulate(scenario)
    changeover = scenario.start + timedelta(days=scenario.changeover_day)
    with open_store(":memory:") as store:
        ingest(store, sim.export)
        add_reference(store, sim.reference)
        table = compute_drift(store)
    drifted = [r for r in table.to_pylist() if r["drifted"] and r["attribute"] is None]
    first = {}
    for r in drifted:
        first[r["feature"]] = min(first.get(r["feature"], r["window_start"]), r["window_start"])
    naive = changeover.replace(tzinfo=None)
    assert first["category"] == naive and first["price_eur"] == naive
    assert first[FEATURE] == naive  # the inputs together, too (their PCA reconstruction)
    assert set(first) == {"category", "price_eur", "collection", FEATURE}
    psi_price = [r for r in _rows(table, "price_eur", "psi") if r["window_start"] >= naive]
    assert all(r["severity"] == "critical" for r in psi_price)
    assert all(r["current_value"] > r["reference_value"] for r in psi_price)  # prices went up


def test_reference_registration_is_idempotent_and_validated(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = _table(_frame(rng, 500, shift=0.0, prefix="r"))
    first = add_reference(store, frame, mapping=MAPPING)
    again = add_reference(store, frame, mapping=MAPPING)
    assert first.added and not again.added
    assert store.count("reference_sets") == 1
    bins = store.count("reference_bins")
    other = _table(_frame(rng, 500, shift=0.5, prefix="r"))
    with pytest.raises(InputError, match="already has a reference"):
        add_reference(store, other, mapping=MAPPING)
    assert store.count("reference_bins") == bins  # nothing written
    add_reference(store, other, mapping=MAPPING, replace=True)
    assert store.count("reference_sets") == 1

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,at,version,score,group,x,k,colour\nr1,2026-03-01T00:00:00,v1,0.5,a,1.0,2,red\n"
        "r2,2026-03-01T00:00:00,v1,0.5,a,abc,2,red\n"
    )
    with pytest.raises(InputError) as info:
        add_reference(store, bad, mapping=MAPPING, model_version="v9")
    assert "row 2" in str(info.value) and "x" in str(info.value)
    assert "v9" not in load_references(store.engine)


def test_drift_without_reference_says_what_to_do() -> None:
    with open_store(":memory:") as store, pytest.raises(ConfigError, match="reference add"):
        compute_drift(store)


def test_cli_drift_json_fields(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seismo.cli import app
    from seismo.simulate import Scenario, write_scenario

    runner = CliRunner()
    paths = write_scenario(tmp_path / "data", Scenario(days=22, per_day=600), truth=False)
    store = str(tmp_path / "s.duckdb")
    export, reference = paths["export"], paths["reference"]
    assert runner.invoke(app, ["ingest", str(export), "--store", store]).exit_code == 0
    added = runner.invoke(app, ["reference", "add", str(reference), "--store", store])
    assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["drift", "--store", store, "--format", "json", "--drifted"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all(r["drifted"] for r in rows)
    needed = {
        "feature",
        "segment",
        "window_start",
        "window_end",
        "method",
        "statistic",
        "p_value",
        "effect",
        "drifted",
        "severity",
    }
    assert needed <= set(rows[0])
    assert {r["feature"] for r in rows} <= {"category", "price_eur", "collection", "brand", FEATURE}
    by_segment = runner.invoke(
        app, ["drift", "--store", store, "--format", "json", "--by", "age_group"]
    )
    seg_rows = json.loads(by_segment.output)
    assert any(r["segment"] == {"age_group": "55+"} for r in seg_rows)


def test_drift_alerts_go_through_the_alert_mechanism(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seismo.cli import app
    from seismo.simulate import Scenario, write_scenario

    runner = CliRunner()
    paths = write_scenario(tmp_path / "data", Scenario(days=22, per_day=600), truth=False)
    store = str(tmp_path / "s.duckdb")
    assert runner.invoke(app, ["ingest", str(paths["export"]), "--store", store]).exit_code == 0
    # Before the reference is registered, no drift is judged at all.
    before = runner.invoke(app, ["check", "--store", store, "--format", "json"])
    assert not [a for a in json.loads(before.stdout) if a["metric"].startswith("drift:")]
    runner.invoke(app, ["reference", "add", str(paths["reference"]), "--store", store])

    first = runner.invoke(app, ["check", "--store", store, "--format", "json"])
    drift = {a["metric"]: a for a in json.loads(first.stdout) if a["metric"].startswith("drift:")}
    assert {"drift:category", "drift:price_eur"} <= set(drift)
    assert all(a["segment"] is None and a["state"] == "firing" for a in drift.values())
    assert "price of recommended items moved up" in drift["drift:price_eur"]["message"]
    assert "PSI" not in drift["drift:price_eur"]["message"]
    assert len({a["group"] for a in drift.values()}) == 1  # one change in the data, one group

    again = runner.invoke(app, ["check", "--store", store, "--format", "json"])
    repeat = {a["metric"]: a["id"] for a in json.loads(again.stdout)}
    assert all(repeat[m] == a["id"] for m, a in drift.items())  # updated, not duplicated
    listed = runner.invoke(app, ["alerts", "--store", store, "--format", "json"])
    ids = [a["id"] for a in json.loads(listed.stdout)]
    assert len(ids) == len(set(ids))

    # Replayed to the day before the changeover, the monitor saw no drift.
    early = runner.invoke(
        app, ["check", "--store", store, "--format", "json", "--as-of", "2026-05-31"]
    )
    assert not [a for a in json.loads(early.stdout) if a["metric"].startswith("drift:")]


@pytest.mark.postgres
def test_duckdb_and_postgres_give_the_same_drift_table() -> None:
    from conftest import _PG_REASON, drop_pg_schema, pg_url_for_new_schema

    from seismo.simulate import Scenario, simulate

    if _PG_REASON:
        pytest.skip(_PG_REASON)
    sim = simulate(Scenario(days=24, per_day=500, seed=3))
    url, schema = pg_url_for_new_schema()
    tables = []
    try:
        for location in (":memory:", url):
            with open_store(location) as store:
                ingest(store, sim.export)
                add_reference(store, sim.reference)
                tables.append(compute_drift(store, by=["age_group"]).to_pylist())
    finally:
        drop_pg_schema(schema)
    duck, pg = tables
    assert len(duck) == len(pg) > 1000
    for a, b in zip(duck, pg, strict=True):
        assert (a["feature"], a["method"], a["value"], a["window_start"]) == (
            b["feature"],
            b["method"],
            b["value"],
            b["window_start"],
        )
        assert a["drifted"] == b["drifted"] and a["n"] == b["n"]
        assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-9, abs=1e-12)
