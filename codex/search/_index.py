"""The derived FTS index: its DDL names and its upkeep.

The FTS5 table is created by migration 0003 (raw DDL; it cannot be a SQLAlchemy model) and kept in step
with ``search_document_chunks`` **by the repository layer, in the caller's transaction** — no triggers:
``search_chunks_fts`` is an FTS5 table with external content (``content='search_document_chunks'``,
``content_rowid='id'``, ``tokenize='porter unicode61'``). A chunk is indexed by inserting
``(rowid, body_text)``; it is removed with the ``'delete'`` command **and its old text** (FTS5 needs the
text to find the terms to remove), before the chunk row goes.

The vectors have no index in the database any more (revision 0005 dropped the libSQL DiskANN index):
the vector leg searches an in-memory matrix loaded from the vector tables and kept in step through the
change log (:mod:`codex.search._vectors`).

:class:`SearchIndex` writes no change-log rows: the FTS rows are derived data, rebuilt from the chunks;
the document-level rows on ``search/documents`` cover them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import CodexError
from codex.repositories._base import Repository
from domains.search_ingest import VECTOR_TABLES

__all__ = ["FTS_TABLE", "IndexSizes", "SearchIndex"]

FTS_TABLE = "search_chunks_fts"

_fts = sa.table(
    FTS_TABLE, sa.column(FTS_TABLE), sa.column("rowid"), sa.column("body_text"), sa.column("rank")
)
"""The FTS5 table as Core sees it: not in the ``MetaData`` (it is raw DDL); its hidden column of the
table's own name takes FTS5's commands (``'delete'``, ``'rebuild'``, …)."""
_fts_docsize = sa.table(f"{FTS_TABLE}_docsize")
_sqlite_schema = sa.table("sqlite_schema", sa.column("type"), sa.column("name"))


def _fts_command(command: str, **columns: sa.ColumnElement[object]) -> sa.Insert:
    """``INSERT INTO search_chunks_fts(search_chunks_fts, …) VALUES ('<command>', …)``."""
    return sa.insert(_fts).values({FTS_TABLE: sa.literal_column(f"'{command}'"), **columns})


_FTS_INSERT = sa.insert(_fts).values(rowid=sa.bindparam("rowid"), body_text=sa.bindparam("body_text"))
_FTS_DELETE = _fts_command("delete", rowid=sa.bindparam("rowid"), body_text=sa.bindparam("body_text"))
_FTS_REBUILD = _fts_command("rebuild")
_FTS_DELETE_ALL = _fts_command("delete-all")
_FTS_INTEGRITY_CHECK = _fts_command("integrity-check", rank=sa.literal_column("1"))
_FTS_ROWS = sa.select(sa.func.count()).select_from(_fts_docsize)
_HAS_OBJECT: sa.Select[Any] = sa.select(sa.literal_column("1")).where(
    _sqlite_schema.c.type == sa.bindparam("kind"), _sqlite_schema.c.name == sa.bindparam("name")
)
_VECTOR_COUNTS = tuple(sa.select(sa.func.count()).select_from(t) for t in VECTOR_TABLES.values())


@dataclass(frozen=True, slots=True)
class IndexSizes:
    """Row counts of the derived indexes.

    Attributes:
        fts_rows: Documents in the FTS index (its ``_docsize`` rows).
        vectors: Stored vectors, over every vector table.
    """

    fts_rows: int
    vectors: int


class SearchIndex(Repository):
    """Upkeep of the FTS table and the vector index, inside the caller's transaction."""

    def has_object(self, kind: str, name: str) -> bool:
        """True when ``sqlite_schema`` holds an object of that type and name."""
        return self._execute(_HAS_OBJECT, {"kind": kind, "name": name}).first() is not None

    def has_fts(self) -> bool:
        """True when the FTS table exists."""
        return self.has_object("table", FTS_TABLE)

    # -- FTS ---------------------------------------------------------------------------------------
    def fts_insert(self, rows: Sequence[tuple[int, str]]) -> None:
        """Index chunks: ``(chunk_id, body_text)`` pairs (one executemany)."""
        self._writable()
        if rows:
            self._execute(_FTS_INSERT, [{"rowid": rowid, "body_text": text} for rowid, text in rows])

    def fts_delete(self, rows: Sequence[tuple[int, str]]) -> None:
        """Unindex chunks with FTS5's ``'delete'`` command: ``(chunk_id, old body_text)`` pairs.

        The text must be exactly what was indexed, so call this before the chunk row changes or goes.
        """
        self._writable()
        if rows:
            self._execute(_FTS_DELETE, [{"rowid": rowid, "body_text": text} for rowid, text in rows])

    def rebuild_fts(self) -> None:
        """Rebuild the whole FTS index from ``search_document_chunks`` (FTS5 ``'rebuild'``)."""
        self._writable()
        self._execute(_FTS_REBUILD)

    def clear_fts(self) -> None:
        """Empty the FTS index (FTS5 ``'delete-all'``); the chunk rows are untouched."""
        self._writable()
        self._execute(_FTS_DELETE_ALL)

    def fts_integrity_ok(self) -> bool:
        """FTS5 ``integrity-check`` against the content table (rank 1): True when index and chunks agree."""
        try:
            self._execute(_FTS_INTEGRITY_CHECK)
        except CodexError:  # the check reports a mismatch as SQLITE_CORRUPT_VTAB
            return False
        return True

    # -- sizes ----------------------------------------------------------------------------------------
    def sizes(self) -> IndexSizes:
        """Row counts of the FTS index and of the stored vectors."""
        fts_rows = int(self._execute(_FTS_ROWS).scalar() or 0) if self.has_fts() else 0
        vectors = sum(int(self._execute(stmt).scalar() or 0) for stmt in _VECTOR_COUNTS)
        return IndexSizes(fts_rows, vectors)
