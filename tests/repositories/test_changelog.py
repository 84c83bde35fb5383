"""ChangeLogRepository: append/since contract, and the same-transaction guarantee under rollback."""

from __future__ import annotations

import pytest

from codex.errors import InvalidInput
from codex.repositories import ChangeLogRepository
from codex.store import Store


class Boom(Exception):
    pass


def test_append_and_since(store: Store) -> None:
    with store.begin() as conn:
        log = ChangeLogRepository(conn)
        first = log.append("conversations/1", "insert", "conversation", 1, {"title": "hi"})
        second = log.append("conversations/2", "update", entity_id="2")
        third = log.append("search/documents", "delete", payload=None)
    assert first < second < third
    with store.connect() as conn:
        log = ChangeLogRepository(conn)
        rows = log.since(0)
        assert [r.id for r in rows] == [first, second, third]
        assert rows[0].payload == {"title": "hi"} and rows[0].entity_id == "1"
        assert [r.id for r in log.since(first)] == [second, third]
        assert [r.id for r in log.since(0, topic="conversations/2")] == [second]
        assert [r.id for r in log.since(0, topic_prefix="conversations/")] == [first, second]
        assert [r.id for r in log.since(0, limit=0)] == [first]  # limit clamps to >= 1
        assert log.head() == third


def test_rollback_leaves_no_change_row(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        ChangeLogRepository(conn).append("conversations/1", "insert")
        raise Boom
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0


@pytest.mark.parametrize("topic", ["", "a b", "x/*", "/lead", "trail/", "a//b", "x" * 257])
def test_bad_topics_are_refused(store: Store, topic: str) -> None:
    with store.begin() as conn, pytest.raises(InvalidInput):
        ChangeLogRepository(conn).append(topic, "insert")
