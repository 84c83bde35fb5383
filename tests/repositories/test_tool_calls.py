"""ToolCallRepository: ordinals (explicit, allocated, and allocated by racing processes), status
transitions, the change log and rollback."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from codex.config import DbConfig
from codex.errors import Conflict, DatabaseUnavailable, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.tool_calls import TOOL_CALL_STATUSES, ToolCallRepository
from codex.repositories.user_chat import ChatRepository
from codex.store import Store, open_store


class Boom(Exception):
    pass


def _message(store: Store) -> tuple[int, int]:
    """A conversation with one assistant message: (conversation_id, message_id)."""
    with store.begin() as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title="tools")
        msg = chat.append_message(conv.id, "assistant", "calling tools")
    return conv.id, msg.id


def test_add_allocates_ordinals_and_logs(store: Store) -> None:
    conv_id, msg_id = _message(store)
    before = time.time_ns() // 1_000_000
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        first = calls.add(msg_id, "search", {"q": "libsql"})
        second = calls.add(msg_id, "fetch")
        explicit = calls.add(msg_id, "open", ordinal=10, status="running")
        after_gap = calls.add(msg_id, "close")
    assert [first.ordinal, second.ordinal, explicit.ordinal, after_gap.ordinal] == [0, 1, 10, 11]
    assert first.arguments == {"q": "libsql"} and second.arguments == {} and second.arguments_json == "{}"
    assert (first.status, explicit.status) == ("pending", "running")
    assert first.started_at_ms >= before and first.finished_at_ms == 0 and not first.finished
    assert first.result is None and first.error_text is None
    with store.connect() as conn:
        calls = ToolCallRepository(conn)
        assert calls.list(msg_id) == [first, second, explicit, after_gap]
        assert calls.list(msg_id, status="running") == [explicit]
        assert calls.get(second.id) == second and calls.count(msg_id) == 4
        assert calls.get_one_or_none(after_gap.id + 1) is None
        changes = [c for c in ChangeLogRepository(conn).since(0) if c.entity_kind == "tool_call"]
    assert {c.topic for c in changes} == {f"conversations/{conv_id}"}
    assert [(c.change_kind, c.entity_id) for c in changes] == [
        ("insert", str(first.id)),
        ("insert", str(second.id)),
        ("insert", str(explicit.id)),
        ("insert", str(after_gap.id)),
    ]
    assert changes[0].payload == {
        "message_id": msg_id,
        "ordinal": 0,
        "tool_name": "search",
        "status": "pending",
    }


def test_ordinals_are_per_message(store: Store) -> None:
    _, msg_a = _message(store)
    _, msg_b = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        assert [calls.add(msg_a, "t").ordinal for _ in range(3)] == [0, 1, 2]
        assert calls.add(msg_b, "t").ordinal == 0


def test_duplicate_explicit_ordinal_is_a_conflict(store: Store) -> None:
    _, msg_id = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        calls.add(msg_id, "a", ordinal=3)
        with pytest.raises(Conflict) as info:
            calls.add(msg_id, "b", ordinal=3)
        assert info.value.details["constraint"] == "unique"
        assert info.value.details["table"] == "conversation_tool_calls"
        assert [c.tool_name for c in calls.list(msg_id)] == ["a"]


def test_add_validates_input(store: Store) -> None:
    _, msg_id = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        with pytest.raises(NotFound):
            calls.add(msg_id + 100, "t")
        with pytest.raises(InvalidInput):
            calls.add(msg_id, "")
        with pytest.raises(InvalidInput):
            calls.add(msg_id, "t", ordinal=-1)
        for status in ("succeeded", "bogus"):
            with pytest.raises(InvalidInput):
                calls.add(msg_id, "t", status=status)
        with pytest.raises(InvalidInput):
            calls.add(msg_id, "t", {"not": {1, 2}})
        assert calls.count(msg_id) == 0
        with pytest.raises(InvalidInput):
            calls.list(msg_id, status="bogus")


def test_start_and_finish_transitions(store: Store) -> None:
    conv_id, msg_id = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        a = calls.add(msg_id, "a")
        b = calls.add(msg_id, "b")
        c = calls.add(msg_id, "c")
        running = calls.start(a.id)
        done = calls.finish(a.id, "succeeded", result={"hits": 3})
        failed = calls.finish(b.id, "failed", error="timeout")
        cancelled = calls.finish(c.id, "cancelled")
    assert running.status == "running" and running.started_at_ms >= a.started_at_ms
    assert (done.status, done.result, done.error_text, done.finished) == (
        "succeeded",
        {"hits": 3},
        None,
        True,
    )
    assert done.finished_at_ms >= done.started_at_ms > 0
    assert (failed.status, failed.error_text, failed.result_json) == ("failed", "timeout", None)
    assert cancelled.status == "cancelled" and cancelled.finished_at_ms > 0
    with store.connect() as conn:
        assert ToolCallRepository(conn).get(a.id) == done
        updates = [c for c in ChangeLogRepository(conn).since(0) if c.change_kind == "update"]
    assert [(u.topic, u.entity_kind, u.entity_id, u.payload["status"]) for u in updates] == [
        (f"conversations/{conv_id}", "tool_call", str(a.id), "running"),
        (f"conversations/{conv_id}", "tool_call", str(a.id), "succeeded"),
        (f"conversations/{conv_id}", "tool_call", str(b.id), "failed"),
        (f"conversations/{conv_id}", "tool_call", str(c.id), "cancelled"),
    ]


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
def test_a_finished_call_is_final(store: Store, final: str) -> None:
    _, msg_id = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        call = calls.add(msg_id, "t")
        finished = calls.finish(call.id, final, result=1)
        for again in ("succeeded", "failed", "cancelled"):
            with pytest.raises(Conflict) as info:
                calls.finish(call.id, again, result=2)
            assert info.value.details == {
                "table": "conversation_tool_calls",
                "constraint": "status_transition",
                "current": final,
                "requested": again,
            }
        with pytest.raises(Conflict):
            calls.start(call.id)
        assert calls.get(call.id) == finished


def test_finish_and_start_errors(store: Store) -> None:
    _, msg_id = _message(store)
    with store.begin() as conn:
        calls = ToolCallRepository(conn)
        call = calls.add(msg_id, "t", status="running")
        for status in ("bogus", "pending", "running"):
            with pytest.raises(InvalidInput):
                calls.finish(call.id, status)
        with pytest.raises(Conflict):
            calls.start(call.id)  # already running
        with pytest.raises(NotFound):
            calls.finish(call.id + 100, "succeeded")
        with pytest.raises(NotFound):
            calls.start(call.id + 100)
        with pytest.raises(NotFound):
            calls.get(call.id + 100)
        assert calls.get(call.id).status == "running"
    assert set(TOOL_CALL_STATUSES) == {"pending", "running", "succeeded", "failed", "cancelled"}


def test_calls_cascade_with_their_message(store: Store) -> None:
    conv_id, msg_id = _message(store)
    with store.begin() as conn:
        ToolCallRepository(conn).add(msg_id, "t")
        ChatRepository(conn).delete_conversation(conv_id)
        assert ToolCallRepository(conn).list(msg_id) == []


def test_rollback_leaves_neither_call_nor_change(store: Store) -> None:
    _, msg_id = _message(store)
    with store.connect() as conn:
        head = ChangeLogRepository(conn).head()
    with pytest.raises(Boom), store.begin() as conn:
        calls = ToolCallRepository(conn)
        call = calls.add(msg_id, "t")
        calls.finish(call.id, "succeeded")
        raise Boom
    with store.connect() as conn:
        assert ToolCallRepository(conn).count(msg_id) == 0
        assert ChangeLogRepository(conn).head() == head


# -- several processes allocating ordinals on the same message ------------------------------------


def _add_calls(config: DbConfig, message_id: int, count: int) -> list[int]:
    """Child process: its own Store; one write transaction per call; retries only a busy database."""
    store = open_store(config, migrate="none")
    ordinals: list[int] = []
    try:
        for i in range(count):
            for attempt in range(50):
                try:
                    with store.begin() as conn:
                        ordinals.append(ToolCallRepository(conn).add(message_id, f"tool{i}").ordinal)
                    break
                except DatabaseUnavailable:  # lock wait ran out (sqld); the transaction rolled back
                    if attempt == 49:
                        raise
                    time.sleep(0.01 * (attempt + 1))
    finally:
        store.dispose()
    return ordinals


def test_concurrent_processes_get_distinct_ordinals(store: Store, backend: str) -> None:
    processes, per_process = (4, 50) if backend == "local" else (4, 25)
    _, msg_id = _message(store)
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        pending = [
            pool.apply_async(_add_calls, (store.config, msg_id, per_process)) for _ in range(processes)
        ]
        results = [p.get(timeout=60) for p in pending]
    total = processes * per_process
    returned = sorted(o for chunk in results for o in chunk)
    assert returned == list(range(total))
    with store.connect() as conn:
        stored = [c.ordinal for c in ToolCallRepository(conn).list(msg_id)]
    assert stored == list(range(total))
    assert len(stored) - len(set(stored)) == 0


# -- tenancy ----------------------------------------------------------------------------------------


def _tenant_message(store: Store, tenant: str) -> tuple[int, int]:
    """A conversation of ``tenant`` with one message: (conversation_id, message_id)."""
    with store.begin(tenant=tenant) as conn:
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title=tenant)
        return conv.id, chat.append_message(conv.id, "assistant", tenant).id


def test_a_tenant_cannot_see_or_change_another_tenants_calls(store: Store) -> None:
    _, msg_a = _tenant_message(store, "a")
    _, msg_b = _tenant_message(store, "b")
    with store.begin(tenant="a") as conn:
        call = ToolCallRepository(conn).add(msg_a, "search", {"q": "secret"})
    with store.begin(tenant="b") as conn:
        calls = ToolCallRepository(conn)
        assert calls.get_one_or_none(call.id) is None
        with pytest.raises(NotFound, match=f"tool call {call.id} not found"):
            calls.get(call.id)
        with pytest.raises(NotFound, match=f"message {msg_a} not found"):
            calls.add(msg_a, "intrusion")
        with pytest.raises(NotFound, match=f"message {msg_a} not found"):
            calls.add(msg_a, "intrusion", ordinal=7)
        with pytest.raises(NotFound, match=f"tool call {call.id} not found"):
            calls.start(call.id)
        with pytest.raises(NotFound, match=f"tool call {call.id} not found"):
            calls.finish(call.id, "cancelled")
        assert calls.list(msg_a) == [] and calls.count(msg_a) == 0
        own = calls.add(msg_b, "fetch")
        assert own.ordinal == 0 and calls.list(msg_b) == [own]
        assert [c.entity_id for c in ChangeLogRepository(conn).since(0) if c.entity_kind == "tool_call"] == [
            str(own.id)
        ]
    with store.connect(tenant="a") as conn:
        calls = ToolCallRepository(conn)
        assert calls.get(call.id) == call and calls.list(msg_a) == [call]
        assert calls.get_one_or_none(own.id) is None
    with store.connect() as conn:
        assert ToolCallRepository(conn).count(msg_a) == 0  # library use: the tenant ``default``
        assert ToolCallRepository.unscoped(conn).count(msg_a) == 1
        rows = conn.exec_driver_sql("SELECT id, tenant_id FROM conversation_tool_calls ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(call.id, "a"), (own.id, "b")]


def test_the_operator_form_writes_calls_with_the_messages_tenant(store: Store) -> None:
    _, msg_a = _tenant_message(store, "a")
    with store.begin() as conn:
        operator = ToolCallRepository.unscoped(conn)
        call = operator.add(msg_a, "t")
        done = operator.finish(call.id, "succeeded")
        with pytest.raises(NotFound):
            ToolCallRepository(conn).get(call.id)  # the tenant ``default`` does not see it
    with store.connect(tenant="a") as conn:
        assert ToolCallRepository(conn).list(msg_a) == [done]
