"""ChatRepository: conversations and messages, the change log they write, and rollback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.user_chat import MESSAGE_ROLES, ChatRepository
from codex.store import Store


class Boom(Exception):
    pass


def _backdate(store: Store, conversation_id: int, stamp: str) -> None:
    """Test setup only: move a conversation's updated_at into the past (timestamps have 1 s resolution)."""
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE conversations SET updated_at = :s WHERE id = :id"),
            {"s": stamp, "id": conversation_id},
        )


def test_create_get_and_change_row(store: Store) -> None:
    with store.begin() as conn:
        conv = ChatRepository(conn).create_conversation(title="hello")
    assert conv.id > 0 and conv.title == "hello" and conv.user_id is None
    assert conv.created_at and conv.updated_at
    with store.connect() as conn:
        chat = ChatRepository(conn)
        assert chat.get(conv.id) == conv
        assert chat.exists(conv.id) and not chat.exists(conv.id + 1)
        assert chat.get_one_or_none(conv.id + 1) is None
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        (f"conversations/{conv.id}", "insert", "conversation", str(conv.id))
    ]
    assert changes[0].payload == {"title": "hello", "user_id": None}


def test_get_missing_raises_not_found(store: Store) -> None:
    with store.connect() as conn, pytest.raises(NotFound):
        ChatRepository(conn).get(12345)


def test_create_with_unknown_user_is_a_conflict(store: Store) -> None:
    with store.begin() as conn, pytest.raises(Conflict) as info:
        ChatRepository(conn).create_conversation(user_id="nobody")
    assert info.value.details["constraint"] == "foreign_key"


def test_list_orders_by_updated_at_and_filters_by_user(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, display_name) VALUES ('u1', 'Ada'), ('u2', 'Bob')"))
        chat = ChatRepository(conn)
        a = chat.create_conversation(user_id="u1", title="a")
        b = chat.create_conversation(user_id="u2", title="b")
        c = chat.create_conversation(user_id="u1", title="c")
    _backdate(store, a.id, "2020-01-01 00:00:00")
    _backdate(store, b.id, "2021-01-01 00:00:00")
    _backdate(store, c.id, "2022-01-01 00:00:00")
    with store.connect() as conn:
        chat = ChatRepository(conn)
        assert [r.id for r in chat.list()] == [c.id, b.id, a.id]
        assert [r.id for r in chat.list(user_id="u1")] == [c.id, a.id]
        assert [r.id for r in chat.list(limit=1)] == [c.id]
        assert chat.count() == 3 and chat.count(user_id="u2") == 1
    with store.begin() as conn:
        touched = ChatRepository(conn).touch(a.id)
    assert touched.updated_at > "2022-01-01 00:00:00"
    with store.connect() as conn:
        assert [r.id for r in ChatRepository(conn).list()] == [a.id, c.id, b.id]
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.entity_kind) == (
        f"conversations/{a.id}",
        "update",
        "conversation",
    )


def test_touch_and_rename_missing_raise_not_found(store: Store) -> None:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        with pytest.raises(NotFound):
            chat.touch(999)
        with pytest.raises(NotFound):
            chat.rename(999, "x")


def test_rename(store: Store) -> None:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title="old")
        renamed = chat.rename(conv.id, "new")
    assert renamed.title == "new" and renamed.id == conv.id
    with store.connect() as conn:
        assert ChatRepository(conn).get(conv.id).title == "new"
        change = ChangeLogRepository(conn).since(0)[-1]
    assert (change.change_kind, change.payload) == ("update", {"title": "new"})


def test_append_message_touches_conversation_and_logs(store: Store) -> None:
    with store.begin() as conn:
        conv = ChatRepository(conn).create_conversation(title="t")
    _backdate(store, conv.id, "2020-01-01 00:00:00")
    with store.begin() as conn:
        chat = ChatRepository(conn)
        m1 = chat.append_message(conv.id, "user", "hi")
        m2 = chat.append_message(conv.id, "assistant", "hello", payload={"tokens": [1, 2]})
    assert m1.id < m2.id
    assert (m1.role, m1.content_text, m1.payload_json, m1.payload) == ("user", "hi", None, None)
    assert m2.payload == {"tokens": [1, 2]} and m2.conversation_id == conv.id
    with store.connect() as conn:
        chat = ChatRepository(conn)
        assert chat.get(conv.id).updated_at > "2020-01-01 00:00:00"
        assert chat.list_messages(conv.id) == [m1, m2]
        assert chat.list_messages(conv.id, after_id=m1.id) == [m2]
        assert chat.list_messages(conv.id, limit=1) == [m1]
        assert chat.get_message(m2.id) == m2
        assert chat.count_messages(conv.id) == 2
        changes = ChangeLogRepository(conn).since(0, topic=f"conversations/{conv.id}")
    assert [(c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("insert", "conversation", str(conv.id)),
        ("insert", "conversation_message", str(m1.id)),
        ("insert", "conversation_message", str(m2.id)),
    ]
    assert changes[2].payload == {"conversation_id": conv.id, "role": "assistant"}


@pytest.mark.parametrize("role", MESSAGE_ROLES)
def test_every_role_is_accepted(store: Store, role: str) -> None:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation()
        assert chat.append_message(conv.id, role, "x").role == role


def test_bad_role_and_missing_conversation(store: Store) -> None:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation()
        with pytest.raises(InvalidInput) as info:
            chat.append_message(conv.id, "robot", "x")
        assert info.value.details["field"] == "role"
        with pytest.raises(NotFound):
            chat.append_message(conv.id + 100, "user", "x")
        with pytest.raises(NotFound):
            chat.get_message(424242)
        assert chat.count_messages(conv.id) == 0


def test_delete_conversation_cascades_and_logs(store: Store) -> None:
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title="bye")
        msg = chat.append_message(conv.id, "user", "x")
    with store.begin() as conn:
        ChatRepository(conn).delete_conversation(conv.id)
    with store.connect() as conn:
        chat = ChatRepository(conn)
        assert chat.get_one_or_none(conv.id) is None
        assert chat.list_messages(conv.id) == []
        with pytest.raises(NotFound):
            chat.get_message(msg.id)
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.entity_kind) == (
        f"conversations/{conv.id}",
        "delete",
        "conversation",
    )
    with store.begin() as conn, pytest.raises(NotFound):
        ChatRepository(conn).delete_conversation(conv.id)


