"""ConversationGraphRepository: research sessions (no clobbering), linked metrics, versions, edges,
topic evolution, the change log and rollback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.conversation_graph import ConversationGraphRepository, LinkedMetric
from codex.repositories.topics import TopicRepository
from codex.repositories.user_chat import ChatRepository
from codex.store import Store
from domains.ops_training import research_metrics


class Boom(Exception):
    pass


def _conversations(store: Store, n: int) -> list[int]:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        return [chat.create_conversation(title=f"c{i}").id for i in range(n)]


def test_upsert_research_session_updates_only_given_fields(store: Store) -> None:
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        created = graph.upsert_research_session(
            "sess-1", title="Study", status="paused", repository_id="repo", config={"k": 1}, summary=["s"]
        )
        again = graph.upsert_research_session("sess-1", summary={"done": True})
        bare = graph.upsert_research_session("sess-2")
    assert created.id == again.id
    assert (again.title, again.status, again.repository_id, again.config) == (
        "Study",
        "paused",
        "repo",
        {"k": 1},
    )
    assert again.summary == {"done": True}
    assert (bare.title, bare.status, bare.repository_id, bare.config_json, bare.summary_json) == (
        "",
        "active",
        "",
        None,
        None,
    )
    with store.connect() as conn:
        graph = ConversationGraphRepository(conn)
        assert graph.get_research_session("sess-1") == again
        assert [s.session_key for s in graph.list_research_sessions()] == ["sess-2", "sess-1"]
        assert [s.session_key for s in graph.list_research_sessions(repository_id="repo")] == ["sess-1"]
        assert [s.session_key for s in graph.list_research_sessions(status="active")] == ["sess-2"]
        assert [s.session_key for s in graph.list_research_sessions(limit=1)] == ["sess-2"]
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("research/sessions/sess-1", "insert", "research_session", str(created.id)),
        ("research/sessions/sess-1", "update", "research_session", str(created.id)),
        ("research/sessions/sess-2", "insert", "research_session", str(bare.id)),
    ]
    assert changes[1].payload == {"session_key": "sess-1", "fields": ["summary_json"]}


def test_research_session_errors(store: Store) -> None:
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        for key in ("", "a/b", "has space"):
            with pytest.raises(InvalidInput):
                graph.upsert_research_session(key)
        with pytest.raises(NotFound):
            graph.get_research_session("missing")
        assert graph.list_research_sessions() == []


def test_research_metric_append_linked_keeps_the_session(store: Store) -> None:
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        session = graph.upsert_research_session("s1", title="Keep me", status="done", config={"c": 1})
        linked = graph.research_metric_append_linked("s1", "accuracy", 0.75, metadata={"n": 10})
        fresh = graph.research_metric_append_linked("s2", "loss", repository_id="r9")
    assert linked == LinkedMetric(session.id, linked.research_metric_row_id, "s1")
    assert fresh.session_key == "s2" and fresh.research_metric_row_id > linked.research_metric_row_id
    with store.connect() as conn:
        graph = ConversationGraphRepository(conn)
        kept = graph.get_research_session("s1")
        assert (kept.title, kept.status, kept.config, kept.repository_id) == ("Keep me", "done", {"c": 1}, "")
        created = graph.get_research_session("s2")
        assert (created.id, created.title, created.status, created.repository_id) == (
            fresh.research_session_row_id,
            "",
            "active",
            "r9",
        )
        metrics = conn.execute(sa.select(research_metrics).order_by(research_metrics.c.id)).all()
        changes = ChangeLogRepository(conn).since(0, topic="research/sessions/s1")
    assert [(m.id, m.session_id, m.metric_type, m.metric_value, m.metadata_json) for m in metrics] == [
        (linked.research_metric_row_id, "s1", "accuracy", 0.75, '{"n":10}'),
        (fresh.research_metric_row_id, "s2", "loss", None, None),
    ]
    assert [(c.change_kind, c.entity_kind) for c in changes] == [
        ("insert", "research_session"),
        ("update", "research_session"),
        ("insert", "research_metric"),
    ]
    with store.begin() as conn, pytest.raises(InvalidInput):
        ConversationGraphRepository(conn).research_metric_append_linked("s1", "")


def test_conversation_versions(store: Store) -> None:
    a, b = _conversations(store, 2)
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        v0 = graph.append_conversation_version(a, label="first", snapshot={"messages": 1})
        v1 = graph.append_conversation_version(a)
        v5 = graph.append_conversation_version(a, version_index=5)
        v6 = graph.append_conversation_version(a)
        other = graph.append_conversation_version(b)
    assert [v0.version_index, v1.version_index, v5.version_index, v6.version_index] == [0, 1, 5, 6]
    assert other.version_index == 0
    assert (v0.label, v0.snapshot, v1.snapshot_json) == ("first", {"messages": 1}, None)
    with store.connect() as conn:
        graph = ConversationGraphRepository(conn)
        assert graph.list_conversation_versions(a) == [v0, v1, v5, v6]
        assert graph.get_conversation_version(a, 5) == v5
        with pytest.raises(NotFound):
            graph.get_conversation_version(a, 2)
        changes = ChangeLogRepository(conn).since(0, topic=f"conversations/{a}")
    versions = [c for c in changes if c.entity_kind == "conversation_version"]
    assert [(c.change_kind, c.entity_id) for c in versions] == [
        ("insert", str(v0.id)),
        ("insert", str(v1.id)),
        ("insert", str(v5.id)),
        ("insert", str(v6.id)),
    ]
    assert versions[0].payload == {"version_index": 0, "label": "first"}


def test_conversation_version_errors(store: Store) -> None:
    (a,) = _conversations(store, 1)
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        graph.append_conversation_version(a, version_index=0)
        with pytest.raises(Conflict) as info:
            graph.append_conversation_version(a, version_index=0)
        assert info.value.details["constraint"] == "unique"
        with pytest.raises(InvalidInput):
            graph.append_conversation_version(a, version_index=-1)
        with pytest.raises(NotFound, match=f"conversation {a + 100} not found"):
            graph.append_conversation_version(a + 100)
        with pytest.raises(NotFound, match=f"conversation {a + 100} not found"):
            graph.append_conversation_version(a + 100, version_index=3)
        assert len(graph.list_conversation_versions(a)) == 1


def test_edges(store: Store) -> None:
    a, b, c = _conversations(store, 3)
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        ab = graph.add_edge(a, b)
        ab2 = graph.add_edge(a, b, edge_kind="fork", weight=0.5, metadata={"why": "branch"})
        ca = graph.add_edge(c, a, edge_kind="fork")
    assert (ab.edge_kind, ab.weight, ab.metadata) == ("related", 1.0, None)
    assert (ab2.edge_kind, ab2.weight, ab2.metadata) == ("fork", 0.5, {"why": "branch"})
    with store.connect() as conn:
        graph = ConversationGraphRepository(conn)
        assert graph.list_edges(a) == [ab, ab2]
        assert graph.list_edges(a, direction="in") == [ca]
        assert graph.list_edges(a, direction="both") == [ab, ab2, ca]
        assert graph.list_edges(a, direction="both", edge_kind="fork") == [ab2, ca]
        assert graph.list_edges(b, direction="in") == [ab, ab2]
        with pytest.raises(InvalidInput):
            graph.list_edges(a, direction="sideways")  # type: ignore[arg-type]
        edge_changes = [
            (x.topic, x.change_kind, x.entity_id)
            for x in ChangeLogRepository(conn).since(0)
            if x.entity_kind == "conversation_edge"
        ]
    assert edge_changes == [
        (f"conversations/{a}", "insert", str(ab.id)),
        (f"conversations/{b}", "insert", str(ab.id)),
        (f"conversations/{a}", "insert", str(ab2.id)),
        (f"conversations/{b}", "insert", str(ab2.id)),
        (f"conversations/{c}", "insert", str(ca.id)),
        (f"conversations/{a}", "insert", str(ca.id)),
    ]
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        graph.delete_edge(ab.id)
        assert graph.list_edges(a) == [ab2]
        with pytest.raises(NotFound):
            graph.delete_edge(ab.id)
    with store.connect() as conn:
        last = ChangeLogRepository(conn).since(0)[-2:]
    assert [(x.topic, x.change_kind) for x in last] == [
        (f"conversations/{a}", "delete"),
        (f"conversations/{b}", "delete"),
    ]


def test_self_loop_is_a_check_conflict(store: Store) -> None:
    (a,) = _conversations(store, 1)
    with store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        with pytest.raises(Conflict) as info:
            graph.add_edge(a, a)
        assert info.value.details["constraint"] == "check"
        with pytest.raises(NotFound, match=f"conversation {a + 100} not found"):
            graph.add_edge(a, a + 100)
        with pytest.raises(NotFound, match=f"conversation {a + 100} not found"):
            graph.add_edge(a + 100, a)
        with pytest.raises(InvalidInput):
            graph.add_edge(a, a + 1, edge_kind="")
        with pytest.raises(InvalidInput):
            graph.add_edge(a, a + 1, weight=float("inf"))
        assert graph.list_edges(a, direction="both") == []


def test_topic_evolution_events(store: Store) -> None:
    with store.begin() as conn:
        topic = TopicRepository(conn).ensure("db", "Database")
        graph = ConversationGraphRepository(conn)
        renamed = graph.append_topic_evolution_event(
            topic.id, "renamed", prior_label="Database", new_label="Databases", detail={"by": "curator"}
        )
        merged = graph.append_topic_evolution_event(topic.id, "merged")
        with pytest.raises(InvalidInput):
            graph.append_topic_evolution_event(topic.id, "")
        with pytest.raises(NotFound, match=f"topic {topic.id + 100} not found"):
            graph.append_topic_evolution_event(topic.id + 100, "renamed")
    assert (renamed.prior_label, renamed.new_label, renamed.detail) == (
        "Database",
        "Databases",
        {"by": "curator"},
    )
    assert (merged.prior_label, merged.new_label, merged.detail_json) == (None, None, None)
    with store.connect() as conn:
        assert ConversationGraphRepository(conn).list_topic_evolution(topic.id) == [renamed, merged]
        changes = ChangeLogRepository(conn).since(0, topic=f"topics/{topic.id}")
    assert [(c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("insert", "topic", str(topic.id)),
        ("insert", "topic_evolution_event", str(renamed.id)),
        ("insert", "topic_evolution_event", str(merged.id)),
    ]


def test_rollback_leaves_neither_rows_nor_changes(store: Store) -> None:
    a, b = _conversations(store, 2)
    with store.connect() as conn:
        head = ChangeLogRepository(conn).head()
    with pytest.raises(Boom), store.begin() as conn:
        graph = ConversationGraphRepository(conn)
        graph.upsert_research_session("ghost")
        graph.research_metric_append_linked("ghost", "m", 1.0)
        graph.append_conversation_version(a)
        graph.add_edge(a, b)
        raise Boom
    with store.connect() as conn:
        graph = ConversationGraphRepository(conn)
        assert graph.list_research_sessions() == []
        assert graph.list_conversation_versions(a) == [] and graph.list_edges(a) == []
        assert conn.execute(sa.select(sa.func.count()).select_from(research_metrics)).scalar_one() == 0
        assert ChangeLogRepository(conn).head() == head


# -- tenancy ----------------------------------------------------------------------------------------


def _tenant_conversations(store: Store, tenant: str, n: int) -> list[int]:
    with store.begin(tenant=tenant) as conn:
        chat = ChatRepository(conn)
        return [chat.create_conversation(title=f"{tenant}{i}").id for i in range(n)]


def test_the_same_session_key_in_two_tenants_is_two_sessions(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        mine = ConversationGraphRepository(conn).upsert_research_session("k1", title="A's", config={"a": 1})
    with store.begin(tenant="b") as conn:
        graph = ConversationGraphRepository(conn)
        theirs = graph.upsert_research_session("k1", title="B's")
        again = graph.upsert_research_session("k1", status="done")
        linked = graph.research_metric_append_linked("k1", "loss", 0.5)
        changes = ChangeLogRepository(conn).since(0)
    assert theirs.id != mine.id and again.id == theirs.id == linked.research_session_row_id
    assert (again.title, again.status, again.config) == ("B's", "done", None)
    assert [c.change_kind for c in changes] == ["insert", "update", "update", "insert"]  # none of a's
    for tenant, own in (("a", mine), ("b", again)):
        with store.connect(tenant=tenant) as conn:
            graph = ConversationGraphRepository(conn)
            assert graph.get_research_session("k1").id == own.id
            assert graph.get_research_session("k1").title == own.title
            assert [s.id for s in graph.list_research_sessions()] == [own.id]
    with store.connect() as conn:  # library use: the tenant ``default``, which has none
        graph = ConversationGraphRepository(conn)
        assert graph.list_research_sessions() == []
        with pytest.raises(NotFound):
            graph.get_research_session("k1")
        operator = ConversationGraphRepository.unscoped(conn)
        assert len(operator.list_research_sessions()) == 2
        assert operator.get_research_session("k1") == mine  # the oldest
        sessions = conn.exec_driver_sql(
            "SELECT session_key, tenant_id FROM research_sessions ORDER BY id"
        ).all()
        metrics = conn.execute(sa.select(research_metrics.c.session_id, research_metrics.c.tenant_id)).all()
    assert [tuple(r) for r in sessions] == [("k1", "a"), ("k1", "b")]
    assert [tuple(r) for r in metrics] == [("k1", "b")]


def test_a_tenant_cannot_version_or_link_another_tenants_conversations(store: Store) -> None:
    a1, a2 = _tenant_conversations(store, "a", 2)
    (b1,) = _tenant_conversations(store, "b", 1)
    with store.begin(tenant="a") as conn:
        graph = ConversationGraphRepository(conn)
        version = graph.append_conversation_version(a1, label="a's")
        edge = graph.add_edge(a1, a2)
    with store.begin(tenant="b") as conn:
        graph = ConversationGraphRepository(conn)
        for index in (None, 7):
            with pytest.raises(NotFound, match=f"conversation {a1} not found"):
                graph.append_conversation_version(a1, version_index=index)
        with pytest.raises(NotFound, match=f"conversation {a1} not found"):
            graph.add_edge(a1, b1)
        with pytest.raises(NotFound, match=f"conversation {a1} not found"):
            graph.add_edge(b1, a1)
        with pytest.raises(NotFound, match=f"conversation {a1} not found"):
            graph.add_edge(a1, a2)
        with pytest.raises(NotFound, match=f"conversation edge {edge.id} not found"):
            graph.delete_edge(edge.id)
        assert graph.list_conversation_versions(a1) == []
        with pytest.raises(NotFound):
            graph.get_conversation_version(a1, 0)
        assert graph.list_edges(a1, direction="both") == [] and graph.list_edges(a2, direction="in") == []
        own = graph.append_conversation_version(b1)
        assert own.version_index == 0
        assert ChangeLogRepository(conn).since(0)[-1].entity_id == str(own.id)
        assert all(c.entity_kind != "conversation_edge" for c in ChangeLogRepository(conn).since(0))
    with store.connect(tenant="a") as conn:
        graph = ConversationGraphRepository(conn)
        assert graph.list_conversation_versions(a1) == [version]
        assert graph.list_edges(a1) == [edge]
        rows = conn.exec_driver_sql(
            "SELECT 'version', id, tenant_id FROM conversation_versions UNION ALL "
            "SELECT 'edge', id, tenant_id FROM conversation_edges ORDER BY 1, 2"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("edge", edge.id, "a"),
        ("version", version.id, "a"),
        ("version", own.id, "b"),
    ]


def test_a_tenant_cannot_record_another_tenants_topic_evolution(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        topic = TopicRepository(conn).ensure("db")
        event = ConversationGraphRepository(conn).append_topic_evolution_event(topic.id, "renamed")
    with store.begin(tenant="b") as conn:
        graph = ConversationGraphRepository(conn)
        with pytest.raises(NotFound, match=f"topic {topic.id} not found"):
            graph.append_topic_evolution_event(topic.id, "hijacked")
        assert graph.list_topic_evolution(topic.id) == []
        assert ChangeLogRepository(conn).count() == 0
    with store.connect(tenant="a") as conn:
        assert ConversationGraphRepository(conn).list_topic_evolution(topic.id) == [event]


def test_the_operator_form_writes_children_with_their_parents_tenant(store: Store) -> None:
    (a1,) = _tenant_conversations(store, "a", 1)
    (b1,) = _tenant_conversations(store, "b", 1)
    with store.begin() as conn:
        operator = ConversationGraphRepository.unscoped(conn)
        with pytest.raises(Conflict) as info:
            operator.add_edge(a1, b1)
        assert info.value.details["constraint"] == "tenant"
        version = operator.append_conversation_version(a1, label="by operator")
        assert operator.list_conversation_versions(a1) == [version]
        assert ConversationGraphRepository(conn).list_conversation_versions(a1) == []  # tenant default
    with store.connect(tenant="a") as conn:
        assert ConversationGraphRepository(conn).list_conversation_versions(a1) == [version]
        versions = [c for c in ChangeLogRepository(conn).since(0) if c.entity_kind == "conversation_version"]
    assert [(c.topic, c.entity_id) for c in versions] == [(f"conversations/{a1}", str(version.id))]
