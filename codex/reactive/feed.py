"""Reading the change log with its tenant, for streams (one query serves every subscriber)."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import CursorExpired
from codex.reactive import sse
from codex.repositories.changelog import ChangeLogRepository, ChangeRow, TopicPattern
from domains._meta import DEFAULT_TENANT as _DEFAULT_TENANT
from domains.codex_reactivity import codex_change_log

__all__ = ["DEFAULT_TENANT", "Batch", "ChangeEvent", "read_changes"]

DEFAULT_TENANT = _DEFAULT_TENANT
"""The tenant of rows written without one (CLI, library use)."""

_t = codex_change_log


def _read(upto: bool, tenant: bool) -> sa.Select[Any]:
    stmt = sa.select(
        _t.c.id,
        _t.c.topic,
        _t.c.entity_kind,
        _t.c.entity_id,
        _t.c.change_kind,
        _t.c.payload_json,
        _t.c.created_at,
        _t.c.tenant_id,
    ).where(_t.c.id > sa.bindparam("after_id"))
    if upto:
        stmt = stmt.where(_t.c.id <= sa.bindparam("upto"))
    if tenant:
        stmt = stmt.where(_t.c.tenant_id == sa.bindparam("tenant"))
    return stmt.order_by(_t.c.id).limit(sa.bindparam("limit"))


# Built once: the hub reads every tick, and building a statement per call costs more than running it.
_READS = {(upto, tenant): _read(upto, tenant) for upto in (False, True) for tenant in (False, True)}
"""The four forms of the read (with or without ``upto``, with or without a tenant); the columns are a
:class:`ChangeEvent`'s fields, in order."""


@dataclass(frozen=True)
class ChangeEvent(ChangeRow):
    """A committed change-log row and the tenant that owns it."""

    tenant: str

    @functools.cached_property
    def json(self) -> str:
        """The event body as compact JSON text, encoded once (WebSocket frames embed it as it is)."""
        return sse.json_text(self.as_dict())

    @functools.cached_property
    def sse_frame(self) -> bytes:
        """The event as one SSE frame, encoded once and shared by every stream that sends it."""
        return sse.event(self.json, event_id=self.id)

    def as_dict(self) -> dict[str, Any]:
        """The event body streamed to clients (the upstream shape plus the parsed ``payload``)."""
        return {**super().as_dict(), "payload": self.payload}


class Batch:
    """Events of one hub tick that match one (tenant, patterns) group, with encodings made once.

    Every stream of the group is handed the same object, so the SSE bytes (and their HTTP chunk
    framing) are built at most once per tick and group, whatever the number of streams.
    """

    __slots__ = ("_chunk", "_sse", "events", "first_id", "last_id", "made")

    def __init__(self, events: Sequence[ChangeEvent]) -> None:
        self.made = time.monotonic()
        """When the batch was made (streams note it as their last write: one clock read per batch)."""
        self.events = tuple(events)
        self.first_id = self.events[0].id
        self.last_id = self.events[-1].id
        self._sse: bytes | None = None
        self._chunk: bytes | None = None

    @property
    def sse(self) -> bytes:
        """The events as consecutive SSE frames."""
        if self._sse is None:
            self._sse = b"".join(e.sse_frame for e in self.events)
        return self._sse

    @property
    def chunk(self) -> bytes:
        """:attr:`sse` framed as one HTTP/1.1 chunk (for writers on the raw transport)."""
        if self._chunk is None:
            self._chunk = sse.chunk(self.sse)
        return self._chunk

    def after(self, cursor: int) -> list[ChangeEvent]:
        """The events with ``id > cursor``."""
        return [e for e in self.events if e.id > cursor]


def read_changes(
    conn: sa.Connection,
    after_id: int,
    *,
    limit: int = 500,
    upto: int | None = None,
    tenant: str | None = None,
    within: TopicPattern | None = None,
    check_edge: bool = False,
) -> list[ChangeEvent]:
    """Rows with ``after_id < id (<= upto)``, oldest first, optionally of one tenant only.

    ``within`` narrows the rows in SQL to the pattern's concrete part (its topic when exact, else
    the topics under its :attr:`~TopicPattern.fixed` segments); rows it leaves may still need
    ``within.matches`` (``+`` segments are not narrowed).

    Raises:
        CursorExpired: ``check_edge`` is set and rows after ``after_id`` were pruned (checked in the
            same read transaction as the rows, so a prune can never open an unnoticed gap).
    """
    if check_edge:
        oldest = ChangeLogRepository(conn).oldest()
        if after_id < oldest - 1:
            raise CursorExpired(after_id, oldest)
    stmt = _READS[upto is not None, tenant is not None]
    params: dict[str, object] = {"after_id": after_id, "upto": upto, "tenant": tenant, "limit": max(1, limit)}
    if within is not None and within.is_exact:
        stmt = stmt.where(_t.c.topic == sa.bindparam("topic"))
        params["topic"] = within.text
    elif within is not None and within.fixed:
        under = within.fixed + "/"
        stmt = stmt.where(sa.func.substr(_t.c.topic, 1, len(under)) == sa.bindparam("under"))
        params["under"] = under
    return [ChangeEvent(*row) for row in conn.execute(stmt, params)]
