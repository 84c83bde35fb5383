"""embeddings: vectors stored as little-endian float32 BLOBs, searched by brute-force cosine.

Change log: embeddings is not a live domain, so this repository appends no change-log rows.

Store operations (``semantics.md`` §12, embeddings): ``store_embedding`` →
:meth:`EmbeddingRepository.store` (the upstream model and snapshot arguments are not stored, so
they are not taken), ``search_similar_embeddings`` → :meth:`~EmbeddingRepository.search_similar`.

Vector format (``schema-v1-v17.md`` §7): ``dim`` float32 values, little-endian, concatenated; a
blob shorter than ``dim × 4`` bytes reads as a zero vector of ``dim`` values. Cosine similarity is 0
when the dimensions differ or a vector is empty, and its denominator is floored at ``1e-8`` (so a
zero vector scores 0).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property
from codex.repositories.gateway import TableGateway
from domains.embeddings import embeddings

__all__ = [
    "COSINE_FLOOR",
    "EmbeddingMatch",
    "EmbeddingRepository",
    "EmbeddingRow",
    "cosine_similarity",
    "decode_vector",
    "encode_vector",
]

COSINE_FLOOR = 1e-8
"""The smallest denominator (product of norms) cosine similarity divides by."""


def _floats(vector: Sequence[float], what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in vector)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be a sequence of numbers: {exc}", field=what) from exc
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"{what} must contain finite numbers only", field=what)
    return values


def encode_vector(vector: Sequence[float]) -> bytes:
    """Pack numbers as concatenated little-endian float32 values.

    Raises:
        InvalidInput: A value is not a finite number or does not fit a float32.
    """
    values = _floats(vector, "vector")
    try:
        return struct.pack(f"<{len(values)}f", *values)
    except (OverflowError, struct.error) as exc:
        raise InvalidInput(f"vector values must fit a float32: {exc}", field="vector") from exc


def decode_vector(blob: bytes, dim: int) -> tuple[float, ...]:
    """Unpack ``dim`` little-endian float32 values; a blob shorter than ``dim × 4`` bytes is zeros."""
    if dim <= 0:
        return ()
    if len(blob) < dim * 4:
        return (0.0,) * dim
    return struct.unpack_from(f"<{dim}f", blob)


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """``a·b / max(|a||b|, 1e-8)``; 0 when the lengths differ or a vector is empty."""
    if len(a) != len(b) or not a:
        return 0.0
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / max(norms, COSINE_FLOOR)


@dataclass(frozen=True, slots=True)
class EmbeddingRow:
    """One ``embeddings`` row with its vector decoded (``metadata`` is the stored JSON text)."""

    id: int
    source_type: str | None
    source_id: str
    dim: int
    vector: tuple[float, ...]
    metadata: str | None
    created_at: str

    meta = json_property("metadata", "The metadata, parsed.")


@dataclass(frozen=True, slots=True)
class EmbeddingMatch:
    """A search hit: the embedding and its cosine similarity to the query."""

    embedding: EmbeddingRow
    similarity: float


_E = embeddings
_INSERT = sa.insert(_E).returning(_E.c.id)


@dataclass(frozen=True, slots=True)
class _StoredEmbedding:
    """An ``embeddings`` row as stored (the vector still a blob): the gateway's row type."""

    id: int
    source_type: str | None
    source_id: str
    dim: int
    vector: bytes | None
    metadata: str | None
    created_at: str


def _decoded(row: _StoredEmbedding) -> EmbeddingRow:
    dim = int(row.dim)
    return EmbeddingRow(
        id=row.id,
        source_type=row.source_type,
        source_id=row.source_id,
        dim=dim,
        vector=decode_vector(bytes(row.vector or b""), dim),
        metadata=row.metadata,
        created_at=row.created_at,
    )


