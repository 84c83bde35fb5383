"""What the app's lifespan owns: the Store, the change hub, the bookkeeper, the registries and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from codex.api.bookkeeping import Bookkeeper
from codex.api.live import LiveQueries
from codex.api.registry import Registry
from codex.api.snapshots import SnapshotRecorder
from codex.config import CodexSettings
from codex.reactive.feed import ChangeEvent, read_changes
from codex.reactive.hub import ChangeHub, OnDeliver
from codex.repositories.changelog import ChangeLogRepository
from codex.store import Store

__all__ = ["AppState", "make_hub"]


@dataclass
class AppState:
    """Shared by every request (``request.app.state.codex``)."""

    store: Store
    settings: CodexSettings
    registry: Registry
    hub: ChangeHub
    snapshots: SnapshotRecorder
    book: Bookkeeper
    """Open streams (in memory, mirrored in the background), stream caps and token use."""
    live: LiveQueries
    """Live queries (one evaluation per change and key, shared by its subscribers)."""
    extras: dict[str, Any] = field(default_factory=dict)
    read_limiter: anyio.CapacityLimiter | None = None
    """Bounds the worker threads running named queries (``read_threads``)."""

    def readers(self) -> anyio.CapacityLimiter:
        """The query limiter (made on first use, inside the running event loop)."""
        if self.read_limiter is None:
            self.read_limiter = anyio.CapacityLimiter(self.settings.read_threads)
        return self.read_limiter


def make_hub(store: Store, settings: CodexSettings, *, on_deliver: OnDeliver | None = None) -> ChangeHub:
    """A change hub reading ``store`` (one read per tick; reads run in worker threads).

    Args:
        store: The store whose change log the hub reads.
        settings: Poll intervals and the per-stream buffer.
        on_deliver: Told what each tick handed to the members (the app's metrics); see :data:`OnDeliver`.
    """

    def fetch(
        after_id: int,
        *,
        limit: int,
        upto: int | None = None,
        tenant: str | None = None,
        check_edge: bool = False,
    ) -> list[ChangeEvent]:
        store.sync_if_older(settings.poll_min_seconds)  # a replica sees other servers' commits after a sync
        with store.connect() as conn:
            return read_changes(conn, after_id, limit=limit, upto=upto, tenant=tenant, check_edge=check_edge)

    def head() -> int:
        with store.connect() as conn:
            return ChangeLogRepository(conn).head()

    return ChangeHub(
        fetch,
        head,
        poll_min=settings.poll_min_seconds,
        poll_max=settings.poll_max_seconds,
        buffer=settings.client_buffer,
        on_deliver=on_deliver,
    )
