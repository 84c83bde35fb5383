"""Push streams: hub members that write shared bytes straight to their connection (SSE).

A :class:`PushStream` is what an SSE response becomes once its headers are out. It owns no task while
it is live: the hub calls :meth:`PushStream.offer` with a :class:`~codex.reactive.feed.Batch` and the
stream writes the batch's bytes, encoded once for the whole group, to its :class:`Sink` (on uvicorn, the
connection's transport itself: no per-event ASGI message, middleware call or task switch). A stream is
in one of two states:

* **live**: its cursor is the hub's; each batch newer than the cursor is written at once. When the
  bytes waiting in user space for a slow client pass ``max_buffered``, the stream stops writing and
  falls back to catching up: nothing more piles up in memory for it.
* **catching up** (on join, and after an overflow): a short-lived task replays the log from the
  cursor to the hub's position with one read per page (waiting for the client to drain between
  pages), then writes the events the hub offered meanwhile and goes live. Those are kept up to
  ``max_pending``; past that they are dropped and the replay simply reads further. An overflow
  first sends a ``reset`` event (``{cursor, reason}``), as documented, once the client has read what
  was already written: the client keeps its connection and loses nothing.

If the rows a stream still has to replay were pruned by retention, it sends an ``error`` event
``{"error": "CursorExpired", "oldest": …}`` and ends; the client's reconnect then gets the 410.

:func:`tend` is the one periodic task for every push stream: it ends streams whose connection closed
and writes the keep-alive comment to the idle ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from codex.errors import CursorExpired
from codex.reactive import sse
from codex.reactive.feed import Batch, ChangeEvent
from codex.reactive.hub import ChangeHub
from codex.reactive.patterns import TopicPattern

__all__ = ["Pingable", "PushStream", "Sink", "tend"]

log = logging.getLogger("codex.reactive")


class Sink(Protocol):
    """Where a push stream's bytes go."""

    framed: bool
    """True when the sink is the raw HTTP/1.1 transport: data must come as chunks (:func:`sse.chunk`)."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the client (never blocks)."""

    def buffered(self) -> int:
        """Bytes written but not yet taken by the client's socket."""

    def closing(self) -> bool:
        """True once the connection is closed or closing."""

    async def drain(self, below: int) -> None:
        """Wait until at most ``below`` bytes are buffered (or the connection closed)."""

    def end(self) -> None:
        """Finish the response and let go of the connection (idempotent)."""


