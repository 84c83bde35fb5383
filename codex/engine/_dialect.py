"""Codex's SQLAlchemy dialect: sqlalchemy-libsql's, with the one behaviour the driver gets wrong for us.

A subclass registered in code (SQLAlchemy's documented way to extend a dialect: "Registering New
Dialects", ``sqlalchemy.dialects.registry``) rather than a method patched onto an engine's dialect
instance: the behaviour is visible in the engine's URL (``sqlite+libsql_codex``), typed, and the same for
every engine :func:`codex.engine.make_engine` builds.

The rollback fix: sqld ends a transaction itself when a statement in it fails hard or when it held the
write lock past the server's transaction timeout (about 5 s while another writer waits). The ROLLBACK that
SQLAlchemy then sends, on leaving ``engine.begin()`` with the caller's exception, fails with
``cannot rollback - no transaction is active`` or ``TRANSACTION_TIMEOUT``, and that error replaces the
caller's. Both answers mean the transaction is already gone, which is what the rollback was for, so
:meth:`CodexLibsqlDialect.do_rollback` accepts them. A local file never answers either (the driver skips
ROLLBACK when SQLite reports no open transaction), and SQLite documents a failing ROLLBACK after an
automatic rollback as harmless (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within
A Transaction"), so the dialect is the same for every mode.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy_libsql.libsql import SQLiteDialect_libsql

__all__ = ["DRIVERNAME", "CodexLibsqlDialect"]

DRIVERNAME = "sqlite+libsql_codex"
"""The URL drivername that selects :class:`CodexLibsqlDialect`."""

_TRANSACTION_ALREADY_ENDED = ("no transaction is active", "TRANSACTION_TIMEOUT")
"""Driver messages of a ROLLBACK whose transaction the server has already ended."""


class CodexLibsqlDialect(SQLiteDialect_libsql):  # type: ignore[misc]  # the driver dialect is untyped
    """sqlalchemy-libsql's dialect whose ROLLBACK accepts a transaction the server already ended."""

    supports_statement_cache = True

    def do_rollback(self, dbapi_connection: Any) -> None:
        """Roll back; a transaction the server already ended counts as rolled back.

        Args:
            dbapi_connection: The libSQL DBAPI connection.

        Raises:
            ValueError: Any other driver failure (translated by the engine's ``handle_error`` hook).
        """
        try:
            super().do_rollback(dbapi_connection)
        except ValueError as exc:
            if not any(key in str(exc) for key in _TRANSACTION_ALREADY_ENDED):
                raise


registry.register(DRIVERNAME.replace("+", "."), __name__, CodexLibsqlDialect.__name__)
