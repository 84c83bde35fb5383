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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Literal, TypeVar

import sqlalchemy as sa

from codex.config import DbConfig, environ_with_file, resolve_db_config
from codex.engine import (
    READ_ONLY,
    WRITE_CACHE,
    Outcome,
    WriteGate,
    host_lock_for,
    make_engine,
    sync_replica,
    translate_db_error,
)
from codex.errors import DatabaseUnavailable
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
T = TypeVar("T")


class Store:
    """One database: a write engine (one connection per process on a local file) and a read engine.

    Args:
        config: Where the database is.
        busy_timeout_ms: How long a local writer waits for the lock.
        write_slots: Write transactions in flight at once in this process.
        host_lock: With one slot, also take turns with the other processes of this machine that write
            to the same database (:mod:`codex.engine._hostlock`), instead of in SQLite's busy handler.
    """

    def __init__(
        self, config: DbConfig, *, busy_timeout_ms: int = 5000, write_slots: int = 1, host_lock: bool = True
    ) -> None:
        self.config = config
        shared = host_lock and write_slots == 1 and config.mode != "memory"
        self.write_gate = WriteGate(
            write_slots,
            timeout=busy_timeout_ms / 1000,
            host_lock=host_lock_for(_database_name(config)) if shared else None,
        )
        """At most ``write_slots`` write transactions in flight in this process (see :mod:`codex.engine._gate`)."""
        self.engine = make_engine(config, role="write", busy_timeout_ms=busy_timeout_ms)
        if config.mode == "local":
            self.read_engine = make_engine(config, role="read", busy_timeout_ms=busy_timeout_ms)
        else:
            self.read_engine = self.engine
        self.last_sync = 0.0
        self.syncs = 0
        self.commit_listeners: list[Callable[[], None]] = []
        """Called (in the committing thread) after a commit that appended change-log rows."""

    @contextmanager
    def begin(self, *, tenant: str | None = None) -> Iterator[sa.Connection]:
        """A connection inside a write transaction (``BEGIN IMMEDIATE``); commits on success.

        Args:
            tenant: The tenant this transaction works for: repositories on it are bound to that tenant
                (rows, change-log rows and reads are scoped to it in SQL). The HTTP layer sets it;
                library use leaves it unset = tenant ``default``.

        The transaction waits for the process's write gate first (in Python, not inside the driver),
        and raises :class:`~codex.errors.DatabaseBusy` when no slot frees up in time. Database errors
        that escape the block are translated to the Codex error tree. On an embedded replica the
        replica is synced after the commit, so the writer reads its own write. After a commit that
        appended change-log rows, the commit listeners run (live streams wake up).
        """
        changed = False
        with self.write_gate.hold():
            try:
                with self.engine.begin() as conn:
                    conn.info.pop(LAST_CHANGE_KEY, None)
                    conn.info[WRITE_CACHE] = {}
                    if tenant is not None:
                        conn.execution_options(codex_tenant=tenant)
                    try:
                        yield conn
                        changed = conn.info.pop(LAST_CHANGE_KEY, None) is not None
                    finally:
                        conn.info.pop(LAST_CHANGE_KEY, None)
                        conn.info.pop(WRITE_CACHE, None)
            except sa.exc.DBAPIError as exc:
                raise translate_db_error(exc) from exc
            if self.config.mode == "replica":
                self.sync()  # read-your-writes: the local replica catches up with the primary's frame
        if changed:
            for listener in tuple(self.commit_listeners):
                listener()

    def run_write(
        self, work: Callable[[sa.Connection], T], *, tenant: str | None = None, retries: int = 2
    ) -> T:
        """Run ``work(conn)`` in a write transaction, retrying it when that is safe.

        A :class:`~codex.errors.DatabaseBusy` or :class:`~codex.errors.DatabaseUnavailable` raised
        **before the commit was sent** (a lock not granted, a stream or transaction the server ended, a
        connection refused) means nothing was committed: the whole unit of work runs again, up to
        ``retries`` more times with a short back-off. An error from the commit itself is never retried
        (the commit may have landed); it propagates with ``commit_sent=True`` in its details.

        Args:
            work: The unit of work; it may run more than once, so it must only touch the database.
            tenant: As for :meth:`begin`.
            retries: Extra attempts after the first.

        Returns:
            What ``work`` returned on the attempt that committed.
        """
        attempt = 0
        while True:
            committing = False
            try:
                with self.begin(tenant=tenant) as conn:
                    result = work(conn)
                    committing = True
                return result
            except DatabaseUnavailable as exc:
                if committing:  # the commit itself failed: it may have landed, never run the work again
                    raise type(exc)(exc.message, **{**exc.details, "commit_sent": True}) from exc
                if attempt >= retries:
                    raise
                attempt += 1
                time.sleep(0.05 * attempt)

    async def write(self, work: Callable[[sa.Connection], T], *, tenant: str | None = None) -> T:
        """Run ``work(conn)`` on the write lane, as :meth:`run_write` would, and return its result.

        The units queued on the lane together run in **one** write transaction (group commit), each
        inside its own savepoint and bound to its own tenant: a unit that raises is rolled back to its
        savepoint and gets its error; the others commit together. On a remote primary that turns two
        round trips per unit (``BEGIN``, ``COMMIT``), paid while holding the write lock, into two per
        group. The retry rules are :meth:`run_write`'s, for the group as a whole: a database error
        before the commit was sent runs every unit again; one from the commit reaches every unit that
        did not fail on its own, with ``commit_sent=True``.
        """
        result: T = await self.write_gate.run_grouped(self._run_units, (work, tenant))
        return result

    def _run_units(
        self, units: list[tuple[Callable[[sa.Connection], object], str | None]], retries: int = 2
    ) -> list[Outcome]:
        attempt = 0
        while True:
            outcomes: list[Outcome] = []
            committing = False
            try:
                with self.begin() as conn:
                    changed = None
                    for work, tenant in units:
                        outcomes.append(_run_unit(conn, work, tenant))
                        changed = conn.info.pop(LAST_CHANGE_KEY, None) or changed
                    conn.execution_options(codex_tenant=None)
                    if changed is not None:
                        conn.info[LAST_CHANGE_KEY] = changed  # the commit listeners run
                    committing = True
                return outcomes
            except DatabaseUnavailable as exc:
                if committing:  # the commit itself failed: it may have landed, never run the units again
                    lost = type(exc)(exc.message, **{**exc.details, "commit_sent": True})
                    return [(None, lost) if error is None else (result, error) for result, error in outcomes]
                if attempt >= retries:
                    raise
                attempt += 1
                time.sleep(0.05 * attempt)

    @contextmanager
    def connect(self, *, tenant: str | None = None) -> Iterator[sa.Connection]:
        """A read connection: its transactions are ``BEGIN DEFERRED`` and take no write lock.

        Args:
            tenant: The tenant whose rows repositories on this connection see (the HTTP layer sets it;
                library use leaves it unset = tenant ``default``).
        """
        options: dict[str, object] = dict(READ_ONLY)
        if tenant is not None:
            options["codex_tenant"] = tenant
        try:
            with self.read_engine.connect() as conn:
                yield conn.execution_options(**options)
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def sync(self) -> bool:
        """Pull the primary into an embedded replica; False (and nothing done) for other modes."""
        synced = sync_replica(self.engine)
        if synced:
            self.last_sync = time.monotonic()
            self.syncs += 1
        return synced

    def sync_if_older(self, seconds: float) -> bool:
        """Sync an embedded replica whose last sync is older than ``seconds`` (readers of other servers'
        writes call this before reading); False when nothing was done."""
        if self.config.mode != "replica" or time.monotonic() - self.last_sync < seconds:
            return False
        return self.sync()

    def replica_status(self) -> dict[str, float | int] | None:
        """For an embedded replica: the age of its last sync (ms) and the number of syncs; None otherwise."""
        if self.config.mode != "replica":
            return None
        age = (time.monotonic() - self.last_sync) * 1000 if self.syncs else -1.0
        return {"last_sync_age_ms": round(age, 1), "syncs": self.syncs}

    def upgrade(self, target: str = "head") -> None:
        """Run ``alembic upgrade <target>`` on this database."""
        with self.engine.connect() as conn:
            upgrade(conn, target)

    def verify(self) -> VerifyReport:
        """Compare the database with the code's head (see ``codex db verify``)."""
        with self.connect() as conn:
            return verify_database(conn)

    def dispose(self) -> None:
        """Stop the write lane and close every pooled connection."""
        self.write_gate.close()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()


