"""``codex db rehearse``: the pending revisions, run and timed on a throwaway copy of the database."""

from __future__ import annotations

from pathlib import Path

import typer

from codex.cli._common import cli_errors, db_config, echo_json
from codex.cli.db._app import app, chain_ready
from codex.errors import InvalidInput
from codex.migrate import rehearse

__all__ = ["rehearse_cmd"]

_FORMATS = ("text", "json")


_HELP = (
    "Rehearse the pending revisions on a copy of the database; the database itself is never written."
    "\n\n"
    "The copy: a local file is copied with SQLite's backup API from a read-only connection; an embedded "
    "replica is synced from its primary, then its file is copied the same way. A remote primary "
    "(VOX_DB_URL alone) is refused: rehearse against an embedded replica (VOX_DB_PATH beside VOX_DB_URL) "
    "or a downloaded copy (VOX_DB_PATH=<file> alone). The copy lives in the temporary directory ($TMPDIR)."
    "\n\n"
    "Each pending revision (from the copy's revision to head, or to --to REV) is applied on its own; one "
    "line each gives its duration and the tables it rebuilt (batch move-and-copy) with the rows copied. "
    "The copy must then verify (as `codex db verify`; at an earlier REV, match the chain's schema there) "
    "and is deleted unless --keep is given."
    "\n\n"
    "Exit 0 when every revision applied and the copy verified; exit 2 with one line naming the failing "
    "revision and the database's error otherwise."
)


@app.command("rehearse", help=_HELP)
@cli_errors
def rehearse_cmd(
    to: str = typer.Option("head", "--to", metavar="REV", help="Stop at this revision (default: head)."),
    keep: Path | None = typer.Option(
        None,
        "--keep",
        metavar="PATH",
        help="Keep the copy at PATH (a new file; kept also when a revision fails) instead of deleting it.",
    ),
    output: str = typer.Option("text", "--format", metavar="FORMAT", help="text (default) or json."),
) -> None:
    """Copy the configured database, rehearse the pending revisions on the copy, report (see ``_HELP``).

    Raises:
        InvalidInput: An unknown ``--format``.
    """
    if output not in _FORMATS:
        raise InvalidInput(f"--format must be text or json, got {output!r}", field="format")
    chain_ready()
    text = output == "text"
    report = rehearse(db_config(), target=to, keep=keep, progress=typer.echo if text else None)
    if not text:
        echo_json(report.as_dict())
    elif report.failure is None:
        typer.echo(f"verify: ok at {report.target}")
        typer.echo(f"copy kept at {report.kept}" if report.kept else "copy deleted")
    if report.failure is not None:
        typer.echo(f"codex: error: {report.failure.line()}", err=True)
        raise typer.Exit(2)
