"""Ingest: content → text → chunks → embeddings → the corpus, in the caller's write transaction.

Example::

    from codex.search import DocumentInput, ingest, ingest_many
    with store.begin() as conn:
        result = ingest(conn, "notes/libsql.md", "# libSQL\\n\\nlibSQL is a fork of SQLite…", "text/markdown")
    result.outcome        # "inserted", later "unchanged" or "updated"
    with store.begin() as conn:                      # bulk: one transaction per batch
        results = ingest_many(conn, [DocumentInput("a", "…"), DocumentInput("b", "…")])

A document is keyed by its ``source_uri``. Its ``content_hash`` is the SHA-256 (hex) of the content as
UTF-8 text: ingesting the same bytes with the same MIME type again is skipped (``"unchanged"``, nothing
written); changed content replaces the document's chunks, FTS rows and vectors in one transaction
(``"updated"``). Chunking follows :func:`codex.search.chunk_text`.

:func:`ingest_many` is the fast path (≥ 2,000 chunks/s with the built-in embedder on a local file): every
document of the batch is decoded, checked and chunked first (a bad one raises before anything is
written), the chunks of the whole batch are embedded in one call, and the rows go in with one
``executemany`` per table and one change row per document. A batch is all or nothing: the caller's
transaction commits it whole or rolls it back whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import dump_json
from codex.search._chunking import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, DEFAULT_OVERLAP, chunk_text
from codex.search._embedders import Embedder, default_embedder, embed_matrix, is_normalised
from codex.search._extract import decode_content, extract_text, mime_type_for
from codex.search.repository import DocumentWrite, SearchRepository

__all__ = [
    "MAX_DOCUMENT_CHARS",
    "DocumentInput",
    "IngestResult",
    "ReindexResult",
    "content_hash",
    "delete_document",
    "ingest",
    "ingest_file",
    "ingest_many",
    "read_document",
    "reindex",
    "source_uri_for",
]

Outcome = Literal["inserted", "updated", "unchanged"]

MAX_DOCUMENT_CHARS = 5_000_000
"""The longest document text accepted (after decoding); longer ones are refused, not truncated."""


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """One document to ingest.

    Attributes:
        source_uri: The document's unique key; use a URI prefix per tenant to scope searches.
        content: Text, or UTF-8 bytes.
        mime_type: ``text/plain``, ``text/markdown``, ``text/html`` (or another ``text/*``).
        title: Display title; when empty, the HTML ``<title>`` or first markdown heading is used.
        metadata: Any JSON value kept with the document (``metadata_json``); None for none.
    """

    source_uri: str
    content: str | bytes
    mime_type: str = "text/plain"
    title: str = ""
    metadata: Any = None


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
    """What a reindex did: FTS rows and vectors after it, the chunks re-embedded and the corpus embedder."""

    fts_rows: int
    vectors: int
    reembedded: int
    embedder: str | None


@dataclass(frozen=True, slots=True)
class _Prepared:
    source_uri: str
    mime_type: str
    title: str
    digest: str
    chunks: list[str]
    metadata_json: str | None


def content_hash(content: str | bytes) -> str:
    """SHA-256 hex digest of the content as UTF-8 (ingest hashes the decoded text, so ``str`` and
    UTF-8 ``bytes`` of the same document agree)."""
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return hashlib.sha256(data).hexdigest()


def _prepare(doc: DocumentInput, max_chars: int, overlap: int, min_chars: int) -> _Prepared:
    if not doc.source_uri:
        raise InvalidInput("source_uri must not be empty", field="source_uri")
    text = decode_content(doc.content)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidInput(
            f"{doc.source_uri}: the document has {len(text):,} characters; at most "
            f"{MAX_DOCUMENT_CHARS:,} are accepted (split it)",
            field="content",
            source_uri=doc.source_uri,
        )
    extracted = extract_text(text, doc.mime_type)
    chunks = chunk_text(extracted.text, max_chars=max_chars, overlap=overlap, min_chars=min_chars)
    return _Prepared(
        doc.source_uri,
        doc.mime_type,
        doc.title or extracted.title,
        content_hash(text),
        chunks,
        dump_json(doc.metadata),
    )


def ingest_many(
    conn: sa.Connection,
    docs: Iterable[DocumentInput],
    *,
    embedder: Embedder | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> list[IngestResult]:
    """Add or replace a batch of documents (or skip the unchanged ones), all or nothing.

    Args:
        conn: A connection from ``store.begin()``; nothing is committed here.
        docs: The documents (distinct ``source_uri``s).
        embedder: Embedder for the chunk vectors (default: the built-in hashing embedder). It must be
            the corpus's embedder once the corpus holds vectors.
        max_chars: Chunk size bound (see :func:`codex.search.chunk_text`).
        overlap: Chunk overlap.
        min_chars: Chunks shorter than this are merged.

    Returns:
        One :class:`IngestResult` per document, in order.

    Raises:
        InvalidInput: A document that is not UTF-8, too long, of an unsupported MIME type, or with an
            empty or repeated URI (``details`` name it and its ``index`` in the batch); a read-only
            connection. Nothing is written.
        EmbedderMismatch: The corpus was embedded with another embedder.
    """
    embedder = embedder or default_embedder()
    batch = list(docs)
    prepared: list[_Prepared] = []
    for index, doc in enumerate(batch):
        try:
            prepared.append(_prepare(doc, max_chars, overlap, min_chars))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, **{**exc.details, "index": index}) from exc
    uris = [p.source_uri for p in prepared]
    if len(set(uris)) != len(uris):
        raise InvalidInput("a batch names the same source_uri twice", field="source_uri")
    repo = SearchRepository(conn)
    if conn.get_execution_options().get("codex_read_only"):
        raise InvalidInput("this operation writes: use a connection from store.begin()")
    repo.check_embedder(embedder.name, embedder.dim)
    existing = repo.by_uris(uris)
    results: dict[str, IngestResult] = {}
    to_write: list[_Prepared] = []
    for p in prepared:
        found = existing.get(p.source_uri)
        if found is not None and found.content_hash == p.digest and found.mime_type == p.mime_type:
            chunks = len(repo.list_chunks(found.id))
            if p.title == found.title and p.metadata_json == found.metadata_json:
                results[p.source_uri] = IngestResult(p.source_uri, found.id, p.digest, "unchanged", chunks)
            else:
                repo.update(found.id, title=p.title, metadata_json=p.metadata_json)
                results[p.source_uri] = IngestResult(p.source_uri, found.id, p.digest, "updated", chunks)
            continue
        to_write.append(p)
    if to_write:
        texts = [text for p in to_write for text in p.chunks]
        vectors = embed_matrix(embedder, texts)
        writes, start = [], 0
        for p in to_write:
            stop = start + len(p.chunks)
            writes.append(
                DocumentWrite(
                    p.source_uri,
                    p.title,
                    p.mime_type,
                    p.digest,
                    p.chunks,
                    vectors[start:stop],
                    p.metadata_json,
                )
            )
            start = stop
        written = repo.write_documents(
            writes, embedder_name=embedder.name, dim=embedder.dim, normalised=is_normalised(embedder)
        )
        for p, (row, inserted) in zip(to_write, written, strict=True):
            results[p.source_uri] = IngestResult(
                p.source_uri, row.id, p.digest, "inserted" if inserted else "updated", len(p.chunks)
            )
    return [results[u] for u in uris]


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

    One document through :func:`ingest_many`.

    Args:
        conn: A connection from ``store.begin()``; nothing is committed here.
        source_uri: The document's unique key; use a URI prefix per tenant to scope searches.
        content: Text, or UTF-8 bytes.
        mime_type: ``text/plain``, ``text/markdown``, ``text/html`` (or another ``text/*``).
        title: Display title; when empty, the HTML ``<title>`` or first markdown heading is used.
        embedder: Embedder for the chunk vectors (default: the built-in hashing embedder).
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
    [result] = ingest_many(
        conn,
        [DocumentInput(source_uri, content, mime_type, title)],
        embedder=embedder,
        max_chars=max_chars,
        overlap=overlap,
        min_chars=min_chars,
    )
    return result


def source_uri_for(path: str | Path) -> str:
    """The ``file://`` URI a file is ingested under (absolute, resolved)."""
    return Path(path).expanduser().resolve().as_uri()


def read_document(path: str | Path, *, source_uri: str | None = None, title: str = "") -> DocumentInput:
    """A file as a :class:`DocumentInput` (MIME type from its extension, URI from its resolved path).

    Raises:
        InvalidInput: An extension that is not ingested.
        OSError: The file cannot be read.
    """
    file = Path(path)
    mime_type = mime_type_for(file)
    if mime_type is None:
        raise InvalidInput(
            f"{file.name}: not an ingested file type (.txt .md .markdown .html .htm)", field="path"
        )
    return DocumentInput(source_uri or source_uri_for(file), file.read_bytes(), mime_type, title)


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
    [result] = ingest_many(conn, [read_document(path, source_uri=source_uri, title=title)], embedder=embedder)
    return result


def delete_document(conn: sa.Connection, source_uri: str) -> int:
    """Remove a document with its chunks, FTS rows and vectors; returns its id.

    Raises:
        NotFound: No document has this URI.
    """
    return SearchRepository(conn).delete_by_uri(source_uri)


def reindex(
    conn: sa.Connection,
    *,
    embedder: Embedder | None = None,
    reembed: bool = False,
    batch: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexResult:
    """Rebuild the FTS index; optionally re-embed every chunk, all in ``conn``'s transaction.

    For a large corpus prefer :func:`codex.search.reembed` (one transaction per batch, resumable, with
    progress in a job row).

    Args:
        conn: A connection from ``store.begin()``.
        embedder: The embedder to re-embed with (default: the built-in one).
        reembed: Recompute every chunk's vector with ``embedder`` and make it the corpus embedder
            (the sanctioned way to switch embedders).
        batch: Chunks per embedding batch.
        progress: Called with ``(done, total)`` after each batch.

    Returns:
        The :class:`ReindexResult`.
    """
    repo = SearchRepository(conn)
    done = 0
    if reembed:
        embedder = embedder or default_embedder()
        total = repo.count_chunks()
        repo.set_embedder(embedder.name, embedder.dim, normalised=is_normalised(embedder))
        after = 0
        while rows := repo.iter_chunk_batches(after_id=after, limit=batch):
            vectors = embed_matrix(embedder, [text for _, text in rows])
            done += len(rows)
            repo.replace_vectors(
                ([cid for cid, _ in rows], vectors),
                embedder_name=embedder.name,
                dim=embedder.dim,
                progress=(done, total),
            )
            after = rows[-1][0]
            if progress is not None:
                progress(done, total)
    repo.index.rebuild_fts()
    sizes = repo.index.sizes()
    current = repo.embedder()
    return ReindexResult(sizes.fts_rows, sizes.vectors, done, current.name if current else None)
