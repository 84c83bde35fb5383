"""search_ingest: the corpus repository (documents, chunks, vectors, the corpus embedder).

Change-log topics (a live domain):

* ``search/documents``: ``insert`` / ``update`` / ``delete`` of a document, ``entity_kind``
  ``search_document``, ``entity_id`` the document id, payload ``{source_uri, title, mime_type,
  content_hash, chunks}`` (``{source_uri}`` for a delete). A document's chunks, FTS rows and vectors
  change only together with their document, under that one change row.
* ``search/embedder``: ``insert`` / ``update`` of the corpus embedder row, ``entity_kind``
  ``search_embedder``, payload ``{name, dim}``.

* ``search/vectors``: ``update`` after a re-embed batch rewrote the vectors of a range of chunks,
  ``entity_kind`` ``search_chunk_vectors``, payload ``{embedder, first_chunk, last_chunk, done, total}``.

The FTS table and the vectors are kept in step here (see :mod:`codex.search._index`), in the caller's
transaction: replacing a document's chunks removes the old FTS rows (``'delete'`` with the old text) and
vectors before the old chunk rows go, so a rollback or a commit never leaves orphans. Vectors live in the
table of the corpus embedder's dimension (``VECTOR_TABLES``). The in-memory vector index
(:mod:`codex.search._vectors`) follows these change rows.

Bulk writes (:meth:`SearchRepository.write_documents`) hold the write lock, so they assign document and
chunk ids themselves (from ``sqlite_sequence``) and write every table with one ``executemany`` each.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.errors import ConfigError, InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, prepare
from codex.search._embedders import EmbedderMismatch
from codex.search._index import SearchIndex
from codex.search._vectors import vector_table_name
from domains.search_ingest import (
    VECTOR_TABLES,
    search_document_chunks,
    search_documents,
    search_embedder,
)

__all__ = ["ChunkRow", "DocumentRow", "DocumentWrite", "EmbedderRow", "SearchRepository"]

DOCUMENTS_TOPIC = "search/documents"
EMBEDDER_TOPIC = "search/embedder"
VECTORS_TOPIC = "search/vectors"

_IN_BATCH = 500
_chunks, _documents, _embedder = search_document_chunks, search_documents, search_embedder
_NOW = sa.func.datetime(sa.literal_column("'now'"))
_sqlite_sequence = sa.table("sqlite_sequence", sa.column("name"), sa.column("seq"))

_DOC_COLUMNS = ("title", "mime_type", "content_hash", "metadata_json")
_DOC_UPDATE = (
    sa.update(_documents)
    .where(_documents.c.id == sa.bindparam("doc_id"))
    .values({**{c: sa.bindparam(c) for c in _DOC_COLUMNS}, "ingested_at": _NOW})
)
_DOC_DELETE = sa.delete(_documents).where(_documents.c.id == sa.bindparam("doc_id"))
_COUNT_CHUNKS = sa.select(sa.func.count()).select_from(_chunks)
_COUNT_EMBEDDED = _COUNT_CHUNKS.where(_chunks.c.embedding_ref == sa.bindparam("embedder"))
_CHUNK_BATCH = (
    sa.select(_chunks.c.id, _chunks.c.body_text)
    .where(_chunks.c.id > sa.bindparam("after_id"))
    .order_by(_chunks.c.id)
    .limit(sa.bindparam("lim"))
)
_NOT_EMBEDDED_BY = _CHUNK_BATCH.where(
    sa.func.coalesce(_chunks.c.embedding_ref, "") != sa.bindparam("embedder")
)
_SET_EMBEDDING_REF = (
    sa.update(_chunks)
    .where(_chunks.c.id == sa.bindparam("chunk"))
    .values(embedding_ref=sa.bindparam("embedder"))
)
_OF_DOCUMENTS = _chunks.c.document_id.in_(sa.bindparam("docs", expanding=True))
_CHUNKS_OF_DOCUMENTS = sa.select(_chunks.c.id, _chunks.c.body_text).where(_OF_DOCUMENTS)
_DELETE_CHUNKS_OF_DOCUMENTS = sa.delete(_chunks).where(_OF_DOCUMENTS)
_DELETE_VECTORS_OF_DOCUMENTS = tuple(
    sa.delete(t).where(t.c.chunk_id.in_(sa.select(_chunks.c.id).where(_OF_DOCUMENTS)))
    for t in VECTOR_TABLES.values()
)
_DELETE_VECTORS_OF_CHUNK = tuple(
    sa.delete(t).where(t.c.chunk_id == sa.bindparam("chunk")) for t in VECTOR_TABLES.values()
)
_EMBEDDER = prepare(
    sa.select(
        _embedder.c.name,
        _embedder.c.dim,
        _embedder.c.created_at,
        _embedder.c.updated_at,
        _embedder.c.normalised,
    ).where(_embedder.c.id == 1)
)


def _set_embedder() -> sa.Insert:
    stmt = (
        sqlite.insert(_embedder)
        .inline()
        .values(
            id=sa.literal_column("1"),
            name=sa.bindparam("name"),
            dim=sa.bindparam("dim"),
            normalised=sa.bindparam("normalised"),
        )
    )
    return stmt.on_conflict_do_update(
        index_elements=[_embedder.c.id],
        set_={
            "name": stmt.excluded.name,
            "dim": stmt.excluded.dim,
            "normalised": stmt.excluded.normalised,
            "updated_at": _NOW,
        },
    )


_SET_EMBEDDER = _set_embedder()


def _next_id(table: sa.Table) -> sa.Select[Any]:
    """The next free id of an AUTOINCREMENT table: past both its ``sqlite_sequence`` entry and its rows."""
    seq = sa.select(_sqlite_sequence.c.seq).where(_sqlite_sequence.c.name == table.name).scalar_subquery()
    top = sa.select(sa.func.max(table.c.id)).scalar_subquery()
    return sa.select(sa.func.max(sa.func.coalesce(seq, 0), sa.func.coalesce(top, 0)) + 1)


_NEXT_ID = {t.name: _next_id(t) for t in (_documents, _chunks)}


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """One document to write whole (its chunks and their vectors), for :meth:`SearchRepository.write_documents`.

    Attributes:
        source_uri: The document's unique URI.
        title: Display title.
        mime_type: The content's MIME type.
        content_hash: SHA-256 hex of the content (the unchanged-skip key).
        chunks: The chunk texts, in order.
        vectors: One row per chunk (``(len(chunks), dim)``, float32).
        metadata_json: The document's JSON metadata (text), or None.
    """

    source_uri: str
    title: str
    mime_type: str
    content_hash: str
    chunks: Sequence[str]
    vectors: npt.NDArray[np.float32]
    metadata_json: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One ``search_documents`` row."""

    id: int
    source_uri: str
    title: str
    mime_type: str
    content_hash: str
    ingested_at: str
    metadata_json: str | None = None


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
    """The corpus embedder (``search_embedder``, a single row): name, dimension, L2-normalised or not."""

    name: str
    dim: int
    created_at: str
    updated_at: str
    normalised: bool = True


