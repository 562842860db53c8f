"""Send a file to a running ``seismo serve`` (``seismo ingest --server URL``), by the stdlib.

The body is the file's bytes as they are, so the server names the batch by
the same content hash ``seismo ingest FILE`` would: sending a file through
the server and then directly (or again) adds nothing the second time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from seismo.errors import InputError, SeismoError, StoreError

__all__ = ["post_file"]

_ROUTES = {"auto": "batches", "flat": "predictions", "predictions": "predictions"}


def post_file(
    server: str,
    path: Path,
    *,
    token: str,
    shape: str = "auto",
    exported_at: str | None = None,
    strict: bool = False,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """POST one CSV or Parquet file as one batch; return the server's acknowledgement."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from exc
    media = "application/vnd.apache.parquet" if body[:4] == b"PAR1" else "text/csv"
    query = {k: v for k, v in {"exported_at": exported_at, "strict": strict}.items() if v}
    route = _ROUTES.get(shape, "outcomes")
    url = f"{server.rstrip('/')}/v1/{route}"
    if query:
        url += "?" + urllib.parse.urlencode({k: str(v).lower() for k, v in query.items()})
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": media, "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        try:
            said = json.loads(exc.read()).get("error", "")
        except ValueError:
            said = ""
        said = said.removeprefix("body: ")
        if exc.code == 422:
            raise InputError(said or "refused", source=str(path)) from exc
        raise SeismoError(f"{path}: the server answered {exc.code}: {said or exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"cannot reach seismo serve at {server}: {reason}") from exc
