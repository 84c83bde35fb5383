"""Throwaway migration chains for the review tests: a copy of the real chain plus test revisions.

The copy lives under ``tmp_path`` and is selected with ``CODEX_MIGRATIONS_DIR`` (the script directory
cache is keyed by location, so each test gets its own). The first added revision (``Chain.tables``, the
real head + 1) creates the test tables; later revisions are the changes under review. Nothing here
names the real head: the chain may grow.
"""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from codex.config import DbConfig, LocalDb
from codex.engine import make_engine
from codex.guards.review import SchemaReview, open_inspected, review_schema
from codex.migrate import head_revision, migrations_dir, upgrade

__all__ = ["TABLES", "Chain", "digest_files", "make_chain"]

_TEMPLATE = '''"""{doc}

Revision ID: {rev}
Revises: {down}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''

TABLES = """
op.create_table(
    "gadgets",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("label", sa.Text(), nullable=True),
)
op.create_index("uq_gadgets_label", "gadgets", ["label"], unique=True)
op.create_table(
    "widgets",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.Text(), nullable=True),
    sa.Column("code", sa.Text(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("qty", sa.Text(), nullable=True),
    sa.Column("parent_id", sa.Integer(), nullable=True),
)
op.create_table("legacy", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("v", sa.Text()))
"""
"""The first test revision: the tables the later ones change (none of them is a model)."""


class Chain:
    """A copy of the migration chain with extra revisions, and databases built on it."""

    def __init__(self, root: Path, tmp_path: Path, head: str) -> None:
        self.root = root
        self.tmp_path = tmp_path
        self.head = head  # the real chain's head, whatever it is now
        self.tables = ""
        """The revision that created the test tables (the first one added)."""

    def add(self, body: str, *, doc: str = "test revision") -> str:
        """Append a revision whose ``upgrade()`` runs ``body``; returns its id."""
        rev = f"{int(self.head) + 1:04d}"
        text = _TEMPLATE.format(
            doc=doc, rev=rev, down=self.head, body=textwrap.indent(textwrap.dedent(body).strip(), "    ")
        )
        (self.root / "versions" / f"{rev}_test.py").write_text(text, encoding="utf-8")
        self.head = rev
        self.tables = self.tables or rev
        return rev

    def database(
        self,
        revision: str,
        rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        *,
        name: str = "inspected.db",
    ) -> DbConfig:
        """A local libSQL file upgraded to ``revision`` holding ``rows`` (table → dicts)."""
        config = LocalDb(path=str(self.tmp_path / name), source="test")
        seed(config, revision, rows)
        return config

    def review(self, config: DbConfig | None = None, **kw: Any) -> SchemaReview:
        """Review against ``config`` (read-only), or without a database when None (pass ``base=``)."""
        if config is None:
            return review_schema(**kw)
        with open_inspected(config) as conn:
            return review_schema(
                connection=conn, database=str(config.describe()["path"] or config.describe()["url"]), **kw
            )


def seed(config: DbConfig, revision: str, rows: Mapping[str, Sequence[Mapping[str, Any]]] | None) -> None:
    """Upgrade the database of ``config`` to ``revision`` and insert ``rows``."""
    engine = make_engine(config)
    try:
        with engine.connect() as conn:
            upgrade(conn, revision)
        with engine.begin() as conn:
            for table, items in (rows or {}).items():
                for item in items:
                    cols = ", ".join(item)
                    marks = ", ".join(f":{c}" for c in item)
                    conn.execute(sa.text(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), dict(item))
    finally:
        engine.dispose()


@contextmanager
def make_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chain]:
    """A private copy of the chain, selected with ``CODEX_MIGRATIONS_DIR`` for the test."""
    root = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), root, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()  # read from the real chain, before the copy is selected (and cached)
    monkeypatch.setenv("CODEX_MIGRATIONS_DIR", str(root))
    yield Chain(root, tmp_path, head)


def digest_files(path: Path) -> dict[str, str]:
    """SHA-256 of a database file and of its ``-wal`` / ``-shm`` / ``-journal`` companions that exist."""
    out = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            out[candidate.name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
    return out
