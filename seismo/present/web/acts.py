"""The dashboard acts: sign in with a write token, then acknowledge, silence and annotate.

==================================  ===========================================
``GET /signin``                     the sign-in form: paste a ``write`` token
``POST /signin``                    check it, open a session, back to the page
``POST /signout``                   close the session
``POST /act/alerts/{id}/ack``       acknowledge an alert (recorded as by the
                                    token's name, as ``seismo alerts ack --by``)
``POST /act/alerts/{id}/silence``   hold back its notifications (``for``: 1h,
                                    1d, 7d…; ``0s`` lifts a silence)
``POST /act/annotations``           record a planned change (``from``, ``to``,
                                    ``note``, optional ``segment`` pairs)
==================================  ===========================================

Plain HTML forms, no script (the pages' Content-Security-Policy allows
none): every form posts, and the answer is a redirect back to the page,
which says what happened at its top. The actions call the very functions
``seismo alerts`` and ``/v1`` call (:func:`~seismo.alerts.store.acknowledge`,
:func:`~seismo.alerts.store.silence`, :func:`~seismo.alerts.planned.add_planned`),
through the server's one writer and :func:`~.api_v1.act_as`, which checks
the token in the same turn: a token revoked meanwhile is refused at once.

**Sessions** are opaque and kept in the server's memory: the cookie
(``seismo_session``: HttpOnly, SameSite=Strict, Secure over HTTPS) holds a
random id, never the token, which stays in memory only. A session ends at
sign-out, after :data:`IDLE` without use, when its token is refused, or
when the server restarts.

**CSRF.** A post is refused with 403, changing nothing, unless its
``Origin`` (or, without one, its ``Referer``) is this server's own, and its
hidden ``csrf`` field holds the session's own random value (compared in
constant time). The sign-in form, before any session, carries a value that
must match a short-lived cookie set with it (a double submit). Without a
session an action is refused with 401, and the pages show no form, only
"sign in to act". Behind a proxy that ends TLS, the proxy must pass the
scheme on (Uvicorn's ``--proxy-headers``), or no post matches the origin.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from seismo.config import parse_duration
from seismo.errors import SeismoError
from seismo.present.web.api_v1 import Refused, Writer, _day, act_as
from seismo.store import Store
from seismo.store.tokens import Token, scope_allows

__all__ = ["COOKIE", "Session", "Sessions", "acts_router", "page_acts", "respond"]

T = TypeVar("T")

COOKIE = "seismo_session"
_ANCHOR = re.compile(r"#alert-[0-9a-f]{4,12}")
SIGNIN_COOKIE = "seismo_signin"
#: A session unused this long (seconds) ends.
IDLE = 12 * 3600
#: Sessions kept at most (the least recently used go first).
MOST = 1024
#: Form bodies larger than this are refused (a note is at most 500 characters).
MAX_FORM = 16 * 1024
#: What the silence menu offers (any duration ``seismo alerts silence --for`` takes works).
DURATIONS = (
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("3d", "3 days"),
    ("7d", "7 days"),
)
#: Stand-ins in a drawn page, filled per request: pages are drawn once per snapshot and
#: kept, the session's banner and CSRF value are not. Random per process, so no data
#: value can spell them.
CSRF_SLOT = "csrf-" + secrets.token_hex(12)
BANNER_SLOT = "<!--seismo-session-" + secrets.token_hex(12) + "-->"
MESSAGE_SLOT = "<!--seismo-message-" + secrets.token_hex(12) + "-->"


@dataclass
class Session:
    """One signed-in browser: its token (in memory only), its CSRF value, its last message."""

    id: str
    secret: str
    who: str
    scope: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    used: float = field(default_factory=time.monotonic)
    #: ("ok" or "error", text) shown once, at the top of the next page.
    message: tuple[str, str] | None = None


class Sessions:
    """The open sessions, by cookie value; thread-safe, bounded, forgetting idle ones."""

    def __init__(self, idle: float = IDLE, most: int = MOST) -> None:
        self.idle, self.most = idle, most
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Session] = OrderedDict()

    def open(self, secret: str, token: Token) -> Session:
        session = Session(secrets.token_urlsafe(32), secret, token.who, token.scope)
        with self._lock:
            self._open[session.id] = session
            while len(self._open) > self.most:
                self._open.popitem(last=False)
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._open.get(sid)
            if session is None:
                return None
            if now - session.used > self.idle:
                del self._open[sid]
                return None
            session.used = now
            self._open.move_to_end(sid)
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._open.pop(sid or "", None)


def page_acts(signed_in: bool) -> dict[str, Any]:
    """What a page's templates need to draw the forms (the CSRF value is a slot)."""
    return {
        "signed_in": signed_in,
        "csrf": CSRF_SLOT,
        "banner": Markup(BANNER_SLOT),
        "message": Markup(MESSAGE_SLOT),
        "durations": DURATIONS,
    }


