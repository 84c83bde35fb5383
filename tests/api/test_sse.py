"""Live delivery over SSE and WebSocket through a real server: resume, snapshot, reset, restarts."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from codex.config import DbConfig
from codex.repositories.changelog import ChangeLogRepository
from tests.api.conftest import Server, start_server
from tests.api.sse_client import events
from tests.sqld import SqldServer


def append_many(server: Server, topic: str, count: int, batch: int = 500) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, batch):
        with server.store.begin() as conn:
            log = ChangeLogRepository(conn)
            ids.extend(
                log.append(topic, "insert", "load", i, {"i": i})
                for i in range(start, min(count, start + batch))
            )
    return ids


def test_live_event_arrives_with_its_cursor(server: Server) -> None:
    with server.client() as c, c.stream("GET", "/api/codex/subscribe/notes/*") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        posted = c.post(
            "/api/codex/mutate/change", json={"topic": "notes/1", "change_kind": "insert", "payload": 7}
        )
        change_id = posted.json()["result"]["change_log_id"]
        first = next(events(r))
    assert first.id == str(change_id) and first.data["topic"] == "notes/1" and first.data["payload"] == 7


def test_resume_with_last_event_id_wins_over_after_id(server: Server) -> None:
    ids = append_many(server, "feed/a", 30)
    got: list[int] = []
    with server.client("default_all") as c:
        with c.stream("GET", "/api/codex/subscribe/feed/a", params={"after_id": 0}) as r:
            for ev in events(r):
                got.append(int(ev.id or 0))
                if len(got) == 10:
                    break
        headers = {"Last-Event-ID": str(got[-1])}
        with c.stream("GET", "/api/codex/subscribe/feed/a", params={"after_id": 0}, headers=headers) as r:
            for ev in events(r):
                got.append(int(ev.id or 0))
                if len(got) == 30:
                    break
    assert got == ids


def test_query_snapshot_then_only_later_changes(server: Server) -> None:
    with server.client() as c:
        c.post(
            "/api/codex/mutate/change",
            json={"topic": "notes/1", "change_kind": "insert", "payload": "before"},
        )
        with c.stream(
            "GET", "/api/codex/subscribe/notes/*", params={"query": "changes.since", "topic": "notes/*"}
        ) as r:
            stream = events(r)
            snap = next(stream)
            assert snap.event == "snapshot"
            assert [e["payload"] for e in snap.data["result"]] == ["before"]
            cursor = snap.data["cursor"]
            assert snap.id == str(cursor)
            c.post(
                "/api/codex/mutate/change",
                json={"topic": "notes/2", "change_kind": "insert", "payload": "after"},
            )
            nxt = next(stream)
        assert nxt.data["payload"] == "after" and int(nxt.id or 0) > cursor


def test_bad_stream_requests_are_4xx(server: Server) -> None:
    with server.client() as c:
        assert c.get("/api/codex/subscribe/a/*/b").status_code == 422
        assert c.get("/api/codex/subscribe/notes", params={"query": "nope"}).status_code == 404
        assert c.get("/api/codex/subscribe/notes", headers={"Last-Event-ID": "x"}).status_code == 400
        assert c.get("/api/codex/subscribe/notes", params={"after_id": -1}).status_code == 422


def test_hundred_disconnect_resume_cycles_lose_and_repeat_nothing(server: Server, backend: str) -> None:
    total, cycles = (10_000, 100) if backend == "local" else (2_000, 20)
    per_cycle = total // cycles
    writer_ids: list[int] = []
    writer = threading.Thread(
        target=lambda: writer_ids.extend(append_many(server, "load/x", total, batch=200))
    )
    writer.start()
    got: list[int] = []
    cursor = 0
    with server.client("default_all") as c:
        for _ in range(cycles):
            with c.stream("GET", "/api/codex/subscribe/load/x", headers={"Last-Event-ID": str(cursor)}) as r:
                for ev in events(r):
                    got.append(int(ev.id or 0))
                    if len(got) % per_cycle == 0:
                        break
            cursor = got[-1]
    writer.join(timeout=120)
    print(f"SSE resume: {cycles} cycles over {len(got)} events; gaps/duplicates checked")
    assert len(got) == total
    assert got == writer_ids  # same ids, same order: 0 gaps, 0 duplicates


def test_slow_client_gets_reset_and_resumes_without_loss(db_config: DbConfig, tmp_path: Path) -> None:
    srv = start_server(db_config, tmp_path, {"VOX_CODEX_CLIENT_BUFFER": "5"})
    try:
        with srv.client("default_all") as c, c.stream("GET", "/api/codex/subscribe/slow/*") as r:
            stream = events(r)
            ids = append_many(srv, "slow/x", 20)
            assert int(next(stream).id or 0) == ids[0]
            big = "x" * 2000
            more: list[int] = []
            for _batch in range(10):  # ~6 MB of events while the client is not reading
                with srv.store.begin() as conn:
                    log = ChangeLogRepository(conn)
                    more.extend(log.append("slow/x", "insert", payload=big) for _ in range(300))
            time.sleep(1.0)
            seen, resets = [ids[0]], 0
            for ev in stream:
                if ev.event == "reset":
                    resets += 1
                    continue
                seen.append(int(ev.id or 0))
                if seen[-1] == more[-1]:
                    break
        print(f"slow client: {resets} reset event(s), {len(seen)} events, 0 lost")
        assert resets >= 1
        assert seen == ids + more
    finally:
        srv.stop()
        srv.store.dispose()


@pytest.mark.parametrize("backend", ["sqld"], indirect=True)  # a restart is a server's
def test_stream_survives_sqld_restart(sqld_server: SqldServer, db_config: DbConfig, tmp_path: Path) -> None:
    srv = start_server(db_config, tmp_path)
    try:
        with srv.client("default_all") as c, c.stream("GET", "/api/codex/subscribe/restart/*") as r:
            stream = events(r)
            before = append_many(srv, "restart/a", 3)
            got = [int(next(stream).id or 0) for _ in range(3)]
            sqld_server.restart()
            srv.store.dispose()  # the test's own pooled connections were to the old process
            after = append_many(srv, "restart/b", 3)
            got += [int(next(stream).id or 0) for _ in range(3)]
        assert got == before + after
    finally:
        srv.stop()
        srv.store.dispose()


def test_websocket_subscribe_unsubscribe(server: Server) -> None:
    url = server.url.replace("http://", "ws://") + "/api/codex/ws"
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {server.tokens['a_all']}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"type": "subscribe", "id": "n", "topic": "notes/*"}))
        ws.send(json.dumps({"type": "subscribe", "id": "m", "topic": "misc/+"}))
        acks = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        assert {a["type"] for a in acks} == {"subscribed"}
        with server.client() as c:
            c.post("/api/codex/mutate/change", json={"topic": "notes/1", "change_kind": "insert"})
            c.post("/api/codex/mutate/change", json={"topic": "misc/2", "change_kind": "insert"})
            c.post("/api/codex/mutate/change", json={"topic": "other/3", "change_kind": "insert"})
        got = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        assert sorted((g["subscription"], g["change"]["topic"]) for g in got) == [
            ("m", "misc/2"),
            ("n", "notes/1"),
        ]
        ws.send(json.dumps({"type": "unsubscribe", "id": "n"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "unsubscribed", "id": "n"}
        ws.send(json.dumps({"type": "bogus"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "error"


def test_websocket_auth_by_first_message_and_refusals(server: Server) -> None:
    url = server.url.replace("http://", "ws://") + "/api/codex/ws"
    with ws_connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": server.tokens["a_all"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    with ws_connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": server.tokens["revoked"]}))
        assert json.loads(ws.recv(timeout=10))["status"] == 401
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {server.tokens['a_read']}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["status"] == 403


def test_graph_routes_and_tenancy(server: Server) -> None:
    with server.client() as a, server.client("b_all") as b:
        c1 = a.post("/api/codex/mutate/chat.create_conversation", json={}).json()["result"]["id"]
        c2 = a.post("/api/codex/mutate/chat.create_conversation", json={}).json()["result"]["id"]
        rs = a.post("/api/codex/research-session", json={"session_key": "k1", "title": "T"})
        assert rs.status_code == 200 and rs.json() == {
            "id": rs.json()["id"],
            "session_key": "k1",
            "repository_id": "tenant-a",
        }
        assert (
            a.post(
                "/api/codex/research-session", json={"session_key": "k2", "repository_id": "other"}
            ).status_code
            == 403
        )
        # session keys are unique per tenant: b's k1 is b's own session, a's stays invisible to b
        rs_b = b.post("/api/codex/research-session", json={"session_key": "k1"})
        assert rs_b.status_code == 200 and rs_b.json()["id"] != rs.json()["id"]
        assert rs_b.json()["repository_id"] == "tenant-b"
        v = a.post(f"/api/codex/conversations/{c1}/versions", json={"label": "v0"})
        assert v.status_code == 200 and v.json()["version_index"] == 0
        dup = a.post(f"/api/codex/conversations/{c1}/versions", json={"version_index": 0})
        assert dup.status_code == 409
        assert b.post(f"/api/codex/conversations/{c1}/versions", json={}).status_code == 404
        e = a.post(
            "/api/codex/conversation-edges", json={"from_conversation_id": c1, "to_conversation_id": c2}
        )
        assert e.status_code == 200 and e.json()["id"] >= 1
        loop = a.post(
            "/api/codex/conversation-edges", json={"from_conversation_id": c1, "to_conversation_id": c1}
        )
        assert loop.status_code == 409 and loop.json()["constraint"] == "check"
        topic = a.post("/api/codex/mutate/topics.ensure", json={"slug": "rust", "label": "Rust"}).json()[
            "result"
        ]
        ev = a.post(
            f"/api/codex/topics/{topic['id']}/evolution-events",
            json={"event_kind": "renamed", "new_label": "Rust!"},
        )
        assert ev.status_code == 200 and ev.json()["topic_id"] == topic["id"]
        assert (
            b.post(f"/api/codex/topics/{topic['id']}/evolution-events", json={"event_kind": "x"}).status_code
            == 404
        )
        # slugs are unique per tenant: b's "rust" is b's own topic, not a 404 oracle on a's
        b_topic = b.post("/api/codex/mutate/topics.ensure", json={"slug": "rust"})
        assert b_topic.status_code == 200 and b_topic.json()["result"]["id"] != topic["id"]
        sessions = a.get("/api/codex/query/graph.research_sessions").json()["result"]
        assert [(s["session_key"], s["title"]) for s in sessions] == [("k1", "T")]
        b_sessions = b.get("/api/codex/query/graph.research_sessions").json()["result"]
        assert [(s["id"], s["title"]) for s in b_sessions] == [(rs_b.json()["id"], "")]


def test_expired_cursor_is_410_and_the_retained_edge_resumes_without_a_gap(server: Server) -> None:
    from codex.reactive.retention import RetentionPolicy, prune

    ids = append_many(server, "kept/x", 30)
    report = prune(server.store, RetentionPolicy(keep_last=10))
    assert report.oldest == ids[20]
    with server.client("default_all") as c:
        for headers, params in (({"Last-Event-ID": str(ids[18])}, {}), ({}, {"after_id": 0})):
            with c.stream("GET", "/api/codex/subscribe/kept/*", headers=headers, params=params) as r:
                assert r.status_code == 410
                body = json.loads(r.read())
                assert body["error"] == "CursorExpired" and body["oldest"] == ids[20]
        for edge in ({"Last-Event-ID": str(report.oldest - 1)}, {}):  # no cursor: the retained start
            got: list[int] = []
            with c.stream("GET", "/api/codex/subscribe/kept/*", headers=edge) as r:
                assert r.status_code == 200
                for ev in events(r):
                    got.append(int(ev.id or 0))
                    if len(got) == 10:
                        break
            assert got == ids[20:]
    url = server.url.replace("http://", "ws://") + "/api/codex/ws"
    with ws_connect(
        url, additional_headers={"Authorization": f"Bearer {server.tokens['default_all']}"}
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"type": "subscribe", "id": "old", "topic": "kept/*", "after_id": ids[5]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        refused = json.loads(ws.recv(timeout=10))
        assert refused["type"] == "error" and refused["status"] == 410
        assert refused["error"] == "CursorExpired" and refused["oldest"] == ids[20] and refused["id"] == "old"
        ws.send(json.dumps({"type": "subscribe", "id": "edge", "topic": "kept/*", "after_id": ids[19]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        replay = [json.loads(ws.recv(timeout=10))["change"]["id"] for _ in range(10)]
        assert replay == ids[20:]


def test_background_retention_policy(db_config: DbConfig, tmp_path: Path) -> None:
    srv = start_server(
        db_config,
        tmp_path,
        {"VOX_CODEX_RETENTION_KEEP_LAST": "5", "VOX_CODEX_RETENTION_INTERVAL_SECONDS": "0.2"},
    )
    try:
        ids = append_many(srv, "policy/x", 25)
        deadline = time.monotonic() + 15
        while True:
            with srv.store.connect() as conn:
                oldest = ChangeLogRepository(conn).oldest()
            if oldest == ids[-5]:
                break
            assert time.monotonic() < deadline, f"oldest retained is {oldest}, want {ids[-5]}"
            time.sleep(0.1)
    finally:
        srv.stop()
        srv.store.dispose()
