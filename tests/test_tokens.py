"""API tokens on both engines: shown once, stored as a hash, scoped, revoked; and their commands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seismo.cli import app
from seismo.errors import ConfigError
from seismo.store import Store, open_store
from seismo.store.tokens import add_token, check_token, list_tokens, revoke_token


def test_a_token_is_stored_as_its_hash_and_revoked(store: Store) -> None:
    token, secret = add_token(store.engine, scope="write", name="feeder")
    assert secret.startswith("seismo_") and len(secret) > 40
    rows = store.engine.query("SELECT * FROM api_tokens")
    assert secret not in json.dumps(rows, default=str)
    assert hashlib.sha256(secret.encode()).hexdigest() in json.dumps(rows, default=str)
    assert check_token(store.engine, secret) == "write"
    assert check_token(store.engine, secret + "x") is None
    with pytest.raises(ConfigError, match="already named"):
        add_token(store.engine, scope="read", name="feeder")
    with pytest.raises(ConfigError, match="scope"):
        add_token(store.engine, scope="root")
    revoked = revoke_token(store.engine, "feeder")
    assert revoked.id == token.id and revoked.revoked_at is not None
    assert check_token(store.engine, secret) is None
    assert [t.active for t in list_tokens(store.engine)] == [False]
    with pytest.raises(ConfigError, match="no active token"):
        revoke_token(store.engine, token.id)


def test_token_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    path = str(tmp_path / "t.duckdb")
    added = runner.invoke(
        app, ["token", "add", "--scope", "read", "--name", "pages", "--store", path]
    )
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1]
    listed = runner.invoke(app, ["token", "list", "--store", path, "--format", "json"])
    [row] = json.loads(listed.stdout)
    assert row["name"] == "pages" and row["scope"] == "read" and secret not in listed.stdout
    assert runner.invoke(app, ["token", "revoke", row["id"][:6], "--store", path]).exit_code == 0
    with open_store(path) as handle:
        assert check_token(handle.engine, secret) is None
    bad = runner.invoke(app, ["token", "add", "--scope", "everything", "--store", path])
    assert bad.exit_code == 2 and "scope" in bad.output
