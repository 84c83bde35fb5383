"""The SSE response: headers and the first bytes through ASGI, then a push stream on the connection.

ASGI has no broadcast: every event of every stream would be one ``http.response.body`` message
through the middleware stack and the server, a task switch per stream and event (40-80 µs a delivery
at 1,000 streams, measured for issue 17). So once the response has started through ASGI (status,
headers, request id, the first bytes), the stream is handed to a
:class:`~codex.reactive.push.PushStream` whose sink is, on uvicorn's httptools protocol, the
connection's transport itself: the hub writes the change's bytes, framed once as an HTTP/1.1 chunk,
to every matching connection in one loop. Any other server gets :class:`AsgiSink`, the same stream
over plain ASGI messages.

The response ends when the client disconnects (the transport closes; :func:`codex.reactive.push.tend`
notices within a second, or the next write does), after ``max_seconds`` when set (the client resumes
with ``Last-Event-ID``), or when the stream ends itself (a pruned cursor); the final chunk goes through
ASGI, so the server sees a complete response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from codex.reactive.push import PushStream, Sink

__all__ = ["SERVER_SEND", "AsgiSink", "SseResponse", "TransportSink"]

SERVER_SEND = "codex.server_send"
"""Scope key holding the server's own ``send`` (set by the app before any middleware wraps it)."""


class TransportSink:
    """The connection's transport (uvicorn httptools), written directly with chunk framing."""

    framed = True

    def __init__(self, transport: asyncio.Transport, flow: Any) -> None:
        self._transport, self._flow = transport, flow

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def closing(self) -> bool:
        return self._transport.is_closing()

    async def drain(self, below: int) -> None:
        while not self._transport.is_closing() and self._transport.get_write_buffer_size() > below:
            if self._flow.write_paused:
                await self._flow.drain()  # woken by the protocol's resume_writing (or connection_lost)
            else:
                await asyncio.sleep(0.01)


class AsgiSink:
    """The same stream over plain ASGI messages (any server): a pump task sends what was written."""

    framed = False

    def __init__(self, send: Send, receive: Receive) -> None:
        self._send, self._receive = send, receive
        self._chunks: list[bytes] = []
        self._size = 0
        self._closed = False
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._watch())]

    def write(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        self._wake.set()

    def buffered(self) -> int:
        return self._size

    def closing(self) -> bool:
        return self._closed

    async def drain(self, below: int) -> None:
        while not self._closed and self._size > below:
            self._progress.clear()
            await self._progress.wait()

    def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()

    async def _pump(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._chunks:
                    data, self._chunks = b"".join(self._chunks), []
                    await self._send({"type": "http.response.body", "body": data, "more_body": True})
                    self._size -= len(data)
                    self._progress.set()
        except Exception:  # the client is gone
            self._closed = True
            self._progress.set()

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._closed = True
        self._progress.set()


def _transport_sink(scope: Scope) -> TransportSink | None:
    """The raw transport of uvicorn's httptools protocol, when this response is chunked on it."""
    cycle = getattr(scope.get(SERVER_SEND), "__self__", None)
    if cycle is None or not type(cycle).__module__.endswith("httptools_impl"):
        return None
    transport, flow = getattr(cycle, "transport", None), getattr(cycle, "flow", None)
    if transport is None or flow is None or getattr(cycle, "chunked_encoding", None) is not True:
        return None
    if getattr(cycle, "disconnected", True) or transport.is_closing():
        return None
    return TransportSink(transport, flow)


class SseResponse(Response):
    """An SSE response driven by a push stream (see the module docstring).

    Args:
        first: Bytes sent before the stream starts (``retry:``, a snapshot event…).
        make_stream: Builds the push stream on the chosen sink (it is started here).
        on_close: Runs (synchronously) when the response ends, however it ends.
        max_seconds: End the response after this long (0: never).
        headers: Extra response headers.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        first: bytes,
        make_stream: Callable[[Sink], PushStream],
        on_close: Callable[[], None],
        max_seconds: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body attribute: no Content-Length, the server chunks it
        self._first, self._make, self._on_close, self._max = first, make_stream, on_close, max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream: PushStream | None = None
        sink: Sink | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self._first, "more_body": True})
            sink = _transport_sink(scope) or AsgiSink(send, receive)
            stream = self._make(sink)
            stream.start()
            if self._max:
                await asyncio.wait([stream.done], timeout=self._max)
            else:
                await stream.done
        finally:
            if stream is not None:
                stream.close()
            if isinstance(sink, AsgiSink):
                sink.close()
            self._on_close()
        if sink is not None and not isinstance(sink, AsgiSink) and sink.closing():
            return
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
