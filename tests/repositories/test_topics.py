"""TopicRepository: ensure (insert or ignore), links with weights, the change log and rollback."""

from __future__ import annotations

import math

import pytest

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.topics import ConversationTopicRow, TopicRepository
from codex.repositories.user_chat import ChatRepository
from codex.store import Store


class Boom(Exception):
    pass


def _conversation(store: Store) -> tuple[int, int]:
    """A conversation with one message: (conversation_id, message_id)."""
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation()
        return conv.id, chat.append_message(conv.id, "user", "x").id


def test_ensure_inserts_once_and_keeps_the_first_label(store: Store) -> None:
    with store.begin() as conn:
        topics = TopicRepository(conn)
        first = topics.ensure("libsql", "libSQL")
        again = topics.ensure("libsql", "something else")
        other = topics.ensure("alembic")
    assert again == first and first.label == "libSQL" and first.slug == "libsql"
    assert other.label == "" and other.id != first.id
    with store.connect() as conn:
        topics = TopicRepository(conn)
        assert topics.get(first.id) == first == topics.get_by_slug("libsql")
        assert topics.exists("alembic") and not topics.exists("nope")
        assert topics.get_one_or_none(other.id + 10) is None
        assert [t.slug for t in topics.list()] == ["alembic", "libsql"]
        assert topics.count() == 2
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        (f"topics/{first.id}", "insert", "topic", str(first.id)),
        (f"topics/{other.id}", "insert", "topic", str(other.id)),
    ]
    assert changes[0].payload == {"slug": "libsql", "label": "libSQL"}


def test_missing_topics_raise_not_found(store: Store) -> None:
    with store.begin() as conn:
        topics = TopicRepository(conn)
        with pytest.raises(NotFound):
            topics.get(1)
        with pytest.raises(NotFound):
            topics.get_by_slug("x")
        with pytest.raises(NotFound):
            topics.rename(1, "x")
        with pytest.raises(NotFound):
            topics.delete(1)
        with pytest.raises(InvalidInput):
            topics.ensure("")


def test_rename(store: Store) -> None:
    with store.begin() as conn:
        topics = TopicRepository(conn)
        topic = topics.ensure("db", "Database")
        renamed = topics.rename(topic.id, "Databases")
    assert (renamed.id, renamed.slug, renamed.label) == (topic.id, "db", "Databases")
    with store.connect() as conn:
        assert TopicRepository(conn).get_by_slug("db").label == "Databases"
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.payload) == (
        f"topics/{topic.id}",
        "update",
        {"label": "Databases"},
    )


def test_link_conversation_upserts_the_weight(store: Store) -> None:
    conv_id, _ = _conversation(store)
    with store.begin() as conn:
        topics = TopicRepository(conn)
        a = topics.ensure("a", "A")
        b = topics.ensure("b", "B")
        assert topics.link_conversation(conv_id, a.id, weight=0.25) is True
        assert topics.link_conversation(conv_id, b.id) is True
        assert topics.link_conversation(conv_id, a.id, weight=2.0) is False
    with store.connect() as conn:
        topics = TopicRepository(conn)
        assert topics.topics_for_conversation(conv_id) == [
            ConversationTopicRow(conv_id, a.id, "a", "A", 2.0),
            ConversationTopicRow(conv_id, b.id, "b", "B", 1.0),
        ]
        assert topics.conversations_for_topic(a.id) == [ConversationTopicRow(conv_id, a.id, "a", "A", 2.0)]
        links = [c for c in ChangeLogRepository(conn).since(0) if c.entity_kind == "conversation_topic"]
    assert [(c.topic, c.change_kind, c.entity_id) for c in links] == [
        (f"topics/{a.id}", "insert", f"{conv_id}:{a.id}"),
        (f"topics/{b.id}", "insert", f"{conv_id}:{b.id}"),
        (f"topics/{a.id}", "update", f"{conv_id}:{a.id}"),
    ]
    assert links[2].payload == {"conversation_id": conv_id, "topic_id": a.id, "weight": 2.0}


def test_link_conversation_errors(store: Store) -> None:
    conv_id, _ = _conversation(store)
    with store.begin() as conn:
        topics = TopicRepository(conn)
        topic = topics.ensure("t")
        with pytest.raises(InvalidInput):
            topics.link_conversation(conv_id, topic.id, weight=math.nan)
        with pytest.raises(NotFound, match=f"conversation {conv_id + 100} not found"):
            topics.link_conversation(conv_id + 100, topic.id)
        with pytest.raises(NotFound, match=f"topic {topic.id + 100} not found"):
            topics.link_conversation(conv_id, topic.id + 100)
        assert topics.topics_for_conversation(conv_id) == []


