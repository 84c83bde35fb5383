"""Bookkeeping kept off the request path: open streams, stream caps, token use, server liveness.

* **Open streams live in memory.** An SSE response or a WebSocket subscription registers a
  :class:`StreamEntry` when it opens and removes it when it ends, on every path: both are plain
  dictionary operations, so a cancelled task (a client gone, a server shutting down) cannot skip the
  removal the way it skips an ``await`` in a ``finally``. Subscribing therefore never writes to the
  database while the client waits.
* **The database mirrors them, in the background.** Every ``bookkeeping_seconds`` one write
  transaction (through the store's write gate) applies what changed since the last round to
  ``codex_subscriptions``: new streams upserted (each row in its subscriber's tenant), ended ones
  deleted (a stream opened and closed within one round is never written at all). Rows are keyed
  ``<server id>:<stream id>``, so ids chosen by clients (WebSocket subscription ids, which are per
  connection) never collide across connections or tenants; the client's id is kept in the row's filter.
  The server's own rows — its heartbeat, the deletes, the sweep — are operator housekeeping
  (``SubscriptionRepository.unscoped``).
* **Dead servers are swept.** While it has rows, a server refreshes its heartbeat row (hint
  ``server``, the database's clock) every third of ``server_ttl_seconds``; at startup and then every
  ``server_ttl_seconds`` each server deletes the rows of servers not seen for that long (and rows
  of earlier versions, which wrote no heartbeat). A clean shutdown deletes the server's own rows.
* **Caps.** Open streams are capped per token and per tenant (``max_streams_per_token``,
  ``max_streams_per_tenant``): one more is 429 with ``Retry-After``.
* **Token use.** Each authenticated request notes its token; ``last_used_at`` is written in the same
  background round, at most once per ``token_touch_seconds`` per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import sqlalchemy as sa

from codex.api.errors import ApiError
from codex.config import CodexSettings
from codex.reactive.patterns import TopicPattern
from codex.repositories.subscriptions import SubscriptionRepository
from codex.repositories.tenancy import TokenRepository
from codex.store import Store

__all__ = ["Bookkeeper", "StreamEntry", "StreamKind"]

log = logging.getLogger("codex.api")

StreamKind = Literal["sse", "websocket"]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One open stream: an SSE response or one subscription of a WebSocket connection."""

    id: str
    """``<server id>:<random hex>``: the row id in ``codex_subscriptions``."""
    kind: StreamKind
    tenant: str
    token_id: int
    pattern: TopicPattern
    client_id: str | None = None
    """The id the WebSocket client chose for the subscription (unique per connection only)."""

    def row(self, server_id: str) -> tuple[str, str, dict[str, Any], str]:
        """``(id, topic, filter, client_hint)`` for :meth:`SubscriptionRepository.upsert_many`."""
        filter_: dict[str, Any] = {"pattern": self.pattern.text, "tenant": self.tenant, "server": server_id}
        if self.client_id is not None:
            filter_["client_id"] = self.client_id
        return (self.id, self.pattern.fixed or "all", filter_, self.kind)


@dataclass
class _Round:
    """What one background round writes (taken from the pending state under the lock)."""

    adds: dict[str, StreamEntry] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    tokens: set[int] = field(default_factory=set)
    heartbeat: bool = False
    sweep: bool = False


