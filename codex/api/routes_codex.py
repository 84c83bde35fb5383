"""Named mutations and queries: one typed route per registered name, plus the catch-alls.

* ``POST /api/codex/mutate/{name}``: the domain rows, the change-log rows and the tenant's usage
  consumption (metric ``api.mutations``, scope ``tenant``/<tenant>) commit in one transaction.
* ``GET /api/codex/query/{name}``: a read (one read transaction bound to the caller's tenant: no write
  lock, nothing written on the request path, so it answers while another connection writes). A result
  whose digest differs from the latest snapshot of its key — (tenant, query, canonical parameters,
  :func:`~codex.repositories.reactivity.snapshot_key`) — is recorded as a ``codex_query_snapshots`` row
  (JSON + Keccak digest) by a background recorder, which bumps the key's projection version and keeps
  the last few of each; ``cursor`` is the change-log id the result is consistent with.
* ``GET /api/codex/query/{name}/latest``: the upstream "newest stored snapshot" read: of the parameter
  set in the query string (validated, defaults filled in), or — with no query string, the upstream
  form — of any parameter set the tenant ran.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from pydantic import BaseModel, Field, JsonValue, ValidationError
from sqlalchemy import Connection

from codex.api.auth import Principal, bearer_scheme, require
from codex.api.boundary import find_problem
from codex.api.errors import ApiError
from codex.api.registry import Mutation, Query, Registry
from codex.api.state import AppState
from codex.errors import InvalidInput
from codex.repositories.reactivity import (
    QuerySnapshotRepository,
    canonical_json,
    snapshot_key,
)
from codex.repositories.tenancy import IdempotencyRepository
from codex.repositories.usage import UsageRepository
from codex.schema import keccak256_hex
from codex.store import LAST_CHANGE_KEY

__all__ = [
    "MUTATION_METRIC",
    "MutateResponse",
    "QueryResponse",
    "SnapshotResponse",
    "add_codex_routes",
    "mutation_unit",
    "read_latest_snapshot",
    "run_query",
]

MUTATION_METRIC = "api.mutations"


class MutateResponse(BaseModel):
    """What a mutation returns."""

    mutation: str
    result: JsonValue
    change_log_id: int | None = Field(None, description="The last change-log id the mutation wrote.")


class QueryResponse(BaseModel):
    """What a named query returns."""

    query_name: str
    result: JsonValue
    digest: str = Field(description="Keccak-256 of the canonical JSON of `result`.")
    version: int = Field(description="Projection version: bumped each time the result changes.")
    cursor: int = Field(description="The change-log id this result is consistent with.")


class SnapshotResponse(BaseModel):
    """The upstream latest-snapshot shape."""

    query_name: str
    snapshot_json: JsonValue
    digest: str
    created_at: str


def mutation_unit(
    who: Principal, mutation: Mutation, body: BaseModel, idempotency_key: str | None = None
) -> Callable[[Connection], MutateResponse]:
    """A mutation as a unit of work for the tenant's write transaction, with its usage consumption.

    With an ``idempotency_key`` the response is stored in the same transaction, and a request that
    repeats the key gets the stored response without running again (the same key with another body is
    refused). The unit may run more than once (:meth:`codex.store.Store.run_write` retries it when the
    database refused it before the commit was sent: nothing was written).
    """
    request_hash = keccak256_hex(canonical_json([mutation.name, body.model_dump(mode="json")]))

    def work(conn: Connection) -> MutateResponse:
        keys = IdempotencyRepository(conn)
        if idempotency_key is not None:
            replay = keys.find(who.tenant, idempotency_key)
            if replay is not None:
                if replay.request_hash != request_hash:
                    raise ApiError(
                        422,
                        "IdempotencyKeyReused",
                        "this Idempotency-Key was used for a different request",
                        field="Idempotency-Key",
                    )
                return MutateResponse.model_validate_json(replay.response_json)
        UsageRepository(conn).consume(MUTATION_METRIC, "tenant", who.tenant, 1)
        result = mutation.run(conn, who, body)
        # Build (and so validate) the response inside the transaction: a result that cannot be
        # returned rolls the mutation back instead of committing it behind a 500.
        response = MutateResponse(
            mutation=mutation.name, result=result, change_log_id=conn.info.get(LAST_CHANGE_KEY)
        )
        if idempotency_key is not None:
            keys.remember(who.tenant, idempotency_key, request_hash, response.model_dump_json())
        return response

    return work


def run_mutation(
    state: AppState, who: Principal, mutation: Mutation, body: BaseModel, idempotency_key: str | None = None
) -> MutateResponse:
    """Run a mutation (:func:`mutation_unit`) in its own write transaction, from a worker thread."""
    return state.store.run_write(mutation_unit(who, mutation, body, idempotency_key), tenant=who.tenant)


def run_query(state: AppState, who: Principal, query: Query, params: BaseModel) -> QueryResponse:
    """Run a query in one read transaction of the caller's tenant: no write lock, one consistent
    snapshot, nothing written.

    When the result differs from the latest recorded snapshot of its key (tenant, query, canonical
    parameters) it is offered to the background recorder (:class:`codex.api.snapshots.SnapshotRecorder`),
    and the response carries the version that recording gives it.
    """
    key = snapshot_key(query.name, params.model_dump(mode="json"))
    with state.store.connect(tenant=who.tenant) as conn:
        result = query.run(conn, who, params)
        latest, version, cursor = QuerySnapshotRepository(conn).latest_with_version(key)
    digest = keccak256_hex(canonical_json(result))
    if latest is not None and latest.digest == digest:
        return QueryResponse(
            query_name=query.name, result=latest.result, digest=digest, version=version, cursor=cursor
        )
    state.snapshots.offer(who.tenant, key, result)
    return QueryResponse(
        query_name=query.name, result=result, digest=digest, version=version + 1, cursor=cursor
    )


def read_latest_snapshot(
    state: AppState, who: Principal, query: Query, params: BaseModel | None
) -> SnapshotResponse:
    """The newest stored snapshot of ``query`` for the caller's tenant (a read transaction).

    Args:
        params: The parameter set whose snapshot is wanted; None for the newest of any parameter set.

    Raises:
        ApiError: 404 when there is none.
    """
    with state.store.connect(tenant=who.tenant) as conn:
        snaps = QuerySnapshotRepository(conn)
        if params is None:
            row = snaps.latest_of_query(query.name)
        else:
            row = snaps.latest(snapshot_key(query.name, params.model_dump(mode="json")))
    if row is None:
        raise ApiError(404, "NotFound", f"no snapshot for query {query.name}")
    return SnapshotResponse(
        query_name=query.name, snapshot_json=row.result, digest=row.digest, created_at=row.created_at
    )


def parse_params(query: Query, raw: dict[str, Any]) -> BaseModel:
    """Validate query-string parameters against a query's model (422 with field errors).

    The validated values obey the JSON boundary rules too (:mod:`codex.api.boundary`): a parameter
    that carries JSON, or a number parsed from text, may not hold NaN, Infinity, a lone surrogate, a
    NUL or an integer outside 64 bits.
    """
    try:
        params = query.model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(
            f"invalid parameters for query {query.name!r}",
            fields=[
                {"loc": ["query", *(str(p) for p in e["loc"])], "message": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from None
    problem = find_problem(params.model_dump(), ["query"])
    if problem is not None:
        raise InvalidInput(
            f"invalid parameters for query {query.name!r}: {problem}", fields=[problem.field()]
        )
    return params


def _signed(handler: Any, scope: str, *params: inspect.Parameter) -> Any:
    """Give a generated handler the signature FastAPI reads: ``request``, ``params``, then ``who``
    (the auth dependency requiring ``scope``)."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(
        [
            inspect.Parameter("request", positional, annotation=Request),
            *params,
            inspect.Parameter("who", positional, annotation=Principal, default=Depends(require(scope))),
        ]
    )
    return handler


