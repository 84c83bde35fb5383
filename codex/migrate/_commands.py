"""The chain-editing and bookkeeping verbs: revision, merge, stamp, history, heads.

Thin wrappers over :mod:`alembic.command` that keep Codex's rules: one line for a broken or
multi-head chain, autogenerate against a scratch database at head (never a configured one), new files
ruff-formatted, and ``stamp`` refusing a database whose schema is not the target revision's.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import Script

from codex.config import MemoryDb
from codex.engine import make_engine
from codex.errors import SchemaError
from codex.migrate._alembic import (
    ALEMBIC_LOCK,
    alembic_config,
    head_revision,
    migrations_dir,
    script_directory,
    upgrade,
)
from codex.migrate._chain import chain_errors, heads_line, schema_version_of
from codex.migrate._hooks import format_revision_file
from codex.migrate._versions import user_tables
from codex.schema import LiveSchema, diff_schemas, read_live_schema

__all__ = [
    "RevisionInfo",
    "chain_heads",
    "history",
    "make_merge",
    "make_revision",
    "schema_at",
    "stamp",
]

SKIP_EMPTY = "codex_skip_empty_autogenerate"
"""Config attribute: an autogenerate run that finds no change writes no file."""


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """One revision of the chain, as ``codex db history`` / ``heads`` print it."""

    revision: str
    down_revisions: tuple[str, ...]
    schema_version: int
    message: str
    is_head: bool
    is_merge: bool
    path: str

    def line(self) -> str:
        """``<rev> <- <down> (schema_version N[, head][, merge]) <message>``."""
        tags = [f"schema_version {self.schema_version}"]
        tags += ["head"] if self.is_head else []
        tags += ["merge"] if self.is_merge else []
        down = ", ".join(self.down_revisions) or "base"
        return f"{self.revision} <- {down} ({', '.join(tags)}) {self.message}"


def _info(sc: Script, heads: set[str]) -> RevisionInfo:
    script = script_directory()
    down = sc.down_revision
    downs = (down,) if isinstance(down, str) else tuple(down or ())
    return RevisionInfo(
        revision=sc.revision,
        down_revisions=downs,
        schema_version=schema_version_of(script, sc.revision),
        message=(sc.doc or "").strip().splitlines()[0] if sc.doc else "",
        is_head=sc.revision in heads,
        is_merge=len(downs) > 1,
        path=str(sc.path),
    )


def history() -> list[RevisionInfo]:
    """Every revision, newest first (works on a multi-head chain)."""
    script = script_directory()
    heads = set(script.get_heads())
    with chain_errors():
        return [_info(sc, heads) for sc in script.walk_revisions()]


def chain_heads() -> list[RevisionInfo]:
    """The chain's heads (more than one means a merge is needed)."""
    script = script_directory()
    heads = set(script.get_heads())
    with chain_errors():
        return [_info(script.get_revision(h), heads) for h in sorted(heads)]


def _written(result: Script | list[Script | None] | None) -> list[Path]:
    items = result if isinstance(result, list) else [result]
    return [Path(sc.path) for sc in items if sc is not None]


def make_revision(message: str, *, autogenerate: bool = False, rev_id: str | None = None) -> list[Path]:
    """Write a new revision on the single head; with ``autogenerate``, exactly the model changes.

    Autogenerate compares ``domains`` with the chain run on a scratch in-memory database at head;
    when nothing differs no file is written (the list is empty). The file is ruff-fixed and
    formatted when ruff is installed.

    Raises:
        MultipleHeadsError: Merge first.
        SchemaError: The chain is broken, or the message is empty.
    """
    if not message.strip():
        raise SchemaError("a revision needs a message (-m MESSAGE)")
    head_revision()
    cfg = alembic_config()
    cfg.attributes[SKIP_EMPTY] = autogenerate
    with ALEMBIC_LOCK, chain_errors():
        result = command.revision(cfg, message=message, autogenerate=autogenerate, rev_id=rev_id)
    paths = _written(result)
    _forget_chain()
    return paths


def make_merge(message: str, revisions: tuple[str, ...] = ()) -> list[Path]:
    """Write a merge revision joining ``revisions`` (default: every head) and format it.

    Raises:
        SchemaError: There is only one head (nothing to merge) or the chain is broken.
    """
    script = script_directory()
    heads = tuple(revisions) or tuple(sorted(script.get_heads()))
    if len(heads) < 2:
        raise SchemaError(f"nothing to merge: the chain has one head ({', '.join(heads)})")
    cfg = alembic_config()
    with ALEMBIC_LOCK, chain_errors():
        result = command.merge(cfg, list(heads), message=message or f"merge {' and '.join(heads)}")
    paths = _written(result)
    for path in paths:
        format_revision_file(str(path))
    _forget_chain()
    return paths


def _forget_chain() -> None:
    from codex.migrate import _alembic

    _alembic._script_directory.cache_clear()
    _schema_at.cache_clear()


@functools.cache
def _schema_at(location: str, revision: str) -> LiveSchema:
    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            if revision != "base":
                upgrade(conn, revision)
            return read_live_schema(conn)
    finally:
        engine.dispose()


def schema_at(revision: str) -> LiveSchema:
    """The normalised schema the chain builds up to ``revision`` (on a scratch in-memory database)."""
    return _schema_at(str(migrations_dir()), revision)


def stamp(conn: sa.Connection, revision: str, *, force: bool = False) -> None:
    """``alembic stamp``: record ``revision`` without running it, after checking the schema matches.

    The live schema must equal the schema the chain builds up to ``revision``; ``force`` skips that
    check (for a database you have verified by other means).

    Raises:
        SchemaError: The live schema differs (nothing is written), or the revision is unknown.
    """
    script = script_directory()
    with chain_errors():
        targets = script.get_revisions(revision)
    if revision not in ("base",) and len(targets) != 1:
        raise SchemaError(heads_line([t.revision for t in targets if t is not None]))
    target = "base" if revision == "base" else targets[0].revision
    if not force and target != "base":
        expected, live = schema_at(target), read_live_schema(conn)
        if conn.in_transaction():
            conn.rollback()
        if live.digest() != expected.digest():
            diff = diff_schemas(expected, live)
            state = "empty" if not user_tables(conn) else f"live digest {live.digest()[:18]}…"
            if conn.in_transaction():
                conn.rollback()
            raise SchemaError(
                f"refusing to stamp {target}: the database's schema is not that revision's ({state}; "
                f"{len(diff.missing)} missing, {len(diff.extra)} extra, {len(diff.changed)} changed); "
                "use `codex db upgrade`, or --force if you have checked it yourself"
            )
    with ALEMBIC_LOCK, chain_errors():
        command.stamp(alembic_config(conn, stdout=io.StringIO()), target)
