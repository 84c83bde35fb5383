"""The ``codex db`` Typer app and the plumbing its commands share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
import typer

from codex.cli._common import db_config, open_engine
from codex.errors import SchemaError
from codex.migrate import head_revision, user_tables

__all__ = ["app", "chain_ready", "database"]

app = typer.Typer(
    help="Schema and migrations: the PR workflow (revision, review, check) and the deploy (upgrade, verify).",
    no_args_is_help=True,
)


def chain_ready() -> str:
    """Load the chain and require one head; returns it (a broken or multi-head chain exits 2, one line)."""
    return head_revision()


def _local_files(path: str) -> list[Path]:
    return [Path(path + suffix) for suffix in ("", "-wal", "-shm", "-journal")]


@contextlib.contextmanager
def database(*, create: bool = False) -> Iterator[sa.Connection]:
    """A connection to the configured database.

    Read-only commands (``create=False``) refuse a local file that does not exist rather than create
    it. A command that may create the file (``upgrade``) removes it again when it fails and leaves
    the file without a table, so a failed first upgrade leaves nothing behind.

    Raises:
        SchemaError: No database file at the configured local path (read-only commands).
    """
    config = db_config()
    file = config.path if config.mode in ("local", "replica") else None
    new_file = file not in (None, ":memory:") and not Path(str(file)).exists()
    if new_file and not create and config.mode == "local":
        raise SchemaError(f"no database at {file}: run `codex db upgrade` to create it")
    ok = False
    try:
        with open_engine() as engine, engine.connect() as conn:
            try:
                yield conn
                ok = True
            finally:
                if not ok and new_file:
                    if conn.in_transaction():
                        conn.rollback()
                    ok = bool(user_tables(conn))  # keep a file that holds tables after all
    finally:
        if not ok and new_file and config.mode == "local":
            for path in _local_files(config.path):
                path.unlink(missing_ok=True)
