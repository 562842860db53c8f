"""``seismo serve``'s /v1 API against a real DuckDB store: batches in every format, refusals.

Each test sends through the real app (Starlette's test client runs the ASGI
app in process) and reads the store afterwards: what a 2xx said was added is
there, and a refused request (bad rows, no token, a revoked or read token,
an oversized body) changed nothing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from seismo.alerts.planned import list_planned
from seismo.present.web.api_v1 import ApiSettings
from seismo.present.web.app import create_app
from seismo.simulate import Scenario, simulate
from seismo.store import open_store
from seismo.store.tokens import add_token, revoke_token

CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
JSONL = "application/x-ndjson"


@pytest.fixture(scope="module")
def export() -> pa.Table:
    return simulate(Scenario(days=3, per_day=400, seed=3, reference_days=1)).export


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = str(tmp_path_factory.mktemp("api") / "s.duckdb")
    with open_store(path) as handle:
        tokens = {s: add_token(handle.engine, scope=s)[1] for s in ("read", "write", "admin")}
        tokens["revoked"] = add_token(handle.engine, scope="write", name="old")[1]
        revoke_token(handle.engine, "old")
    app = create_app(path, api=ApiSettings(max_body=2_000_000))
    with TestClient(app) as client:
        yield {"path": path, "client": client, "tokens": tokens}


def _counts(path: str) -> tuple[int, int, int]:
    with open_store(path) as handle:
        return handle.count("predictions"), handle.count("outcomes"), handle.count("batches")


def _post(
    served: dict[str, Any],
    body: bytes,
    media: str,
    *,
    route: str = "predictions",
    token: str | None = "write",
    **headers: str,
) -> Any:
    sent = {"Content-Type": media, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {served['tokens'].get(token, token)}"
    return served["client"].post(f"/v1/{route}", content=body, headers=sent)


def _csv(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pacsv.write_csv(table, out)
    return out.getvalue()


def _arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _jsonl(table: pa.Table) -> bytes:
    def text(v: Any) -> Any:
        return v.isoformat() if hasattr(v, "isoformat") else v

    rows = ({k: text(v) for k, v in r.items()} for r in table.to_pylist())
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.mark.parametrize(
    ("media", "encode", "part"),
    [(CSV, _csv, 0), (JSONL, _jsonl, 1), (PARQUET, _parquet, 2), (ARROW, _arrow, 3)],
)
def test_each_format_lands_as_file_ingest_would(
    served: dict[str, Any], export: pa.Table, media: str, encode: Any, part: int
) -> None:
    rows = export.slice(part * 200, 200)
    before = _counts(served["path"])
    answer = _post(served, encode(rows), media)
    assert answer.status_code == 200, answer.text
    ack = answer.json()
    assert ack["shape"] == "flat" and ack["rows"] == 200 and not ack["already_ingested"]
    assert ack["predictions_added"] == 200
    after = _counts(served["path"])
    assert after[0] - before[0] == 200 and after[1] - before[1] == ack["outcomes_added"] > 0
    ids = rows.column("recommendation_id").to_pylist()
    with open_store(served["path"]) as handle:
        stored = handle.engine.query(
            "SELECT prediction_id, score, model_version, batch_id FROM predictions"
            f" WHERE prediction_id IN ({', '.join('?' * len(ids))}) ORDER BY prediction_id",
            ids,
        )
    expected = sorted(zip(ids, rows.column("score").to_pylist(), strict=True))
    assert [(p, pytest.approx(s)) for p, s, _, _ in stored] == expected
    assert {b for *_, b in stored} == {ack["batch_id"]}
    # the same body again adds nothing, and says so
    again = _post(served, encode(rows), media).json()
    assert again["already_ingested"] and again["batch_id"] == ack["batch_id"]
    assert _counts(served["path"]) == after


def test_a_bad_row_is_named_and_nothing_is_written(
    served: dict[str, Any], export: pa.Table
) -> None:
    rows = export.slice(1000, 50)
    prices = rows.column("price_eur").to_pylist()
    prices[6] = "cheap"
    bad = rows.set_column(
        rows.schema.get_field_index("price_eur"), "price_eur", pa.array(map(str, prices))
    )
    before = _counts(served["path"])
    answer = _post(served, _csv(bad), CSV)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["row"] == 7 and problem["line"] == 8 and problem["column"] == "price_eur"
    assert problem["reason"] == "expected a number" and problem["value"] == "cheap"
    assert "row 7 (line 8), column 'price_eur'" in problem["error"]
    assert _counts(served["path"]) == before
    broken = b'{"recommendation_id": "x1"}\n{"recommendation_id": \n'
    answer = _post(served, broken, JSONL)
    assert answer.status_code == 422 and answer.json()["line"] == 2
    assert _counts(served["path"]) == before


def test_an_idempotency_key_names_the_batch(served: dict[str, Any], export: pa.Table) -> None:
    rows = export.slice(1100, 30)
    key = {"Idempotency-Key": "order-7"}
    first = _post(served, _arrow(rows), ARROW, **key).json()
    assert first["predictions_added"] == 30 and not first["already_ingested"]
    before = _counts(served["path"])
    again = _post(served, _arrow(rows), ARROW, **key).json()
    assert again["already_ingested"] and again["batch_id"] == first["batch_id"]
    # the same key with another body is refused, and writes nothing
    other = _post(served, _arrow(export.slice(1130, 30)), ARROW, **key)
    assert other.status_code == 422 and "another body" in other.json()["error"]
    assert _counts(served["path"]) == before
    # the same rows under a new key are a new batch that adds nothing new
    renamed = _post(served, _arrow(rows), ARROW, **{"Idempotency-Key": "order-8"}).json()
    assert renamed["batch_id"] != first["batch_id"] and renamed["predictions_added"] == 0
    assert _counts(served["path"])[:2] == before[:2]


def test_outcome_events_need_an_outcome_mapping(served: dict[str, Any], export: pa.Table) -> None:
    answer = _post(served, _csv(export.slice(1200, 5)), CSV, route="outcomes")
    assert answer.status_code == 422 and "[outcomes]" in answer.json()["error"]


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("revoked", 401), ("not-a-token", 401), ("read", 403)]
)
def test_writes_need_a_write_token(
    served: dict[str, Any], export: pa.Table, token: str | None, status: int
) -> None:
    before = _counts(served["path"])
    answer = _post(served, _csv(export.slice(1300, 10)), CSV, token=token)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    secret = served["tokens"].get(token, token)
    headers = {} if token is None else {"Authorization": f"Bearer {secret}"}
    body = {"from": "2026-05-12", "note": "campaign", "for": "1d"}
    for route in ("alerts/0123456789ab/ack", "alerts/0123456789ab/silence", "annotations"):
        sent = served["client"].post(f"/v1/{route}", json=body, headers=headers)
        assert sent.status_code == status, (route, sent.text)
    assert _counts(served["path"]) == before
    with open_store(served["path"]) as handle:
        assert "campaign" not in [c.note for c in list_planned(handle.engine)]


def test_an_admin_token_writes_too_and_state_changes_answer(served: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {served['tokens']['admin']}"}
    client = served["client"]
    note = client.post(
        "/v1/annotations", json={"from": "2026-05-12", "note": "summer sale"}, headers=auth
    )
    assert note.status_code == 200 and note.json()["note"] == "summer sale"
    unknown = client.post("/v1/alerts/0123456789ab/ack", json={"by": "ana"}, headers=auth)
    assert unknown.status_code == 422 and "no alert" in unknown.json()["error"]


def test_oversized_bodies_get_413_and_write_nothing(served: dict[str, Any]) -> None:
    before = _counts(served["path"])
    big = b"recommendation_id,timestamp\n" + b"r1,2026-05-12T00:00:00Z\n" * 100_000
    assert _post(served, big, CSV).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b"recommendation_id,timestamp\n"
        for _ in range(200):
            yield b"r1,2026-05-12T00:00:00Z\n" * 1000

    sent = served["client"].post(
        "/v1/predictions",
        content=chunks(),
        headers={"Content-Type": CSV, "Authorization": f"Bearer {served['tokens']['write']}"},
    )
    assert sent.status_code == 413
    assert _post(served, b"a,b\n1,2\n", "application/xml").status_code == 415
    assert _counts(served["path"]) == before


def test_the_spec_is_served_without_docs_pages(served: dict[str, Any]) -> None:
    client = served["client"]
    spec = client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/v1/predictions"]["post"]
    assert {CSV, JSONL, PARQUET, ARROW} <= set(post["requestBody"]["content"])
    assert {"200", "401", "403", "413", "415", "422"} <= set(post["responses"])
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404


def test_read_pages_can_need_a_read_token(tmp_path: Path) -> None:
    path = str(tmp_path / "closed.duckdb")
    with open_store(path) as handle:
        read = add_token(handle.engine, scope="read")[1]
        write = add_token(handle.engine, scope="write")[1]
    with TestClient(create_app(path, api=ApiSettings(protect_reads=True))) as client:
        assert client.get("/api/overview").status_code == 401
        assert client.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/openapi.json").status_code == 200
        opened = client.get("/api/overview", headers={"Authorization": f"Bearer {read}"})
        assert opened.status_code == 200
        # The sign-in form stays open; a browser signed in with a write token reads the pages.
        nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/signin").text)
        assert nonce is not None
        form = {"nonce": nonce.group(1), "token": write}
        signed = client.post("/signin", data=form, headers={"origin": "http://testserver"})
        assert signed.status_code == 200 and "Signed in as" in signed.text
        assert client.get("/api/overview").status_code == 200
