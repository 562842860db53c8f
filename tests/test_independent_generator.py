"""The independent generator (bench/independent): deterministic, and seismo ingests its files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from seismo import ingest, load_mapping, open_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.independent import build, generate  # noqa: E402
from bench.independent.recommender import COLUMNS  # noqa: E402

SMALL = {
    "recommender": {"days": 14, "per_day": 300},
    "classifier": {"days": 20, "per_day": 200},
    "regressor": {"days": 10, "per_day": 240},
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("scenario", sorted(SMALL))
def test_same_seed_same_bytes_other_seed_other_data(scenario: str, tmp_path: Path) -> None:
    a = generate(scenario, seed=3, out_dir=tmp_path / "a", **SMALL[scenario])
    generate(scenario, seed=3, out_dir=tmp_path / "b", **SMALL[scenario])
    generate(scenario, seed=4, out_dir=tmp_path / "c", **SMALL[scenario])
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    first = a["ingest"][0]
    assert (tmp_path / "a" / first).read_bytes() != (tmp_path / "c" / first).read_bytes()
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert truth["scenario"] == scenario and truth["shifts"]
    for shift in truth["shifts"]:
        assert {"metric", "segment", "start", "direction", "before", "after"} <= set(shift)


def test_the_generator_does_not_use_seismo() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bench.independent; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'seismo'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_recommender_export_has_the_seed_columns_and_matures_into_the_final_table() -> None:
    data = build("recommender", seed=1, **SMALL["recommender"])
    export = data.export()
    assert tuple(export.column_names) == COLUMNS
    late = data.export(data.config.exported_at + timedelta(days=40))
    assert late.equals(data.final())
    assert not export.equals(data.final())  # the last days' outcomes are still pending


def test_no_shift_is_the_same_traffic_without_the_shifts() -> None:
    shifted = build("recommender", seed=2, **SMALL["recommender"])
    clean = build("recommender", seed=2, shifts="none", **SMALL["recommender"])
    fixed = ["recommendation_id", "timestamp", "region", "device", "score"]
    assert shifted.export().select(fixed).equals(clean.export().select(fixed))
    assert clean.planted() == []


def test_recommender_export_ingests_with_returns_written_as_zero(tmp_path: Path) -> None:
    meta = generate(
        "recommender",
        seed=0,
        out_dir=tmp_path,
        empty_returns_unless_purchased=False,
        **SMALL["recommender"],
    )
    with open_store(tmp_path / "s.duckdb") as store:
        result = ingest(store, tmp_path / meta["ingest"][0])
        again = ingest(store, tmp_path / meta["ingest"][0])
    assert result.predictions_added > 0 and again.already_ingested
    reference = tmp_path / meta["files"]["reference"]
    assert reference.exists()


def test_recommender_export_with_empty_returns_unless_purchased(tmp_path: Path) -> None:
    """Other systems' convention (the generator's default): seismo should accept it."""
    meta = generate("recommender", seed=0, out_dir=tmp_path, **SMALL["recommender"])
    assert meta["conventions"]["returned_empty_unless_purchased"]
    with open_store(tmp_path / "s.duckdb") as store:
        result = ingest(store, tmp_path / meta["ingest"][0])
        assert result.predictions_added > 0


@pytest.mark.parametrize("scenario", ["classifier", "regressor"])
def test_events_scenarios_ingest_with_their_own_mapping(scenario: str, tmp_path: Path) -> None:
    meta = generate(scenario, seed=0, out_dir=tmp_path, **SMALL[scenario])
    mapping = load_mapping(tmp_path / meta["mapping"])
    with open_store(tmp_path / "s.duckdb") as store:
        predictions, outcomes = (
            ingest(store, tmp_path / name, mapping=mapping) for name in meta["ingest"]
        )
        assert store.count("predictions") == predictions.rows
        assert outcomes.outcomes_added == outcomes.rows > 0


def test_judge_reads_intersections_quality_metrics_parents_and_overlaps() -> None:
    from datetime import UTC, datetime

    from bench.independent.judge import Seen, judge

    shifts = [
        {"name": "pair", "metric": "click_through_rate", "direction": "down",
         "segment": {"age_group": "25-34", "region": "iberia"}, "start": "2026-03-01T00:00:00Z",
         "implied": ["purchase_conversion"]},
        {"name": "acc", "metric": "default_accuracy", "direction": "down",
         "segment": {"region": "south"}, "start": "2026-03-01T00:00:00Z",
         "implied": ["default_log_loss"]},
    ]  # fmt: skip
    after, before = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC)

    def verdict(metric: str, segment: dict[str, str] | None, at: datetime = after) -> str:
        return judge(Seen.first("quality", metric, segment, "down", at), shifts)[0]

    pair = {"region": "iberia", "age_group": "25-34"}
    assert verdict("click_through_rate", pair) == "hit"
    assert verdict("click_through_rate", {"age_group": "25-34"}) == "related"  # a parent
    assert verdict("purchase_conversion", pair) == "related"  # implied by the click drop
    assert verdict("click_through_rate", {"age_group": "25-34", "region": "uk"}) == "false"
    assert verdict("click_through_rate", pair, before) == "false"  # before the shift began
    assert verdict("default_accuracy", {"region": "south"}) == "hit"
    assert verdict("default_log_loss", None) == "related"
    seen = Seen.first("quality", "default_accuracy", {"channel": "online"}, "down", after)
    assert judge(seen, shifts) == ("false", None, "overlaps acc")