def _vector_table(dim: int) -> sa.Table:
    """The vector table of ``dim`` (``ConfigError`` for a dimension no table holds)."""
    vector_table_name(dim)
    return VECTOR_TABLES[int(dim)]


def _vector_row(chunk_id: int, embedder: str, dim: int, embedding: bytes) -> dict[str, Any]:
    return {"chunk_id": chunk_id, "embedder": embedder, "dim": dim, "embedding": embedding}


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
        return int(self._execute(_COUNT_CHUNKS).scalar() or 0)

    def get_vector(self, chunk_id: int) -> bytes:
        """A chunk's stored embedding (float32 little-endian bytes), from any vector table.

        Raises:
            NotFound: The chunk has no vector.
        """
        for table in VECTOR_TABLES.values():
            row = self._execute(sa.select(table.c.embedding).where(table.c.chunk_id == chunk_id)).first()
            if row is not None:
                return bytes(row[0])
        raise NotFound(f"search chunk {chunk_id} has no vector")

    def count_embedded(self, embedder: str) -> int:
        """Chunks whose vector was made by ``embedder`` (``embedding_ref``): a re-embed's progress."""
        return int(self._execute(_COUNT_EMBEDDED, {"embedder": embedder}).scalar() or 0)

    def chunks_not_embedded_by(
        self, embedder: str, *, after_id: int = 0, limit: int = 500
    ) -> builtins.list[tuple[int, str]]:
        """``(chunk_id, body_text)`` of chunks whose vector is not ``embedder``'s, by id after ``after_id``."""
        params = {"after_id": after_id, "embedder": embedder, "lim": clamp_limit(limit)}
        return [(int(r.id), str(r.body_text)) for r in self._execute(_NOT_EMBEDDED_BY, params)]

    def by_uris(self, uris: Sequence[str]) -> dict[str, DocumentRow]:
        """The documents with these source URIs, by URI (missing ones are absent)."""
        t = search_documents
        found: dict[str, DocumentRow] = {}
        for i in range(0, len(uris), _IN_BATCH):
            part = builtins.list(uris[i : i + _IN_BATCH])
            for row in self._all(DocumentRow, sa.select(t).where(t.c.source_uri.in_(part))):
                found[row.source_uri] = row
        return found

    def count_vectors(self, *, embedder: str | None = None) -> int:
        """Stored vectors over every vector table (optionally only those of one embedder)."""
        total = 0
        for table in VECTOR_TABLES.values():
            stmt = sa.select(sa.func.count()).select_from(table)
            if embedder is not None:
                stmt = stmt.where(table.c.embedder == embedder)
            total += int(self._execute(stmt).scalar_one())
        return total

    # -- the corpus embedder --------------------------------------------------------------------------
    def embedder(self) -> EmbedderRow | None:
        """The corpus embedder, or None before the first vector is stored."""
        row = self._run(_EMBEDDER).fetchone()
        if row is None:
            return None
        return EmbedderRow(str(row[0]), int(row[1]), str(row[2]), str(row[3]), bool(row[4]))

    def check_embedder(self, name: str, dim: int) -> None:
        """Refuse an embedder other than the corpus's (no-op for an empty corpus).

        Raises:
            EmbedderMismatch: The corpus holds vectors of another embedder or dimension.
        """
        current = self.embedder()
        if current is None or (current.name == name and current.dim == dim):
            return
        if self.count_vectors() == 0:
            return
        raise EmbedderMismatch(
            f"the search corpus was embedded with {current.name!r} ({current.dim} dims), not {name!r} "
            f"({dim} dims): one index never mixes embedders; query with the corpus embedder, or re-embed "
            f"the corpus with `codex search reindex --reembed --embedder ...`",
            corpus_embedder=current.name,
            corpus_dim=current.dim,
            embedder=name,
            dim=dim,
        )

    @staticmethod
    def _check_dim(name: str, dim: int) -> None:
        if not name:
            raise InvalidInput("an embedder needs a name", field="embedder")
        try:
            vector_table_name(dim)
        except ConfigError as exc:
            raise InvalidInput(f"embedder {name!r}: {exc.message}", field="dim", dim=dim) from exc

    def ensure_embedder(self, name: str, dim: int, *, normalised: bool = True) -> EmbedderRow:
        """Record the corpus embedder, or check that it is this one.

        An empty corpus (no vectors) adopts the given embedder even when another one was recorded.

        Args:
            name: Embedder name (``Embedder.name``).
            dim: Its dimension; a vector table of that dimension must exist.
            normalised: Whether its vectors are L2-normalised.

        Returns:
            The corpus embedder row.

        Raises:
            InvalidInput: No vector table has this dimension.
            EmbedderMismatch: The corpus holds vectors of another embedder.
        """
        self._writable()
        self._check_dim(name, dim)
        current = self.embedder()
        if current is not None and current.name == name and current.dim == dim:
            return current
        self.check_embedder(name, dim)
        return self.set_embedder(name, dim, normalised=normalised)

    def set_embedder(self, name: str, dim: int, *, normalised: bool = True) -> EmbedderRow:
        """Overwrite the corpus embedder row (only for a re-embed of the whole corpus).

        Raises:
            InvalidInput: No vector table has this dimension, or the name is empty.
        """
        self._writable()
        self._check_dim(name, dim)
        existed = self.embedder() is not None
        self._execute(_SET_EMBEDDER, {"name": name, "dim": dim, "normalised": normalised})
        self._change(
            EMBEDDER_TOPIC,
            "update" if existed else "insert",
            "search_embedder",
            1,
            {"name": name, "dim": dim, "normalised": normalised},
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
        vectors: Sequence[Sequence[float]] | npt.NDArray[np.float32],
        embedder_name: str,
        dim: int | None = None,
    ) -> tuple[DocumentRow, bool]:
        """Insert a document or replace it whole: its row, chunks, FTS rows and vectors, atomically.

        One document through :meth:`write_documents`.

        Args:
            source_uri: The document's unique URI (``file:///…``, ``https://…``, ``tenant-a/notes/1``…).
            title: Display title.
            mime_type: The content's MIME type.
            content_hash: SHA-256 hex of the content (the unchanged-skip key).
            chunks: The chunk texts, in order.
            vectors: One vector per chunk.
            embedder_name: Name of the embedder that made ``vectors`` (checked against the corpus).
            dim: The vectors' dimension (default: their length, else 256).

        Returns:
            The document row and True when it was inserted (False: replaced).

        Raises:
            InvalidInput: Empty URI, a vector count or length that does not match.
            EmbedderMismatch: The corpus was embedded with another embedder.
        """
        width = dim if dim is not None else (len(vectors[0]) if len(vectors) else 256)
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), width) if len(vectors) else None
        doc = DocumentWrite(
            source_uri,
            title,
            mime_type,
            content_hash,
            list(chunks),
            matrix if matrix is not None else np.zeros((0, width), np.float32),
        )
        [(row, inserted)] = self.write_documents([doc], embedder_name=embedder_name, dim=width)
        return row, inserted

    def write_documents(
        self, docs: Sequence[DocumentWrite], *, embedder_name: str, dim: int, normalised: bool = True
    ) -> builtins.list[tuple[DocumentRow, bool]]:
        """Insert or replace documents whole, in bulk, in the caller's transaction.

        Replaced documents lose their old chunks, FTS rows and vectors first. New document and chunk ids
        are assigned here (the caller holds the write lock), and every table is written with one
        ``executemany``; one change row per document (``insert`` or ``update``) goes to
        ``search/documents``.

        Args:
            docs: The documents (distinct URIs).
            embedder_name: The embedder that made the vectors (checked against the corpus).
            dim: Their dimension (picks the vector table).
            normalised: Whether the embedder's vectors are L2-normalised.

        Returns:
            ``(document row, inserted)`` per document, in order.

        Raises:
            InvalidInput: An empty or repeated URI, vectors that do not match the chunks.
            EmbedderMismatch: The corpus was embedded with another embedder.
        """
        self._writable()
        if not docs:
            return []
        uris = [d.source_uri for d in docs]
        if any(not u for u in uris):
            raise InvalidInput("source_uri must not be empty", field="source_uri")
        if len(set(uris)) != len(uris):
            raise InvalidInput("a batch names the same source_uri twice", field="source_uri")
        for d in docs:
            if d.vectors.shape != (len(d.chunks), dim):
                raise InvalidInput(
                    f"{d.source_uri}: {len(d.chunks)} chunks need a ({len(d.chunks)}, {dim}) vector array, "
                    f"got {d.vectors.shape}",
                    field="vectors",
                )
        if any(d.chunks for d in docs):
            self.ensure_embedder(embedder_name, dim, normalised=normalised)
        vectors = _vector_table(dim)
        existing = self.by_uris(uris)
        replaced = [existing[u].id for u in uris if u in existing]
        self._remove_chunks(replaced)
        if replaced:
            self._execute(
                _DOC_UPDATE,
                [
                    {
                        "title": d.title,
                        "mime_type": d.mime_type,
                        "content_hash": d.content_hash,
                        "metadata_json": d.metadata_json,
                        "doc_id": existing[d.source_uri].id,
                    }
                    for d in docs
                    if d.source_uri in existing
                ],
            )
        next_doc = self._next_id(_documents)
        ids: dict[str, int] = {}
        new_rows = []
        for d in docs:
            found = existing.get(d.source_uri)
            if found is None:
                ids[d.source_uri] = next_doc
                new_rows.append(
                    {
                        "id": next_doc,
                        "source_uri": d.source_uri,
                        "title": d.title,
                        "mime_type": d.mime_type,
                        "content_hash": d.content_hash,
                        "metadata_json": d.metadata_json,
                    }
                )
                next_doc += 1
            else:
                ids[d.source_uri] = found.id
        self._bulk_insert(_documents, new_rows)
        chunk_id = self._next_id(_chunks)
        chunk_rows: builtins.list[dict[str, Any]] = []
        fts_rows: builtins.list[tuple[int, str]] = []
        vector_rows: builtins.list[dict[str, Any]] = []
        for d in docs:
            blobs = d.vectors.astype("<f4", copy=False)
            for i, text in enumerate(d.chunks):
                chunk_rows.append(
                    {
                        "id": chunk_id,
                        "document_id": ids[d.source_uri],
                        "chunk_index": i,
                        "body_text": text,
                        "embedding_ref": embedder_name,
                    }
                )
                fts_rows.append((chunk_id, text))
                vector_rows.append(_vector_row(chunk_id, embedder_name, dim, blobs[i].tobytes()))
                chunk_id += 1
        if chunk_rows:
            self._bulk_insert(_chunks, chunk_rows)
            self.index.fts_insert(fts_rows)
            self._bulk_insert(vectors, vector_rows)
        for d in docs:
            self._change(
                DOCUMENTS_TOPIC,
                "update" if d.source_uri in existing else "insert",
                "search_document",
                ids[d.source_uri],
                {
                    "source_uri": d.source_uri,
                    "title": d.title,
                    "mime_type": d.mime_type,
                    "content_hash": d.content_hash,
                    "chunks": len(d.chunks),
                },
            )
        after = self.by_uris(uris)
        return [(after[u], u not in existing) for u in uris]

    def update(
        self,
        document_id: int,
        *,
        title: str | None = None,
        mime_type: str | None = None,
        metadata_json: str | EllipsisType | None = ...,
    ) -> DocumentRow:
        """Change a document's title, MIME type or metadata (``...``: keep it; its chunks stay).

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
        if not isinstance(metadata_json, EllipsisType) and metadata_json != current.metadata_json:
            values["metadata_json"] = metadata_json
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
        self._remove_chunks([document_id])
        self._execute(_DOC_DELETE, {"doc_id": document_id})
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
        rows = self._execute(_CHUNK_BATCH, {"after_id": after_id, "lim": clamp_limit(limit)})
        return [(int(r.id), str(r.body_text)) for r in rows]

    def replace_vectors(
        self,
        rows: Sequence[tuple[int, Sequence[float]]] | tuple[Sequence[int], npt.NDArray[np.float32]],
        *,
        embedder_name: str,
        dim: int | None = None,
        progress: tuple[int, int] | None = None,
    ) -> None:
        """Overwrite the vectors of existing chunks (re-embed); the caller switches the embedder row.

        The chunks' old vectors go from every vector table, the new ones go to the table of ``dim``, and
        one ``search/vectors`` change row names the chunk range (the in-memory index reloads it).

        Args:
            rows: ``(chunk_id, vector)`` pairs, or ``(chunk ids, (n, dim) array)``.
            embedder_name: The embedder that made them.
            dim: Their dimension (default: the vectors' length).
            progress: ``(done, total)`` chunks of the whole re-embed, for the change row's payload.

        Raises:
            InvalidInput: Vectors of another length than ``dim``, or no table for it.
        """
        self._writable()
        if isinstance(rows, tuple):
            ids = [int(i) for i in rows[0]]
            matrix = np.asarray(rows[1], dtype=np.float32)
        else:
            ids = [int(cid) for cid, _ in rows]
            matrix = np.asarray([v for _, v in rows], dtype=np.float32)
        if not ids:
            return
        width = dim if dim is not None else int(matrix.shape[1])
        if matrix.shape != (len(ids), width):
            raise InvalidInput(f"every vector must have {width} dimensions", field="vectors")
        self._check_dim(embedder_name, width)
        self._delete_vectors_of_chunks(ids)
        blobs = matrix.astype("<f4", copy=False)
        self._bulk_insert(
            _vector_table(width),
            [_vector_row(cid, embedder_name, width, blobs[i].tobytes()) for i, cid in enumerate(ids)],
        )
        self._execute(_SET_EMBEDDING_REF, [{"embedder": embedder_name, "chunk": cid} for cid in ids])
        done, total = progress if progress is not None else (len(ids), len(ids))
        self._change(
            VECTORS_TOPIC,
            "update",
            "search_chunk_vectors",
            None,
            {
                "embedder": embedder_name,
                "first_chunk": min(ids),
                "last_chunk": max(ids),
                "done": done,
                "total": total,
            },
        )

    # -- internals -------------------------------------------------------------------------------------
    def _next_id(self, table: sa.Table) -> int:
        return int(self._execute(_NEXT_ID[table.name]).scalar() or 1)

    def _bulk_insert(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (every one with the same keys) with one ``executemany`` (the gateway's fast path)."""
        if rows:
            self._gateway(table, dict).insert_many(rows)

    def _delete_vectors_of_chunks(self, chunk_ids: Sequence[int]) -> None:
        for stmt in _DELETE_VECTORS_OF_CHUNK:
            self._execute(stmt, [{"chunk": cid} for cid in chunk_ids])

    def _remove_chunks(self, document_ids: Sequence[int]) -> None:
        for i in range(0, len(document_ids), _IN_BATCH):
            part = {"docs": list(document_ids[i : i + _IN_BATCH])}
            old = [(int(r.id), str(r.body_text)) for r in self._execute(_CHUNKS_OF_DOCUMENTS, part)]
            if not old:
                continue
            self.index.fts_delete(old)  # needs the old text, so before the rows go
            for stmt in _DELETE_VECTORS_OF_DOCUMENTS:
                self._execute(stmt, part)
            self._execute(_DELETE_CHUNKS_OF_DOCUMENTS, part)
