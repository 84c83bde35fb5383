"""The ``codex`` command line: thin adapters over the library (help text comes from docstrings)."""

from __future__ import annotations

import typer

from codex.cli import db, serve, tokens

__all__ = ["app", "main"]

app = typer.Typer(
    help="Codex: schema, migrations and service for a libSQL / Turso store.", no_args_is_help=True
)
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="tokens")
app.command("serve")(serve.serve)


def main() -> None:
    """Console-script entry point."""
    app()
