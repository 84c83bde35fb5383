"""``codex db …``: upgrade, downgrade, current, check, digest, verify, review."""

from __future__ import annotations

from pathlib import Path

import typer

from codex.cli._common import cli_errors, echo_json, open_engine
from codex.guards.review import load_metadata, review_schema
from codex.migrate import (
    check_models,
    current_revision,
    downgrade,
    expected_head_schema,
    head_revision,
    read_schema_version,
    upgrade,
    verify_database,
)
from codex.schema import BASELINE_VERSION, baseline_digest_hex, fragment_digests, read_live_schema

__all__ = ["app"]

app = typer.Typer(help="Schema and migrations of the configured database.", no_args_is_help=True)


@app.command("upgrade")
@cli_errors
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Upgrade the database to REVISION (default: head), in one transaction, writing the ledger."""
    with open_engine() as engine, engine.connect() as conn:
        before = current_revision(conn)
        upgrade(conn, revision)
        typer.echo(f"upgraded {before or 'base'} -> {current_revision(conn) or 'base'}")


@app.command("downgrade")
@cli_errors
def downgrade_cmd(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base.")) -> None:
    """Downgrade the database to REVISION."""
    with open_engine() as engine, engine.connect() as conn:
        before = current_revision(conn)
        downgrade(conn, revision)
        typer.echo(f"downgraded {before or 'base'} -> {current_revision(conn) or 'base'}")


@app.command("current")
@cli_errors
def current_cmd() -> None:
    """Print the database's Alembic revision and schema_version."""
    with open_engine() as engine, engine.connect() as conn:
        rev = current_revision(conn)
        head = head_revision()
        typer.echo(f"revision: {rev or 'base'}{' (head)' if rev == head else ''}")
        typer.echo(f"schema_version: {read_schema_version(conn)}")


@app.command("check")
@cli_errors
def check_cmd() -> None:
    """Fail when the models have changes that no migration carries (alembic check)."""
    with open_engine() as engine, engine.connect() as conn:
        ops = check_models(conn)
    if ops:
        typer.echo(
            "models and migrations disagree; write a revision (codex db revision / alembic revision "
            "--autogenerate):",
            err=True,
        )
        for line in ops:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    typer.echo("No new upgrade operations detected.")


@app.command("digest")
@cli_errors
def digest_cmd(
    live: bool = typer.Option(False, "--live", help="Also digest the connected database."),
) -> None:
    """Print the baseline digest, per-fragment digests and the expected head digest (JSON)."""
    out: dict[str, object] = {
        "baseline_version": BASELINE_VERSION,
        "baseline_digest": baseline_digest_hex(),
        "fragments": fragment_digests(),
        "expected_head_digest": expected_head_schema().digest(),
    }
    if live:
        with open_engine() as engine, engine.connect() as conn:
            out["live_digest"] = read_live_schema(conn).digest()
    echo_json(out)


@app.command("verify")
@cli_errors
def verify_cmd() -> None:
    """Print the database's state as JSON; exit 0 only when it is exactly at head."""
    with open_engine() as engine, engine.connect() as conn:
        report = verify_database(conn)
    echo_json(report.as_dict())
    if not report.ok:
        raise typer.Exit(1)


@app.command("review")
@cli_errors
def review_cmd(
    metadata_module: str | None = typer.Option(
        None,
        "--metadata-module",
        help="Module (dotted name or .py file) exposing `metadata`; default: domains.",
    ),
    output: Path | None = typer.Option(None, "--output", help="Also write the Markdown report to FILE."),
    fragments: Path | None = typer.Option(
        None, "--fragments", help="Committed fragment digests; default: contracts/db/baseline-fragments.yaml."
    ),
) -> None:
    """Print a Markdown schema review for a PR; exit 0 clean, 1 safe changes pending, 2 destructive.

    The models are compared with the migrations on a scratch in-memory database upgraded to head
    (no configured database is touched), and destructive changes are linted.

    Example: ``codex db review --output schema-review.md``
    """
    metadata = load_metadata(metadata_module) if metadata_module else None
    report = review_schema(metadata, source=metadata_module, fragments_file=fragments)
    text = report.markdown()
    if output is not None:
        output.write_text(text, encoding="utf-8")
    typer.echo(text, nl=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
