"""The SSE response: headers and the first bytes through ASGI, then a push stream on the connection.

ASGI has no broadcast: every event of every stream would be one ``http.response.body`` message
through the middleware stack and the server, a task switch per stream and event (40-80 µs a delivery
at 1,000 streams, measured for issue 17). So once the response has started through ASGI (status,
headers, request id, the first bytes), the stream is handed to a
:class:`~codex.reactive.push.PushStream` whose sink is, on uvicorn's httptools protocol, the
connection's transport itself: the hub writes the change's bytes, framed once as an HTTP/1.1 chunk,
to every matching connection in one loop. Any other server gets :class:`AsgiSink`, the same stream
over plain ASGI messages.

Once the stream has the connection, uvicorn forgets it (see :func:`_take_over`): the client leaving
closes the stream at once (``connection_lost``), and the stream ending (after ``max_seconds`` when set,
the client resuming with ``Last-Event-ID``; or a pruned cursor) writes the last chunk and closes the
connection, so the client sees a complete response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from codex.api.live import LiveQueries
from codex.reactive.hub import ChangeHub
from codex.reactive.push import PushStream, Sink

__all__ = ["SERVER_SEND", "AsgiSink", "SseResponse", "Stream", "TransportSink", "end_streams"]


class Stream(Protocol):
    """What an :class:`SseResponse` drives: a push stream of changes or a live query's stream."""

    @property
    def done(self) -> asyncio.Future[None]:
        """Resolved when the stream has ended."""

    def start(self) -> None:
        """Begin writing (the sink is ready)."""

    def close(self) -> None:
        """End the stream (idempotent)."""


SERVER_SEND = "codex.server_send"
"""Scope key holding the server's own ``send`` (set by the app before any middleware wraps it)."""


class TransportSink(asyncio.Protocol):
    """A connection taken over from uvicorn: the stream writes chunks to its transport directly.

    It is also the transport's protocol from the takeover on: it learns of the client leaving at once
    (``connection_lost``) and of the socket filling up (``pause_writing``).
    """

    framed = True
    __slots__ = ("_paused", "_stream", "_transport", "_waiter", "raw_buffered", "raw_write")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.raw_write = transport.write  # what a push stream calls per change
        self.raw_buffered = transport.get_write_buffer_size
        self._stream: Stream | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # -- Sink ---------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def closing(self) -> bool:
        return self._transport.is_closing()

    async def drain(self, below: int) -> None:
        while not self._transport.is_closing() and self._transport.get_write_buffer_size() > below:
            if self._paused:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter  # resolved by resume_writing or connection_lost
            else:
                await asyncio.sleep(0.01)

    def end(self) -> None:
        if not self._transport.is_closing():
            self._transport.write(b"0\r\n\r\n")  # the last chunk: a complete response
            self._transport.close()
        self._wake()

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def attach(self, stream: Stream) -> None:
        self._stream = stream

    def data_received(self, data: bytes) -> None:
        """A client sends nothing more on an event stream; anything it does send is ignored."""

    def eof_received(self) -> bool:
        return False  # the client is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._wake()
        if self._stream is not None:
            self._stream.close()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None


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

    def end(self) -> None:
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


def _take_over(scope: Scope) -> TransportSink | None:
    """Take the connection over from uvicorn's httptools protocol, once the response has started.

    The same move uvicorn makes itself for a WebSocket upgrade (its ``handle_websocket_upgrade``):
    the transport gets a new protocol and the server forgets the connection. Here the request is also
    marked complete, so the ASGI call returns and its whole stack (middleware, routing, the request)
    is freed: an idle stream costs its transport and a few small objects, not a suspended coroutine
    chain. Anything unexpected (another server, another protocol, a pipelined request) keeps the plain
    ASGI path. The versions are pinned; ``tests/api/test_fanout.py`` checks that the takeover happens.
    """
    cycle: Any = getattr(scope.get(SERVER_SEND), "__self__", None)
    if cycle is None or type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
        return None
    protocol = cast(Any, getattr(getattr(cycle, "on_response", None), "__self__", None))
    transport = cast(Any, getattr(cycle, "transport", None))
    if (
        type(protocol).__name__ != "HttpToolsProtocol"
        or transport is None
        or protocol.transport is not transport
        or protocol.cycle is not cycle
        or protocol.pipeline
        or getattr(cycle, "chunked_encoding", None) is not True
        or getattr(cycle, "disconnected", True)
        or transport.is_closing()
    ):
        return None
    sink = TransportSink(transport)
    transport.set_protocol(sink)
    protocol.connections.discard(protocol)
    cycle.response_complete = True  # the ASGI call may return: the connection is the stream's now
    if protocol.flow.read_paused:
        protocol.flow.resume_reading()  # a paused reader would never see the client leave
    return sink


class SseResponse(Response):
    """An SSE response driven by a push stream (see the module docstring).

    Args:
        first: Bytes sent before the stream starts (``retry:``, a snapshot event…).
        make_stream: Builds the push stream on the chosen sink (it is started here); the stream runs
            ``on_close`` when it ends.
        on_close: Runs (synchronously) if the response fails before the stream exists.
        max_seconds: End the response after this long (0: never).
        headers: Extra response headers.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        first: bytes,
        make_stream: Callable[[Sink], Stream],
        on_close: Callable[[], None],
        max_seconds: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(headers)  # no body attribute: no Content-Length, the server chunks it
        self._first, self._make, self._on_close, self._max = first, make_stream, on_close, max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self._first, "more_body": True})
            taken = _take_over(scope)
            if taken is not None:
                stream = self._make(taken)
                taken.attach(stream)
                opened = True
                stream.start()
                if self._max:
                    asyncio.get_running_loop().call_later(self._max, stream.close)
                return  # the stream owns the connection now
            sink = AsgiSink(send, receive)
            stream = self._make(sink)
            opened = True
            try:
                stream.start()
                if self._max:
                    await asyncio.wait([stream.done], timeout=self._max)
                else:
                    await stream.done
            finally:
                stream.close()
        finally:
            if not opened:
                self._on_close()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def end_streams(hub: ChangeHub, live: LiveQueries) -> None:
    """Shutdown: end every stream (the last chunk, then close), so clients reconnect elsewhere.

    Streams taken over from the server are no longer the server's to close.
    """
    for member in hub.members():
        if isinstance(member, PushStream):
            member.close()
    for stream in live.streams():
        stream.close()
    live.stop()
