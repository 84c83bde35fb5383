"""The change hub: one change-log reader per process fanning out to every stream in memory.

* A commit made through this process wakes the hub at once (:meth:`ChangeHub.notify`, called by the
  store after commit); commits made by other processes or replicas are picked up by an adaptive poll
  of the log (``poll_min`` right after activity, doubling to ``poll_max`` when idle). Each tick is ONE
  database read for all subscribers; nothing polls while no one is subscribed.
* Each subscription has a bounded buffer. A client that falls too far behind gets a
  :class:`Reset` (streamed as the documented ``reset`` event) and then resumes from its cursor by
  reading the log: nothing is lost, memory stays bounded.
* A new subscription first replays the log from its ``after_id`` up to the hub's position at the
  moment it joined, then takes live rows: no gap, no duplicate.

Database reads run in worker threads; the hub never holds a connection while streams wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from codex.reactive.feed import ChangeEvent
from codex.reactive.patterns import TopicPattern

__all__ = ["ChangeHub", "OnDeliver", "Reset", "Subscription"]

log = logging.getLogger("codex.reactive")

Fetch = Callable[..., list[ChangeEvent]]
OnDeliver = Callable[[str, list[float | None]], None]
"""``on_deliver(transport, latencies)``: rows handed to a stream; a latency (seconds from the hub seeing the
commit) per row, None for replayed history."""


@dataclass(frozen=True, slots=True)
class Reset:
    """The subscription's live buffer overflowed; the stream resumes from ``cursor`` via the log."""

    cursor: int
    reason: str = "client fell behind; resuming from the cursor"


class Subscription:
    """One stream's view of the hub: its tenant, patterns, cursor and bounded buffer."""

    def __init__(
        self,
        hub: ChangeHub,
        tenant: str,
        patterns: Sequence[TopicPattern],
        cursor: int,
        buffer: int,
        transport: str = "sse",
    ) -> None:
        self.hub = hub
        self.tenant = tenant
        self.transport = transport
        self.patterns = tuple(patterns)
        self.cursor = cursor
        self.live_floor = hub.last_id
        self.queue: asyncio.Queue[tuple[ChangeEvent, float]] = asyncio.Queue(maxsize=buffer)
        self.overflowed = False
        self.delivered = 0

    def matches(self, event: ChangeEvent) -> bool:
        """Same tenant and a matching topic pattern."""
        return event.tenant == self.tenant and any(p.matches(event.topic) for p in self.patterns)

    def _offer(self, event: ChangeEvent, seen: float) -> None:
        if self.overflowed or not self.matches(event):
            return
        try:
            self.queue.put_nowait((event, seen))
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self, timeout: float) -> list[ChangeEvent] | Reset | None:
        """The next batch of events, a :class:`Reset`, or None when ``timeout`` passed quietly."""
        if self.overflowed:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.overflowed = False
            self.live_floor = self.hub.last_id
            return Reset(self.cursor)
        if self.cursor < self.live_floor:
            rows = await self.hub.backlog(self, self.cursor, self.live_floor)
            if not rows:
                self.cursor = self.live_floor
                return await self.next(timeout)
            self.cursor = max(self.cursor, rows[-1].id)
            return self._mark(rows, [None] * len(rows))
        try:
            async with asyncio.timeout(timeout):  # no extra task per wait, unlike wait_for on 3.11
                first = await self.queue.get()
        except TimeoutError:
            return None
        batch = [first]
        while not self.queue.empty() and len(batch) < 500:
            batch.append(self.queue.get_nowait())
        fresh = [(e, seen) for e, seen in batch if e.id > self.cursor]
        if fresh:
            self.cursor = fresh[-1][0].id
        now = time.monotonic()
        return self._mark([e for e, _ in fresh], [now - seen for _, seen in fresh])

    def _mark(self, rows: list[ChangeEvent], latencies: list[float | None]) -> list[ChangeEvent]:
        self.delivered += len(rows)
        if rows and self.hub.on_deliver is not None:
            self.hub.on_deliver(self.transport, latencies)
        return rows

    def close(self) -> None:
        """Leave the hub."""
        self.hub.unsubscribe(self)


