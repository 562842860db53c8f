"""Numbers, money and times in the reader's own format, from the ``[words]`` a store declares.

Two stores hold the same seed data: one whose words declare ``de_DE``,
``Europe/Berlin`` and ``EUR`` (and what a click is worth, so alerts name a
cost), one that declares neither locale nor zone. What people read (the
report, the served page, CLI tables, alert texts) must be German, with
moments in Berlin time; what machines read (the JSON API, ``--format json``)
must be the same for both.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from served import ROOT, get, new_page, serving
from typer.testing import CliRunner

from seismo.alerts.model import SyncResult
from seismo.alerts.notification import build_notifications
from seismo.alerts.store import list_alerts
from seismo.cli import app
from seismo.config import RECOMMENDATIONS
from seismo.ingest import ingest
from seismo.simulate import Scenario, simulate
from seismo.store import open_store

runner = CliRunner()
#: A check late in the evening of 4 June, UTC: already 5 June in Berlin.
LATE = "2026-06-04T23:30:00Z"
MONEY_DE = re.compile(r"\d+,\d\d\xa0€")  # "3,00 €"
PERCENT_DE = re.compile(r"\d+,\d\xa0%")  # "2,7 %"
MONEY_EN = re.compile(r"€\d")  # "€2.45": English order


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def text_of(page: str) -> str:
    page = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return re.sub(r"[ \t\r\n]+", " ", text)  # not \xa0: money and percentages hold it


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sim = simulate(Scenario(seed=2, per_day=3000))
    folder = tmp_path_factory.mktemp("locale")
    english = replace(RECOMMENDATIONS.words, values={"click": 3.0})
    words = {
        "en": english,
        "de": replace(english, locale="de_DE", timezone="Europe/Berlin", currency="EUR"),
    }
    paths = {}
    for name, declared in words.items():
        paths[name] = folder / f"{name}.duckdb"
        with open_store(str(paths[name])) as store:
            mapping = replace(RECOMMENDATIONS, words=declared)
            ingest(store, sim.export, mapping=mapping, exported_at=sim.exported_at)
    return paths


@pytest.fixture(scope="module")
def reports(stores: dict[str, Path]) -> dict[str, str]:
    """``seismo report`` on each store as of late on 4 June UTC (which syncs its alerts)."""
    texts = {}
    for name, store in stores.items():
        out = store.parent / f"report-{name}.html"
        result = run("report", "--store", str(store), "--as-of", LATE, "--out", str(out))
        assert result.exit_code == 0, result.output
        texts[name] = text_of(out.read_text(encoding="utf-8"))
    return texts


@pytest.fixture(scope="module")
def report(reports: dict[str, str]) -> str:
    return reports["de"]


def test_without_a_locale_the_report_stays_english_and_utc(reports: dict[str, str]) -> None:
    assert re.search(r"Figures as of 4 Jun 2026, 23:00 UTC", reports["en"])
    assert re.search(r"At €3\.00 each, that costs about €\d[\d,]* a day", reports["en"])


def test_report_writes_german_numbers_money_and_berlin_time(report: str) -> None:
    as_of = re.search(r"Figures as of (.*?) ·", report)
    assert as_of, report[:500]
    # 23:xx UTC on 4 June is past midnight in Berlin (summer time).
    assert re.fullmatch(r"5\. Juni 2026, 0[12]:\d\d CEST", as_of.group(1).strip()), as_of.group(1)
    assert "12. Mai" in report  # the launch days, named in German
    assert re.search(r"At 3,00\xa0€ each, that costs about \d[\d.]*\xa0€ a day", report)
    assert MONEY_DE.search(report) and PERCENT_DE.search(report)
    assert not MONEY_EN.search(report), MONEY_EN.findall(report)[:5]


def test_cli_tables_and_alert_texts_are_german_json_stays_plain(
    stores: dict[str, Path], report: str
) -> None:
    store = str(stores["de"])
    listed = run("alerts", "--store", store)
    assert listed.exit_code == 0, listed.output
    assert "01.06.2026" in listed.stdout  # since: the day the change began
    assert re.search(r"Click-through: \d+,\d\xa0% → \d+,\d\xa0%", listed.stdout), listed.stdout

    machine = run("alerts", "--store", store, "--format", "json")
    records = json.loads(machine.stdout)
    assert records and all(r["first_seen"].startswith("2026-06-04T23:") for r in records)
    assert all(r["first_seen"].endswith("Z") and isinstance(r["current"], float) for r in records)

    shown = run("alerts", "--store", store, "show", records[0]["id"])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"05\.06\.2026 0[12]:\d\d CEST", shown.stdout), shown.stdout

    with open_store(store) as handle:
        alerts = tuple(list_alerts(handle.engine))
    as_of = alerts[0].last_seen
    (note, *_) = build_notifications(SyncResult(as_of=as_of, new=alerts))
    text = note.text()
    assert PERCENT_DE.search(text) and "since 01.06.2026" in text, text
    slack = json.dumps(note.slack(), ensure_ascii=False)
    assert re.search(r"first seen 05\.06\.2026 0[12]:\d\d CEST", slack), slack
    assert note.payload()["as_of"].startswith("2026-06-04T23:")


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every number, flag and ISO time in a JSON document, by its path (text left out)."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{path}/{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}/{i}").items()
        }
    iso = isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", value)
    return {path: value} if iso or not isinstance(value, str) else {}


def test_served_page_is_german_and_its_json_twin_unchanged(
    stores: dict[str, Path], reports: dict[str, str], browser: Any
) -> None:
    folder = stores["de"].parent
    with serving(stores["en"], folder / "en.log") as base:
        english = json.loads(get(f"{base}/api/overview"))
    with serving(stores["de"], folder / "de.log") as base:
        german = json.loads(get(f"{base}/api/overview"))
        page = new_page(browser, height=1400)
        page.goto(f"{base}/")
        body = page.inner_text("body")
        figures = page.locator("#figures").inner_text()
        page.screenshot(path=str(ROOT / "docs" / "dashboard-de.png"), full_page=True)
    assert MONEY_DE.search(figures) and PERCENT_DE.search(figures), figures
    assert "CEST" in body and "UTC" not in body
    assert not MONEY_EN.search(body), MONEY_EN.findall(body)[:5]
    assert german["as_of"].endswith("Z") and german["as_of"] == english["as_of"]
    numbers, expected = _leaves(german), _leaves(english)
    assert numbers.keys() == expected.keys()
    for key, value in numbers.items():  # floats: as summed by the engine, in any order
        same = pytest.approx(expected[key], rel=1e-9) if isinstance(value, float) else expected[key]
        assert value == same, key
    assert any(isinstance(v, float) for v in numbers.values())


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('locale = "xx_YY"', "[words] locale: unknown locale 'xx_YY'"),
        ('timezone = "Europe/Berln"', "[words] timezone: unknown zone 'Europe/Berln'"),
        ('currency = "EURO"', "[words] currency: unknown currency 'EURO'"),
    ],
)
def test_a_bad_locale_zone_or_currency_is_refused_by_name(
    tmp_path: Path, line: str, says: str
) -> None:
    mapping = (ROOT / "examples" / "credit.toml").read_text(encoding="utf-8")
    bad = tmp_path / "credit.toml"
    bad.write_text(mapping.replace("[words]\n", f"[words]\n{line}\n", 1), encoding="utf-8")
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("application_id,decided_at\n", encoding="utf-8")
    store = str(tmp_path / "store.duckdb")
    result = run("ingest", "--store", store, "--mapping", str(bad), str(decisions))
    assert result.exit_code == 2
    assert says in " ".join(result.stderr.split())
