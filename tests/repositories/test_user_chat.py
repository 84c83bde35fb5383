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
