"""The derived indexes: the FTS5 table and the libSQL vector index, their DDL and their upkeep.

Both are created by migration 0003 (raw DDL; they cannot be SQLAlchemy models) and kept in step with
``search_document_chunks`` **by the repository layer, in the caller's transaction** — no triggers:

* ``search_chunks_fts`` is an FTS5 table with external content (``content='search_document_chunks'``,
  ``content_rowid='id'``, ``tokenize='porter unicode61'``). A chunk is indexed by inserting
  ``(rowid, body_text)``; it is removed with the ``'delete'`` command **and its old text** (FTS5 needs
  the text to find the terms to remove), before the chunk row goes.
* ``search_chunk_vectors_idx`` is ``libsql_vector_idx(embedding, 'metric=cosine', 'compress_neighbors=float8',
  'max_neighbors=64')`` on the ``search_chunk_vectors`` side table (why the two settings: migration
  0003); libSQL maintains it on every insert and delete. After creating
  it over existing rows, ``REINDEX`` fills it on sqld too (``libsql-runtime.md`` §8.3). Never empty
  ``search_chunk_vectors`` with a bare ``DELETE FROM search_chunk_vectors``: SQLite's truncate shortcut
  skips the vector index and leaves its shadow rows behind (the next insert of a reused rowid then fails
  with "vector index(insert): failed to insert shadow row"); delete with a ``WHERE`` clause.

:class:`SearchIndex` writes no change-log rows: these are derived data, rebuilt from the chunks; the
document-level rows on ``search/documents`` cover them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codex.errors import CodexError
from codex.repositories._base import Repository
from codex.store import Store

__all__ = [
    "FTS_TABLE",
    "VECTOR_INDEX",
    "VECTOR_INDEX_DDL",
    "VECTOR_TABLE",
    "IndexSizes",
    "SearchIndex",
    "ensure_vector_index_retrying",
]

FTS_TABLE = "search_chunks_fts"
VECTOR_TABLE = "search_chunk_vectors"
VECTOR_INDEX = "search_chunk_vectors_idx"

VECTOR_INDEX_DDL = (
    f"CREATE INDEX {VECTOR_INDEX} ON {VECTOR_TABLE}(libsql_vector_idx(embedding, 'metric=cosine', "
    "'compress_neighbors=float8', 'max_neighbors=64'))"
)
"""The vector index (as migration 0003 creates it)."""

_FTS_INSERT = f"INSERT INTO {FTS_TABLE}(rowid, body_text) VALUES (?, ?)"
_FTS_DELETE = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body_text) VALUES ('delete', ?, ?)"
_VECTOR_INSERT = f"INSERT INTO {VECTOR_TABLE} (chunk_id, embedder, dim, embedding) VALUES (?, ?, ?, ?)"
_HAS_OBJECT = "SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?"


@dataclass(frozen=True, slots=True)
class IndexSizes:
    """Row counts of the derived indexes.

    Attributes:
        fts_rows: Documents in the FTS index (its ``_docsize`` rows).
        vectors: Rows of ``search_chunk_vectors``.
        vector_index: Whether the vector index exists.
        vector_index_rows: Nodes in the vector index's shadow table (equals ``vectors`` when the
            index is complete; 0 on sqld for an index created over rows without ``REINDEX``).
    """

    fts_rows: int
    vectors: int
    vector_index: bool
    vector_index_rows: int


class SearchIndex(Repository):
    """Upkeep of the FTS table and the vector index, inside the caller's transaction."""

    def has_object(self, kind: str, name: str) -> bool:
        """True when ``sqlite_schema`` holds an object of that type and name."""
        return self._sql(_HAS_OBJECT, (kind, name)).first() is not None

    def has_vector_index(self) -> bool:
        """True when the vector index exists (False e.g. after ``drop_vector_index``)."""
        return self.has_object("index", VECTOR_INDEX)

    def has_fts(self) -> bool:
        """True when the FTS table exists."""
        return self.has_object("table", FTS_TABLE)

    # -- FTS ---------------------------------------------------------------------------------------
    def fts_insert(self, rows: Sequence[tuple[int, str]]) -> None:
        """Index chunks: ``(chunk_id, body_text)`` pairs (one executemany)."""
        self._writable()
        if rows:
            self._raw_many(_FTS_INSERT, list(rows))

    def fts_delete(self, rows: Sequence[tuple[int, str]]) -> None:
        """Unindex chunks with FTS5's ``'delete'`` command: ``(chunk_id, old body_text)`` pairs.

        The text must be exactly what was indexed, so call this before the chunk row changes or goes.
        """
        self._writable()
        if rows:
            self._raw_many(_FTS_DELETE, list(rows))

    def rebuild_fts(self) -> None:
        """Rebuild the whole FTS index from ``search_document_chunks`` (FTS5 ``'rebuild'``)."""
        self._writable()
        self._sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")

    def clear_fts(self) -> None:
        """Empty the FTS index (FTS5 ``'delete-all'``); the chunk rows are untouched."""
        self._writable()
        self._sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")

    def fts_integrity_ok(self) -> bool:
        """FTS5 ``integrity-check`` against the content table (rank 1): True when index and chunks agree."""
        try:
            self._sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")
        except CodexError:  # the check reports a mismatch as SQLITE_CORRUPT_VTAB
            return False
        return True

    # -- vectors ------------------------------------------------------------------------------------
    def put_vectors(self, rows: Sequence[tuple[int, str, int, bytes]]) -> None:
        """Store ``(chunk_id, embedder, dim, float32 blob)`` rows (one executemany)."""
        self._writable()
        if rows:
            self._raw_many(_VECTOR_INSERT, list(rows))

    def delete_vectors(self, chunk_ids: Sequence[int]) -> None:
        """Remove the vectors of chunks (the FK cascade would too; explicit keeps the intent visible)."""
        self._writable()
        if chunk_ids:
            self._raw_many(f"DELETE FROM {VECTOR_TABLE} WHERE chunk_id = ?", [(cid,) for cid in chunk_ids])

    def ensure_vector_index(self) -> bool:
        """Create the vector index when it is missing, then ``REINDEX`` it (sqld fills it only then).

        Returns:
            True when the index had to be created.
        """
        self._writable()
        created = not self.has_vector_index()
        if created:
            self._sql(VECTOR_INDEX_DDL)
        self._sql(f"REINDEX {VECTOR_INDEX}")
        return created

    def reindex_vectors(self) -> None:
        """``REINDEX`` the vector index (creating it if it is missing)."""
        self.ensure_vector_index()

    def drop_vector_index(self) -> None:
        """Drop the vector index (queries fall back to brute-force cosine until it is recreated)."""
        self._writable()
        self._sql(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")

    # -- sizes ----------------------------------------------------------------------------------------
    def sizes(self) -> IndexSizes:
        """Row counts of the FTS index, the vectors and the vector index."""
        fts_rows = (
            int(self._sql(f"SELECT count(*) FROM {FTS_TABLE}_docsize").scalar() or 0) if self.has_fts() else 0
        )
        vectors = int(self._sql(f"SELECT count(*) FROM {VECTOR_TABLE}").scalar() or 0)
        present = self.has_vector_index()
        index_rows = 0
        if present and self.has_object("table", f"{VECTOR_INDEX}_shadow"):
            index_rows = int(self._sql(f"SELECT count(*) FROM {VECTOR_INDEX}_shadow").scalar() or 0)
        return IndexSizes(fts_rows, vectors, present, index_rows)


_TRANSIENT_DISKANN = "unable to initialize diskann"


def ensure_vector_index_retrying(store: Store, *, attempts: int = 3) -> bool:
    """Create (when missing) and ``REINDEX`` the vector index in its own transaction, retrying a transient sqld error.

    On sqld, a ``CREATE INDEX … libsql_vector_idx`` shortly after a ``DROP INDEX`` of the same index
    sometimes fails with "vector index: unable to initialize diskann" (measured: 2–3 of 12 tries); the
    same statement in a fresh transaction succeeds. Other errors are raised at once.

    Returns:
        True when the index had to be created.
    """
    for attempt in range(1, attempts + 1):
        try:
            with store.begin() as conn:
                return SearchIndex(conn).ensure_vector_index()
        except CodexError as exc:
            if _TRANSIENT_DISKANN not in exc.message or attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
