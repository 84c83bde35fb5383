"""EmbeddingRepository: float32 little-endian storage, brute-force cosine search, delete by source.

Cosine values are checked against hand-computed numbers. The embeddings domain is not live: no
change-log rows are written.
"""

from __future__ import annotations

import math

import pytest

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.embeddings import (
    EmbeddingRepository,
    cosine_similarity,
    decode_vector,
    encode_vector,
)
from codex.store import Store


class Boom(Exception):
    pass


def test_encoding_is_little_endian_float32() -> None:
    # 1.0 = 0x3F800000, -2.0 = 0xC0000000, 0.5 = 0x3F000000, written least significant byte first.
    assert encode_vector([1.0, -2.0, 0.5]).hex() == "0000803f000000c00000003f"
    assert encode_vector([]) == b""
    assert decode_vector(bytes.fromhex("0000803f000000c00000003f"), 3) == (1.0, -2.0, 0.5)
    assert decode_vector(bytes.fromhex("0000803f000000c0"), 3) == (0.0, 0.0, 0.0)  # short blob: zeros
    assert decode_vector(bytes.fromhex("0000803f000000c0"), 1) == (1.0,)  # extra bytes are ignored
    assert decode_vector(b"", 0) == ()
    assert decode_vector(encode_vector([0.1]), 1)[0] == pytest.approx(0.1, abs=1e-8)  # float32 rounding
    for bad in ([float("nan")], [float("inf")], [1e39], ["x"], [None]):
        with pytest.raises(InvalidInput):
            encode_vector(bad)  # type: ignore[arg-type]


def test_cosine_against_hand_computed_values() -> None:
    # [1,2,3]·[4,5,6] = 32; |a| = sqrt(14); |b| = sqrt(77).
    assert cosine_similarity([1, 2, 3], [4, 5, 6]) == pytest.approx(32 / math.sqrt(14 * 77), rel=1e-12)
    assert cosine_similarity([1, 2, 3], [4, 5, 6]) == pytest.approx(0.9746318461970762, rel=1e-12)
    assert cosine_similarity([1, 1], [1, 0]) == pytest.approx(1 / math.sqrt(2), rel=1e-12)
    assert cosine_similarity([3, 4], [3, 4]) == pytest.approx(1.0, rel=1e-12)
    assert cosine_similarity([1, 1], [-1, -1]) == pytest.approx(-1.0, rel=1e-12)
    assert cosine_similarity([1, 0], [0, 1]) == 0.0
    assert cosine_similarity([1, 2], [1, 2, 3]) == 0.0  # dimensions differ
    assert cosine_similarity([], []) == 0.0  # empty
    assert cosine_similarity([0, 0], [1, 1]) == 0.0  # zero vector: 0 / floor
    # |a||b| = 1e-10 is below the 1e-8 floor: 1e-10 / 1e-8 = 0.01 instead of 1.
    assert cosine_similarity([1e-5], [1e-5]) == pytest.approx(0.01, rel=1e-9)


def test_store_and_get_round_trip(store: Store) -> None:
    with store.begin() as conn:
        emb = EmbeddingRepository(conn)
        eid = emb.store("snippet", "42", [1.0, -2.0, 0.5], metadata={"model": "m"})
        none_type = emb.store(None, "7", [0.25])
    with store.connect() as conn:
        emb = EmbeddingRepository(conn)
        row = emb.get(eid)
        assert (row.source_type, row.source_id, row.dim, row.vector) == ("snippet", "42", 3, (1.0, -2.0, 0.5))
        assert row.meta == {"model": "m"} and row.created_at
        blob = conn.exec_driver_sql("SELECT vector, dim FROM embeddings WHERE id = ?", (eid,)).one()
        assert bytes(blob[0]).hex() == "0000803f000000c00000003f" and blob[1] == 3
        assert emb.get(none_type).source_type is None and emb.get(none_type).vector == (0.25,)
        assert [r.id for r in emb.list("snippet", "42")] == [eid]
        assert [r.id for r in emb.list(None, "7")] == [none_type]
        assert emb.count() == 2 and emb.count(source_type="snippet") == 1
        assert emb.get_one_or_none(9999) is None
        with pytest.raises(NotFound):
            emb.get(9999)
        assert ChangeLogRepository(conn).head() == 0


