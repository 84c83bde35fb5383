"""``codex db upgrade | downgrade | stamp | current``: moving a database along the chain."""

from __future__ import annotations

import typer

from codex.cli._common import cli_errors
from codex.cli.db._app import app, chain_ready, database
from codex.migrate import (
    check_not_ahead,
    current_revision,
    downgrade,
    head_schema_version,
    read_schema_version,
    require_known_revision,
    stamp,
    upgrade,
)

__all__ = ["current_cmd", "downgrade_cmd", "stamp_cmd", "upgrade_cmd"]

_POSITIONAL_DASH = {
    "ignore_unknown_options": True
}  # `codex db downgrade -1`: -1 is a revision, not an option


@app.command("upgrade")
@cli_errors
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision (default: head).")) -> None:
    """Upgrade the database to REVISION in one transaction, writing schema_version and the ledger."""
    chain_ready()
    with database(create=True) as conn:
        before = require_known_revision(conn)
        check_not_ahead(conn, head_schema_version())
        conn.rollback()
        upgrade(conn, revision)
        typer.echo(f"upgraded {before or 'base'} -> {current_revision(conn) or 'base'}")


@app.command("downgrade", context_settings=_POSITIONAL_DASH)
@cli_errors
def downgrade_cmd(
    revision: str = typer.Argument(..., help="Target: -1 (one step), base, or a revision."),
) -> None:
    """Downgrade the database to REVISION (``-1``, ``-2``, ``base`` or a revision id)."""
    chain_ready()
    with database() as conn:
        before = require_known_revision(conn)
        downgrade(conn, revision)
        typer.echo(f"downgraded {before or 'base'} -> {current_revision(conn) or 'base'}")


@app.command("stamp")
@cli_errors
def stamp_cmd(
    revision: str = typer.Argument(..., help="The revision to record (head, base or an id)."),
    force: bool = typer.Option(False, "--force", help="Stamp even though the live schema differs."),
) -> None:
    """Record REVISION without running migrations; refused when the live schema is not that revision's."""
    chain_ready()
    with database() as conn:
        stamp(conn, revision, force=force)
        typer.echo(f"stamped {current_revision(conn) or 'base'}")


@app.command("current")
@cli_errors
def current_cmd() -> None:
    """Print the database's Alembic revision and schema_version."""
    head = chain_ready()
    with database() as conn:
        rev = require_known_revision(conn)
        typer.echo(f"revision: {rev or 'base'}{' (head)' if rev == head else ''}")
        typer.echo(f"schema_version: {read_schema_version(conn)}")
