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

Tenancy: both tables are tenant-owned. Every statement carries the repository's tenant scope in SQL (the
tenant bound to the transaction, else ``default``), so another tenant's conversation or message is
indistinguishable from a missing one (``NotFound``, not listed, not counted). A message is written only
under a conversation in scope, with the conversation's tenant. :meth:`ChatRepository.unscoped` is the
operator form over every tenant.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from codex.errors import NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, row_as
from codex.repositories.gateway import TableGateway
from domains._meta import TENANT_COLUMN
from domains.user_chat import conversation_messages, conversations

__all__ = ["MESSAGE_ROLES", "ChatRepository", "ConversationRow", "MessageRow"]

MESSAGE_ROLES: Final = ("user", "assistant", "system", "tool")
"""The ``conversation_messages.role`` vocabulary."""

_conv = conversations
_msg = conversation_messages

_TOUCH = (
    sa.update(_conv)
    .where(_conv.c.id == sa.bindparam("pk"))
    .values(updated_at=sa.func.datetime("now"))
    .returning(*_conv.c)
)
_APPEND = (
    sa.insert(_msg)
    .values(
        conversation_id=sa.bindparam("conversation_id"),
        role=sa.bindparam("role"),
        content_text=sa.bindparam("content_text"),
        payload_json=sa.bindparam("payload_json"),
        tenant_id=sa.bindparam("tenant_id"),
    )
    .returning(*_msg.c)
)


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
    """Conversations and their messages, in the repository's tenant scope.

    Example:
        >>> with store.begin(tenant="acme") as conn:
        ...     chat = ChatRepository(conn)
        ...     conv = chat.create_conversation(title="hello")
        ...     _ = chat.append_message(conv.id, "user", "hi")
        ...     [(m.role, m.content_text) for m in chat.list_messages(conv.id)]
        [('user', 'hi')]
    """

    topic_root = "conversations"

    @property
    def _conversations(self) -> TableGateway[ConversationRow]:
        return self._gateway(_conv, ConversationRow)

    @property
    def _messages(self) -> TableGateway[MessageRow]:
        return self._gateway(_msg, MessageRow)

    # -- conversations --------------------------------------------------------------------------
    def create_conversation(self, *, user_id: str | None = None, title: str = "") -> ConversationRow:
        """Create a conversation of the repository's tenant.

        Args:
            user_id: The owning user (``users.id``), or None for an anonymous thread.
            title: The thread title.

        Returns:
            The new row.

        Raises:
            Conflict: ``user_id`` names no user (foreign key).
        """
        self._writable()
        conv = self._conversations.insert({"user_id": user_id, "title": title})
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
            NotFound: No such conversation in scope.
        """
        return self._conversations.get(conversation_id)

    def get_one_or_none(self, conversation_id: int) -> ConversationRow | None:
        """The conversation with this id, or None (also for another tenant's)."""
        return self._conversations.find(conversation_id)

    def exists(self, conversation_id: int) -> bool:
        """Whether the conversation exists in scope."""
        return self._conversations.exists(conversation_id)

    def list(self, *, user_id: str | None = None, limit: int = 100) -> builtins.list[ConversationRow]:
        """The conversations in scope, most recently updated first (ties: newest id first).

        The tenant condition and the limit are both in the SQL: another tenant's rows are never read.

        Args:
            user_id: Only this user's conversations (None = all).
            limit: Clamped to 1..10000.
        """
        where = [] if user_id is None else [_conv.c.user_id == user_id]
        stmt = (
            self._conversations.select(*where)
            .order_by(_conv.c.updated_at.desc(), _conv.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(ConversationRow, stmt)

    def count(self, *, user_id: str | None = None) -> int:
        """Number of conversations in scope (optionally of one user)."""
        return self._conversations.count(*([] if user_id is None else [_conv.c.user_id == user_id]))

    def touch(self, conversation_id: int) -> ConversationRow:
        """Bump the conversation's ``updated_at`` to now.

        Returns:
            The updated row.

        Raises:
            NotFound: No such conversation in scope.
        """
        self._writable()
        conv, _ = self._bump(conversation_id)
        self._change(
            self._topic(conversation_id), "update", "conversation", conversation_id, {"touched": True}
        )
        return conv

    def rename(self, conversation_id: int, title: str) -> ConversationRow:
        """Set the conversation's title (and bump ``updated_at``).

        Returns:
            The updated row.

        Raises:
            NotFound: No such conversation in scope.
        """
        self._writable()
        conv = self._conversations.update(
            conversation_id, {"title": title, "updated_at": sa.func.datetime("now")}
        )
        self._change(
            self._topic(conversation_id), "update", "conversation", conversation_id, {"title": title}
        )
        return conv

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation; its messages (and their tool calls, topic links) cascade.

        Raises:
            NotFound: No such conversation in scope.
        """
        self._writable()
        self._conversations.delete(conversation_id)
        self._change(self._topic(conversation_id), "delete", "conversation", conversation_id)

    # -- messages -------------------------------------------------------------------------------
    def append_message(
        self, conversation_id: int, role: str, text: str, *, payload: Any = None
    ) -> MessageRow:
        """Append a message to a conversation in scope and touch the conversation.

        The message gets the conversation's tenant.

        Args:
            conversation_id: The thread.
            role: One of :data:`MESSAGE_ROLES`.
            text: The message text (``content_text``).
            payload: Any JSON value (tool arguments, attachments…), stored as ``payload_json``.

        Returns:
            The new message row.

        Raises:
            InvalidInput: ``role`` is outside the vocabulary, or ``payload`` is not JSON-serialisable.
            NotFound: No such conversation in scope.
        """
        self._writable()
        self._check_vocab(role, MESSAGE_ROLES, "role")
        payload_json = dump_json(payload)
        _, tenant = self._bump(conversation_id)
        params = {
            "conversation_id": conversation_id,
            "role": role,
            "content_text": text,
            "payload_json": payload_json,
            "tenant_id": tenant,
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
            NotFound: No such message in scope.
        """
        msg = self._messages.find(message_id)
        if msg is None:
            raise NotFound(f"message {message_id} not found")
        return msg

    def list_messages(
        self, conversation_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[MessageRow]:
        """A conversation's messages in order (by id); empty for a conversation not in scope.

        Args:
            conversation_id: The thread.
            after_id: Only messages with a greater id (keyset cursor).
            limit: Clamped to 1..10000.
        """
        page = self._messages.list(
            _msg.c.conversation_id == conversation_id,
            order_by="id",
            after=after_id,
            limit=clamp_limit(limit),
        )
        return page.items

    def count_messages(self, conversation_id: int) -> int:
        """Number of messages in a conversation (0 for one not in scope)."""
        return self._messages.count(_msg.c.conversation_id == conversation_id)

    # -- helpers --------------------------------------------------------------------------------
    def _bump(self, conversation_id: int) -> tuple[ConversationRow, str]:
        """Touch a conversation in scope; returns it and its tenant (the tenant of its children)."""
        stmt = _TOUCH.where(self._in_scope(_conv))
        row = self._execute(stmt, {"pk": conversation_id}).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return row_as(ConversationRow, row), str(row._mapping[TENANT_COLUMN])

    @staticmethod
    def _topic(conversation_id: int) -> str:
        return f"conversations/{conversation_id}"
