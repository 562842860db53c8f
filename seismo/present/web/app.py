"""The web app behind ``seismo serve``: two pages, their JSON twins, and the report.

============================  ===============================================
``GET /``                     the business view (what needs attention, key
                              figures, customer groups, fairness)
``GET /api/overview``         the same view as JSON
``GET /engineering``          statistics behind each alert, metric tables
                              (``?metric=…&attribute=…``), model versions
``GET /api/engineering``      the same view as JSON
``GET /report.html``          the business view as one self-contained file
``GET /healthz``              ``{"ok": true}`` once the server answers
============================  ===============================================

Every page reads one :class:`~seismo.present.web.snapshot.Snapshot`, computed
when the data version moves and kept in memory otherwise. Pages carry a
Content-Security-Policy that allows no script at all: they need none, and a
value that escaped escaping still could not run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from seismo.present.web.render import render_page, render_report, to_json
from seismo.present.web.snapshot import SnapshotCache
from seismo.present.web.views import engineering, overview

__all__ = ["CSP", "create_app", "serve"]

#: No script, no remote anything: styles are inline, charts inline SVG.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


def create_app(
    store: str | None = None,
    *,
    as_of: datetime | None = None,
    cache: SnapshotCache | None = None,
) -> FastAPI:
    """The dashboard app over ``store`` (a DuckDB path or database URL; None: the default)."""
    snapshots = cache or SnapshotCache(store, as_of=as_of)
    # No /docs or /redoc: FastAPI serves them with JavaScript from a CDN.
    app = FastAPI(title="seismo", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.snapshots = snapshots

    @app.get("/", response_class=HTMLResponse)
    def business_page() -> HTMLResponse:
        view = overview(snapshots.get())
        return HTMLResponse(render_page("overview.html.j2", view), headers=_HEADERS)

    @app.get("/api/overview")
    def business_json() -> JSONResponse:
        return JSONResponse(to_json(overview(snapshots.get())))

    @app.get("/engineering", response_class=HTMLResponse)
    def engineering_page(
        metric: str | None = Query(None), attribute: str | None = Query(None)
    ) -> HTMLResponse:
        view = engineering(snapshots.get(), metric=metric, attribute=attribute)
        return HTMLResponse(render_page("engineering.html.j2", view), headers=_HEADERS)

    @app.get("/api/engineering")
    def engineering_json(
        metric: str | None = Query(None), attribute: str | None = Query(None)
    ) -> JSONResponse:
        view = engineering(snapshots.get(), metric=metric, attribute=attribute)
        return JSONResponse(to_json(view))

    @app.get("/report.html")
    def report_file() -> Response:
        snap = snapshots.get()
        name = f"seismo-report-{snap.as_of:%Y-%m-%d}.html"
        headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return HTMLResponse(render_report(snap), headers=headers)

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        return {"ok": True}

    return app


def serve(
    store: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    as_of: datetime | None = None,
) -> None:
    """Run the dashboard with Uvicorn until interrupted; the first check starts at once."""
    import uvicorn

    cache = SnapshotCache(store, as_of=as_of)
    app = create_app(cache=cache)
    cache.warm()
    uvicorn.run(app, host=host, port=port, log_level="info")
