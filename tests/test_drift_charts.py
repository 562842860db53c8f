"""The engineering view's drift charts, served by ``seismo serve`` and checked against the files.

The seed scenario is written to files, ingested and its training reference
registered through the CLI; the JSON twin's distribution bins must equal
histograms computed directly from those files, its per-segment grid what
``seismo drift --by …`` prints, and its multivariate series the drift rows.
A credit classifier (``examples/credit.toml``) gets the same charts in its
own words. The page is drawn in Chromium and its screenshot kept in docs/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from served import ROOT, get, new_page, serving
from typer.testing import CliRunner

from seismo.cli import app
from seismo.detect.multivariate import FEATURE
from seismo.simulate import Scenario, write_scenario

RECOMMENDER = re.compile(r"recommend|customer|click|items? shown|\bshown\b", re.IGNORECASE)


def _read(path: Path) -> pa.Table:
    options = pacsv.ConvertOptions(strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("seed-drift")
    paths = write_scenario(folder / "data", Scenario(days=22, per_day=600), truth=False)
    store = folder / "store.duckdb"
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(paths["export"]), "--store", str(store)])
    assert ingested.exit_code == 0, ingested.output
    added = runner.invoke(app, ["reference", "add", str(paths["reference"]), "--store", str(store)])
    assert added.exit_code == 0, added.output
    segments = ["age_group", "sustainability_preference", "region", "customer_type", "device"]
    by = [x for s in segments for x in ("--by", s)]
    cli = {}
    out = runner.invoke(app, ["drift", "--store", str(store), "--format", "json"])
    assert out.exit_code == 0, out.output
    cli["plain"] = json.loads(out.output)
    # The page's grid shows the latest window, computed over the last two days alone.
    cut = datetime.fromisoformat(cli["plain"][0]["as_of"].replace("Z", "+00:00"))
    since = (cut.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)).date()
    for name, extra in (("all", by), ("age_group", ["--by", "age_group"])):
        args = ["drift", "--store", str(store), "--format", "json", "--since", str(since)]
        out = runner.invoke(app, [*args, *extra])
        assert out.exit_code == 0, out.output
        cli[name] = json.loads(out.output)
    with serving(store, folder / "serve.log") as base:
        view = json.loads(get(f"{base}/api/engineering"))
        yield {"base": base, "paths": paths, "cli": cli, "charts": view["drift_charts"]}


def _in_bin(x: np.ndarray, b: dict[str, Any]) -> np.ndarray:
    keep = np.ones(len(x), dtype=bool)
    if b["low"] is not None:
        keep &= (x >= b["low"]) if b["low_inclusive"] else (x > b["low"])
    if b["high"] is not None:
        keep &= (x <= b["high"]) if b["high_inclusive"] else (x < b["high"])
    return keep


def _values(table: pa.Table, column: str, kind: str) -> Any:
    col = table.column(column)
    if kind == "numeric":
        x = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        return x[np.isfinite(x)]
    return [
        str(v).lower() if isinstance(v, bool) else str(v) for v in col.to_pylist() if v is not None
    ]


def _check_bins(d: dict[str, Any], table: pa.Table, side: str) -> None:
    values = _values(table, d["feature"], d["kind"])
    if d["kind"] == "numeric":
        counts = [int(_in_bin(values, b).sum()) for b in d["bins"]]
        assert sum(counts) == len(values), d["feature"]  # the bins cover every value, once
    else:
        seen = {c: values.count(c) for c in set(values)}
        counts = [sum(seen.get(c, 0) for c in b.get("pooled", [b["category"]])) for b in d["bins"]]
    assert counts == [b[side] for b in d["bins"]], (d["feature"], side)


def test_distribution_bins_equal_histograms_of_the_files(seed: dict[str, Any]) -> None:
    charts, paths = seed["charts"], seed["paths"]
    features = {d["feature"]: d for d in charts["distributions"]}
    assert {"price_eur", "category", "position", "score", "age_group"} <= set(features)
    reference = _read(paths["reference"])
    export = _read(paths["export"])
    stamp = pc.cast(export.column("timestamp"), pa.timestamp("us"))
    for d in charts["distributions"]:
        start = datetime.fromisoformat(d["window_start"].replace("Z", ""))
        end = datetime.fromisoformat(d["window_end"].replace("Z", ""))
        assert end - start == timedelta(days=1)
        window = export.filter(
            pc.and_(pc.greater_equal(stamp, pa.scalar(start)), pc.less(stamp, pa.scalar(end)))
        )
        assert d["current_n"] == len(_values(window, d["feature"], d["kind"]))
        _check_bins(d, reference, "reference")
        _check_bins(d, window, "current")
    assert features["price_eur"]["severity"] == "critical"  # the summer collection costs more
    assert features["age_group"]["severity"] == "none"


def _latest(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        seg = "all" if r["segment"] is None else json.dumps(r["segment"])
        key = (r["feature"], seg)
        have = out.get(key)
        if not have or r["window_start"] > have[0]["window_start"]:
            out[key] = [r]
        elif r["window_start"] == have[0]["window_start"]:
            have.append(r)
    return out


def test_segment_grid_agrees_with_seismo_drift_by(seed: dict[str, Any]) -> None:
    grid = seed["charts"]["segments"]
    every, age = _latest(seed["cli"]["all"]), _latest(seed["cli"]["age_group"])
    order = {"critical": 0, "warning": 1, "none": 2}
    checked = 0
    for row in grid["rows"]:
        for cell in row["cells"]:
            if cell is None:
                continue
            seg = (
                "all"
                if cell["attribute"] is None
                else json.dumps({cell["attribute"]: cell["value"]})
            )
            rows = [r for r in every[(row["feature"], seg)] if r["method"] != "stability"]
            psi = next(r for r in rows if r["method"] == "psi")
            assert cell["psi"] == pytest.approx(psi["statistic"], rel=1e-12)
            assert cell["severity"] == min((r["severity"] for r in rows), key=order.__getitem__)
            if cell["attribute"] == "age_group":  # a statistic does not depend on other --by
                alone = next(r for r in age[(row["feature"], seg)] if r["method"] == "psi")
                assert cell["psi"] == pytest.approx(alone["statistic"], rel=1e-12)
            checked += 1
    assert checked > 100
    category = next(r for r in grid["rows"] if r["feature"] == "category")
    assert category["cells"][0]["attribute"] is None  # the first column is everyone
    assert category["cells"][0]["severity"] == "critical"  # the summer collection's new mix
    assert sum(c is not None and c["severity"] != "none" for c in category["cells"]) > 10


def test_multivariate_series_is_the_drift_row(seed: dict[str, Any]) -> None:
    mv = seed["charts"]["multivariate"]
    assert mv["available"] and mv["components"] >= 1 and mv["explained"] >= 0.65
    points = [p for s in mv["series"] for p in s["points"]]
    rows = sorted(
        (r for r in seed["cli"]["plain"] if r["feature"] == FEATURE),
        key=lambda r: r["window_start"],
    )
    assert [p["value"] for p in points] == pytest.approx([r["statistic"] for r in rows])
    assert [p["drifted"] for p in points] == [r["drifted"] for r in rows]
    assert all(p["drifted"] == (p["value"] > p["upper"]) for p in points)
    first = min(p["start"] for p in points if p["drifted"])
    assert first.startswith(
        str(Scenario().start.date() + timedelta(days=Scenario().changeover_day))
    )


def test_page_draws_every_chart(seed: dict[str, Any], browser: Any) -> None:
    charts = seed["charts"]
    page = new_page(browser, height=1400)
    page.goto(f"{seed['base']}/engineering#drift-charts")
    section = page.locator("#drift-charts")
    assert section.locator("figure.distribution").count() == len(charts["distributions"])
    assert section.locator("figure.distribution svg").count() == len(charts["distributions"])
    drifted = sum(p["drifted"] for s in charts["multivariate"]["series"] for p in s["points"])
    assert section.locator("svg.threshold circle.drifted").count() == drifted > 0
    assert section.locator("table.drift-grid td.sev-critical").count() > 0
    assert not page.dialogs
    section.screenshot(path=str(ROOT / "docs" / "engineering-drift.png"))


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.independent import generate
    from seismo import ingest, load_mapping, open_store
    from seismo.ingest.reference import add_reference

    folder = tmp_path_factory.mktemp("credit-drift")
    truth = generate("classifier", seed=2, out_dir=folder, days=90, per_day=300)
    mapping = load_mapping(ROOT / "examples" / "credit.toml")
    decisions = _read(folder / truth["ingest"][0])
    early = pc.less(pc.cast(decisions.column("decided_at"), pa.string()), "2025-07-02")
    store = folder / "store.duckdb"
    with open_store(store) as s:
        for file in truth["ingest"]:
            ingest(s, folder / file, mapping=mapping)
        add_reference(s, decisions.filter(early), mapping=mapping, name="early decisions")
    with serving(store, folder / "serve.log") as base:
        yield base


def test_credit_model_gets_the_charts_in_its_own_words(credit: str, browser: Any) -> None:
    charts = json.loads(get(f"{credit}/api/engineering"))["drift_charts"]
    labels = {d["feature"]: d["label"] for d in charts["distributions"]}
    assert labels["age"] == "Applicant age" and labels["income"] == "Annual income"
    assert charts["multivariate"]["available"]
    assert charts["multivariate"]["inputs"] >= 5
    assert {a["attribute"] for a in charts["segments"]["attributes"]} == {"region", "channel"}
    page = new_page(browser)
    page.goto(f"{credit}/engineering#drift-charts")
    text = page.locator("#drift-charts").inner_text()
    assert "Applicant age" in text and "All inputs together" in text
    assert not RECOMMENDER.findall(text), sorted(set(RECOMMENDER.findall(text)))
