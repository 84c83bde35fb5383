"""The engine layer: the only importer of the libSQL driver. Everything above sees SQLAlchemy."""

from __future__ import annotations

from codex.engine._errors import LibsqlDriverError, classify_driver_error, translate_db_error
from codex.engine._factory import (
    FOREIGN_KEYS_OFF,
    READ_ONLY,
    WRITE_CACHE,
    Role,
    dbapi_connection,
    engine_mode,
    engine_url,
    make_engine,
    raw_connection,
    safe_params,
    sync_replica,
)
from codex.engine._gate import Outcome, WriteGate
from codex.engine._hostlock import HostLock, host_lock_for

__all__ = [
    "FOREIGN_KEYS_OFF",
    "READ_ONLY",
    "WRITE_CACHE",
    "HostLock",
    "LibsqlDriverError",
    "Outcome",
    "Role",
    "WriteGate",
    "classify_driver_error",
    "dbapi_connection",
    "engine_mode",
    "engine_url",
    "host_lock_for",
    "make_engine",
    "raw_connection",
    "safe_params",
    "sync_replica",
    "translate_db_error",
]