def _mutation_route(mutation: Mutation) -> Any:
    async def handler(
        request: Request, body: BaseModel, idempotency_key: str | None, who: Principal
    ) -> MutateResponse:
        state: AppState = request.app.state.codex
        key = None if idempotency_key is None else IdempotencyRepository.validate_key(idempotency_key)
        # the write lane: waits on the loop, not in a worker thread; grouped with the mutations
        # queued beside it in one transaction
        return await state.store.write(mutation_unit(who, mutation, body, key), tenant=who.tenant)

    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    body = inspect.Parameter("body", positional, annotation=mutation.model)
    key = inspect.Parameter(
        "idempotency_key",
        positional,
        annotation=str | None,
        default=Header(
            None,
            alias="Idempotency-Key",
            description="Apply this mutation at most once: a retry with the same key (within 24 h) gets the "
            "stored response; the same key with another body is refused (422).",
        ),
    )
    return _signed(handler, mutation.scope, body, key)


def _query_route(query: Query) -> Any:
    async def handler(request: Request, who: Principal) -> QueryResponse:
        params = parse_params(query, dict(request.query_params))
        state: AppState = request.app.state.codex
        return await anyio.to_thread.run_sync(run_query, state, who, query, params, limiter=state.readers())

    return _signed(handler, query.scope)


