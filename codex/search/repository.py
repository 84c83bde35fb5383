"""search_ingest: the corpus repository (documents, chunks, vectors, the corpus embedder).

Change-log topics (a live domain):

* ``search/documents``: ``insert`` / ``update`` / ``delete`` of a document, ``entity_kind``
  ``search_document``, ``entity_id`` the document id, payload ``{source_uri, title, mime_type,
  content_hash, chunks}`` (``{source_uri}`` for a delete). A document's chunks, FTS rows and vectors
  change only together with their document, under that one change row.
* ``search/embedder``: ``insert`` / ``update`` of the corpus embedder row, ``entity_kind``
  ``search_embedder``, payload ``{name, dim}``.

The FTS table and the vector index are kept in step here (see :mod:`codex.search._index`), in the
caller's transaction: replacing a document's chunks removes the old FTS rows (``'delete'`` with the old
text) and vectors before the old chunk rows go, so a rollback or a commit never leaves orphans.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit
from codex.search._embedders import EmbedderMismatch, pack_vector
from codex.search._index import SearchIndex
from domains.search_ingest import (
    VECTOR_DIM,
    search_chunk_vectors,
    search_document_chunks,
    search_documents,
    search_embedder,
)

__all__ = ["ChunkRow", "DocumentRow", "EmbedderRow", "SearchRepository"]

DOCUMENTS_TOPIC = "search/documents"
EMBEDDER_TOPIC = "search/embedder"

_CHUNK_INSERT = "INSERT INTO search_document_chunks (document_id, chunk_index, body_text, embedding_ref) VALUES (?, ?, ?, ?)"
_CHUNKS_OF = "SELECT id, body_text FROM search_document_chunks WHERE document_id = ? ORDER BY chunk_index"
_CHUNK_IDS_OF = "SELECT id FROM search_document_chunks WHERE document_id = ? ORDER BY chunk_index"


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One ``search_documents`` row."""

    id: int
    source_uri: str
    title: str
    mime_type: str
    content_hash: str
    ingested_at: str


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One ``search_document_chunks`` row (``embedding_ref`` names the embedder of its vector)."""

    id: int
    document_id: int
    chunk_index: int
    body_text: str
    embedding_ref: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class EmbedderRow:
    """The corpus embedder (``search_embedder``, a single row)."""

    name: str
    dim: int
    created_at: str
    updated_at: str


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SearchRepository(Repository):
    """Documents, their chunks (with FTS rows and vectors) and the corpus embedder."""

    topic_root = DOCUMENTS_TOPIC

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__(conn)
        self.index = SearchIndex(conn)

    # -- documents: reads ---------------------------------------------------------------------------
    def get(self, document_id: int) -> DocumentRow:
        """The document with this id.

        Raises:
            NotFound: No such document.
        """
        t = search_documents
        return self._one(
            DocumentRow, sa.select(t).where(t.c.id == document_id), f"no search document {document_id}"
        )

    def get_by_uri(self, source_uri: str) -> DocumentRow:
        """The document with this source URI.

        Raises:
            NotFound: No such document.
        """
        found = self.get_one_or_none(source_uri)
        if found is None:
            raise NotFound(f"no search document with source_uri {source_uri!r}")
        return found

    def get_one_or_none(self, source_uri: str) -> DocumentRow | None:
        """The document with this source URI, or None."""
        t = search_documents
        return self._one_or_none(DocumentRow, sa.select(t).where(t.c.source_uri == source_uri))

    def exists(self, source_uri: str) -> bool:
        """True when a document with this source URI exists."""
        return self.get_one_or_none(source_uri) is not None

    def list(
        self,
        *,
        uri_prefix: str | None = None,
        mime_type: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> builtins.list[DocumentRow]:
        """Documents by id, optionally under a URI prefix (the tenant scope) or of one MIME type.

        Args:
            uri_prefix: Only URIs starting with this text.
            mime_type: Only this MIME type.
            after_id: Keyset cursor: ids greater than this.
            limit: Clamped to 1..10000.
        """
        t = search_documents
        stmt = sa.select(t).where(t.c.id > after_id).order_by(t.c.id).limit(clamp_limit(limit))
        if uri_prefix:
            stmt = stmt.where(t.c.source_uri.like(_escape_like(uri_prefix), escape="\\"))
        if mime_type:
            stmt = stmt.where(t.c.mime_type == mime_type)
        return self._all(DocumentRow, stmt)

    def count(self, *, uri_prefix: str | None = None) -> int:
        """Number of documents (optionally under a URI prefix)."""
        t = search_documents
        stmt = sa.select(sa.func.count()).select_from(t)
        if uri_prefix:
            stmt = stmt.where(t.c.source_uri.like(_escape_like(uri_prefix), escape="\\"))
        return int(self._execute(stmt).scalar_one())

    # -- chunks: reads -------------------------------------------------------------------------------
    def list_chunks(self, document_id: int) -> builtins.list[ChunkRow]:
        """A document's chunks in order (empty when the document has none or does not exist)."""
        t = search_document_chunks
        return self._all(
            ChunkRow, sa.select(t).where(t.c.document_id == document_id).order_by(t.c.chunk_index)
        )

    def get_chunk(self, chunk_id: int) -> ChunkRow:
        """One chunk.

        Raises:
            NotFound: No such chunk.
        """
        t = search_document_chunks
        return self._one(ChunkRow, sa.select(t).where(t.c.id == chunk_id), f"no search chunk {chunk_id}")

    def count_chunks(self) -> int:
        """Number of chunks in the corpus."""
        return int(self._sql("SELECT count(*) FROM search_document_chunks").scalar() or 0)

    def get_vector(self, chunk_id: int) -> bytes:
        """A chunk's stored embedding (float32 little-endian bytes).

        Raises:
            NotFound: The chunk has no vector.
        """
        t = search_chunk_vectors
        row = self._execute(sa.select(t.c.embedding).where(t.c.chunk_id == chunk_id)).first()
        if row is None:
            raise NotFound(f"search chunk {chunk_id} has no vector")
        return bytes(row[0])

    # -- the corpus embedder --------------------------------------------------------------------------
    def embedder(self) -> EmbedderRow | None:
        """The corpus embedder, or None before the first vector is stored."""
        t = search_embedder
        return self._one_or_none(EmbedderRow, sa.select(t).where(t.c.id == 1))

    def check_embedder(self, name: str, dim: int) -> None:
        """Refuse an embedder other than the corpus's (no-op for an empty corpus).

        Raises:
            EmbedderMismatch: The corpus holds vectors of another embedder or dimension.
        """
        current = self.embedder()
        if current is None or (current.name == name and current.dim == dim):
            return
        if self.index.sizes().vectors == 0:
            return
        raise EmbedderMismatch(
            f"the search corpus was embedded with {current.name!r} ({current.dim} dims), not {name!r} "
            f"({dim} dims): query with the corpus embedder, or re-embed the corpus with "
            f"`codex search reindex --reembed --embedder ...`",
            corpus_embedder=current.name,
            corpus_dim=current.dim,
            embedder=name,
            dim=dim,
        )

    def ensure_embedder(self, name: str, dim: int) -> EmbedderRow:
        """Record the corpus embedder, or check that it is this one.

        An empty corpus (no vectors) adopts the given embedder even when another one was recorded.

        Args:
            name: Embedder name (``Embedder.name``).
            dim: Its dimension; must equal the column's (256).

        Returns:
            The corpus embedder row.

        Raises:
            InvalidInput: ``dim`` is not the column's dimension.
            EmbedderMismatch: The corpus holds vectors of another embedder.
        """
        self._writable()
        if dim != VECTOR_DIM:
            raise InvalidInput(
                f"embedder {name!r} gives {dim} dimensions; the corpus column is F32_BLOB({VECTOR_DIM})",
                field="dim",
            )
        current = self.embedder()
        if current is not None and current.name == name and current.dim == dim:
            return current
        self.check_embedder(name, dim)
        return self.set_embedder(name, dim)

    def set_embedder(self, name: str, dim: int) -> EmbedderRow:
        """Overwrite the corpus embedder row (only for a re-embed of the whole corpus).

        Raises:
            InvalidInput: ``dim`` is not the column's dimension, or the name is empty.
        """
        self._writable()
        if not name or dim != VECTOR_DIM:
            raise InvalidInput(f"embedder needs a name and {VECTOR_DIM} dimensions", field="embedder")
        existed = self.embedder() is not None
        self._sql(
            "INSERT INTO search_embedder (id, name, dim) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "name = excluded.name, dim = excluded.dim, updated_at = datetime('now')",
            (name, dim),
        )
        self._change(
            EMBEDDER_TOPIC,
            "update" if existed else "insert",
            "search_embedder",
            1,
            {"name": name, "dim": dim},
        )
        found = self.embedder()
        assert found is not None
        return found

    # -- documents: writes ---------------------------------------------------------------------------
    def upsert(
        self,
        source_uri: str,
        *,
        title: str = "",
        mime_type: str = "",
        content_hash: str = "",
        chunks: Sequence[str],
        vectors: Sequence[Sequence[float]],
        embedder_name: str,
    ) -> tuple[DocumentRow, bool]:
        """Insert a document or replace it whole: its row, chunks, FTS rows and vectors, atomically.

        The old chunks' FTS rows and vectors are removed before the old chunk rows, all in the caller's
        transaction, and one change row (``insert`` or ``update``) is appended on ``search/documents``.

        Args:
            source_uri: The document's unique URI (``file:///…``, ``https://…``, ``tenant-a/notes/1``…).
            title: Display title.
            mime_type: The content's MIME type.
            content_hash: SHA-256 hex of the content (the unchanged-skip key).
            chunks: The chunk texts, in order.
            vectors: One vector per chunk (``len == VECTOR_DIM`` each).
            embedder_name: Name of the embedder that made ``vectors`` (checked against the corpus).

        Returns:
            The document row and True when it was inserted (False: replaced).

        Raises:
            InvalidInput: Empty URI, a vector count or length that does not match.
            EmbedderMismatch: The corpus was embedded with another embedder.
        """
        self._writable()
        if not source_uri:
            raise InvalidInput("source_uri must not be empty", field="source_uri")
        if len(vectors) != len(chunks):
            raise InvalidInput(f"{len(chunks)} chunks but {len(vectors)} vectors", field="vectors")
        if any(len(v) != VECTOR_DIM for v in vectors):
            raise InvalidInput(f"every vector must have {VECTOR_DIM} dimensions", field="vectors")
        if chunks:
            self.ensure_embedder(embedder_name, VECTOR_DIM)
        existing = self.get_one_or_none(source_uri)
        if existing is None:
            cursor = self._raw(
                "INSERT INTO search_documents (source_uri, title, mime_type, content_hash) VALUES (?, ?, ?, ?)",
                (source_uri, title, mime_type, content_hash),
            )
            document_id = int(cursor.lastrowid)
        else:
            document_id = existing.id
            self._remove_chunks(document_id)
            self._sql(
                "UPDATE search_documents SET title = ?, mime_type = ?, content_hash = ?, "
                "ingested_at = datetime('now') WHERE id = ?",
                (title, mime_type, content_hash, document_id),
            )
        self._insert_chunks(document_id, chunks, vectors, embedder_name)
        payload = {
            "source_uri": source_uri,
            "title": title,
            "mime_type": mime_type,
            "content_hash": content_hash,
            "chunks": len(chunks),
        }
        self._change(
            DOCUMENTS_TOPIC,
            "insert" if existing is None else "update",
            "search_document",
            document_id,
            payload,
        )
        return self.get(document_id), existing is None

    def update(
        self, document_id: int, *, title: str | None = None, mime_type: str | None = None
    ) -> DocumentRow:
        """Change a document's title or MIME type (its chunks stay).

        Raises:
            NotFound: No such document.
        """
        self._writable()
        current = self.get(document_id)
        values: dict[str, Any] = {}
        if title is not None:
            values["title"] = title
        if mime_type is not None:
            values["mime_type"] = mime_type
        if values:
            t = search_documents
            self._execute(sa.update(t).where(t.c.id == document_id).values(**values))
            self._change(
                DOCUMENTS_TOPIC,
                "update",
                "search_document",
                document_id,
                {"source_uri": current.source_uri, **values},
            )
        return self.get(document_id)

    def delete(self, document_id: int) -> None:
        """Delete a document with its chunks, FTS rows and vectors.

        Raises:
            NotFound: No such document.
        """
        self._writable()
        current = self.get(document_id)
        self._remove_chunks(document_id)
        self._sql("DELETE FROM search_documents WHERE id = ?", (document_id,))
        self._change(
            DOCUMENTS_TOPIC, "delete", "search_document", document_id, {"source_uri": current.source_uri}
        )

    def delete_by_uri(self, source_uri: str) -> int:
        """Delete the document with this URI; returns its id.

        Raises:
            NotFound: No such document.
        """
        document = self.get_by_uri(source_uri)
        self.delete(document.id)
        return document.id

    # -- vectors of the whole corpus (re-embed) ----------------------------------------------------------
    def iter_chunk_batches(self, *, after_id: int = 0, limit: int = 500) -> builtins.list[tuple[int, str]]:
        """``(chunk_id, body_text)`` pairs with ``id > after_id``, by id (keyset batches for re-embedding)."""
        rows = self._sql(
            "SELECT id, body_text FROM search_document_chunks WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, clamp_limit(limit)),
        )
        return [(int(r["id"]), str(r["body_text"])) for r in rows.mappings()]

    def replace_vectors(self, rows: Sequence[tuple[int, Sequence[float]]], *, embedder_name: str) -> None:
        """Overwrite the vectors of existing chunks (re-embed); the caller switches the embedder row.

        Raises:
            InvalidInput: A vector of the wrong length.
        """
        self._writable()
        if any(len(v) != VECTOR_DIM for _, v in rows):
            raise InvalidInput(f"every vector must have {VECTOR_DIM} dimensions", field="vectors")
        ids = [cid for cid, _ in rows]
        self.index.delete_vectors(ids)
        self.index.put_vectors([(cid, embedder_name, VECTOR_DIM, pack_vector(v)) for cid, v in rows])
        self._raw_many(
            "UPDATE search_document_chunks SET embedding_ref = ? WHERE id = ?",
            [(embedder_name, cid) for cid in ids],
        )

    # -- internals -------------------------------------------------------------------------------------
    def _remove_chunks(self, document_id: int) -> None:
        old = [(int(r["id"]), str(r["body_text"])) for r in self._sql(_CHUNKS_OF, (document_id,)).mappings()]
        if not old:
            return
        self.index.fts_delete(old)  # needs the old text, so before the rows go
        self.index.delete_vectors([cid for cid, _ in old])
        self._sql("DELETE FROM search_document_chunks WHERE document_id = ?", (document_id,))

    def _insert_chunks(
        self, document_id: int, chunks: Sequence[str], vectors: Sequence[Sequence[float]], embedder_name: str
    ) -> None:
        if not chunks:
            return
        self._raw_many(
            _CHUNK_INSERT, [(document_id, i, text, embedder_name) for i, text in enumerate(chunks)]
        )
        ids = [int(r[0]) for r in self._sql(_CHUNK_IDS_OF, (document_id,))]
        self.index.fts_insert(list(zip(ids, chunks, strict=True)))
        self.index.put_vectors(
            [(cid, embedder_name, VECTOR_DIM, pack_vector(v)) for cid, v in zip(ids, vectors, strict=True)]
        )
