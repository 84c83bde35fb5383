"""Driver error translation, done once.

libsql-experimental raises a bare ``ValueError`` for every SQLite error (locally ``UNIQUE constraint
failed: t.c``; remotely ``Hrana: stream error: … SQLITE_CONSTRAINT …``). The engine's ``handle_error``
hook turns them into SQLAlchemy's ``IntegrityError`` / ``OperationalError`` / ``DatabaseError``; then
:func:`translate_db_error` turns those into the Codex tree (``Conflict`` with table and constraint,
``SchemaError``, ``DatabaseBusy``, ``DatabaseUnavailable``, ``InvalidInput``).

The busy / unavailable split: a lock that was not granted in time (or a transaction the server ended
for taking too long) is :class:`~codex.errors.DatabaseBusy`: the database is there, nothing was
committed, retrying shortly is safe. A database that cannot be reached, refuses the credentials or
fails its I/O is :class:`~codex.errors.DatabaseUnavailable`. A value the driver cannot bind (a string
that is not valid Unicode, an unsupported type, a value too big) is the caller's input, not the
database's state: :class:`~codex.errors.InvalidInput`.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from codex.errors import CodexError, Conflict, DatabaseBusy, DatabaseUnavailable, InvalidInput, SchemaError

__all__ = ["LibsqlDriverError", "classify_driver_error", "translate_db_error"]


class LibsqlDriverError(Exception):
    """The driver's original message, carried as ``exc.orig`` of the SQLAlchemy error."""


_INTEGRITY = ("constraint failed", "SQLITE_CONSTRAINT")
_OPERATIONAL = (
    "database is locked",
    "SQLITE_BUSY",
    "no such table",
    "no such column",
    "syntax error",
    "stream error",
    "http error",
    "STREAM_EXPIRED",
    "error trying to connect",
    "unable to open database",
    "disk I/O error",
    "Connection refused",
)
_BUSY = (
    "database is locked",
    "SQLITE_BUSY",
    "TRANSACTION_TIMEOUT",
    "Transaction timed out",
    "STREAM_EXPIRED",
)
"""A lock not granted in time, or a transaction / stream the server ended for taking too long."""
_BAD_VALUE = (
    "Unsupported parameter type",
    "string or blob too big",
    "datatype mismatch",
    "too many SQL variables",
    "integer overflow",
)
"""The driver or SQLite could not take a bound value: the input's fault, not the database's."""
_CONSTRAINT = re.compile(
    r"(UNIQUE|FOREIGN KEY|CHECK|NOT NULL|PRIMARY KEY) constraint failed(?::\s*([^\"`\\\n]+))?"
)


def classify_driver_error(message: str) -> type[sa.exc.DBAPIError]:
    """Pick the SQLAlchemy error class for a libSQL driver message."""
    if any(key in message for key in _INTEGRITY):
        return sa.exc.IntegrityError
    if any(key in message for key in _OPERATIONAL):
        return sa.exc.OperationalError
    return sa.exc.DatabaseError


def _conflict(message: str) -> Conflict:
    match = _CONSTRAINT.search(message)
    kind = match.group(1).lower().replace(" ", "_") if match else "constraint"
    target = (match.group(2) or "").strip() if match else ""
    details: dict[str, Any] = {"constraint": kind}
    if kind == "check" and target.startswith("ck_"):
        details["name"] = target
    elif target:
        cols = [part.strip() for part in target.split(",")]
        details["table"] = cols[0].split(".", 1)[0]
        details["columns"] = [c.split(".", 1)[-1] for c in cols]
    text = f"{kind.replace('_', ' ')} constraint failed" + (f": {target}" if target else "")
    return Conflict(text, **details)


def translate_db_error(exc: BaseException) -> CodexError:
    """Map a (SQLAlchemy-wrapped) driver error to the Codex error tree.

    Args:
        exc: An error raised by SQLAlchemy or the driver.

    Returns:
        ``Conflict`` for constraint violations, ``SchemaError`` for a missing table or column,
        ``DatabaseBusy`` for a lock or a server-side transaction timeout (nothing committed; carries
        ``retry_after``), ``InvalidInput`` for a value the driver could not bind, and
        ``DatabaseUnavailable`` for connectivity and anything else from the database (carries
        ``retry_after``).
    """
    if isinstance(exc, CodexError):
        return exc
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc)
    if isinstance(exc, sa.exc.IntegrityError) or any(key in message for key in _INTEGRITY):
        return _conflict(message)
    if "no such table" in message or "no such column" in message:
        return SchemaError(f"the database schema is not at the expected version: {message}")
    if any(key in message for key in _BUSY):
        return DatabaseBusy(f"database busy: {message}", retry_after=1)
    if any(key in message for key in _BAD_VALUE):
        return InvalidInput(f"the database cannot store a value of this request: {message}")
    return DatabaseUnavailable(f"database error: {message}", retry_after=5)
