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
(the Embedder protocol, the built-in hashing embedder), ``_models`` (optional model embedders and the
registry), ``_index`` (FTS5 upkeep), ``_vectors`` (the in-memory vector index that follows the change
log), ``repository`` (documents, chunks, vectors), ``ingest``, ``_reembed`` (switching embedders),
``jobs`` (the queue), ``worker``, ``retrieval``.
"""

from __future__ import annotations

from codex.search._chunking import chunk_text
from codex.search._embedders import (
    Embedder,
    EmbedderMismatch,
    HashingEmbedder,
    default_embedder,
    embed_matrix,
)
from codex.search._extract import EXTENSIONS, ExtractedText, extract_text, mime_type_for
from codex.search._index import IndexSizes, SearchIndex
from codex.search._models import EMBEDDERS, MiniLMEmbedder, get_embedder
from codex.search._reembed import ReembedResult, reembed
from codex.search._status import status
from codex.search._vectors import CorpusVectors, ExactBackend, VectorBackend, corpus_vectors
from codex.search.ingest import (
    MAX_DOCUMENT_CHARS,
    DocumentInput,
    IngestResult,
    ReindexResult,
    content_hash,
    delete_document,
    ingest,
    ingest_file,
    ingest_many,
    read_document,
    reindex,
    source_uri_for,
)
from codex.search.jobs import JOB_STATUSES, JobQueue, JobRow, LeaseLost
from codex.search.repository import ChunkRow, DocumentRow, DocumentWrite, EmbedderRow, SearchRepository
from codex.search.retrieval import MAX_QUERY_CHARS, SearchHit, fts_query, linear_fuse, rrf_fuse, search
from codex.search.worker import PermanentJobError, WorkerStats, run_worker, worker_id

__all__ = [
    "EMBEDDERS",
    "EXTENSIONS",
    "JOB_STATUSES",
    "MAX_DOCUMENT_CHARS",
    "MAX_QUERY_CHARS",
    "ChunkRow",
    "CorpusVectors",
    "DocumentInput",
    "DocumentRow",
    "DocumentWrite",
    "Embedder",
    "EmbedderMismatch",
    "EmbedderRow",
    "ExactBackend",
    "ExtractedText",
    "HashingEmbedder",
    "IndexSizes",
    "IngestResult",
    "JobQueue",
    "JobRow",
    "LeaseLost",
    "MiniLMEmbedder",
    "PermanentJobError",
    "ReembedResult",
    "ReindexResult",
    "SearchHit",
    "SearchIndex",
    "SearchRepository",
    "VectorBackend",
    "WorkerStats",
    "chunk_text",
    "content_hash",
    "corpus_vectors",
    "default_embedder",
    "delete_document",
    "embed_matrix",
    "extract_text",
    "fts_query",
    "get_embedder",
    "ingest",
    "ingest_file",
    "ingest_many",
    "linear_fuse",
    "mime_type_for",
    "read_document",
    "reembed",
    "reindex",
    "rrf_fuse",
    "run_worker",
    "search",
    "source_uri_for",
    "status",
    "worker_id",
]
