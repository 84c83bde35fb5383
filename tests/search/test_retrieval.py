"""Retrieval on a small corpus: fts, vector, hybrid (RRF and linear), filters, the vector index paths."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from codex.errors import ConfigError, InvalidInput
from codex.search import (
    DocumentInput,
    HashingEmbedder,
    SearchHit,
    corpus_vectors,
    delete_document,
    ingest,
    ingest_many,
    search,
    status,
)
from codex.search._vectors import ExactBackend, UsearchBackend, make_backend
from codex.search.retrieval import Retriever
from codex.store import Store
from tests.search.conftest import CORPUS


@pytest.fixture
def corpus(store: Store) -> Store:
    with store.begin() as conn:
        for uri, title, mime, text in CORPUS:
            ingest(conn, uri, text, mime, title)
    return store


def _uris(hits: list[SearchHit]) -> list[str]:
    return [h.source_uri for h in hits]


def test_exact_keyword_wins_in_fts(corpus: Store) -> None:
    with corpus.connect() as conn:
        hits = search(conn, "DiskANN", mode="fts")
        assert _uris(hits) == ["kb/libsql"]
        hit = hits[0]
        assert "[DiskANN]" in hit.snippet and hit.source == "fts" and hit.fts_rank == 1
        assert hit.bm25 is not None and hit.bm25 < 0 and hit.score == -hit.bm25
        assert hit.vector_rank is None and hit.title == "libSQL vectors"
        several = search(conn, "bm25 porter stemmer snippet", mode="fts")
        assert several[0].source_uri == "other/fts"
        assert [h.fts_rank for h in several] == list(range(1, len(several) + 1))
        assert all(a.bm25 <= b.bm25 for a, b in itertools.pairwise(several))  # type: ignore[operator]


def test_fts_query_text_is_never_fts5_syntax(corpus: Store) -> None:
    with corpus.connect() as conn:
        assert _uris(search(conn, 'tomatoes" OR NEAR(', mode="fts"))[0] == "kb/garden"
        assert search(conn, "*** ???", mode="fts") == []
        assert search(conn, "   ", mode="hybrid") == []


def test_misspelt_query_is_found_by_vector_and_hybrid_only(corpus: Store) -> None:
    with corpus.connect() as conn:
        assert search(conn, "exponentail bakoff", mode="fts") == []
        vector = search(conn, "exponentail bakoff", mode="vector", k=3)
        assert vector[0].source_uri == "kb/queue" and vector[0].source == "vector"
        assert vector[0].vector_score is not None and 0 < vector[0].vector_score <= 1
        assert vector[0].score == vector[0].vector_score and vector[0].vector_rank == 1
        assert search(conn, "exponentail bakoff", mode="hybrid", k=3)[0].source_uri == "kb/queue"
        assert search(conn, "telescop planits", mode="vector", k=3)[0].source_uri == "kb/astronomy"
        assert search(conn, "crashed workers leasing", mode="vector", k=3)[0].source_uri == "kb/queue"


def test_hybrid_rrf_is_the_hand_computed_fusion(corpus: Store) -> None:
    query = "knead the bread dough"
    with corpus.connect() as conn:
        fts = _uris(search(conn, query, mode="fts", k=50))
        vec = [h.source_uri for h in search(conn, query, mode="vector", k=50, min_score=-1.0) if h.score > 0]
        hybrid = search(conn, query, mode="hybrid", k=50)
    assert fts and vec  # both legs contribute
    expected: dict[str, float] = {}
    for leg in (fts, vec):
        for rank, uri in enumerate(leg, start=1):
            expected[uri] = expected.get(uri, 0.0) + 1.0 / (60 + rank)
    assert {h.source_uri: h.score for h in hybrid} == pytest.approx(expected)
    scores = [h.score for h in hybrid]
    assert scores == sorted(scores, reverse=True)
    top = hybrid[0]
    assert top.source_uri == "kb/bread" and top.source == "hybrid"
    assert (top.fts_rank, top.vector_rank) == (fts.index("kb/bread") + 1, vec.index("kb/bread") + 1)
    assert "[" in top.snippet  # the highlighted text-leg snippet
    for hit in hybrid:
        assert (
            hit.source
            == {(True, True): "hybrid", (True, False): "fts", (False, True): "vector"}[
                (hit.source_uri in fts, hit.source_uri in vec)
            ]
        )


def test_rrf_k_and_linear_fusion_are_selectable(corpus: Store) -> None:
    query = "knead the bread dough"
    with corpus.connect() as conn:
        k1 = search(conn, query, mode="hybrid", rrf_k=1)
        assert k1[0].score == pytest.approx(
            sum(1.0 / (1 + r) for r in (k1[0].fts_rank, k1[0].vector_rank) if r)
        )
        linear = search(conn, query, mode="hybrid", fusion="linear")
        top = linear[0]
        assert top.source_uri == "kb/bread" and top.source == "hybrid"
        best_text = max(-h.bm25 for h in linear if h.bm25 is not None)
        assert top.bm25 is not None and top.vector_score is not None
        assert top.score == pytest.approx(0.55 * top.vector_score + 0.45 * (-top.bm25 / best_text))
        only_text = [h for h in linear if h.source == "fts"]
        assert all(h.score == pytest.approx(-h.bm25 / best_text) for h in only_text)  # type: ignore[operator]


def test_filters_scope_mime_min_score_and_k(corpus: Store) -> None:
    with corpus.connect() as conn:
        for mode in ("fts", "vector", "hybrid"):
            scoped = search(conn, "search text ranking", mode=mode, k=20, uri_prefix="other/")
            assert scoped and all(h.source_uri.startswith("other/") for h in scoped), mode
            html = search(conn, "dough", mode=mode, mime_type="text/html")
            assert html and {h.mime_type for h in html} == {"text/html"}, mode
            assert len(search(conn, "the", mode=mode, k=2, min_score=-1.0)) == 2
        assert search(conn, "DiskANN", mode="fts", uri_prefix="other/") == []
        assert search(conn, "DiskANN", mode="fts", uri_prefix="kb/lib")[0].source_uri == "kb/libsql"
        assert search(conn, "dough", mode="hybrid", uri_prefix="kb%") == []  # LIKE wildcards are literal
        all_hits = search(conn, "dough", mode="vector", k=20, min_score=-1.0)
        high = search(conn, "dough", mode="vector", k=20, min_score=0.1)
        assert high == [h for h in all_hits if h.score >= 0.1] and len(high) < len(all_hits)


def test_bad_arguments_are_refused(corpus: Store) -> None:
    with corpus.connect() as conn:
        for kw in (
            {"mode": "sql"},
            {"fusion": "max"},
            {"k": 0},
            {"k": 1001},
            {"rrf_k": 0},
            {"vector_weight": 2.0},
        ):
            with pytest.raises(InvalidInput):
                search(conn, "x", **kw)
        with pytest.raises(InvalidInput, match="2000"):
            search(conn, "word " * 401)
        assert search(conn, ("telescope " * 200)[:2000], mode="hybrid", k=1)[0].source_uri == "kb/astronomy"


def test_in_memory_index_equals_the_sql_scan(corpus: Store) -> None:
    """The in-memory exact index ranks and scores like ORDER BY vector_distance_cos over every row."""
    query = "planets through a telescope"
    with corpus.connect() as conn:
        memory = search(conn, query, mode="vector", k=8, min_score=-1.0)
        [qvec] = HashingEmbedder().embed([query])
        scan = Retriever(conn).scan(qvec, limit=8)
    assert [h.chunk_id for h in memory] == [h.chunk_id for h in scan]
    assert [h.score for h in memory] == pytest.approx([h.value for h in scan], abs=1e-5)


def test_every_server_follows_the_change_log(corpus: Store, tmp_path: Path) -> None:
    """A second store on the same database (another server of a shared primary) sees ingests and deletes."""
    other = Store(corpus.config)
    try:
        with other.connect() as conn:
            assert search(conn, "telescope planets", mode="vector", k=1)[0].source_uri == "kb/astronomy"
            loads = corpus_vectors(conn).stats().loads
        with corpus.begin() as conn:  # written through the first server
            ingest(
                conn, "kb/extra", "Mars and Venus are bright planets in the evening sky. " * 6, "text/plain"
            )
            delete_document(conn, "kb/astronomy")
        with other.connect() as conn:
            hits = search(conn, "bright planets evening sky", mode="vector", k=3)
            assert hits[0].source_uri == "kb/extra"
            assert "kb/astronomy" not in {
                h.source_uri for h in search(conn, "telescope", mode="vector", k=20)
            }
            stats = corpus_vectors(conn).stats()
            assert stats.rows == len(CORPUS) and stats.loads == loads  # followed, not reloaded
    finally:
        other.dispose()


@pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="the ann extra is not installed")
def test_an_approximate_backend_stands_behind_the_same_interface(corpus: Store) -> None:
    query = "planets through a telescope"
    with corpus.connect() as conn:
        exact = [h.chunk_id for h in search(conn, query, mode="vector", k=3)]
        corpus_vectors(conn, backend=UsearchBackend())
        try:
            assert [h.chunk_id for h in search(conn, query, mode="vector", k=3)] == exact
            assert status(conn)["index"]["vector_backend"] == "usearch"
            scoped = search(conn, "search text ranking", mode="vector", k=5, uri_prefix="other/")
            assert scoped and all(h.source_uri.startswith("other/") for h in scoped)
        finally:
            corpus_vectors(conn, backend=ExactBackend())


def test_an_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="names no vector backend"):
        make_backend("faiss-on-mars")
    assert make_backend("exact").name == "exact"


def test_a_write_transaction_searches_its_own_rows(corpus: Store) -> None:
    with corpus.begin() as conn:
        ingest(conn, "kb/fresh", "Quasars and pulsars shine in distant galaxies. " * 6, "text/plain")
        assert search(conn, "pulsars quasars galaxies", mode="vector", k=1)[0].source_uri == "kb/fresh"
    with corpus.connect() as conn:
        assert search(conn, "pulsars quasars galaxies", mode="vector", k=1)[0].source_uri == "kb/fresh"


def test_a_narrow_scope_is_scored_over_its_own_rows(store: Store) -> None:
    with store.begin() as conn:
        ingest_many(
            conn,
            [
                DocumentInput(f"big/{i}", f"Common filler words number {i} about telescopes. " * 8)
                for i in range(300)
            ]
            + [DocumentInput("tiny/one", "A lonely note on sourdough bread and flour. " * 8)],
        )
    with store.connect() as conn:
        hits = search(conn, "telescopes", mode="vector", k=5, uri_prefix="tiny/", min_score=-1.0)
        assert [h.source_uri for h in hits] == ["tiny/one"]


def test_status_reports_counts_jobs_and_index(corpus: Store) -> None:
    with corpus.connect() as conn:
        info = status(conn)
    assert info["search_documents"] == len(CORPUS)
    assert info["search_document_chunks"] == len(CORPUS)
    assert info["search_indexing_jobs"] == 0
    assert info["jobs"] == {"queued": 0, "running": 0, "done": 0, "dead": 0}
    assert info["embedder"] == {
        "name": "hashing-blake2b-v1-256",
        "dim": 256,
        "normalised": True,
        "embedded": len(CORPUS),
    }
    index = info["index"]
    assert (index["fts_rows"], index["vectors"], index["vector_backend"]) == (
        len(CORPUS),
        len(CORPUS),
        "exact",
    )
    assert index["vector_rows"] == len(CORPUS) and index["vector_cursor"] > 0


def test_hits_serialise(corpus: Store) -> None:
    with corpus.connect() as conn:
        hit = search(conn, "coffee", mode="hybrid", k=1)[0]
    data = hit.as_dict()
    assert data["source_uri"] == "other/coffee" and set(data) >= {
        "chunk_id",
        "document_id",
        "title",
        "snippet",
        "score",
        "source",
        "fts_rank",
        "bm25",
        "vector_rank",
        "vector_score",
    }
    with pytest.raises(AttributeError):
        hit.score = 1.0  # type: ignore[misc]
