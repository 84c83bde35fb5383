"""The engine factory: the only place that knows libSQL's driver, URL forms and defects.

Fixes applied once, here (see ``docs/reference/libsql-runtime.md`` §4):

* errors arrive as bare ``ValueError`` → a ``handle_error`` hook maps them to ``IntegrityError`` /
  ``OperationalError`` / ``DatabaseError``;
* ``libsql_experimental`` has no ``Binary`` → ``Binary = bytes`` so ``LargeBinary`` works;
* the busy timeout is 0 → ``PRAGMA busy_timeout`` on connect (local files only; sqld refuses it);
* SELECT-then-UPDATE loses updates under the driver's implicit BEGIN → ``isolation_level=None`` and a
  ``begin`` hook that emits ``BEGIN IMMEDIATE`` (``BEGIN DEFERRED`` for connections marked read-only);
* the driver holds the GIL while it waits on a lock → a local file's write engine has exactly one
  connection per process (``pool_size=1, max_overflow=0``); reads use their own engine;
* foreign keys are turned on for every connection; WAL + ``synchronous=NORMAL`` on local files;
* a ROLLBACK after sqld already ended the transaction would hide the caller's error → the engine's
  dialect is :class:`~codex.engine._dialect.CodexLibsqlDialect` (a subclass, not a patch).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from weakref import WeakKeyDictionary

# The replica's handshake lines on stderr at every sync are noise for a CLI (set before the import).
os.environ.setdefault("RUST_LOG", "error")

import libsql_experimental
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool, StaticPool

from codex.config import DbConfig
from codex.engine import _hrana
from codex.engine._dialect import DRIVERNAME
from codex.engine._errors import LibsqlDriverError, classify_driver_error
from codex.errors import ConfigError, DatabaseUnavailable

__all__ = [
    "FOREIGN_KEYS_OFF",
    "READ_ONLY",
    "WRITE_CACHE",
    "Role",
    "dbapi_connection",
    "engine_mode",
    "engine_url",
    "make_engine",
    "raw_connection",
    "safe_params",
    "sync_replica",
]

log = logging.getLogger("codex.engine")

if not hasattr(libsql_experimental, "Binary"):
    libsql_experimental.Binary = bytes  # SQLAlchemy's LargeBinary needs dbapi.Binary

Role = Literal["write", "read"]
_MODES: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()

FOREIGN_KEYS_OFF = "codex_foreign_keys_off"
"""``conn.info`` key: while set, the connection's transactions begin with foreign keys OFF (migrations)."""

WRITE_CACHE = "codex_write_cache"
"""``conn.info`` key of a dict that lives exactly as long as a write transaction of ``Store.begin`` (it
holds the write lock, so what it read cannot change under it but by its own writes): repositories may
keep reads there that their own writes keep current (the governing usage limits)."""

READ_ONLY: Mapping[str, Any] = {"codex_read_only": True}
"""Execution options that make a connection's transactions ``BEGIN DEFERRED`` (no write lock)."""


def _remote_url(url: str) -> sa.URL:
    split = urlsplit(url)
    secure = split.scheme in ("libsql", "https", "wss")
    query = {"secure": "true" if secure else "false"}
    return sa.URL.create(
        DRIVERNAME,
        host=split.hostname,
        port=split.port,
        database=split.path.lstrip("/") or None,
        query=query,
    )


def engine_url(config: DbConfig) -> sa.URL:
    """The SQLAlchemy URL for a configuration (never carries the token)."""
    if config.mode == "memory":
        return sa.URL.create(DRIVERNAME)
    if config.mode == "remote":
        return _remote_url(config.url)
    return sa.URL.create(DRIVERNAME, database=str(Path(config.path).expanduser().resolve()))


def _sync_url(url: str) -> str:
    split = urlsplit(url)
    scheme = {"libsql": "https", "wss": "https", "ws": "http"}.get(split.scheme, split.scheme)
    return urlunsplit((scheme, split.netloc, split.path, "", ""))


