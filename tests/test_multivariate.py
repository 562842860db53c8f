"""Multivariate drift: PCA reconstruction error sees a change of correlation that no marginal shows.

A simulated model whose two inputs ``x`` and ``y`` move together (correlation
0.9) in training. In the clean run they keep doing so; in the other, from day
8 on, ``y`` moves against ``x`` (correlation −0.9) with both marginals still
standard normal. Everything runs the real path: ``reference add`` fits the
PCA, ingest writes the rows, ``compute_drift`` averages the error in the
engine, ``seismo drift`` and ``seismo check`` report it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from seismo.cli import app
from seismo.config import Mapping, PredictionColumns
from seismo.detect.drift import compute_drift
from seismo.detect.multivariate import FEATURE, METHOD
from seismo.ingest import ingest
from seismo.ingest.reference import add_reference
from seismo.metrics.reconstruction import PcaFit, _design
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
        features={"x": "float", "y": "float", "z": "float", "k": "int", "colour": "string"},
    ),
)
START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS, PER_DAY, CHANGE_DAY = 14, 2000, 8


def _rows(rng: np.random.Generator, n: int, *, rho: float, day: int, prefix: str) -> pa.Table:
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    at = [START + timedelta(days=day, seconds=int(s)) for s in rng.integers(0, 86_000, n)]
    return pa.table(
        {
            "id": [f"{prefix}{day}-{i}" for i in range(n)],
            "at": at,
            "version": ["v1"] * n,
            "score": rng.beta(2, 5, n),
            "group": rng.choice(["a", "b", "c"], n).tolist(),
            "x": x,
            "y": y,
            "z": rng.normal(3.0, 2.0, n),
            "k": rng.integers(0, 6, n),
            "colour": rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _build(store: Store, *, flip: bool, seed: int = 5) -> pa.Table:
    rng = np.random.default_rng(seed)
    reference = _rows(rng, 20_000, rho=0.9, day=-30, prefix="r")
    add_reference(store, reference, mapping=MAPPING)
    days = []
    for day in range(DAYS):
        rho = -0.9 if flip and day >= CHANGE_DAY else 0.9
        days.append(_rows(rng, PER_DAY, rho=rho, day=day, prefix="p"))
    production = pa.concat_tables(days)
    ingest(store, production, mapping=MAPPING)
    return production


def _multivariate(table: pa.Table) -> list[dict[str, object]]:
    rows = [r for r in table.to_pylist() if r["feature"] == FEATURE]
    assert rows and all(r["method"] == METHOD and r["attribute"] is None for r in rows)
    return sorted(rows, key=lambda r: r["window_start"])  # type: ignore[arg-type, return-value]


def test_clean_run_stays_under_its_threshold(store: Store) -> None:
    _build(store, flip=False)
    rows = _multivariate(compute_drift(store))
    assert len(rows) == DAYS
    for r in rows:
        limits = json.loads(str(r["detail"]))
        assert limits["lower"] < r["statistic"] < limits["upper"], r
        assert not r["drifted"]


def test_changed_correlation_crosses_it_where_no_feature_drifts(store: Store) -> None:
    _build(store, flip=True)
    table = compute_drift(store)
    rows = _multivariate(table)
    for r in rows:
        upper = json.loads(str(r["detail"]))["upper"]
        changed = r["window_start"] >= (START + timedelta(days=CHANGE_DAY)).replace(tzinfo=None)
        assert (r["statistic"] > upper) == changed, r
        assert r["drifted"] == changed, r
        assert r["severity"] == ("critical" if changed else "none")
    # Every marginal is unchanged: no univariate test on x or y (or anything else) drifts.
    univariate = [r for r in table.to_pylist() if r["feature"] != FEATURE]
    assert {r["feature"] for r in univariate} >= {"x", "y", "z", "k", "colour"}
    assert not [r for r in univariate if r["drifted"]]


def test_engine_mean_error_equals_numpy_on_the_raw_rows(store: Store) -> None:
    production = _build(store, flip=True)
    fit = PcaFit.from_record(load_references(store.engine)["v1"].multivariate or {})
    z = _design(production, fit.columns)
    w = np.array(fit.components)
    error = np.linalg.norm(z - z @ w.T @ w, axis=1)
    day = np.array([(t - START).days for t in production.column("at").to_pylist()])
    for r in _multivariate(compute_drift(store)):
        d = (r["window_start"] - START.replace(tzinfo=None)).days  # type: ignore[operator]
        assert r["n"] == int((day == d).sum())
        assert r["statistic"] == pytest.approx(error[day == d].mean(), rel=1e-9)


def test_fit_is_bounded_and_reproducible(store: Store) -> None:
    _build(store, flip=False)
    fit = PcaFit.from_record(load_references(store.engine)["v1"].multivariate or {})
    assert fit.sample == 5000  # of the reference's 20,000 rows
    assert fit.explained >= 0.65 and 0 < len(fit.components) < len(fit.columns)
    assert {c.feature for c in fit.columns} == {"x", "y", "z", "k", "colour", "group"}
    w = np.array(fit.components)
    assert np.allclose(w @ w.T, np.eye(len(w)), atol=1e-9)
    with open_store(":memory:") as other:
        _build(other, flip=False)
        again = load_references(other.engine)["v1"].multivariate or {}
        assert PcaFit.from_record(again) == fit


def test_drift_and_check_report_the_multivariate_row(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with open_store(str(path)) as store:
        _build(store, flip=True)
    runner = CliRunner()
    out = runner.invoke(app, ["drift", "--store", str(path), "--format", "json", "--drifted"])
    assert out.exit_code == 0, out.output
    drifted = json.loads(out.output)
    assert {r["feature"] for r in drifted} == {FEATURE}
    assert {r["method"] for r in drifted} == {METHOD}
    table = runner.invoke(app, ["drift", "--store", str(path)], env={"COLUMNS": "200"})
    assert "All inputs together" in table.output
    check = runner.invoke(app, ["check", "--store", str(path), "--format", "json"])
    assert check.exit_code in (0, 1, 2), check.output
    alerts = [a for a in json.loads(check.output) if a["metric"] == f"drift:{FEATURE}"]
    assert len(alerts) == 1
    assert "inputs" in alerts[0]["message"] and "training data" in alerts[0]["message"]


def test_a_reference_registered_without_its_pca_gets_it_when_registered_again() -> None:
    with open_store(":memory:") as store:
        _build(store, flip=False)
        fit = load_references(store.engine)["v1"].multivariate
        store.engine.execute("DELETE FROM reference_multivariate")  # as an older seismo left it
        assert not [r for r in compute_drift(store).to_pylist() if r["feature"] == FEATURE]
        rng = np.random.default_rng(5)
        again = add_reference(
            store, _rows(rng, 20_000, rho=0.9, day=-30, prefix="r"), mapping=MAPPING
        )
        assert again.added
        assert load_references(store.engine)["v1"].multivariate == fit
        assert (
            add_reference(
                store,
                _rows(np.random.default_rng(5), 20_000, rho=0.9, day=-30, prefix="r"),
                mapping=MAPPING,
            ).added
            is False
        )  # and then the same file is a no-op again
