"""Time the dashboard on a large store: the check once, then the pages it serves.

Usage::

    python bench/bench_page.py --rows 1000000

Builds (once, kept under ``bench/out/``) a DuckDB store holding the seed
scenario at about ``--rows`` recommendations, ingested day by day (the same
store as ``bench/bench_metrics.py``). Then starts the real dashboard
(``seismo serve``'s app under Uvicorn, on a free local port) and measures, over
HTTP as a browser would fetch them:

* ``check``: the first request, which computes the snapshot (one check: the
  metrics, exposure, drift and findings) and draws the business page;
* ``business_first``: the business page drawn fresh from that snapshot (the
  drawn-page cache is cleared first), what a page costs after a check;
* ``business``: the business page again (median of ``--repeat`` loads);
* ``engineering`` and ``overview_json``: the engineering page and the JSON
  twin, drawn fresh from the snapshot.

Prints JSON lines with seconds and the page size; the issue's bar is the
business page under 2 s once the check has run.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(base: str, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import uvicorn
    from bench_metrics import bench_store

    from seismo.present.web.app import create_app

    path = bench_store(args.rows)

    app = create_app(str(path))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    pages = app.state.pages
    try:
        base = f"http://127.0.0.1:{port}"
        seconds, size = _fetch(base, "/")
        snap = app.state.snapshots.get()
        print(
            json.dumps(
                {
                    "step": "check",
                    "seconds": round(seconds, 2),
                    "snapshot_seconds": round(snap.seconds, 2),
                    "predictions": snap.predictions,
                    "metric_rows": snap.metrics.num_rows,
                }
            ),
            flush=True,
        )
        for step, url in (
            ("business_first", "/"),
            ("engineering", "/engineering"),
            ("overview_json", "/api/overview"),
        ):
            pages.clear()
            seconds, size = _fetch(base, url)
            print(json.dumps({"step": step, "seconds": round(seconds, 3), "bytes": size}))
        times = [_fetch(base, "/")[0] for _ in range(args.repeat)]
        print(
            json.dumps({"step": "business", "median_seconds": round(statistics.median(times), 4)})
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
