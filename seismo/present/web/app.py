"""The web app behind ``seismo serve``: two pages, their JSON twins, and the report.

============================  ===============================================
``GET /``                     the business view (what needs attention, key
                              figures, customer groups, fairness)
``GET /api/overview``         the same view as JSON
``GET /engineering``          statistics behind each alert, metric tables
                              (``?metric=…&attribute=…``), model versions,
                              a classifier's confusion matrix, ROC, PR and
                              calibration curves and quality over time
``GET /api/engineering``      the same view as JSON (every chart's numbers:
                              ``classifier``)
``GET /report.html``          the business view as one self-contained file
``GET /healthz``              ``{"ok": true}`` once the server answers
``GET /metrics``              the snapshot and the operations figures in
                              Prometheus's exposition format
                              (:mod:`~seismo.present.web.prometheus`)
``GET /api/checks``           the scheduled checks: last run, next run
``/signin``, ``/act/...``     sign in with a write token; acknowledge,
                              silence, annotate from the pages (:mod:`.acts`)
``/v1/...``                   the versioned API: batches in, alert actions,
                              its OpenAPI spec (:mod:`.api_v1`)
============================  ===============================================

With a check schedule (``seismo serve --check-every 15m``, or ``[schedule]``
in its config: :mod:`~seismo.present.web.schedule`) the server runs the
check itself; both pages say when the last check ran and when the next will.

Every page reads one :class:`~seismo.present.web.snapshot.Snapshot`, computed
when the data version moves and kept in memory otherwise, and is drawn in the
locale and time zone its model's words declare (:mod:`seismo.locale`); the
JSON twins keep plain numbers and ISO 8601 UTC times. Pages carry a
Content-Security-Policy that allows no script at all: they need none, and a
value that escaped escaping still could not run. Their forms are plain
HTML posts (:mod:`.acts`), shown to a signed-in browser only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from seismo.detect.change import DetectConfig
from seismo.locale import formatter_for, using
from seismo.present.web.acts import install_acts, page_acts, respond, session_of
from seismo.present.web.api_v1 import ApiSettings, install
from seismo.present.web.prometheus import CONTENT_TYPE, exposition
from seismo.present.web.render import render_page, render_report, to_json
from seismo.present.web.schedule import CheckSchedule, Scheduler
from seismo.present.web.snapshot import Snapshot, SnapshotCache
from seismo.present.web.views import engineering, overview

__all__ = ["CSP", "HEADERS", "create_app", "serve"]

#: No script, no remote anything: styles are inline, charts inline SVG.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


#: Host names a local dashboard answers to (``--allowed-host`` adds others).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1", "testserver")


def create_app(
    store: str | None = None,
    *,
    as_of: datetime | None = None,
    cache: SnapshotCache | None = None,
    allowed_hosts: tuple[str, ...] = (),
    api: ApiSettings | None = None,
    scheduler: Scheduler | None = None,
) -> FastAPI:
    """The dashboard app over ``store`` (a DuckDB path or database URL; None: the default).

    ``scheduler``: the scheduled checks the pages and ``/metrics`` report on.

    Requests whose ``Host`` is not a local name or one of ``allowed_hosts`` get
    400: a web page elsewhere that points a name of its own at this machine
    (DNS rebinding) cannot read the dashboard through the visitor's browser.
    """
    snapshots = cache or SnapshotCache(store, as_of=as_of)
    pages = _Pages()
    # No /docs or /redoc: FastAPI serves them with JavaScript from a CDN.
    app = FastAPI(title="seismo", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOCAL_HOSTS, *allowed_hosts])
    app.state.snapshots = snapshots
    app.state.pages = pages
    install(app, snapshots.store, api or ApiSettings())
    install_acts(app)
    app.state.scheduler = scheduler

    def checks() -> dict[str, Any] | None:
        return None if scheduler is None else scheduler.record()

    def stamp() -> Any:
        """What the pages' line on the scheduled checks depends on."""
        c = checks()
        return None if c is None else (c["last_finished"], c["next_at"], c["running"])

    @app.get("/", response_class=HTMLResponse)
    def business_page(request: Request) -> Response:
        snap = snapshots.get()
        session = session_of(request)
        acts = page_acts(session is not None)

        def draw() -> str:
            view = {**overview(snap), "checks": checks()}
            return render_page("overview.html.j2", view, acts=acts)

        html = pages.get(snap, ("html", "overview", acts["signed_in"], stamp()), draw)
        return respond(html, request, session, HEADERS)

    @app.get("/api/overview")
    def business_json() -> JSONResponse:
        snap = snapshots.get()

        def build() -> Any:
            return to_json({**overview(snap), "checks": checks()})

        return JSONResponse(pages.get(snap, ("json", "overview", stamp()), build))

    @app.get("/engineering", response_class=HTMLResponse)
    def engineering_page(
        request: Request, metric: str | None = Query(None), attribute: str | None = Query(None)
    ) -> Response:
        snap = snapshots.get()
        session = session_of(request)
        acts = page_acts(session is not None)

        def draw() -> str:
            view = engineering(snap, metric=metric, attribute=attribute)
            return render_page("engineering.html.j2", {**view, "checks": checks()}, acts=acts)

        key = ("html", "engineering", metric, attribute, acts["signed_in"], stamp())
        html = pages.get(snap, key, draw)
        return respond(html, request, session, HEADERS)

    @app.get("/api/engineering")
    def engineering_json(
        metric: str | None = Query(None), attribute: str | None = Query(None)
    ) -> JSONResponse:
        snap = snapshots.get()

        def build() -> Any:
            view = engineering(snap, metric=metric, attribute=attribute)
            return to_json({**view, "checks": checks()})

        key = ("json", "engineering", metric, attribute, stamp())
        return JSONResponse(pages.get(snap, key, build))

    @app.get("/report.html")
    def report_file() -> Response:
        snap = snapshots.get()
        name = f"seismo-report-{snap.as_of:%Y-%m-%d}.html"
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        html = pages.get(snap, ("html", "report"), lambda: render_report(snap))
        return HTMLResponse(html, headers=headers)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        snap = snapshots.get()
        body = pages.get(snap, ("metrics", stamp()), lambda: exposition(snap, checks()))
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/api/checks")
    def checks_json() -> JSONResponse:
        return JSONResponse(to_json({"checks": checks()}))

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        return {"ok": True}

    return app