def test_rollback_leaves_neither_row_nor_change(store: Store) -> None:
    with store.begin() as conn:
        conv = ChatRepository(conn).create_conversation()
    with pytest.raises(Boom), store.begin() as conn:
        chat = ChatRepository(conn)
        chat.create_conversation(title="ghost")
        chat.append_message(conv.id, "user", "ghost")
        raise Boom
    with store.connect() as conn:
        chat = ChatRepository(conn)
        assert chat.count() == 1 and chat.count_messages(conv.id) == 0
        assert ChangeLogRepository(conn).count() == 1


def test_writes_refuse_a_read_connection(store: Store) -> None:
    with store.connect() as conn, pytest.raises(InvalidInput):
        ChatRepository(conn).create_conversation()


# -- tenancy ----------------------------------------------------------------------------------------


def test_a_tenant_sees_and_changes_only_its_own_conversations(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        chat = ChatRepository(conn)
        conv_a = chat.create_conversation(title="a's")
        msg_a = chat.append_message(conv_a.id, "user", "private")
    with store.begin(tenant="b") as conn:
        chat = ChatRepository(conn)
        conv_b = chat.create_conversation(title="b's")
        assert chat.get_one_or_none(conv_a.id) is None and not chat.exists(conv_a.id)
        with pytest.raises(NotFound, match=f"conversation {conv_a.id} not found"):
            chat.get(conv_a.id)
        assert [r.id for r in chat.list()] == [conv_b.id] and chat.count() == 1
        for attempt in (
            lambda: chat.touch(conv_a.id),
            lambda: chat.rename(conv_a.id, "taken"),
            lambda: chat.append_message(conv_a.id, "user", "intrusion"),
            lambda: chat.delete_conversation(conv_a.id),
        ):
            with pytest.raises(NotFound, match=f"conversation {conv_a.id} not found"):
                attempt()
        with pytest.raises(NotFound, match=f"message {msg_a.id} not found"):
            chat.get_message(msg_a.id)
        assert chat.list_messages(conv_a.id) == [] and chat.count_messages(conv_a.id) == 0
        assert [c.entity_id for c in ChangeLogRepository(conn).since(0)] == [str(conv_b.id)]
    with store.connect(tenant="a") as conn:
        chat = ChatRepository(conn)
        assert chat.get(conv_a.id).title == "a's" and chat.list_messages(conv_a.id) == [msg_a]
        assert [r.id for r in chat.list()] == [conv_a.id] and chat.count() == 1
    with store.connect() as conn:
        assert ChatRepository(conn).count() == 0  # library use: the tenant ``default``
        assert ChatRepository.unscoped(conn).count() == 2
        rows = conn.exec_driver_sql(
            "SELECT 'c', id, tenant_id FROM conversations UNION ALL "
            "SELECT 'm', id, tenant_id FROM conversation_messages ORDER BY 1, 2"
        ).all()
    assert [tuple(r) for r in rows] == [("c", conv_a.id, "a"), ("c", conv_b.id, "b"), ("m", msg_a.id, "a")]


def test_list_applies_the_tenant_and_the_limit_in_sql(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        chat = ChatRepository(conn)
        mine = [chat.create_conversation(title=f"a{i}").id for i in range(3)]
    for i, conv_id in enumerate(mine):
        _backdate(store, conv_id, f"2020-01-01 00:00:0{i}")
    with store.begin(tenant="b") as conn:  # newer than all of a's: first in updated_at order
        chat = ChatRepository(conn)
        for i in range(30):
            chat.create_conversation(title=f"b{i}")
    with store.connect(tenant="a") as conn:
        chat = ChatRepository(conn)
        assert [r.id for r in chat.list(limit=2)] == [mine[2], mine[1]]
        assert [r.id for r in chat.list(limit=50)] == mine[::-1]
    with store.connect(tenant="b") as conn:
        assert len(ChatRepository(conn).list(limit=50)) == 30


def test_the_operator_form_writes_messages_with_the_conversations_tenant(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        conv = ChatRepository(conn).create_conversation()
    with store.begin() as conn:
        operator = ChatRepository.unscoped(conn)
        msg = operator.append_message(conv.id, "system", "maintenance")
        assert operator.get_message(msg.id) == msg
        tenant = conn.exec_driver_sql(
            "SELECT tenant_id FROM conversation_messages WHERE id = ?", (msg.id,)
        ).scalar()
    assert tenant == "a"
    with store.connect(tenant="a") as conn:
        assert ChatRepository(conn).list_messages(conv.id) == [msg]
