"""tool_calls: tool invocations tied to a conversation message (``conversation_tool_calls``).

Each call has an ``ordinal`` that is unique per message (UNIQUE INDEX
``idx_conversation_tool_calls_msg_ord``). Upstream the caller always supplies it; here it may also be
allocated by the database: ``add(..., ordinal=None)`` runs ONE statement,
``INSERT … SELECT COALESCE(MAX(ordinal) + 1, 0) … WHERE conversation_message_id = ?``, so the read of the
current maximum and the insert happen together under the caller's write transaction (``BEGIN
IMMEDIATE``): concurrent writers, in this process or others, never get the same ordinal.

Status vocabulary (v12 doc comment): ``pending``, ``running``, ``succeeded``, ``failed``, ``cancelled``.
Transitions: ``pending → running`` (:meth:`ToolCallRepository.start`), ``pending|running →
succeeded|failed|cancelled`` (:meth:`ToolCallRepository.finish`). A finished call (succeeded, failed or
cancelled) is final: finishing or starting it again raises ``Conflict`` (``constraint="status_transition"``),
a state conflict rather than a bad argument. A status outside the vocabulary, or a non-final status given
to ``finish``, raises ``InvalidInput``.

A live domain: every mutation appends one change-log row on ``conversations/<conversation_id>`` (the
conversation of the call's message) with ``entity_kind="tool_call"``: ``add`` → ``insert``; ``start``,
``finish`` → ``update``.

Tenancy: the table is tenant-owned. A call is recorded only on a message in the repository's scope, with
the message's tenant; every read, status change and ordinal allocation carries the tenant condition in
SQL (the repository's scope, or the message's tenant for the allocation), so another tenant's call is
indistinguishable from a missing one (``NotFound``, not listed, not counted).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    dump_json,
    insert_next_index,
    json_property,
    now_ms,
    row_as,
)
from codex.repositories.gateway import TableGateway
from domains.tool_calls import conversation_tool_calls
from domains.user_chat import conversation_messages

__all__ = [
    "FINAL_TOOL_CALL_STATUSES",
    "TOOL_CALL_STATUSES",
    "ToolCallRepository",
    "ToolCallRow",
]

TOOL_CALL_STATUSES: Final = ("pending", "running", "succeeded", "failed", "cancelled")
"""The ``conversation_tool_calls.status`` vocabulary."""

FINAL_TOOL_CALL_STATUSES: Final = ("succeeded", "failed", "cancelled")
"""Statuses a call ends in; a call in one of them cannot change again."""

_t = conversation_tool_calls
_m = conversation_messages
_NEW = ("conversation_message_id", "tool_name", "arguments_json", "status", "started_at_ms", "tenant_id")
"""The columns ``add`` binds (the ordinal is given or allocated)."""

# The next ordinal is computed and inserted by one statement (atomic under the write transaction). The
# tenant is the message's (looked up in scope first); the MAX is taken over the message's calls of it.
_ADD_NEXT = insert_next_index(_t, "ordinal", "conversation_message_id", _NEW)
_ADD_AT = sa.insert(_t).returning(*_t.c)


@dataclass(frozen=True, slots=True)
class ToolCallRow:
    """One ``conversation_tool_calls`` row; JSON columns parsed by ``arguments`` and ``result``."""

    id: int
    conversation_message_id: int
    ordinal: int
    tool_name: str
    arguments_json: str
    result_json: str | None
    status: str
    error_text: str | None
    started_at_ms: int
    finished_at_ms: int
    created_at: str

    arguments = json_property("arguments_json", "The call's arguments, parsed.")

    result = json_property(
        "result_json", "The call's result, parsed (None while unfinished or when it produced none)."
    )

    @property
    def finished(self) -> bool:
        """Whether the call is in a final status."""
        return self.status in FINAL_TOOL_CALL_STATUSES


class ToolCallRepository(Repository):
    """Tool calls of conversation messages, with safe ordinal allocation and checked status changes."""

    topic_root = "conversations"

    @property
    def _calls(self) -> TableGateway[ToolCallRow]:
        return self._gateway(_t, ToolCallRow)

    def add(
        self,
        message_id: int,
        tool_name: str,
        arguments: Any = None,
        *,
        ordinal: int | None = None,
        status: str = "pending",
    ) -> ToolCallRow:
        """Record a tool call on a message in scope; ``started_at_ms`` is now.

        Args:
            message_id: The ``conversation_messages`` row the call belongs to (the call gets its tenant).
            tool_name: The tool's name (non-empty).
            arguments: Any JSON value (None is stored as ``{}``, the column default).
            ordinal: The call's position in the turn; None allocates the next one (0 for the first call)
                in the same statement as the insert.
            status: ``pending`` or ``running`` (a call is recorded before it ends; see :meth:`finish`).

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty tool name, negative ordinal, or a status other than pending/running.
            NotFound: No such message in scope.
            Conflict: An explicit ``ordinal`` already used on this message (unique index).
        """
        self._writable()
        if not tool_name:
            raise InvalidInput("tool_name must not be empty", field="tool_name")
        self._check_vocab(status, ("pending", "running"), "status")
        if ordinal is not None and (isinstance(ordinal, bool) or ordinal < 0):
            raise InvalidInput("ordinal must be a non-negative integer", field="ordinal")
        args_json = dump_json({} if arguments is None else arguments)
        conversation_id, tenant = self._message_of(message_id)
        values: dict[str, Any] = {
            "conversation_message_id": message_id,
            "tool_name": tool_name,
            "arguments_json": args_json,
            "status": status,
            "started_at_ms": now_ms(),
            "tenant_id": tenant,
        }
        if ordinal is None:
            row = self._execute(_ADD_NEXT, values).one()
        else:
            row = self._execute(_ADD_AT, {**values, "ordinal": int(ordinal)}).one()
        call = row_as(ToolCallRow, row)
        self._change(
            f"conversations/{conversation_id}",
            "insert",
            "tool_call",
            call.id,
            {"message_id": message_id, "ordinal": call.ordinal, "tool_name": tool_name, "status": status},
        )
        return call

    def start(self, call_id: int) -> ToolCallRow:
        """Move a pending call to ``running`` and reset ``started_at_ms`` to now.

        Returns:
            The updated row.

        Raises:
            NotFound: No such call in scope.
            Conflict: The call is not pending.
        """
        self._writable()
        row = self._update(call_id, ("pending",), status="running", started_at_ms=now_ms())
        if row is None:
            self._refuse(call_id, "running")
        call = row_as(ToolCallRow, row)
        self._emit_update(call)
        return call

    def finish(
        self, call_id: int, status: str, *, result: Any = None, error: str | None = None
    ) -> ToolCallRow:
        """End a call: set its final status, result, error text and ``finished_at_ms`` (now).

        Args:
            call_id: The call.
            status: ``succeeded``, ``failed`` or ``cancelled``.
            result: Any JSON value (stored as ``result_json``; None → NULL).
            error: Error text (``error_text``).

        Returns:
            The updated row.

        Raises:
            InvalidInput: ``status`` is outside the vocabulary or is not a final status.
            NotFound: No such call in scope.
            Conflict: The call has already finished (a final status never changes).
        """
        self._writable()
        self._check_vocab(status, TOOL_CALL_STATUSES, "status")
        if status not in FINAL_TOOL_CALL_STATUSES:
            raise InvalidInput(
                f"finish() needs a final status ({', '.join(FINAL_TOOL_CALL_STATUSES)}); got {status!r}",
                field="status",
            )
        row = self._update(
            call_id,
            ("pending", "running"),
            status=status,
            result_json=dump_json(result),
            error_text=error,
            finished_at_ms=now_ms(),
        )
        if row is None:
            self._refuse(call_id, status)
        call = row_as(ToolCallRow, row)
        self._emit_update(call)
        return call

    def get(self, call_id: int) -> ToolCallRow:
        """The call with this id.

        Raises:
            NotFound: No such call in scope.
        """
        call = self._calls.find(call_id)
        if call is None:
            raise NotFound(f"tool call {call_id} not found")
        return call

    def get_one_or_none(self, call_id: int) -> ToolCallRow | None:
        """The call with this id, or None (also for another tenant's)."""
        return self._calls.find(call_id)

    def list(self, message_id: int, *, status: str | None = None) -> builtins.list[ToolCallRow]:
        """A message's calls in ordinal order (empty for a message not in scope).

        Args:
            message_id: The message.
            status: Only calls in this status.

        Raises:
            InvalidInput: ``status`` is outside the vocabulary.
        """
        where = [_t.c.conversation_message_id == message_id]
        if status is not None:
            self._check_vocab(status, TOOL_CALL_STATUSES, "status")
            where.append(_t.c.status == status)
        return self._all(ToolCallRow, self._calls.select(*where).order_by(_t.c.ordinal))

    def count(self, message_id: int) -> int:
        """Number of calls on a message (0 for a message not in scope)."""
        return self._calls.count(_t.c.conversation_message_id == message_id)

    # -- helpers --------------------------------------------------------------------------------
    def _update(self, call_id: int, from_statuses: tuple[str, ...], **values: Any) -> sa.Row[Any] | None:
        """Change a call in scope that is in one of ``from_statuses``; the updated row, or None."""
        stmt = (
            sa.update(_t)
            .where(_t.c.id == call_id, _t.c.status.in_(from_statuses), self._in_scope(_t))
            .values(**values)
            .returning(*_t.c)
        )
        return self._execute(stmt).first()

    def _message_of(self, message_id: int) -> tuple[int, str]:
        """The conversation and tenant of a message in scope.

        Raises:
            NotFound: No such message in scope.
        """
        stmt = sa.select(_m.c.conversation_id, _m.c.tenant_id).where(
            _m.c.id == message_id, self._in_scope(_m)
        )
        row = self._execute(stmt).first()
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return int(row.conversation_id), str(row.tenant_id)

    def _refuse(self, call_id: int, requested: str) -> NoReturn:
        current = self.get(call_id).status  # NotFound when the call does not exist in scope
        raise Conflict(
            f"tool call {call_id} is {current}; it cannot become {requested}",
            table=_t.name,
            constraint="status_transition",
            current=current,
            requested=requested,
        )

    def _emit_update(self, call: ToolCallRow) -> None:
        conversation_id, _ = self._message_of(call.conversation_message_id)
        self._change(
            f"conversations/{conversation_id}",
            "update",
            "tool_call",
            call.id,
            {"message_id": call.conversation_message_id, "ordinal": call.ordinal, "status": call.status},
        )
