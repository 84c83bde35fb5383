"""``status()``: row counts, job states, the corpus embedder and index sizes (stable shape for HTTP)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from codex.search.jobs import JobQueue
from codex.search.repository import SearchRepository

__all__ = ["status"]


def status(conn: sa.Connection) -> dict[str, Any]:
    """The state of the search corpus (stable keys: the HTTP layer serves this).

    The first three keys are upstream's ``GET /api/search/status`` body (``COUNT(*)`` of each table).

    Returns:
        ``{"search_documents": int, "search_document_chunks": int, "search_indexing_jobs": int,
        "jobs": {"queued": int, "running": int, "done": int, "dead": int},
        "embedder": {"name": str, "dim": int} | None,
        "index": {"fts_rows": int, "vectors": int, "vector_index": bool, "vector_index_rows": int}}``

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
    return {
        "search_documents": repo.count(),
        "search_document_chunks": repo.count_chunks(),
        "search_indexing_jobs": queue.count(),
        "jobs": queue.counts_by_status(),
        "embedder": None if embedder is None else {"name": embedder.name, "dim": embedder.dim},
        "index": {
            "fts_rows": sizes.fts_rows,
            "vectors": sizes.vectors,
            "vector_index": sizes.vector_index,
            "vector_index_rows": sizes.vector_index_rows,
        },
    }