def test_unlink_conversation(store: Store) -> None:
    conv_id, _ = _conversation(store)
    with store.begin() as conn:
        topics = TopicRepository(conn)
        topic = topics.ensure("t")
        topics.link_conversation(conv_id, topic.id)
        assert topics.unlink_conversation(conv_id, topic.id) is True
        assert topics.unlink_conversation(conv_id, topic.id) is False
        assert topics.topics_for_conversation(conv_id) == []
    with store.connect() as conn:
        kinds = [
            (c.change_kind, c.entity_kind)
            for c in ChangeLogRepository(conn).since(0, topic=f"topics/{topic.id}")
        ]
    assert kinds == [("insert", "topic"), ("insert", "conversation_topic"), ("delete", "conversation_topic")]


def test_link_message_inserts_or_ignores(store: Store) -> None:
    _, msg_id = _conversation(store)
    with store.begin() as conn:
        topics = TopicRepository(conn)
        b = topics.ensure("b")
        a = topics.ensure("a")
        assert topics.link_message(msg_id, b.id) is True
        assert topics.link_message(msg_id, a.id) is True
        assert topics.link_message(msg_id, b.id) is False
        with pytest.raises(NotFound, match=f"message {msg_id + 100} not found"):
            topics.link_message(msg_id + 100, a.id)
        with pytest.raises(NotFound, match=f"topic {a.id + 100} not found"):
            topics.link_message(msg_id, a.id + 100)
    with store.connect() as conn:
        assert [t.slug for t in TopicRepository(conn).topics_for_message(msg_id)] == ["a", "b"]
        links = [
            c for c in ChangeLogRepository(conn).since(0) if c.entity_kind == "conversation_message_topic"
        ]
    assert [(c.topic, c.change_kind, c.entity_id) for c in links] == [
        (f"topics/{b.id}", "insert", f"{msg_id}:{b.id}"),
        (f"topics/{a.id}", "insert", f"{msg_id}:{a.id}"),
    ]
    with store.begin() as conn:
        topics = TopicRepository(conn)
        assert topics.unlink_message(msg_id, a.id) is True
        assert topics.unlink_message(msg_id, a.id) is False
        assert [t.slug for t in topics.topics_for_message(msg_id)] == ["b"]


def test_delete_topic_cascades_links(store: Store) -> None:
    conv_id, msg_id = _conversation(store)
    with store.begin() as conn:
        topics = TopicRepository(conn)
        topic = topics.ensure("gone")
        topics.link_conversation(conv_id, topic.id)
        topics.link_message(msg_id, topic.id)
        topics.delete(topic.id)
        assert topics.topics_for_conversation(conv_id) == [] and topics.topics_for_message(msg_id) == []
        assert not topics.exists("gone")
    with store.connect() as conn:
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.entity_kind) == (f"topics/{topic.id}", "delete", "topic")


def test_rollback_leaves_neither_rows_nor_changes(store: Store) -> None:
    conv_id, _ = _conversation(store)
    with store.connect() as conn:
        head = ChangeLogRepository(conn).head()
    with pytest.raises(Boom), store.begin() as conn:
        topics = TopicRepository(conn)
        topic = topics.ensure("ghost")
        topics.link_conversation(conv_id, topic.id)
        raise Boom
    with store.connect() as conn:
        assert TopicRepository(conn).count() == 0
        assert TopicRepository(conn).topics_for_conversation(conv_id) == []
        assert ChangeLogRepository(conn).head() == head


# -- tenancy ----------------------------------------------------------------------------------------


def _tenant_conversation(store: Store, tenant: str) -> tuple[int, int]:
    """A conversation of ``tenant`` with one message: (conversation_id, message_id)."""
    with store.begin(tenant=tenant) as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title=tenant)
        return conv.id, chat.append_message(conv.id, "user", tenant).id


