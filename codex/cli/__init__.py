"""The ``codex`` command line: thin adapters over the library (help text comes from docstrings)."""

from __future__ import annotations

import typer

from codex.cli import changes, ci, db, legacy, search, serve, tokens, vault

__all__ = ["app", "main"]

app = typer.Typer(
    help="Codex: schema, migrations and service for a libSQL / Turso store.", no_args_is_help=True
)
app.add_typer(ci.app, name="ci")
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="tokens")
app.add_typer(changes.app, name="changes")
app.add_typer(search.app, name="search")
app.add_typer(legacy.app, name="legacy")
app.add_typer(vault.app, name="vault")
app.command("serve")(serve.serve)


def main() -> None:
    """Console-script entry point."""
    app()
