"""Pure units of the reactive layer: topic patterns, SSE framing, plan capabilities."""

from __future__ import annotations

import pytest

from codex.errors import InvalidInput
from codex.reactive import ChangeEvent, ChangeHub, Plan, TopicPattern, sse
from codex.reactive.feed import Batch
from codex.repositories import ChangeLogRepository, ChatRepository
from codex.store import Store


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("conversations/42", "conversations/42", True),
        ("conversations/42", "conversations/420", False),
        ("conversations/*", "conversations/42", True),
        ("conversations/*", "conversations/42/messages", True),
        ("conversations/*", "conversations", False),
        ("conversations/+", "conversations/42", True),
        ("conversations/+", "conversations/42/x", False),
        ("conversations/+/messages", "conversations/7/messages", True),
        ("*", "anything/at/all", True),
        ("search/documents", "search/documents", True),
    ],
)
def test_topic_patterns(pattern: str, topic: str, expected: bool) -> None:
    assert TopicPattern.parse(pattern).matches(topic) is expected


@pytest.mark.parametrize("bad", ["", "a//b", "a/*/b", "a*", "a/b c", "+x", "x" * 300, "/a"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        TopicPattern.parse(bad)


def test_sse_event_is_one_whole_frame() -> None:
    assert sse.event({"a": 1}, event_id=7) == b'id: 7\ndata: {"a":1}\n\n'
    assert sse.event("x\ny", event_type="reset") == b"event: reset\ndata: x\ndata: y\n\n"
    assert sse.event("z", event_type="bad\nname", event_id="1\n2") == b"id: 1 2\nevent: bad name\ndata: z\n\n"
    assert sse.comment() == b": keepalive\n\n"
    assert sse.retry(1500) == b"retry: 1500\n\n"


def test_plan_modifiers_validate_and_label() -> None:
    plan = Plan.read(ChatRepository, "list").using("Search").scope(" populi ").sync()
    caps = plan.capabilities
    assert (caps.retrieval_mode, caps.orchestration_scope, caps.requires_sync) == ("fts", "populi", True)
    assert plan.labels() == ("vox:db_retrieval:fts", "vox:orchestration_scope:populi")
    with pytest.raises(InvalidInput, match="using"):
        plan.using("semantic")
    with pytest.raises(InvalidInput):
        plan.scope("  ")
    with pytest.raises(InvalidInput, match="write plans"):
        plan.live("conversations/1")
    with pytest.raises(InvalidInput, match="no public operation"):
        Plan.read(ChatRepository, "_bump")


def test_live_plan_emits_on_its_topic(store: Store) -> None:
    conv = Plan.write(ChatRepository, "create_conversation", title="x").live("dashboards/main").run(store)
    with store.connect() as conn:
        topics = [r.topic for r in ChangeLogRepository(conn).since(0)]
    assert topics == [f"conversations/{conv.id}", "dashboards/main"]
    rows = Plan.read(ChatRepository, "list").sync().run(store)  # sync is a no-op off replicas
    assert [r.id for r in rows] == [conv.id]


def test_live_plan_does_not_duplicate_an_emitted_topic(store: Store) -> None:
    conv = Plan.write(ChatRepository, "create_conversation").run(store)
    Plan.write(ChatRepository, "touch", conv.id).live(f"conversations/{conv.id}").run(store)
    with store.connect() as conn:
        assert ChangeLogRepository(conn).count(topic=f"conversations/{conv.id}") == 2


class _Recorder:
    def __init__(self, tenant: str, *patterns: str) -> None:
        self.tenant = tenant
        self.patterns = tuple(TopicPattern.parse(p) for p in patterns)
        self.batches: list[Batch] = []

    def offer(self, batch: Batch) -> None:
        self.batches.append(batch)


def _event(change_id: int, topic: str, tenant: str) -> ChangeEvent:
    return ChangeEvent(change_id, topic, None, None, "insert", "{}", "2026-01-01 00:00:00", tenant)


def test_fan_out_encodes_once_per_group_and_never_crosses_tenants() -> None:
    hub = ChangeHub(lambda *a, **k: [], lambda: 0)
    same = [_Recorder("a", "notes/*") for _ in range(3)]
    narrow = _Recorder("a", "notes/1")
    other_tenant = _Recorder("b", "notes/*")
    for member in (*same, narrow, other_tenant):
        hub.join(member)
    assert hub.subscriber_count == 5
    hub.fan_out([_event(1, "notes/1", "a"), _event(2, "notes/2", "a"), _event(3, "notes/1", "b")])
    batches = {id(m.batches[0]) for m in same}
    assert len(batches) == 1  # one Batch object, so one encoding, for the whole group
    assert [e.id for e in same[0].batches[0].events] == [1, 2]
    assert same[0].batches[0].chunk is same[1].batches[0].chunk
    assert [e.id for e in narrow.batches[0].events] == [1]
    assert [[e.id for e in b.events] for b in other_tenant.batches] == [[3]]  # only its own
    assert hub.delivered_batches == 3 and hub.last_id == 3
    hub.leave(narrow)
    hub.leave(narrow)  # idempotent
    assert hub.subscriber_count == 4


def test_batch_chunk_is_the_sse_frames_as_one_http_chunk() -> None:
    batch = Batch([_event(7, "x/1", "a"), _event(8, "x/2", "a")])
    frames = batch.sse
    assert frames.count(b"\n\n") == 2 and frames.startswith(b"id: 7\n")
    assert batch.chunk == b"%x\r\n" % len(frames) + frames + b"\r\n"
    assert [e.id for e in batch.after(7)] == [8]


class _Transported(_Recorder):
    def __init__(self, transport: str, tenant: str, *patterns: str) -> None:
        super().__init__(tenant, *patterns)
        self.transport = transport


def test_fan_out_counts_deliveries_per_transport_once_per_tick() -> None:
    told: list[tuple[dict[str, int], float]] = []
    hub = ChangeHub(lambda *a, **k: [], lambda: 0, on_deliver=lambda c, s: told.append((dict(c), s)))
    members = [
        _Transported("sse", "a", "notes/*"),
        _Transported("sse", "a", "notes/*"),
        _Transported("websocket", "a", "notes/*"),
        _Transported("live", "a", "notes/1"),
        _Transported("sse", "b", "notes/*"),
        _Recorder("a", "notes/*"),  # no transport
    ]
    for member in members:
        hub.join(member)
    assert hub.transports() == {"sse": 3, "websocket": 1, "live": 1, "other": 1}
    hub.fan_out([_event(1, "notes/1", "a"), _event(2, "notes/2", "a")], seen=0.0)
    assert len(told) == 1  # one report per tick, whatever the number of members
    counts, latency = told[0]
    assert counts == {"sse": 4, "websocket": 2, "live": 1, "other": 2}  # rows x members, tenant a only
    assert latency > 0
    hub.leave(members[0])
    hub.leave(members[0])  # idempotent: the tally drops once
    assert hub.transports() == {"sse": 2, "websocket": 1, "live": 1, "other": 1}
    hub.fan_out([_event(3, "elsewhere/1", "a")])
    assert len(told) == 1  # nothing handed over: nothing reported
