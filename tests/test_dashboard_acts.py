"""The dashboard acts: sign in with a write token, acknowledge, silence, annotate; CSRF holds.

One small store (the seed scenario at 400 a day, with its training reference)
is checked once, which stores its alerts; the app is served by a real
Uvicorn on a free port (Headless Chromium talks to it) and reached through
FastAPI's TestClient for the refusals, both the same app, so one check serves
every test. Each test acts on an alert of its own, so their order does not
matter.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from served import ROOT, free_port, new_page

from seismo.alerts import get_alert
from seismo.alerts.planned import list_planned
from seismo.ingest import ingest
from seismo.ingest.reference import add_reference
from seismo.present.web import SnapshotCache, create_app
from seismo.present.web.acts import COOKIE
from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.tokens import add_token, revoke_token

OWN = {"origin": "http://testserver"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app over a checked store, served by Uvicorn in this process; tokens by name."""
    import uvicorn

    path = str(tmp_path_factory.mktemp("acts") / "s.duckdb")
    sim = simulate(Scenario(per_day=400, seed=4))
    with open_store(path) as store:
        ingest(store, sim.export, exported_at=sim.exported_at)
        add_reference(store, sim.reference)
        tokens = {
            "maria": add_token(store.engine, scope="write", name="maria")[1],
            "reader": add_token(store.engine, scope="read", name="reader")[1],
            "old": add_token(store.engine, scope="write", name="old")[1],
        }
    cache = SnapshotCache(path, sync_alerts=True)  # the first load is the check: it stores alerts
    snap = cache.get()
    ids = [a.id for a in snap.alerts if a.state == "firing"]
    assert len(ids) >= 3, "the changeover and the 25-34 drop should raise three alerts"
    app = create_app(cache=cache)
    # The first is on the business page (one card per group there; every alert on the other).
    shown = [a["id"] for a in TestClient(app).get("/api/overview").json()["attention"]]
    ids = [shown[0], *(i for i in ids if i != shown[0])]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {
            "path": path,
            "app": app,
            "base": f"http://127.0.0.1:{port}",
            "tokens": tokens,
            "ids": ids,
        }
    finally:
        server.should_exit = True
        thread.join(10)


def alert(site: dict[str, Any], n: int) -> Any:
    """The store's alert ``n`` as it is now (read through the server's one writer)."""
    return site["app"].state.writer.run(lambda h: get_alert(h.engine, site["ids"][n]))


