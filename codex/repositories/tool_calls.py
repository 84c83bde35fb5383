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
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import Repository, dump_json, json_property, now_ms, row_as, translating
from domains.tool_calls import conversation_tool_calls

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
_COLUMNS = ", ".join(c.name for c in _t.c)

# The next ordinal is computed and inserted by one statement (atomic under the write transaction).
_ADD_NEXT = (
    "INSERT INTO conversation_tool_calls "
    "(conversation_message_id, ordinal, tool_name, arguments_json, status, started_at_ms) "
    "SELECT ?, COALESCE(MAX(ordinal) + 1, 0), ?, ?, ?, ? "
    "FROM conversation_tool_calls WHERE conversation_message_id = ? "
    f"RETURNING {_COLUMNS}"
)
_ADD_AT = (
    "INSERT INTO conversation_tool_calls "
    "(conversation_message_id, ordinal, tool_name, arguments_json, status, started_at_ms) "
    f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}"
)
_FINISH = (
    "UPDATE conversation_tool_calls SET status = ?, result_json = ?, error_text = ?, finished_at_ms = ? "
    f"WHERE id = ? AND status IN ('pending', 'running') RETURNING {_COLUMNS}"
)
_START = (
    "UPDATE conversation_tool_calls SET status = 'running', started_at_ms = ? "
    f"WHERE id = ? AND status = 'pending' RETURNING {_COLUMNS}"
)
_CONVERSATION_OF = "SELECT conversation_id FROM conversation_messages WHERE id = ?"
_GET = sa.select(_t).where(_t.c.id == sa.bindparam("id"))


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

    def add(
        self,
        message_id: int,
        tool_name: str,
        arguments: Any = None,
        *,
        ordinal: int | None = None,
        status: str = "pending",
    ) -> ToolCallRow:
        """Record a tool call on a message; ``started_at_ms`` is now.

        Args:
            message_id: The ``conversation_messages`` row the call belongs to.
            tool_name: The tool's name (non-empty).
            arguments: Any JSON value (None is stored as ``{}``, the column default).
            ordinal: The call's position in the turn; None allocates the next one (0 for the first call)
                in the same statement as the insert.
            status: ``pending`` or ``running`` (a call is recorded before it ends; see :meth:`finish`).

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty tool name, negative ordinal, or a status other than pending/running.
            NotFound: No such message.
            Conflict: An explicit ``ordinal`` already used on this message (unique index).
        """
        self._writable()
        if not tool_name:
            raise InvalidInput("tool_name must not be empty", field="tool_name")
        self._check_vocab(status, ("pending", "running"), "status")
        if ordinal is not None and (isinstance(ordinal, bool) or ordinal < 0):
            raise InvalidInput("ordinal must be a non-negative integer", field="ordinal")
        args_json = dump_json({} if arguments is None else arguments)
        conversation_id = self._conversation_of(message_id)
        started = now_ms()
        if ordinal is None:
            params: tuple[Any, ...] = (message_id, tool_name, args_json, status, started, message_id)
            with translating():
                row = self._sql(_ADD_NEXT, params).one()
        else:
            with translating():
                row = self._sql(
                    _ADD_AT, (message_id, int(ordinal), tool_name, args_json, status, started)
                ).one()
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
            NotFound: No such call.
            Conflict: The call is not pending.
        """
        self._writable()
        row = self._sql(_START, (now_ms(), call_id)).first()
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
            NotFound: No such call.
            Conflict: The call has already finished (a final status never changes).
        """
        self._writable()
        self._check_vocab(status, TOOL_CALL_STATUSES, "status")
        if status not in FINAL_TOOL_CALL_STATUSES:
            raise InvalidInput(
                f"finish() needs a final status ({', '.join(FINAL_TOOL_CALL_STATUSES)}); got {status!r}",
                field="status",
            )
        row = self._sql(_FINISH, (status, dump_json(result), error, now_ms(), call_id)).first()
        if row is None:
            self._refuse(call_id, status)
        call = row_as(ToolCallRow, row)
        self._emit_update(call)
        return call

    def get(self, call_id: int) -> ToolCallRow:
        """The call with this id.

        Raises:
            NotFound: No such call.
        """
        return self._one(ToolCallRow, _GET.params(id=call_id), f"tool call {call_id} not found")

    def get_one_or_none(self, call_id: int) -> ToolCallRow | None:
        """The call with this id, or None."""
        return self._one_or_none(ToolCallRow, _GET.params(id=call_id))

    def list(self, message_id: int, *, status: str | None = None) -> builtins.list[ToolCallRow]:
        """A message's calls in ordinal order.

        Args:
            message_id: The message.
            status: Only calls in this status.

        Raises:
            InvalidInput: ``status`` is outside the vocabulary.
        """
        stmt = sa.select(_t).where(_t.c.conversation_message_id == message_id).order_by(_t.c.ordinal)
        if status is not None:
            self._check_vocab(status, TOOL_CALL_STATUSES, "status")
            stmt = stmt.where(_t.c.status == status)
        return self._all(ToolCallRow, stmt)

    def count(self, message_id: int) -> int:
        """Number of calls on a message."""
        stmt = sa.select(sa.func.count()).select_from(_t).where(_t.c.conversation_message_id == message_id)
        return int(self._execute(stmt).scalar_one())

    # -- helpers --------------------------------------------------------------------------------
    def _conversation_of(self, message_id: int) -> int:
        conversation_id = self._sql(_CONVERSATION_OF, (message_id,)).scalar()
        if conversation_id is None:
            raise NotFound(f"message {message_id} not found")
        return int(conversation_id)

    def _refuse(self, call_id: int, requested: str) -> NoReturn:
        current = self.get(call_id).status  # NotFound when the call does not exist
        raise Conflict(
            f"tool call {call_id} is {current}; it cannot become {requested}",
            table=_t.name,
            constraint="status_transition",
            current=current,
            requested=requested,
        )

    def _emit_update(self, call: ToolCallRow) -> None:
        conversation_id = self._conversation_of(call.conversation_message_id)
        self._change(
            f"conversations/{conversation_id}",
            "update",
            "tool_call",
            call.id,
            {"message_id": call.conversation_message_id, "ordinal": call.ordinal, "status": call.status},
        )