def _database_name(config: DbConfig) -> str:
    """What names the database the same way in every process of this machine: the primary's URL, or
    the local file's absolute path."""
    url = getattr(config, "url", None)
    return str(url) if url else os.path.abspath(str(getattr(config, "path", "")))


def _run_unit(conn: sa.Connection, work: Callable[[sa.Connection], object], tenant: str | None) -> Outcome:
    """One unit of a group (:meth:`Store.write`): bound to its tenant, inside a savepoint.

    An error that leaves the transaction usable (a refused statement, a validation error) rolls the
    unit back to its savepoint and is its outcome; a :class:`DatabaseUnavailable` (the transaction or
    the connection is lost) propagates, for the group to run again.
    """
    conn.execution_options(codex_tenant=tenant)
    conn.info.pop(LAST_CHANGE_KEY, None)
    savepoint = conn.begin_nested()
    try:
        result = work(conn)
    except Exception as exc:
        error = translate_db_error(exc) if isinstance(exc, sa.exc.DBAPIError) else exc
        if isinstance(error, DatabaseUnavailable):
            raise error from exc
        conn.info.pop(LAST_CHANGE_KEY, None)
        savepoint.rollback()
        return None, error
    savepoint.commit()
    return result, None


def open_store(
    config: DbConfig | None = None,
    *,
    migrate: Migrate = "head",
    busy_timeout_ms: int = 5000,
    host_lock: bool = True,
) -> Store:
    """Open the configured database.

    Args:
        config: Where the database is; resolved from the environment (and config file) when None.
        migrate: ``"head"`` runs ``alembic upgrade head`` (the default: a ready-to-use store);
            ``"baseline"`` only baselines an empty database and refuses one that is ahead;
            ``"none"`` touches nothing.
        busy_timeout_ms: How long a local writer waits for the lock.
        host_lock: As for :class:`Store`.

    Returns:
        The :class:`Store`.

    Raises:
        SchemaError: The database is ahead of the code, carries a legacy chain, or is a non-empty
            database that is not the baseline.
        DatabaseUnavailable: The database cannot be reached.

    Example:
        >>> from codex.config import DbConfig, MemoryDb
        >>> with open_store(MemoryDb()) as store:
        ...     store.verify().ok
        True
    """
    store = Store(
        config or resolve_db_config(environ_with_file(os.environ)),
        busy_timeout_ms=busy_timeout_ms,
        host_lock=host_lock,
    )
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
