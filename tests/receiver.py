"""A real HTTP receiver for notifications, on 127.0.0.1 in a thread.

Paths: ``/ok`` answers 200; ``/flaky`` answers 500 the first time it sees a
notification (by its ``notification_id``) and 200 after; ``/down`` always
500; ``/slow`` 200 after 0.1 s (so two senders overlap). Every body received
is kept per path, in arrival order.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str = ""
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self, path: str) -> list[str]:
        """The notification ids received on ``path``, in arrival order."""
        with self.lock:
            return [body["notification_id"] for body in self.received[path]]


@contextmanager
def receiving() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                seen = [b.get("notification_id") for b in state.received[self.path]]
                state.received[self.path].append(body)
            status = 200
            if self.path == "/down" or (
                self.path == "/flaky" and body.get("notification_id") not in seen
            ):
                status = 500
            if self.path == "/slow":
                time.sleep(0.1)
            reply = b"ok" if status == 200 else b"try again later"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
