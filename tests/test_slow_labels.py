"""A change whose labels take months: found from the day it began, however long ago that was.

The independent generator's credit model (bench/independent): a region's
default rate goes 8 % → 23 % sixty days before the check, with labels
arriving a month or two after each decision. Every day since the change is
still gaining labels, so every one of them belongs in the scan; a scan of the
last 28 days alone sees mostly label-free estimates, which cannot show a rise
in defaults the scores do not predict, and the check said nothing.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from seismo import ingest, load_mapping, open_store
from seismo.detect.change import DetectConfig
from seismo.detect.run import run_checks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.independent import generate  # noqa: E402


def test_a_default_rise_sixty_days_old_is_found_since_its_first_day(tmp_path: Path) -> None:
    truth = generate(
        "classifier",
        seed=3,
        days=200,
        per_day=800,
        shifts=["region_default_rise"],
        out_dir=tmp_path,
    )
    [shift] = truth["shifts"]
    began = datetime.fromisoformat(shift["start"]).replace(tzinfo=None)
    store = tmp_path / "s.duckdb"
    mapping = load_mapping(tmp_path / truth["mapping"])
    with open_store(store) as s:
        for name in truth["ingest"]:
            ingest(s, tmp_path / name, mapping=mapping)
        result = run_checks(s)
        # the last 28 days' label-free estimates alone (what the check scanned before)
        quiet = run_checks(s, config=DetectConfig(max_window_days=28, labelled_so_far=False))
    assert (result.as_of - began).days >= 55
    quality = [f for f in result.findings if f.kind == "quality"]
    assert quality, "the region's default rise was not found"
    for f in quality:  # on the region that changed, dated from the change
        assert (f.segment or {}).get("region") == shift["segment"]["region"], f.message
        assert abs(f.since - began) <= timedelta(days=1), f.message
    assert any(f.metric == "default_accuracy" and f.direction == "down" for f in quality)
    # The last 28 days alone hold far less of the evidence: what this test guards against.
    strongest = max(f.statistic for f in quality)
    alone = [f.statistic for f in quiet.findings if f.kind == "quality"]
    assert max(alone, default=0.0) < strongest / 1.5
