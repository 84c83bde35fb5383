"""The change hub: one change-log reader per process fanning out to every stream in memory.

* A commit made through this process wakes the hub at once (:meth:`ChangeHub.notify`, called by the
  store after commit); commits made by other processes or replicas are picked up by an adaptive poll
  of the log (``poll_min`` right after activity, doubling to ``poll_max`` when idle). Each tick is ONE
  database read for all subscribers; nothing polls while no one is subscribed.
* **Fan-out costs almost nothing per stream.** Members are grouped by tenant and by their patterns:
  a tick's rows are split by tenant, matched once per group, and the group's matching rows become one
  :class:`~codex.reactive.feed.Batch` handed to every member of the group, so a change is encoded once
  per (tenant, pattern) whatever the number of streams, and another tenant's change never reaches a
  member (it is not even matched against its patterns).
* Members decide how to deliver: a pull :class:`Subscription` (WebSocket) queues the events for its
  pump; a push stream (:mod:`codex.reactive.push`, SSE) writes the batch's shared bytes straight to
  its connection. Either way each has a bounded buffer: a client that falls too far behind gets a
  :class:`Reset` (streamed as the documented ``reset`` event) and then resumes from its cursor by
  reading the log: nothing is lost, memory stays bounded.
* A new subscription first replays the log from its ``after_id`` up to the hub's position at the
  moment it joined, then takes live rows: no gap, no duplicate.
* What it hands over is counted per tick, not per member: each group keeps a tally of its members'
  transports, so ``on_deliver`` (the app's metrics) learns the events handed over by transport (events
  times members) and the latency from the hub seeing the commit to the tick's last hand-over, with no
  extra Python work per member.

Database reads run in worker threads; the hub never holds a connection while streams wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from codex.reactive.feed import Batch, ChangeEvent
from codex.reactive.patterns import TopicPattern

__all__ = ["ChangeHub", "Member", "OnDeliver", "Reset", "Subscription"]

log = logging.getLogger("codex.reactive")

Fetch = Callable[..., list[ChangeEvent]]
OnDeliver = Callable[[Mapping[str, int], float], None]
"""``on_deliver(counts, latency)``, once per tick that handed events over: the events handed to members by
transport (one per event and member) and the seconds from the hub seeing the first commit of the tick to
its last hand-over. Replays from the log (a join, a resume after a reset) are not counted."""
UNKNOWN_TRANSPORT = "other"
"""The transport of a member without a ``transport`` attribute."""


@dataclass(frozen=True, slots=True)
class Reset:
    """The subscription's live buffer overflowed; the stream resumes from ``cursor`` via the log."""

    cursor: int
    reason: str = "client fell behind; resuming from the cursor"


class Member(Protocol):
    """Anything the hub fans out to: a tenant, its patterns, and what to do with a matching batch.

    A member may also name its ``transport`` (``sse``, ``websocket``, ``live``), read once when it joins:
    the hub's delivery counts and :meth:`ChangeHub.transports` are by transport.
    """

    tenant: str
    patterns: tuple[TopicPattern, ...]

    def offer(self, batch: Batch) -> None:
        """Take a batch of matching events (called on the event loop; must not block)."""


class _Group:
    """The members of one tenant that share the same patterns (matched once per tick)."""

    __slots__ = ("members", "patterns", "transports")

    def __init__(self, patterns: tuple[TopicPattern, ...]) -> None:
        self.patterns = patterns
        self.members: dict[Member, str] = {}  # an insertion-ordered set (each member -> its transport)
        self.transports: dict[str, int] = {}
        """Members by transport (kept on join and leave: a tick counts its deliveries per group)."""

    def matches(self, topic: str) -> bool:
        return any(p.matches(topic) for p in self.patterns)


