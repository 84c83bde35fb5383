"""The conversation graph (research sessions, versions, edges, topic evolution) as named mutations.

The upstream POST routes (``/api/codex/research-session`` and friends, in ``routes_graph``) run these
same mutations. Every handler gets a connection bound to the caller's tenant (mutations in
``store.begin(tenant=…)``, queries in ``store.connect(tenant=…)``), so the repository is scoped to that
tenant in SQL. A research session's ``repository_id`` is the caller's tenant (a body naming another
repository is refused with 403); session keys are unique per tenant, so another tenant's session of the
same key is invisible and the call simply creates or updates the caller's own. Versions and edges need
conversations of the caller's tenant, evolution events a topic of it: another tenant's id answers 404,
exactly as a missing one does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field, JsonValue

from codex.api.auth import Principal
from codex.api.errors import ApiError
from codex.api.named._common import Body, plain
from codex.api.registry import Mutation, Query
from codex.repositories.conversation_graph import ConversationGraphRepository

__all__ = ["MUTATIONS", "QUERIES"]


class ResearchSessionBody(Body):
    session_key: str = Field(min_length=1, max_length=200)
    title: str | None = Field(None, max_length=500)
    status: str | None = Field(None, max_length=50)
    repository_id: str | None = Field(
        None, max_length=200, description="Blank or absent: the caller's tenant."
    )
    config_json: JsonValue = None
    summary_json: JsonValue = None


def _research_session(conn: sa.Connection, who: Principal, body: ResearchSessionBody) -> dict[str, Any]:
    repository_id = (body.repository_id or "").strip() or who.tenant
    if repository_id != who.tenant:
        raise ApiError(403, "Forbidden", "repository_id must be the token's tenant", tenant=who.tenant)
    row = ConversationGraphRepository(conn).upsert_research_session(
        body.session_key,
        title=body.title,
        status=body.status,
        repository_id=repository_id,
        config=body.config_json,
        summary=body.summary_json,
    )
    return {"id": row.id, "session_key": row.session_key, "repository_id": row.repository_id}


class VersionBody(Body):
    conversation_id: int = Field(ge=1)
    version_index: int | None = Field(None, ge=0, description="Omit for the next index.")
    label: str = Field("", max_length=500)
    snapshot_json: JsonValue = None


def _version(conn: sa.Connection, who: Principal, body: VersionBody) -> dict[str, Any]:
    row = ConversationGraphRepository(conn).append_conversation_version(
        body.conversation_id, label=body.label, snapshot=body.snapshot_json, version_index=body.version_index
    )
    return {"id": row.id, "conversation_id": row.conversation_id, "version_index": row.version_index}


class EdgeBody(Body):
    from_conversation_id: int = Field(ge=1)
    to_conversation_id: int = Field(ge=1)
    edge_kind: str = Field("related", min_length=1, max_length=100)
    weight: float = Field(1.0, ge=-1e9, le=1e9)
    metadata_json: JsonValue = None


def _edge(conn: sa.Connection, who: Principal, body: EdgeBody) -> dict[str, Any]:
    row = ConversationGraphRepository(conn).add_edge(
        body.from_conversation_id,
        body.to_conversation_id,
        edge_kind=body.edge_kind,
        weight=body.weight,
        metadata=body.metadata_json,
    )
    return {"id": row.id}


class EvolutionBody(Body):
    topic_id: int = Field(ge=1)
    event_kind: str = Field(min_length=1, max_length=100)
    prior_label: str | None = Field(None, max_length=500)
    new_label: str | None = Field(None, max_length=500)
    detail_json: JsonValue = None


def _evolution(conn: sa.Connection, who: Principal, body: EvolutionBody) -> dict[str, Any]:
    row = ConversationGraphRepository(conn).append_topic_evolution_event(
        body.topic_id,
        body.event_kind,
        prior_label=body.prior_label,
        new_label=body.new_label,
        detail=body.detail_json,
    )
    return {"id": row.id, "topic_id": row.topic_id}


class SessionsParams(Body):
    limit: int = Field(50, ge=1, le=500)


def _sessions(conn: sa.Connection, who: Principal, params: SessionsParams) -> list[dict[str, Any]]:
    rows = ConversationGraphRepository(conn).list_research_sessions(limit=params.limit)
    return [plain(r) for r in rows]


MUTATIONS = [
    Mutation(
        "graph.research_session",
        ResearchSessionBody,
        _research_session,
        "Create or update a research session (only the fields given change).",
        topic="research/sessions/<key>",
    ),
    Mutation(
        "graph.conversation_version",
        VersionBody,
        _version,
        "Append a version of a conversation.",
        topic="conversations/<id>",
    ),
    Mutation(
        "graph.conversation_edge",
        EdgeBody,
        _edge,
        "Link two conversations (self-loops are refused).",
        topic="conversations/<id>",
    ),
    Mutation(
        "graph.topic_evolution", EvolutionBody, _evolution, "Record how a topic evolved.", topic="topics/<id>"
    ),
]
QUERIES = [
    Query(
        "graph.research_sessions",
        SessionsParams,
        _sessions,
        "The tenant's research sessions.",
        topics=("research/sessions/*",),
    )
]
