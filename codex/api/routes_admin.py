"""Operator routes the console is built on (and anyone else may call): ``/api/admin/*`` and ``/api/search``.

Every route sits behind the one auth boundary (:func:`codex.api.auth.require`) and answers only for the
caller's tenant:

* ``GET /api/admin/overview`` (read): the drift details behind ``/ready`` (missing / extra tables,
  columns and indexes), the applied-revision ledger, the database mode (``DbConfig.describe()``: never
  the token; the URL and path for admin tokens only) and, for an embedded replica, its lag behind the
  primary.
* ``POST /api/admin/replica/sync`` (admin): pull the primary into the embedded replica now; 409 on any
  other mode.
* ``GET /api/admin/schema`` (read): the 18 domains (and bookkeeping) → tables → columns, keys, foreign
  keys with ``ON DELETE``, indexes and the fragment or revision that created each table, described from
  the models in ``domains/`` (by :mod:`codex.api.schema_view`, which also details the drift). Row counts
  span every tenant, so they need the ``operator`` scope.
* ``GET /api/admin/registry`` (read): the named queries and mutations with their parameters.
* ``GET /api/admin/changes/tail`` (read): where to start a stream so that it replays the tenant's last
  ``limit`` changes matching a topic pattern (the live page opens with recent history, no gap).
* ``GET /api/admin/runs`` (read): the tenant's processing runs with their steps, filtered by status,
  kind and a ``created_at`` window.
* ``GET /api/search`` (read): search the tenant's documents (``uri_prefix = "<tenant>/"``) with
  :func:`codex.search.search`; 503 when the search package cannot be imported.

The console's browser tests add a stream-drop route of their own (``tests/console/hooked_serve.py``):
nothing test-only ships here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Query as QueryParam
from pydantic import BaseModel, Field, JsonValue

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.errors import ApiError
from codex.api.named._common import plain
from codex.api.replica import ReplicaState, ReplicaTracker
from codex.api.schema_view import Drift, SchemaResponse, describe_schema, row_counts, schema_drift
from codex.api.state import AppState
from codex.errors import InvalidInput
from codex.migrate import read_ledger, verify_database
from codex.reactive.patterns import TopicPattern
from codex.repositories._base import sql_timestamp
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.processing_audit import RUN_STATUSES, ProcessingRepository
from codex.search import SearchHit
from codex.search import search as search_corpus

__all__ = ["add_admin_routes"]


# -- response models --------------------------------------------------------------------------------
class LedgerRow(BaseModel):
    """One applied (or failed) migration step."""

    id: int
    revision: str
    from_revision: str | None
    to_revision: str | None
    direction: str
    schema_version: int | None
    digest_before: str
    digest_after: str
    started_at: str
    finished_at: str | None
    duration_ms: int
    error_text: str | None


class DatabaseInfo(BaseModel):
    """Where the database is (``url`` and ``path`` for admin tokens only); the token is only ever
    reported as set or not."""

    mode: Literal["local", "memory", "remote", "replica"]
    url: str | None
    path: str | None
    source: str
    token: Literal["set"] | None


class OverviewResponse(BaseModel):
    """What the console's overview shows next to ``/ready``."""

    ok: bool
    problems: list[str]
    drift: Drift
    ledger: list[LedgerRow]
    database: DatabaseInfo
    replica: ReplicaState | None


class SyncResponse(BaseModel):
    """The outcome of a replica sync."""

    synced: bool
    replica: ReplicaState


class ParamInfo(BaseModel):
    name: str
    type: str
    required: bool
    default: JsonValue = None
    description: str | None = None


class NamedInfo(BaseModel):
    name: str
    summary: str
    scope: str
    params: list[ParamInfo]


class RegistryResponse(BaseModel):
    """The named queries and mutations this server runs."""

    queries: list[NamedInfo]
    mutations: list[NamedInfo]


class TailResponse(BaseModel):
    """Where to start a stream to replay recent history."""

    topic: str
    after_id: int = Field(description="Stream from here (`?after_id=`) to replay the matching changes.")
    replayed: int = Field(description="How many matching changes that replays (at most `limit`).")
    head: int = Field(description="The newest change-log id of the tenant (0 when none).")