def session_of(request: Request) -> Session | None:
    sessions: Sessions = request.app.state.sessions
    return sessions.get(request.cookies.get(COOKIE))


def respond(
    html: str, request: Request, session: Session | None, headers: dict[str, str]
) -> Response:
    """A drawn page, with this session's banner (and message, shown once) and CSRF value."""
    message = None
    if session is not None:
        message, session.message = session.message, None
    filled = html.replace(BANNER_SLOT, _banner(request, session)).replace(
        MESSAGE_SLOT, _message(message)
    )
    if session is not None:
        filled = filled.replace(CSRF_SLOT, session.csrf)
    extra = {"Cache-Control": "no-store"} if session is not None else {}
    return HTMLResponse(filled, headers={**headers, **extra})


def _banner(request: Request, session: Session | None) -> str:
    here = escape(_path(request))
    if session is None:
        link = f"/signin?next={quote(_path(request), safe='')}"
        return f'<p class="session"><a href="{escape(link)}">Sign in to act</a></p>'
    return (
        f'<form class="session" method="post" action="/signout">'
        f"<span>Signed in as <b>{escape(session.who)}</b></span>"
        f'<input type="hidden" name="csrf" value="{session.csrf}">'
        f'<input type="hidden" name="next" value="{here}">'
        f'<button type="submit">Sign out</button></form>'
    )


def _message(message: tuple[str, str] | None) -> str:
    """What the last action did (or why it was refused), shown once."""
    if message is None:
        return ""
    kind, text = message
    role = "alert" if kind == "error" else "status"
    return f'<p class="act-message {kind}" role="{role}">{escape(text)}</p>'


def _path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _next(text: str | None) -> str:
    """A page of this server to go back to (never another site: ``//x`` or ``/\\x`` is not)."""
    text = (text or "/").strip()
    if not text.startswith("/") or text.startswith(("//", "/\\")) or any(c < " " for c in text):
        return "/"
    return text


