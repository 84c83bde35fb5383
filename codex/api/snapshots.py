"""Query snapshots recorded off the request path.

A named query is a read: it runs in one read transaction and never writes (reads never take the write
lock). When its result differs from the latest recorded snapshot, the result is *offered* here; a
background task records the newest offered result per query name through the store's write gate,
coalescing the offers that arrive between two rounds (so a hot query costs at most one small write per
round, whatever its read rate). The response announces the version the recording will give.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import anyio

from codex.repositories.reactivity import QuerySnapshotRepository
from codex.store import Store

__all__ = ["SnapshotRecorder"]

log = logging.getLogger("codex.api")


@dataclass(frozen=True, slots=True)
class _Offer:
    tenant: str
    result: Any


class SnapshotRecorder:
    """Records offered query results in the background, newest per name, one round every ``interval`` s.

    Args:
        store: The store to record into.
        interval: Seconds between rounds (offers within one round are coalesced per name).
    """

    def __init__(self, store: Store, *, interval: float = 0.05) -> None:
        self.store, self.interval = store, interval
        self._pending: dict[str, _Offer] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recorded = 0

    async def start(self) -> None:
        """Start the background task."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="codex-snapshot-recorder")

    async def stop(self) -> None:
        """Record what is pending, then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush()

    def offer(self, query_name: str, tenant: str, result: Any) -> None:
        """Offer a changed result for recording (thread-safe; the newest offer per name wins)."""
        self._pending[query_name] = _Offer(tenant, result)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # let offers of the same round coalesce
            await self._flush()

    async def _flush(self) -> None:
        while self._pending:
            name = next(iter(self._pending))
            offer = self._pending.pop(name)
            try:
                async with self.store.write_gate.turn():
                    await anyio.to_thread.run_sync(self._record, name, offer)
                self.recorded += 1
            except Exception as exc:  # a snapshot is a cache of a read: never fail the server for it
                log.warning("recording the snapshot of %s failed: %s", name, exc)

    def _record(self, name: str, offer: _Offer) -> None:
        self.store.run_write(
            lambda conn: QuerySnapshotRepository(conn).record_result(name, offer.result), tenant=offer.tenant
        )