class _Pages:
    """Pages drawn from the current snapshot, dropped as soon as another snapshot comes.

    A page load then costs the data-version query and a dictionary look-up;
    the engineering page's metric pickers add one entry per choice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._pages: dict[tuple[Any, ...], Any] = {}

    def clear(self) -> None:
        """Forget the drawn pages (the next load draws again from the same snapshot)."""
        with self._lock:
            self._pages = {}

    def get(self, snap: Snapshot, key: tuple[Any, ...], draw: Callable[[], Any]) -> Any:
        with self._lock:
            if snap is not self._snapshot:
                self._snapshot, self._pages = snap, {}
            if key in self._pages:
                return self._pages[key]
        with using(formatter_for(snap.words)):  # numbers and times as the model's words declare
            page = draw()
        with self._lock:
            if snap is self._snapshot and len(self._pages) < 256:
                self._pages[key] = page
        return page


def serve(
    store: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    as_of: datetime | None = None,
    detect: DetectConfig | None = None,
    allowed_hosts: tuple[str, ...] = (),
    api: ApiSettings | None = None,
    schedule: CheckSchedule | None = None,
    config: str | None = None,
) -> None:
    """Run the dashboard with Uvicorn until interrupted; the first check starts at once.

    Listening on an address other than loopback answers to that address too.
    While it runs it is a DuckDB store's one writer (:mod:`seismo.store.serving`).
    With a ``schedule`` the server runs :func:`seismo.api.check` on it (with the
    check's TOML ``config``: its ``[detect]``, ``[operations]`` and ``[alerts]``
    routes, so notifications go out), the first run at once, through the same
    one writer as the API's batches (they take turns).
    """
    import uvicorn

    from seismo.store.serving import claim_store, release_claim

    cache = SnapshotCache(store, as_of=as_of, detect=detect)
    bound = () if host in LOCAL_HOSTS else (host,)
    scheduler = None
    if schedule is not None and schedule.enabled:

        def scheduled() -> Any:
            return app.state.writer.run(lambda handle: _check(handle, config, as_of))

        scheduler = Scheduler(schedule, scheduled, after=cache.get)
    app = create_app(
        cache=cache, allowed_hosts=(*bound, *allowed_hosts), api=api, scheduler=scheduler
    )
    shown = f"[{host}]" if ":" in host else host
    claim = claim_store(store, f"http://{shown}:{port}")
    try:
        if scheduler is not None:
            scheduler.start()  # its first run warms the snapshot
        else:
            cache.warm()
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        release_claim(claim)


def _check(handle: Any, config: str | None, as_of: datetime | None) -> Any:
    """One scheduled check: what ``seismo check --config CONFIG`` runs."""
    from seismo.api import check

    return check(handle, as_of=as_of, config=config)
