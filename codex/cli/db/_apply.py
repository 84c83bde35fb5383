"""``codex db upgrade | downgrade | stamp | current``: moving a database along the chain.

``upgrade --sql [FROM:]TO`` and ``downgrade --sql FROM:TO`` print the SQL script of that range instead
of running it, and touch no database (none is opened, created or contacted).
"""

from __future__ import annotations

import io

import typer
from alembic import command
from alembic.script import ScriptDirectory

from codex.cli._common import cli_errors
from codex.cli.db._app import app, chain_ready, database
from codex.errors import SchemaError
from codex.migrate import (
    alembic_config,
    check_not_ahead,
    current_revision,
    downgrade,
    head_schema_version,
    read_schema_version,
    require_known_revision,
    script_directory,
    stamp,
    upgrade,
)
from codex.migrate._alembic import ALEMBIC_LOCK
from codex.migrate._chain import chain_errors

__all__ = ["current_cmd", "downgrade_cmd", "offline_range", "stamp_cmd", "upgrade_cmd"]

_POSITIONAL_DASH = {
    "ignore_unknown_options": True
}  # `codex db downgrade -1`: -1 is a revision, not an option


_SQL_HELP = "Print the SQL script for the range instead of running it; no database is opened or created."


def _range_end(script: ScriptDirectory, name: str, role: str) -> str:
    """One end of an offline range as a full revision id, or ``base``."""
    if name == "base":
        return name
    if name.startswith(("-", "+")) or "@" in name:
        raise SchemaError(f"--sql range: {role} {name!r} is relative; name a revision id, head or base")
    with chain_errors(f"--sql range: {role} {name!r}"):
        found = script.get_revisions(name)
    if len(found) != 1 or found[0] is None:
        raise SchemaError(f"--sql range: {role} {name!r} names {len(found)} revisions; name exactly one")
    return found[0].revision


def _ancestry(script: ScriptDirectory, revision: str) -> set[str]:
    if revision == "base":
        return set()
    with chain_errors():
        return {sc.revision for sc in script.walk_revisions(base="base", head=revision)}


def offline_range(text: str, *, upgrading: bool) -> str:
    """Check an offline range ``[FROM:]TO`` (``FROM:TO`` for a downgrade) and resolve both ends.

    Returns:
        ``"FROM:TO"`` with full revision ids (``base`` as is).

    Raises:
        SchemaError: Malformed range, unknown or relative revision, or ends in the wrong order.
    """
    parts = text.split(":")
    if len(parts) > 2 or any(not part.strip() for part in parts):
        example = "head, or 0003:head" if upgrading else "head:0003"
        raise SchemaError(f"malformed revision range {text!r}: expected [FROM:]TO, e.g. {example}")
    if len(parts) == 1:
        if not upgrading:
            raise SchemaError(
                "downgrade --sql needs a range FROM:TO (the script cannot read the database's revision), "
                "e.g. head:0003"
            )
        parts = ["base", parts[0]]
    script = script_directory()
    start, end = _range_end(script, parts[0].strip(), "FROM"), _range_end(script, parts[1].strip(), "TO")
    older, newer = (start, end) if upgrading else (end, start)
    if older != "base" and older not in _ancestry(script, newer):
        order = "an upgrade goes from an older revision to a newer one"
        if not upgrading:
            order = "a downgrade goes from a newer revision to an older one"
        other = "downgrade" if upgrading else "upgrade"
        raise SchemaError(
            f"--sql range {text!r}: {older} is not an ancestor of {newer}, and {order} "
            f"(the other direction is `codex db {other} --sql {start}:{end}`)"
        )
    return f"{start}:{end}"


def _print_script(verb: str, revision_range: str) -> None:
    """Run Alembic offline for ``revision_range`` and print the script (nothing on failure)."""
    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buffer
    with ALEMBIC_LOCK, chain_errors():
        getattr(command, verb)(cfg, revision_range, sql=True)
    typer.echo(buffer.getvalue(), nl=False)


def _no_range(revision: str) -> None:
    if ":" in revision:
        raise SchemaError(
            f"a revision range ({revision!r}) needs --sql: online runs start at the database's revision"
        )


@app.command("upgrade")
@cli_errors
def upgrade_cmd(
    revision: str = typer.Argument("head", help="Target revision (default: head); with --sql, [FROM:]TO."),
    sql: bool = typer.Option(False, "--sql", help=_SQL_HELP),
) -> None:
    """Upgrade the database to REVISION in one transaction, writing schema_version and the ledger.

    With ``--sql``, print the script of ``[FROM:]TO`` (FROM defaults to base, an empty database)
    instead: foreign keys off, one transaction, schema_version and ledger rows included. Run it whole
    (e.g. ``libsql_experimental.connect(path).executescript(script)``) on a database at FROM; if it
    stops part-way the transaction stays open: roll back.
    """
    chain_ready()
    if sql:
        _print_script("upgrade", offline_range(revision, upgrading=True))
        return
    _no_range(revision)
    with database(create=True) as conn:
        before = require_known_revision(conn)
        check_not_ahead(conn, head_schema_version())
        conn.rollback()
        upgrade(conn, revision)
        typer.echo(f"upgraded {before or 'base'} -> {current_revision(conn) or 'base'}")


@app.command("downgrade", context_settings=_POSITIONAL_DASH)
@cli_errors
def downgrade_cmd(
    revision: str = typer.Argument(
        ..., help="Target: -1 (one step), base, or a revision; with --sql, FROM:TO."
    ),
    sql: bool = typer.Option(False, "--sql", help=_SQL_HELP),
) -> None:
    """Downgrade the database to REVISION (``-1``, ``-2``, ``base`` or a revision id).

    With ``--sql``, print the script of the range ``FROM:TO`` (e.g. ``head:0003``) instead.
    """
    chain_ready()
    if sql:
        _print_script("downgrade", offline_range(revision, upgrading=False))
        return
    _no_range(revision)
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
