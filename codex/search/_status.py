"""``status()``: row counts, job states, the corpus embedder and index sizes (stable shape for HTTP)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from codex.search._vectors import corpus_vectors
from codex.search.jobs import JobQueue
from codex.search.repository import SearchRepository
from domains.search_ingest import search_document_chunks, search_documents, search_indexing_jobs

__all__ = ["status"]


def status(conn: sa.Connection, *, uri_prefix: str | None = None) -> dict[str, Any]:
    """The state of the search corpus (stable keys: the HTTP layer serves this).

    With ``uri_prefix`` (a tenant's ``<tenant>/``) the counts are that tenant's documents, chunks and jobs
    only, counted in SQL, and the corpus-wide ``index`` sizes are None (they span every tenant).

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
        >>> from codex.config import MemoryDb
        >>> from codex.store import open_store
        >>> with open_store(MemoryDb()) as store, store.connect() as conn:
        ...     status(conn)["search_documents"]
        0
    """
    if uri_prefix is not None:
        return _tenant_status(conn, uri_prefix)
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


def _tenant_status(conn: sa.Connection, uri_prefix: str) -> dict[str, Any]:
    """:func:`status` restricted to the documents (and jobs) whose URI starts with ``uri_prefix``."""
    docs, chunks, jobs = search_documents, search_document_chunks, search_indexing_jobs
    like_docs = docs.c.source_uri.like(_like_prefix(uri_prefix), escape="\\")
    like_jobs = jobs.c.target_uri.like(_like_prefix(uri_prefix), escape="\\")
    n_docs = conn.execute(sa.select(sa.func.count()).select_from(docs).where(like_docs)).scalar_one()
    n_chunks = conn.execute(
        sa.select(sa.func.count())
        .select_from(chunks.join(docs, chunks.c.document_id == docs.c.id))
        .where(like_docs)
    ).scalar_one()
    by_status = dict.fromkeys(("queued", "running", "done", "dead"), 0)
    for state, count in conn.execute(
        sa.select(jobs.c.status, sa.func.count()).where(like_jobs).group_by(jobs.c.status)
    ):
        by_status[str(state)] = int(count)
    embedder = SearchRepository(conn).embedder()
    return {
        "search_documents": int(n_docs),
        "search_document_chunks": int(n_chunks),
        "search_indexing_jobs": sum(by_status.values()),
        "jobs": by_status,
        "embedder": None
        if embedder is None
        else {
            "name": embedder.name,
            "dim": embedder.dim,
            "normalised": bool(embedder.normalised),
            "embedded": None,
        },
        "index": None,
    }


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
