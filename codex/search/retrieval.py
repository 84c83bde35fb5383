"""Retrieval: full-text (FTS5 + bm25), vector (libSQL vector index or brute-force cosine) and hybrid.

The entry point the HTTP layer calls is :func:`search` (signature kept stable)::

    hits = search(conn, "vector index on sqld", mode="hybrid", k=10, uri_prefix="file:///srv/tenant-a/")

Legs:

* **fts**: every query word is quoted and the words are OR-ed (``"vector" OR "index"``), so a query is
  never FTS5 syntax and any matching word counts; ``bm25()`` orders the matches (lower is better, it is
  negative); the snippet comes from ``snippet()`` with ``[`` ``]`` around matched terms. Leg score:
  ``-bm25`` (higher is better).
* **vector**: the query is embedded with the corpus embedder; the in-memory corpus vectors
  (:mod:`codex.search._vectors`, exact cosine by one BLAS product, caught up with the change log first)
  give the candidates, which are joined back to their chunk and document rows with the filters in the
  WHERE clause (widened when filters drop them; a narrow scope is scored over its own rows only).
  Score: the cosine similarity. ``use_index=False`` (and a transaction that has written search rows it
  has not committed) runs the exact scan in SQL instead: ``ORDER BY vector_distance_cos`` over every
  row of the corpus embedder's vector table.
* **hybrid**: both legs fetch ``max(4k, 40)`` candidates (vector candidates need a positive cosine
  similarity) and are fused per chunk id.
  ``fusion="rrf"`` (default): Reciprocal Rank Fusion, ``Σ 1/(rrf_k + rank)`` with ranks from 1 and
  ``rrf_k = 60`` (the vox-search crate's rule, ``semantics.md`` §9). ``fusion="linear"``: the upstream
  vox-db weighted merge — a chunk in both legs scores ``w·vector + (1-w)·text`` with ``w = 0.55``, a chunk
  in one leg keeps that leg's score; the text score is ``-bm25`` divided by the best ``-bm25`` of the
  candidates (so it lies in 0..1 like the cosine similarity).

Filters: ``uri_prefix`` (the **scope**: give each tenant a URI prefix, e.g. ``tenant-a/…`` or
``file:///srv/tenant-a/``, and pass it on every query; it is applied inside the SQL of both legs, so hits
from outside the prefix never appear), ``mime_type`` (exact), ``min_score`` (on the final score), ``k``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import Prepared, Repository, prepare
from codex.search._embedders import Embedder, default_embedder, embed_matrix, pack_vector, tokenize
from codex.search._index import FTS_TABLE, SearchIndex, _fts
from codex.search._models import get_embedder
from codex.search._vectors import corpus_vectors, vector_table_name
from codex.search.repository import EmbedderRow, SearchRepository
from domains.search_ingest import VECTOR_TABLES, search_document_chunks, search_documents, search_embedder

__all__ = [
    "FUSIONS",
    "MAX_QUERY_CHARS",
    "MODES",
    "SNIPPET_CLOSE",
    "SNIPPET_OPEN",
    "LegHit",
    "Retriever",
    "SearchHit",
    "fts_query",
    "linear_fuse",
    "rrf_fuse",
    "search",
]

MODES = ("fts", "vector", "hybrid")
FUSIONS = ("rrf", "linear")
SNIPPET_OPEN = "["
SNIPPET_CLOSE = "]"
Source = Literal["fts", "vector", "hybrid"]

_MAX_K = 1000
MAX_QUERY_CHARS = 2000
_MAX_TOKENS = 64
_SCOPED_AFTER = 4096  # candidates: past this, a filtered query is scored over its scope's rows only
_LAST_CHANGE = "codex_last_change_id"  # conn.info key: the transaction wrote change rows (codex.store)
_EXCERPT = 240

_chunks, _documents = search_document_chunks, search_documents
_HIT_COLUMNS = (
    _chunks.c.id,
    _chunks.c.document_id,
    _chunks.c.chunk_index,
    _documents.c.source_uri,
    _documents.c.title,
    _documents.c.mime_type,
)
_OF_DOCUMENT = _documents.c.id == _chunks.c.document_id
_CHUNKS_WITH_DOCUMENTS = _chunks.join(_documents, _OF_DOCUMENT)
_FTS_NAME: sa.ColumnClause[Any] = sa.literal_column(FTS_TABLE)
"""The FTS5 table's bare name: ``MATCH`` and the auxiliary functions (``bm25``, ``snippet``) take it."""
_JSON_VALUE: sa.ColumnClause[Any] = sa.literal_column("value")
"""The ``value`` column of ``json_each()``: a list of ids is one JSON parameter, not one parameter per id."""
_CORPUS_EMBEDDER = sa.select(search_embedder.c.name).where(search_embedder.c.id == 1).scalar_subquery()

