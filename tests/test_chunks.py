"""Count windows (``--every N``): NannyML's size-based chunks, checked against a hand split.

The seed scenario is simulated with two model versions served side by side
(a third of the customers see the challenger) and its serving times rounded
down to the minute, so many predictions tie on ``served_at`` and the tie-break
by prediction id matters. The test splits the file itself with pandas into
chunks of 5000 rows per model version (sorted by time, then id), computes each
chunk's size, its click-through rate and its category drift (χ² against the
training reference, with SciPy) directly, and asks ``seismo metrics --every``,
``seismo drift --every`` and the Python API for the same, on DuckDB and on
PostgreSQL.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats
from typer.testing import CliRunner

import seismo
from seismo.cli import app
from seismo.errors import ConfigError
from seismo.simulate import Scenario, simulate
from seismo.store import Store

EVERY = 5000
CTR = "click_through_rate"
CHALLENGER = "rec-2026.05"
runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def files() -> tuple[pa.Table, pa.Table, Any]:
    """(export, training reference, exported_at): two versions, times to the minute."""
    sim = simulate(Scenario(days=10, per_day=3000, seed=7))
    t = sim.export
    challenger = pa.array([int(c[1:]) % 3 == 0 for c in t["customer_id"].to_pylist()])
    version = pc.if_else(challenger, pa.scalar(CHALLENGER), t["model_version"])
    t = t.set_column(t.schema.get_field_index("model_version"), "model_version", version)
    minute = pc.floor_temporal(t["timestamp"], unit="minute")
    t = t.set_column(t.schema.get_field_index("timestamp"), "timestamp", minute)
    return t, sim.reference, sim.exported_at


def _fill(store: Store, files: tuple[pa.Table, pa.Table, Any]) -> None:
    export, reference, exported_at = files
    seismo.ingest(store, export, exported_at=exported_at)
    seismo.add_reference(store, reference)


@pytest.fixture(scope="module")
def store_file(files: tuple[pa.Table, pa.Table, Any], tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "seismo.duckdb"
    with seismo.open_store(path) as store:
        _fill(store, files)
    return path


@pytest.fixture(scope="module")
def hand(files: tuple[pa.Table, pa.Table, Any]) -> list[dict[str, Any]]:
    """The file split by hand: per version, 5000 rows at a time in (time, id) order."""
    export, reference, _ = files
    df = export.select(["recommendation_id", "timestamp", "model_version", "clicked", "category"])
    df = df.to_pandas()
    df["timestamp"] = df["timestamp"].dt.tz_convert(None)
    df = df.sort_values(["model_version", "timestamp", "recommendation_id"], kind="stable")
    df["chunk"] = df.groupby("model_version").cumcount() // EVERY
    ref = reference.column("category").to_pandas().value_counts()
    out = []
    for (version, _), part in df.groupby(["model_version", "chunk"], sort=True):
        cur = part["category"].value_counts()
        table = pd.concat([ref, cur], axis=1).fillna(0.0).to_numpy().T
        chi2 = stats.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
        out.append(
            {
                "model_version": version,
                "window_start": part["timestamp"].min().to_pydatetime(),
                "window_end": part["timestamp"].max().to_pydatetime(),
                "n": len(part),
                "ctr": float((part["clicked"] == 1).sum()) / len(part),
                "chi2": float(chi2.statistic),
                "chi2_p": float(chi2.pvalue),
            }
        )
    return out


def _keys(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["model_version"], r["window_start"], r["window_end"], r["n"]) for r in rows]


def _close(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(
        math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9) for g, w in zip(got, want, strict=True)
    )


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["model_version"], r["window_start"]))


def test_the_hand_split_has_what_the_check_needs(hand: list[dict[str, Any]]) -> None:
    versions = {r["model_version"] for r in hand}
    assert versions == {"rec-2026.04", CHALLENGER}
    assert sum(r["n"] == EVERY for r in hand) >= 4  # full chunks of both versions
    assert sum(r["n"] < EVERY for r in hand) == 2  # and each version's incomplete last one
    # Ties on served_at straddle chunk boundaries, so the order by id decides them.
    ends = {(r["model_version"], r["window_end"]) for r in hand}
    assert any((r["model_version"], r["window_start"]) in ends for r in hand)


def test_api_chunks_match_the_hand_split(
    store: Store, files: tuple[pa.Table, pa.Table, Any], hand: list[dict[str, Any]]
) -> None:
    _fill(store, files)
    metrics = seismo.compute_metrics(store, every=EVERY, by=[]).to_pylist()
    ctr = _ordered([r for r in metrics if r["metric"] == CTR])
    assert _keys(ctr) == _keys(hand)
    assert _close([r["observed_value"] for r in ctr], [h["ctr"] for h in hand])
    for r in ctr:  # an incomplete chunk is reported, and never final
        assert not r["final"] or r["n"] == EVERY
    drift = seismo.compute_drift(store, every=EVERY, features=["category"]).to_pylist()
    chi2 = _ordered([r for r in drift if r["method"] == "chi2"])
    assert _keys(chi2) == _keys(hand)
    assert _close([r["statistic"] for r in chi2], [h["chi2"] for h in hand])
    assert _close([r["p_value"] for r in chi2], [h["chi2_p"] for h in hand])
    assert [r["final"] for r in chi2] == [h["n"] == EVERY for h in hand]


def test_commands_match_the_hand_split(store_file: Path, hand: list[dict[str, Any]]) -> None:
    def rows(*args: str) -> list[dict[str, Any]]:
        result = runner.invoke(app, [*args, "--store", str(store_file), "--format", "json"])
        assert result.exit_code == 0, result.output
        found = [r for r in json.loads(result.stdout) if r["segment"] is None]
        for r in found:
            for key in ("window_start", "window_end"):
                r[key] = pd.Timestamp(r[key]).tz_convert(None).to_pydatetime()
        return _ordered(found)

    ctr = rows("metrics", "--every", str(EVERY), "--metric", CTR)
    assert _keys(ctr) == _keys(hand)
    assert _close([r["observed_value"] for r in ctr], [h["ctr"] for h in hand])
    chi2 = [r for r in rows("drift", "--every", str(EVERY), "--feature", "category")]
    chi2 = [r for r in chi2 if r["method"] == "chi2"]
    assert _keys(chi2) == _keys(hand)
    assert _close([r["statistic"] for r in chi2], [h["chi2"] for h in hand])
    # The table says which chunk is incomplete and how many predictions it holds.
    for command in (["metrics", "--metric", CTR], ["drift", "--feature", "category"]):
        args = [*command, "--every", str(EVERY), "--store", str(store_file)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        for h in hand:
            said = f"last chunk of {h['model_version']} (from {h['window_start']:%Y-%m-%d %H:%M})"
            assert (said in result.output) == (h["n"] < EVERY), said
            if h["n"] < EVERY:
                assert f"{h['n']:,} of {EVERY:,} predictions" in result.output


def test_reference_rows_are_not_counted(
    store_file: Path, files: tuple[pa.Table, pa.Table, Any]
) -> None:
    export, reference, _ = files
    assert reference.num_rows > EVERY  # enough to fill a chunk, were it counted
    with seismo.open_store(store_file) as store:
        ctr = [r for r in seismo.compute_metrics(store, every=EVERY, by=[]).to_pylist()]
        drift = seismo.compute_drift(store, every=EVERY, features=["category"]).to_pylist()
    ctr = [r for r in ctr if r["metric"] == CTR]
    chi2 = [r for r in drift if r["method"] == "chi2"]
    served = pc.min(export["timestamp"]).as_py().replace(tzinfo=None)
    for table in (ctr, chi2):
        assert sum(r["n"] for r in table) == export.num_rows
        assert min(r["window_start"] for r in table) == served


def test_every_must_be_a_positive_count(store_file: Path) -> None:
    with seismo.open_store(store_file) as store:
        for bad in (0, -5):
            with pytest.raises(ConfigError, match=f"every must be .* got {bad}"):
                seismo.compute_metrics(store, every=bad)
            with pytest.raises(ConfigError, match=f"every must be .* got {bad}"):
                seismo.compute_drift(store, every=bad)
    for command in ("metrics", "drift"):
        for bad in ("0", "-5"):
            result = runner.invoke(app, [command, "--store", str(store_file), "--every", bad])
            assert result.exit_code == 2
            said = " ".join(result.output.split())
            assert "Invalid value for '--every'" in said and "greater than or equal to 1" in said


def test_calendar_windows_do_not_change(store_file: Path) -> None:
    """The calendar path is the hourly state as before: days add up to the chunks' totals."""
    with seismo.open_store(store_file) as store:
        daily = seismo.compute_metrics(store, by=[]).to_pylist()
        counted = seismo.compute_metrics(store, every=EVERY, by=[]).to_pylist()
    for metric in (CTR, "purchase_conversion"):
        for field in ("n", "confirmed_n"):
            total = [sum(r[field] for r in t if r["metric"] == metric) for t in (daily, counted)]
            assert total[0] == total[1] > 0
    days = [r["window_start"] for r in daily if r["metric"] == CTR]
    assert all(d.hour == 0 and d.minute == 0 for d in days) and len(days) == 2 * 10