class Subscription:
    """A pull member (the WebSocket's): its tenant, patterns, cursor and bounded queue of events."""

    transport = "websocket"

    def __init__(
        self, hub: ChangeHub, tenant: str, patterns: Sequence[TopicPattern], cursor: int, buffer: int
    ) -> None:
        self.hub = hub
        self.tenant = tenant
        self.patterns = tuple(patterns)
        self.cursor = cursor
        self.live_floor = hub.last_id
        self.queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(maxsize=buffer)
        self.overflowed = False
        self.delivered = 0

    def matches(self, event: ChangeEvent) -> bool:
        """Same tenant and a matching topic pattern."""
        return event.tenant == self.tenant and any(p.matches(event.topic) for p in self.patterns)

    def offer(self, batch: Batch) -> None:
        """Queue the batch's events (an overflow turns into a :class:`Reset` on the next read)."""
        if self.overflowed:
            return
        for event in batch.events:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.overflowed = True
                return

    async def next(self, timeout: float) -> list[ChangeEvent] | Reset | None:
        """The next batch of events, a :class:`Reset`, or None when ``timeout`` passed quietly.

        Raises:
            CursorExpired: The rows the subscription still had to replay were pruned.
        """
        if self.overflowed:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.overflowed = False
            self.live_floor = self.hub.last_id
            return Reset(self.cursor)
        if self.cursor < self.live_floor:
            rows = await self.hub.backlog(self.tenant, self.patterns, self.cursor, self.live_floor)
            if not rows:
                self.cursor = self.live_floor
                return await self.next(timeout)
            self.cursor = max(self.cursor, rows[-1].id)
            return self._mark([r for r in rows if self.matches(r)])
        try:
            async with asyncio.timeout(timeout):  # no extra task per wait, unlike wait_for on 3.11
                first = await self.queue.get()
        except TimeoutError:
            return None
        batch = [first]
        while not self.queue.empty() and len(batch) < 500:
            batch.append(self.queue.get_nowait())
        fresh = [e for e in batch if e.id > self.cursor]
        if fresh:
            self.cursor = fresh[-1].id
        return self._mark(fresh)

    def _mark(self, rows: list[ChangeEvent]) -> list[ChangeEvent]:
        self.delivered += len(rows)
        return rows

    def close(self) -> None:
        """Leave the hub."""
        self.hub.leave(self)


