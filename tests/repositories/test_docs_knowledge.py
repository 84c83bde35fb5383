"""KnowledgeRepository and SnippetRepository: graph upserts, LIKE search, neighbours, snippets."""

from __future__ import annotations

import pytest

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.docs_knowledge import (
    SNIPPET_SEARCH_MAX,
    KnowledgeEdgeRow,
    KnowledgeRepository,
    NeighbourRow,
    SnippetRepository,
)
from codex.store import Store


class Boom(Exception):
    pass


def test_upsert_and_get_node(store: Store) -> None:
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        first = kg.upsert_node("sqlite", "SQLite", content="embedded SQL", metadata={"tier": 1})
        assert first.node_type == "concept" and first.metadata == {"tier": 1}
        second = kg.upsert_node("sqlite", "SQLite 3", node_type="engine")
    assert second.label == "SQLite 3" and second.node_type == "engine"
    assert second.content is None and second.metadata_json is None  # every field is overwritten
    assert second.created_at == first.created_at
    with store.connect() as conn:
        kg = KnowledgeRepository(conn)
        assert kg.get_node("sqlite") == second
        assert kg.count_nodes() == 1
        assert kg.get_node_or_none("nope") is None
        with pytest.raises(NotFound):
            kg.get_node("nope")


def test_query_nodes_matches_label_and_content_and_escapes_wildcards(store: Store) -> None:
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        kg.upsert_node("a", "Alpha", content="100% pure")
        kg.upsert_node("b", "beta_max", content=None)
        kg.upsert_node("c", "Gamma", content="about alphabets")
        kg.upsert_node("d", "betaXmax", content="plain")
    with store.connect() as conn:
        kg = KnowledgeRepository(conn)
        assert [n.id for n in kg.query_nodes("alpha")] == ["a", "c"]  # label or content, case-insensitive
        assert [n.id for n in kg.query_nodes("%")] == ["a"]  # a literal percent sign
        assert [n.id for n in kg.query_nodes("a_m")] == ["b"]  # '_' is not a wildcard
        # by label, in SQLite's binary collation: "Alpha" < "Gamma" < "betaXmax" < "beta_max"
        assert [n.id for n in kg.query_nodes("")] == ["a", "c", "d", "b"]
        assert len(kg.query_nodes("", limit=2)) == 2


def test_edges_upsert_neighbours_and_delete(store: Store) -> None:
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        kg.upsert_node("libsql", "libSQL")
        kg.upsert_node("sqlite", "SQLite")
        kg.upsert_node("turso", "Turso")
        assert kg.create_edge("libsql", "sqlite", "fork_of").weight == 1.0
        updated = kg.create_edge("libsql", "sqlite", "fork_of", weight=0.5)
        kg.create_edge("turso", "libsql", "uses", weight=2)
        kg.create_edge("libsql", "ghost", "mentions")  # no foreign key: the destination may not exist
    assert isinstance(updated, KnowledgeEdgeRow) and updated.weight == 0.5
    with store.connect() as conn:
        kg = KnowledgeRepository(conn)
        assert kg.get_edge("libsql", "sqlite", "fork_of").weight == 0.5
        with pytest.raises(NotFound):
            kg.get_edge("libsql", "sqlite", "uses")
        assert kg.neighbours("libsql") == [NeighbourRow("libsql", "sqlite", "fork_of", 0.5, "SQLite")]
        assert kg.neighbours("turso") == [NeighbourRow("turso", "libsql", "uses", 2.0, "libSQL")]
        assert kg.neighbours("ghost") == []
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        assert kg.delete_node("libsql") == 3  # two outgoing edges and one incoming
        with pytest.raises(NotFound):
            kg.delete_node("libsql")
        assert kg.delete_edge("turso", "libsql", "uses") is False
    with store.connect() as conn:
        kg = KnowledgeRepository(conn)
        assert kg.get_node_or_none("libsql") is None
        assert kg.neighbours("turso") == []
        assert kg.count_nodes() == 2
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        kg.create_edge("a", "b", "r")
        assert kg.delete_edge("a", "b", "r") is True
        with pytest.raises(NotFound):
            kg.get_edge("a", "b", "r")


