"""The dashboard and the static report: what a merchandising team reads, and the detail behind it.

``seismo serve`` runs :func:`serve` (FastAPI + Uvicorn), ``seismo report``
runs :func:`write_report`. Layout, following the pipeline's last step::

    snapshot.py   one check per data version (metrics, exposure, findings, alerts), cached
    context.py    a snapshot regrouped: series per metric × segment, launch and recent periods
    figures.py    days across model versions, pooled periods, maturity ("38% still to come")
    views.py      the page data: business overview and engineering view (also the JSON twins)
    breakdown.py  segment heat tables, small multiples, fairness across groups
    charts.py     inline SVG: sparklines and line charts, dashed where provisional
    humanize.py   numbers and dates rounded for people
    render.py     Jinja2 (autoescaped) templates → HTML
    prometheus.py GET /metrics: the snapshot in Prometheus's exposition format
    schedule.py   scheduled checks: seismo serve runs seismo check itself
    app.py        the FastAPI routes; report.py the self-contained file

The app module is imported lazily: the report needs Jinja2 but not FastAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from seismo.present.web.report import ReportResult, write_report
from seismo.present.web.snapshot import Snapshot, SnapshotCache, compute_snapshot
from seismo.present.web.views import engineering, overview

if TYPE_CHECKING:
    from fastapi import FastAPI

    from seismo.detect.change import DetectConfig
    from seismo.present.web.api_v1 import ApiSettings
    from seismo.present.web.schedule import CheckSchedule
    from seismo.present.web.snapshot import SnapshotCache as _Cache

__all__ = [
    "ReportResult",
    "Snapshot",
    "SnapshotCache",
    "compute_snapshot",
    "create_app",
    "engineering",
    "overview",
    "serve",
    "write_report",
]


def create_app(
    store: str | None = None,
    *,
    as_of: datetime | None = None,
    cache: _Cache | None = None,
    allowed_hosts: tuple[str, ...] = (),
    api: ApiSettings | None = None,
) -> FastAPI:
    """The dashboard's FastAPI app (see :func:`seismo.present.web.app.create_app`)."""
    from seismo.present.web.app import create_app as build

    return build(store, as_of=as_of, cache=cache, allowed_hosts=allowed_hosts, api=api)


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
    """Serve the dashboard until interrupted (see :func:`seismo.present.web.app.serve`)."""
    from seismo.present.web.app import serve as run

    run(
        store,
        host=host,
        port=port,
        as_of=as_of,
        detect=detect,
        allowed_hosts=allowed_hosts,
        api=api,
        schedule=schedule,
        config=config,
    )
