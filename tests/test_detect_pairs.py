"""Intersections: a change in one pair of segment values is named by that pair, not its parents.

The store is built here from a few lines of NumPy (not the seed simulator):
clicks of a model served to four age groups × three regions, through the real
ingest, metrics and check.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from seismo.cli import app
from seismo.config import (
    Declared,
    Mapping,
    MetricDeclaration,
    OutcomeEvents,
    OutcomeType,
    PredictionColumns,
)
from seismo.detect.run import run_checks
from seismo.ingest import ingest
from seismo.store import Store, open_store
from seismo.words import Words

START = datetime(2026, 3, 2)
DAYS = 24
AGES = ("18-24", "25-34", "35-54", "55+")
REGIONS = ("north", "south", "west")
MAPPING = Mapping(
    model_name="ranker",
    model_version="v1",
    predictions=PredictionColumns(
        id="id", timestamp="at", score="score", segments=("age_group", "region")
    ),
    outcomes=OutcomeEvents(id="id", timestamp="clicked_at", type="click", value="clicked"),
    outcome_types=(OutcomeType(name="click", window=timedelta(minutes=30)),),
    # Its words, stored with the data: the messages name customers, as this model's people.
    words=Words(
        subject="customer", who={"age_group": "customers aged {v}", "region": "customers in {v}"}
    ),
    declared=Declared(
        metrics=(
            MetricDeclaration(name="click_through_rate", outcome="click", label="Click-through"),
        )
    ),
)


def clicks(
    *, seed: int, drop_in: dict[str, str] | None, drop_from: int = 18, per_day: int = 2400
) -> tuple[pa.Table, pa.Table]:
    """Predictions and click events; from ``drop_from`` on, ``drop_in`` clicks half as often."""
    rng = np.random.default_rng(seed)
    n = DAYS * per_day
    day = np.repeat(np.arange(DAYS), per_day)
    at = [
        START + timedelta(days=int(d), seconds=int(s))
        for d, s in zip(day, rng.uniform(0, 86000, n), strict=True)
    ]
    age = rng.choice(AGES, n)
    region = rng.choice(REGIONS, n)
    rate = np.full(n, 0.25)
    if drop_in is not None:
        hit = day >= drop_from
        for attribute, value in drop_in.items():
            hit &= (age if attribute == "age_group" else region) == value
        rate[hit] = 0.12
    clicked = rng.uniform(size=n) < rate
    ids = [f"p{i}" for i in range(n)]
    predictions = pa.table(
        {"id": ids, "at": at, "score": rng.uniform(0.1, 0.4, n), "age_group": age, "region": region}
    )
    events = pa.table(
        {
            "id": ids,
            "clicked_at": [t + timedelta(minutes=5) for t in at],
            "clicked": clicked.astype(float),
        }
    )
    return predictions, events


def check(store: Store, predictions: pa.Table, events: pa.Table) -> list:  # type: ignore[type-arg]
    ingest(store, predictions, mapping=MAPPING, shape="predictions")
    ingest(store, events, mapping=MAPPING, shape="outcomes")
    return [
        f
        for f in run_checks(store, as_of=START + timedelta(days=DAYS)).findings
        if f.metric == "click_through_rate"
    ]


def test_a_drop_in_one_pair_is_named_by_the_pair(store: Store) -> None:
    (f,) = check(store, *clicks(seed=1, drop_in={"age_group": "25-34", "region": "south"}))
    assert f.segment == {"age_group": "25-34", "region": "south"}
    # The change point is estimated (the day that maximises the evidence): within a day.
    assert abs(f.since - (START + timedelta(days=18))) <= timedelta(days=1)
    assert f.current == pytest.approx(0.12, abs=0.03)
    # Its parents moved too, diluted (25-34 by a third of the drop): whichever was
    # clear enough to be a finding is named as related, not alerted on.
    assert f.related and set(map(str, f.related)) <= {
        "{'age_group': '25-34'}",
        "{'region': 'south'}",
    }
    assert "customers aged 25-34 in south" in f.message


def test_a_drop_across_a_region_is_named_by_the_region(store: Store) -> None:
    (f,) = check(store, *clicks(seed=2, drop_in={"region": "west"}))
    assert f.segment == {"region": "west"}
    # Every age group within the region is part of the same change.
    pairs = [s for s in f.related if s and len(s) == 2]
    assert len(pairs) >= 3 and all(s["region"] == "west" for s in pairs)


def test_no_change_no_finding(store: Store) -> None:
    assert check(store, *clicks(seed=3, drop_in=None)) == []


def test_check_says_the_budget_and_takes_detect_settings(tmp_path: Path) -> None:
    path = str(tmp_path / "s.duckdb")
    predictions, events = clicks(seed=1, drop_in={"age_group": "25-34", "region": "south"})
    with open_store(path) as store:
        ingest(store, predictions, mapping=MAPPING, shape="predictions")
        ingest(store, events, mapping=MAPPING, shape="outcomes")
    runner = CliRunner()
    as_of = ["--as-of", f"{START + timedelta(days=DAYS - 1):%Y-%m-%d}"]
    default = runner.invoke(app, ["check", "--store", path, *as_of])
    assert default.exit_code == 1, default.output
    assert "customers aged 25-34 in south" in default.output
    watched = re.search(
        r"False-alarm budget: 1 per 90 days for the store, over ([\d,]+)", default.output
    )
    assert watched, default.output
    settings = tmp_path / "seismo.toml"
    settings.write_text("[detect]\npairs = false\nfalse_alarms_per_90_days = 0.5\n")
    singles = runner.invoke(app, ["check", "--store", path, *as_of, "--config", str(settings)])
    assert "in south" not in singles.output
    fewer = re.search(r"budget: 0.5 per 90 days for the store, over ([\d,]+)", singles.output)
    assert fewer and int(fewer[1].replace(",", "")) < int(watched[1].replace(",", ""))
    settings.write_text("[detect]\nwindow = 3\n")
    bad = runner.invoke(app, ["check", "--store", path, *as_of, "--config", str(settings)])
    assert bad.exit_code == 2 and "unknown key 'window'" in bad.output
