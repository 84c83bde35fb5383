"""Chat, tool calls and topics as named mutations and queries.

Tenant rules: every handler gets a connection bound to the caller's tenant (mutations in
``store.begin(tenant=…)``, queries in ``store.connect(tenant=…)``), so the repositories on it are scoped
to that tenant in SQL: rows created here are the tenant's, an id of another tenant's row answers 404
exactly as a missing one does, and a topic slug another tenant uses is simply a new topic of the caller's.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field, JsonValue

from codex.api.auth import Principal
from codex.api.named._common import Body, plain
from codex.api.registry import Mutation, Query
from codex.repositories.tool_calls import ToolCallRepository
from codex.repositories.topics import TopicRepository
from codex.repositories.user_chat import ChatRepository

__all__ = ["MUTATIONS", "QUERIES", "owned_message"]


def owned_message(conn: sa.Connection, who: Principal, message_id: int) -> int:
    """The conversation of a message of the caller's tenant (NotFound, 404, otherwise).

    ``conn`` is bound to ``who.tenant``, so the scoped repository answers for that tenant only.
    """
    return ChatRepository(conn).get_message(message_id).conversation_id


class CreateConversation(Body):
    title: str = Field("", max_length=500)
    user_id: str | None = Field(None, max_length=200)


def _create_conversation(conn: sa.Connection, who: Principal, body: CreateConversation) -> dict[str, Any]:
    return plain(ChatRepository(conn).create_conversation(user_id=body.user_id, title=body.title))


class AppendMessage(Body):
    conversation_id: int = Field(ge=1)
    role: Literal["user", "assistant", "system", "tool"]
    text: str = Field(max_length=200_000)
    payload: JsonValue = None


def _append_message(conn: sa.Connection, who: Principal, body: AppendMessage) -> dict[str, Any]:
    row = ChatRepository(conn).append_message(
        body.conversation_id, body.role, body.text, payload=body.payload
    )
    return plain(row)


class AddToolCall(Body):
    message_id: int = Field(ge=1)
    tool_name: str = Field(min_length=1, max_length=200)
    arguments: JsonValue = None
    ordinal: int | None = Field(None, ge=0, description="Omit to take the next free ordinal of the message.")


def _add_tool_call(conn: sa.Connection, who: Principal, body: AddToolCall) -> dict[str, Any]:
    row = ToolCallRepository(conn).add(body.message_id, body.tool_name, body.arguments, ordinal=body.ordinal)
    return plain(row)


class FinishToolCall(Body):
    tool_call_id: int = Field(ge=1)
    status: Literal["succeeded", "failed", "cancelled"]
    result: JsonValue = None
    error: str | None = Field(None, max_length=20_000)


def _finish_tool_call(conn: sa.Connection, who: Principal, body: FinishToolCall) -> dict[str, Any]:
    calls = ToolCallRepository(conn)
    return plain(calls.finish(body.tool_call_id, body.status, result=body.result, error=body.error))


class EnsureTopic(Body):
    slug: str = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    label: str = Field("", max_length=500)


def _ensure_topic(conn: sa.Connection, who: Principal, body: EnsureTopic) -> dict[str, Any]:
    return plain(TopicRepository(conn).ensure(body.slug, body.label))


class LinkTopic(Body):
    conversation_id: int = Field(ge=1)
    topic_id: int = Field(ge=1)
    weight: float = Field(1.0, ge=0, le=1_000_000)


def _link_topic(conn: sa.Connection, who: Principal, body: LinkTopic) -> dict[str, Any]:
    created = TopicRepository(conn).link_conversation(body.conversation_id, body.topic_id, weight=body.weight)
    return {
        "conversation_id": body.conversation_id,
        "topic_id": body.topic_id,
        "weight": body.weight,
        "created": created,
    }


class ConversationsParams(Body):
    limit: int = Field(50, ge=1, le=500)


def _conversations(conn: sa.Connection, who: Principal, params: ConversationsParams) -> list[dict[str, Any]]:
    return [plain(r) for r in ChatRepository(conn).list(limit=params.limit)]


class MessagesParams(Body):
    conversation_id: int = Field(ge=1)


def _messages(conn: sa.Connection, who: Principal, params: MessagesParams) -> list[dict[str, Any]]:
    chat = ChatRepository(conn)
    chat.get(params.conversation_id)  # 404 for a conversation not the tenant's (not an empty list)
    return [plain(m) for m in chat.list_messages(params.conversation_id)]


class ToolCallsParams(Body):
    message_id: int = Field(ge=1)


def _tool_calls(conn: sa.Connection, who: Principal, params: ToolCallsParams) -> list[dict[str, Any]]:
    owned_message(conn, who, params.message_id)  # 404 for a message not the tenant's
    return [plain(c) for c in ToolCallRepository(conn).list(params.message_id)]


MUTATIONS = [
    Mutation(
        "chat.create_conversation",
        CreateConversation,
        _create_conversation,
        "Create a conversation owned by the caller's tenant.",
        topic="conversations/<id>",
    ),
    Mutation(
        "chat.append_message",
        AppendMessage,
        _append_message,
        "Append a message to one of the tenant's conversations.",
        topic="conversations/<id>",
    ),
    Mutation(
        "tool_calls.add",
        AddToolCall,
        _add_tool_call,
        "Record a tool call on a message (next free ordinal when none is given).",
        topic="conversations/<id>",
    ),
    Mutation(
        "tool_calls.finish",
        FinishToolCall,
        _finish_tool_call,
        "Finish a tool call (succeeded / failed / cancelled).",
        topic="conversations/<id>",
    ),
    Mutation(
        "topics.ensure",
        EnsureTopic,
        _ensure_topic,
        "Create a topic (or return the tenant's existing one).",
        topic="topics/<id>",
    ),
    Mutation(
        "topics.link_conversation",
        LinkTopic,
        _link_topic,
        "Tag a conversation with a topic.",
        topic="topics/<id>",
    ),
]
QUERIES = [
    Query(
        "chat.conversations",
        ConversationsParams,
        _conversations,
        "The tenant's conversations.",
        topics=("conversations/*",),
    ),
    Query(
        "chat.messages",
        MessagesParams,
        _messages,
        "Messages of one of the tenant's conversations.",
        topics=("conversations/{conversation_id}",),
    ),
    Query(
        "tool_calls.list",
        ToolCallsParams,
        _tool_calls,
        "Tool calls of one of the tenant's messages.",
        topics=("conversations/*",),
    ),
]
