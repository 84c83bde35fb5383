"""The vector leg's index: the corpus vectors in memory, exact by default, kept in step with the rows.

Why in memory (measured, ``docs/search-vectors.md``): the built-in embedder's vectors have low contrast,
and graph indexes lose recall on them (libSQL DiskANN 0.805 at 10k chunks, hnswlib M=16 0.30–0.42,
usearch 0.49 at 100k), while one BLAS matrix-vector product over 100k × 256 float32 takes a few
milliseconds on 2 cores and is exact. So the default backend is :class:`ExactBackend`; an approximate
backend can stand behind the same :class:`VectorBackend` interface where it pays (a real model's
embeddings, millions of rows), and the search bench measures the options side by side.

Consistency (every server of a shared primary holds its own copy):

* **Rebuilt at start**: the first vector query on an engine loads every vector of the corpus
  embedder from its table (``domains.search_ingest.VECTOR_TABLES``), in the same read transaction as the
  change-log head it is consistent with (:meth:`CorpusVectors.load`).
* **Following the change log**: every vector query first reads the ``search/documents``,
  ``search/embedder`` and ``search/vectors`` change rows after its cursor, in the query's own read
  transaction, and applies them: a document's rows are dropped and its current vectors read again (an
  insert, an update and a delete are the same replay, so applying a change twice is harmless); an
  embedder change, or a backlog longer than ``RELOAD_AFTER`` changes, reloads everything.
* **Verified by SQL**: candidates are joined back to the chunk and document rows (with the tenant's
  scope in the WHERE clause), so a row that a newer change removed is never returned.

Readers take a snapshot of the arrays under the lock and score outside it; appends go into spare
capacity (or new arrays), so a snapshot never changes under a reader.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from codex.engine import translate_db_error
from codex.errors import ConfigError
from codex.repositories._prepared import prepare, run_prepared
from domains.codex_reactivity import codex_change_log
from domains.search_ingest import VECTOR_TABLES, search_document_chunks, search_embedder

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "RELOAD_AFTER",
    "CorpusVectors",
    "ExactBackend",
    "UsearchBackend",
    "VectorBackend",
    "VectorStats",
    "corpus_vectors",
    "make_backend",
    "vector_table_name",
]

RELOAD_AFTER = 2000
"""A change backlog longer than this reloads the whole matrix instead of replaying document by document."""

VECTOR_TOPICS = ("search/documents", "search/embedder", "search/vectors")
_IN_BATCH = 500

_log, _chunks, _embedder = codex_change_log, search_document_chunks, search_embedder
_CHANGES = prepare(
    sa.select(_log.c.id, _log.c.topic, _log.c.entity_id, _log.c.payload_json)
    .where(_log.c.id > sa.bindparam("after"), _log.c.topic.in_([sa.literal(t) for t in VECTOR_TOPICS]))
    .order_by(_log.c.id)
    .limit(sa.bindparam("limit"))
)
_HEAD = prepare(sa.select(sa.func.coalesce(sa.func.max(_log.c.id), 0)))
_EMBEDDER = prepare(
    sa.select(_embedder.c.name, _embedder.c.dim, _embedder.c.normalised).where(_embedder.c.id == 1)
)


def _rows_of(table: sa.Table) -> sa.Select[Any]:
    """``(chunk id, document id, embedding)`` of the ``embedder``'s rows of a vector table, by chunk id."""
    return (
        sa.select(table.c.chunk_id, _chunks.c.document_id, table.c.embedding)
        .select_from(table.join(_chunks, _chunks.c.id == table.c.chunk_id))
        .where(table.c.embedder == sa.bindparam("embedder"))
        .order_by(table.c.chunk_id)
    )


_ROWS = {dim: _rows_of(table) for dim, table in VECTOR_TABLES.items()}
"""Every row of the embedder, per dimension."""
_ROWS_OF_DOCUMENTS = {
    dim: stmt.where(_chunks.c.document_id.in_(sa.bindparam("documents", expanding=True)))
    for dim, stmt in _ROWS.items()
}
"""The embedder's rows of the chunks of ``documents`` (a list), per dimension."""
_ROWS_OF_CHUNKS = {
    dim: stmt.where(VECTOR_TABLES[dim].c.chunk_id.between(sa.bindparam("first"), sa.bindparam("last")))
    for dim, stmt in _ROWS.items()
}
"""The embedder's rows of the chunk ids ``first`` to ``last``, per dimension."""

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


