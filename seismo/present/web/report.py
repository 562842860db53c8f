"""``seismo report``: the business view as one HTML file that can be mailed.

The file is the served page's business view, rendered from the same view
function, with its stylesheet and charts inline and no script, so it opens
anywhere without a network. It carries no wall-clock time: the same store
and ``as_of`` give the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from seismo.detect.change import DetectConfig
from seismo.present.web.render import render_report
from seismo.present.web.snapshot import Snapshot, compute_snapshot
from seismo.store import Store, open_store

__all__ = ["ReportResult", "write_report"]


@dataclass(frozen=True)
class ReportResult:
    """What was written: the file, its size, and the check it shows."""

    path: Path
    bytes: int
    snapshot: Snapshot


def write_report(
    out: str | os.PathLike[str],
    *,
    store: str | Store | None = None,
    as_of: datetime | None = None,
    detect: DetectConfig | None = None,
) -> ReportResult:
    """Run a check on ``store`` as of ``as_of`` (syncing the alerts) and write the report.

    ``store`` is an open :class:`~seismo.store.Store` (left open) or where to
    open one. The sync notifies nobody; its notifications wait in the outbox
    for the next ``seismo check`` with routes (:mod:`seismo.alerts.outbox`).
    """
    path = Path(out)
    if isinstance(store, Store):
        snap = compute_snapshot(store, as_of=as_of, detect=detect)
    else:
        with open_store(store) as handle:
            snap = compute_snapshot(handle, as_of=as_of, detect=detect)
    html = render_report(snap)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = html.encode("utf-8")
    path.write_bytes(data)
    return ReportResult(path=path, bytes=len(data), snapshot=snap)
