"""Load over HTTP into a DuckDB store: sustained rate, acknowledgement latency, kill -9.

Usage::

    python bench/bench_http_ingest.py                           # 10,000 rows/s for 60 s
    python bench/bench_http_ingest.py --seconds 30 --kill-after 12   # kill -9 mid-load

It simulates the seed scenario (flat rows: a prediction with its click,
purchase and return columns), starts ``seismo serve`` on a fresh DuckDB store
in its own process, and sends the rows from this process over 127.0.0.1 in
batches (Arrow IPC by default, ``--format parquet``), each named by an
``Idempotency-Key``, paced to ``--rate`` rows a second by ``--clients``
connections. Every send is bounded (count: ``rate × seconds`` rows; time:
the run plus a minute; each request 120 s). It reports the rate acknowledged
and the latency of acknowledgements (p50, p95, p99, max). While it loads,
``--readers`` runs ``seismo status`` from a third process now and then and
reports how long it took (DuckDB lets readers in between two requests).

With ``--kill-after S`` the server is killed with SIGKILL S seconds in,
restarted at once, and the senders go on; batches that were not
acknowledged are sent again. Before that re-send, every acknowledged batch
must be in the store, whole; after it, the store must hold every row once.

At the end the store is compared with what was sent: the number of rows,
and per prediction id the time, version, score and every outcome column
(``Store.flat``, the inverse of ingesting the flat rows). One JSON line per
phase; the last one sums up.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seismo.config import RECOMMENDATIONS
from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.tokens import add_token

ROOT = Path(__file__).resolve().parents[1]

MEDIA = {
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
COMPARED = ("timestamp", "model_version", "score", "clicked", "purchased", "returned")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _encode(table: pa.Table, fmt: str) -> bytes:
    if fmt == "parquet":
        out = io.BytesIO()
        pq.write_table(table, out)
        return out.getvalue()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class Server:
    """``seismo serve`` in its own process."""

    def __init__(self, store: str, log: Path) -> None:
        self.store, self.log = store, log
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        began = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "seismo", "serve", "--store", self.store]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], env=env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                con.request("GET", "/healthz")
                if con.getresponse().status == 200:
                    return time.perf_counter() - began
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"seismo serve did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


@dataclass
class Sent:
    """What the senders saw."""

    acked: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _send(port: int, token: str, body: bytes, key: str, media: str) -> tuple[int, dict[str, Any]]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        con.request(
            "POST",
            "/v1/predictions",
            body=body,
            headers={
                "Content-Type": media,
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": key,
            },
        )
        answer = con.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        con.close()


def load(
    server: Server,
    token: str,
    bodies: list[bytes],
    media: str,
    *,
    rate: float,
    rows: int,
    clients: int,
    kill_after: float | None,
    deadline: float,
) -> tuple[Sent, float, dict[str, Any]]:
    """Send every body, paced; with ``kill_after``, kill -9 and restart the server once."""
    sent = Sent()
    todo: queue.Queue[int | None] = queue.Queue()
    start = time.perf_counter()
    killed: dict[str, Any] = {}
    down = threading.Event()  # set while the server is being restarted
    flying = [0]  # requests sent and not answered yet

    def worker() -> None:
        while True:
            i = todo.get()
            if i is None:
                return
            wait = start + i * rows / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            while down.is_set():
                time.sleep(0.05)
            began = time.perf_counter()
            with sent.lock:
                flying[0] += 1
            try:
                status, answer = _send(server.port, token, bodies[i], f"batch-{i}", media)
            except OSError:
                with sent.lock:
                    sent.failed.add(i)
                    flying[0] -= 1
                continue
            took = time.perf_counter() - began
            with sent.lock:
                flying[0] -= 1
                if status == 200:
                    sent.acked[i] = answer
                    sent.latencies.append(took)
                else:
                    sent.failed.add(i)

    for i in range(len(bodies)):
        todo.put(i)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        todo.put(None)
        t.start()
    if kill_after is not None:
        time.sleep(max(kill_after - (time.perf_counter() - start), 0))
        while True:  # kill while a batch is on its way: its sender gets no answer
            with sent.lock:
                if flying[0]:
                    break
            time.sleep(0.005)
        time.sleep(0.05)
        down.set()
        with sent.lock:
            killed["in_flight_at_kill"] = flying[0]
        server.kill()
        with sent.lock:
            before = len(sent.acked)
        killed["acked_before_kill"] = before
        killed["restart_seconds"] = round(server.start(), 2)
        down.clear()
    for t in threads:
        t.join(timeout=max(deadline - time.perf_counter(), 1))
    return sent, time.perf_counter() - start, killed


def readers(store: str, stop: threading.Event, every: float, out: list[float]) -> None:
    """``seismo status`` from another process now and then, timed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEISMO_LOCK_WAIT": "60"}
    while not stop.wait(every):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "seismo", "status", "--store", store, "--format", "json"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        out.append(time.perf_counter() - began if done.returncode == 0 else float("nan"))