class ChangeHub:
    """Fan-out of committed change-log rows to in-process subscriptions.

    Args:
        fetch: ``fetch(after_id, limit=…, upto=…, tenant=…) -> list[ChangeEvent]`` (runs in a thread).
        head: ``head() -> int``, the newest change id (runs in a thread).
        poll_min: Poll interval right after activity (other writers), seconds.
        poll_max: Poll interval when idle, seconds.
        buffer: Events buffered per subscription before a :class:`Reset`.
        batch: Rows read per tick.
        on_deliver: Told about every batch handed to a stream (metrics); see :data:`OnDeliver`.
    """

    def __init__(
        self,
        fetch: Fetch,
        head: Callable[[], int],
        *,
        poll_min: float = 0.02,
        poll_max: float = 0.5,
        buffer: int = 1000,
        batch: int = 500,
        on_deliver: OnDeliver | None = None,
    ) -> None:
        self._fetch, self._head = fetch, head
        self.poll_min, self.poll_max, self.buffer, self.batch = poll_min, poll_max, buffer, batch
        self.last_id = 0
        self._subs: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ticks = 0
        self.on_deliver = on_deliver
        self._woken_at: float | None = None

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions."""
        return len(self._subs)

    def transports(self) -> list[str]:
        """The transport of every open subscription (``sse``, ``websocket``)."""
        return [sub.transport for sub in tuple(self._subs)]

    async def start(self) -> None:
        """Read the log head and start the reader task."""
        self._loop = asyncio.get_running_loop()
        self.last_id = await anyio.to_thread.run_sync(self._head)
        self._task = asyncio.create_task(self._run(), name="codex-change-hub")

    async def stop(self) -> None:
        """Stop the reader task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """Wake the reader now (thread-safe: called after a commit in any thread)."""
        if self._woken_at is None:
            self._woken_at = time.monotonic()  # when the earliest unread commit was announced
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                self._wake.set()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(self._wake.set)

    def subscribe(
        self, tenant: str, patterns: Sequence[TopicPattern], after_id: int, *, transport: str = "sse"
    ) -> Subscription:
        """Join the hub; the subscription replays from ``after_id`` then streams live rows."""
        sub = Subscription(self, tenant, patterns, cursor=after_id, buffer=self.buffer, transport=transport)
        self._subs.add(sub)
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Leave the hub (idempotent)."""
        self._subs.discard(sub)

    async def backlog(self, sub: Subscription, after_id: int, upto: int) -> list[ChangeEvent]:
        """Read a subscription's missed rows ``(after_id, upto]`` of its tenant, filtered by its patterns."""
        cursor = after_id
        while cursor < upto:
            rows = await anyio.to_thread.run_sync(
                functools.partial(self._fetch, cursor, limit=self.batch, upto=upto, tenant=sub.tenant)
            )
            if not rows:
                return []
            matched = [r for r in rows if sub.matches(r)]
            if matched:
                return matched
            cursor = rows[-1].id
            sub.cursor = cursor
        return []

    async def _run(self) -> None:
        interval = self.poll_min
        while True:
            if not self._subs:
                self._wake.clear()
                await self._wake.wait()
                interval = self.poll_min
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            seen, self._woken_at = self._woken_at, None
            try:
                rows = await anyio.to_thread.run_sync(lambda: self._fetch(self.last_id, limit=self.batch))
            except Exception as exc:
                log.warning("change hub: reading the log failed (%s); retrying", exc)
                interval = min(max(interval * 2, self.poll_min), self.poll_max)
                continue
            self.ticks += 1
            if rows:
                seen = seen if seen is not None else time.monotonic()
                for event in rows:
                    for sub in tuple(self._subs):
                        sub._offer(event, seen)
                self.last_id = rows[-1].id
                interval = self.poll_min
                if len(rows) >= self.batch:
                    self._wake.set()
            else:
                interval = min(interval * 2, self.poll_max)
