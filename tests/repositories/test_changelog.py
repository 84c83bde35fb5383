"""ChangeLogRepository: append/since contract, and the same-transaction guarantee under rollback."""

from __future__ import annotations

import pytest

from codex.errors import InvalidInput
from codex.repositories import ChangeLogRepository
from codex.repositories.changelog import ChangeTail, TopicPattern
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


def test_tail_replays_the_last_matching_changes_of_the_tenant_only(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        log = ChangeLogRepository(conn)
        notes = [log.append(f"notes/{i}", "insert") for i in range(3)]
        deep = log.append("notes/1/comments", "insert")
        other = log.append("other/1", "insert")
    with store.begin(tenant="b") as conn:
        theirs = ChangeLogRepository(conn).append("notes/b", "insert")
    with store.connect(tenant="a") as conn:
        log = ChangeLogRepository(conn)
        assert log.tail(TopicPattern.parse("notes/+"), 2) == ChangeTail(notes[1] - 1, 2, other)
        assert log.tail(TopicPattern.parse("notes/*"), 10) == ChangeTail(notes[0] - 1, 4, other)
        assert log.tail(TopicPattern.parse("notes/1/comments"), 5) == ChangeTail(deep - 1, 1, other)
        assert log.tail(TopicPattern.parse("*"), 0) == ChangeTail(other, 0, other)  # nothing to replay
        assert log.tail(TopicPattern.parse("nothing/here"), 5) == ChangeTail(other, 0, other)
        # the scan budget counts candidate rows, read a page at a time
        assert log.tail(TopicPattern.parse("*"), 10, scan=2, page=2) == ChangeTail(deep - 1, 2, other)
        assert log.tail(TopicPattern.parse("*"), 10, page=2) == ChangeTail(notes[0] - 1, 5, other)
    with store.connect(tenant="b") as conn:
        assert ChangeLogRepository(conn).tail(TopicPattern.parse("*"), 10) == ChangeTail(
            theirs - 1, 1, theirs
        )
    with store.connect(tenant="c") as conn:
        assert ChangeLogRepository(conn).tail(TopicPattern.parse("*"), 10) == ChangeTail(0, 0, 0)


def test_tail_takes_like_wildcards_in_a_pattern_literally(store: Store) -> None:
    with store.begin() as conn:
        log = ChangeLogRepository(conn)
        exact = log.append("a_b/1", "insert")
        log.append("axb/1", "insert")
    with store.connect() as conn:
        assert ChangeLogRepository(conn).tail(TopicPattern.parse("a_b/*"), 5) == ChangeTail(
            exact - 1, 1, exact + 1
        )