_Scope = tuple[bool, bool]
"""Which filters a statement carries: ``(uri_prefix, mime_type)``; their values are its parameters."""


def _scoped(stmt: sa.Select[Any], scope: _Scope) -> sa.Select[Any]:
    """``stmt`` with the filters of ``scope`` on ``search_documents`` in its WHERE clause."""
    by_prefix, by_mime = scope
    if by_prefix:
        prefix = sa.func.substr(_documents.c.source_uri, 1, sa.bindparam("prefix_len"))
        stmt = stmt.where(prefix == sa.bindparam("uri_prefix"))
    if by_mime:
        stmt = stmt.where(_documents.c.mime_type == sa.bindparam("mime_type"))
    return stmt


@functools.cache
def _fts_statement(scope: _Scope) -> Prepared:
    """The text leg: parameters ``match``, ``limit`` and the filters'."""
    snippet = sa.func.snippet(_FTS_NAME, 0, SNIPPET_OPEN, SNIPPET_CLOSE, "…", 24).label("snippet")
    score = sa.func.bm25(_FTS_NAME).label("score")
    stmt = (
        sa.select(*_HIT_COLUMNS, snippet, score)
        .select_from(_fts.join(_chunks, _chunks.c.id == _fts.c.rowid).join(_documents, _OF_DOCUMENT))
        .where(_FTS_NAME.op("MATCH")(sa.bindparam("match")))
    )
    return prepare(_scoped(stmt, scope).order_by(score, _chunks.c.id).limit(sa.bindparam("limit")))


@functools.cache
def _scope_ids_statement(scope: _Scope) -> Prepared:
    """The chunk ids the filters allow: the filters' parameters."""
    return prepare(_scoped(sa.select(_chunks.c.id).select_from(_CHUNKS_WITH_DOCUMENTS), scope))


@functools.cache
def _join_statement(scope: _Scope) -> Prepared:
    """The hit columns and text of the chunks ``ids`` (a JSON array) that pass the filters."""
    stmt = (
        sa.select(*_HIT_COLUMNS, _chunks.c.body_text)
        .select_from(_CHUNKS_WITH_DOCUMENTS)
        .where(_chunks.c.id.in_(sa.select(_JSON_VALUE).select_from(sa.func.json_each(sa.bindparam("ids")))))
    )
    return prepare(_scoped(stmt, scope))


