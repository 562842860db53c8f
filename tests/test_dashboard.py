"""The dashboard as people see it: served, opened in Chromium, mailed as a report.

The end-to-end tests start ``seismo serve`` in a subprocess on the seed
scenario fed one export per day up to three days after the 25-34 drop (1 June
2026), open it in headless Chromium (Debian's ``/usr/bin/chromium`` driven by
Playwright) and check what a person sees. They also refresh the screenshots
in ``docs/``. Without Chromium or Playwright those tests are skipped, saying
why; the tests of escaping, caching and the report's self-containment run
without a browser.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from served import ROOT, get, new_page, serving
from typer.testing import CliRunner

from seismo.cli import app as cli
from seismo.ingest import ingest
from seismo.ingest.reference import add_reference
from seismo.present.web import SnapshotCache, create_app, write_report
from seismo.simulate import Scenario, Simulation, simulate
from seismo.store import open_store

DOCS = ROOT / "docs"
SCENARIO = Scenario(per_day=3000)
DROP = SCENARIO.start + timedelta(days=SCENARIO.days - SCENARIO.drop_days)  # 2026-06-01
UNTIL = DROP + timedelta(days=3)  # the store's data ends with 3 June
EVIL = "<script>alert('seismo')</script>"


def feed_daily(path: Path, sim: Simulation, first: datetime, until: datetime) -> None:
    """Ingest one export per day from ``first`` to ``until``, as a nightly job would."""
    with open_store(str(path)) as store:
        day = first
        while day <= until:
            ingest(store, sim.known_at(day), exported_at=day, name=f"export {day:%Y-%m-%d}")
            day += timedelta(days=1)


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed scenario as a nightly job would have loaded it up to 4 June, 00:00."""
    path = tmp_path_factory.mktemp("seed") / "seismo.duckdb"
    sim = simulate(SCENARIO)
    feed_daily(path, sim, SCENARIO.start + timedelta(days=1), UNTIL)
    with open_store(str(path)) as store:
        add_reference(store, sim.reference)
    return path


_get = get