def make_engine(
    config: DbConfig,
    *,
    role: Role = "write",
    busy_timeout_ms: int = 5000,
    wal: bool = True,
    create_dirs: bool = True,
    remote_driver: Literal["hrana", "libsql"] | None = None,
    **engine_kw: Any,
) -> Engine:
    """Build the SQLAlchemy engine for a configuration, with the driver defects fixed.

    Args:
        config: Where the database is (see :func:`codex.config.resolve_db_config`).
        role: ``"write"`` (transactions ``BEGIN IMMEDIATE``; one connection per process on a local
            file) or ``"read"`` (``BEGIN DEFERRED``; a small pool).
        busy_timeout_ms: How long a local writer waits for the lock.
        wal: Switch a local file to WAL with ``synchronous=NORMAL``. Pass False to leave a file's
            journal mode untouched (``legacy export`` must not change its source).
        create_dirs: Create the local file's parent directory.
        remote_driver: For a remote primary, ``"hrana"`` (the default: :mod:`codex.engine._hrana`,
            which releases the GIL while it waits on the network) or ``"libsql"`` (the libSQL
            driver's remote client); None takes the configuration's (``VOX_DB_REMOTE_DRIVER``). Embedded replicas and local
            files always use the libSQL driver.
        **engine_kw: Extra ``create_engine`` arguments (pool sizing, echo…).

    Returns:
        A configured engine. Connection failures raise :class:`DatabaseUnavailable`.

    Example:
        >>> from codex.config import MemoryDb
        >>> eng = make_engine(MemoryDb())
        >>> with eng.begin() as conn:
        ...     conn.exec_driver_sql("select 1").scalar()
        1
    """
    url = engine_url(config)
    connect_args: dict[str, Any] = {"isolation_level": None, "check_same_thread": False}
    if config.mode in ("remote", "replica") and config.token:
        connect_args["auth_token"] = config.token
    if config.mode == "replica":
        connect_args["sync_url"] = _sync_url(config.url)
    if config.mode in ("local", "replica") and create_dirs:
        Path(config.path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

    kw: dict[str, Any] = {}
    if config.mode == "memory":
        kw["poolclass"] = StaticPool
    elif (config.mode == "local" and role == "write") or config.mode == "replica":
        kw.update(pool_size=1, max_overflow=0, pool_timeout=60)
    elif config.mode == "local":
        kw.update(pool_size=4, max_overflow=0, pool_timeout=60)
    else:
        # No pre-ping (a round trip per checkout): sqld expires an idle stream after ~10 s, so pooled
        # connections are recycled after 8 s instead, and a stale one is caught by the retry of
        # Store.run_write (nothing was sent for its COMMIT).
        kw.update(poolclass=QueuePool, pool_size=4, max_overflow=4, pool_recycle=8)
    kw.update(engine_kw)
    engine = sa.create_engine(url, connect_args=connect_args, **kw)
    begin_mode = "DEFERRED" if role == "read" else "IMMEDIATE"

    connector = (
        functools.partial(_hrana.connect, busy_timeout=busy_timeout_ms / 1000)
        if config.mode == "remote" and (remote_driver or config.driver) == "hrana"
        else libsql_experimental.connect
    )

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
        try:
            dbapi_conn = connector(*cargs, **cparams)
            if config.mode == "remote":  # the remote client connects lazily: fail here, clearly
                dbapi_conn.execute("SELECT 1")
            return dbapi_conn
        except ValueError as exc:
            text = str(exc)
            hint = " (the server refused the token: check VOX_DB_TOKEN)" if "401" in text else ""
            raise DatabaseUnavailable(
                f"cannot open the {config.mode} database{hint}: {text}", mode=config.mode
            ) from exc

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, conn_rec: Any) -> None:
        if config.mode == "local":  # sqld and replicas answer "unsupported statement"
            dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if wal and config.mode == "local":
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("codex_read_only") else begin_mode
        if conn.info.get(FOREIGN_KEYS_OFF):
            # One script, so the pragma and the BEGIN share a Hrana stream: on sqld a lone
            # ``PRAGMA foreign_keys=OFF`` does not outlive its request, and inside a transaction
            # SQLite ignores it.
            dbapi_connection(conn).executescript(f"PRAGMA foreign_keys=OFF; BEGIN {mode};")
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _bind(
        conn: sa.Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        if executemany:
            return statement, [safe_params(p) for p in parameters]
        return statement, safe_params(parameters)

    @event.listens_for(engine, "handle_error")
    def _handle_error(ctx: sa.engine.ExceptionContext) -> BaseException | None:
        original = ctx.original_exception
        if ctx.sqlalchemy_exception is not None and not isinstance(
            ctx.sqlalchemy_exception, sa.exc.StatementError
        ):
            return None
        if not isinstance(original, ValueError):
            return None
        cls = classify_driver_error(str(original))
        return cls(ctx.statement, ctx.parameters, LibsqlDriverError(str(original)))

    _MODES[engine] = config.mode
    return engine


def engine_mode(engine: Engine) -> str:
    """The :class:`DbConfig` mode an engine was built for (``local``, ``memory``, ``remote``, ``replica``)."""
    return _MODES.get(engine, "local")


_INT32 = (1 << 31) - 1


def _wide(value: Any) -> bool:
    return type(value) is int and not -_INT32 - 1 <= value <= _INT32


def safe_params(params: Any) -> Any:
    """Make parameters safe for libsql-experimental, which binds ints outside 32 bits as REAL.

    Such ints are passed as their decimal text instead: SQLite's INTEGER affinity stores them back as
    exact 64-bit integers (a REAL loses precision above 2**53 and turns a TEXT column into
    ``'1099511627776.0'``). Tuples, lists and mappings are handled; anything else is returned as is.
    """
    if isinstance(params, tuple):
        for value in params:  # inline: this runs for every statement of the hot paths
            if type(value) is int and not -_INT32 - 1 <= value <= _INT32:
                return tuple(str(v) if _wide(v) else v for v in params)
        return params
    if isinstance(params, list):
        return [str(v) if _wide(v) else v for v in params]
    if isinstance(params, dict):
        return (
            {k: str(v) if _wide(v) else v for k, v in params.items()}
            if any(map(_wide, params.values()))
            else params
        )
    return params


def dbapi_connection(conn: sa.Connection) -> Any:
    """The DBAPI connection under ``conn`` (for pragmas and replica sync; prefer SQLAlchemy otherwise)."""
    dbapi_conn = conn.connection.dbapi_connection
    if dbapi_conn is None:  # pragma: no cover - only after invalidation
        raise DatabaseUnavailable("the database connection was invalidated")
    return dbapi_conn


def raw_connection(conn: sa.Connection) -> Any:
    """The DBAPI connection under ``conn``, with ``conn``'s transaction begun (hot paths only).

    Writes through it belong to the caller's transaction; errors from it are bare ``ValueError``
    and must be translated by the caller (``codex.engine.translate_db_error``).
    """
    if not conn.in_transaction():
        raise ConfigError("raw_connection() needs a connection inside a transaction (store.begin())")
    return dbapi_connection(conn)


def sync_replica(engine: Engine) -> bool:
    """Pull the primary's changes into an embedded replica.

    Returns:
        True when a sync ran, False when the engine is not a replica (nothing to do).

    Raises:
        DatabaseUnavailable: The primary could not be reached.
    """
    if engine_mode(engine) != "replica":
        return False
    with engine.connect() as conn:
        try:
            dbapi_connection(conn).sync()
        except ValueError as exc:
            raise DatabaseUnavailable(f"replica sync failed: {exc}") from exc
    return True