def _query_openapi(query: Query) -> dict[str, Any]:
    schema = query.model.model_json_schema()
    required = set(schema.get("required", []))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    }


def add_codex_routes(app: FastAPI, registry: Registry) -> None:
    """Mount one route per registered mutation and query, then the catch-alls."""
    router = APIRouter(tags=["codex"], dependencies=[Depends(bearer_scheme)])
    for mutation in registry.mutations.values():
        router.add_api_route(
            f"/api/codex/mutate/{mutation.name}",
            _mutation_route(mutation),
            methods=["POST"],
            response_model=MutateResponse,
            summary=mutation.summary,
            name=f"mutate:{mutation.name}",
            operation_id=f"mutate_{mutation.name.replace('.', '_')}",
        )
    for query in registry.queries.values():
        router.add_api_route(
            f"/api/codex/query/{query.name}",
            _query_route(query),
            methods=["GET"],
            response_model=QueryResponse,
            summary=query.summary,
            name=f"query:{query.name}",
            operation_id=f"query_{query.name.replace('.', '_')}",
            openapi_extra=_query_openapi(query),
        )

    @router.get(
        "/api/codex/query/{name}/latest",
        response_model=SnapshotResponse,
        summary="The newest stored snapshot of a named query (the upstream read).",
    )
    def latest_snapshot(
        name: str, request: Request, who: Principal = Depends(require("read"))
    ) -> SnapshotResponse:
        query = registry.queries.get(name)
        if query is None:
            raise ApiError(404, "NotFound", f"no snapshot for query {name}")
        if not who.allows(query.scope):  # a snapshot is the query's result: the same scope reads it
            raise ApiError(
                403, "Forbidden", f"this token lacks the {query.scope!r} scope", required_scope=query.scope
            )
        raw = dict(request.query_params)
        params = parse_params(query, raw) if raw else None
        return read_latest_snapshot(request.app.state.codex, who, query, params)

    @router.post("/api/codex/mutate/{name}", include_in_schema=False)
    def unknown_mutation(name: str, who: Principal = Depends(require("write"))) -> None:
        raise ApiError(404, "NotFound", f"unknown mutation {name!r}", known=sorted(registry.mutations))

    @router.get("/api/codex/query/{name}", include_in_schema=False)
    def unknown_query(name: str, who: Principal = Depends(require("read"))) -> None:
        raise ApiError(404, "NotFound", f"unknown query {name!r}", known=sorted(registry.queries))

    app.include_router(router)
