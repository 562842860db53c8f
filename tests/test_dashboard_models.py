"""The dashboard of a model that is not a recommender: a credit classifier and a demand regressor.

Each store is written by the independent generator (bench/independent) and
ingested through the example mappings a user would start from
(``examples/credit.toml``, ``examples/demand.toml``), whose ``[words]`` say
how people talk about the model. Served by ``seismo serve`` and read in
Chromium, each page must name its own metrics and its own predictions, and
no word of a recommender may appear on it; the screenshots go to docs/.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from served import ROOT, new_page, serving

from seismo import ingest, load_mapping, open_store

sys.path.insert(0, str(ROOT))

from bench.independent import generate

#: Words that belong to the recommender only.
RECOMMENDER = re.compile(r"recommend|customer|click|items? shown|\bshown\b", re.IGNORECASE)
MODELS = {
    "credit": {
        "scenario": "classifier",
        "size": {"days": 90, "per_day": 300},
        "mapping": ROOT / "examples" / "credit.toml",
        "title": "How the credit decisions are doing",
        "figures": ("Default rate", "Default accuracy"),
        "group": "applicants in",
        "says": ("final by",),
    },
    "demand": {
        "scenario": "regressor",
        "size": {"days": 30},
        "mapping": ROOT / "examples" / "demand.toml",
        "title": "How the forecasts are doing",
        "figures": ("Units mean absolute error", "Units MAPE"),
        "group": "store S07",
        "says": ("final by",),
    },
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    name = request.param
    spec = MODELS[name]
    folder = tmp_path_factory.mktemp(name)
    truth = generate(spec["scenario"], seed=2, out_dir=folder, **spec["size"])
    store = folder / "store.duckdb"
    mapping = load_mapping(spec["mapping"])
    with open_store(store) as s:
        for file in truth["ingest"]:
            ingest(s, folder / file, mapping=mapping)
    with serving(store, folder / "serve.log") as base:
        yield name, spec, base


def test_each_page_speaks_of_its_own_model(model: Any, browser: Any) -> None:
    name, spec, base = model
    page = new_page(browser, height=1400)
    page.goto(f"{base}/")
    text = page.inner_text("body")
    assert page.locator("h1").inner_text() == spec["title"]
    figures = page.locator("#figures").inner_text()
    for label in spec["figures"]:
        assert label in figures, f"{name}: key figure {label!r} missing"
    assert spec["group"] in (page.locator("#segments").text_content() or "")
    assert not RECOMMENDER.findall(text), f"{name}: {sorted(set(RECOMMENDER.findall(text)))}"
    for words in spec["says"]:  # what a change costs a day; when provisional figures settle
        assert words in text, f"{name}: {words!r} missing"
    page.screenshot(path=str(ROOT / "docs" / f"dashboard-{name}.png"), full_page=True)
    page.goto(f"{base}/engineering")
    engineering = page.inner_text("body")
    assert not RECOMMENDER.findall(engineering), sorted(set(RECOMMENDER.findall(engineering)))
    assert not page.dialogs
