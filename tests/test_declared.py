"""A model's business metrics and their directions come from its own declarations."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from flat_rows import valid_flat
from test_detect import CUT, cell_rows, stable_cells

from seismo import compute_metrics, ingest, load_mapping, open_store
from seismo.config import RECOMMENDATIONS, Declared, MetricDeclaration
from seismo.detect.change import DetectConfig, detect_changes
from seismo.detect.run import detect
from seismo.errors import ConfigError


def _metric_labels(mapping: object, tmp_path: Path) -> dict[str, str]:
    store = open_store(tmp_path / "s.duckdb")
    ingest(store, valid_flat(300), mapping=mapping)  # type: ignore[arg-type]
    table = compute_metrics(store, as_of=datetime(2026, 6, 30), period="day")
    names = table.column("metric").to_pylist()
    labels = table.column("label").to_pylist()
    return dict(zip(names, labels, strict=True))


def test_the_seed_scenario_names_its_metrics_through_its_declarations(tmp_path: Path) -> None:
    labels = _metric_labels(RECOMMENDATIONS, tmp_path)
    declared = [m.name for m in RECOMMENDATIONS.declared.metrics]
    assert set(declared) <= set(labels)
    assert labels["click_through_rate"] == "Click-through"
    assert labels["revenue_per_recommendation"] == "Revenue per recommendation"


def test_a_model_declaring_nothing_gets_one_neutral_rate_per_outcome(tmp_path: Path) -> None:
    plain = dataclasses.replace(RECOMMENDATIONS, declared=Declared())
    labels = _metric_labels(plain, tmp_path)
    rates = {m for m in labels if m.endswith("_rate") and not m.startswith("click_positive")}
    assert {"click_rate", "purchase_rate", "return_rate"} <= rates
    assert not any("recommendation" in m or "recommendation" in labels[m] for m in labels)
    assert "purchase_per_click" not in labels  # nothing derived from outcome names


def test_declared_metrics_replace_the_defaults(tmp_path: Path) -> None:
    own = MetricDeclaration(name="buy_rate", outcome="purchase", label="Buying rate")
    mapping = dataclasses.replace(RECOMMENDATIONS, declared=Declared(metrics=(own,)))
    labels = _metric_labels(mapping, tmp_path)
    assert labels["buy_rate"] == "Buying rate"
    assert "click_through_rate" not in labels and "purchase_conversion" not in labels
    # stored with the data: a later check reads them without being told
    store = open_store(tmp_path / "s.duckdb")
    assert store.declared().metrics == (own,)


def _toml(tmp_path: Path, extra: str) -> Path:
    base = Path("examples/credit.toml").read_text(encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(base + "\n" + extra, encoding="utf-8")
    return path


def test_mapping_toml_declarations_are_read_and_checked(tmp_path: Path) -> None:
    mapping = load_mapping(_toml(tmp_path, '[nowcast]\ndelay_strata = "region"\n'))
    assert mapping.declared.delay_strata == "region"
    assert mapping.words.better == {"default_90d": "lower"}
    with pytest.raises(ConfigError, match=r"\[metrics.x\]: outcome 'nope' is not declared"):
        load_mapping(_toml(tmp_path, '[metrics.x]\noutcome = "nope"\n'))
    with pytest.raises(ConfigError, match="delay_strata 'age' is not one of the segments"):
        load_mapping(_toml(tmp_path, '[nowcast]\ndelay_strata = "age"\n'))
    with pytest.raises(ConfigError, match=r"\[quality\] outcomes: 'x' is not a declared"):
        load_mapping(_toml(tmp_path, '[quality]\noutcomes = ["x"]\n'))
    bad = Path("examples/credit.toml").read_text(encoding="utf-8")
    bad = bad.replace('default_90d = "lower"', 'default_90d = "down"')
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[words.better\] default_90d: one of higher"):
        load_mapping(tmp_path / "bad.toml")


def test_the_declared_direction_decides_which_change_is_news() -> None:
    # A complaint rate doubling for one group: undeclared, a rate is worse when it falls.
    rise = cell_rows("25-34", [0.1] * 14 + [0.2, 0.2], metric="complaint_rate")
    table = pa.Table.from_pylist(rise + stable_cells())
    assert detect_changes(table, cut=CUT) == []
    lower = DetectConfig(better={"complaint": "lower"})  # as [words.better] complaint = "lower"
    (f,) = detect_changes(table, cut=CUT, config=lower)
    assert f.direction == "up" and f.segment == {"age_group": "25-34"}
    assert f.action.startswith("Check what changed")
    # ... and then its fall is good news, not an alert.
    fall = cell_rows("25-34", [0.1] * 14 + [0.04, 0.04], metric="complaint_rate")
    assert detect_changes(pa.Table.from_pylist(fall + stable_cells()), cut=CUT, config=lower) == []
    either = DetectConfig(better={"complaint_rate": "either"})
    (g,) = detect_changes(pa.Table.from_pylist(fall + stable_cells()), cut=CUT, config=either)
    assert g.direction == "down"


def test_the_stored_direction_reaches_the_check(tmp_path: Path) -> None:
    # The seed scenario declares [words.better] return = "lower", stored at ingest: the
    # check reads it, so a rise in returns is the alert and a fall is not.
    store = open_store(tmp_path / "s.duckdb")
    ingest(store, valid_flat(50))
    assert store.words().better == {"return": "lower"}
    rise = cell_rows("25-34", [0.1] * 14 + [0.2, 0.2], metric="return_rate")
    fall = cell_rows("25-34", [0.1] * 14 + [0.04, 0.04], metric="return_rate")
    config = DetectConfig(pairs=False)
    up = detect(
        store, pa.Table.from_pylist(rise + stable_cells()), None, None, cut=CUT, config=config
    )
    assert [f.direction for f in up.findings] == ["up"]
    down = detect(
        store, pa.Table.from_pylist(fall + stable_cells()), None, None, cut=CUT, config=config
    )
    assert down.findings == []