def _of_source_type(source_type: str | None) -> sa.ColumnElement[bool]:
    # source_type is nullable: None addresses the rows stored without one.
    return _E.c.source_type.is_(None) if source_type is None else _E.c.source_type == source_type


class EmbeddingRepository(Repository):
    """Embedding vectors per source (``source_type``, ``source_id``) and cosine search over them."""

    @property
    def _embeddings(self) -> TableGateway[_StoredEmbedding]:
        return self._gateway(_E, _StoredEmbedding)

    def store(
        self, source_type: str | None, source_id: str, vector: Sequence[float], *, metadata: Any = None
    ) -> int:
        """Store a vector as a little-endian float32 blob, with its dimension.

        Args:
            source_type: What the vector embeds (``snippet``, ``memory``, …; None allowed).
            source_id: The embedded thing's id.
            vector: The numbers (finite, float32 range); ``dim`` is their count.
            metadata: Any JSON value (None → NULL).

        Returns:
            The new embedding id.

        Raises:
            InvalidInput: A value that is not a finite float32, non-JSON metadata, or a read-only
                connection.
        """
        self._writable()
        blob = encode_vector(vector)
        params = {
            "source_type": source_type,
            "source_id": source_id,
            "dim": len(blob) // 4,
            "vector": blob,
            "metadata": dump_json(metadata),
        }
        return int(self._execute(_INSERT, params).one()[0])

    def get(self, embedding_id: int) -> EmbeddingRow:
        """One embedding.

        Raises:
            NotFound: No embedding has that id.
        """
        row = self._embeddings.find(embedding_id)
        if row is None:
            raise NotFound(f"embedding {embedding_id}")
        return _decoded(row)

    def get_one_or_none(self, embedding_id: int) -> EmbeddingRow | None:
        """One embedding, or None."""
        row = self._embeddings.find(embedding_id)
        return None if row is None else _decoded(row)

    def count(self, *, source_type: str | None = None) -> int:
        """Number of embeddings (optionally of one non-null source type)."""
        if source_type is None:
            return self._embeddings.count()
        return self._embeddings.count(_E.c.source_type == source_type)

    def search_similar(
        self, vector: Sequence[float], *, source_type: str | None = None, limit: int = 10
    ) -> list[EmbeddingMatch]:
        """Brute-force cosine search over every matching row.

        Args:
            vector: The query (finite numbers).
            source_type: Only rows of this type (None = every row).
            limit: Clamped to 1..10000.

        Returns:
            Up to ``limit`` matches, highest similarity first (ties: lowest id first). Rows whose
            dimension differs from the query's score 0 and may still fill the list.

        Raises:
            InvalidInput: The query holds a value that is not a finite number.
        """
        query = _floats(vector, "vector")
        where = () if source_type is None else (_E.c.source_type == source_type,)
        matches = []
        for stored in self._all(_StoredEmbedding, self._embeddings.select(*where).order_by(_E.c.id)):
            row = _decoded(stored)
            matches.append(EmbeddingMatch(row, cosine_similarity(query, row.vector)))
        matches.sort(key=lambda m: m.similarity, reverse=True)  # stable: ties keep id order
        return matches[: clamp_limit(limit)]

    def delete(self, source_type: str | None, source_id: str) -> int:
        """Delete the embeddings of one source.

        Args:
            source_type: The source type (None = rows stored without one).
            source_id: The source id.

        Returns:
            The number of rows deleted (0 when the source has none).

        Raises:
            InvalidInput: A read-only connection.
        """
        self._writable()
        return self._embeddings.delete_where(_E.c.source_id == source_id, _of_source_type(source_type))

    def list(self, source_type: str | None, source_id: str) -> list[EmbeddingRow]:
        """The embeddings of one source, by id."""
        stmt = self._embeddings.select(_E.c.source_id == source_id, _of_source_type(source_type))
        return [_decoded(r) for r in self._all(_StoredEmbedding, stmt.order_by(_E.c.id))]
