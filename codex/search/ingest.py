"""Ingest: content → text → chunks → embeddings → the corpus, in the caller's write transaction.

Example::

    from codex.search import ingest, search
    with store.begin() as conn:
        result = ingest(conn, "notes/libsql.md", "# libSQL\\n\\nlibSQL is a fork of SQLite…", "text/markdown")
    result.outcome        # "inserted", later "unchanged" or "updated"

A document is keyed by its ``source_uri``. Its ``content_hash`` is the SHA-256 (hex) of the content as
UTF-8 text: ingesting the same bytes with the same MIME type again is skipped
(``"unchanged"``, nothing written); changed content replaces the document's chunks, FTS rows and
vectors in one transaction (``"updated"``). Chunking follows :func:`codex.search.chunk_text`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.search._chunking import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, DEFAULT_OVERLAP, chunk_text
from codex.search._embedders import Embedder, default_embedder
from codex.search._extract import decode_content, extract_text, mime_type_for
from codex.search.repository import SearchRepository

__all__ = [
    "IngestResult",
    "ReindexResult",
    "content_hash",
    "delete_document",
    "ingest",
    "ingest_file",
    "reindex",
    "source_uri_for",
]

Outcome = Literal["inserted", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did.

    Attributes:
        source_uri: The document's URI.
        document_id: Its ``search_documents.id``.
        content_hash: SHA-256 hex of the content bytes.
        outcome: ``inserted``, ``updated`` (content, MIME type or title changed) or ``unchanged``.
        chunks: Number of chunks the document has now.
    """

    source_uri: str
    document_id: int
    content_hash: str
    outcome: Outcome
    chunks: int


@dataclass(frozen=True, slots=True)
class ReindexResult:
    """What a reindex did: FTS rows and vectors after it, and whether the vector index was created."""

    fts_rows: int
    vectors: int
    vector_index_created: bool
    reembedded: int
    embedder: str | None


def content_hash(content: str | bytes) -> str:
    """SHA-256 hex digest of the content as UTF-8 (ingest hashes the decoded text, so ``str`` and
    UTF-8 ``bytes`` of the same document agree)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return hashlib.sha256(data).hexdigest()


def ingest(
    conn: sa.Connection,
    source_uri: str,
    content: str | bytes,
    mime_type: str = "text/plain",
    title: str = "",
    *,
    embedder: Embedder | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> IngestResult:
    """Add or replace one document of the search corpus (or skip it when unchanged).

    Args:
        conn: A connection from ``store.begin()``; nothing is committed here.
        source_uri: The document's unique key; use a URI prefix per tenant to scope searches.
        content: Text, or UTF-8 bytes.
        mime_type: ``text/plain``, ``text/markdown``, ``text/html`` (or another ``text/*``).
        title: Display title; when empty, the HTML ``<title>`` or first markdown heading is used.
        embedder: Embedder for the chunk vectors (default: the built-in hashing embedder). It must be
            the corpus's embedder once the corpus holds vectors.
        max_chars: Chunk size bound (see :func:`codex.search.chunk_text`).
        overlap: Chunk overlap.
        min_chars: Chunks shorter than this are merged.

    Returns:
        The :class:`IngestResult`.

    Raises:
        InvalidInput: Bytes that are not UTF-8, an unsupported MIME type, an empty URI, a read-only
            connection.
        EmbedderMismatch: The corpus was embedded with another embedder.
    """
    embedder = embedder or default_embedder()
    repo = SearchRepository(conn)
    if not source_uri:
        raise InvalidInput("source_uri must not be empty", field="source_uri")
    repo.check_embedder(embedder.name, embedder.dim)
    digest = content_hash(decode_content(content))
    extracted = extract_text(content, mime_type)
    title = title or extracted.title
    existing = repo.get_one_or_none(source_uri)
    if existing is not None and existing.content_hash == digest and existing.mime_type == mime_type:
        chunks = len(repo.list_chunks(existing.id))
        if title == existing.title:
            return IngestResult(source_uri, existing.id, digest, "unchanged", chunks)
        repo.update(existing.id, title=title)
        return IngestResult(source_uri, existing.id, digest, "updated", chunks)
    texts = chunk_text(extracted.text, max_chars=max_chars, overlap=overlap, min_chars=min_chars)
    vectors = embedder.embed(texts) if texts else []
    document, inserted = repo.upsert(
        source_uri,
        title=title,
        mime_type=mime_type,
        content_hash=digest,
        chunks=texts,
        vectors=vectors,
        embedder_name=embedder.name,
    )
    return IngestResult(source_uri, document.id, digest, "inserted" if inserted else "updated", len(texts))


def source_uri_for(path: str | Path) -> str:
    """The ``file://`` URI a file is ingested under (absolute, resolved)."""
    return Path(path).expanduser().resolve().as_uri()


def ingest_file(
    conn: sa.Connection,
    path: str | Path,
    *,
    embedder: Embedder | None = None,
    source_uri: str | None = None,
    title: str = "",
) -> IngestResult:
    """Ingest one file (MIME type from its extension, URI from its resolved path).

    Raises:
        InvalidInput: An extension that is not ingested, bytes that are not UTF-8.
        OSError: The file cannot be read.
    """
    file = Path(path)
    mime_type = mime_type_for(file)
    if mime_type is None:
        raise InvalidInput(
            f"{file.name}: not an ingested file type (.txt .md .markdown .html .htm)", field="path"
        )
    return ingest(
        conn,
        source_uri or source_uri_for(file),
        file.read_bytes(),
        mime_type,
        title or "",
        embedder=embedder,
    )


def delete_document(conn: sa.Connection, source_uri: str) -> int:
    """Remove a document with its chunks, FTS rows and vectors; returns its id.

    Raises:
        NotFound: No document has this URI.
    """
    return SearchRepository(conn).delete_by_uri(source_uri)


def reindex(
    conn: sa.Connection, *, embedder: Embedder | None = None, reembed: bool = False, batch: int = 256
) -> ReindexResult:
    """Rebuild the FTS index and (re)create + ``REINDEX`` the vector index; optionally re-embed.

    Args:
        conn: A connection from ``store.begin()``.
        embedder: The embedder to re-embed with (default: the built-in one).
        reembed: Recompute every chunk's vector with ``embedder`` and make it the corpus embedder
            (the sanctioned way to switch embedders).
        batch: Chunks per embedding batch.

    Returns:
        The :class:`ReindexResult`.
    """
    repo = SearchRepository(conn)
    done = 0
    if reembed:
        embedder = embedder or default_embedder()
        after = 0
        while rows := repo.iter_chunk_batches(after_id=after, limit=batch):
            vectors = embedder.embed([text for _, text in rows])
            repo.replace_vectors(
                [(cid, v) for (cid, _), v in zip(rows, vectors, strict=True)], embedder_name=embedder.name
            )
            done += len(rows)
            after = rows[-1][0]
        repo.set_embedder(embedder.name, embedder.dim)
    repo.index.rebuild_fts()
    created = repo.index.ensure_vector_index()
    sizes = repo.index.sizes()
    current = repo.embedder()
    return ReindexResult(sizes.fts_rows, sizes.vectors, created, done, current.name if current else None)
