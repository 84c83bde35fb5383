"""The Codex error tree: one root, a shallow hierarchy, and errors that carry their data.

Driver errors are translated once, at the engine / repository boundary (``raise … from exc``);
HTTP status codes come from one mapping table in the API layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "CodexError",
    "ConfigError",
    "Conflict",
    "CursorExpired",
    "DatabaseBusy",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "QuotaExceeded",
    "SchemaError",
    "TenantScopeError",
]


class CodexError(Exception):
    """Root of every error Codex raises on purpose.

    Args:
        message: A sentence a user can act on.
        **details: Structured data about the failure (table, version, digests, …), kept in ``details``.
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: ``{"error": <kind>, "message": …, **details}``."""
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


class ConfigError(CodexError):
    """The configuration (environment, config file) is invalid or unsafe."""


class SchemaError(CodexError):
    """The database schema is not what this code expects (ahead, legacy chain, drifted, non-empty)."""


class NotFound(CodexError):
    """A row addressed by key does not exist."""


class Conflict(CodexError):
    """A UNIQUE, FOREIGN KEY, CHECK or NOT NULL constraint rejected a write.

    ``details`` carries ``table``, ``constraint`` (the kind) and ``columns`` when the driver names them.
    """


class QuotaExceeded(CodexError):
    """A limit would be exceeded (a usage quota, a stream cap, a login throttle); nothing was written.

    ``details`` may carry ``retry_after``: whole seconds until trying again can succeed (the quota
    window's reset); the HTTP layer sends it as ``Retry-After``.
    """


class InvalidInput(CodexError):
    """A value passed to a Codex API is outside its vocabulary or range."""


class DatabaseUnavailable(CodexError):
    """The database could not be reached, refused the credentials, or failed.

    The HTTP layer answers 503 with ``Retry-After`` (``details["retry_after"]`` when set).
    """


class DatabaseBusy(DatabaseUnavailable):
    """The database is reachable but busy: a lock (another writer, the process's write gate) was not
    granted within the wait limit, or the server timed the transaction out. Nothing was committed, so
    retrying shortly is safe.

    A kind of :class:`DatabaseUnavailable` (a transient refusal): generic retry code catches the
    parent, and code that must tell a lock wait from an unreachable database catches this class
    first. The HTTP body names it (``"error": "DatabaseBusy"``) and ``Retry-After`` comes from
    ``details["retry_after"]``.
    """


class TenantScopeError(CodexError):
    """Code bound to one tenant reached outside it: a tenant scope on a shared table, or a repository of
    one tenant on another tenant's transaction. A programming error, never the caller's input (HTTP 500).
    """


class CursorExpired(CodexError):
    """A change-log cursor is older than the oldest retained change: rows after it were pruned.

    ``details["oldest"]`` is the oldest retained change id. A stream resumed from ``oldest - 1`` (the
    retained edge) continues without a gap from there; anything older must reload its state (a
    query) first. The HTTP layer answers 410.
    """

    def __init__(self, cursor: int, oldest: int) -> None:
        super().__init__(
            f"cursor {cursor} is older than the retained change log (oldest retained change: {oldest}); "
            f"reload, then resume from {max(0, oldest - 1)} or later",
            oldest=oldest,
            cursor=cursor,
        )
        self.cursor, self.oldest = cursor, oldest


class ApiError(CodexError):
    """A refusal at a service's edge (auth, scope, size) that names its HTTP status and error kind.

    It lives here, not in :mod:`codex.api`, so that every adapter (the API, the console) raises the same
    error without importing another adapter. :mod:`codex.api.errors` maps it to its response.
    """

    def __init__(self, status: int, kind: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = status
        self.kind = kind

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"] = self.kind
        return body
