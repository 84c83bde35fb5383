"""The upstream conversation-graph POST routes, running the registered ``graph.*`` mutations.

Bodies and responses follow the upstream HTTP table; each route is the same transaction as the named
mutation (domain rows, change-log rows and usage consumption together).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import Field, JsonValue

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.named._common import Body
from codex.api.named.graph import EdgeBody, EvolutionBody, ResearchSessionBody, VersionBody
from codex.api.routes_codex import run_mutation
from codex.api.state import AppState

__all__ = ["add_graph_routes"]


class VersionPath(Body):
    version_index: int | None = Field(None, ge=0)
    label: str = Field("", max_length=500)
    snapshot_json: JsonValue = None


class EvolutionPath(Body):
    event_kind: str = Field(min_length=1, max_length=100)
    prior_label: str | None = Field(None, max_length=500)
    new_label: str | None = Field(None, max_length=500)
    detail_json: JsonValue = None


def _run(request: Request, who: Principal, name: str, body: Body) -> Any:
    state: AppState = request.app.state.codex
    return run_mutation(state, who, state.registry.mutations[name], body).result


def add_graph_routes(app: FastAPI) -> None:
    """Mount the four upstream graph routes."""
    router = APIRouter(tags=["graph"], dependencies=[Depends(bearer_scheme)])

    @router.post("/api/codex/research-session", summary="Create or update a research session.")
    def research_session(
        body: ResearchSessionBody, request: Request, who: Principal = Depends(require("write"))
    ) -> Any:
        return _run(request, who, "graph.research_session", body)

    @router.post("/api/codex/conversations/{conv_id}/versions", summary="Append a conversation version.")
    def versions(
        body: VersionPath,
        request: Request,
        conv_id: int = Path(ge=1),
        who: Principal = Depends(require("write")),
    ) -> Any:
        full = VersionBody(conversation_id=conv_id, **body.model_dump())
        return _run(request, who, "graph.conversation_version", full)

    @router.post("/api/codex/conversation-edges", summary="Link two conversations.")
    def edges(body: EdgeBody, request: Request, who: Principal = Depends(require("write"))) -> Any:
        return _run(request, who, "graph.conversation_edge", body)

    @router.post("/api/codex/topics/{topic_id}/evolution-events", summary="Record a topic evolution event.")
    def evolution(
        body: EvolutionPath,
        request: Request,
        topic_id: int = Path(ge=1),
        who: Principal = Depends(require("write")),
    ) -> Any:
        full = EvolutionBody(topic_id=topic_id, **body.model_dump())
        return _run(request, who, "graph.topic_evolution", full)

    app.include_router(router)
