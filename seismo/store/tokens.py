"""API tokens: who may write to the store over HTTP, and who may read it when reads are closed.

A token is printed once, when it is created, and never stored: the
``api_tokens`` table keeps its SHA-256, a short id to name it by, a name,
its scope and when it was created and revoked. Both engines keep it next
to the other seismo tables. A token of a wider scope does what a narrower
one does::

    read   < write   < admin
    pages    ingest,   (every route; reserved for
             ack,      administrative routes)
             silence,
             annotate

>>> scope_allows("admin", "write"), scope_allows("read", "write")
(True, False)
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from seismo.errors import ConfigError
from seismo.store.engine import Engine

__all__ = [
    "SCOPES",
    "Token",
    "add_token",
    "check_token",
    "list_tokens",
    "revoke_token",
    "scope_allows",
    "token_for",
]

SCOPES = ("read", "write", "admin")
#: Every token starts so, which tells a leaked one apart in logs and secret scanners.
PREFIX = "seismo_"

DDL = (
    "CREATE TABLE IF NOT EXISTS api_tokens (token_id VARCHAR PRIMARY KEY, name VARCHAR,"
    " scope VARCHAR NOT NULL, token_sha256 VARCHAR NOT NULL UNIQUE, created_at TIMESTAMP,"
    " revoked_at TIMESTAMP)"
)


@dataclass(frozen=True)
class Token:
    """A stored token (never its secret)."""

    id: str
    name: str | None
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def who(self) -> str:
        """How an action done with it is recorded: its name, else its id."""
        return self.name or f"token {self.id}"


def scope_allows(held: str, needed: str) -> bool:
    """Whether a token of scope ``held`` may do what needs ``needed``."""
    return SCOPES.index(held) >= SCOPES.index(needed)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_token(engine: Engine, *, scope: str, name: str | None = None) -> tuple[Token, str]:
    """Create a token; return it and its secret (shown once: only its hash is stored)."""
    if scope not in SCOPES:
        raise ConfigError(f"scope {scope!r}: use one of {', '.join(SCOPES)}")
    if name is not None and any(t.name == name and t.active for t in list_tokens(engine)):
        raise ConfigError(f"an active token is already named {name!r}: revoke it or pick another")
    secret = PREFIX + secrets.token_urlsafe(32)
    digest = _digest(secret)
    token = Token(
        id=digest[:12],
        name=name,
        scope=scope,
        created_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        revoked_at=None,
    )
    p = engine.param()
    with engine.transaction():
        engine.execute(
            "INSERT INTO api_tokens (token_id, name, scope, token_sha256, created_at)"
            f" VALUES ({p}, {p}, {p}, {p}, {p})",
            (token.id, name, scope, digest, token.created_at),
        )
    return token, secret


def list_tokens(engine: Engine) -> list[Token]:
    """Every token, revoked ones too, oldest first."""
    rows = engine.query(
        "SELECT token_id, name, scope, created_at, revoked_at FROM api_tokens"
        " ORDER BY created_at, token_id"
    )
    return [Token(str(i), n, str(s), c, r) for i, n, s, c, r in rows]


def revoke_token(engine: Engine, which: str) -> Token:
    """Revoke the active token of this id (or unique id prefix of 4+ characters) or name."""
    active = [t for t in list_tokens(engine) if t.active]
    found = [t for t in active if t.name == which] or (
        [t for t in active if t.id.startswith(which)] if len(which) >= 4 else []
    )
    if not found:
        raise ConfigError(f"no active token with id or name {which!r} (seismo token list)")
    if len(found) > 1:
        raise ConfigError(f"{which!r} names {len(found)} tokens: give more of the id")
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    p = engine.param()
    with engine.transaction():
        engine.execute(
            f"UPDATE api_tokens SET revoked_at = {p} WHERE token_id = {p}", (at, found[0].id)
        )
    t = found[0]
    return Token(t.id, t.name, t.scope, t.created_at, at)


def token_for(engine: Engine, secret: str) -> Token | None:
    """The active token with this secret, or None when it is unknown or revoked."""
    rows = engine.query(
        "SELECT token_id, name, scope, created_at, revoked_at FROM api_tokens"
        f" WHERE token_sha256 = {engine.param()} AND revoked_at IS NULL",
        (_digest(secret),),
    )
    return Token(str(rows[0][0]), rows[0][1], str(rows[0][2]), rows[0][3], None) if rows else None


def check_token(engine: Engine, secret: str) -> str | None:
    """The scope of this active token, or None when it is unknown or revoked."""
    held = token_for(engine, secret)
    return None if held is None else held.scope


def any_tokens(engine: Engine) -> bool:
    """Whether any token was ever created (the server says so when none was)."""
    return bool(engine.query("SELECT 1 FROM api_tokens LIMIT 1"))