def test_search_similar_sorts_by_cosine_and_cuts_to_limit(store: Store) -> None:
    with store.begin() as conn:
        emb = EmbeddingRepository(conn)
        same = emb.store("doc", "same", [1, 0, 0])
        diag = emb.store("doc", "diag", [1, 1, 0])
        ortho = emb.store("code", "ortho", [0, 1, 0])
        short = emb.store("doc", "short", [1, 0])  # other dimension: 0
        opposite = emb.store("doc", "opposite", [-1, 0, 0])
        close = emb.store("doc", "close", [3, 4, 0])
    with store.connect() as conn:
        emb = EmbeddingRepository(conn)
        hits = emb.search_similar([2, 0, 0])
        assert [h.embedding.id for h in hits] == [same, diag, close, ortho, short, opposite]
        expected = [1.0, 1 / math.sqrt(2), 3 / 5, 0.0, 0.0, -1.0]
        assert [h.similarity for h in hits] == pytest.approx(expected, rel=1e-7)
        assert hits[0].embedding.source_id == "same" and hits[0].embedding.vector == (1.0, 0.0, 0.0)
        doc = emb.search_similar([2, 0, 0], source_type="doc", limit=3)
        assert [h.embedding.id for h in doc] == [same, diag, close]
        assert [h.embedding.id for h in emb.search_similar([0, 1, 0], source_type="code")] == [ortho]
        assert [h.embedding.id for h in emb.search_similar([1, 0], limit=1)] == [short]
        assert emb.search_similar([1, 0, 0], source_type="none") == []
        with pytest.raises(InvalidInput):
            emb.search_similar([float("nan"), 0, 0])


def test_short_blob_reads_as_zero_vector(store: Store) -> None:
    with store.begin() as conn:
        emb = EmbeddingRepository(conn)
        eid = emb.store("doc", "x", [1.0, 2.0, 3.0])
        conn.exec_driver_sql("UPDATE embeddings SET vector = ? WHERE id = ?", (encode_vector([1.0]), eid))
        assert emb.get(eid).vector == (0.0, 0.0, 0.0) and emb.get(eid).dim == 3
        [hit] = emb.search_similar([1.0, 2.0, 3.0])
        assert hit.similarity == 0.0


def test_delete_by_source(store: Store) -> None:
    with store.begin() as conn:
        emb = EmbeddingRepository(conn)
        emb.store("doc", "a", [1.0])
        emb.store("doc", "a", [2.0])
        emb.store("code", "a", [3.0])
        emb.store(None, "a", [4.0])
        assert emb.delete("doc", "a") == 2
        assert emb.delete("doc", "a") == 0
        assert emb.delete(None, "a") == 1
        assert [r.vector for r in emb.list("code", "a")] == [(3.0,)] and emb.count() == 1


def test_invalid_inputs_read_only_and_rollback(store: Store) -> None:
    with store.begin() as conn:
        emb = EmbeddingRepository(conn)
        for bad in ([float("inf")], [1e39], "abc"):
            with pytest.raises(InvalidInput):
                emb.store("doc", "x", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            emb.store("doc", "x", [1.0], metadata=object())
    with store.connect() as conn:
        with pytest.raises(InvalidInput):
            EmbeddingRepository(conn).store("doc", "x", [1.0])
        with pytest.raises(InvalidInput):
            EmbeddingRepository(conn).delete("doc", "x")
    with pytest.raises(Boom), store.begin() as conn:
        EmbeddingRepository(conn).store("doc", "x", [1.0])
        raise Boom
    with store.connect() as conn:
        assert EmbeddingRepository(conn).count() == 0
        assert ChangeLogRepository(conn).head() == 0
