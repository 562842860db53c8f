"""``seismo token``: create, list and revoke the HTTP API's bearer tokens.

A thin layer over :mod:`seismo.store.tokens`. ``add`` prints the token once
(on standard output, alone on its line, so ``TOKEN=$(seismo token add ...)``
works); the store keeps only its hash. These commands work while
``seismo serve`` runs: they are one short transaction each, and the server
reads the tokens afresh on every request, so a revoked token is refused at
once.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from seismo.errors import SeismoError
from seismo.present.console import Format, StoreOpt, emit, safe
from seismo.store.read import Store
from seismo.store.tokens import SCOPES, add_token, list_tokens, revoke_token

__all__ = ["token_app"]

token_app = typer.Typer(
    name="token",
    help="Bearer tokens for seismo serve's API: add (printed once), list, revoke.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)


def _open(store: str | None) -> Store:
    from seismo.store import open_store

    return open_store(store)


def _fail(exc: SeismoError) -> None:
    _err.print(f"[bold red]error:[/] {safe(exc)}", highlight=False)
    raise typer.Exit(2)


@token_app.command("add")
def add_command(
    scope: Annotated[str, typer.Option(help=f"One of {', '.join(SCOPES)}.")],
    name: Annotated[str | None, typer.Option(help="What it is for: 'serving-system'.")] = None,
    store: StoreOpt = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    try:
        with _open(store) as handle:
            token, secret = add_token(handle.engine, scope=scope, name=name)
    except SeismoError as exc:
        _fail(exc)
        return
    _err.print(
        f"{token.scope} token {token.id}{f' ({safe(name)})' if name else ''}: shown once, keep it"
        " (send it as Authorization: Bearer TOKEN)",
        highlight=False,
    )
    typer.echo(secret)


@token_app.command("list")
def list_command(
    store: StoreOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Every token (never its secret): id, name, scope, created, revoked."""
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format must be table, json or csv, not {fmt!r}")
    output: Format = fmt  # type: ignore[assignment]
    try:
        with _open(store) as handle:
            tokens = list_tokens(handle.engine)
    except SeismoError as exc:
        _fail(exc)
        return
    rows = [
        {
            "id": t.id,
            "name": t.name or "",
            "scope": t.scope,
            "created_at": t.created_at.isoformat() + "Z",
            "revoked_at": "" if t.revoked_at is None else t.revoked_at.isoformat() + "Z",
        }
        for t in tokens
    ]
    emit(rows, output, title="Tokens")


@token_app.command("revoke")
def revoke_command(
    which: Annotated[str, typer.Argument(help="The token's id (4+ characters) or name.")],
    store: StoreOpt = None,
) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    try:
        with _open(store) as handle:
            token = revoke_token(handle.engine, which)
    except SeismoError as exc:
        _fail(exc)
        return
    _err.print(f"revoked {token.scope} token {token.id}", highlight=False)