class RunsResponse(BaseModel):
    """The tenant's processing runs, newest first."""

    runs: list[dict[str, JsonValue]]


class SearchResponse(BaseModel):
    """Search hits, best first."""

    query: str
    mode: str
    k: int
    hits: list[SearchHit]


# -- registry -------------------------------------------------------------------------------------------
def _params(model: type[BaseModel]) -> list[ParamInfo]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out: list[ParamInfo] = []
    for name, prop in schema.get("properties", {}).items():
        kinds = [p.get("type") for p in prop.get("anyOf", [prop]) if p.get("type") not in (None, "null")]
        if "enum" in prop:
            kinds = ["|".join(str(v) for v in prop["enum"])]
        out.append(
            ParamInfo(
                name=name,
                type=" | ".join(str(k) for k in kinds) or "any",
                required=name in required,
                default=prop.get("default"),
                description=prop.get("description"),
            )
        )
    return out


# -- time windows -------------------------------------------------------------------------------------
def parse_time(value: str | None, field: str) -> str | None:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` or ISO 8601 (``T``, offsets) → UTC ``YYYY-MM-DD HH:MM:SS``.

    Raises:
        InvalidInput: Not a date or time.
    """
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        if moment.year < 1000:
            raise ValueError("year before 1000")
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{field} must be a date or time like 2026-01-31 or 2026-01-31 14:30 (UTC); got {value!r}",
            field=field,
        ) from None
    return sql_timestamp(moment)


def _runs(
    state: AppState,
    who: Principal,
    status: str | None,
    run_kind: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    with state.store.connect(tenant=who.tenant) as conn:  # the repository reads in the caller's tenant
        runs = ProcessingRepository(conn).list_runs(
            status=status, run_kind=run_kind, since=since, until=until, limit=limit, with_steps=True
        )
    return [{**plain(run), "steps": [plain(s) for s in run.steps]} for run in runs]


def _tail(state: AppState, tenant: str, pattern: TopicPattern, limit: int) -> TailResponse:
    with state.store.connect(tenant=tenant) as conn:  # the repository reads in the caller's tenant
        found = ChangeLogRepository(conn).tail(pattern, limit)
    return TailResponse(topic=pattern.text, after_id=found.after_id, replayed=found.replayed, head=found.head)


# -- routes ---------------------------------------------------------------------------------------------
def add_admin_routes(app: FastAPI, replica: ReplicaTracker) -> None:
    """Mount ``/api/admin/*`` and ``/api/search``.

    Args:
        app: The app.
        replica: The embedded replica's tracker; its engine on the primary belongs to the app, whose
            lifespan disposes it (:func:`codex.api.app.create_app`).
    """
    router = APIRouter(tags=["admin"], dependencies=[Depends(bearer_scheme)])

    @router.get(
        "/api/admin/overview",
        response_model=OverviewResponse,
        summary="Drift details, the migration ledger, the database mode and replica lag.",
    )
    async def overview(request: Request, who: Principal = Depends(require("read"))) -> OverviewResponse:
        state: AppState = request.app.state.codex

        def build() -> OverviewResponse:
            with state.store.connect() as conn:
                report = verify_database(conn)
                drift = schema_drift(conn)
                ledger = [LedgerRow.model_validate(e, from_attributes=True) for e in read_ledger(conn)]
            described = state.store.config.describe()
            if not who.is_operator:  # where the database lives is for operators only
                described.update(url=None, path=None)
            lag = replica.state(state) if state.store.config.mode == "replica" else None
            return OverviewResponse(
                ok=report.ok,
                problems=report.problems,
                drift=drift,
                ledger=ledger,
                database=DatabaseInfo.model_validate(described),
                replica=lag,
            )

        try:
            with anyio.fail_after(20):
                return await anyio.to_thread.run_sync(build, abandon_on_cancel=True)
        except TimeoutError:
            raise ApiError(503, "DatabaseUnavailable", "the database did not answer within 20 s") from None

    @router.post(
        "/api/admin/replica/sync",
        response_model=SyncResponse,
        summary="Pull the primary into this server's embedded replica now (admin).",
        responses={409: {"description": "The database is not an embedded replica."}},
    )
    def sync(request: Request, who: Principal = Depends(require("admin"))) -> SyncResponse:
        state: AppState = request.app.state.codex
        mode = state.store.config.mode
        if mode != "replica":
            raise ApiError(
                409, "NotAReplica", f"the database is {mode}, not an embedded replica: nothing to sync"
            )
        synced = state.store.sync()
        replica.last_sync = datetime.now(UTC)
        state.hub.notify()  # rows pulled from the primary: let the streams read them now
        return SyncResponse(synced=synced, replica=replica.state(state))

    @router.get(
        "/api/admin/schema",
        response_model=SchemaResponse,
        summary="Domains, tables, columns, keys, foreign keys, indexes and their fragments.",
    )
    def schema(request: Request, who: Principal = Depends(require("read"))) -> SchemaResponse:
        counts = row_counts(request.app.state.codex.store) if who.is_operator else None
        return describe_schema(counts)

    @router.get(
        "/api/admin/registry",
        response_model=RegistryResponse,
        summary="The named queries and mutations with their parameters.",
    )
    def registry(request: Request, who: Principal = Depends(require("read"))) -> RegistryResponse:
        state: AppState = request.app.state.codex
        return RegistryResponse(
            queries=[
                NamedInfo(name=q.name, summary=q.summary, scope=q.scope, params=_params(q.model))
                for q in sorted(state.registry.queries.values(), key=lambda q: q.name)
            ],
            mutations=[
                NamedInfo(name=m.name, summary=m.summary, scope=m.scope, params=_params(m.model))
                for m in sorted(state.registry.mutations.values(), key=lambda m: m.name)
            ],
        )

    @router.get(
        "/api/admin/changes/tail",
        response_model=TailResponse,
        summary="The cursor that replays the tenant's last `limit` changes matching a topic pattern.",
    )
    def tail(
        request: Request,
        topic: str = QueryParam("*", max_length=256, description="A topic pattern (empty: `*`)."),
        limit: int = QueryParam(20, ge=0, le=500),
        who: Principal = Depends(require("read")),
    ) -> TailResponse:
        pattern = TopicPattern.parse(topic.strip() or "*")
        return _tail(request.app.state.codex, who.tenant, pattern, limit)

    @router.get(
        "/api/admin/runs",
        response_model=RunsResponse,
        summary="The tenant's processing runs with their steps, filtered by status, kind and time.",
    )
    def runs(
        request: Request,
        status: str | None = QueryParam(None, max_length=50),
        run_kind: str | None = QueryParam(None, max_length=200),
        since: str | None = QueryParam(None, max_length=40, description="Inclusive lower bound (UTC)."),
        until: str | None = QueryParam(None, max_length=40, description="Exclusive upper bound (UTC)."),
        limit: int = QueryParam(50, ge=1, le=500),
        who: Principal = Depends(require("read")),
    ) -> RunsResponse:
        if status and status not in RUN_STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}", field="status"
            )
        window = parse_time(since, "since"), parse_time(until, "until")
        found = _runs(request.app.state.codex, who, status or None, run_kind or None, *window, limit)
        return RunsResponse(runs=found)

    @router.get(
        "/api/search",
        response_model=SearchResponse,
        tags=["search"],
        summary="Search the tenant's documents (fts, vector or hybrid) with per-leg ranks.",
    )
    def search(
        request: Request,
        q: str = QueryParam(min_length=1, max_length=2000, description="Free text."),
        mode: Literal["fts", "vector", "hybrid"] = QueryParam("hybrid"),
        k: int = QueryParam(10, ge=1, le=100),
        who: Principal = Depends(require("read")),
    ) -> SearchResponse:
        state: AppState = request.app.state.codex
        # Tenant scope: a tenant sees the documents under ``<tenant>/``; an operator token sees the whole
        # corpus (including documents ingested from the CLI, e.g. `codex search ingest`).
        scope = None if who.is_operator else f"{who.tenant}/"
        with state.store.connect() as conn:
            hits = search_corpus(conn, q, mode=mode, k=k, uri_prefix=scope)
        return SearchResponse(query=q, mode=mode, k=k, hits=list(hits))

    app.include_router(router)
