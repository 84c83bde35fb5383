"""The fan-out's fast path through a real uvicorn (in this process, so the hub can be inspected).

Under the pinned uvicorn (httptools), an SSE stream takes its connection over once the response has
started (:mod:`codex.api.streaming`): these tests fail loudly if an upgrade of the server makes it fall
back to the plain ASGI path (which works, but costs a suspended request stack per stream).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex.api.streaming import TransportSink
from codex.config import LocalDb
from codex.reactive.push import PushStream
from tests.api.test_live import App, Collector, running


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with running(LocalDb(path=str(tmp_path / "codex.db"))) as running_app:
        yield running_app


def _streams(app: App) -> list[PushStream]:
    return [m for m in app.state.hub.members() if isinstance(m, PushStream)]


def test_streams_take_their_connection_over_and_share_one_batch(app: App) -> None:
    mine = [Collector(app, "/api/codex/subscribe/fan/*", {}) for _ in range(5)]
    theirs = Collector(app, "/api/codex/subscribe/fan/*", {}, token="b_all")
    try:
        deadline = time.monotonic() + 10
        while len(_streams(app)) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert all(isinstance(s.sink, TransportSink) for s in _streams(app))
        assert app.state.book.open_streams() == 6
        before = app.state.hub.delivered_batches
        change_id = app.change("fan/1", "hello")
        for c in mine:
            ev = c.next()
            assert ev.id == str(change_id) and ev.data["payload"] == "hello"
        assert theirs.quiet()  # tenant B never sees tenant A's change
        # one batch for tenant A's group (five streams), none for B's; the usage change matches no group
        assert app.state.hub.delivered_batches == before + 1
    finally:
        for c in (*mine, theirs):
            c.close()
    deadline = time.monotonic() + 10
    while _streams(app) or app.state.book.open_streams():  # the client leaving ends the stream at once
        assert time.monotonic() < deadline
        time.sleep(0.02)
