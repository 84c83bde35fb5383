"""``codex db check | digest | verify | review | paths``: looking at the schema without changing it."""

from __future__ import annotations

from pathlib import Path

import typer

from codex.cli._common import cli_errors, db_config, echo_json
from codex.cli.db._app import app, chain_ready, database
from codex.errors import ConfigError
from codex.guards.review import (
    FORMATS,
    database_present,
    describe_database,
    load_metadata,
    open_inspected,
    render,
    review_schema,
)
from codex.migrate import (
    alembic_ini_path,
    check_models,
    expected_head_schema,
    migrations_dir,
    require_known_revision,
    verify_database,
)
from codex.schema import (
    BASELINE_VERSION,
    baseline_digest_hex,
    baseline_dir,
    fragment_digests,
    read_live_schema,
)

__all__ = ["check_cmd", "digest_cmd", "paths_cmd", "review_cmd", "verify_cmd"]


@app.command("check")
@cli_errors
def check_cmd() -> None:
    """Fail (exit 1) when domains/ has changes that no revision carries (alembic check)."""
    chain_ready()
    ops = check_models()
    if ops:
        typer.echo(
            'models and migrations disagree; write a revision: codex db revision --autogenerate -m "…"',
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
    chain_ready()
    out: dict[str, object] = {
        "baseline_version": BASELINE_VERSION,
        "baseline_digest": baseline_digest_hex(),
        "fragments": fragment_digests(),
        "expected_head_digest": expected_head_schema().digest(),
    }
    if live:
        with database() as conn:
            out["live_digest"] = read_live_schema(conn).digest()
    echo_json(out)


@app.command("verify")
@cli_errors
def verify_cmd() -> None:
    """Print the database's state as JSON; exit 0 only when it is exactly at head (1 otherwise)."""
    chain_ready()
    with database() as conn:
        require_known_revision(conn)
        report = verify_database(conn)
    echo_json(report.as_dict())
    if not report.ok:
        raise typer.Exit(1)


@app.command("review")
@cli_errors
def review_cmd(
    base: str | None = typer.Option(
        None,
        "--base",
        metavar="REV",
        help="Review the revisions after REV (what a PR adds), without a database.",
    ),
    fmt: str = typer.Option("markdown", "--format", help="markdown (default), json or github."),
    rebuild_warn_rows: int = typer.Option(
        100_000, "--rebuild-warn-rows", help="A table rebuild of more rows than this is a warning."
    ),
    metadata_module: str | None = typer.Option(
        None,
        "--metadata-module",
        help="Module (dotted name or .py file) exposing `metadata`; default: domains.",
    ),
    output: Path | None = typer.Option(None, "--output", help="Also write the report to FILE."),
) -> None:
    """Review what a deploy would do to the schema; exit 0 nothing pending, 1 pending, 2 an error finding.

    Without --base: the revisions the configured database has not applied plus the model changes no
    revision carries, run on a scratch in-memory copy of its schema; the database is only read (row
    counts). No database file: only the model changes. With --base REV: the revisions after REV plus
    the model changes, without any database.

    Example: ``codex db review --base 0004 --format json``
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})", format=fmt)
    chain_ready()
    metadata = load_metadata(metadata_module) if metadata_module else None
    config = db_config()
    if base is not None:
        report = review_schema(
            metadata, source=metadata_module, base=base, rebuild_warn_rows=rebuild_warn_rows
        )
    elif not database_present(config):  # only the model changes: nothing to inspect
        report = review_schema(
            metadata,
            source=metadata_module,
            database=describe_database(config),
            rebuild_warn_rows=rebuild_warn_rows,
        )
    else:
        with open_inspected(config) as conn:
            report = review_schema(
                metadata,
                source=metadata_module,
                connection=conn,
                database=describe_database(config),
                rebuild_warn_rows=rebuild_warn_rows,
            )
    text = render(report, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    typer.echo(text, nl=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command("paths")
@cli_errors
def paths_cmd() -> None:
    """Print where the migrations, the packaged alembic.ini and the frozen baseline are (JSON)."""
    echo_json(
        {
            "migrations": str(migrations_dir()),
            "alembic_ini": str(alembic_ini_path()),
            "baseline": str(baseline_dir()),
        }
    )
