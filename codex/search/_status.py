"""``status()``: row counts, job states, the corpus embedder and index sizes (stable shape for HTTP)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from codex.search._vectors import corpus_vectors
from codex.search.jobs import JobQueue
from codex.search.repository import SearchRepository

__all__ = ["status"]


def status(conn: sa.Connection) -> dict[str, Any]:
    """The state of the search corpus (stable keys: the HTTP layer serves this).

    The first three keys are upstream's ``GET /api/search/status`` body (``COUNT(*)`` of each table).
    ``embedder.embedded`` counts the chunks whose vector comes from the corpus embedder: it equals
    ``search_document_chunks`` except while a re-embed is under way (its progress). ``index`` reports the
    stored vectors and this process's in-memory vector index (caught up with the change log first).

    Returns:
        ``{"search_documents": int, "search_document_chunks": int, "search_indexing_jobs": int,
        "jobs": {"queued": int, "running": int, "done": int, "dead": int},
        "embedder": {"name": str, "dim": int, "normalised": bool, "embedded": int} | None,
        "index": {"fts_rows": int, "vectors": int, "vector_backend": str, "vector_rows": int,
        "vector_cursor": int}}``

    Example:
        >>> from codex.config import DbConfig
        >>> from codex.store import open_store
        >>> with open_store(DbConfig("memory")) as store, store.connect() as conn:
        ...     status(conn)["search_documents"]
        0
    """
    repo = SearchRepository(conn)
    queue = JobQueue(conn)
    sizes = repo.index.sizes()
    embedder = repo.embedder()
    memory = corpus_vectors(conn).stats()
    chunks = repo.count_chunks()
    described: dict[str, Any] | None = None
    if embedder is not None:
        embedded = repo.count_embedded(embedder.name)
        described = {
            "name": embedder.name,
            "dim": embedder.dim,
            "normalised": bool(embedder.normalised),
            "embedded": embedded,
        }
    return {
        "search_documents": repo.count(),
        "search_document_chunks": chunks,
        "search_indexing_jobs": queue.count(),
        "jobs": queue.counts_by_status(),
        "embedder": described,
        "index": {
            "fts_rows": sizes.fts_rows,
            "vectors": sizes.vectors,
            "vector_backend": memory.backend,
            "vector_rows": memory.rows,
            "vector_cursor": memory.cursor,
        },
    }
