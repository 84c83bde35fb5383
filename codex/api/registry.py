"""Named mutations and named queries: a name → a typed input model and a repository call.

``POST /api/codex/mutate/{name}`` and ``GET /api/codex/query/{name}`` are generated from these
registries, one typed route per name (so the OpenAPI contract documents every body and parameter).
A mutation runs inside the tenant's write transaction: its domain rows, their change-log rows and the
tenant's usage consumption commit together. A query runs inside one transaction too, so its result and
its ``cursor`` (the change-log id it is consistent with) agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from codex.api.auth import Principal

__all__ = ["Mutation", "Query", "Registry"]

Handler = Callable[[sa.Connection, Principal, Any], Any]


@dataclass(frozen=True)
class Mutation:
    """A named mutation.

    Attributes:
        name: URL name, e.g. ``chat.append_message``.
        model: The pydantic model of the JSON body.
        run: ``run(conn, principal, body) -> JSON-able result`` (inside the write transaction).
        summary: One line for the OpenAPI contract.
        scope: The scope the caller needs (``write``, or ``admin`` for governance).
        topic: The change-log topic family it emits (documentation; ``.live`` plans use it).
    """

    name: str
    model: type[BaseModel]
    run: Handler
    summary: str
    scope: str = "write"
    topic: str = ""


@dataclass(frozen=True)
class Query:
    """A named query (``run(conn, principal, params) -> JSON-able result``).

    Attributes:
        name: URL name, e.g. ``chat.messages``.
        model: The pydantic model of the query-string parameters.
        run: ``run(conn, principal, params) -> JSON-able result`` (inside one read transaction).
        summary: One line for the OpenAPI contract.
        scope: The scope the caller needs.
        topics: The change-log topic patterns the result depends on: a live query
            (``/api/codex/live/{query}``) is evaluated again only after a change of the tenant on one
            of them. ``{param}`` is replaced by the parameter's value, e.g.
            ``("conversations/{conversation_id}",)``; empty means every topic of the tenant (correct,
            but evaluated on every change).
    """

    name: str
    model: type[BaseModel]
    run: Handler
    summary: str
    scope: str = "read"
    topics: tuple[str, ...] = ()

    def topic_patterns(self, params: BaseModel) -> tuple[str, ...]:
        """The declared topics with ``params`` filled in (``("*",)`` when none are declared)."""
        values = params.model_dump()
        return tuple(t.format(**values) for t in self.topics) or ("*",)


@dataclass
class Registry:
    """The mutation and query registries of one app."""

    mutations: dict[str, Mutation] = field(default_factory=dict)
    queries: dict[str, Query] = field(default_factory=dict)

    def mutation(self, item: Mutation) -> None:
        """Register a mutation (names are unique)."""
        if item.name in self.mutations:
            raise ValueError(f"mutation {item.name!r} is already registered")
        self.mutations[item.name] = item

    def query(self, item: Query) -> None:
        """Register a query (names are unique)."""
        if item.name in self.queries:
            raise ValueError(f"query {item.name!r} is already registered")
        self.queries[item.name] = item

    def extend(self, mutations: Iterable[Mutation] = (), queries: Iterable[Query] = ()) -> None:
        """Register several at once."""
        for m in mutations:
            self.mutation(m)
        for q in queries:
            self.query(q)
