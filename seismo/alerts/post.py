"""One HTTP POST with one deadline, no redirects: how a webhook is called.

A webhook that answers slowly must not hold a check: the deadline covers the
whole exchange (connecting, sending, the status line, headers and the first
kilobyte of the body), not each socket read, so a receiver dripping a byte a
second is cut off at the deadline like one that never answers. A redirect is
not followed: following a 302 turns a POST into a body-less GET that the
receiver would "accept", and a webhook URL that moved should be fixed in the
config, so a 3xx is a failed delivery that says where it pointed.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Refused", "post"]


def _proxy_for(url: str, scheme: str) -> str | None:
    """The proxy the environment names for ``url`` (``https_proxy``, ``no_proxy``), if any."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(urlsplit(url).hostname or ""):
        return None
    return proxy


@dataclass
class Refused(Exception):
    """The receiver answered, but not with a 2xx."""

    status: int
    reason: str
    body: str = ""
    location: str | None = None

    def __str__(self) -> str:
        words = f"HTTP {self.status} {self.reason}"
        if self.location:
            words += f", redirecting to {self.location} (not followed: fix the route's url)"
        return words + (f": {self.body}" if self.body else "")


def post(url: str, data: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST ``data`` to ``url``; the status, or :class:`Refused`, ``TimeoutError``, ``OSError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"not an http(s) URL: {url}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = _proxy_for(url, parts.scheme)
    if proxy is None:
        conn = kind(parts.hostname, parts.port, timeout=deadline)
    elif parts.scheme == "https":  # through the proxy's CONNECT tunnel
        via = urlsplit(proxy)
        conn = kind(via.hostname or "", via.port, timeout=deadline)
        conn.set_tunnel(parts.hostname, parts.port)
    else:  # a plain-HTTP proxy takes the absolute URL
        via = urlsplit(proxy)
        conn = http.client.HTTPConnection(via.hostname or "", via.port, timeout=deadline)
        target = url
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            conn.request("POST", target, body=data, headers=headers)
            response = conn.getresponse()
            body = response.read(1024)
            location = response.getheader("Location")
            outcome["answer"] = (response.status, response.reason, body, location)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=exchange, name="seismo-webhook", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        sock = conn.sock
        if sock is not None:  # unblock the worker's read; it ends on its own
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        raise TimeoutError(f"no complete answer within {deadline:g} s")
    conn.close()
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
            raise TimeoutError(f"no complete answer within {deadline:g} s") from error
        raise error
    status, reason, body, location = outcome["answer"]
    if not 200 <= status < 300:
        text = body.decode("utf-8", "replace").strip()[:300]
        raise Refused(int(status), str(reason), text, location if 300 <= status < 400 else None)
    return int(status)