def test_the_same_slug_in_two_tenants_is_two_topics(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        mine = TopicRepository(conn).ensure("general", "A's")
    with store.begin(tenant="b") as conn:
        topics = TopicRepository(conn)
        theirs = topics.ensure("general", "B's")
        assert topics.ensure("general", "ignored") == theirs
    assert theirs.id != mine.id and (mine.label, theirs.label) == ("A's", "B's")
    for tenant, own in (("a", mine), ("b", theirs)):
        with store.connect(tenant=tenant) as conn:
            topics = TopicRepository(conn)
            assert topics.get_by_slug("general") == own and topics.exists("general")
            assert topics.list() == [own] and topics.count() == 1
    with store.connect() as conn:  # library use: the tenant ``default``, which has no topics
        topics = TopicRepository(conn)
        assert not topics.exists("general") and topics.count() == 0 and topics.list() == []
        with pytest.raises(NotFound):
            topics.get_by_slug("general")
        operator = TopicRepository.unscoped(conn)
        assert operator.count() == 2 and operator.get_by_slug("general") == mine  # the oldest
        tenants = conn.exec_driver_sql("SELECT slug, tenant_id FROM topics ORDER BY id").all()
        changes = ChangeLogRepository(conn, "b").since(0)
    assert [tuple(r) for r in tenants] == [("general", "a"), ("general", "b")]
    assert [(c.topic, c.change_kind) for c in changes] == [(f"topics/{theirs.id}", "insert")]


def test_a_tenant_cannot_touch_another_tenants_topic(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        topic = TopicRepository(conn).ensure("secret", "Secret")
    with store.begin(tenant="b") as conn:
        topics = TopicRepository(conn)
        assert topics.get_one_or_none(topic.id) is None
        with pytest.raises(NotFound, match=f"topic {topic.id} not found"):
            topics.get(topic.id)
        with pytest.raises(NotFound):
            topics.rename(topic.id, "mine now")
        with pytest.raises(NotFound):
            topics.delete(topic.id)
        assert ChangeLogRepository(conn).count() == 0
    with store.connect(tenant="a") as conn:
        assert TopicRepository(conn).get(topic.id) == topic


def test_links_need_both_ends_in_scope(store: Store) -> None:
    conv_a, msg_a = _tenant_conversation(store, "a")
    conv_b, msg_b = _tenant_conversation(store, "b")
    with store.begin(tenant="a") as conn:
        topics = TopicRepository(conn)
        topic_a = topics.ensure("t")
        assert topics.link_conversation(conv_a, topic_a.id, weight=0.5)
        assert topics.link_message(msg_a, topic_a.id)
    with store.begin(tenant="b") as conn:
        topics = TopicRepository(conn)
        topic_b = topics.ensure("t")
        with pytest.raises(NotFound, match=f"topic {topic_a.id} not found"):
            topics.link_conversation(conv_b, topic_a.id)  # their topic
        with pytest.raises(NotFound, match=f"conversation {conv_a} not found"):
            topics.link_conversation(conv_a, topic_b.id)  # their conversation
        with pytest.raises(NotFound, match=f"conversation {conv_a} not found"):
            topics.link_conversation(conv_a, topic_a.id, weight=9.0)  # their link
        with pytest.raises(NotFound, match=f"topic {topic_a.id} not found"):
            topics.link_message(msg_b, topic_a.id)
        with pytest.raises(NotFound, match=f"message {msg_a} not found"):
            topics.link_message(msg_a, topic_b.id)
        assert topics.unlink_conversation(conv_a, topic_a.id) is False
        assert topics.unlink_message(msg_a, topic_a.id) is False
        assert topics.topics_for_conversation(conv_a) == []
        assert topics.topics_for_message(msg_a) == []
        assert topics.conversations_for_topic(topic_a.id) == []
        assert topics.link_conversation(conv_b, topic_b.id) and topics.link_message(msg_b, topic_b.id)
    with store.connect(tenant="a") as conn:
        topics = TopicRepository(conn)
        assert topics.topics_for_conversation(conv_a) == [
            ConversationTopicRow(conv_a, topic_a.id, "t", "", 0.5)
        ]
        assert [t.id for t in topics.topics_for_message(msg_a)] == [topic_a.id]
        assert topics.conversations_for_topic(topic_b.id) == []
        links = conn.exec_driver_sql(
            "SELECT conversation_id, tenant_id FROM conversation_topics ORDER BY conversation_id"
        ).all()
        tags = conn.exec_driver_sql(
            "SELECT conversation_message_id, tenant_id FROM conversation_message_topics "
            "ORDER BY conversation_message_id"
        ).all()
    assert [tuple(r) for r in links] == [(conv_a, "a"), (conv_b, "b")]
    assert [tuple(r) for r in tags] == [(msg_a, "a"), (msg_b, "b")]


def test_the_operator_form_links_within_one_tenant_only(store: Store) -> None:
    conv_a, msg_a = _tenant_conversation(store, "a")
    with store.begin(tenant="b") as conn:
        topic_b = TopicRepository(conn).ensure("t")
    with store.begin(tenant="a") as conn:
        topic_a = TopicRepository(conn).ensure("t")
    with store.begin() as conn:
        operator = TopicRepository.unscoped(conn)
        with pytest.raises(Conflict) as info:
            operator.link_conversation(conv_a, topic_b.id)
        assert info.value.details["constraint"] == "tenant"
        with pytest.raises(Conflict):
            operator.link_message(msg_a, topic_b.id)
        assert operator.link_conversation(conv_a, topic_a.id) and operator.link_message(msg_a, topic_a.id)
        tenants = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tenant_id FROM conversation_topics UNION ALL SELECT tenant_id FROM conversation_message_topics"
            )
        }
    assert tenants == {"a"}  # a link gets its ends' tenant, not the operator's default
