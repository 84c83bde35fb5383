"""``codex vault …``: the secrets vault (a satellite store with its own file, schema and engine).

The vault's location comes from ``VOX_SECRETS_VAULT_PATH`` / ``VOX_SECRETS_VAULT_URL`` (default
``.vox/clavis_vault.db``) and its key from ``VOX_SECRETS_VAULT_KEY``, both from the environment only.
Values never travel on the command line: ``put`` reads the value from stdin (or a hidden prompt on a
terminal), ``get`` prints it on stdout.
"""

from __future__ import annotations

import base64
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from codex.cli._common import cli_errors, echo_json
from codex.config import DbConfig, environ_with_file, resolve_db_config
from codex.errors import CodexError, InvalidInput
from codex.satellites.vault import SecretsVault, open_vault

__all__ = ["app"]

app = typer.Typer(help="The secrets vault: encrypted, versioned, audited secrets.", no_args_is_help=True)

ACCOUNT = typer.Option("default", "--account", help="The account whose secrets to use.")


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"


def _main_config() -> DbConfig | None:
    try:
        return resolve_db_config(environ_with_file(os.environ))
    except CodexError:
        return None  # no usable main store: nothing the vault could collide with


@contextmanager
def _vault() -> Iterator[SecretsVault]:
    vault = open_vault(main=_main_config())
    try:
        yield vault
    finally:
        vault.dispose()


def _read_value(keep_newline: bool) -> bytes:
    if sys.stdin.isatty():
        return getpass.getpass("value (hidden): ").encode("utf-8")
    data = sys.stdin.buffer.read()
    if not keep_newline:
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
    return data


@app.command("init")
@cli_errors
def init_cmd() -> None:
    """Create the vault (its own file and baseline) if needed; print its location and schema state."""
    with _vault() as vault:
        status = vault.status()
    echo_json({"source": vault.config.source, **status.as_dict()})
    if not status.ok:
        raise typer.Exit(1)


@app.command("put")
@cli_errors
def put_cmd(
    name: str = typer.Argument(..., help="The secret's name."),
    account: str = ACCOUNT,
    keep_newline: bool = typer.Option(False, "--keep-newline", help="Keep a trailing newline of stdin."),
) -> None:
    """Store a new version of NAME; the value is read from stdin, never from the command line."""
    value = _read_value(keep_newline)
    if not value:
        raise InvalidInput("refusing to store an empty value (nothing on stdin)")
    with _vault() as vault, vault.session(account=account, actor=_actor()) as secrets:
        info = secrets.put(name, value)
    typer.echo(f"stored {name} version {info.current_version}")


@app.command("get")
@cli_errors
def get_cmd(
    name: str = typer.Argument(..., help="The secret's name."),
    version: int | None = typer.Option(None, help="A specific version (default: the current one)."),
    profile: str | None = typer.Option(None, help="Read this profile's override when there is one."),
    account: str = ACCOUNT,
) -> None:
    """Print the value of NAME on stdout."""
    with _vault() as vault, vault.session(account=account, actor=_actor()) as secrets:
        value = secrets.get(name, version=version, profile=profile)
    try:
        typer.echo(value.text)
    except UnicodeDecodeError:
        sys.stdout.buffer.write(value.plaintext)
        sys.stdout.flush()


@app.command("list")
@cli_errors
def list_cmd(
    account: str = ACCOUNT,
    prefix: str | None = typer.Option(None, help="Only names starting with this."),
) -> None:
    """List secret names and versions as JSON (never values)."""
    with _vault() as vault, vault.session(account=account, actor=_actor()) as secrets:
        rows = secrets.list(prefix=prefix)
    echo_json(
        [
            {
                "name": r.secret_id,
                "version": r.current_version,
                "rotation_epoch": r.rotation_epoch,
                "updated_by": r.updated_by,
                "updated_at_ms": r.updated_at_ms,
            }
            for r in rows
        ]
    )


@app.command("delete")
@cli_errors
def delete_cmd(name: str = typer.Argument(..., help="The secret's name."), account: str = ACCOUNT) -> None:
    """Delete NAME with all its versions, overrides and delegations."""
    with _vault() as vault, vault.session(account=account, actor=_actor()) as secrets:
        secrets.delete(name)
    typer.echo(f"deleted {name}")


@app.command("keygen")
def keygen_cmd() -> None:
    """Print a new random 32-byte key (base64) for VOX_SECRETS_VAULT_KEY."""
    typer.echo(base64.b64encode(os.urandom(32)).decode("ascii"))
