"""context_memory repositories: memories, turns, builder sessions, snapshots, and agent telemetry.

Covers :mod:`codex.repositories.context_memory` and :mod:`codex.repositories.agents_telemetry` (the
v6 tables of the same domain). The domain is not live: no change-log rows are written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.agents_telemetry import (
    A2aRepository,
    AgentEventRepository,
    AgentMetricsRepository,
    AgentSessionRepository,
    CostRepository,
    CostTotals,
)
from codex.repositories.context_memory import (
    BuilderSessionRepository,
    MemoryRepository,
    RestoreResult,
    SessionTurnRepository,
    SnapshotRepository,
)
from codex.store import Store
from domains.users_marketplace import learned_patterns, user_preferences


class Boom(Exception):
    pass


def sql(store: Store, statement: str, *params: Any) -> None:
    """Run one raw statement in its own write transaction (used to age rows for ordering tests)."""
    with store.begin() as conn:
        conn.exec_driver_sql(statement, params)


def days_ago(store: Store, table: str, column: str, row_id: object, days: int, key: str = "id") -> None:
    sql(store, f"UPDATE {table} SET {column} = datetime('now', ?) WHERE {key} = ?", f"-{days} days", row_id)


def no_changes(store: Store) -> bool:
    with store.connect() as conn:
        return ChangeLogRepository(conn).head() == 0


# --- memories -------------------------------------------------------------------------------------


def test_memory_save_get_recall_and_by_type(store: Store) -> None:
    with store.begin() as conn:
        mem = MemoryRepository(conn)
        old = mem.save("a", "s1", "fact", "sky is blue", metadata={"src": "obs"}, importance=0.5)
        mid = mem.save("a", "s1", "episodic", "met b", vcs_snapshot_id="snap-1")
        new = mem.save("a", "s2", "fact", "grass is green")
        other = mem.save("b", "s9", "fact", "b's fact")
    days_ago(store, "memories", "created_at", old, 3)
    days_ago(store, "memories", "created_at", mid, 2)
    days_ago(store, "memories", "created_at", other, 1)
    with store.connect() as conn:
        mem = MemoryRepository(conn)
        row = mem.get(old)
        assert (row.agent_id, row.session_id, row.memory_type, row.content) == (
            "a",
            "s1",
            "fact",
            "sky is blue",
        )
        assert row.meta == {"src": "obs"} and row.importance == 0.5 and row.vcs_snapshot_id is None
        assert mem.get(mid).vcs_snapshot_id == "snap-1" and mem.get(mid).importance == 1.0
        assert [m.id for m in mem.recall("a")] == [new, mid, old]
        assert [m.id for m in mem.recall("a", memory_type="fact")] == [new, old]
        assert [m.id for m in mem.recall("a", limit=1)] == [new]
        assert [m.id for m in mem.by_type("fact")] == [new, other, old]
        assert [m.id for m in mem.by_type("fact", limit=2)] == [new, other]
        assert mem.recall("nobody") == [] and mem.by_type("none") == []
        assert (
            mem.count() == 4
            and mem.count(agent_id="a") == 3
            and mem.count(agent_id="a", memory_type="fact") == 2
        )
        assert mem.get_one_or_none(9999) is None
        with pytest.raises(NotFound):
            mem.get(9999)
    assert no_changes(store)


def test_memory_same_second_ties_come_back_newest_id_first(store: Store) -> None:
    with store.begin() as conn:
        mem = MemoryRepository(conn)
        ids = [mem.save("a", "s", "t", f"m{i}") for i in range(4)]
        sql_ts = conn.exec_driver_sql("UPDATE memories SET created_at = '2026-01-01 00:00:00'")
        assert sql_ts.rowcount == 4
        assert [m.id for m in mem.recall("a")] == ids[::-1]


def test_memory_prune_deletes_only_that_agents_old_rows(store: Store) -> None:
    with store.begin() as conn:
        mem = MemoryRepository(conn)
        ten, six, two, fresh = (mem.save("a", "s", "t", f"m{i}") for i in range(4))
        other_old = mem.save("b", "s", "t", "old b")
    for row_id, days in ((ten, 10), (six, 6), (two, 2), (other_old, 30)):
        days_ago(store, "memories", "created_at", row_id, days)
    with store.begin() as conn:
        mem = MemoryRepository(conn)
        assert mem.prune("a", 5) == 2
        assert mem.prune("a", 5) == 0
        assert sorted(m.id for m in mem.recall("a")) == [two, fresh]
        assert [m.id for m in mem.recall("b")] == [other_old]
        assert mem.prune("a", 1) == 1
        assert [m.id for m in mem.recall("a")] == [fresh]
    for bad in (-1, 1.5, True, "3"):
        with store.begin() as conn, pytest.raises(InvalidInput):
            MemoryRepository(conn).prune("a", bad)  # type: ignore[arg-type]


def test_memory_delete_and_validation(store: Store) -> None:
    with store.begin() as conn:
        mem = MemoryRepository(conn)
        mid = mem.save("a", "s", "t", "x")
        mem.delete(mid)
        assert mem.get_one_or_none(mid) is None
        with pytest.raises(NotFound):
            mem.delete(mid)
        with pytest.raises(InvalidInput):
            mem.save("a", "s", "t", "x", importance=float("nan"))
        with pytest.raises(InvalidInput):
            mem.save("a", "s", "t", "x", metadata={1, 2})


def test_writes_refuse_a_read_only_connection(store: Store) -> None:
    with store.connect() as conn:
        with pytest.raises(InvalidInput):
            MemoryRepository(conn).save("a", "s", "t", "x")
        with pytest.raises(InvalidInput):
            A2aRepository(conn).send("a", "b", "ping")
        with pytest.raises(InvalidInput):
            SnapshotRepository(conn).take_snapshot(1, "a", "d")
        with pytest.raises(InvalidInput):
            AgentSessionRepository(conn).create("s", "a")


def test_rollback_leaves_no_rows(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        MemoryRepository(conn).save("a", "s", "t", "x")
        SessionTurnRepository(conn).append("s", {"turn": 1})
        BuilderSessionRepository(conn).upsert("b1", {"p": 1})
        AgentSessionRepository(conn).create("s1", "a")
        AgentEventRepository(conn).record("a", "start")
        A2aRepository(conn).send("a", "b", "ping", {"x": 1})
        CostRepository(conn).record("a", "openai", cost_usd=1.0)
        AgentMetricsRepository(conn).upsert("a", "m", 1.0)
        SnapshotRepository(conn).take_snapshot(1, "a", "d")
        raise Boom
    with store.connect() as conn:
        assert MemoryRepository(conn).count() == 0
        assert SessionTurnRepository(conn).count("s") == 0
        assert BuilderSessionRepository(conn).list() == []
        assert AgentSessionRepository(conn).list() == []
        assert AgentEventRepository(conn).count("a") == 0
        assert A2aRepository(conn).list() == []
        assert CostRepository(conn).list() == []
        assert AgentMetricsRepository(conn).list() == []
        assert SnapshotRepository(conn).list() == []
        assert ChangeLogRepository(conn).head() == 0


# --- session turns and builder sessions -----------------------------------------------------------


def test_session_turns_append_and_list_by_id(store: Store) -> None:
    with store.begin() as conn:
        turns = SessionTurnRepository(conn)
        first = turns.append("s1", {"role": "user", "text": "hi"})
        turns.append("s2", ["other"])
        second = turns.append("s1", "plain text")
        with pytest.raises(InvalidInput):
            turns.append("s1", None)
    with store.connect() as conn:
        turns = SessionTurnRepository(conn)
        rows = turns.list("s1")
        assert [r.id for r in rows] == [first, second]
        assert rows[0].payload == {"role": "user", "text": "hi"} and rows[1].payload == "plain text"
        assert rows[0].session_id == "s1" and rows[0].created_at
        assert [r.id for r in turns.list("s1", limit=1)] == [first]
        assert turns.count("s1") == 2 and turns.count("s2") == 1 and turns.list("none") == []
    assert no_changes(store)


def test_builder_sessions_upsert_get_list_delete(store: Store) -> None:
    with store.begin() as conn:
        builder = BuilderSessionRepository(conn)
        one = builder.upsert("one", {"step": 1})
        builder.upsert("two", {"step": 1})
        builder.upsert("three", {"step": 1})
    days_ago(store, "builder_sessions", "created_at", "one", 3)
    days_ago(store, "builder_sessions", "created_at", "three", 1)
    with store.begin() as conn:
        builder = BuilderSessionRepository(conn)
        assert one.payload == {"step": 1}
        again = builder.upsert("one", {"step": 2})
        assert again.payload == {"step": 2}
        assert again.created_at < one.created_at  # the upsert keeps the (aged) creation time
        assert [r.id for r in builder.list()] == ["two", "three", "one"]
        assert [r.id for r in builder.list(limit=2)] == ["two", "three"]
        assert builder.get("two").payload_json == '{"step":1}'
        builder.delete("two")
        assert builder.get_one_or_none("two") is None
        with pytest.raises(NotFound):
            builder.get("two")
        with pytest.raises(NotFound):
            builder.delete("two")
        with pytest.raises(InvalidInput):
            builder.upsert("x", None)
    assert no_changes(store)


# --- db snapshots ---------------------------------------------------------------------------------


def _seed_agent(conn: sa.Connection, agent: str) -> None:
    conn.execute(
        sa.insert(user_preferences),
        [
            {"user_id": agent, "key": "theme", "value": "dark"},
            {"user_id": agent, "key": "lang", "value": "en"},
        ],
    )
    conn.execute(
        sa.insert(learned_patterns),
        [
            {
                "user_id": agent,
                "pattern_type": "cmd",
                "category": "git",
                "description": "rebases",
                "confidence": 0.9,
            },
            {
                "user_id": agent,
                "pattern_type": "cmd",
                "category": "py",
                "description": "tests",
                "confidence": 0.4,
            },
        ],
    )


def _state(store: Store, agent: str) -> dict[str, Any]:
    with store.connect() as conn:
        prefs = conn.execute(
            sa.select(user_preferences.c.key, user_preferences.c.value)
            .where(user_preferences.c.user_id == agent)
            .order_by(user_preferences.c.key)
        ).all()
        pats = conn.execute(
            sa.select(
                learned_patterns.c.category, learned_patterns.c.description, learned_patterns.c.confidence
            )
            .where(learned_patterns.c.user_id == agent)
            .order_by(learned_patterns.c.category)
        ).all()
        mems = MemoryRepository(conn).recall(agent, limit=100)
        return {
            "prefs": [tuple(p) for p in prefs],
            "patterns": [tuple(p) for p in pats],
            "memories": sorted(
                (m.session_id, m.memory_type, m.content, m.importance, m.created_at) for m in mems
            ),
        }


def test_snapshot_take_and_restore_round_trip(store: Store) -> None:
    with store.begin() as conn:
        _seed_agent(conn, "agent")
        _seed_agent(conn, "bystander")
        mem = MemoryRepository(conn)
        old = mem.save("agent", "s1", "fact", "first", metadata={"k": 1}, importance=0.7)
        mem.save("agent", "s1", "episodic", "second")
        mem.save("bystander", "s", "fact", "not mine")
    days_ago(store, "memories", "created_at", old, 4)
    before = _state(store, "agent")
    bystander = _state(store, "bystander")

    with store.begin() as conn:
        snap = SnapshotRepository(conn).take_snapshot(7, "agent", "before edit")
    assert (snap.id, snap.agent_id, snap.description) == (7, "agent", "before edit")
    payload = snap.payload
    assert payload["preferences"] == [["lang", "en"], ["theme", "dark"]]
    assert [m["content"] for m in payload["memories"]] == ["second", "first"]  # newest first
    assert [p["description"] for p in payload["patterns"]] == ["rebases", "tests"]  # by confidence

    with store.begin() as conn:  # mutate everything the snapshot covers
        MemoryRepository(conn).save("agent", "s2", "fact", "added later")
        MemoryRepository(conn).delete(old)
        conn.execute(
            sa.delete(user_preferences).where(
                user_preferences.c.user_id == "agent", user_preferences.c.key == "theme"
            )
        )
        conn.execute(
            sa.update(learned_patterns).where(learned_patterns.c.user_id == "agent").values(confidence=0.1)
        )
    assert _state(store, "agent") != before

    with store.begin() as conn:
        result = SnapshotRepository(conn).restore_snapshot(7)
    assert result == RestoreResult("agent", preferences=2, memories=2, patterns=2)
    assert _state(store, "agent") == before  # created_at and metadata included
    assert _state(store, "bystander") == bystander
    with store.connect() as conn:
        assert {m.content: m.meta for m in MemoryRepository(conn).recall("agent")} == {
            "first": {"k": 1},
            "second": None,
        }
    assert no_changes(store)


def test_snapshot_replace_get_list_delete(store: Store) -> None:
    with store.begin() as conn:
        snaps = SnapshotRepository(conn)
        snaps.take_snapshot(1, "a", "first")
        snaps.take_snapshot(2, "b", "other agent")
        snaps.take_snapshot(3, "a", "third")
        replaced = snaps.take_snapshot(1, "a", "first, again")
        assert replaced.description == "first, again" and replaced.payload == {
            "preferences": [],
            "memories": [],
            "patterns": [],
        }
    days_ago(store, "db_snapshots", "created_at", 3, 2)
    with store.begin() as conn:
        snaps = SnapshotRepository(conn)
        assert [s.id for s in snaps.list()] == [2, 1, 3]
        assert [s.id for s in snaps.list(agent_id="a")] == [1, 3]
        assert [s.id for s in snaps.list(limit=1)] == [2]
        snaps.delete(2)
        assert snaps.get_one_or_none(2) is None
        with pytest.raises(NotFound):
            snaps.get(2)
        with pytest.raises(NotFound):
            snaps.delete(2)
        with pytest.raises(NotFound):
            snaps.restore_snapshot(2)
        with pytest.raises(InvalidInput):
            snaps.take_snapshot("9", "a", "d")  # type: ignore[arg-type]


def test_snapshot_restore_skips_entries_upstream_could_not_reinsert(store: Store) -> None:
    with store.begin() as conn:
        MemoryRepository(conn).save("a", "s", "t", "will be replaced")
        SnapshotRepository(conn).take_snapshot(1, "a", "hand-made")
    payload = {
        "preferences": [["k1", "v1"], {"key": "k2", "value": "v2"}, ["k3", 3], "junk"],
        "memories": [
            {"session_id": "s", "memory_type": "t", "content": "kept", "importance": 2.0},
            {"session_id": "s", "memory_type": "t", "content": ""},  # empty content: skipped
            {"session_id": "s", "content": "no type"},  # missing field: skipped
            "junk",
        ],
        "patterns": [
            {"pattern_type": "p", "category": "c", "description": "d", "confidence": 0.5},
            {"pattern_type": "p", "category": "c", "description": "d", "confidence": "high"},
        ],
    }
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE db_snapshots SET payload = :p WHERE id = 1"), {"p": json.dumps(payload)})
        result = SnapshotRepository(conn).restore_snapshot(1)
        assert result == RestoreResult("a", preferences=2, memories=1, patterns=1)
    state = _state(store, "a")
    assert state["prefs"] == [("k1", "v1"), ("k2", "v2")]
    assert [(m[2], m[3]) for m in state["memories"]] == [("kept", 2.0)]
    assert state["patterns"] == [("c", "d", 0.5)]
    with store.begin() as conn:
        conn.execute(sa.text("UPDATE db_snapshots SET payload = '[1, 2]' WHERE id = 1"))
        with pytest.raises(InvalidInput):
            SnapshotRepository(conn).restore_snapshot(1)


def test_snapshot_restore_rolls_back_with_the_transaction(store: Store) -> None:
    with store.begin() as conn:
        SnapshotRepository(conn).take_snapshot(1, "a", "empty state")
        _seed_agent(conn, "a")
        MemoryRepository(conn).save("a", "s", "t", "keep me")
    before = _state(store, "a")
    with pytest.raises(Boom), store.begin() as conn:
        assert SnapshotRepository(conn).restore_snapshot(1) == RestoreResult("a", 0, 0, 0)
        raise Boom
    assert _state(store, "a") == before and before["memories"] and before["prefs"]


# --- agent sessions and events --------------------------------------------------------------------


def test_agent_session_create_carries_repository_id(store: Store) -> None:
    with store.begin() as conn:
        sessions = AgentSessionRepository(conn)
        row = sessions.create(
            "s1", "agent-1", agent_name="Ada", task_snapshot={"task": "fix"}, repository_id="r1"
        )
        assert (row.id, row.agent_id, row.agent_name, row.status) == ("s1", "agent-1", "Ada", "active")
        assert row.ended_at is None and row.started_at and row.context_summary is None
        assert row.task_snapshot == {"task": "fix", "repository_id": "r1"} and row.repository_id == "r1"
        own = sessions.create("s2", "agent-1", task_snapshot={"repository_id": "r2"})
        assert own.repository_id == "r2"
        overridden = sessions.create(
            "s3", "agent-2", task_snapshot={"repository_id": "r2"}, repository_id="r9"
        )
        assert overridden.repository_id == "r9"
        bare = sessions.create("s4", "agent-2")
        assert bare.task_snapshot == {"repository_id": ""} and bare.repository_id == ""
        with pytest.raises(InvalidInput):
            sessions.create("s5", "a", task_snapshot=["not", "a", "mapping"])  # type: ignore[arg-type]
    assert no_changes(store)


def test_agent_session_close_replace_and_list_active(store: Store) -> None:
    with store.begin() as conn:
        sessions = AgentSessionRepository(conn)
        sessions.create("old", "a", repository_id="r1")
        sessions.create("mid", "b", repository_id="r2")
        sessions.create("new", "a", repository_id="r1")
    days_ago(store, "agent_sessions", "started_at", "old", 2)
    days_ago(store, "agent_sessions", "started_at", "mid", 1)
    with store.begin() as conn:
        sessions = AgentSessionRepository(conn)
        assert [s.id for s in sessions.list_active()] == ["new", "mid", "old"]
        assert [s.id for s in sessions.list_active(agent_id="a")] == ["new", "old"]
        assert [s.id for s in sessions.list_active(repository_id="r2")] == ["mid"]
        assert [s.id for s in sessions.list_active(limit=1)] == ["new"]
        closed = sessions.close("mid", status="failed")
        assert closed.status == "failed" and closed.ended_at is not None
        assert [s.id for s in sessions.list_active()] == ["new", "old"]
        assert [s.id for s in sessions.list(status="failed")] == ["mid"]
        assert sessions.close("old").status == "completed"
        with pytest.raises(NotFound):
            sessions.close("missing")
        for bad in ("", "active"):
            with pytest.raises(InvalidInput):
                sessions.close("new", status=bad)
        # create() replaces the row: active again, ended_at cleared, new name and snapshot.
        again = sessions.create("mid", "b", agent_name="B2", task_snapshot={"n": 2})
        assert (again.status, again.ended_at, again.agent_name) == ("active", None, "B2")
        assert again.task_snapshot == {"n": 2, "repository_id": ""}
        assert again.started_at > closed.started_at  # the aged start time was replaced
        assert sessions.get_one_or_none("missing") is None
        with pytest.raises(NotFound):
            sessions.get("missing")


def test_agent_events_record_and_list_newest_first(store: Store) -> None:
    with store.begin() as conn:
        events = AgentEventRepository(conn)
        first = events.record("a", "start", {"task": 1})
        second = events.record("a", "tool_call")
        third = events.record("a", "tool_call", [1, 2])
        events.record("b", "start")
    days_ago(store, "agent_events", "timestamp", first, 1)
    with store.connect() as conn:
        events = AgentEventRepository(conn)
        rows = events.list("a")
        assert [r.id for r in rows] == [third, second, first]  # same second: newest id first
        assert rows[0].payload == [1, 2] and rows[1].payload is None and rows[2].payload == {"task": 1}
        assert [r.id for r in events.list("a", event_type="tool_call")] == [third, second]
        assert [r.id for r in events.list("a", limit=1)] == [third]
        assert events.count("a") == 3 and events.count("b") == 1 and events.list("none") == []
    assert no_changes(store)


# --- a2a messages ---------------------------------------------------------------------------------


def test_a2a_poll_is_scoped_by_receiver_and_repository(store: Store) -> None:
    with store.begin() as conn:
        a2a = A2aRepository(conn)
        r1_first = a2a.send("a", "b", "request", {"q": 1}, correlation_id="c1", repository_id="r1")
        r2 = a2a.send("a", "b", "request", {"q": 2}, repository_id="r2")
        unscoped = a2a.send("a", "b", "note", "hello")
        r1_second = a2a.send("c", "b", "request", None, repository_id="r1")
        a2a.send("a", "z", "request", {"q": 3}, repository_id="r1")
    days_ago(store, "a2a_messages", "timestamp", r1_second, 1)  # older, so it comes first
    with store.connect() as conn:
        a2a = A2aRepository(conn)
        inbox = a2a.poll("b", repository_id="r1")
        assert [m.id for m in inbox] == [r1_second, r1_first]
        msg = inbox[1]
        assert (msg.sender, msg.receiver, msg.msg_type, msg.correlation_id) == ("a", "b", "request", "c1")
        assert msg.payload == {"q": 1} and msg.repository_id == "r1" and msg.acknowledged is False
        assert msg.envelope == {"repository_id": "r1", "body": {"q": 1}}
        assert inbox[0].payload is None
        assert [m.id for m in a2a.poll("b", repository_id="r2")] == [r2]
        assert [m.id for m in a2a.poll("b")] == [unscoped]
        assert a2a.get(unscoped).payload == "hello" and a2a.get(unscoped).repository_id == ""
        assert [m.id for m in a2a.poll("b", repository_id="r1", limit=1)] == [r1_second]
        assert a2a.poll("b", repository_id="r3") == [] and a2a.poll("nobody", repository_id="r1") == []
    assert no_changes(store)


def test_a2a_ack_removes_from_inbox(store: Store) -> None:
    with store.begin() as conn:
        a2a = A2aRepository(conn)
        first = a2a.send("a", "b", "m", 1, repository_id="r")
        second = a2a.send("a", "b", "m", 2, repository_id="r")
        a2a.ack(first)
        a2a.ack(first)  # idempotent
        assert [m.id for m in a2a.poll("b", repository_id="r")] == [second]
        assert a2a.get(first).acknowledged is True and a2a.get(second).acknowledged is False
        with pytest.raises(NotFound):
            a2a.ack(9999)
        with pytest.raises(NotFound):
            a2a.get(9999)
        with pytest.raises(InvalidInput):
            a2a.send("a", "b", "m", 1, repository_id=None)  # type: ignore[arg-type]


def test_a2a_rows_without_an_envelope_belong_to_the_empty_repository(store: Store) -> None:
    with store.begin() as conn:
        for payload in ('{"legacy": true}', "not json", None, '{"repository_id": "r1"}'):
            conn.execute(
                sa.text(
                    "INSERT INTO a2a_messages (sender, receiver, msg_type, payload) VALUES ('x', 'b', 'm', :p)"
                ),
                {"p": payload},
            )
    with store.connect() as conn:
        a2a = A2aRepository(conn)
        legacy = a2a.poll("b")
        assert [m.payload for m in legacy] == [{"legacy": True}, "not json", None]
        assert [m.repository_id for m in legacy] == ["", "", ""]
        # An object naming a repository but no body is scoped, and its payload is the whole object.
        [scoped] = a2a.poll("b", repository_id="r1")
        assert scoped.payload == {"repository_id": "r1"}


def test_a2a_list_and_prune(store: Store) -> None:
    with store.begin() as conn:
        a2a = A2aRepository(conn)
        old_acked = a2a.send("a", "b", "m", 1, repository_id="r1")
        old_pending = a2a.send("a", "b", "m", 2, repository_id="r1")
        new_acked = a2a.send("c", "d", "m", 3, repository_id="r2")
        a2a.ack(old_acked)
        a2a.ack(new_acked)
    days_ago(store, "a2a_messages", "timestamp", old_acked, 10)
    days_ago(store, "a2a_messages", "timestamp", old_pending, 10)
    with store.begin() as conn:
        a2a = A2aRepository(conn)
        assert [m.id for m in a2a.list()] == [new_acked, old_pending, old_acked]
        assert [m.id for m in a2a.list(receiver="b")] == [old_pending, old_acked]
        assert [m.id for m in a2a.list(sender="c")] == [new_acked]
        assert [m.id for m in a2a.list(repository_id="r1", limit=1)] == [old_pending]
        assert a2a.prune(7) == 1
        assert [m.id for m in a2a.list()] == [new_acked, old_pending]
    days_ago(store, "a2a_messages", "timestamp", new_acked, 1)
    with store.begin() as conn:
        a2a = A2aRepository(conn)
        assert a2a.prune(0) == 1
        assert [m.id for m in a2a.list()] == [old_pending]
        for bad in (-3, 2.5):
            with pytest.raises(InvalidInput):
                a2a.prune(bad)  # type: ignore[arg-type]


# --- cost records and agent metrics ---------------------------------------------------------------


def test_cost_records_and_totals(store: Store) -> None:
    with store.begin() as conn:
        costs = CostRepository(conn)
        first = costs.record(
            "a", "openai", session_id="s1", model="gpt", input_tokens=100, output_tokens=20, cost_usd=0.25
        )
        costs.record("a", "openai", session_id="s1", input_tokens=50, output_tokens=5, cost_usd=0.5)
        costs.record("a", "anthropic", input_tokens=10, cost_usd=0.125)
        last = costs.record("b", "openai", session_id="s2", output_tokens=7, cost_usd=1.0)
        for bad in (
            {"input_tokens": -1},
            {"output_tokens": 1.5},
            {"cost_usd": -0.1},
            {"cost_usd": float("inf")},
        ):
            with pytest.raises(InvalidInput):
                costs.record("a", "p", **bad)
    days_ago(store, "cost_records", "timestamp", first, 1)
    with store.connect() as conn:
        costs = CostRepository(conn)
        assert costs.agent_total("a") == CostTotals("a", 3, 160, 25, 0.875)
        assert costs.agent_total("nobody") == CostTotals("nobody", 0, 0, 0, 0.0)
        assert costs.session_total("s1") == CostTotals("s1", 2, 150, 25, 0.75)
        assert costs.totals_by_agent() == [CostTotals("a", 3, 160, 25, 0.875), CostTotals("b", 1, 0, 7, 1.0)]
        assert costs.totals_by_session() == [
            CostTotals("s1", 2, 150, 25, 0.75),
            CostTotals("s2", 1, 0, 7, 1.0),
        ]
        assert costs.totals_by_session(agent_id="b") == [CostTotals("s2", 1, 0, 7, 1.0)]
        rows = costs.list()
        assert rows[0].id == last and rows[-1].id == first and len(rows) == 4
        assert (rows[-1].provider, rows[-1].model, rows[-1].input_tokens) == ("openai", "gpt", 100)
        assert [r.id for r in costs.list(agent_id="a", session_id="s1")][-1] == first
        assert len(costs.list(limit=2)) == 2
    assert no_changes(store)


def test_agent_metrics_upsert_get_list_delete(store: Store) -> None:
    with store.begin() as conn:
        metrics = AgentMetricsRepository(conn)
        row = metrics.upsert("a", "latency", 1.5)
        assert (row.agent_id, row.metric_name, row.metric_value, row.period) == (
            "a",
            "latency",
            1.5,
            "session",
        )
        metrics.upsert("a", "latency", 3.0, period="day")
        metrics.upsert("a", "errors", 2)
        metrics.upsert("b", "latency", 9.0)
        assert metrics.upsert("a", "latency", 2.5).metric_value == 2.5  # same key: updated
        assert metrics.get("a", "latency").metric_value == 2.5
        assert metrics.get("a", "latency", period="day").metric_value == 3.0
        keys = [(m.agent_id, m.metric_name, m.period) for m in metrics.list()]
        assert keys == [
            ("a", "errors", "session"),
            ("a", "latency", "day"),
            ("a", "latency", "session"),
            ("b", "latency", "session"),
        ]
        assert [m.metric_name for m in metrics.list(agent_id="a", period="session")] == ["errors", "latency"]
        metrics.delete("a", "latency", period="day")
        with pytest.raises(NotFound):
            metrics.get("a", "latency", period="day")
        with pytest.raises(NotFound):
            metrics.delete("a", "latency", period="day")
        with pytest.raises(InvalidInput):
            metrics.upsert("a", "m", float("nan"))
        with pytest.raises(InvalidInput):
            metrics.upsert("a", "m", 1.0, period="")
    assert no_changes(store)