def test_snippets_save_get_search(store: Store) -> None:
    with store.begin() as conn:
        sn = SnippetRepository(conn)
        first = sn.save("python", "Open a store", "store = open_store()", tags="codex,store")
        second = sn.save(
            "sql",
            "Upsert",
            "INSERT ... ON CONFLICT DO UPDATE",
            description="100% idempotent",
            author_id="ada",
            source_ref="docs/upsert.md",
            embedding_ref="emb:7",
        )
        third = sn.save("rust", "Hello", 'println!("hi")', tags="greeting_basic")
    assert first < second < third
    with store.connect() as conn:
        sn = SnippetRepository(conn)
        row = sn.get(second)
        assert (row.language, row.title, row.description) == ("sql", "Upsert", "100% idempotent")
        assert (row.author_id, row.source_ref, row.embedding_ref) == ("ada", "docs/upsert.md", "emb:7")
        assert row.tags is None and row.created_at
        with pytest.raises(NotFound):
            sn.get(999)
        assert [s.id for s in sn.search("")] == [third, second, first]  # newest first
        assert [s.id for s in sn.search("STORE")] == [first]  # title, code and tags, case-insensitive
        assert [s.id for s in sn.search("conflict")] == [second]  # code
        assert [s.id for s in sn.search("%")] == [second]  # description, literal percent sign
        assert [s.id for s in sn.search("g_b")] == [third]  # tags, literal underscore
        assert [s.id for s in sn.search("", limit=1)] == [third]
        assert sn.count() == 3
    with store.begin() as conn:
        sn = SnippetRepository(conn)
        assert sn.delete(first) is True and sn.delete(first) is False
        assert sn.count() == 2


def test_snippet_search_is_capped_at_500(store: Store) -> None:
    with store.begin() as conn:
        sn = SnippetRepository(conn)
        for i in range(SNIPPET_SEARCH_MAX + 5):
            sn.save("txt", f"t{i}", "x")
    with store.connect() as conn:
        assert len(SnippetRepository(conn).search("", limit=10_000)) == SNIPPET_SEARCH_MAX


def test_not_live_no_change_log_rows(store: Store) -> None:
    with store.begin() as conn:
        kg = KnowledgeRepository(conn)
        kg.upsert_node("n", "N")
        kg.create_edge("n", "n", "self")
        kg.delete_node("n")
        SnippetRepository(conn).save("py", "t", "c")
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0


def test_rollback_leaves_nothing(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        KnowledgeRepository(conn).upsert_node("n", "N")
        KnowledgeRepository(conn).create_edge("n", "m", "r")
        SnippetRepository(conn).save("py", "t", "c")
        raise Boom
    with store.connect() as conn:
        assert KnowledgeRepository(conn).count_nodes() == 0
        assert KnowledgeRepository(conn).neighbours("n") == []
        with pytest.raises(NotFound):
            KnowledgeRepository(conn).get_edge("n", "m", "r")
        assert SnippetRepository(conn).count() == 0
        assert ChangeLogRepository(conn).head() == 0


def test_writes_refuse_read_connections_and_bad_json(store: Store) -> None:
    with store.connect() as conn:
        with pytest.raises(InvalidInput):
            KnowledgeRepository(conn).upsert_node("n", "N")
        with pytest.raises(InvalidInput):
            KnowledgeRepository(conn).create_edge("a", "b", "r")
        with pytest.raises(InvalidInput):
            SnippetRepository(conn).save("py", "t", "c")
    with store.begin() as conn, pytest.raises(InvalidInput):
        KnowledgeRepository(conn).upsert_node("n", "N", metadata={"bad": object()})


def test_missing_required_values_are_conflicts(store: Store) -> None:
    with store.begin() as conn:
        with pytest.raises(Conflict) as err:
            KnowledgeRepository(conn).upsert_node("n", None)  # type: ignore[arg-type]
        assert err.value.details.get("constraint") == "not_null"
        with pytest.raises(Conflict):
            SnippetRepository(conn).save("py", "t", None)  # type: ignore[arg-type]
    with store.connect() as conn:
        assert KnowledgeRepository(conn).count_nodes() == 0 and SnippetRepository(conn).count() == 0
