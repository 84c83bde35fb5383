"""Ingest and the corpus repository: insert, unchanged skip, atomic replace, delete, embedder guard."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.search import (
    EmbedderMismatch,
    HashingEmbedder,
    SearchIndex,
    SearchRepository,
    delete_document,
    ingest,
    reindex,
    search,
    status,
)
from codex.store import Store

LONG = " ".join(f"Paragraph sentence {i} mentions alphaword and databases." for i in range(60))


class Boom(Exception):
    pass


class OtherEmbedder:
    """The built-in features under another name: a different embedder as far as the corpus knows."""

    def __init__(self, name: str = "other-embedder", dim: int = 256) -> None:
        self.name, self.dim = name, dim
        self._inner = HashingEmbedder(dim)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._inner.embed(texts)


def _counts(conn: sa.Connection) -> tuple[int, int, int, int]:
    """(documents, chunks, fts rows, vectors)."""
    q = conn.exec_driver_sql
    return (
        int(q("SELECT count(*) FROM search_documents").scalar_one()),
        int(q("SELECT count(*) FROM search_document_chunks").scalar_one()),
        int(q("SELECT count(*) FROM search_chunks_fts_docsize").scalar_one()),
        int(q("SELECT count(*) FROM search_chunk_vectors").scalar_one()),
    )


def _orphans(conn: sa.Connection) -> tuple[int, int]:
    """(FTS rows, vectors) whose chunk does not exist."""
    q = conn.exec_driver_sql
    fts = q(
        "SELECT count(*) FROM search_chunks_fts_docsize WHERE id NOT IN (SELECT id FROM search_document_chunks)"
    )
    vec = q(
        "SELECT count(*) FROM search_chunk_vectors WHERE chunk_id NOT IN (SELECT id FROM search_document_chunks)"
    )
    return int(fts.scalar_one()), int(vec.scalar_one())


def test_ingest_writes_chunks_fts_vectors_and_one_change_row(store: Store) -> None:
    with store.begin() as conn:
        result = ingest(conn, "docs/a", LONG, "text/plain", "A")
    assert result.outcome == "inserted" and result.chunks >= 3
    with store.begin() as conn:
        assert _counts(conn) == (1, result.chunks, result.chunks, result.chunks)
        assert SearchIndex(conn).fts_integrity_ok()
        repo = SearchRepository(conn)
        doc = repo.get_by_uri("docs/a")
        assert (doc.title, doc.mime_type, doc.content_hash) == ("A", "text/plain", result.content_hash)
        chunks = repo.list_chunks(doc.id)
        assert [c.chunk_index for c in chunks] == list(range(result.chunks))
        assert {c.embedding_ref for c in chunks} == {"hashing-blake2b-v1-256"}
        assert len(repo.get_vector(chunks[0].id)) == 256 * 4
        rows = ChangeLogRepository(conn).since(0)
    assert [(r.topic, r.change_kind, r.entity_kind) for r in rows] == [
        ("search/embedder", "insert", "search_embedder"),
        ("search/documents", "insert", "search_document"),
    ]
    assert rows[1].entity_id == str(doc.id) and rows[1].payload["chunks"] == result.chunks


def test_unchanged_content_is_skipped(store: Store) -> None:
    with store.begin() as conn:
        first = ingest(conn, "docs/a", LONG, "text/plain", "A")
    with store.connect() as conn:
        head = ChangeLogRepository(conn).head()
        ids = [c.id for c in SearchRepository(conn).list_chunks(first.document_id)]
    with store.begin() as conn:
        again = ingest(conn, "docs/a", LONG.encode(), "text/plain", "A")  # bytes of the same text
    assert again.outcome == "unchanged" and again.content_hash == first.content_hash
    assert again.chunks == first.chunks
    with store.begin() as conn:
        assert ChangeLogRepository(conn).head() == head
        assert [c.id for c in SearchRepository(conn).list_chunks(first.document_id)] == ids
        retitled = ingest(conn, "docs/a", LONG, "text/plain", "A2")
        assert retitled.outcome == "updated"
        assert [c.id for c in SearchRepository(conn).list_chunks(first.document_id)] == ids
        assert SearchRepository(conn).get(first.document_id).title == "A2"
        last = ChangeLogRepository(conn).since(head)
        assert [(r.change_kind, r.payload.get("title")) for r in last] == [("update", "A2")]


def test_changed_content_replaces_chunks_fts_and_vectors_atomically(store: Store) -> None:
    with store.begin() as conn:
        first = ingest(conn, "docs/a", LONG, "text/plain", "A")
        ingest(conn, "docs/b", "Betaword " * 40, "text/plain", "B")
    replacement = " ".join(f"Replacement line {i} talks about gammaword instead." for i in range(30))
    with store.begin() as conn:
        second = ingest(conn, "docs/a", replacement, "text/plain", "A")
    assert second.outcome == "updated" and second.document_id == first.document_id
    assert second.content_hash != first.content_hash
    with store.begin() as conn:
        docs, chunks, fts, vectors = _counts(conn)
        assert docs == 2 and chunks == fts == vectors == second.chunks + 1
        assert _orphans(conn) == (0, 0)
        assert SearchIndex(conn).fts_integrity_ok()
        assert search(conn, "alphaword", mode="fts") == []
        hits = search(conn, "gammaword", mode="fts", k=50)
        assert {h.source_uri for h in hits} == {"docs/a"} and len(hits) == second.chunks
        kinds = [(r.topic, r.change_kind) for r in ChangeLogRepository(conn).since(0)]
    assert kinds[-1] == ("search/documents", "update")


def test_rollback_leaves_neither_rows_nor_index_entries(store: Store) -> None:
    with store.begin() as conn:
        ingest(conn, "docs/a", LONG, "text/plain", "A")
    with store.connect() as conn:
        before, head = _counts(conn), ChangeLogRepository(conn).head()
    with pytest.raises(Boom), store.begin() as conn:
        ingest(conn, "docs/a", "Completely new text about deltaword. " * 20, "text/plain", "A")
        ingest(conn, "docs/new", "Another new document about deltaword. " * 20, "text/plain", "N")
        raise Boom
    with store.begin() as conn:
        assert _counts(conn) == before
        assert ChangeLogRepository(conn).head() == head
        assert SearchIndex(conn).fts_integrity_ok()
        assert search(conn, "deltaword", mode="fts") == []
        assert {h.source_uri for h in search(conn, "alphaword", mode="fts")} == {"docs/a"}


def test_delete_document_removes_everything(store: Store) -> None:
    with store.begin() as conn:
        kept = ingest(conn, "docs/keep", "Keepword " * 40, "text/plain", "K")
        gone = ingest(conn, "docs/gone", LONG, "text/plain", "G")
    with store.begin() as conn:
        assert delete_document(conn, "docs/gone") == gone.document_id
        with pytest.raises(NotFound):
            delete_document(conn, "docs/gone")
        with pytest.raises(NotFound):
            SearchRepository(conn).delete(gone.document_id)
    with store.begin() as conn:
        assert _counts(conn) == (1, kept.chunks, kept.chunks, kept.chunks)
        assert _orphans(conn) == (0, 0) and SearchIndex(conn).fts_integrity_ok()
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.entity_id, last.payload) == (
        "search/documents",
        "delete",
        str(gone.document_id),
        {"source_uri": "docs/gone"},
    )


def test_integrity_check_detects_an_orphan_fts_row(store: Store) -> None:
    """The orphan checks above can fail: a stray FTS row is reported."""
    with store.begin() as conn:
        ingest(conn, "docs/a", LONG, "text/plain", "A")
    with store.begin() as conn:
        conn.exec_driver_sql("INSERT INTO search_chunks_fts(rowid, body_text) VALUES (999, 'stray words')")
        assert _orphans(conn) == (1, 0)
        assert not SearchIndex(conn).fts_integrity_ok()
        SearchIndex(conn).rebuild_fts()
        assert _orphans(conn) == (0, 0) and SearchIndex(conn).fts_integrity_ok()


def test_html_and_markdown_titles_and_text(store: Store) -> None:
    html = "<html><head><title>Page</title></head><body><p>" + "Htmlword text. " * 20 + "</p></body></html>"
    with store.begin() as conn:
        h = ingest(conn, "web/page", html, "text/html")
        m = ingest(conn, "md/page", "# Heading\n\n" + "Markdownword text. " * 20, "text/markdown")
        repo = SearchRepository(conn)
        assert repo.get(h.document_id).title == "Page" and repo.get(m.document_id).title == "Heading"
        assert "<p>" not in repo.list_chunks(h.document_id)[0].body_text
        assert repo.count() == 2 and repo.count(uri_prefix="web/") == 1 and repo.exists("md/page")
        assert [d.source_uri for d in repo.list(mime_type="text/markdown")] == ["md/page"]
        assert [d.source_uri for d in repo.list(uri_prefix="we")] == ["web/page"]
        assert repo.list(after_id=m.document_id) == []


def test_bad_inputs_are_refused(store: Store) -> None:
    with store.begin() as conn:
        with pytest.raises(InvalidInput, match="UTF-8"):
            ingest(conn, "docs/bin", b"\xff\xfe\xfa", "text/plain")
        with pytest.raises(InvalidInput):
            ingest(conn, "", "text", "text/plain")
        with pytest.raises(InvalidInput, match="MIME"):
            ingest(conn, "docs/pdf", "text", "application/pdf")
        with pytest.raises(NotFound):
            SearchRepository(conn).get(12345)
        with pytest.raises(NotFound):
            SearchRepository(conn).get_chunk(12345)
        with pytest.raises(NotFound):
            SearchRepository(conn).get_vector(12345)
    with store.connect() as conn, pytest.raises(InvalidInput, match="writes"):
        ingest(conn, "docs/a", "text", "text/plain")
    with store.connect() as conn:
        assert status(conn)["search_documents"] == 0


def test_mixing_embedders_is_refused_until_a_reembed(store: Store) -> None:
    other = OtherEmbedder()
    with store.begin() as conn:
        ingest(conn, "docs/a", LONG, "text/plain", "A")
    with store.begin() as conn:
        with pytest.raises(EmbedderMismatch, match="hashing-blake2b-v1-256") as info:
            ingest(conn, "docs/b", "Other text " * 30, "text/plain", embedder=other)
        assert info.value.details["corpus_embedder"] == "hashing-blake2b-v1-256"
        assert info.value.details["embedder"] == "other-embedder"
        with pytest.raises(EmbedderMismatch):
            search(conn, "alphaword", mode="vector", embedder=other)
        assert search(conn, "alphaword", mode="fts", embedder=other)  # the text leg needs no vectors
        with pytest.raises(InvalidInput, match="no vector table holds 128-dimensional"):
            SearchRepository(conn).ensure_embedder("small", 128)
    with store.begin() as conn:
        result = reindex(conn, embedder=other, reembed=True)
        assert result.embedder == "other-embedder" and result.reembedded == result.vectors > 0
        assert {c.embedding_ref for c in SearchRepository(conn).list_chunks(1)} == {"other-embedder"}
        with pytest.raises(EmbedderMismatch):
            ingest(conn, "docs/c", "Third text " * 30, "text/plain")
        assert ingest(conn, "docs/c", "Third text " * 30, "text/plain", embedder=other).outcome == "inserted"
        assert search(conn, "alphaword", mode="vector", embedder=other)[0].source_uri == "docs/a"
        assert [r.change_kind for r in ChangeLogRepository(conn).since(0, topic="search/embedder")] == [
            "insert",
            "update",
        ]


def test_an_empty_corpus_adopts_a_new_embedder(store: Store) -> None:
    with store.begin() as conn:
        ingest(conn, "docs/a", LONG, "text/plain", "A")
        delete_document(conn, "docs/a")
        ingest(conn, "docs/b", LONG, "text/plain", "B", embedder=OtherEmbedder())
        row = SearchRepository(conn).embedder()
    assert row is not None and row.name == "other-embedder"
