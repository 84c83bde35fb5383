"""The HTTP service through a real server: health, readiness, named mutations and queries, bad input."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import sqlalchemy as sa

from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.usage import UsageRepository
from tests.api.conftest import Server


def test_health_needs_no_token(server: Server) -> None:
    with server.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}


def test_ready_when_at_head(server: Server) -> None:
    with server.client(None) as c:
        r = c.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["live_digest"] == body["expected_digest"]
    assert body["schema_version"] == body["expected_schema_version"]
    assert body["baseline_digest"].startswith("0x") and body["capabilities"]["codex_api_surface"] is True


def test_ready_turns_503_when_a_column_is_added_by_hand(server: Server) -> None:
    with server.store.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE conversations ADD COLUMN mood TEXT")
    with server.client(None) as c:
        r = c.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready" and body["diff"]["changed"] == ["table:conversations"]
    assert any("differs" in p for p in body["problems"])


def test_ready_names_missing_tables(server: Server) -> None:
    with server.store.engine.connect() as conn:
        conn.info["codex_foreign_keys_off"] = True
        with conn.begin():
            conn.exec_driver_sql("DROP TABLE search_indexing_jobs")
        conn.info.pop("codex_foreign_keys_off")
    with server.client(None) as c:
        r = c.get("/ready")
    assert r.status_code == 503 and "search_indexing_jobs" in r.json()["missing_tables"]


def test_generic_change_mutation_appends_to_the_topic(server: Server) -> None:
    with server.client() as c:
        r = c.post(
            "/api/codex/mutate/change",
            json={"topic": "notes/7", "change_kind": "insert", "payload": {"x": 1}},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    change_id = body["result"]["change_log_id"]
    with server.store.connect() as conn:
        rows = ChangeLogRepository.unscoped(conn).since(0, topic="notes/7")
    assert [row.id for row in rows] == [change_id] and rows[0].payload == {"x": 1}


def _recorded(c: httpx.Client, name: str, digest: str) -> dict[str, Any]:
    """The latest snapshot once it carries ``digest``: queries never write, a background recorder does."""
    deadline = time.monotonic() + 10
    while True:
        latest = c.get(f"/api/codex/query/{name}/latest")
        if latest.status_code == 200 and latest.json()["digest"] == digest:
            return dict(latest.json())
        assert time.monotonic() < deadline, latest.text
        time.sleep(0.05)


def test_chat_mutations_and_queries(server: Server) -> None:
    with server.client() as c:
        conv = c.post("/api/codex/mutate/chat.create_conversation", json={"title": "hello"}).json()["result"]
        msg = c.post(
            "/api/codex/mutate/chat.append_message",
            json={"conversation_id": conv["id"], "role": "user", "text": "hi"},
        )
        assert msg.status_code == 200, msg.text
        q = c.get("/api/codex/query/chat.messages", params={"conversation_id": conv["id"]})
        assert q.status_code == 200, q.text
        first = q.json()
        assert [m["content_text"] for m in first["result"]] == ["hi"]
        assert first["version"] == 1 and first["digest"].startswith("0x") and first["cursor"] >= 1
        again = c.get("/api/codex/query/chat.messages", params={"conversation_id": conv["id"]}).json()
        assert again["version"] == 1 and again["digest"] == first["digest"]  # unchanged: no bump
        _recorded(c, "chat.messages", first["digest"])
        c.post(
            "/api/codex/mutate/chat.append_message",
            json={"conversation_id": conv["id"], "role": "assistant", "text": "hello"},
        )
        third = c.get("/api/codex/query/chat.messages", params={"conversation_id": conv["id"]}).json()
        assert third["version"] == 2 and third["cursor"] > first["cursor"]
        assert len(_recorded(c, "chat.messages", third["digest"])["snapshot_json"]) == 2


def test_unknown_names_are_404(server: Server) -> None:
    with server.client() as c:
        assert c.post("/api/codex/mutate/nope", json={}).status_code == 404
        r = c.get("/api/codex/query/nope")
        assert r.status_code == 404 and "unknown query" in r.json()["message"]
        assert c.get("/api/codex/query/chat.messages/latest").status_code == 404


def test_bad_input_is_4xx_json_and_writes_nothing(server: Server) -> None:
    with server.client() as c:
        bad_json = c.post(
            "/api/codex/mutate/change", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert bad_json.status_code == 400 and bad_json.json()["error"] == "MalformedJSON"
        missing = c.post("/api/codex/mutate/change", json={"topic": "a"})
        assert missing.status_code == 422 and any("change_kind" in f["loc"] for f in missing.json()["fields"])
        wrong_type = c.post(
            "/api/codex/mutate/chat.append_message", json={"conversation_id": "x", "role": "user", "text": ""}
        )
        assert wrong_type.status_code == 422
        bad_topic = c.post("/api/codex/mutate/change", json={"topic": "a b", "change_kind": "insert"})
        assert bad_topic.status_code == 422 and bad_topic.json()["error"] == "InvalidInput"
        extra = c.post("/api/codex/mutate/change", json={"topic": "a", "change_kind": "x", "surprise": 1})
        assert extra.status_code == 422
        bad_param = c.get("/api/codex/query/chat.messages", params={"conversation_id": "abc"})
        assert bad_param.status_code == 422
        huge = c.post(
            "/api/codex/mutate/change",
            content=json.dumps({"topic": "a", "change_kind": "x", "payload": "x" * 2_000_000}),
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413 and huge.json()["error"] == "PayloadTooLarge"
        unknown_conv = c.post(
            "/api/codex/mutate/chat.append_message",
            json={"conversation_id": 999, "role": "user", "text": "x"},
        )
        assert unknown_conv.status_code == 404
    with server.store.connect() as conn:
        assert ChangeLogRepository.unscoped(conn).since(0, topic="a") == []


def test_hard_usage_limit_on_mutate_is_429_and_writes_nothing(server: Server) -> None:
    with server.store.begin() as conn:
        UsageRepository(conn).set_limit("api.mutations", "tenant", "tenant-a", "daily", 2, "hard")
    with server.client() as c:
        codes = [
            c.post("/api/codex/mutate/change", json={"topic": "q/1", "change_kind": "insert"}).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 429, 429]
        other = c.post(
            "/api/codex/mutate/change",
            json={"topic": "q/1", "change_kind": "insert"},
            headers={"Authorization": f"Bearer {server.tokens['b_all']}"},
        )
        assert other.status_code == 200  # the limit is tenant-a's
    with server.store.connect() as conn:
        assert ChangeLogRepository.unscoped(conn).count(topic="q/1") == 3
        used = conn.execute(
            sa.text("SELECT amount FROM usage_counter_snapshots WHERE scope_id='tenant-a'")
        ).scalar()
        assert used == 2


def test_changes_since_pages_by_pattern(server: Server) -> None:
    """``changes.since``: exact, ``+`` and ``*`` patterns, paged by ``limit`` and the cursor."""
    topics = ["notes/1", "notes/2", "notes/1/tags", "other/1", "notes/3", "notesx/1"] * 3
    with server.store.begin(tenant="tenant-b") as conn:  # another tenant's rows are never seen
        ChangeLogRepository(conn).append("notes/1", "insert")
    with server.store.begin(tenant="tenant-a") as conn:
        log = ChangeLogRepository(conn)
        ids = [log.append(t, "insert", payload={"n": i}) for i, t in enumerate(topics)]

    def since(topic: str, after: int, limit: int) -> list[tuple[int, str]]:
        with server.client() as c:
            r = c.get(
                "/api/codex/query/changes.since", params={"topic": topic, "after_id": after, "limit": limit}
            )
        assert r.status_code == 200, r.text
        return [(row["id"], row["topic"]) for row in r.json()["result"]]

    def expect(match: Any, after: int, limit: int) -> list[tuple[int, str]]:
        return [(i, t) for i, t in zip(ids, topics, strict=True) if i > after and match(t)][:limit]

    cases = {
        "*": lambda t: True,
        "notes/1": lambda t: t == "notes/1",
        "notes/*": lambda t: t.startswith("notes/"),
        "notes/+": lambda t: t.startswith("notes/") and t.count("/") == 1,
        "+/1": lambda t: t.count("/") == 1 and t.endswith("/1"),
    }
    for pattern, match in cases.items():
        for after, limit in ((0, 1000), (0, 2), (ids[4], 3), (ids[-1], 5)):
            assert since(pattern, after, limit) == expect(match, after, limit), (pattern, after, limit)
    # paging with the last id as the cursor walks the whole stream once
    seen: list[tuple[int, str]] = []
    cursor = 0
    while page := since("notes/*", cursor, 2):
        seen += page
        cursor = page[-1][0]
    assert seen == expect(lambda t: t.startswith("notes/"), 0, 1000)