class PushStream:
    """One SSE stream as a hub member (see the module docstring).

    Args:
        hub: The hub it joins (:meth:`start`).
        tenant: Its tenant: only that tenant's changes are offered.
        patterns: Its topic patterns.
        cursor: The last change id the client has (replay starts after it).
        sink: Where the bytes go.
        max_buffered: Bytes allowed to wait in user space before the stream falls back (a reset).
        max_pending: Events kept while catching up (past that the replay reads them from the log).
        on_close: Runs once when the stream ends, however it ends (synchronously).
    """

    transport = "sse"

    def __init__(
        self,
        hub: ChangeHub,
        tenant: str,
        patterns: Sequence[TopicPattern],
        cursor: int,
        sink: Sink,
        *,
        max_buffered: int,
        max_pending: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.hub, self.tenant, self.patterns = hub, tenant, tuple(patterns)
        self.on_close = on_close
        self.cursor, self.sink = cursor, sink
        # the sink's raw methods when it has them (the transport's own: no Python frame per write)
        self._send: Callable[[bytes], object] = getattr(sink, "raw_write", sink.write)
        self._buffered: Callable[[], int] = getattr(sink, "raw_buffered", sink.buffered)
        self._framed = sink.framed
        self.max_buffered, self.max_pending = max_buffered, max_pending
        self.live = False
        self.overflowed = False
        self.pending: list[ChangeEvent] = []
        self.floor = 0
        self.resets = 0
        self.last_write = time.monotonic()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Join the hub and start catching up from the cursor (no gap, no duplicate)."""
        self.floor = self.hub.last_id
        self.hub.join(self)
        if self.cursor >= self.floor:
            self.live = True  # nothing to replay: no task at all
        else:
            self._catch_up_soon()

    def close(self) -> None:
        """Leave the hub, end the response and run ``on_close`` (idempotent; safe in any ``finally``)."""
        if self._closed:
            return
        self._closed = True
        if not self.done.done():
            self.done.set_result(None)
        self.hub.leave(self)
        self.live = False
        self.pending = []
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None
        try:
            self.sink.end()
        finally:
            if self.on_close is not None:
                self.on_close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    # -- what the hub calls -------------------------------------------------------------------------
    def offer(self, batch: Batch) -> None:
        """Write a batch of matching events (live), or keep it for after the replay (catching up)."""
        if self.live:  # the hot path: one call per stream and change, kept lean
            cursor = self.cursor
            if batch.last_id <= cursor:
                return
            if batch.first_id > cursor:  # the usual case: the group's shared bytes
                self._send(batch.chunk if self._framed else batch.sse)
            else:
                self._write(b"".join(e.sse_frame for e in batch.after(cursor)))
            self.cursor = batch.last_id
            self.last_write = batch.made
            if self._buffered() > self.max_buffered:
                self._overflow()
            return
        if self.overflowed or self.closed:
            return
        self.pending.extend(batch.events)
        if len(self.pending) > self.max_pending:
            # still replaying: read these from the log too instead of keeping them (no reset needed,
            # the client is not behind, the replay is)
            self.pending = []
            self.floor = max(self.floor, batch.last_id)

    def ping(self) -> None:
        """Write a keep-alive comment (live streams only)."""
        if self.live and not self.sink.closing():
            self._write(sse.comment("keepalive"))

    # -- internals ----------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if data:
            self.sink.write(sse.chunk(data) if self.sink.framed else data)
            self.last_write = time.monotonic()

    def _overflow(self) -> None:
        self.live = False
        self.overflowed = True
        self.pending = []
        self._catch_up_soon()

    def _catch_up_soon(self) -> None:
        if self._task is None and not self.closed:
            self._task = asyncio.create_task(self._catch_up(), name="codex-sse-catch-up")

    async def _catch_up(self) -> None:
        try:
            await self._replay()
        except CursorExpired as exc:
            self._write(
                sse.event(
                    {"error": "CursorExpired", "oldest": exc.oldest, "message": exc.message},
                    event_type="error",
                )
            )
            self.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: end the stream, the client resumes
            log.warning("sse stream: replay failed (%s); ending the stream", exc)
            self.close()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _replay(self) -> None:
        sink = self.sink
        while not self.closed:
            if sink.closing():
                self.close()
                return
            if self.overflowed:
                await sink.drain(0)  # what was written is the client's; wait until it took it
                self.overflowed = False
                self.resets += 1
                self.pending = []
                self.floor = self.hub.last_id
                self._write(
                    sse.event(
                        {"cursor": self.cursor, "reason": "client fell behind; resuming from the cursor"},
                        event_type="reset",
                        event_id=self.cursor,
                    )
                )
                continue
            if self.cursor < self.floor:
                upto = self.floor  # the floor may move on while the page is read
                rows = await self.hub.backlog(self.tenant, self.patterns, self.cursor, upto)
                if self.closed or self.overflowed:
                    continue
                if not rows:
                    self.cursor = max(self.cursor, upto)
                    continue
                frames = [r.sse_frame for r in rows if any(p.matches(r.topic) for p in self.patterns)]
                self._write(b"".join(frames))
                self.cursor = max(self.cursor, rows[-1].id)
                if sink.buffered() > self.max_buffered // 2:
                    await sink.drain(self.max_buffered // 4)
                continue
            fresh = [e for e in self.pending if e.id > self.cursor]
            self.pending = []
            if fresh:
                self._write(b"".join(e.sse_frame for e in fresh))
                self.cursor = fresh[-1].id
            if sink.buffered() > self.max_buffered:
                await sink.drain(self.max_buffered // 4)
                continue
            self.live = True  # from here the hub writes (no await since the pending events were drained)
            return


class Pingable(Protocol):
    """A stream :func:`tend` looks after."""

    @property
    def sink(self) -> Sink | None:
        """Where it writes (None before it has one)."""

    @property
    def last_write(self) -> float:
        """``time.monotonic()`` of its last write."""

    def ping(self) -> None:
        """Write a keep-alive comment."""

    def close(self) -> None:
        """End the stream."""


async def tend(
    hub: ChangeHub,
    *,
    keepalive: float,
    every: float = 1.0,
    more: Callable[[], Iterable[Pingable]] | None = None,
) -> None:
    """Forever: end streams whose connection closed, keep idle ones alive (one task for all).

    Args:
        hub: Its :class:`PushStream` members are looked after.
        keepalive: Seconds of silence before a keep-alive comment.
        every: Seconds between rounds.
        more: Other streams to look after (live-query streams).
    """
    while True:
        await asyncio.sleep(every)
        now = time.monotonic()
        streams: list[Pingable] = [m for m in hub.members() if isinstance(m, PushStream)]
        if more is not None:
            streams.extend(more())
        for stream in streams:
            with contextlib.suppress(Exception):
                if stream.sink is not None and stream.sink.closing():
                    stream.close()
                elif now - stream.last_write >= keepalive:
                    stream.ping()
