"""user_chat: human-facing conversations and their messages (``conversations``, ``conversation_messages``).

A live domain: every mutation appends one change-log row in the caller's transaction, on the topic
``conversations/<conversation_id>``:

* ``create_conversation`` → ``insert`` / ``conversation``;
* ``touch``, ``rename`` → ``update`` / ``conversation``;
* ``append_message`` → ``insert`` / ``conversation_message`` (the conversation's ``updated_at`` is
  bumped in the same transaction; no second change row);
* ``delete_conversation`` → ``delete`` / ``conversation`` (messages, tool calls, topic links and
  versions go with it through ``ON DELETE CASCADE``).

Timestamps are the database's ``datetime('now')`` (UTC, one-second resolution), as upstream.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from codex.errors import NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, row_as
from domains.user_chat import conversation_messages, conversations

__all__ = ["MESSAGE_ROLES", "ChatRepository", "ConversationRow", "MessageRow"]

MESSAGE_ROLES: Final = ("user", "assistant", "system", "tool")
"""The ``conversation_messages.role`` vocabulary."""

_conv = conversations
_msg = conversation_messages

_CREATE = (
    sa.insert(_conv).values(user_id=sa.bindparam("user_id"), title=sa.bindparam("title")).returning(*_conv.c)
)
_GET = sa.select(_conv).where(_conv.c.id == sa.bindparam("id"))
_TOUCH = (
    sa.update(_conv)
    .where(_conv.c.id == sa.bindparam("pk"))
    .values(updated_at=sa.func.datetime("now"))
    .returning(*_conv.c)
)
_RENAME = (
    sa.update(_conv)
    .where(_conv.c.id == sa.bindparam("pk"))
    .values(title=sa.bindparam("new_title"), updated_at=sa.func.datetime("now"))
    .returning(*_conv.c)
)
_DELETE = sa.delete(_conv).where(_conv.c.id == sa.bindparam("id")).returning(_conv.c.id)
_APPEND = (
    sa.insert(_msg)
    .values(
        conversation_id=sa.bindparam("conversation_id"),
        role=sa.bindparam("role"),
        content_text=sa.bindparam("content_text"),
        payload_json=sa.bindparam("payload_json"),
    )
    .returning(*_msg.c)
)
_GET_MESSAGE = sa.select(_msg).where(_msg.c.id == sa.bindparam("id"))


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One ``conversations`` row."""

    id: int
    user_id: str | None
    title: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One ``conversation_messages`` row; ``payload`` is the parsed ``payload_json``."""

    id: int
    conversation_id: int
    role: str
    content_text: str
    payload_json: str | None
    created_at: str

    payload = json_property("payload_json", "The message payload, parsed (None when absent).")


class ChatRepository(Repository):
    """Conversations and their messages.

    Example:
        >>> with store.begin() as conn:  # doctest: +SKIP
        ...     chat = ChatRepository(conn)
        ...     conv = chat.create_conversation(title="hello")
        ...     chat.append_message(conv.id, "user", "hi")
    """

    topic_root = "conversations"

    # -- conversations --------------------------------------------------------------------------
    def create_conversation(self, *, user_id: str | None = None, title: str = "") -> ConversationRow:
        """Create a conversation.

        Args:
            user_id: The owning user (``users.id``), or None for an anonymous thread.
            title: The thread title.

        Returns:
            The new row.

        Raises:
            Conflict: ``user_id`` names no user (foreign key).
        """
        self._writable()
        row = self._execute(_CREATE, {"user_id": user_id, "title": title}).one()
        conv = row_as(ConversationRow, row)
        self._change(
            self._topic(conv.id),
            "insert",
            "conversation",
            conv.id,
            {"title": conv.title, "user_id": conv.user_id},
        )
        return conv

    def get(self, conversation_id: int) -> ConversationRow:
        """The conversation with this id.

        Raises:
            NotFound: No such conversation.
        """
        return self._one(
            ConversationRow, _GET.params(id=conversation_id), f"conversation {conversation_id} not found"
        )

    def get_one_or_none(self, conversation_id: int) -> ConversationRow | None:
        """The conversation with this id, or None."""
        return self._one_or_none(ConversationRow, _GET.params(id=conversation_id))

    def exists(self, conversation_id: int) -> bool:
        """Whether the conversation exists."""
        return self.get_one_or_none(conversation_id) is not None

    def list(self, *, user_id: str | None = None, limit: int = 100) -> list[ConversationRow]:
        """Conversations, most recently updated first (ties: newest id first).

        Args:
            user_id: Only this user's conversations (None = all).
            limit: Clamped to 1..10000.
        """
        stmt = sa.select(_conv).order_by(_conv.c.updated_at.desc(), _conv.c.id.desc())
        if user_id is not None:
            stmt = stmt.where(_conv.c.user_id == user_id)
        return self._all(ConversationRow, stmt.limit(clamp_limit(limit)))

    def count(self, *, user_id: str | None = None) -> int:
        """Number of conversations (optionally of one user)."""
        stmt = sa.select(sa.func.count()).select_from(_conv)
        if user_id is not None:
            stmt = stmt.where(_conv.c.user_id == user_id)
        return int(self._execute(stmt).scalar_one())

    def touch(self, conversation_id: int) -> ConversationRow:
        """Bump the conversation's ``updated_at`` to now.

        Returns:
            The updated row.

        Raises:
            NotFound: No such conversation.
        """
        self._writable()
        conv = self._bump(conversation_id)
        self._change(
            self._topic(conversation_id), "update", "conversation", conversation_id, {"touched": True}
        )
        return conv

    def rename(self, conversation_id: int, title: str) -> ConversationRow:
        """Set the conversation's title (and bump ``updated_at``).

        Returns:
            The updated row.

        Raises:
            NotFound: No such conversation.
        """
        self._writable()
        row = self._execute(_RENAME, {"pk": conversation_id, "new_title": title}).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        self._change(
            self._topic(conversation_id), "update", "conversation", conversation_id, {"title": title}
        )
        return row_as(ConversationRow, row)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation; its messages (and their tool calls, topic links) cascade.

        Raises:
            NotFound: No such conversation.
        """
        self._writable()
        if self._execute(_DELETE, {"id": conversation_id}).first() is None:
            raise NotFound(f"conversation {conversation_id} not found")
        self._change(self._topic(conversation_id), "delete", "conversation", conversation_id)

    # -- messages -------------------------------------------------------------------------------
    def append_message(
        self, conversation_id: int, role: str, text: str, *, payload: Any = None
    ) -> MessageRow:
        """Append a message to a conversation and touch the conversation.

        Args:
            conversation_id: The thread.
            role: One of :data:`MESSAGE_ROLES`.
            text: The message text (``content_text``).
            payload: Any JSON value (tool arguments, attachments…), stored as ``payload_json``.

        Returns:
            The new message row.

        Raises:
            InvalidInput: ``role`` is outside the vocabulary, or ``payload`` is not JSON-serialisable.
            NotFound: No such conversation.
        """
        self._writable()
        self._check_vocab(role, MESSAGE_ROLES, "role")
        payload_json = dump_json(payload)
        self._bump(conversation_id)
        params = {
            "conversation_id": conversation_id,
            "role": role,
            "content_text": text,
            "payload_json": payload_json,
        }
        msg = row_as(MessageRow, self._execute(_APPEND, params).one())
        self._change(
            self._topic(conversation_id),
            "insert",
            "conversation_message",
            msg.id,
            {"conversation_id": conversation_id, "role": role},
        )
        return msg

    def get_message(self, message_id: int) -> MessageRow:
        """The message with this id.

        Raises:
            NotFound: No such message.
        """
        return self._one(MessageRow, _GET_MESSAGE.params(id=message_id), f"message {message_id} not found")

    def list_messages(
        self, conversation_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[MessageRow]:
        """A conversation's messages in order (by id).

        Args:
            conversation_id: The thread.
            after_id: Only messages with a greater id (paging cursor).
            limit: Clamped to 1..10000.
        """
        stmt = (
            sa.select(_msg)
            .where(_msg.c.conversation_id == conversation_id, _msg.c.id > after_id)
            .order_by(_msg.c.id)
            .limit(clamp_limit(limit))
        )
        return self._all(MessageRow, stmt)

    def count_messages(self, conversation_id: int) -> int:
        """Number of messages in a conversation."""
        stmt = sa.select(sa.func.count()).select_from(_msg).where(_msg.c.conversation_id == conversation_id)
        return int(self._execute(stmt).scalar_one())

    # -- helpers --------------------------------------------------------------------------------
    def _bump(self, conversation_id: int) -> ConversationRow:
        row = self._execute(_TOUCH, {"pk": conversation_id}).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return row_as(ConversationRow, row)

    @staticmethod
    def _topic(conversation_id: int) -> str:
        return f"conversations/{conversation_id}"
