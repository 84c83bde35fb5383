"""Reading the change log with its tenant, for streams (one query serves every subscriber)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.reactive import sse
from codex.repositories.changelog import ChangeRow
from domains._meta import DEFAULT_TENANT as _DEFAULT_TENANT

__all__ = ["DEFAULT_TENANT", "ChangeEvent", "read_changes"]

DEFAULT_TENANT = _DEFAULT_TENANT
"""The tenant of rows written without one (CLI, library use)."""

_SQL = (
    "SELECT c.id, c.topic, c.entity_kind, c.entity_id, c.change_kind, c.payload_json, c.created_at, "
    "c.tenant_id FROM codex_change_log AS c WHERE c.id > ?"
)


@dataclass(frozen=True)
class ChangeEvent(ChangeRow):
    """A committed change-log row and the tenant that owns it."""

    tenant: str

    @functools.cached_property
    def sse_frame(self) -> bytes:
        """The event as one SSE frame, encoded once and shared by every stream that sends it."""
        return sse.event(self.as_dict(), event_id=self.id)

    def as_dict(self) -> dict[str, Any]:
        """The event body streamed to clients (the upstream shape plus the parsed ``payload``)."""
        return {**super().as_dict(), "payload": self.payload}


def read_changes(
    conn: sa.Connection,
    after_id: int,
    *,
    limit: int = 500,
    upto: int | None = None,
    tenant: str | None = None,
) -> list[ChangeEvent]:
    """Rows with ``after_id < id (<= upto)``, oldest first, optionally of one tenant only."""
    sql, params = _SQL, list[object]([after_id])
    if upto is not None:
        sql += " AND c.id <= ?"
        params.append(upto)
    if tenant is not None:
        sql += " AND c.tenant_id = ?"
        params.append(tenant)
    sql += " ORDER BY c.id LIMIT ?"
    params.append(max(1, limit))
    return [ChangeEvent(*row) for row in conn.exec_driver_sql(sql, tuple(params))]
