"""Codex search: ingest documents into the search corpus and retrieve chunks (fts, vector, hybrid).

The two calls the HTTP layer uses, with stable signatures::

    from codex.search import search, status
    with store.connect() as conn:
        hits = search(conn, "how do leases expire", mode="hybrid", k=10, uri_prefix="tenant-a/")
        info = status(conn)

Writing::

    from codex.search import ingest, JobQueue
    with store.begin() as conn:
        ingest(conn, "tenant-a/notes/1", "text …", "text/plain", "Notes")
        JobQueue(conn).enqueue("ingest", "/srv/docs/guide.md")

Modules: ``_chunking`` (the chunking rule), ``_extract`` (text/markdown/HTML → text), ``_embedders``
(the Embedder protocol, the built-in hashing embedder, the optional MiniLM one), ``_index`` (FTS5 and
vector-index upkeep), ``repository`` (documents, chunks, vectors), ``ingest``, ``jobs`` (the queue),
``worker``, ``retrieval``.
"""

from __future__ import annotations

from codex.search._chunking import chunk_text
from codex.search._embedders import (
    Embedder,
    EmbedderMismatch,
    HashingEmbedder,
    MiniLMEmbedder,
    default_embedder,
    get_embedder,
)
from codex.search._extract import EXTENSIONS, ExtractedText, extract_text, mime_type_for
from codex.search._index import IndexSizes, SearchIndex
from codex.search._status import status
from codex.search.ingest import (
    IngestResult,
    ReindexResult,
    content_hash,
    delete_document,
    ingest,
    ingest_file,
    reindex,
    source_uri_for,
)
from codex.search.jobs import JOB_STATUSES, JobQueue, JobRow, LeaseLost
from codex.search.repository import ChunkRow, DocumentRow, EmbedderRow, SearchRepository
from codex.search.retrieval import SearchHit, fts_query, linear_fuse, rrf_fuse, search
from codex.search.worker import PermanentJobError, WorkerStats, run_worker, worker_id

__all__ = [
    "EXTENSIONS",
    "JOB_STATUSES",
    "ChunkRow",
    "DocumentRow",
    "Embedder",
    "EmbedderMismatch",
    "EmbedderRow",
    "ExtractedText",
    "HashingEmbedder",
    "IndexSizes",
    "IngestResult",
    "JobQueue",
    "JobRow",
    "LeaseLost",
    "MiniLMEmbedder",
    "PermanentJobError",
    "ReindexResult",
    "SearchHit",
    "SearchIndex",
    "SearchRepository",
    "WorkerStats",
    "chunk_text",
    "content_hash",
    "default_embedder",
    "delete_document",
    "extract_text",
    "fts_query",
    "get_embedder",
    "ingest",
    "ingest_file",
    "linear_fuse",
    "mime_type_for",
    "reindex",
    "rrf_fuse",
    "run_worker",
    "search",
    "source_uri_for",
    "status",
    "worker_id",
]