def compare(store: str, sent: pa.Table) -> dict[str, Any]:
    """The store against what was sent: rows, and per id every compared column."""
    with open_store(store) as handle:
        stored = handle.flat(RECOMMENDATIONS)
        counts = handle.count("predictions"), handle.count("outcomes")
        distinct = handle.engine.query("SELECT COUNT(DISTINCT prediction_id) FROM predictions")
    a = sent.sort_by("recommendation_id")
    b = stored.sort_by("recommendation_id")
    same_ids = a.column("recommendation_id").equals(b.column("recommendation_id"))
    differ = {}
    if same_ids:
        for name in COMPARED:
            x, y = a.column(name), b.column(name)
            if name == "timestamp":
                x = x.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
                y = (
                    y.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
                    if y.type.tz
                    else y.cast(pa.int64())
                )
            if pa.types.is_floating(x.type) or pa.types.is_integer(x.type) or name == "timestamp":
                xv = np.asarray(x.cast(pa.float64()).to_numpy(zero_copy_only=False))
                yv = np.asarray(y.cast(pa.float64()).to_numpy(zero_copy_only=False))
                bad = ~((xv == yv) | (np.isnan(xv) & np.isnan(yv)) | np.isclose(xv, yv))
                differ[name] = int(bad.sum())
            else:
                differ[name] = int(
                    (
                        ~np.asarray(x.to_pylist(), object).__eq__(np.asarray(y.to_pylist(), object))
                    ).sum()
                )
    return {
        "rows_sent": sent.num_rows,
        "predictions_stored": counts[0],
        "distinct_ids": int(distinct[0][0]),
        "outcomes_stored": counts[1],
        "same_ids": bool(same_ids),
        "differing_values": differ,
    }


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(np.asarray(values), [0.5, 0.95, 0.99, 1.0]) * 1000
    return {
        f"{k}_ms": round(float(v), 1) for k, v in zip(("p50", "p95", "p99", "max"), q, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10_000, help="rows a second to send")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=2_000, help="rows per request")
    parser.add_argument("--clients", type=int, default=4, help="connections sending at once")
    parser.add_argument("--format", choices=sorted(MEDIA), default="arrow")
    parser.add_argument("--kill-after", type=float, default=None, help="kill -9 after S seconds")
    parser.add_argument("--readers", type=float, default=15, help="seismo status every S (0: off)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    per_day = 20_000
    days = max(total // per_day + 1, 2)
    began = time.perf_counter()
    export = simulate(Scenario(days=days, per_day=per_day, seed=11, reference_days=1)).export
    export = export.slice(0, total)
    batches = [export.slice(i, args.batch) for i in range(0, export.num_rows, args.batch)]
    bodies = [_encode(b, args.format) for b in batches]
    print(
        json.dumps(
            {
                "phase": "prepared",
                "rows": export.num_rows,
                "requests": len(bodies),
                "format": args.format,
                "mb": round(sum(map(len, bodies)) / 1e6, 1),
                "seconds": round(time.perf_counter() - began, 1),
            }
        ),
        flush=True,
    )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="seismo-http-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    store = str(work / "load.duckdb")
    for leftover in (store, store + ".wal"):
        Path(leftover).unlink(missing_ok=True)
    with open_store(store) as handle:
        token = add_token(handle.engine, scope="write", name="bench")[1]
    server = Server(store, work / "serve.log")
    server.start()
    stop, reads = threading.Event(), []
    reader = None
    if args.readers > 0:
        reader = threading.Thread(target=readers, args=(store, stop, args.readers, reads))
        reader.start()
    deadline = time.perf_counter() + args.seconds + 60
    try:
        sent, elapsed, killed = load(
            server,
            token,
            bodies,
            MEDIA[args.format],
            rate=args.rate,
            rows=args.batch,
            clients=args.clients,
            kill_after=args.kill_after,
            deadline=deadline,
        )
        stop.set()
        if reader is not None:
            reader.join(timeout=180)
        acked_rows = sum(batches[i].num_rows for i in sent.acked)
        print(
            json.dumps(
                {
                    "phase": "load",
                    "seconds": round(elapsed, 1),
                    "requests_acked": len(sent.acked),
                    "requests_failed": len(sent.failed - set(sent.acked)),
                    "rows_acked": acked_rows,
                    "rows_per_second": round(acked_rows / elapsed),
                    "outcomes_per_second": round(
                        sum(a["outcomes_added"] for a in sent.acked.values()) / elapsed
                    ),
                    **_quantiles(sent.latencies),
                    "status_seconds": [round(r, 2) for r in reads],
                    **killed,
                }
            ),
            flush=True,
        )
        if killed:
            # every acknowledged batch is in the store, whole, before anything is sent again
            missing = _missing(store, sent, batches)
            retry = sorted(set(range(len(bodies))) - set(sent.acked))
            added = resent_twice = 0
            for i in retry:
                status, answer = _send(
                    server.port, token, bodies[i], f"batch-{i}", MEDIA[args.format]
                )
                assert status == 200, answer
                added += answer["predictions_added"]
            for i in list(sent.acked)[:: max(len(sent.acked) // 20, 1)]:
                status, answer = _send(
                    server.port, token, bodies[i], f"batch-{i}", MEDIA[args.format]
                )
                resent_twice += int(status == 200 and answer["already_ingested"])
            print(
                json.dumps(
                    {
                        "phase": "after kill -9",
                        "acked_batches_missing_rows": missing,
                        "resent_unacked": len(retry),
                        "their_rows_added": added,
                        "their_rows": sum(batches[i].num_rows for i in retry),
                        "acked_resent_answered_already_ingested": resent_twice,
                    }
                ),
                flush=True,
            )
    finally:
        stop.set()
        server.stop()
    result = compare(store, export)
    ok = (
        result["same_ids"]
        and result["predictions_stored"] == result["distinct_ids"] == export.num_rows
        and not any(result["differing_values"].values())
    )
    print(json.dumps({"phase": "compared", **result, "ok": bool(ok)}), flush=True)
    if not ok:
        raise SystemExit(1)


def _missing(store: str, sent: Sent, batches: list[pa.Table]) -> int:
    """Rows of acknowledged batches not in the store (read from this process, between requests)."""
    with open_store(store, wait=60) as handle:
        stored = dict(handle.engine.query("SELECT batch_id, COUNT(*) FROM predictions GROUP BY 1"))
    return sum(
        batches[i].num_rows - stored.get(a["batch_id"], 0)
        for i, a in sent.acked.items()
        if a["predictions_added"]
    )


if __name__ == "__main__":
    main()
