"""The versioned HTTP API of ``seismo serve``: batches in, alert actions, its OpenAPI spec.

=====================================  ==========================================
``POST /v1/predictions``               predictions (with their outcome columns when
                                       the mapping is a flat export's: one batch)
``POST /v1/outcomes``                  outcome events
``POST /v1/batches``                   either, told apart by the columns (as
                                       ``seismo ingest`` does)
``POST /v1/alerts/{id}/ack``           acknowledge an alert
``POST /v1/alerts/{id}/silence``       hold back its notifications a while
``POST /v1/annotations``               record a planned change
``GET /v1/openapi.json``               this API's OpenAPI 3 spec (no docs pages:
                                       those load JavaScript from a CDN)
=====================================  ==========================================

A batch body is CSV, JSON lines, Parquet or Arrow IPC, named by its
``Content-Type`` (:data:`seismo.ingest.read.MEDIA_TYPES`), and goes through
the very path ``seismo ingest`` takes (:func:`seismo.ingest.ingest_source`):
the same checks, a bad batch refused whole with 422 naming row, field and
reason, nothing written. The answer (200, with what was added) comes only
after the batch's transaction committed, so an acknowledged batch survives
a crash of the server. A batch is named by its ``Idempotency-Key`` header,
else by its content: sending it again adds nothing and is answered 200 with
``already_ingested``. A body over the server's limit is refused with 413
before it is read whole.

Every route here needs a bearer token (``seismo token add``): ``write`` for
batches and alert actions. The batches are written one at a time (a DuckDB
store has one writer; on PostgreSQL the store's advisory lock orders them
across processes as well).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from seismo.config import RECOMMENDATIONS, Mapping, parse_duration
from seismo.errors import ConfigError, InputError, RowError, SeismoError, StoreError
from seismo.ingest import ingest_source
from seismo.ingest.read import MEDIA_TYPES, read_bytes
from seismo.store import Store, open_store
from seismo.store.tokens import Token, scope_allows, token_for

__all__ = ["ApiSettings", "Refused", "Writer", "act_as", "authorize", "install", "v1_router"]

T = TypeVar("T")

#: Bodies larger than this get 413 unless ``seismo serve --max-body-mb`` says otherwise.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
_SHAPES = {"predictions": "predictions", "outcomes": "outcomes", "batches": "auto"}


@dataclass(frozen=True)
class ApiSettings:
    """How the API reads batches and whom it lets in."""

    mapping: Mapping = RECOMMENDATIONS
    max_body: int = DEFAULT_MAX_BODY
    #: Whether the pages and their JSON need a ``read`` token too (default: public).
    protect_reads: bool = False


class Refused(Exception):
    """A request answered with an HTTP error and a reason (nothing was changed)."""

    def __init__(self, status: int, error: str, **detail: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


class BatchAck(BaseModel):
    """What one batch added, sent once its transaction committed."""

    batch_id: str
    shape: str = Field(description="flat, predictions or outcomes")
    rows: int
    predictions_added: int
    outcomes_added: int
    already_ingested: bool = Field(description="the batch (its key or content) was stored before")
    conflicts: int = Field(description="re-sent ids whose content differs; the stored are kept")
    quarantined: int


class Problem(BaseModel):
    """Why a request was refused; ``row``, ``column`` and ``value`` name a bad row's field."""

    error: str
    reason: str | None = None
    row: int | None = None
    line: int | None = None
    column: str | None = None
    value: str | None = None


class AckBody(BaseModel):
    by: str | None = Field(
        None, max_length=200, description="who is handling it (default: the token's name)"
    )


class SilenceBody(BaseModel):
    duration: str = Field(alias="for", max_length=40, description="30m, 12h, 7d; 0s lifts it")


class AnnotationBody(BaseModel):
    starts: str = Field(alias="from", max_length=10, description="first day, YYYY-MM-DD")
    ends: str | None = Field(None, alias="to", max_length=10, description="last day")
    note: str = Field(max_length=500)
    segment: dict[str, str] | None = None