class ChangeHub:
    """Fan-out of committed change-log rows to in-process members.

    Args:
        fetch: ``fetch(after_id, limit=…, upto=…, tenant=…, check_edge=…) -> list[ChangeEvent]`` (runs
            in a thread; with ``check_edge`` it raises :class:`~codex.errors.CursorExpired` when rows
            after ``after_id`` were pruned).
        head: ``head() -> int``, the newest change id (runs in a thread).
        poll_min: Poll interval right after activity (other writers), seconds.
        poll_max: Poll interval when idle, seconds.
        buffer: Events buffered per subscription before a :class:`Reset`.
        batch: Rows read per tick.
        on_deliver: Told what each tick handed over (the app's metrics); see :data:`OnDeliver`.
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
        self._groups: dict[str, dict[tuple[str, ...], _Group]] = {}
        self._count = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ticks = 0
        self.delivered_batches = 0
        self.on_deliver = on_deliver
        self._seen: float | None = None
        """When the earliest commit not yet read was announced (:meth:`notify`; with ``on_deliver`` only)."""

    @property
    def subscriber_count(self) -> int:
        """Open members (streams, WebSocket subscriptions, live queries)."""
        return self._count

    def members(self) -> list[Member]:
        """Every member, in no particular order (a copy)."""
        return [m for groups in self._groups.values() for g in groups.values() for m in g.members]

    def transports(self) -> dict[str, int]:
        """Open members by transport (``sse``, ``websocket``, ``live``; a sum over the groups)."""
        tally: dict[str, int] = {}
        for groups in self._groups.values():
            for group in groups.values():
                for transport, count in group.transports.items():
                    tally[transport] = tally.get(transport, 0) + count
        return tally

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
        if self._seen is None and self._count and self.on_deliver is not None:
            self._seen = time.monotonic()  # the delivery latency runs from here
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

    def subscribe(self, tenant: str, patterns: Sequence[TopicPattern], after_id: int) -> Subscription:
        """Join with a pull :class:`Subscription` that replays from ``after_id`` then streams live rows."""
        sub = Subscription(self, tenant, patterns, cursor=after_id, buffer=self.buffer)
        self.join(sub)
        return sub

    def join(self, member: Member) -> None:
        """Add a member: from now on it is offered every new row of its tenant matching its patterns."""
        key = tuple(p.text for p in member.patterns)
        group = self._groups.setdefault(member.tenant, {}).get(key)
        if group is None:
            group = self._groups[member.tenant][key] = _Group(tuple(member.patterns))
        if member not in group.members:
            transport = str(getattr(member, "transport", UNKNOWN_TRANSPORT))
            group.members[member] = transport
            group.transports[transport] = group.transports.get(transport, 0) + 1
            self._count += 1
        self._wake.set()

    def leave(self, member: Member) -> None:
        """Remove a member (idempotent)."""
        groups = self._groups.get(member.tenant)
        key = tuple(p.text for p in member.patterns)
        group = groups.get(key) if groups is not None else None
        transport = group.members.pop(member, None) if group is not None else None
        if group is None or transport is None:
            return
        self._count -= 1
        left = group.transports[transport] - 1
        if left:
            group.transports[transport] = left
        else:
            del group.transports[transport]
        if not group.members:
            del groups[key]  # type: ignore[union-attr]
            if not groups:
                del self._groups[member.tenant]

    def unsubscribe(self, member: Member) -> None:
        """Alias of :meth:`leave`."""
        self.leave(member)

    async def backlog(
        self, tenant: str, patterns: Sequence[TopicPattern], after_id: int, upto: int
    ) -> list[ChangeEvent]:
        """Read missed rows ``(after_id, upto]`` of ``tenant``: the first non-empty page that holds rows
        matching ``patterns`` (it may hold others too; the last row is the new cursor), or ``[]``.

        Raises:
            CursorExpired: Rows after ``after_id`` were pruned (``fetch`` checks the retained edge in
                the same read transaction, so rows pruned under a replaying stream end it loudly
                instead of leaving a silent gap).
        """
        cursor = after_id
        while cursor < upto:
            rows = await anyio.to_thread.run_sync(
                functools.partial(
                    self._fetch, cursor, limit=self.batch, upto=upto, tenant=tenant, check_edge=True
                )
            )
            if not rows:
                return []
            if any(p.matches(r.topic) for r in rows for p in patterns):
                return rows
            cursor = rows[-1].id
        return []

    def fan_out(self, rows: Sequence[ChangeEvent], *, seen: float | None = None) -> None:
        """Offer committed rows (oldest first, all newer than :attr:`last_id`) to the members.

        Args:
            rows: The rows.
            seen: ``time.monotonic()`` when the hub learned of the first commit (default: now), the start
                of the delivery latency reported to ``on_deliver``.
        """
        on_deliver = self.on_deliver
        counts: dict[str, int] | None = None
        if on_deliver is not None:
            counts = {}
            if seen is None:
                seen = time.monotonic()
        by_tenant: defaultdict[str, list[ChangeEvent]] = defaultdict(list)
        for event in rows:
            by_tenant[event.tenant].append(event)
        for tenant, events in by_tenant.items():
            groups = self._groups.get(tenant)
            if not groups:
                continue
            for group in tuple(groups.values()):
                matched = [e for e in events if group.matches(e.topic)]
                if not matched:
                    continue
                batch = Batch(matched)
                self.delivered_batches += 1
                for member in tuple(group.members):
                    try:
                        member.offer(batch)
                    except Exception:  # one broken member never stops the others
                        log.exception("change hub: a member failed to take a batch; removing it")
                        self.leave(member)
                if counts is not None:  # per group and transport, never per member
                    for transport, members in group.transports.items():
                        counts[transport] = counts.get(transport, 0) + members * len(matched)
        if rows:
            self.last_id = max(self.last_id, rows[-1].id)
        if on_deliver is not None and counts and seen is not None:
            try:
                on_deliver(counts, max(0.0, time.monotonic() - seen))
            except Exception:  # metrics never break delivery
                log.exception("change hub: on_deliver failed")

    async def _run(self) -> None:
        interval = self.poll_min
        while True:
            if not self._count:
                self._wake.clear()
                await self._wake.wait()
                interval = self.poll_min
                self._seen = None  # announced while no one listened: not a delivery's start
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            seen, self._seen = self._seen, None  # commits announced from here on belong to the next read
            try:
                rows = await anyio.to_thread.run_sync(lambda: self._fetch(self.last_id, limit=self.batch))
            except Exception as exc:
                log.warning("change hub: reading the log failed (%s); retrying", exc)
                interval = min(max(interval * 2, self.poll_min), self.poll_max)
                continue
            self.ticks += 1
            rows = [r for r in rows if r.id > self.last_id]
            if rows:
                self.fan_out(rows, seen=seen)
                interval = self.poll_min
                if len(rows) >= self.batch:
                    self._wake.set()
            else:
                interval = min(interval * 2, self.poll_max)