def _own_origin(request: Request) -> bool:
    """Whether the post comes from a page of this server (``Origin``, else ``Referer``)."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() == own


def _refusal(status: int, text: str, back: str = "/") -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Refused · seismo</title>"
        f"<h1>{status}: refused</h1><p>{escape(text)}</p>"
        f'<p><a href="{escape(back)}">Back to the dashboard</a> · '
        f'<a href="/signin?next={escape(quote(back, safe=""))}">Sign in</a></p></html>'
    )
    from seismo.present.web.app import HEADERS

    return HTMLResponse(body, status_code=status, headers=HEADERS)


async def _form(request: Request) -> dict[str, list[str]]:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM:
            raise Refused(413, f"the form is over {MAX_FORM:,} bytes")
        chunks.append(chunk)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise Refused(415, "a form post is application/x-www-form-urlencoded")
    try:
        text = b"".join(chunks).decode()
        return parse_qs(text, keep_blank_values=True, max_num_fields=40)
    except ValueError as exc:
        raise Refused(400, f"the form could not be read: {exc}") from exc


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _segment(texts: list[str]) -> dict[str, str] | None:
    out = {}
    for text in (t.strip() for t in texts):
        if not text:
            continue
        attribute, sep, value = text.partition("=")
        if not sep or not attribute.strip() or not value.strip():
            raise Refused(422, f"a group is ATTRIBUTE=VALUE, not {text!r}")
        out[attribute.strip()] = value.strip()
    return out or None


def acts_router(writer: Writer) -> APIRouter:
    """The sign-in and the forms' routes, acting through ``writer`` (``app.state.writer``)."""
    router = APIRouter(include_in_schema=False)

    async def checked(request: Request) -> tuple[Session, dict[str, list[str]]] | Response:
        """The session and form of an action post, or the refusal (nothing changed)."""
        if not _own_origin(request):
            return _refusal(403, "this form was not sent from a page of this dashboard")
        session = session_of(request)
        if session is None:
            return _refusal(401, "sign in with a write token to act from the dashboard")
        try:
            form = await _form(request)
        except Refused as exc:
            return _refusal(exc.status, exc.error)
        if not hmac.compare_digest(_one(form, "csrf").encode(), session.csrf.encode()):
            return _refusal(403, "this form's CSRF check failed: reload the page and try again")
        return session, form

    async def perform(
        request: Request,
        done: Callable[[T], str],
        action: Callable[[Store, Token, dict[str, list[str]]], T],
        anchor: str = "",
    ) -> Response:
        got = await checked(request)
        if isinstance(got, Response):
            return got
        session, form = got
        back = _next(_one(form, "next"))
        try:
            result = await run_in_threadpool(
                act_as, writer, session.secret, "write", lambda h, t: action(h, t, form)
            )
        except Refused as exc:
            if exc.status == 401:  # revoked meanwhile: the session ends with its token
                request.app.state.sessions.close(session.id)
                return _refusal(401, f"{exc.error}: sign in again", back)
            session.message = ("error", exc.error)
        else:
            session.message = ("ok", done(result))
        return RedirectResponse(
            back + (anchor if _ANCHOR.fullmatch(anchor) else ""), status_code=303
        )

    @router.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request, next: str = "/") -> Response:
        from seismo.present.web.app import HEADERS
        from seismo.present.web.render import render_page

        nonce = secrets.token_urlsafe(24)
        html = render_page(
            "signin.html.j2",
            {"page": "signin", "next": _next(next), "nonce": nonce, "error": None},
        )
        response = HTMLResponse(html, headers={**HEADERS, "Cache-Control": "no-store"})
        _set_cookie(request, response, SIGNIN_COOKIE, nonce, max_age=900, path="/signin")
        return response

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        if not _own_origin(request):
            return _refusal(403, "this form was not sent from a page of this dashboard")
        try:
            form = await _form(request)
        except Refused as exc:
            return _refusal(exc.status, exc.error)
        back = _next(_one(form, "next"))
        nonce = request.cookies.get(SIGNIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(_one(form, "nonce").encode(), nonce.encode()):
            return _refusal(403, "this sign-in form's CSRF check failed: open it again", back)
        secret = _one(form, "token").strip()
        if not secret:
            return _refusal(401, "paste a write token (seismo token add --scope write)", back)

        def holder(handle: Store, held: Token) -> Token:
            return held

        try:
            token = await run_in_threadpool(act_as, writer, secret, "read", holder)
        except Refused as exc:
            return _refusal(exc.status, exc.error, back)
        if not scope_allows(token.scope, "write"):
            return _refusal(
                403, f"a {token.scope} token cannot act: sign in with a write token", back
            )
        session = request.app.state.sessions.open(secret, token)
        session.message = ("ok", f"Signed in as {token.who}.")
        response = RedirectResponse(back, status_code=303)
        _set_cookie(request, response, COOKIE, session.id, max_age=IDLE)
        response.delete_cookie(SIGNIN_COOKIE, path="/signin")
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        got = await checked(request)
        if isinstance(got, Response):
            return got
        session, form = got
        request.app.state.sessions.close(session.id)
        response = RedirectResponse(_next(_one(form, "next")), status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.post("/act/alerts/{alert_id}/ack")
    async def ack(request: Request, alert_id: str) -> Response:
        from seismo.alerts.store import acknowledge

        now = datetime.now(UTC).replace(tzinfo=None)
        return await perform(
            request,
            lambda a: f"Alert {a.id} acknowledged by {a.acknowledged_by}.",
            lambda h, t, _f: acknowledge(h.engine, alert_id, by=t.who, at=now),
            f"#alert-{alert_id}",
        )

    @router.post("/act/alerts/{alert_id}/silence")
    async def silence_route(request: Request, alert_id: str) -> Response:
        from seismo.alerts.store import silence

        now = datetime.now(UTC).replace(tzinfo=None)

        def act(h: Store, _t: Token, form: dict[str, list[str]]) -> Any:
            try:
                length = parse_duration(_one(form, "for"))
            except SeismoError as exc:
                raise Refused(422, str(exc)) from exc
            return silence(h.engine, alert_id, until=now + length, at=now)

        def said(a: Any) -> str:
            if a.silenced_until is None or a.silenced_until <= now:
                return f"Alert {a.id}: silence lifted."
            return f"Alert {a.id} silenced until {a.silenced_until:%Y-%m-%d %H:%M} UTC."

        return await perform(request, said, act, f"#alert-{alert_id}")

    @router.post("/act/annotations")
    async def annotate(request: Request) -> Response:
        from seismo.alerts.planned import add_planned

        def act(h: Store, _t: Token, form: dict[str, list[str]]) -> Any:
            first = _day(_one(form, "from").strip(), "from")
            last_text = _one(form, "to").strip()
            last = _day(last_text, "to") if last_text else first
            group = _segment(form.get("segment", [])) if _one(form, "for") != "everyone" else None
            return add_planned(
                h.engine, starts=first, ends=last, note=_one(form, "note"), segment=group
            )

        def said(c: Any) -> str:
            whom = ", ".join(f"{k}={v}" for k, v in (c.segment or {}).items()) or "everyone"
            days = f"{c.starts:%Y-%m-%d} to {c.ends:%Y-%m-%d}"
            return f"Planned change {c.id} recorded: {c.note} ({days}, {whom})."

        return await perform(request, said, act)

    return router


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def install_acts(app: FastAPI) -> None:
    """Add the sign-in and action routes to ``app`` (after :func:`.api_v1.install`)."""
    app.state.sessions = Sessions()
    app.include_router(acts_router(app.state.writer))