class AlertAnswer(BaseModel):
    id: str
    state: str
    acknowledged_by: str | None = None
    silenced_until: str | None = None


class AnnotationAnswer(BaseModel):
    id: str
    note: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not the JSON it should be"},
    401: {"model": Problem, "description": "no token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the token's scope does not allow this"},
    422: {"model": Problem, "description": "refused; nothing was written"},
    503: {"model": Problem, "description": "the store could not be reached"},
}
_BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not the JSON it should be"},
    **_ERRORS,
    413: {"model": Problem, "description": "the body is larger than the server takes"},
    415: {"model": Problem, "description": "a Content-Type the API does not read"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{t: {"schema": {"type": "string"}} for t in ("text/csv", "application/x-ndjson")},
            **{
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("application/vnd.apache.parquet", "application/vnd.apache.arrow.stream")
            },
        },
    }
}


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Refused(401, "this route needs a bearer token: Authorization: Bearer TOKEN")
    return secret.strip()


def authorize(store: Store, secret: str, needed: str) -> Token:
    """The token of ``secret``; refused (401/403) unless active and its scope allows ``needed``."""
    held = token_for(store.engine, secret)
    if held is None:
        raise Refused(401, "unknown or revoked token")
    if not scope_allows(held.scope, needed):
        raise Refused(403, f"a {held.scope} token cannot do this: it needs a {needed} token")
    return held


def act_as(writer: Writer, secret: str, needed: str, action: Callable[[Store, Token], T]) -> T:
    """Run ``action`` through the server's one writer as the holder of ``secret``.

    The token is checked in the same turn as the action (a revoked token is
    refused at once), and a refused action changes nothing. The ``/v1``
    routes and the dashboard's forms (:mod:`.acts`) both act through here.
    """

    def run(handle: Store) -> T:
        held = authorize(handle, secret, needed)
        try:
            return action(handle, held)
        except SeismoError as exc:
            raise _problem(exc) from exc

    try:
        return writer.run(run)
    except SeismoError as exc:  # the store could not be opened
        raise _problem(exc) from exc


def _problem(exc: SeismoError) -> Refused:
    if isinstance(exc, StoreError):
        return Refused(503, str(exc))
    if isinstance(exc, RowError):
        value = None if exc.value is None else str(exc.value)
        return Refused(
            422,
            str(exc),
            reason=exc.reason,
            row=exc.row,
            line=exc.line,
            column=exc.column,
            value=value,
        )
    if isinstance(exc, InputError):
        return Refused(422, str(exc), reason=exc.reason)
    return Refused(422, str(exc))