def signed_in(site: dict[str, Any], who: str = "maria") -> tuple[TestClient, str]:
    """A TestClient signed in through the form as ``who``; and the session's CSRF value."""
    client = TestClient(site["app"])
    form = client.get("/signin?next=/engineering").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce is not None
    answer = client.post(
        "/signin",
        data={"nonce": nonce.group(1), "token": site["tokens"][who], "next": "/engineering"},
        headers=OWN,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/engineering"
    page = client.get("/engineering").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None and f"Signed in as <b>{who}</b>" in page
    return client, csrf.group(1)


def message(html: str) -> str:
    found = re.search(r'<p class="act-message (\w+)"[^>]*>([^<]*)</p>', html)
    return f"{found.group(1)}: {found.group(2)}" if found else ""


# -- without a session ---------------------------------------------------------------


def test_without_a_session_there_are_no_forms_and_posts_get_401(site: dict[str, Any]) -> None:
    client = TestClient(site["app"])
    for url in ("/", "/engineering"):
        html = client.get(url).text
        assert 'action="/act/' not in html and 'name="csrf"' not in html, url
        assert "Sign in to act" in html, url
        assert client.get(url).headers["content-security-policy"].startswith("default-src 'none'")
    report = client.get("/report.html").text  # the mailed file has no server to post to
    assert "<form" not in report and "Sign in" not in report
    before = alert(site, 2)
    for url, data in (
        (f"/act/alerts/{site['ids'][2]}/ack", {}),
        (f"/act/alerts/{site['ids'][2]}/silence", {"for": "1d"}),
        ("/act/annotations", {"from": "2026-06-01", "note": "x"}),
    ):
        answer = client.post(url, data={**data, "csrf": "guess"}, headers=OWN)
        assert answer.status_code == 401, url
    assert alert(site, 2) == before
    planned = site["app"].state.writer.run(lambda h: list_planned(h.engine))
    assert all(c.note != "x" for c in planned)


def test_sign_in_takes_a_write_token_and_keeps_it_out_of_the_cookie(site: dict[str, Any]) -> None:
    client = TestClient(site["app"])
    nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/signin").text)
    assert nonce is not None
    tokens = site["tokens"]
    for token, status in (
        ("seismo_not-a-token", 401),
        (tokens["reader"], 403),  # a read token cannot act
        ("", 401),
    ):
        answer = client.post("/signin", data={"nonce": nonce.group(1), "token": token}, headers=OWN)
        assert answer.status_code == status, token
        assert COOKIE not in client.cookies
    # Without the sign-in form's own value (a login forced from elsewhere): refused.
    fresh = TestClient(site["app"])
    answer = fresh.post("/signin", data={"token": tokens["maria"]}, headers=OWN)
    assert answer.status_code == 403 and COOKIE not in fresh.cookies
    answer = client.post(
        "/signin",
        data={"nonce": nonce.group(1), "token": tokens["maria"]},
        headers=OWN,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert tokens["maria"] not in cookie and tokens["maria"].removeprefix("seismo_") not in cookie
    page = client.get("/")
    assert page.headers["cache-control"] == "no-store"
    assert message(page.text) == "ok: Signed in as maria."
    assert message(client.get("/").text) == ""  # said once


# -- CSRF -------------------------------------------------------------------------------


def test_forged_posts_are_refused_and_change_nothing(site: dict[str, Any]) -> None:
    client, csrf = signed_in(site)
    target = f"/act/alerts/{site['ids'][1]}/silence"
    before = alert(site, 1)
    for data, headers, why in (
        ({"for": "7d"}, OWN, "no CSRF field"),
        ({"for": "7d", "csrf": csrf[:-2] + "xx"}, OWN, "another CSRF value"),
        ({"for": "7d", "csrf": csrf}, {"origin": "http://attacker.example"}, "another origin"),
        ({"for": "7d", "csrf": csrf}, {"referer": "http://attacker.example/x"}, "another referer"),
        ({"for": "7d", "csrf": csrf}, {}, "no Origin or Referer"),
        ({"for": "7d", "csrf": csrf}, {"origin": "null"}, "an opaque origin"),
    ):
        answer = client.post(target, data=data, headers=headers, follow_redirects=False)
        assert answer.status_code == 403, why
        assert alert(site, 1) == before, why
    other, _ = signed_in(site)  # a second session's value is not this one's
    answer = other.post(target, data={"for": "7d", "csrf": csrf}, headers=OWN)
    assert answer.status_code == 403 and alert(site, 1) == before
    # The Referer of one of its own pages does instead of Origin.
    answer = client.post(
        target,
        data={"for": "0s", "csrf": csrf, "next": "/engineering"},
        headers={"referer": "http://testserver/engineering"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


# -- acting -------------------------------------------------------------------------


def test_silence_and_annotate_from_the_page(site: dict[str, Any]) -> None:
    client, csrf = signed_in(site)
    one = site["ids"][1]
    sent = datetime.now(UTC).replace(tzinfo=None)
    answer = client.post(
        f"/act/alerts/{one}/silence",
        data={"for": "4h", "csrf": csrf, "next": "/engineering"},
        headers=OWN,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/engineering#alert-{one}"
    until = alert(site, 1).silenced_until
    assert timedelta(hours=4) <= until - sent < timedelta(hours=4, minutes=1)
    page = client.get("/engineering").text
    assert message(page) == f"ok: Alert {one} silenced until {until:%Y-%m-%d %H:%M} UTC."
    assert re.search(rf"<code>{one}</code>[^<]*silenced until", page)
    assert '<option value="0s">' in page  # it can be lifted from the page
    answer = client.post(
        f"/act/alerts/{one}/silence", data={"for": "soon", "csrf": csrf}, headers=OWN
    )
    assert answer.status_code == 200  # back on the page, saying why
    assert message(answer.text).startswith("error: ") and "soon" in message(answer.text)
    assert alert(site, 1).silenced_until == until

    # A planned change for the alert's group, as `seismo annotate --segment` records it.
    young = next(a for a in site["app"].state.snapshots.get().alerts if a.segment)
    pairs = [f"{k}={v}" for k, v in young.segment.items()]
    answer = client.post(
        "/act/annotations",
        data={
            "csrf": csrf,
            "next": "/",
            "from": "2026-06-01",
            "to": "2026-06-03",
            "note": "summer changeover",
            "for": "segment",
            "segment": pairs,
        },
        headers=OWN,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    changes = site["app"].state.writer.run(lambda h: list_planned(h.engine))
    assert [(c.note, c.segment, f"{c.ends:%d}") for c in changes] == [
        ("summer changeover", young.segment, "03")
    ]
    page = client.get("/").text  # the findings are marked again: the page re-checks
    assert message(page).startswith(f"ok: Planned change {changes[0].id} recorded")
    assert "planned change: summer changeover" in page
    answer = client.post(
        "/act/annotations",
        data={"csrf": csrf, "from": "1 June", "note": "bad day"},
        headers=OWN,
    )
    assert "from must be a day, YYYY-MM-DD" in message(answer.text)
    assert len(site["app"].state.writer.run(lambda h: list_planned(h.engine))) == 1


def test_a_revoked_token_ends_its_session(site: dict[str, Any]) -> None:
    client, csrf = signed_in(site, "old")
    site["app"].state.writer.run(lambda h: revoke_token(h.engine, "old"))
    before = alert(site, 2)
    answer = client.post(f"/act/alerts/{site['ids'][2]}/ack", data={"csrf": csrf}, headers=OWN)
    assert answer.status_code == 401 and alert(site, 2) == before
    assert "Sign in to act" in client.get("/").text  # signed out


def test_the_api_records_the_token_name_as_the_cli_records_the_user(
    site: dict[str, Any],
) -> None:
    client = TestClient(site["app"])
    bearer = {"authorization": f"Bearer {site['tokens']['maria']}"}
    answer = client.post(f"/v1/alerts/{site['ids'][-1]}/ack", headers=bearer)
    assert answer.status_code == 200 and answer.json()["acknowledged_by"] == "maria"


# -- in Chromium ---------------------------------------------------------------------


def test_sign_in_and_acknowledge_in_chromium(site: dict[str, Any], browser: Any) -> None:
    page = new_page(browser, height=1100)
    base, zero = site["base"], site["ids"][0]
    page.goto(f"{base}/")
    card = page.locator(f"#alert-{zero}")
    assert "Sign in to act" in card.inner_text() and card.locator("form").count() == 0
    page.locator("header .session a", has_text="Sign in to act").click()
    page.locator('input[name="token"]').fill(site["tokens"]["maria"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    assert "Signed in as maria" in page.locator("header .session").inner_text()
    assert page.locator(".act-message.ok").inner_text() == "Signed in as maria."
    card.locator("details.act-note > summary").click()  # the forms, as docs/ shows them
    (ROOT / "docs").mkdir(exist_ok=True)
    top = {"x": 0, "y": 0, "width": 1280, "height": 1000}
    page.screenshot(path=str(ROOT / "docs" / "dashboard-acts.png"), full_page=True, clip=top)

    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{base}/#alert-{zero}")
    assert page.locator(".act-message.ok").inner_text() == (f"Alert {zero} acknowledged by maria.")
    assert "being handled by maria" in card.locator(".badge").inner_text().lower()
    assert card.get_by_role("button", name="Acknowledge").count() == 0
    stored = alert(site, 0)
    assert (stored.state, stored.acknowledged_by) == ("acknowledged", "maria")

    # The browser holds the session cookie, but a post without the page's CSRF value
    # (what a page elsewhere could send) is refused and changes nothing.
    forged = page.request.post(
        f"{base}/act/alerts/{site['ids'][2]}/silence",
        form={"for": "7d"},
        headers={"Origin": base},
    )
    assert forged.status == 403 and alert(site, 2).silenced_until is None
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies[COOKIE]["httpOnly"] and cookies[COOKIE]["sameSite"] == "Strict"

    assert page.locator("script").count() == 0 and page.dialogs == []
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/")
    assert "Sign in to act" in page.locator("header .session").inner_text()
    page.close()
