"""The Store: engines for one configured database, and the transaction scopes services use.

The caller owns the transaction::

    store = open_store()
    with store.begin() as conn:            # BEGIN IMMEDIATE: one write transaction
        chat = ChatRepository(conn)
        conv = chat.create_conversation(title="hello")
        chat.append_message(conv.id, role="user", text="hi")
    with store.connect() as conn:          # reads: BEGIN DEFERRED, never takes the write lock
        ChatRepository(conn).list_messages(conv.id)

Nested scopes inside a write transaction use savepoints (``with conn.begin_nested(): …``).
Repositories never commit on their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Literal

import sqlalchemy as sa

from codex.config import DbConfig, environ_with_file, resolve_db_config
from codex.engine import READ_ONLY, make_engine, sync_replica, translate_db_error
from codex.migrate import (
    VerifyReport,
    bootstrap,
    check_not_ahead,
    head_schema_version,
    upgrade,
    verify_database,
)

__all__ = ["LAST_CHANGE_KEY", "Store", "open_store"]

LAST_CHANGE_KEY = "codex_last_change_id"
"""``conn.info`` key set by ``ChangeLogRepository.append``: the transaction wrote change rows."""

Migrate = Literal["head", "baseline", "none"]


class Store:
    """One database: a write engine (one connection per process on a local file) and a read engine.

    Args:
        config: Where the database is.
        busy_timeout_ms: How long a local writer waits for the lock.
    """

    def __init__(self, config: DbConfig, *, busy_timeout_ms: int = 5000) -> None:
        self.config = config
        self.engine = make_engine(config, role="write", busy_timeout_ms=busy_timeout_ms)
        if config.mode == "local":
            self.read_engine = make_engine(config, role="read", busy_timeout_ms=busy_timeout_ms)
        else:
            self.read_engine = self.engine
        self.commit_listeners: list[Callable[[], None]] = []
        """Called (in the committing thread) after a commit that appended change-log rows."""

    @contextmanager
    def begin(self, *, tenant: str | None = None) -> Iterator[sa.Connection]:
        """A connection inside a write transaction (``BEGIN IMMEDIATE``); commits on success.

        Args:
            tenant: The tenant that owns the change-log rows written in this transaction (the HTTP
                layer sets it; library use leaves it unset = tenant ``default``).

        Database errors that escape the block are translated to the Codex error tree. After a
        commit that appended change-log rows, the commit listeners run (live streams wake up).
        """
        changed = False
        try:
            with self.engine.begin() as conn:
                conn.info.pop(LAST_CHANGE_KEY, None)
                if tenant is not None:
                    conn.execution_options(codex_tenant=tenant)
                try:
                    yield conn
                    changed = conn.info.pop(LAST_CHANGE_KEY, None) is not None
                finally:
                    conn.info.pop(LAST_CHANGE_KEY, None)
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc
        if changed:
            for listener in tuple(self.commit_listeners):
                listener()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A read connection: its transactions are ``BEGIN DEFERRED`` and take no write lock."""
        try:
            with self.read_engine.connect() as conn:
                yield conn.execution_options(**READ_ONLY)
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def sync(self) -> bool:
        """Pull the primary into an embedded replica; False (and nothing done) for other modes."""
        return sync_replica(self.engine)

    def upgrade(self, target: str = "head") -> None:
        """Run ``alembic upgrade <target>`` on this database."""
        with self.engine.connect() as conn:
            upgrade(conn, target)

    def verify(self) -> VerifyReport:
        """Compare the database with the code's head (see ``codex db verify``)."""
        with self.connect() as conn:
            return verify_database(conn)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()


def open_store(
    config: DbConfig | None = None, *, migrate: Migrate = "head", busy_timeout_ms: int = 5000
) -> Store:
    """Open the configured database.

    Args:
        config: Where the database is; resolved from the environment (and config file) when None.
        migrate: ``"head"`` runs ``alembic upgrade head`` (the default: a ready-to-use store);
            ``"baseline"`` only baselines an empty database and refuses one that is ahead;
            ``"none"`` touches nothing.
        busy_timeout_ms: How long a local writer waits for the lock.

    Returns:
        The :class:`Store`.

    Raises:
        SchemaError: The database is ahead of the code, carries a legacy chain, or is a non-empty
            database that is not the baseline.
        DatabaseUnavailable: The database cannot be reached.

    Example:
        >>> from codex.config import DbConfig
        >>> with open_store(DbConfig("memory")) as store:
        ...     store.verify().ok
        True
    """
    store = Store(config or resolve_db_config(environ_with_file(os.environ)), busy_timeout_ms=busy_timeout_ms)
    try:
        if migrate == "head":
            with store.engine.begin() as conn:
                check_not_ahead(conn, head_schema_version())
            store.upgrade("head")
        elif migrate == "baseline":
            bootstrap(store.engine)
    except BaseException:
        store.dispose()
        raise
    return store
