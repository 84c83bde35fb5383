"""An embedded replica's freshness: when this server last synced it, and how far the primary is ahead.

The tracker opens one engine on the primary the first time it is asked (one connection), and the app's
lifespan disposes it on shutdown.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from pydantic import BaseModel, Field

from codex.api.state import AppState
from codex.config import RemoteDb, ReplicaDb
from codex.engine import make_engine
from codex.errors import CodexError, ConfigError
from codex.repositories._base import sql_timestamp
from codex.repositories.changelog import ChangeLogRepository

__all__ = ["ReplicaState", "ReplicaTracker"]


class ReplicaState(BaseModel):
    """An embedded replica's freshness."""

    local_head: int | None = Field(description="Newest change-log id in the replica.")
    primary_head: int | None = Field(description="Newest change-log id on the primary (None: unreachable).")
    lag_changes: int | None = Field(description="Change-log rows the replica has not pulled yet.")
    last_sync_at: str | None = Field(description="When this server last synced the replica (UTC).")
    seconds_since_sync: float | None
    error: str | None = None


class ReplicaTracker:
    """When this server last synced its embedded replica, and a lazily opened primary engine."""

    def __init__(self) -> None:
        self.last_sync: datetime | None = None
        self._primary: sa.Engine | None = None
        self._lock = threading.Lock()

    def primary(self, config: ReplicaDb) -> sa.Engine:
        """The engine on the replica's primary (opened on first use, one connection)."""
        with self._lock:
            if self._primary is None:
                remote = RemoteDb(config.url, config.token, source=config.source)
                self._primary = make_engine(remote, pool_size=1, max_overflow=0)
            return self._primary

    def dispose(self) -> None:
        """Close the primary engine (the app's shutdown); a later call opens a new one."""
        with self._lock:
            if self._primary is not None:
                self._primary.dispose()
                self._primary = None

    def state(self, app_state: AppState) -> ReplicaState:
        """Read both change-log heads now (the primary's error, if any, is reported, not raised)."""
        store = app_state.store
        with store.connect() as conn:
            local = ChangeLogRepository(conn).head()
        primary: int | None = None
        error: str | None = None
        config = store.config
        try:
            if config.mode != "replica":
                raise ConfigError(f"the database is {config.mode}, not an embedded replica")
            with self.primary(config).connect() as conn:
                primary = ChangeLogRepository(conn).head()
        except ConfigError as exc:
            error = exc.message
        except (CodexError, sa.exc.SQLAlchemyError) as exc:
            error = f"the primary did not answer: {getattr(exc, 'message', None) or type(exc).__name__}"
        since = None if self.last_sync is None else (datetime.now(UTC) - self.last_sync).total_seconds()
        return ReplicaState(
            local_head=local,
            primary_head=primary,
            lag_changes=None if primary is None else max(0, primary - local),
            last_sync_at=None if self.last_sync is None else sql_timestamp(self.last_sync),
            seconds_since_sync=None if since is None else round(since, 3),
            error=error,
        )
