"""Query snapshots recorded off the request path.

A named query is a read: it runs in one read transaction and never writes (reads never take the write
lock). When its result differs from the latest recorded snapshot of its key — (tenant, query, canonical
parameters), :func:`~codex.repositories.reactivity.snapshot_key` — the result is *offered* here; a
background task records the newest offered result per (tenant, key) through the store's write gate,
coalescing the offers that arrive between two rounds: a round is one write transaction per tenant
(at most :data:`ROUND_MAX` keys each), so a hot query costs at most one small write per key and round
whatever its read rate, and many distinct keys do not queue one transaction each before the mutations. Recording writes
only when the digest changed and prunes each key to its last
:data:`~codex.repositories.reactivity.KEEP_VERSIONS` snapshots and versions. The response announces the
version the recording will give.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from codex.repositories.reactivity import QuerySnapshotRepository
from codex.store import Store

__all__ = ["ROUND_MAX", "SnapshotRecorder"]

log = logging.getLogger("codex.api")

ROUND_MAX = 200
"""Most snapshot keys recorded in one write transaction."""


@dataclass(frozen=True, slots=True)
class _Offer:
    tenant: str
    key: str
    result: Any


class SnapshotRecorder:
    """Records offered query results in the background, newest per (tenant, key), one round every
    ``interval`` s.

    Args:
        store: The store to record into.
        interval: Seconds between rounds (offers within one round are coalesced per tenant and key).
    """

    def __init__(self, store: Store, *, interval: float = 0.05) -> None:
        self.store, self.interval = store, interval
        self._pending: dict[tuple[str, str], _Offer] = {}
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

    def offer(self, tenant: str, key: str, result: Any) -> None:
        """Offer a changed result for recording (thread-safe; the newest offer per (tenant, key) wins).

        Args:
            tenant: The tenant that ran the query.
            key: The snapshot key: the query and its canonical parameters
                (:func:`~codex.repositories.reactivity.snapshot_key`).
            result: The query's result (JSON).
        """
        self._pending[(tenant, key)] = _Offer(tenant, key, result)
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
            tenant = next(iter(self._pending))[0]
            batch = [k for k in self._pending if k[0] == tenant][:ROUND_MAX]
            offers = [self._pending.pop(k) for k in batch]
            try:
                await self.store.write_gate.run(self._record, tenant, offers)
                self.recorded += len(offers)
            except Exception as exc:  # a snapshot is a cache of a read: never fail the server for it
                log.warning(
                    "recording %d snapshot(s) of tenant %s (%s, ...) failed: %s",
                    len(offers),
                    tenant,
                    offers[0].key,
                    exc,
                )

    def _record(self, tenant: str, offers: list[_Offer]) -> None:
        def work(conn: Connection) -> None:
            QuerySnapshotRepository(conn, tenant).record_results({o.key: o.result for o in offers})

        self.store.run_write(work, tenant=tenant)
