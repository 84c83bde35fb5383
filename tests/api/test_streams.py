"""Stream bookkeeping through a real server: nothing leaks, nothing is written while a client waits,
WebSocket subscriptions belong to their connection and survive bad messages, dead servers are swept."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from codex.config import DbConfig, LocalDb
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.subscriptions import SubscriptionRepository
from codex.store import Store, open_store
from tests.api.conftest import Server, start_server


def _rows(store: Store, hint: str | None = None) -> list[dict[str, Any]]:
    with store.connect() as conn:
        rows = SubscriptionRepository.unscoped(conn).list()
    return [
        {"id": r.id, "topic": r.topic, "hint": r.client_hint, **(r.filter or {})}
        for r in rows
        if hint is None or r.client_hint == hint
    ]


def _until(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def _ws(server: Server, token: str) -> Iterator[ClientConnection]:
    url = server.url.replace("http://", "ws://") + "/api/codex/ws"
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {server.tokens[token]}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        yield ws


def _ask(ws: ClientConnection, frame: dict[str, Any] | str) -> dict[str, Any]:
    ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return reply


def test_twenty_streams_opened_and_closed_leave_no_rows(server: Server) -> None:
    with ExitStack() as streams, server.client() as c:
        for i in range(20):
            r = streams.enter_context(c.stream("GET", f"/api/codex/subscribe/leak/{i}/*"))
            assert r.status_code == 200
        _until(lambda: len(_rows(server.store, "sse")) == 20, "20 subscription rows")
        rows = _rows(server.store, "sse")
        assert {r["pattern"] for r in rows} == {f"leak/{i}/*" for i in range(20)}
        assert {r["topic"] for r in rows} == {f"leak/{i}" for i in range(20)}
        assert {r["tenant"] for r in rows} == {"tenant-a"}
    # the clients dropped their connections: the server's tasks were cancelled, the rows go anyway
    _until(lambda: _rows(server.store, "sse") == [], "the rows to be removed")
    with ExitStack() as sockets:
        for i in range(5):
            ws = sockets.enter_context(_ws(server, "a_all"))
            assert _ask(ws, {"type": "subscribe", "id": "s", "topic": f"leak/{i}"})["type"] == "subscribed"
        _until(lambda: len(_rows(server.store, "websocket")) == 5, "5 websocket rows")
    _until(lambda: _rows(server.store, "websocket") == [], "the websocket rows to be removed")


def test_websocket_subscription_ids_belong_to_the_connection(server: Server) -> None:
    with _ws(server, "a_all") as a, _ws(server, "b_all") as b, _ws(server, "a_all") as a2:
        for ws, topic in ((a, "shared/a"), (b, "shared/b"), (a2, "shared/a2")):
            assert _ask(ws, {"type": "subscribe", "id": "s1", "topic": topic})["type"] == "subscribed"
        _until(lambda: len(_rows(server.store, "websocket")) == 3, "3 rows")
        rows = _rows(server.store, "websocket")
        assert len({r["id"] for r in rows}) == 3 and {r["client_id"] for r in rows} == {"s1"}
        assert sorted((r["tenant"], r["pattern"]) for r in rows) == [
            ("tenant-a", "shared/a"),
            ("tenant-a", "shared/a2"),
            ("tenant-b", "shared/b"),
        ]
        assert _ask(b, {"type": "unsubscribe", "id": "s1"}) == {"type": "unsubscribed", "id": "s1"}
        with server.client("a_all") as c:
            c.post("/api/codex/mutate/change", json={"topic": "shared/a", "change_kind": "insert"})
        got = json.loads(a.recv(timeout=10))
        assert got["subscription"] == "s1" and got["change"]["topic"] == "shared/a"
        _until(lambda: len(_rows(server.store, "websocket")) == 2, "b's row to go, a's to stay")
        assert {r["tenant"] for r in _rows(server.store, "websocket")} == {"tenant-a"}


def test_bad_websocket_messages_get_an_error_and_the_socket_stays_usable(server: Server) -> None:
    with _ws(server, "a_all") as ws:
        for topic in ("-a", ".", "..", "a/*/b", "a b", "", "x/../y"):
            reply = _ask(ws, {"type": "subscribe", "id": "bad", "topic": topic})
            assert reply["type"] == "error" and reply["field"] == ["topic"], (topic, reply)
            assert reply["request_id"]
        for frame, field in (
            ('{"type": "subscribe", "topic": "ok/1", "after_id": NaN}', ["after_id"]),
            ('{"type": "subscribe", "topic": "ok/\\ud800"}', ["topic"]),
            ('{"type": "subscribe", "topic": "ok/1", "after_id": 1e999}', ["after_id"]),
            ('{"type": "subscribe", "topic": "ok/1", "after_id": 99999999999999999999}', ["after_id"]),
            ('{"type": "subscribe", "topic": ["ok"]}', ["topic"]),
            ('{"type": "subscribe", "topic": "ok/1", "id": {"x": 1}}', ["id"]),
            ('{"type": "unsubscribe", "id": "nobody"}', ["id"]),
            ('{"type": "dance"}', ["type"]),
        ):
            reply = _ask(ws, frame)
            assert reply["type"] == "error" and reply["field"] == field, (frame, reply)
        for frame in ("not json", "[1, 2]", '"x"'):
            assert _ask(ws, frame)["type"] == "error"
        ws.send(b'{"type": "subscribe", "id": "bin", "topic": "ok/\xff"}')  # invalid UTF-8 in a binary frame
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        assert _ask(ws, {"type": "subscribe", "id": "good", "topic": "ok/+"})["type"] == "subscribed"
        assert _ask(ws, {"type": "subscribe", "id": "good", "topic": "ok/+"})["type"] == "error"  # taken
        with server.client("a_all") as c:
            c.post(
                "/api/codex/mutate/change", json={"topic": "ok/7", "change_kind": "insert", "payload": 1.5}
            )
        got = json.loads(ws.recv(timeout=10))
        assert (
            got["type"] == "change" and got["change"]["topic"] == "ok/7" and got["change"]["payload"] == 1.5
        )


def test_rows_of_dead_servers_are_swept_at_startup_and_periodically(tmp_path: Path) -> None:
    config = LocalDb(path=str(tmp_path / "codex.db"))
    store = open_store(config)

    def plant(prefix: str) -> None:
        with store.begin() as conn:
            subs = SubscriptionRepository(conn)
            subs.upsert(f"{prefix}-old", "notes", {"pattern": "notes/*", "tenant": "a"}, "sse")  # pre-fix row
            subs.upsert(
                f"{prefix}-ws", "notes", {"pattern": "notes", "server": f"{prefix}-dead"}, "websocket"
            )
            subs.heartbeat(f"{prefix}-dead")
            conn.exec_driver_sql(  # that server's last heartbeat was an hour ago
                "UPDATE codex_subscriptions SET filter_json = json_set(filter_json, '$.seen', "
                "datetime('now', '-1 hour')) WHERE id = ?",
                (f"server:{prefix}-dead",),
            )
            subs.upsert(f"{prefix}-mine", "notes", None, "a library client")  # not the service's: kept

    plant("early")
    assert len(_rows(store)) == 4
    srv = start_server(
        config, tmp_path, {"VOX_CODEX_SERVER_TTL_SECONDS": "2", "VOX_CODEX_BOOKKEEPING_SECONDS": "0.2"}
    )
    try:
        _until(lambda: [r["id"] for r in _rows(store)] == ["early-mine"], "the startup sweep")
        with srv.client() as c, c.stream("GET", "/api/codex/subscribe/alive/*") as r:
            assert r.status_code == 200
            plant("later")
            _until(
                lambda: {r["id"] for r in _rows(store)} >= {"later-mine"} and len(_rows(store)) == 4,
                "the periodic sweep",
            )
            time.sleep(3)  # more than the TTL: this server's own heartbeat keeps its stream's row
            live = _rows(store)
            assert {r["hint"] for r in live} == {"sse", "server", "a library client"}, live
            assert [r["pattern"] for r in live if r["hint"] == "sse"] == ["alive/*"]
    finally:
        srv.stop()
    # a clean shutdown removes the server's own rows (its stream and its heartbeat)
    assert sorted(r["id"] for r in _rows(store)) == ["early-mine", "later-mine"]
    store.dispose()


async def _subscriber(
    client: httpx.AsyncClient, after: int, answered: list[int], all_answered: threading.Event
) -> tuple[int, str | None]:
    async with client.stream("GET", "/api/codex/subscribe/crowd/*", params={"after_id": after}) as r:
        answered.append(r.status_code)
        if len(answered) == 100:
            all_answered.set()
        if r.status_code != 200:
            return r.status_code, None
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                return r.status_code, str(json.loads(line[6:])["topic"])
    return r.status_code, None


def test_a_hundred_simultaneous_subscribes_write_nothing_answer_and_get_the_next_change(
    db_config: DbConfig, tmp_path: Path
) -> None:
    """The 100 subscribes are made while another client holds the database's write lock: they can only
    all answer if subscribing writes nothing on the request path."""
    srv = start_server(db_config, tmp_path, {"VOX_CODEX_BOOKKEEPING_SECONDS": "60"})  # no round meanwhile
    answered: list[int] = []
    all_answered, released = threading.Event(), threading.Event()
    results: list[tuple[int, str | None]] = []

    async def crowd() -> None:
        limits = httpx.Limits(max_connections=120, max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {srv.tokens['a_all']}"}
        async with httpx.AsyncClient(base_url=srv.url, headers=headers, limits=limits, timeout=60) as client:
            tasks = [
                asyncio.create_task(_subscriber(client, head, answered, all_answered)) for _ in range(100)
            ]
            while not released.is_set():
                await asyncio.sleep(0.02)
            posted = await client.post(
                "/api/codex/mutate/change", json={"topic": "crowd/1", "change_kind": "insert"}
            )
            assert posted.status_code == 200, posted.text
            results.extend(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))

    try:
        with srv.store.connect() as conn:
            head = ChangeLogRepository(conn).head()
        runner = threading.Thread(target=lambda: asyncio.run(crowd()))
        with srv.store.engine.connect() as locker:
            locker.begin()  # BEGIN IMMEDIATE: the write lock, held by another client
            locker.exec_driver_sql(
                "INSERT INTO codex_change_log (topic, change_kind) VALUES ('lock/held', 'x')"
            )
            started = time.monotonic()
            runner.start()
            answered_while_locked = all_answered.wait(timeout=20)
            took = time.monotonic() - started
            locker.rollback()
        released.set()
        runner.join(timeout=90)
    finally:
        released.set()
        srv.stop()
        srv.store.dispose()
    got = sum(topic == "crowd/1" for _, topic in results)
    print(
        f"100 simultaneous subscribes under a held write lock: {answered.count(200)} x 200 in {took:.2f} s, {got} got the change"
    )
    assert answered_while_locked, f"only {len(answered)} of 100 subscribes answered while the lock was held"
    assert answered == [200] * 100
    assert [t for _, t in results] == ["crowd/1"] * 100