def vector_table_name(dim: int) -> str:
    """The table holding vectors of this dimension.

    Raises:
        ConfigError: No table has this dimension (a new dimension needs a revision adding one).
    """
    table = VECTOR_TABLES.get(int(dim))
    if table is None:
        raise ConfigError(
            f"no vector table holds {dim}-dimensional vectors (tables exist for "
            f"{', '.join(str(d) for d in sorted(VECTOR_TABLES))}): a new dimension needs a revision "
            "adding its table to domains.search_ingest.VECTOR_TABLES",
            dim=dim,
        )
    return table.name


class VectorBackend(Protocol):
    """How the nearest rows of a matrix are found (exact scan, or an approximate index).

    A backend sees the matrix rows (L2-normalised float32, so the dot product is the cosine) and answers
    row positions; :class:`CorpusVectors` owns the rows, their chunk ids and the liveness mask.

    Attributes:
        name: Shown by ``status()`` and the bench.
        snapshot_safe: True when ``top`` may run on a snapshot while rows are appended (it reads only the
            matrix it is given); False makes :class:`CorpusVectors` search under its lock.
    """

    name: str
    snapshot_safe: bool

    def rebuild(self, matrix: Floats, size: int) -> None:
        """Index rows ``[0, size)`` of ``matrix`` from scratch."""
        ...

    def added(self, matrix: Floats, start: int, stop: int) -> None:
        """Rows ``[start, stop)`` were appended to ``matrix``."""
        ...

    def top(
        self,
        matrix: Floats,
        size: int,
        query: Floats,
        k: int,
        dead: Ids,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[Ids, Floats]:
        """The ``k`` best row positions (best first) and their cosine similarities.

        Args:
            matrix: The rows (only ``[0, size)`` are in use).
            size: Rows in use.
            query: The unit query vector.
            k: How many.
            dead: Row positions that must not be returned.
            allowed: When given, a mask over ``[0, size)``: only these rows may be returned.
        """
        ...


class ExactBackend:
    """Exact cosine: one BLAS matrix-vector product over every row, then ``argpartition``."""

    name = "exact"
    snapshot_safe = True

    def rebuild(self, matrix: Floats, size: int) -> None:
        """Nothing to build."""

    def added(self, matrix: Floats, start: int, stop: int) -> None:
        """Nothing to maintain."""

    def top(
        self,
        matrix: Floats,
        size: int,
        query: Floats,
        k: int,
        dead: Ids,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[Ids, Floats]:
        """Score every row, mask the dead (and not allowed) ones, keep the ``k`` best."""
        if size == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = matrix[:size] @ query
        if len(dead):
            scores[dead] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        return best_of(scores, k)


def best_of(scores: Floats, k: int) -> tuple[Ids, Floats]:
    """Positions of the ``k`` highest finite scores, best first (ties: lower position first)."""
    n = len(scores)
    part = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
    order = np.lexsort((part, -scores[part]))
    rows = part[order].astype(np.int64)
    picked = scores[rows]
    keep = np.isfinite(picked)
    return rows[keep], picked[keep].astype(np.float32)


class UsearchBackend:
    """Approximate: a usearch HNSW graph over the rows (the ``ann`` extra), re-ranked exactly.

    It pays where the exact scan does not: millions of rows, or a real model's embeddings (the search
    bench measures both). Candidates (``k`` plus the dead rows) come from the graph and are re-scored with
    the exact dot product; a filtered query (``allowed``) or a large ``k`` is answered exactly.

    Args:
        connectivity: Graph degree (M).
        expansion_add: Build-time beam width.
        expansion_search: Query-time beam width (ef).

    Raises:
        ConfigError: usearch is not installed.
    """

    name = "usearch"
    snapshot_safe = False

    def __init__(
        self, *, connectivity: int = 32, expansion_add: int = 128, expansion_search: int = 256
    ) -> None:
        if importlib.util.find_spec("onnxruntime") is not None:
            # Measured: with usearch 2.26.6 loaded first, importing onnxruntime 1.32.0 (the onnx extra)
            # crashes the process (SIGSEGV); loaded the other way round both work.
            importlib.import_module("onnxruntime")
        try:
            self._module: Any = importlib.import_module("usearch.index")
        except ImportError as exc:
            raise ConfigError(
                "the usearch vector backend needs the optional package usearch: pip install 'codex[ann]'",
                package="usearch",
                extra="ann",
            ) from exc
        self._settings = {
            "connectivity": connectivity,
            "expansion_add": expansion_add,
            "expansion_search": expansion_search,
        }
        self._index: Any = None
        self._exact = ExactBackend()

    def rebuild(self, matrix: Floats, size: int) -> None:
        """A new graph over rows ``[0, size)``."""
        self._index = self._module.Index(ndim=matrix.shape[1], metric="cos", dtype="f32", **self._settings)
        if size:
            self._index.add(np.arange(size, dtype=np.uint64), matrix[:size])

    def added(self, matrix: Floats, start: int, stop: int) -> None:
        """Insert rows ``[start, stop)`` into the graph."""
        if self._index is None:
            self.rebuild(matrix, stop)
        else:
            self._index.add(np.arange(start, stop, dtype=np.uint64), matrix[start:stop])

    def top(
        self,
        matrix: Floats,
        size: int,
        query: Floats,
        k: int,
        dead: Ids,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[Ids, Floats]:
        """Graph candidates re-scored exactly (exact for filtered queries and ``k`` ≥ a quarter of the rows)."""
        if allowed is not None or self._index is None or 4 * k >= size:
            return self._exact.top(matrix, size, query, k, dead, allowed)
        found = self._index.search(query, min(size, k + len(dead)))
        rows = np.asarray(found.keys, dtype=np.int64)
        rows = rows[(rows < size) & ~np.isin(rows, dead)]
        return best_of(matrix[rows] @ query, k) if len(rows) else (rows, np.zeros(0, np.float32))


BACKENDS: dict[str, Callable[[], VectorBackend]] = {"exact": ExactBackend, "usearch": UsearchBackend}
"""Vector backends by name (``VOX_CODEX_SEARCH_VECTOR_BACKEND``)."""

BACKEND_ENV = "VOX_CODEX_SEARCH_VECTOR_BACKEND"
"""Environment variable naming the vector backend of new in-memory indexes (default ``exact``)."""


def make_backend(name: str | None = None) -> VectorBackend:
    """A backend by name, or the one ``VOX_CODEX_SEARCH_VECTOR_BACKEND`` names (default ``exact``).

    Raises:
        ConfigError: An unknown name, or a backend whose package is not installed.
    """
    chosen = (name or os.environ.get(BACKEND_ENV, "") or "exact").strip().lower()
    factory = BACKENDS.get(chosen)
    if factory is None:
        raise ConfigError(
            f"{BACKEND_ENV}={chosen!r} names no vector backend: use one of {', '.join(BACKENDS)}",
            backend=chosen,
        )
    return factory()


@dataclass(frozen=True, slots=True)
class VectorStats:
    """What a :class:`CorpusVectors` holds.

    Attributes:
        backend: The backend's name (``exact``).
        embedder: The corpus embedder the rows belong to (None: empty corpus).
        dim: Their dimension.
        rows: Live rows.
        cursor: The change-log id the rows are consistent with.
        loads: Full loads so far (the first load, embedder switches, long backlogs).
        load_seconds: How long the last full load took.
    """

    backend: str
    embedder: str | None
    dim: int
    rows: int
    cursor: int
    loads: int
    load_seconds: float


class CorpusVectors:
    """The corpus vectors of one engine, in memory, following the change log.

    Args:
        backend: How nearest rows are found (default :class:`ExactBackend`).
    """

    def __init__(self, backend: VectorBackend | None = None) -> None:
        self.backend: VectorBackend = backend or make_backend()
        self._lock = threading.RLock()
        self._loaded = False
        self.embedder: str | None = None
        self.dim = 0
        self.cursor = 0
        self.loads = 0
        self.load_seconds = 0.0
        self._reset(0)

    def _reset(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self._matrix: Floats = np.zeros((capacity, max(dim, 1)), dtype=np.float32)
        self._ids: Ids = np.zeros(capacity, dtype=np.int64)
        self._docs: Ids = np.zeros(capacity, dtype=np.int64)
        self._size = 0
        self._dead: set[int] = set()
        self._dead_rows: Ids = np.zeros(0, dtype=np.int64)
        self._rows_of_doc: dict[int, list[int]] = {}

    # -- reading the database -------------------------------------------------------------------------
    @staticmethod
    def _execute(
        conn: sa.Connection, stmt: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> sa.CursorResult[Any]:
        try:
            return conn.execute(stmt, params)
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def _corpus(self, conn: sa.Connection) -> tuple[str, int] | None:
        row = run_prepared(conn, _EMBEDDER).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def _read_rows(
        self, conn: sa.Connection, statements: Mapping[int, sa.Select[Any]], params: Mapping[str, Any]
    ) -> tuple[Ids, Ids, Floats]:
        """``(chunk ids, document ids, normalised vectors)`` of the corpus embedder's rows.

        Args:
            conn: The connection (its current transaction).
            statements: The statement per dimension (``_ROWS``, ``_ROWS_OF_DOCUMENTS``, ``_ROWS_OF_CHUNKS``).
            params: Its parameters besides ``embedder``.
        """
        assert self.embedder is not None
        rows: list[Sequence[Any]] = list(
            self._execute(conn, statements[self.dim], {**params, "embedder": self.embedder})
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        docs = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        blob = b"".join([bytes(r[2]) for r in rows])
        matrix = np.frombuffer(blob, dtype="<f4").reshape(len(rows), self.dim).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.putmask(norms, norms == 0.0, 1.0)
        matrix /= norms
        return ids, docs, matrix

    def load(self, conn: sa.Connection) -> None:
        """Read every vector of the corpus embedder and the change-log head they are consistent with.

        Both reads run in ``conn``'s current (read) transaction, so they see one snapshot.
        """
        with self._lock:
            started = time.perf_counter()
            head = int(run_prepared(conn, _HEAD).rows[0][0] or 0)
            corpus = self._corpus(conn)
            if corpus is None:
                self.embedder = None
                self._reset(0)
            else:
                self.embedder, dim = corpus
                vector_table_name(dim)  # a clear error for a dimension without a table
                self._reset(dim)
                ids, docs, matrix = self._read_rows(conn, _ROWS, {})
                self._append(ids, docs, matrix)
            self.backend.rebuild(self._matrix, self._size)
            self.cursor = head
            self._loaded = True
            self.loads += 1
            self.load_seconds = time.perf_counter() - started

    def catch_up(self, conn: sa.Connection) -> None:
        """Load on first use, then apply the vector-relevant change rows after the cursor."""
        with self._lock:
            if not self._loaded:
                self.load(conn)
                return
            rows = run_prepared(conn, _CHANGES, {"after": self.cursor, "limit": RELOAD_AFTER + 1}).rows
            if not rows:
                return
            if len(rows) > RELOAD_AFTER or any(r[1] == "search/embedder" for r in rows):
                self.load(conn)
                return
            documents: set[int] = set()
            chunk_ranges: list[tuple[int, int]] = []
            for row in rows:
                topic, entity_id, payload = row[1], row[2], row[3]
                if topic == "search/documents" and entity_id is not None:
                    documents.add(int(entity_id))
                elif topic == "search/vectors":
                    chunk_ranges.append(_chunk_range(payload))
            self._replay(conn, documents, chunk_ranges)
            self.cursor = int(rows[-1][0])

    def _replay(self, conn: sa.Connection, documents: set[int], chunk_ranges: list[tuple[int, int]]) -> None:
        if self.embedder is None:  # no corpus embedder yet: only an embedder change brings rows
            return
        for doc in documents:
            self._kill(self._rows_of_doc.pop(doc, ()))
        doc_list = sorted(documents)
        for i in range(0, len(doc_list), _IN_BATCH):
            part = doc_list[i : i + _IN_BATCH]
            self._append(*self._read_rows(conn, _ROWS_OF_DOCUMENTS, {"documents": part}))
        for first, last in chunk_ranges:
            if self._size:
                live_ids = self._ids[: self._size]
                self._kill(np.flatnonzero((live_ids >= first) & (live_ids <= last)).tolist())
            self._append(*self._read_rows(conn, _ROWS_OF_CHUNKS, {"first": first, "last": last}))
        if len(self._dead) > max(1024, self._size // 4):
            self._compact()

    # -- the arrays ----------------------------------------------------------------------------------
    def _kill(self, rows: Iterable[int]) -> None:
        fresh = [r for r in rows if r not in self._dead]
        if fresh:
            self._dead.update(fresh)
            self._dead_rows = np.fromiter(self._dead, np.int64, len(self._dead))

    def _append(self, ids: Ids, docs: Ids, matrix: Floats) -> None:
        n = len(ids)
        if n == 0:
            return
        start, stop = self._size, self._size + n
        if stop > len(self._ids):  # grow into new arrays: snapshots held by readers stay intact
            capacity = max(stop, 2 * len(self._ids), 1024)
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[:start] = self._matrix[:start]
            self._matrix = grown
            self._ids = np.concatenate([self._ids[:start], np.zeros(capacity - start, np.int64)])
            self._docs = np.concatenate([self._docs[:start], np.zeros(capacity - start, np.int64)])
        self._matrix[start:stop] = matrix
        self._ids[start:stop] = ids
        self._docs[start:stop] = docs
        for position, doc in enumerate(docs.tolist(), start=start):
            self._rows_of_doc.setdefault(doc, []).append(position)
        self._size = stop
        self.backend.added(self._matrix, start, stop)

    def _compact(self) -> None:
        keep = np.ones(self._size, dtype=bool)
        keep[self._dead_rows] = False
        ids, docs, matrix = (
            self._ids[: self._size][keep],
            self._docs[: self._size][keep],
            self._matrix[: self._size][keep],
        )
        self._reset(self.dim, capacity=len(ids))
        self._append(ids, docs, np.ascontiguousarray(matrix))
        self.backend.rebuild(self._matrix, self._size)

    # -- queries -------------------------------------------------------------------------------------
    def snapshot(self) -> tuple[Floats, Ids, Ids, int, Ids]:
        """``(matrix, chunk ids, document ids, size, dead rows)`` as of now (never changed in place later)."""
        with self._lock:
            return self._matrix, self._ids, self._docs, self._size, self._dead_rows

    def top(
        self, query: Sequence[float] | Floats, k: int, *, allowed_ids: Ids | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest live chunks as ``(chunk_id, cosine similarity)``, best first.

        Args:
            query: The query vector (any length-``dim`` vector; it is normalised here).
            k: How many.
            allowed_ids: When given, only these chunk ids may be returned.
        """
        matrix, ids, _, size, dead = self.snapshot()
        q = np.asarray(query, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(q))
        if size == 0 or norm == 0.0 or q.shape[0] != self.dim:
            return []
        allowed = None if allowed_ids is None else np.isin(ids[:size], allowed_ids)
        if self.backend.snapshot_safe:
            rows, scores = self.backend.top(matrix, size, q / norm, k, dead, allowed)
        else:  # an index object that changes in place: search it under the lock
            with self._lock:
                rows, scores = self.backend.top(matrix, size, q / norm, k, dead, allowed)
        return list(zip(ids[rows].tolist(), scores.tolist(), strict=True))

    def stats(self) -> VectorStats:
        """Counts and the cursor."""
        with self._lock:
            return VectorStats(
                backend=self.backend.name,
                embedder=self.embedder,
                dim=self.dim,
                rows=self._size - len(self._dead),
                cursor=self.cursor,
                loads=self.loads,
                load_seconds=self.load_seconds,
            )

    @property
    def live_rows(self) -> int:
        """Rows that can be returned."""
        return self._size - len(self._dead)


def _chunk_range(payload: str | None) -> tuple[int, int]:
    data = json.loads(payload or "{}")
    return int(data.get("first_chunk", 0)), int(data.get("last_chunk", -1))


_SETS: weakref.WeakKeyDictionary[sa.Engine, CorpusVectors] = weakref.WeakKeyDictionary()
_SETS_LOCK = threading.Lock()


def corpus_vectors(
    conn: sa.Connection, *, catch_up: bool = True, backend: VectorBackend | None = None
) -> CorpusVectors:
    """The in-memory vectors of ``conn``'s engine (made on first use), caught up with the change log.

    Each engine (each server process, each Store) keeps its own copy; ``catch_up`` runs in ``conn``'s
    transaction.

    Args:
        conn: A connection (its engine keys the copy).
        catch_up: Load or follow the change log now.
        backend: Replace the backend of this engine's copy (it is rebuilt on the next catch-up); None
            keeps it (a new copy takes :func:`make_backend`'s).
    """
    engine = conn.engine
    with _SETS_LOCK:
        found = _SETS.get(engine)
        if found is None or backend is not None:
            found = _SETS[engine] = CorpusVectors(backend)
    if catch_up:
        found.catch_up(conn)
    return found