def refused_response(exc: Refused) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    body = {"error": exc.error, **{k: v for k, v in exc.detail.items() if v is not None}}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def v1_router(store: str | None, settings: ApiSettings, writer: Writer | None = None) -> APIRouter:
    """The ``/v1`` routes over ``store`` (a DuckDB path or database URL)."""
    router = APIRouter(prefix="/v1")
    writer = writer or Writer(store)

    def with_store(secret: str, needed: str, action: Callable[[Store], T]) -> T:
        return act_as(writer, secret, needed, lambda handle, _held: action(handle))

    async def take_batch(
        request: Request, route: str, key: str | None, exported_at: str | None, strict: bool
    ) -> BatchAck:
        secret = _bearer(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise Refused(
                415, f"Content-Type {media or 'missing'}: send one of {sorted(MEDIA_TYPES)}"
            )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body:
            raise Refused(413, f"the body ({int(length):,} bytes) is over {settings.max_body:,}")
        body = await _read_body(request, settings.max_body)
        moment = _moment(exported_at)
        if key is not None and (not 1 <= len(key) <= 255 or not key.isprintable()):
            raise Refused(422, "Idempotency-Key: 1 to 255 printable characters")
        recorded = f"http sha256:{hashlib.sha256(body).hexdigest()}"
        batch_id = None
        if key is not None:
            named = f"idempotency-key\0{key}\0{settings.mapping!r}"
            batch_id = hashlib.sha256(named.encode()).hexdigest()[:32]

        def write(handle: Store) -> BatchAck:
            if batch_id is not None:
                sent = handle.engine.query(
                    f"SELECT source FROM batches WHERE batch_id = {handle.engine.param()}",
                    (batch_id,),
                )
                if sent and sent[0][0] != recorded:
                    raise Refused(
                        422,
                        f"Idempotency-Key {key!r} was sent before with another body; nothing"
                        " was written (a key names one batch: use a new key for new data)",
                    )
            source = read_bytes(body, media, name="body")
            shape = _shape(route, settings.mapping, source.table.column_names)
            r = ingest_source(
                handle,
                source,
                mapping=settings.mapping,
                exported_at=moment,
                shape=shape,
                strict=strict,
                batch_id=batch_id,
                source_name=recorded,
            )
            return BatchAck(
                batch_id=r.batch_id,
                shape=r.shape,
                rows=r.rows,
                predictions_added=r.predictions_added,
                outcomes_added=r.outcomes_added,
                already_ingested=r.already_ingested,
                conflicts=r.conflicts,
                quarantined=r.quarantined,
            )

        return await run_in_threadpool(with_store, secret, "write", write)

    def batch_route(route: str) -> Callable[..., Any]:
        async def endpoint(
            request: Request,
            idempotency_key: str | None = Header(
                None, description="names the batch (else its content does)", max_length=255
            ),
            exported_at: str | None = Query(
                None,
                description="when a flat export was made (ISO 8601; default: its newest time)",
                json_schema_extra={"format": "date-time"},
            ),
            strict: bool = Query(False, description="refuse re-sent ids with other content"),
        ) -> Any:
            return await take_batch(request, route, idempotency_key, exported_at, strict)

        return endpoint

    for route in _SHAPES:
        router.add_api_route(
            f"/{route}",
            batch_route(route),
            methods=["POST"],
            response_model=BatchAck,
            responses=_BATCH_ERRORS,
            openapi_extra=_BODY,
            summary=f"Send a batch of {route}" if route != "batches" else "Send a batch",
            name=f"post_{route}",
        )

    @router.post(
        "/alerts/{alert_id}/ack", response_model=AlertAnswer, responses=_ERRORS, name="ack_alert"
    )
    async def ack_alert(request: Request, alert_id: str, body: AckBody | None = None) -> Any:
        from seismo.alerts.store import acknowledge

        secret = _bearer(request)
        by = body.by if body else None
        now = datetime.now(UTC).replace(tzinfo=None)
        alert = await run_in_threadpool(
            act_as,
            writer,
            secret,
            "write",
            lambda h, held: acknowledge(h.engine, alert_id, by=by or held.who, at=now),
        )
        return _alert(alert)

    @router.post(
        "/alerts/{alert_id}/silence",
        response_model=AlertAnswer,
        responses=_ERRORS,
        name="silence_alert",
    )
    async def silence_alert(request: Request, alert_id: str, body: SilenceBody) -> Any:
        from seismo.alerts.store import silence

        secret = _bearer(request)
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            length = parse_duration(body.duration)
        except SeismoError as exc:
            raise _problem(exc) from exc
        alert = await run_in_threadpool(
            with_store,
            secret,
            "write",
            lambda h: silence(h.engine, alert_id, until=now + length, at=now),
        )
        return _alert(alert)

    @router.post(
        "/annotations", response_model=AnnotationAnswer, responses=_ERRORS, name="annotate"
    )
    async def annotate(request: Request, body: AnnotationBody) -> Any:
        from seismo.alerts.planned import add_planned

        secret = _bearer(request)
        first = _day(body.starts, "from")
        last = _day(body.ends, "to") if body.ends else first
        change = await run_in_threadpool(
            with_store,
            secret,
            "write",
            lambda h: add_planned(
                h.engine, starts=first, ends=last, note=body.note, segment=body.segment
            ),
        )
        return AnnotationAnswer(id=change.id, note=change.note)

    spec: dict[str, Any] = {}

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        if not spec:
            spec.update(
                get_openapi(
                    title="seismo API",
                    version="1",
                    description=__doc__.split("\n\n")[0] if __doc__ else None,
                    routes=router.routes,
                )
            )
        return JSONResponse(spec)

    return router


class Writer:
    """The server's one writer: batches one at a time, the store kept open while more wait.

    Whatever else the server writes (a scheduled check) can take its turn
    through :meth:`run` too (``app.state.writer``), so writes never race.

    Opening and closing a DuckDB file costs tens of milliseconds (closing
    checkpoints it), so while other requests are queued the store stays
    open from one to the next; it is closed as soon as none waits, or when
    a reader in another process asked for a turn
    (:func:`seismo.store.serving.give_way`), which it then gets.
    """

    def __init__(self, store: str | None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0
        self._open: Store | None = None

    def run(self, action: Callable[[Store], T]) -> T:
        from seismo.store.serving import give_way, turn_wanted

        with self._count:
            self._waiting += 1
        with self._lock:
            with self._count:
                self._waiting -= 1
            if self._open is not None and turn_wanted(self.store):
                self._close()
            if self._open is None:
                give_way(self.store)
                self._open = open_store(self.store)
            try:
                result = action(self._open)
            except BaseException:
                self._close()  # a failed write may leave the connection in a bad state
                raise
            with self._count:
                more = self._waiting > 0
            if not more or turn_wanted(self.store):
                self._close()
            return result

    def _close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None


def install(app: FastAPI, store: str | None, settings: ApiSettings) -> None:
    """Add the ``/v1`` routes to ``app``, and the answer every refusal gets."""
    app.state.writer = Writer(store)
    app.include_router(v1_router(store, settings, app.state.writer))

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        return refused_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        if not request.url.path.startswith("/v1/"):  # the pages keep FastAPI's answer
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        said = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return refused_response(Refused(422, said, column=where or None))

    if not settings.protect_reads:
        return

    def check_read(secret: str) -> None:
        try:
            handle = open_store(store)
        except SeismoError as exc:
            raise _problem(exc) from exc
        with handle:
            authorize(handle, secret, "read")

    def signed_in(request: Request) -> bool:
        """A browser signed in on the dashboard (:mod:`.acts`) holds a write token: it reads."""
        from seismo.present.web.acts import session_of

        return getattr(request.app.state, "sessions", None) is not None and (
            session_of(request) is not None
        )

    @app.middleware("http")
    async def _reads(request: Request, call_next: Callable[[Request], Any]) -> Any:
        path = request.url.path
        if (
            not path.startswith("/v1/")
            and path not in ("/healthz", "/signin")
            and not signed_in(request)
        ):
            try:
                await run_in_threadpool(check_read, _bearer(request))
            except Refused as exc:
                return refused_response(exc)
        return await call_next(request)


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the body is over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(422, f"exported_at {text!r}: expected ISO 8601") from exc
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _day(text: str, field: str) -> datetime:
    try:
        return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time())
    except ValueError as exc:
        raise Refused(422, f"{field} must be a day, YYYY-MM-DD, not {text!r}") from exc


def _shape(route: str, mapping: Mapping, columns: list[str]) -> str:
    """The shape a route reads: a predictions batch is a flat export's when it has outcomes."""
    shape = _SHAPES[route]
    if shape != "predictions":
        return shape
    if mapping.predictions is None:
        raise ConfigError("the server's mapping has no [predictions] section")
    names = {oc.value for oc in mapping.outcome_columns}
    return "flat" if names & set(columns) else "predictions"


def _alert(alert: Any) -> AlertAnswer:
    until = alert.silenced_until
    return AlertAnswer(
        id=alert.id,
        state=alert.state,
        acknowledged_by=alert.acknowledged_by,
        silenced_until=None if until is None else until.isoformat() + "Z",
    )
