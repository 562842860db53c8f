"""A classifier's change that its scores cannot show, found on the labels in so far.

The independent generator's credit model (bench/independent): a region's
default rate goes 8 % → 23 % at the same scores, with labels arriving a
month or two after each decision. Three weeks in, a fifth of the days
labels are in. The label-free estimate (CBPE) of those days fills every
pending label from the scores, which know nothing of the change; the labels
already in show it plainly, and the check tests them beside the estimate.

Labels whose delay depends on their class (defaulters known sooner) would
make every young day look worse on the labels so far, and on the estimate
too: each class is weighed back to its final share
(:mod:`seismo.metrics.label_delays`), and a clean store stays quiet.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from seismo import ingest, load_mapping, open_store
from seismo.detect.change import LABELLED_TEST, DetectConfig
from seismo.detect.run import CheckResult, run_checks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.independent import generate  # noqa: E402
from bench.independent.classifier import DefaultRateShift  # noqa: E402


def _checked(
    folder: Path, config: DetectConfig | None = None, **options: Any
) -> tuple[CheckResult, dict[str, Any]]:
    truth = generate("classifier", days=120, per_day=800, out_dir=folder, **options)
    mapping = load_mapping(folder / truth["mapping"])
    with open_store(folder / "s.duckdb") as s:
        for name in truth["ingest"]:
            ingest(s, folder / name, mapping=mapping)
        return run_checks(s, config=config), {**truth, "folder": folder}


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[CheckResult, dict[str, Any]]:
    shift = DefaultRateShift(days_before_export=24)
    return _checked(tmp_path_factory.mktemp("shifted"), seed=5, shifts=[shift])


def test_a_default_rise_three_weeks_old_is_found_on_the_labels_so_far(
    shifted: tuple[CheckResult, dict[str, Any]],
) -> None:
    result, truth = shifted
    [shift] = truth["shifts"]
    began = datetime.fromisoformat(shift["start"]).replace(tzinfo=None)
    quality = [f for f in result.findings if f.kind == "quality"]
    accuracy = [
        f for f in quality if f.metric == "default_accuracy" and f.segment == shift["segment"]
    ]
    assert accuracy, [f.message for f in quality]
    [f] = accuracy
    assert f.direction == "down"
    assert f.test == LABELLED_TEST and f.evidence["basis"] == "labelled", f.test
    assert abs(f.since - began) <= timedelta(days=2), (f.since, began)
    # what the labels in so far say: a rate near the planted one, not the scores' 8 %
    assert 0.70 <= f.current <= 0.82, f.current
    for other in quality:  # nothing on a region that did not change
        assert (other.segment or {}).get("region") == shift["segment"]["region"], other.message


def test_without_the_labels_so_far_the_estimate_alone_misses_it(
    shifted: tuple[CheckResult, dict[str, Any]],
) -> None:
    _, truth = shifted
    [shift] = truth["shifts"]
    with open_store(truth["folder"] / "s.duckdb") as s:
        alone = run_checks(s, config=DetectConfig(labelled_so_far=False))
    assert not [
        f
        for f in alone.findings
        if f.kind == "quality" and f.metric == "default_accuracy" and f.segment == shift["segment"]
    ]


def test_labels_that_come_sooner_for_defaulters_raise_nothing_on_a_clean_store(
    tmp_path: Path,
) -> None:
    result, _ = _checked(tmp_path, seed=6, shifts="none", default_delay_factor=0.5)
    assert result.watch is not None and result.watch.cells > 300
    assert [f.message for f in result.findings if f.kind == "quality"] == []
