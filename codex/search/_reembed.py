"""Switching the corpus embedder: a resumable re-embed, one transaction per batch, with progress.

Example::

    from codex.search import get_embedder, reembed
    result = reembed(store, get_embedder("minilm-onnx"), progress=lambda done, total: print(done, total))

The first transaction makes the new embedder the corpus embedder (a ``search/embedder`` change: every
server's in-memory index reloads and from then on holds only the new embedder's vectors, so one index
never mixes embedders). Each batch then re-embeds the next chunks whose vector is not yet the new
embedder's (``search_document_chunks.embedding_ref``), writes them to the table of the new dimension,
removes their old vectors and appends one ``search/vectors`` change row carrying ``done`` / ``total``
(live progress for streams; ``status()["embedder"]["embedded"]`` counts it too). Stopping half-way loses
nothing: running it again resumes with the chunks still to do. Ingest with the old embedder is refused
from the first transaction on; vector search answers from the chunks re-embedded so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codex.search._embedders import Embedder, embed_matrix, is_normalised
from codex.search.repository import SearchRepository
from codex.store import Store

__all__ = ["ReembedResult", "reembed"]


@dataclass(frozen=True, slots=True)
class ReembedResult:
    """What a re-embed did: the embedder, the chunks it re-embedded now, and the corpus total."""

    embedder: str
    dim: int
    reembedded: int
    total: int


def reembed(
    store: Store,
    embedder: Embedder,
    *,
    batch: int = 1024,
    progress: Callable[[int, int], None] | None = None,
    tenant: str | None = None,
) -> ReembedResult:
    """Re-embed the whole corpus with ``embedder`` and make it the corpus embedder.

    Args:
        store: The database.
        embedder: The new embedder (a vector table of its dimension must exist).
        batch: Chunks per transaction.
        progress: Called with ``(done, total)`` after the switch and after every batch.
        tenant: The tenant that owns the change rows (``store.begin(tenant=…)``).

    Returns:
        The :class:`ReembedResult`.

    Raises:
        InvalidInput: No vector table has the embedder's dimension.
    """
    with store.begin(tenant=tenant) as conn:
        repo = SearchRepository(conn)
        current = repo.embedder()
        if current is None or current.name != embedder.name or current.dim != embedder.dim:
            repo.set_embedder(embedder.name, embedder.dim, normalised=is_normalised(embedder))
        total = repo.count_chunks()
        done = repo.count_embedded(embedder.name)
    if progress is not None:
        progress(done, total)
    after, now = 0, 0
    while True:
        with store.begin(tenant=tenant) as conn:
            repo = SearchRepository(conn)
            rows = repo.chunks_not_embedded_by(embedder.name, after_id=after, limit=batch)
            if not rows:
                break
            vectors = embed_matrix(embedder, [text for _, text in rows])
            done += len(rows)
            now += len(rows)
            repo.replace_vectors(
                ([cid for cid, _ in rows], vectors),
                embedder_name=embedder.name,
                dim=embedder.dim,
                progress=(done, total),
            )
            after = rows[-1][0]
        if progress is not None:
            progress(done, total)
    return ReembedResult(embedder.name, embedder.dim, now, total)
