"""The write gate: a bounded number of write transactions in flight per process.

libSQL's driver holds the GIL while it waits for a lock or for the network
(``docs/reference/libsql-runtime.md``): a thread that waits inside the driver for another transaction of the *same*
process stalls every thread, including the one that would commit and release the lock. On a remote
primary two concurrent writers of one process therefore deadlock until the server times one of them
out. The gate makes that impossible: a writer waits for its turn **here**, in Python (which releases
the GIL), before it checks out a connection, and gives up after ``timeout`` seconds with
:class:`~codex.errors.DatabaseBusy` (nothing was sent to the database).

Two doors, one count: :meth:`WriteGate.hold` for threads (``Store.begin``); :meth:`WriteGate.run`,
the *write lane*, for the event loop: one thread runs the units of work of the loop's requests back to
back, so a request waiting for its turn holds no worker thread, and the event loop (busy with every
other request) is not on the path from one write to the next. :meth:`WriteGate.run_grouped` lets the
lane hand the jobs queued together to one call (``Store.write`` runs them in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from codex.engine._hostlock import HostLock
from codex.errors import DatabaseBusy

__all__ = ["MAX_GROUP", "GroupRunner", "Outcome", "WriteGate"]

T = TypeVar("T")

Outcome = tuple[Any, BaseException | None]
"""What a grouped job came to: its result, or the error it raised."""
GroupRunner = Callable[[list[Any]], list[Outcome]]
"""Runs the items of the jobs queued together and returns their outcomes, in order."""

MAX_GROUP = 32
"""Most jobs handed to one call of a :data:`GroupRunner`."""


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request went away (its client disconnected)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class WriteGate:
    """At most ``slots`` write transactions at once in this process.

    Args:
        slots: Write transactions allowed in flight (1 for a local file and for a remote primary).
        timeout: Seconds a writer waits for its turn before :class:`DatabaseBusy`.
        host_lock: Also take turns with the other processes of this machine that write to the same
            database (:mod:`codex.engine._hostlock`); needs ``slots == 1``.
    """

    def __init__(self, slots: int = 1, timeout: float = 5.0, host_lock: HostLock | None = None) -> None:
        if slots < 1:
            raise ValueError("a write gate needs at least one slot")
        if host_lock is not None and slots != 1:
            raise ValueError("a host lock is held by one writer of a process at a time: use one slot")
        self.slots, self.timeout, self.host_lock = slots, timeout, host_lock
        self._sem = threading.BoundedSemaphore(slots)
        self._local = threading.local()
        self._lane: queue.SimpleQueue[tuple[Any, ...] | None] | None = None
        self._lane_lock = threading.Lock()
        self.waits = 0
        self.refusals = 0

    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

    @contextlib.contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold a slot for the calling thread (re-entrant: a nested write in the same thread passes).

        Raises:
            DatabaseBusy: No slot within ``timeout`` seconds.
        """
        depth = self._depth()
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        wait = self.timeout if timeout is None else timeout
        if not self._sem.acquire(blocking=False):
            self.waits += 1
            started = time.monotonic()
            if not self._sem.acquire(timeout=wait):
                self.refusals += 1
                raise DatabaseBusy(
                    f"no write slot within {wait:g} s ({self.slots} write transaction(s) in flight per "
                    "process); nothing was written, retry shortly",
                    waited_s=round(time.monotonic() - started, 3),
                    retry_after=1,
                )
        try:
            if self.host_lock is not None:
                self.host_lock.acquire(wait)
        except BaseException:
            self._sem.release()
            raise
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            if self.host_lock is not None:
                self.host_lock.release()
            self._sem.release()

    # -- the write lane ------------------------------------------------------------------------------
    async def run(self, work: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``work(*args)`` on the write lane and return its result (or raise its error).

        The lane is one thread that takes the jobs in order and runs each under :meth:`hold`; the
        awaiting request holds no thread. A job that has not started within ``timeout`` seconds
        (default: the gate's) is refused with :class:`DatabaseBusy` when its turn comes, so a request
        answered 503 never writes later. A job whose request was cancelled before it started is
        skipped; one that started runs to its end (its commit is not taken back).
        """
        return await self._enqueue(None, (work, args), timeout)  # type: ignore[no-any-return]

    async def run_grouped(self, runner: GroupRunner, item: Any, *, timeout: float | None = None) -> Any:
        """As :meth:`run`, but the lane hands this job's ``item`` to ``runner`` together with the items
        of the jobs with the same ``runner`` queued right behind it (up to :data:`MAX_GROUP`), in one
        call under one :meth:`hold`; each job gets its own outcome. A write lane under load then pays
        for one transaction per group instead of one per job."""
        return await self._enqueue(runner, item, timeout)

    async def _enqueue(self, runner: GroupRunner | None, item: Any, timeout: float | None) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        wait = self.timeout if timeout is None else timeout
        self._lane_queue().put((runner, item, loop, future, time.monotonic() + wait, wait))
        return await future

    def _lane_queue(self) -> queue.SimpleQueue[tuple[Any, ...] | None]:
        with self._lane_lock:
            if self._lane is None:
                self._lane = queue.SimpleQueue()
                threading.Thread(
                    target=self._lane_loop, args=(self._lane,), name="codex-write-lane", daemon=True
                ).start()
            return self._lane

    def _lane_loop(self, jobs: queue.SimpleQueue[tuple[Any, ...] | None]) -> None:
        carried: list[tuple[Any, ...] | None] = []  # a job taken while grouping, of another kind: next
        while True:
            job = carried.pop() if carried else jobs.get()
            if job is None:
                return
            group = [job]
            while job[0] is not None and len(group) < MAX_GROUP:
                try:
                    follower = jobs.get_nowait()
                except queue.Empty:
                    break
                if follower is None or follower[0] != job[0]:
                    carried.append(follower)
                    break
                group.append(follower)
            self._run_jobs(group)

    def _run_jobs(self, group: list[tuple[Any, ...]]) -> None:
        """Run one job, or one group of jobs with the same runner, and settle their futures."""
        live: list[tuple[Any, ...]] = []
        outcomes: list[Outcome] = []
        for job in group:
            _, _, loop, future, deadline, wait = job
            if future.done():  # its request went away before it started
                continue
            if time.monotonic() > deadline:
                self.refusals += 1
                busy = DatabaseBusy(
                    f"no write turn within {wait:g} s; nothing was written, retry shortly", retry_after=1
                )
                self._settle(loop, future, (None, busy))
                continue
            live.append(job)
        if not live:
            return
        runner = live[0][0]
        try:
            left = max(0.0, min(job[4] for job in live) - time.monotonic())
            with self.hold(timeout=left):
                if runner is None:
                    work, args = live[0][1]
                    outcomes = [(work(*args), None)]
                else:
                    outcomes = runner([job[1] for job in live])
        except BaseException as exc:  # handed to every awaiting request
            outcomes = [(None, exc)] * len(live)
        for job, outcome in zip(live, outcomes, strict=True):
            self._settle(job[2], job[3], outcome)

    @staticmethod
    def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], outcome: Outcome) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, *outcome)

    def close(self) -> None:
        """Stop the write lane's thread after the jobs already queued."""
        with self._lane_lock:
            lane, self._lane = self._lane, None
        if lane is not None:
            lane.put(None)
