"""Shared CLI plumbing: open the configured engine, print JSON, turn Codex errors into exit codes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import sqlalchemy as sa
import typer

from codex.config import DbConfig, environ_with_file, resolve_db_config
from codex.engine import make_engine, translate_db_error
from codex.errors import CodexError

__all__ = ["cli_errors", "db_config", "echo_json", "error_exits", "open_engine", "open_store_cli"]

if TYPE_CHECKING:
    from codex.store import Store

P = ParamSpec("P")
R = TypeVar("R")


def db_config() -> DbConfig:
    """The database configuration from the environment (and the config file)."""
    return resolve_db_config(environ_with_file(os.environ))


@contextmanager
def open_engine(**kw: Any) -> Iterator[sa.Engine]:
    """The configured engine, disposed afterwards."""
    engine = make_engine(db_config(), **kw)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_store_cli() -> Iterator[Store]:
    """The configured store (not migrated: run `codex db upgrade` first), disposed afterwards."""
    from codex.store import open_store

    store = open_store(db_config(), migrate="none")
    try:
        yield store
    finally:
        store.dispose()


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def error_exits(code: int, *, os_errors: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator mapping Codex and database errors (and ``OSError`` when asked) to
    ``codex: error: …`` on stderr and exit ``code``; Ctrl-C exits 130."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except CodexError as exc:
                typer.echo(f"codex: error: {exc.message}", err=True)
                raise typer.Exit(code) from exc
            except sa.exc.SQLAlchemyError as exc:
                typer.echo(f"codex: error: {translate_db_error(exc).message}", err=True)
                raise typer.Exit(code) from exc
            except OSError as exc:
                if not os_errors:
                    raise
                typer.echo(f"codex: error: {exc}", err=True)
                raise typer.Exit(code) from exc
            except KeyboardInterrupt:
                typer.echo("codex: interrupted", err=True)
                sys.exit(130)

        return wrapper

    return decorate


cli_errors = error_exits(2)
"""The default CLI error mapping: exit code 2."""
