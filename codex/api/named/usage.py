"""Usage governance as named mutations and queries: the tenant's limits and counters.

Tenant mapping: ``scope_kind = 'tenant'``, ``scope_id = <tenant>``. Mutations through the API are
counted under the metric ``api.mutations`` of that scope (see ``routes_codex``). Limits and quotas are
the operator's: ``usage.set_limit`` needs the ``operator`` scope and names the tenant it governs (a
tenant's own ``admin`` token gets 403, so no tenant can raise its own quota or lock itself out); reads
show the caller's own tenant.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from codex.api.auth import Principal
from codex.api.named._common import Body, plain
from codex.api.registry import Mutation, Query
from codex.repositories.usage import UsageRepository

__all__ = ["MUTATIONS", "QUERIES"]


class SetLimit(Body):
    tenant: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="The tenant the limit governs.",
    )
    metric_key: str = Field(min_length=1, max_length=200)
    period_kind: Literal["daily", "monthly", "none"]
    limit_value: int = Field(ge=0)
    enforcement: Literal["hard", "soft"] = "hard"


def _set_limit(conn: sa.Connection, who: Principal, body: SetLimit) -> dict[str, Any]:
    row = UsageRepository(conn).set_limit(
        body.metric_key, "tenant", body.tenant, body.period_kind, body.limit_value, body.enforcement
    )
    return plain(row)


class UsageParams(Body):
    metric_key: str | None = Field(None, max_length=200)


def _limits(conn: sa.Connection, who: Principal, params: UsageParams) -> list[dict[str, Any]]:
    rows = UsageRepository(conn).list_limits(
        metric_key=params.metric_key, scope_kind="tenant", scope_id=who.tenant
    )
    return [plain(r) for r in rows]


def _counters(conn: sa.Connection, who: Principal, params: UsageParams) -> list[dict[str, Any]]:
    repo = UsageRepository(conn)
    out = []
    for counter in repo.list_counters(metric_key=params.metric_key, scope_kind="tenant", scope_id=who.tenant):
        data = plain(counter)
        limit = repo.limit(counter.metric_key, "tenant", who.tenant)
        data["limit"] = None if limit is None else plain(limit)
        out.append(data)
    return out


MUTATIONS = [
    Mutation(
        "usage.set_limit",
        SetLimit,
        _set_limit,
        "Set a usage limit for a tenant (operator only).",
        scope="operator",
        topic="usage/<metric_key>",
    ),
]
QUERIES = [
    Query("usage.limits", UsageParams, _limits, "The tenant's usage limits.", topics=("usage/*",)),
    Query(
        "usage.counters",
        UsageParams,
        _counters,
        "The tenant's usage counters, each with its governing limit.",
        topics=("usage/*",),
    ),
]
