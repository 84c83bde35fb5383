"""Live queries (``GET /api/codex/live/{query}`` and the WebSocket ``live`` message) through a real server.

The app runs in this process (uvicorn in a thread) over a real libSQL database, so the tests can read
its counters: how many evaluations ran, and that subscribers of one key share them.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from codex.api import create_app
from codex.api.state import AppState
from codex.config import DbConfig, LocalDb, load_settings
from codex.store import Store, open_store
from tests.api.conftest import make_tokens
from tests.api.inprocess import serve_in_thread
from tests.api.sse_client import Event, events


class App:
    def __init__(self, url: str, tokens: dict[str, str], state: AppState, store: Store) -> None:
        self.url, self.tokens, self.state, self.store = url, tokens, state, store

    def client(self, token: str = "a_all") -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[token]}"}, timeout=30
        )

    def change(self, topic: str, payload: Any = None, token: str = "a_all") -> int:
        with self.client(token) as c:
            r = c.post(
                "/api/codex/mutate/change", json={"topic": topic, "change_kind": "x", "payload": payload}
            )
            assert r.status_code == 200, r.text
            return int(r.json()["result"]["change_log_id"])

    def fresh(self, query: str, params: dict[str, Any], token: str = "a_all") -> dict[str, Any]:
        with self.client(token) as c:
            r = c.get(f"/api/codex/query/{query}", params=params)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

    @contextmanager
    def ws(self, token: str = "a_all") -> Iterator[ClientConnection]:
        url = self.url.replace("http://", "ws://") + "/api/codex/ws"
        with ws_connect(url, additional_headers={"Authorization": f"Bearer {self.tokens[token]}"}) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            yield ws


@contextmanager
def running(config: DbConfig, **overrides: Any) -> Iterator[App]:
    store = open_store(config)
    tokens = make_tokens(store)
    app = create_app(store, settings=load_settings(environ={}, **overrides))
    try:
        with serve_in_thread(app) as url:
            yield App(url, tokens, app.state.codex, store)
    finally:
        store.dispose()


@pytest.fixture
def live_app(db_config: DbConfig) -> Iterator[App]:
    with running(db_config) as app:
        yield app


class Collector:
    """Reads an SSE response in a thread; events land in a queue."""

    def __init__(self, app: App, path: str, params: dict[str, Any], token: str = "a_all") -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.status = 0
        self._response: httpx.Response | None = None
        self._ready = threading.Event()
        self._client = app.client(token)
        self._thread = threading.Thread(target=self._run, args=(path, params), daemon=True)
        self._thread.start()
        assert self._ready.wait(15)

    def _run(self, path: str, params: dict[str, Any]) -> None:
        try:
            with self._client.stream("GET", path, params=params) as r:
                self._response = r
                self.status = r.status_code
                self._ready.set()
                if r.status_code != 200:
                    r.read()
                    return
                for ev in events(r):
                    self.events.put(ev)
        except httpx.HTTPError:
            pass
        finally:
            self._ready.set()

    def next(self, timeout: float = 10) -> Event:
        return self.events.get(timeout=timeout)

    def quiet(self, seconds: float = 0.4) -> bool:
        try:
            ev = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {ev}")

    def close(self) -> None:
        if self._response is not None:  # shut the socket: the reader's read ends, the server sees EOF
            sock = self._response.extensions["network_stream"].get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(timeout=5)


def test_result_at_once_then_only_when_it_changes_and_never_for_others(live_app: App) -> None:
    app = live_app
    app.change("notes/1", "first")
    live = Collector(app, "/api/codex/live/changes.since", {"topic": "notes/*"})
    try:
        first = live.next()
        assert first.event == "result" and [r["payload"] for r in first.data["result"]] == ["first"]
        assert first.id == str(first.data["cursor"])
        fresh = app.fresh("changes.since", {"topic": "notes/*"})
        assert first.data["digest"] == fresh["digest"]
        evaluations = app.state.live.evaluations
        app.change("notes/1", "other tenant", token="b_all")  # another tenant: never offered
        app.change("other/1", "unrelated")  # an unrelated topic (and usage/api.mutations): never offered
        assert live.quiet()
        assert app.state.live.evaluations == evaluations
        app.change("notes/2", "second")
        nxt = live.next()
        assert [r["payload"] for r in nxt.data["result"]] == ["first", "second"]
        assert nxt.data["cursor"] > first.data["cursor"]
        assert live.quiet()
    finally:
        live.close()


def test_identical_result_is_not_pushed_and_evaluations_are_shared(live_app: App) -> None:
    app = live_app
    app.change("pinned/1", "only the first row counts")
    params = {"topic": "pinned/*", "limit": 1}
    streams = [Collector(app, "/api/codex/live/changes.since", params) for _ in range(4)]
    try:
        digests = {s.next().data["digest"] for s in streams}
        assert len(digests) == 1
        assert len(app.state.live) == 1  # one live query for the four subscribers
        before = app.state.live.evaluations
        app.change("pinned/2", "re-evaluated, same result")
        deadline = time.monotonic() + 10
        while app.state.live.evaluations == before:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for s in streams:
            assert s.quiet()
        assert app.state.live.evaluations == before + 1  # one evaluation for four subscribers
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 10
    while len(app.state.live):  # the last subscriber out stops the query
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_burst_costs_few_evaluations(live_app: App) -> None:
    app = live_app
    live = Collector(app, "/api/codex/live/changes.since", {"topic": "burst/*", "limit": 1000})
    try:
        live.next()
        before = app.state.live.evaluations
        with app.store.begin(tenant="tenant-a") as conn:  # 50 changes in one commit: one hub batch
            from codex.repositories.changelog import ChangeLogRepository

            for i in range(50):
                ChangeLogRepository(conn).append(f"burst/{i}", "insert", payload=i)
        app.state.hub.notify()
        got = live.next()
        while len(got.data["result"]) < 50:
            got = live.next()
        assert app.state.live.evaluations - before <= 2
    finally:
        live.close()


def test_websocket_live_and_unsubscribe(live_app: App) -> None:
    app = live_app
    with app.ws() as ws:
        ws.send(
            json.dumps({"type": "live", "id": "q", "query": "changes.since", "params": {"topic": "ws/*"}})
        )
        ack = json.loads(ws.recv(timeout=10))
        assert ack["type"] == "subscribed" and ack["id"] == "q" and ack["params"]["topic"] == "ws/*"
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "result" and first["id"] == "q" and first["result"] == []
        app.change("ws/1", 1)
        second = json.loads(ws.recv(timeout=10))
        assert second["type"] == "result" and [r["payload"] for r in second["result"]] == [1]
        assert second["digest"] == app.fresh("changes.since", {"topic": "ws/*"})["digest"]
        ws.send(json.dumps({"type": "unsubscribe", "id": "q"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "unsubscribed", "id": "q"}
        app.change("ws/2", 2)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        for frame, field in (
            ({"type": "live", "query": "nope"}, ["query"]),
            ({"type": "live", "query": "changes.since", "params": [1]}, ["params"]),
            ({"type": "live", "query": "changes.since", "params": {"limit": 0}}, None),
            ({"type": "live", "query": "chat.messages", "params": {"conversation_id": 99999}}, None),
        ):
            ws.send(json.dumps(frame))
            reply = json.loads(ws.recv(timeout=10))
            if reply["type"] == "subscribed":  # the evaluation's refusal follows the acknowledgement
                reply = json.loads(ws.recv(timeout=10))
            assert reply["type"] == "error", (frame, reply)
            if field is not None:
                assert reply["field"] == field
            else:
                assert reply["status"] in (404, 422)


def test_bad_live_requests_are_4xx(live_app: App) -> None:
    app = live_app
    with app.client() as c:
        assert c.get("/api/codex/live/nope").status_code == 404
        assert c.get("/api/codex/live/changes.since", params={"limit": 0}).status_code == 422
        assert c.get("/api/codex/live/changes.since", params={"topic": "a/*/b"}).status_code == 422
        assert c.get("/api/codex/live/changes.since", params={"bogus": 1}).status_code == 422
        r = c.get("/api/codex/live/chat.messages", params={"conversation_id": 424242})
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
    with app.client("a_read") as c:
        assert c.get("/api/codex/live/changes.since").status_code == 403  # no subscribe scope
    assert len(app.state.live) == 0


TOPICS = ("hx/a", "hx/b", "hy/a")
QUERIES = (
    ("changes.since", {"topic": "hx/*"}),
    ("changes.since", {"topic": "hx/*", "limit": 2}),
    ("changes.since", {"topic": "hy/+"}),
    ("chat.conversations", {}),
)
step = st.one_of(
    st.tuples(st.just("change"), st.sampled_from(TOPICS), st.sampled_from(("a_all", "b_all"))),
    st.tuples(st.just("conversation"), st.just(""), st.sampled_from(("a_all", "b_all"))),
    st.tuples(st.just("subscribe"), st.integers(0, len(QUERIES) - 1), st.sampled_from(("a_all", "b_all"))),
    st.tuples(st.just("unsubscribe"), st.integers(0, 20), st.just("")),
)


@pytest.fixture(scope="module")
def shared_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    config = LocalDb(path=str(tmp_path_factory.mktemp("live") / "codex.db"))
    with running(config, live_debounce_seconds=0.005) as app:
        yield app


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_random_interleavings_end_with_the_fresh_result(
    shared_live: App, steps: list[tuple[Any, ...]]
) -> None:
    """Mutations and (un)subscriptions in any order: every open subscription's last pushed result is
    the result of a fresh query (same digest), for both tenants."""
    app = shared_live
    opened: list[tuple[ClientConnection, str, int, str]] = []
    last: dict[int, dict[str, Any]] = {}
    with ExitStack() as stack:
        for kind, arg, token in steps:
            if kind == "change":
                app.change(arg, {"n": len(opened)}, token=token)
            elif kind == "conversation":
                with app.client(token) as c:
                    assert c.post("/api/codex/mutate/chat.create_conversation", json={}).status_code == 200
            elif kind == "subscribe":
                name, params = QUERIES[arg]
                url = app.url.replace("http://", "ws://") + "/api/codex/ws"
                ws = stack.enter_context(
                    ws_connect(url, additional_headers={"Authorization": f"Bearer {app.tokens[token]}"})
                )
                assert json.loads(ws.recv(timeout=10))["type"] == "ready"
                ws.send(json.dumps({"type": "live", "id": "s", "query": name, "params": params}))
                assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
                opened.append((ws, token, arg, "open"))
            elif opened:
                at = arg % len(opened)
                ws, was, query, _ = opened[at]
                ws.close()
                opened[at] = (ws, was, query, "closed")
        for index, (ws, token, arg, status) in enumerate(opened):
            if status != "open":
                continue
            name, params = QUERIES[arg]
            want = app.fresh(name, params, token=token)["digest"]
            deadline = time.monotonic() + 10
            while last.get(index, {}).get("digest") != want:  # results arrive in order; wait for the last
                remaining = deadline - time.monotonic()
                assert remaining > 0, (
                    f"{name} {params} for {token}: last pushed {last.get(index)}, want {want}"
                )
                try:
                    frame = json.loads(ws.recv(timeout=remaining))
                except TimeoutError:
                    continue
                assert frame["type"] == "result", frame
                last[index] = frame
            with pytest.raises(TimeoutError):  # and nothing after it
                ws.recv(timeout=0.05)
