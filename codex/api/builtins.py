"""The built-in named mutations and queries, each a thin adapter over one repository call.

Tenant rules (see the README, "Tenancy"): entities created here are claimed by the caller's tenant in
``codex_entity_owners``; an id owned by another tenant answers 404 exactly as a missing one does.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from codex.api.auth import Principal
from codex.api.registry import Mutation, Query, Registry
from codex.reactive.feed import read_changes
from codex.reactive.patterns import TopicPattern
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.tenancy import OwnershipRepository
from codex.repositories.user_chat import ChatRepository

__all__ = ["register_builtins"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeBody(_Body):
    """The upstream generic mutation: append one change-log row to ``topic``."""

    topic: str = Field(min_length=1, max_length=256, description="Concrete topic, e.g. `notes/7`.")
    change_kind: str = Field(min_length=1, max_length=64, description="insert / update / delete or any verb.")
    entity_kind: str | None = Field(None, max_length=128)
    entity_id: str | None = Field(None, max_length=256)
    payload: JsonValue = None


def _change(conn: sa.Connection, who: Principal, body: ChangeBody) -> dict[str, Any]:
    change_id = ChangeLogRepository(conn).append(
        body.topic,
        body.change_kind,
        entity_kind=body.entity_kind,
        entity_id=body.entity_id,
        payload=body.payload,
    )
    return {"change_log_id": change_id, "topic": body.topic}


class CreateConversation(_Body):
    title: str = Field("", max_length=500)
    user_id: str | None = Field(None, max_length=200)


def _create_conversation(conn: sa.Connection, who: Principal, body: CreateConversation) -> dict[str, Any]:
    row = ChatRepository(conn).create_conversation(user_id=body.user_id, title=body.title)
    OwnershipRepository(conn).claim("conversation", row.id, who.tenant)
    return _plain(row)


class AppendMessage(_Body):
    conversation_id: int = Field(ge=1)
    role: Literal["user", "assistant", "system", "tool"]
    text: str = Field(max_length=200_000)
    payload: JsonValue = None


def _append_message(conn: sa.Connection, who: Principal, body: AppendMessage) -> dict[str, Any]:
    OwnershipRepository(conn).require("conversation", body.conversation_id, who.tenant)
    row = ChatRepository(conn).append_message(
        body.conversation_id, body.role, body.text, payload=body.payload
    )
    return _plain(row)


class ChangesParams(_Body):
    after_id: int = Field(0, ge=0)
    topic: str = Field("*", description="A topic pattern (exact, `prefix/*`, `+` for one segment).")
    limit: int = Field(100, ge=1, le=1000)


def _changes(conn: sa.Connection, who: Principal, params: ChangesParams) -> list[dict[str, Any]]:
    pattern = TopicPattern.parse(params.topic)
    out: list[dict[str, Any]] = []
    cursor = params.after_id
    while len(out) < params.limit:
        rows = read_changes(conn, cursor, limit=500, tenant=who.tenant)
        if not rows:
            break
        out.extend(r.as_dict() for r in rows if pattern.matches(r.topic))
        cursor = rows[-1].id
    return out[: params.limit]


class ConversationsParams(_Body):
    limit: int = Field(50, ge=1, le=500)


def _conversations(conn: sa.Connection, who: Principal, params: ConversationsParams) -> list[dict[str, Any]]:
    owners = OwnershipRepository(conn)
    rows = ChatRepository(conn).list(limit=10_000)
    return [_plain(r) for r in rows if owners.owner("conversation", r.id) == who.tenant][: params.limit]


class MessagesParams(_Body):
    conversation_id: int = Field(ge=1)


def _messages(conn: sa.Connection, who: Principal, params: MessagesParams) -> list[dict[str, Any]]:
    OwnershipRepository(conn).require("conversation", params.conversation_id, who.tenant)
    return [_plain(m) for m in ChatRepository(conn).list_messages(params.conversation_id)]


def _plain(row: Any) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(row)
    for key in [k for k in data if k.endswith("_json")]:
        data.pop(key)
        data[key[: -len("_json")]] = getattr(row, key[: -len("_json")], None)
    return data


def register_builtins(registry: Registry) -> None:
    """Register the built-in mutations and queries."""
    registry.extend(
        mutations=[
            Mutation(
                "change",
                ChangeBody,
                _change,
                "Append one change-log row (the upstream generic form).",
                topic="<topic>",
            ),
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
        ],
        queries=[
            Query("changes.since", ChangesParams, _changes, "The tenant's change-log rows after a cursor."),
            Query("chat.conversations", ConversationsParams, _conversations, "The tenant's conversations."),
            Query(
                "chat.messages", MessagesParams, _messages, "Messages of one of the tenant's conversations."
            ),
        ],
    )