class Bookkeeper:
    """The server's stream registry and its background writer (see the module docstring).

    Args:
        store: The store to mirror into.
        settings: Caps and intervals (``max_streams_per_*``, ``bookkeeping_seconds``,
            ``token_touch_seconds``, ``server_ttl_seconds``).
        server_id: This server's id (default: random).
    """

    def __init__(self, store: Store, settings: CodexSettings, *, server_id: str | None = None) -> None:
        self.store, self.settings = store, settings
        self.server_id = server_id or uuid.uuid4().hex[:16]
        self._lock = threading.Lock()
        self._live: dict[str, StreamEntry] = {}
        self._by_token: Counter[int] = Counter()
        self._by_tenant: Counter[str] = Counter()
        self._to_add: dict[str, StreamEntry] = {}
        self._to_delete: set[str] = set()
        self._written: set[str] = set()
        self._inflight: set[str] = set()
        self._tokens_due: set[int] = set()
        self._touched: dict[int, float] = {}
        self._last_heartbeat = -1e18
        self._last_sweep = -1e18
        self._wrote = False
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.swept = 0

    # -- streams (called on the event loop; plain memory operations) ---------------------------------
    def open_stream(
        self,
        kind: StreamKind,
        tenant: str,
        token_id: int,
        pattern: TopicPattern,
        client_id: str | None = None,
    ) -> StreamEntry:
        """Register an opening stream.

        Raises:
            ApiError: 429 ``TooManyStreams`` when the token or the tenant is at its cap.
        """
        with self._lock:
            if self._by_token[token_id] >= self.settings.max_streams_per_token:
                raise ApiError(
                    429,
                    "TooManyStreams",
                    f"this token has {self._by_token[token_id]} open streams, the most allowed; close one "
                    "first",
                    limit=self.settings.max_streams_per_token,
                    retry_after=5,
                )
            if self._by_tenant[tenant] >= self.settings.max_streams_per_tenant:
                raise ApiError(
                    429,
                    "TooManyStreams",
                    f"the tenant has {self._by_tenant[tenant]} open streams on this server, the most "
                    "allowed; close one first",
                    limit=self.settings.max_streams_per_tenant,
                    retry_after=5,
                )
            entry = StreamEntry(
                f"{self.server_id}:{uuid.uuid4().hex}", kind, tenant, token_id, pattern, client_id
            )
            self._live[entry.id] = entry
            self._by_token[token_id] += 1
            self._by_tenant[tenant] += 1
            self._to_add[entry.id] = entry
        return entry

    def close_stream(self, entry: StreamEntry) -> None:
        """Unregister a stream (idempotent; never waits, so it is safe in any ``finally``)."""
        with self._lock:
            if self._live.pop(entry.id, None) is None:
                return
            self._by_token[entry.token_id] -= 1
            if self._by_token[entry.token_id] <= 0:
                del self._by_token[entry.token_id]
            self._by_tenant[entry.tenant] -= 1
            if self._by_tenant[entry.tenant] <= 0:
                del self._by_tenant[entry.tenant]
            if self._to_add.pop(entry.id, None) is None and (
                entry.id in self._written or entry.id in self._inflight
            ):
                self._to_delete.add(entry.id)

    def open_streams(self, *, tenant: str | None = None, token_id: int | None = None) -> int:
        """How many streams are open on this server (optionally of one tenant or token)."""
        with self._lock:
            if tenant is not None:
                return self._by_tenant[tenant]
            if token_id is not None:
                return self._by_token[token_id]
            return len(self._live)

    # -- token use (called from request threads) ----------------------------------------------------
    def token_used(self, token_id: int) -> None:
        """Note a use of a token; ``last_used_at`` follows in a background round (throttled)."""
        now = time.monotonic()
        last = self._touched.get(token_id)
        if last is not None and now - last < self.settings.token_touch_seconds:
            return
        with self._lock:
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[token_id] = now
            self._tokens_due.add(token_id)

    # -- background -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Sweep the rows of dead servers once, then start the periodic rounds."""
        self._last_sweep = -1e18
        await self.flush()
        self._task = asyncio.create_task(self._run(), name="codex-bookkeeping")

    async def stop(self) -> None:
        """Stop the rounds and delete this server's rows (a clean shutdown leaves none behind)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with self._lock:
            self._live.clear()
            self._by_token.clear()
            self._by_tenant.clear()
            self._to_add.clear()
            tokens, self._tokens_due = self._tokens_due, set()
            wrote, self._wrote = self._wrote, False
        if not (wrote or tokens):
            return  # nothing of this server is in the database
        try:
            await self.store.write_gate.run(self._goodbye, tokens)
        except Exception as exc:  # the rows are swept by the other servers later
            log.warning("bookkeeping: removing this server's rows failed (%s)", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.bookkeeping_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Run one round now: write what changed since the last one (nothing when nothing did)."""
        work = self._take()
        if work is None:
            return
        try:
            stale = await anyio.to_thread.run_sync(self._stale) if work.sweep else 0
            if work.sweep and not stale and not (work.adds or work.deletes or work.tokens or work.heartbeat):
                self._done(work, ok=True)
                return
            self._wrote = True
            await self.store.write_gate.run(self._write, work, stale > 0)
        except Exception as exc:  # bookkeeping never fails a stream: retry in the next round
            log.warning("bookkeeping round failed (%s); retrying", exc)
            self._done(work, ok=False)
            return
        self._done(work, ok=True)

    def _take(self) -> _Round | None:
        now = time.monotonic()
        ttl = self.settings.server_ttl_seconds
        with self._lock:
            has_rows = bool(self._written or self._to_add)
            work = _Round(
                adds=self._to_add,
                deletes=self._to_delete,
                tokens=self._tokens_due,
                heartbeat=has_rows and now - self._last_heartbeat >= ttl / 3,
                sweep=now - self._last_sweep >= ttl,
            )
            if not (work.adds or work.deletes or work.tokens or work.heartbeat or work.sweep):
                return None
            if work.adds:
                work.heartbeat = True  # rows without a live heartbeat would be swept by other servers
            self._to_add, self._to_delete, self._tokens_due = {}, set(), set()
            self._inflight = set(work.adds)
            if work.heartbeat:
                self._last_heartbeat = now
            if work.sweep:
                self._last_sweep = now
            return work

    def _done(self, work: _Round, *, ok: bool) -> None:
        with self._lock:
            self._inflight = set()
            if ok:
                self.rounds += 1
                self._written |= set(work.adds)
                self._written -= work.deletes
                return
            for entry_id, entry in work.adds.items():
                if entry_id in self._live:
                    self._to_add.setdefault(entry_id, entry)
            self._to_delete |= work.deletes
            self._tokens_due |= work.tokens
            if work.heartbeat:
                self._last_heartbeat = -1e18
            if work.sweep:
                self._last_sweep = -1e18

    def _stale(self) -> int:
        """Rows of dead servers (a read: the round writes only when there is something to delete)."""
        with self.store.connect() as conn:  # operator housekeeping: every tenant's rows
            return SubscriptionRepository.unscoped(conn).dead_rows(self.settings.server_ttl_seconds)

    def _write(self, work: _Round, sweep: bool) -> None:
        by_tenant: dict[str, list[StreamEntry]] = {}
        for entry in work.adds.values():
            by_tenant.setdefault(entry.tenant, []).append(entry)

        def unit(conn: sa.Connection) -> None:
            # The server's own rows (heartbeat, ends of its streams, sweeping dead servers) are operator
            # housekeeping; a stream's row is written in its subscriber's tenant.
            housekeeping = SubscriptionRepository.unscoped(conn)
            if work.heartbeat:
                housekeeping.heartbeat(self.server_id, {"host": socket.gethostname(), "pid": os.getpid()})
            for tenant, entries in by_tenant.items():
                SubscriptionRepository(conn, tenant).upsert_many(e.row(self.server_id) for e in entries)
            if work.deletes:
                housekeeping.delete_many(work.deletes)
            if work.tokens:
                TokenRepository(conn).touch_many(work.tokens)
            if sweep:
                self.swept += housekeeping.sweep(self.settings.server_ttl_seconds)

        self.store.run_write(unit)

    def _goodbye(self, tokens: set[int]) -> None:
        def unit(conn: sa.Connection) -> None:
            SubscriptionRepository.unscoped(conn).forget_server(self.server_id)
            TokenRepository(conn).touch_many(tokens)

        self.store.run_write(unit)
        with self._lock:
            self._written.clear()
            self._to_delete.clear()