@pytest.fixture(scope="module")
def server(seed_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``seismo serve`` on the seed store, in its own process, on a free port."""
    with serving(seed_store, tmp_path_factory.mktemp("serve") / "serve.log") as base:
        yield base


# -- what a person sees ----------------------------------------------------------


def test_business_view_tells_what_needs_attention(server: str, browser: Any) -> None:
    page = new_page(browser)
    page.goto(f"{server}/")

    # The 25-34 alert is in the first screenful, in the section that comes first.
    alert = page.locator('#attention article.alert[data-segment="age_group=25-34"]').first
    headline = alert.locator(".headline")
    assert "Click-through for customers aged 25-34 fell" in headline.inner_text()
    box = headline.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 1000, box
    assert alert.locator(".badge").inner_text().strip().upper().startswith("ACT NOW")
    for fact in ("Who", "Since", "What this means", "What to do", "How sure"):
        assert alert.get_by_text(fact, exact=True).is_visible()

    # The aggregate click-through is shown as stable (the drop is in one group only).
    ctr = page.locator('#figures article.figure[data-metric="click_through_rate"]')
    assert ctr.locator(".status").get_attribute("data-status") == "stable"
    assert ctr.locator(".status").inner_text().startswith("Stable")

    # Provisional figures say so, in words and in the chart (dashed).
    conversion = page.locator('#figures article.figure[data-metric="purchase_conversion"]')
    assert re.search(
        r"Provisional: still waiting for \d+% of purchases", conversion.inner_text()
    ), conversion.inner_text()
    assert conversion.locator("svg path.provisional").count() >= 1
    assert page.get_by_text("provisional: expected final value").is_visible()

    # The 25-34 group is marked in the heat table and in the small multiples; its
    # click-through cell has the strongest "worse" colour, the other groups' do not.
    row = page.locator('table.heat tr.alerting[data-segment="age_group=25-34"]')
    assert row.is_visible()
    assert "needs attention" in (row.get_attribute("aria-label") or "")
    assert row.locator("td.cell.tone-worse.level-3").count() >= 1
    for other in ("18-24", "35-44", "45-54"):
        calm = page.locator(f'table.heat tr[data-segment="age_group={other}"]')
        assert "alerting" not in (calm.get_attribute("class") or "")
        assert calm.locator("td.cell.level-3").count() == 0
    assert page.locator('.tile.alerting[data-segment="age_group=25-34"]').is_visible()

    # The fairness view shows the 55+ sustainable-exposure finding.
    finding = page.locator('#fairness .finding[data-segment="age_group=55+"]')
    assert "sustainable items" in finding.inner_text() and "55+" in finding.inner_text()
    assert page.locator('#attention article.alert[data-segment="age_group=55+"]').count() == 1
    assert page.locator("#fairness svg.lines").count() == 2

    # Input drift reaches the business view as a plain sentence, below the quality alerts.
    # One card for the changeover: what moved with it the same day is said on it.
    drift = page.locator('#attention article.alert[data-metric^="drift:"]')
    assert drift.count() == 1
    assert "price of recommended items moved up" in drift.inner_text()
    assert "PSI" not in drift.locator(".headline").inner_text()

    assert page.locator("script").count() == 0 and page.dialogs == []
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard-business.png"), full_page=True)
    page.close()


def test_engineering_view_shows_the_statistics(server: str, browser: Any) -> None:
    page = new_page(browser, height=1500)
    page.goto(f"{server}/engineering?metric=click_through_rate&attribute=age_group")
    detail = page.locator("article.tech-alert", has_text="age_group=25-34").first
    text = detail.inner_text()
    assert "sequential GLR" in text and "chance per day" in text
    budget = page.locator("#alerts p.budget").inner_text()
    assert "False-alarm budget: 1 per 90 days" in budget and "watched series" in budget
    assert re.search(r"n baseline\s+[\d,]+", text) and re.search(r"n current\s+[\d,]+", text)
    assert page.locator("#metrics table.data tbody tr").count() > 20
    assert "rec-2026.04" in page.locator("#versions").inner_text()
    # Drift: the changeover moved price and category mix; unshifted inputs stay calm.
    price = page.locator("#drift-price_eur")
    assert "drifted" in (price.get_attribute("class") or "")
    assert price.locator("svg").count() == 1 and "psi" in price.inner_text()
    assert "drifted" in (page.locator("#drift-category").get_attribute("class") or "")
    for calm in ("age_group", "region", "device", "position"):
        assert "drifted" not in (page.locator(f"#drift-{calm}").get_attribute("class") or "")
    page.screenshot(path=str(DOCS / "dashboard-engineering.png"))
    page.close()


# -- the JSON twins and the cache ---------------------------------------------------


def test_every_page_has_a_json_twin(server: str) -> None:
    overview = json.loads(_get(f"{server}/api/overview"))
    alerts = {json.dumps(a["segment"], sort_keys=True): a for a in overview["attention"]}
    assert '{"age_group": "25-34"}' in alerts and '{"age_group": "55+"}' in alerts
    # One card per group: the business figure leads, what else moved for it is said there.
    assert alerts['{"age_group": "25-34"}']["metric"] == "click_through_rate"
    assert len(overview["attention"]) == len(alerts)
    figures = {f["metric"]: f for f in overview["figures"]}
    assert figures["click_through_rate"]["status"] == "stable"
    assert figures["purchase_conversion"]["provisional"] is True
    engineering = json.loads(_get(f"{server}/api/engineering?metric=purchase_conversion"))
    assert engineering["table"]["metric"] == "purchase_conversion"
    assert {a["id"] for a in overview["attention"]} <= {a["id"] for a in engineering["alerts"]}
    assert all(a["adjusted_p"] < 1e-4 for a in engineering["alerts"] if a["severity"] == "critical")
    # A second load reads the cached check: same computation, no new work.
    again = json.loads(_get(f"{server}/api/engineering"))
    assert again["computed_at"] == engineering["computed_at"]
    html = _get(f"{server}/").decode()
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_new_data_triggers_a_new_check_and_loads_in_between_do_not(tmp_path: Path) -> None:
    small = Scenario(per_day=400, seed=4)
    sim = simulate(small)
    path = tmp_path / "s.duckdb"
    start = small.start + timedelta(days=1)
    feed_daily(path, sim, start, start + timedelta(days=20))
    with open_store(str(path)) as store:  # drift alerts: the changeover is plain at 400 a day
        add_reference(store, sim.reference)
    cache = SnapshotCache(str(path))
    client = TestClient(create_app(cache=cache))
    first = client.get("/api/engineering").json()
    assert client.get("/api/engineering").json()["computed_at"] == first["computed_at"]
    snapshot = cache.get()
    feed_daily(path, sim, start + timedelta(days=21), start + timedelta(days=21))
    after = client.get("/api/engineering").json()
    assert after["data_version"] > first["data_version"]
    assert after["as_of"] > first["as_of"]
    assert cache.get() is not snapshot
    # A page view changes no alert: they are the check's. Acknowledging one of those the
    # check stored shows at the next load, without computing anything again.
    assert CliRunner().invoke(
        cli, ["alerts", "--store", str(path), "--format", "json"]
    ).stdout.strip() in ("[]", "")
    CliRunner().invoke(cli, ["check", "--store", str(path)])
    listed = CliRunner().invoke(cli, ["alerts", "--store", str(path), "--format", "json"])
    ids = [a["id"] for a in json.loads(listed.stdout) if a["state"] == "firing"]
    assert ids, "the collection changeover should have raised drift alerts by 2 June"
    acked = CliRunner().invoke(cli, ["alerts", "ack", ids[0], "--store", str(path)])
    assert acked.exit_code == 0, acked.output
    states = {a["id"]: a["state"] for a in client.get("/api/engineering").json()["alerts"]}
    assert states[ids[0]] == "acknowledged"
    assert cache.get().version == after["data_version"]  # no new check for an acknowledgement


# -- escaping -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose ``region`` segment has a value that is HTML."""
    sim = simulate(Scenario(per_day=300, seed=7, days=21))
    export = sim.export
    region = export.column("region")
    evil = pc.if_else(pc.equal(region, "CH"), pa.scalar(EVIL), region)
    export = export.set_column(export.schema.get_field_index("region"), "region", evil)
    path = tmp_path_factory.mktemp("evil") / "seismo.duckdb"
    with open_store(str(path)) as store:
        ingest(store, export, exported_at=sim.exported_at)
    return path


def test_segment_values_are_shown_as_text(evil_store: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(str(evil_store)))
    for url in ("/", "/engineering?attribute=region"):
        response = client.get(url)
        assert response.status_code == 200
        assert "script-src" not in response.headers["content-security-policy"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
        html = response.text
        assert "<script" not in html, url
        assert "&lt;script&gt;alert(" in html, url
    values = {r["value"] for b in client.get("/api/overview").json()["segments"] for r in b["rows"]}
    assert EVIL in values  # the JSON twin carries the value itself
    report = write_report(tmp_path / "report.html", store=str(evil_store)).path.read_text()
    assert "<script" not in report and "&lt;script&gt;alert(" in report


def test_only_its_own_host_names_are_answered(evil_store: Path) -> None:
    """A page elsewhere that points its own name at this machine (DNS rebinding) gets 400."""
    app = create_app(str(evil_store), allowed_hosts=("monitor.example.com",))
    client = TestClient(app)
    for host, status in (
        ("localhost:8000", 200),
        ("127.0.0.1:8000", 200),
        ("monitor.example.com", 200),
        ("attacker.example.net", 400),
        ("monitor.example.com.attacker.example.net", 400),
    ):
        assert client.get("/healthz", headers={"host": host}).status_code == status, host


def test_segment_values_render_as_text_in_chromium(evil_store: Path, browser: Any) -> None:
    client = TestClient(create_app(str(evil_store)))
    page = new_page(browser)
    page.set_content(client.get("/").text)
    page.locator('details[data-attribute="region"] > summary').click()
    cell = page.locator('tr[data-segment="region=' + EVIL.replace('"', '\\"') + '"] th')
    assert cell.inner_text().strip() == EVIL
    assert page.locator("script").count() == 0 and page.dialogs == []
    page.close()


# -- the report ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_file(seed_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``seismo report`` on a copy of the seed store (the server keeps its own)."""
    store = tmp_path_factory.mktemp("report") / "seismo.duckdb"
    shutil.copy(seed_store, store)
    out = store.parent / "report.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained(report_file: Path) -> None:
    html = report_file.read_text()
    assert "Click-through for customers aged 25-34 fell" in html
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html
    assert 'href="/' not in html  # no links back to a server that is not there
    assert report_file.stat().st_size < 400_000


def test_report_opens_without_a_network(report_file: Path, browser: Any) -> None:
    page = new_page(browser)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    page.goto(report_file.as_uri())
    assert page.locator('#attention article.alert[data-segment="age_group=25-34"]').is_visible()
    assert page.locator("#figures svg.spark").count() == 4
    assert [u for u in requested if not u.startswith("file:")] == []
    page.close()


def test_report_as_of_an_earlier_day(seed_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "seismo.duckdb"
    shutil.copy(seed_store, store)
    end_of_may = datetime(2026, 5, 31, 23, 59, 59, 999999)  # what --as-of 2026-05-31 means
    before = write_report(tmp_path / "r.html", store=str(store), as_of=end_of_may)
    assert before.snapshot.as_of == datetime(2026, 6, 1)
    assert before.snapshot.findings == ()  # neither shift has started yet
    html = before.path.read_text()
    assert "Nothing needs attention" in html and "as of 1 Jun 2026, 00:00 UTC" in html
    again = write_report(tmp_path / "again.html", store=str(store), as_of=end_of_may)
    assert again.path.read_bytes() == before.path.read_bytes()  # same data, same bytes


def test_utc_naive_times_are_iso_in_json(server: str) -> None:
    overview = json.loads(_get(f"{server}/api/overview"))
    as_of = datetime.fromisoformat(overview["as_of"].replace("Z", "+00:00"))
    assert as_of == UNTIL.replace(tzinfo=UTC)