@functools.cache
def _scan_statement(dim: int, scope: _Scope) -> Prepared:
    """The exact vector scan over the corpus embedder's rows of ``dim``: parameters ``vector``, ``limit``.

    The WHERE clause tests the ``distance`` label (SQLite resolves it), so the distance is computed once a row.
    """
    table = VECTOR_TABLES[dim]
    query = sa.bindparam("vector", type_=table.c.embedding.type)
    distance = sa.func.vector_distance_cos(table.c.embedding, query).label("distance")
    stmt = (
        sa.select(*_HIT_COLUMNS, _chunks.c.body_text, distance)
        .select_from(table.join(_chunks, _chunks.c.id == table.c.chunk_id).join(_documents, _OF_DOCUMENT))
        .where(sa.literal_column(distance.name).is_not(None), table.c.embedder == _CORPUS_EMBEDDER)
    )
    return prepare(_scoped(stmt, scope).order_by(distance, _chunks.c.id).limit(sa.bindparam("limit")))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One retrieved chunk.

    Attributes:
        chunk_id: ``search_document_chunks.id``.
        document_id: Its document.
        chunk_index: Position of the chunk in the document.
        source_uri: The document's URI.
        title: The document's title.
        mime_type: The document's MIME type.
        snippet: FTS ``snippet()`` with ``[`` ``]`` around matches when the text leg matched, else the
            chunk's first ~240 characters.
        score: The final score, higher is better: ``-bm25`` (fts), cosine similarity (vector), the
            RRF sum or the linear blend (hybrid).
        source: Evidence: ``fts``, ``vector`` or ``hybrid`` (found by both legs).
        fts_rank: 1-based rank in the text leg (None: not found there).
        bm25: Raw ``bm25()`` of the text leg (lower is better).
        vector_rank: 1-based rank in the vector leg.
        vector_score: ``1 - cosine distance`` in the vector leg.
    """

    chunk_id: int
    document_id: int
    chunk_index: int
    source_uri: str
    title: str
    mime_type: str
    snippet: str
    score: float
    source: Source
    fts_rank: int | None = None
    bm25: float | None = None
    vector_rank: int | None = None
    vector_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LegHit:
    """One hit of a single leg, before fusion (``value``: raw bm25 for fts, cosine similarity for vector)."""

    chunk_id: int
    document_id: int
    chunk_index: int
    source_uri: str
    title: str
    mime_type: str
    snippet: str
    value: float  # bm25 (fts) or cosine similarity (vector)


def fts_query(text: str) -> str:
    """The FTS5 MATCH expression for free text: each distinct word quoted, joined with OR ("" if none).

    Example:
        >>> fts_query('vector "index" OR sqld')
        '"vector" OR "index" OR "or" OR "sqld"'
    """
    seen: dict[str, None] = {}
    for token in tokenize(text):
        seen.setdefault(token, None)
        if len(seen) >= _MAX_TOKENS:
            break
    return " OR ".join(f'"{token}"' for token in seen)


def _leg(row: Sequence[Any], snippet: str, value: float) -> LegHit:
    return LegHit(
        int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]), snippet, value
    )


def _excerpt(text: str) -> str:
    if len(text) <= _EXCERPT:
        return text
    cut = text.rfind(" ", 0, _EXCERPT)
    return text[: cut if cut > _EXCERPT // 2 else _EXCERPT].rstrip() + "…"


def _hit(leg: LegHit, **kw: Any) -> SearchHit:
    return SearchHit(
        chunk_id=leg.chunk_id,
        document_id=leg.document_id,
        chunk_index=leg.chunk_index,
        source_uri=leg.source_uri,
        title=leg.title,
        mime_type=leg.mime_type,
        snippet=leg.snippet,
        **kw,
    )


def _order(hits: list[SearchHit]) -> list[SearchHit]:
    def best_rank(h: SearchHit) -> int:
        return min(r for r in (h.fts_rank, h.vector_rank, _MAX_K * 10) if r is not None)

    return sorted(hits, key=lambda h: (-h.score, best_rank(h), h.chunk_id))


def rrf_fuse(
    fts_hits: Sequence[LegHit], vector_hits: Sequence[LegHit], *, rrf_k: int = 60
) -> list[SearchHit]:
    """Reciprocal Rank Fusion: ``score = Σ 1/(rrf_k + rank)`` over the legs a chunk appears in.

    Ties are broken by the best single-leg rank, then by chunk id. The snippet is the text leg's
    (highlighted) when the chunk matched it.
    """
    by_id: dict[int, dict[str, Any]] = {}
    for rank, leg in enumerate(fts_hits, start=1):
        by_id[leg.chunk_id] = {"leg": leg, "fts_rank": rank, "bm25": leg.value, "score": 1.0 / (rrf_k + rank)}
    for rank, leg in enumerate(vector_hits, start=1):
        entry = by_id.setdefault(leg.chunk_id, {"leg": leg, "score": 0.0})
        entry.update(vector_rank=rank, vector_score=leg.value)
        entry["score"] += 1.0 / (rrf_k + rank)
    hits = []
    for entry in by_id.values():
        both = "fts_rank" in entry and "vector_rank" in entry
        source: Source = "hybrid" if both else ("fts" if "fts_rank" in entry else "vector")
        hits.append(
            _hit(
                entry["leg"],
                score=entry["score"],
                source=source,
                fts_rank=entry.get("fts_rank"),
                bm25=entry.get("bm25"),
                vector_rank=entry.get("vector_rank"),
                vector_score=entry.get("vector_score"),
            )
        )
    return _order(hits)


def linear_fuse(
    fts_hits: Sequence[LegHit], vector_hits: Sequence[LegHit], *, vector_weight: float = 0.55
) -> list[SearchHit]:
    """The upstream weighted merge (``semantics.md`` §9): both legs → ``w·v + (1-w)·t``, one leg → its score.

    The text score is ``-bm25 / max(-bm25)`` over the text candidates.
    """
    best = max((-leg.value for leg in fts_hits), default=0.0)
    by_id: dict[int, dict[str, Any]] = {}
    for rank, leg in enumerate(fts_hits, start=1):
        text = (-leg.value / best) if best > 0 else 0.0
        by_id[leg.chunk_id] = {"leg": leg, "fts_rank": rank, "bm25": leg.value, "text": text, "score": text}
    for rank, leg in enumerate(vector_hits, start=1):
        entry = by_id.get(leg.chunk_id)
        if entry is None:
            by_id[leg.chunk_id] = {
                "leg": leg,
                "vector_rank": rank,
                "vector_score": leg.value,
                "score": leg.value,
            }
            continue
        entry.update(vector_rank=rank, vector_score=leg.value)
        entry["score"] = leg.value * vector_weight + entry["text"] * (1.0 - vector_weight)
    hits = []
    for entry in by_id.values():
        both = "fts_rank" in entry and "vector_rank" in entry
        source: Source = "hybrid" if both else ("fts" if "fts_rank" in entry else "vector")
        hits.append(
            _hit(
                entry["leg"],
                score=entry["score"],
                source=source,
                fts_rank=entry.get("fts_rank"),
                bm25=entry.get("bm25"),
                vector_rank=entry.get("vector_rank"),
                vector_score=entry.get("vector_score"),
            )
        )
    return _order(hits)


class Retriever(Repository):
    """The two retrieval legs over one connection (reads only)."""

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__(conn)
        self.index = SearchIndex(conn)

    @staticmethod
    def _filters(uri_prefix: str | None, mime_type: str | None) -> tuple[_Scope, dict[str, Any]]:
        """The filters given (a statement's cache key) and their parameters."""
        params: dict[str, Any] = {}
        if uri_prefix:
            params.update(prefix_len=len(uri_prefix), uri_prefix=uri_prefix)
        if mime_type:
            params["mime_type"] = mime_type
        return (bool(uri_prefix), bool(mime_type)), params

    def fts(
        self, query: str, *, limit: int, uri_prefix: str | None = None, mime_type: str | None = None
    ) -> list[LegHit]:
        """The text leg: chunks matching any query word, best bm25 first."""
        match = fts_query(query)
        if not match:
            return []
        scope, params = self._filters(uri_prefix, mime_type)
        rows = self._run(_fts_statement(scope), {**params, "match": match, "limit": limit}).rows
        return [_leg(r, str(r[6]), float(r[7])) for r in rows]

    def vector(
        self,
        vector: Sequence[float],
        *,
        limit: int,
        uri_prefix: str | None = None,
        mime_type: str | None = None,
        use_index: bool = True,
        corpus: EmbedderRow | None = None,
    ) -> list[LegHit]:
        """The vector leg: nearest chunks by cosine (in-memory exact index, or a full scan in SQL).

        Args:
            vector: The query vector (from the corpus embedder).
            limit: How many hits.
            uri_prefix: Only documents under this URI prefix (in the SQL WHERE clause).
            mime_type: Only this MIME type.
            use_index: False: the exact scan in SQL (:meth:`scan`).
            corpus: The corpus embedder row, when the caller has read it already.
        """
        if not np.any(np.asarray(vector)):
            return []  # a query without features has no direction
        corpus = corpus or SearchRepository(self.conn).embedder()
        if corpus is None:
            return []
        if not use_index or self.conn.info.get(_LAST_CHANGE) is not None:
            # The SQL baseline; also for a write transaction with uncommitted search rows, which the
            # shared in-memory copy (committed state only) must not follow.
            return self.scan(vector, limit=limit, uri_prefix=uri_prefix, mime_type=mime_type, dim=corpus.dim)
        vectors = corpus_vectors(self.conn)
        scope, params = self._filters(uri_prefix, mime_type)
        filtered = any(scope)
        fetch = max(4 * limit, 100) if filtered else limit
        while True:
            found = vectors.top(vector, fetch)
            hits = self._join(found, scope, params, limit)
            if len(hits) >= limit or len(found) < fetch:
                return hits
            fetch *= 8
            if filtered and fetch > _SCOPED_AFTER:
                break
        # A narrow scope: score only the rows the filters allow (chosen in SQL), then join them.
        allowed = [int(r[0]) for r in self._run(_scope_ids_statement(scope), params).rows]
        found = vectors.top(vector, limit, allowed_ids=np.asarray(allowed, dtype=np.int64))
        return self._join(found, scope, params, limit)

    def _join(
        self, found: Sequence[tuple[int, float]], scope: _Scope, params: dict[str, Any], limit: int
    ) -> list[LegHit]:
        """The chunk and document rows of scored candidates, in score order, filters applied in SQL."""
        if not found:
            return []
        ids = [cid for cid, _ in found]
        rows = self._run(_join_statement(scope), {**params, "ids": json.dumps(ids)}).rows
        by_id = {int(r[0]): r for r in rows}
        hits = [_leg(by_id[cid], _excerpt(str(by_id[cid][6])), score) for cid, score in found if cid in by_id]
        return hits[:limit]

    def scan(
        self,
        vector: Sequence[float],
        *,
        limit: int,
        uri_prefix: str | None = None,
        mime_type: str | None = None,
        dim: int | None = None,
    ) -> list[LegHit]:
        """The exact vector leg in SQL: ``ORDER BY vector_distance_cos(embedding, ?)`` over every row."""
        if dim is None:
            corpus = SearchRepository(self.conn).embedder()
            if corpus is None:
                return []
            dim = corpus.dim
        vector_table_name(dim)  # a clear error for a dimension without a table
        scope, params = self._filters(uri_prefix, mime_type)
        rows = self._run(
            _scan_statement(dim, scope), {**params, "limit": limit, "vector": pack_vector(vector)}
        ).rows
        return self._vector_hits(rows)

    @staticmethod
    def _vector_hits(rows: Sequence[Any]) -> list[LegHit]:
        return [_leg(r, _excerpt(str(r[6])), 1.0 - float(r[7])) for r in rows]


def _resolve_embedder(
    repo: SearchRepository, embedder: Embedder | None, current: EmbedderRow | None
) -> Embedder | None:
    """The query embedder: the given one (checked against the corpus) or the corpus's own."""
    if embedder is not None:
        if current is not None and (current.name, current.dim) != (embedder.name, embedder.dim):
            repo.check_embedder(embedder.name, embedder.dim)
        return embedder
    if current is None:
        return default_embedder()
    try:
        return get_embedder(current.name)
    except InvalidInput:
        return None


def search(
    conn: sa.Connection,
    query: str,
    *,
    mode: str = "hybrid",
    k: int = 10,
    uri_prefix: str | None = None,
    mime_type: str | None = None,
    min_score: float = 0.0,
    embedder: Embedder | None = None,
    fusion: str = "rrf",
    rrf_k: int = 60,
    vector_weight: float = 0.55,
) -> list[SearchHit]:
    """Search the corpus (stable signature: the HTTP layer calls it).

    Args:
        conn: Any connection (``store.connect()`` is enough).
        query: Free text; it is never parsed as FTS5 syntax.
        mode: ``fts``, ``vector`` or ``hybrid``.
        k: Hits to return (1..1000).
        uri_prefix: Only documents whose URI starts with this (the tenant scope).
        mime_type: Only documents of this MIME type.
        min_score: Drop hits whose final ``score`` is below this.
        embedder: Query embedder; None uses the corpus embedder (the built-in one for an empty corpus).
        fusion: ``rrf`` or ``linear`` (hybrid mode).
        rrf_k: The RRF constant (1..500).
        vector_weight: The linear fusion's vector weight (0..1).

    Returns:
        Up to ``k`` :class:`SearchHit`, best first.

    Raises:
        InvalidInput: A value outside its vocabulary or range; a corpus embedder that cannot be loaded
            by name when ``embedder`` is None (vector and hybrid modes).
        EmbedderMismatch: ``embedder`` is not the corpus's embedder.
    """
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}", field="mode")
    if fusion not in FUSIONS:
        raise InvalidInput(f"fusion must be one of {', '.join(FUSIONS)}; got {fusion!r}", field="fusion")
    if not 1 <= k <= _MAX_K:
        raise InvalidInput(f"k must be in 1..{_MAX_K}", field="k")
    if not 1 <= rrf_k <= 500:
        raise InvalidInput("rrf_k must be in 1..500", field="rrf_k")
    if not 0.0 <= vector_weight <= 1.0 or math.isnan(min_score):
        raise InvalidInput("vector_weight must be in 0..1 and min_score a number", field="vector_weight")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the query has {len(query)} characters; at most {MAX_QUERY_CHARS}", field="q")
    if not query or not query.strip():
        return []
    retriever = Retriever(conn)
    depth = k if mode != "hybrid" else max(4 * k, 40)
    fts_hits: list[LegHit] = []
    vector_hits: list[LegHit] = []
    if mode in ("fts", "hybrid"):
        fts_hits = retriever.fts(query, limit=depth, uri_prefix=uri_prefix, mime_type=mime_type)
    if mode in ("vector", "hybrid"):
        repo = SearchRepository(conn)
        corpus = repo.embedder()
        chosen = _resolve_embedder(repo, embedder, corpus)
        if chosen is None:
            raise InvalidInput(
                "the corpus embedder cannot be loaded by name: pass embedder= explicitly", field="embedder"
            )
        qvec = embed_matrix(chosen, [query])[0]
        vector_hits = retriever.vector(
            qvec, limit=depth, uri_prefix=uri_prefix, mime_type=mime_type, corpus=corpus
        )
        if mode == "hybrid":  # an anti-correlated chunk is no evidence, whatever its rank
            vector_hits = [h for h in vector_hits if h.value > 0.0]
    if mode == "fts":
        hits = [
            _hit(h, score=-h.value, source="fts", fts_rank=i, bm25=h.value)
            for i, h in enumerate(fts_hits, start=1)
        ]
    elif mode == "vector":
        hits = [
            _hit(h, score=h.value, source="vector", vector_rank=i, vector_score=h.value)
            for i, h in enumerate(vector_hits, start=1)
        ]
    elif fusion == "rrf":
        hits = rrf_fuse(fts_hits, vector_hits, rrf_k=rrf_k)
    else:
        hits = linear_fuse(fts_hits, vector_hits, vector_weight=vector_weight)
    return [h for h in hits if h.score >= min_score][:k]
