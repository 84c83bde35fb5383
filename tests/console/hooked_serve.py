"""``codex serve`` with a test-only route: ``POST /api/admin/test/drop-streams`` (admin, not in the contract).

The route ends every open SSE response (and every stream that took its connection over) as a dropped
connection would, so that the console's resume can
be tested against a live server. It lives under ``tests/`` and is never part of the package: the console
fixtures start ``python -m tests.console.hooked_serve serve …`` instead of ``python -m codex.cli serve …``.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import codex.api
from codex.api.auth import Principal, require
from codex.api.state import AppState
from codex.reactive.push import PushStream

__all__ = ["StreamDropper", "StreamDrops", "install_stream_drops"]


class StreamDrops:
    """The open SSE responses, so that the test hook can end them all at once."""

    def __init__(self) -> None:
        self.scopes: set[anyio.CancelScope] = set()
        self.dropped = 0

    def drop(self) -> int:
        """End every open stream; returns how many."""
        scopes = list(self.scopes)
        for scope in scopes:
            scope.cancel()
        self.dropped += len(scopes)
        return len(scopes)


class StreamDropper:
    """ASGI middleware (test hooks only): run each SSE response in a cancel scope the hook can cancel.

    A cancelled stream is closed properly (the last chunk is sent), so the client sees the stream end
    exactly as when a server goes away, and reconnects with ``Last-Event-ID``.
    """

    def __init__(self, app: ASGIApp, drops: StreamDrops) -> None:
        self.app = app
        self.drops = drops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/codex/subscribe/"):
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        with anyio.CancelScope() as cancel:
            self.drops.scopes.add(cancel)
            try:
                await self.app(scope, receive, tracking)
            finally:
                self.drops.scopes.discard(cancel)
        if cancel.cancelled_caught and started and not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def install_stream_drops(app: FastAPI) -> FastAPI:
    """Add the stream-drop middleware and route to ``app``."""
    drops = StreamDrops()
    app.state.codex_stream_drops = drops
    app.add_middleware(StreamDropper, drops=drops)

    @app.post("/api/admin/test/drop-streams", include_in_schema=False)
    async def drop_streams(request: Request, who: Principal = Depends(require("admin"))) -> dict[str, int]:
        started = time.monotonic()
        count = request.app.state.codex_stream_drops.drop()
        state: AppState = request.app.state.codex
        # streams that took their connection over (codex.api.streaming) end themselves: the last chunk,
        # then the connection closes, as when a server goes away
        streams = [m for m in state.hub.members() if isinstance(m, PushStream)] + state.live.streams()
        for stream in streams:
            stream.close()
        return {"dropped": count + len(streams), "ms": int((time.monotonic() - started) * 1000)}

    return app


def _create_app_with_hooks(*args: Any, **kwargs: Any) -> FastAPI:
    return install_stream_drops(_create_app(*args, **kwargs))


_create_app = codex.api.create_app

if __name__ == "__main__":
    from codex.cli import main

    codex.api.create_app = _create_app_with_hooks  # type: ignore[assignment]  # what `codex serve` builds
    main()
