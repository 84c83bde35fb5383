"""``codex db revision | merge | heads | history | rebaseline``: editing the revision chain."""

from __future__ import annotations

import subprocess
import sys

import typer

from codex.cli._common import cli_errors, echo_json
from codex.cli.db._app import app, chain_ready
from codex.migrate import chain_heads, history, make_merge, make_revision, rebaseline

__all__ = ["heads_cmd", "history_cmd", "merge_cmd", "rebaseline_cmd", "revision_cmd"]


@app.command("revision")
@cli_errors
def revision_cmd(
    message: str = typer.Option(..., "-m", "--message", help="What the revision does."),
    autogenerate: bool = typer.Option(
        False, "--autogenerate", help="Fill it with the changes between domains/ and the chain."
    ),
    rev_id: str | None = typer.Option(None, "--rev-id", help="Revision id (default: a random one)."),
) -> None:
    """Write a new revision on the head; with --autogenerate, exactly what the models changed.

    Autogenerate compares domains/ with the chain run on a scratch in-memory database (no configured
    database is needed or touched). Nothing changed → no file. The file is ruff-formatted.

    Example: ``codex db revision --autogenerate -m "topics: description"``
    """
    chain_ready()
    paths = make_revision(message, autogenerate=autogenerate, rev_id=rev_id)
    if not paths:
        typer.echo("No changes between domains/ and the migration chain: no revision written.")
        return
    for path in paths:
        typer.echo(f"wrote {path}")
    typer.echo(
        "next: review it (`codex db review`), then `codex db upgrade`, and commit it with the model change"
    )


@app.command("merge")
@cli_errors
def merge_cmd(
    message: str = typer.Option("merge heads", "-m", "--message", help="What the merge joins."),
    revisions: list[str] = typer.Argument(None, help="Revisions to merge (default: every head)."),
) -> None:
    """Write a merge revision that joins the chain's heads into one."""
    for path in make_merge(message, tuple(revisions or ())):
        typer.echo(f"wrote {path}")


@app.command("heads")
@cli_errors
def heads_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    require_one: bool = typer.Option(False, "--require-one", help="Exit 2 when there are several heads."),
) -> None:
    """Print the chain's head revision(s)."""
    heads = chain_heads()
    if as_json:
        echo_json([_as_dict(h) for h in heads])
    else:
        for head in heads:
            typer.echo(head.line())
    if require_one:
        chain_ready()


def _as_dict(info: object) -> dict[str, object]:
    return {name: getattr(info, name) for name in getattr(info, "__slots__", ())}


@app.command("history")
@cli_errors
def history_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every revision, newest first, with its schema_version."""
    revisions = history()
    if as_json:
        echo_json([_as_dict(r) for r in revisions])
        return
    for info in revisions:
        typer.echo(info.line())


@app.command("rebaseline")
@cli_errors
def rebaseline_cmd() -> None:
    """Fold the chain into a new baseline fragment and move BASELINE_VERSION forward.

    Older fragments stay byte-identical. Databases at the old head keep upgrading; fresh databases
    built from the new baseline reach the same schema. Commit the new fragment and manifest.
    """
    chain_ready()
    result = rebaseline()
    typer.echo(result.summary())
    from codex.contracts import REPO_ROOT  # a checkout keeps its generated contracts current

    if (REPO_ROOT / "contracts" / "db").is_dir():
        # a fresh process: this one loaded the manifest (BASELINE_VERSION, fragments) before it changed
        subprocess.run([sys.executable, "-m", "codex.contracts"], check=True, timeout=300)
        typer.echo(f"regenerated the contracts under {REPO_ROOT / 'contracts'}")
