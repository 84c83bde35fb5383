"""``codex_subscriptions`` (tenant-owned): who is subscribed to which topic, and the service's own rows.

Upstream ``upsert_codex_subscription``; delivery happens out of band, matching is exact topic equality.
The service mirrors its open streams here off the request path (``client_hint`` ``sse`` / ``websocket``,
the server in ``filter.server``, the row in the subscriber's tenant) and keeps one ``server`` row per
live server as its heartbeat; rows of a server whose heartbeat stopped are swept
(:meth:`SubscriptionRepository.sweep`, operator housekeeping: ``SubscriptionRepository.unscoped``). The
primary key is ``id`` alone, so ids stay globally unique (the service generates them); an upsert of an
id another tenant holds is a :class:`~codex.errors.Conflict` and changes nothing.

These rows are the reactive layer's own bookkeeping, not a live domain: no method here emits change-log
rows.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    check_name,
    clamp_limit,
    dump_json,
    json_property,
    prepare,
    text_literals,
)
from codex.repositories.changelog import validate_topic
from codex.repositories.gateway import TableGateway
from domains.codex_reactivity import codex_subscriptions

__all__ = ["SERVER_TOPIC", "SERVICE_HINTS", "SubscriptionRepository", "SubscriptionRow"]

SERVER_TOPIC = "codex/servers"
"""The topic of the servers' heartbeat rows in ``codex_subscriptions``."""
SERVICE_HINTS = ("sse", "websocket", "server")
"""``client_hint`` values of the rows the service writes (and sweeps)."""

# The statements, built once (the heartbeat and the upserts run every round), each in two forms keyed by
# "scoped": a tenant's (``tenant_id = :tenant``) and the unscoped operator form.
_SCOPES = (True, False)


def _upsert_subscription(scoped: bool) -> sa.Insert:
    """A tenant's upsert never takes over another tenant's row (the id is the whole primary key)."""
    t = codex_subscriptions
    columns = ("id", "topic", "filter_json", "client_hint", "tenant_id")
    stmt = sqlite.insert(t).values({c: sa.bindparam(c, type_=t.c[c].type) for c in columns})
    return stmt.on_conflict_do_update(
        index_elements=[t.c.id],
        set_={c: stmt.excluded[c] for c in ("topic", "filter_json", "client_hint")},
        where=(t.c.tenant_id == stmt.excluded.tenant_id) if scoped else None,
    )


def _heartbeat(scoped: bool) -> sa.Insert:
    """The upsert of a server's heartbeat row (``filter``: the server, the database's now, its info)."""
    t = codex_subscriptions
    stmt = sqlite.insert(t).values(
        id=sa.bindparam("id", type_=t.c.id.type),
        topic=sa.bindparam("topic", type_=t.c.topic.type),
        filter_json=sa.func.json_object(
            *text_literals("server"),
            sa.bindparam("server", type_=sa.Text),
            *text_literals("seen"),
            sa.func.datetime(*text_literals("now")),
            *text_literals("info"),
            sa.func.json(sa.bindparam("info", type_=sa.Text)),
        ),
        client_hint=text_literals("server")[0],
        tenant_id=sa.bindparam("tenant_id", type_=t.c.tenant_id.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[t.c.id],
        set_={c: stmt.excluded[c] for c in ("filter_json", "client_hint")},
        where=(t.c.tenant_id == stmt.excluded.tenant_id) if scoped else None,
    )


_UPSERT_SUBSCRIPTION = {scoped: prepare(_upsert_subscription(scoped)) for scoped in _SCOPES}
_HEARTBEAT = {scoped: prepare(_heartbeat(scoped)) for scoped in _SCOPES}


def _server_of(subs: sa.FromClause) -> sa.ColumnElement[Any]:
    """The server a service row names in its filter (``filter.server``; NULL when the filter is not JSON)."""
    return sa.case(
        (
            sa.func.json_valid(subs.c.filter_json, type_=sa.Boolean),
            sa.func.json_extract(subs.c.filter_json, "$.server"),
        )
    )


def _service_rows(subs: sa.FromClause, scoped: bool) -> builtins.list[sa.ColumnElement[bool]]:
    """The service's rows (streams and heartbeats), the tenant's only when ``scoped``."""
    where: builtins.list[sa.ColumnElement[bool]] = [subs.c.client_hint.in_(text_literals(*SERVICE_HINTS))]
    if scoped:
        where.append(subs.c.tenant_id == sa.bindparam("tenant"))
    return where


def _dead(scoped: bool) -> sa.ColumnElement[bool]:
    """The service's rows whose server has not been seen within the window (``:window``, ``'-N seconds'``).

    When ``scoped``, both the rows and the heartbeats considered are the tenant's. A row that names no
    server counts as dead (``COALESCE(…, '')``: no live server is ``''``).
    """
    t, beat = codex_subscriptions, codex_subscriptions.alias("beat")
    alive = sa.select(_server_of(beat)).where(
        beat.c.client_hint == text_literals("server")[0],
        *([beat.c.tenant_id == sa.bindparam("tenant")] if scoped else []),
        _server_of(beat).is_not(None),
        sa.func.json_extract(beat.c.filter_json, "$.seen")
        >= sa.func.datetime(*text_literals("now"), sa.bindparam("window", type_=sa.Text)),
    )
    return sa.and_(*_service_rows(t, scoped), sa.func.coalesce(_server_of(t), "").not_in(alive))


_SWEEP = {scoped: sa.delete(codex_subscriptions).where(_dead(scoped)) for scoped in _SCOPES}
_COUNT_DEAD = {
    scoped: sa.select(sa.func.count()).select_from(codex_subscriptions).where(_dead(scoped))
    for scoped in _SCOPES
}
_FORGET_SERVER = {
    scoped: sa.delete(codex_subscriptions).where(
        *_service_rows(codex_subscriptions, scoped),
        _server_of(codex_subscriptions) == sa.bindparam("server", type_=sa.Text),
    )
    for scoped in _SCOPES
}


def _window(seconds: float) -> str:
    return f"-{max(1, int(seconds))} seconds"


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """One subscription: a client's interest in a topic."""

    id: str
    topic: str
    filter_json: str | None
    client_hint: str | None
    created_at: str

    filter = json_property("filter_json", "The filter, parsed (None when absent).")


class SubscriptionRepository(Repository):
    """The tenant-owned ``codex_subscriptions`` table (upstream ``upsert_codex_subscription``).

    Bound to a tenant (the default), it reads, writes and deletes that tenant's rows only; the sweeping
    of dead servers' rows is operator housekeeping (:meth:`unscoped`).
    """

    @property
    def _subs(self) -> TableGateway[SubscriptionRow]:
        return self._gateway(codex_subscriptions, SubscriptionRow)

    def _scoped(self) -> tuple[bool, dict[str, Any]]:
        """Which form of a cached statement to run, and its ``tenant`` parameter (none when unscoped)."""
        tenant = self.scope.tenant
        return (False, {}) if tenant is None else (True, {"tenant": tenant})

    def upsert(
        self, id: str, topic: str, filter: Any = None, client_hint: str | None = None
    ) -> SubscriptionRow:
        """Create or replace a subscription by id; topic, filter and client hint are overwritten.

        Args:
            id: The subscription id (1-256 characters, chosen by the caller; unique across tenants).
            topic: A concrete topic (see :func:`~codex.repositories.changelog.validate_topic`).
            filter: Any JSON value (stored as compact JSON; None → NULL).
            client_hint: Free text about the client (at most 1024 characters).

        Returns:
            The stored row (``created_at`` is kept from the first insert).

        Raises:
            InvalidInput: Bad id, topic, filter or hint.
            Conflict: Another tenant holds a subscription with that id (it is left unchanged).
        """
        self._writable()
        scoped = self.scope.tenant is not None
        self._run(_UPSERT_SUBSCRIPTION[scoped], self._params(id, topic, filter, client_hint) | self._owner())
        row = self.get_one_or_none(id)
        if row is None:
            raise Conflict(f"subscription id {id!r} is taken", table="codex_subscriptions", columns=["id"])
        return row

    def upsert_many(self, items: Iterable[tuple[str, str, Any, str | None]]) -> int:
        """Upsert many ``(id, topic, filter, client_hint)`` subscriptions with one ``executemany``.

        Used to restore a server's subscriptions in bulk. Same rules as :meth:`upsert`, except that an id
        another tenant holds is skipped silently (its row is left unchanged).

        Returns:
            The number of rows given.

        Raises:
            InvalidInput: Any item is invalid (nothing is written then).
        """
        self._writable()
        owner = self._owner()
        rows = [self._params(*item) | owner for item in items]
        if rows:
            self._run_many(_UPSERT_SUBSCRIPTION[self.scope.tenant is not None], rows)
        return len(rows)

    def _owner(self) -> dict[str, str]:
        """The ``tenant_id`` of the rows this repository writes."""
        return {"tenant_id": self.tenant}

    @staticmethod
    def _params(id: str, topic: str, filter: Any, client_hint: str | None) -> dict[str, Any]:
        check_name(id, "id")
        validate_topic(topic)
        if client_hint is not None and (not isinstance(client_hint, str) or len(client_hint) > 1024):
            raise InvalidInput("client_hint must be a string of at most 1024 characters", field="client_hint")
        return {"id": id, "topic": topic, "filter_json": dump_json(filter), "client_hint": client_hint}

    def get(self, id: str) -> SubscriptionRow:
        """One subscription.

        Raises:
            NotFound: No subscription with that id (in scope).
        """
        row = self.get_one_or_none(id)
        if row is None:
            raise NotFound(f"no subscription {id!r}")
        return row

    def get_one_or_none(self, id: str) -> SubscriptionRow | None:
        """One subscription, or None."""
        return self._subs.find(id)

    def exists(self, id: str) -> bool:
        """Whether a subscription with that id exists (in scope)."""
        return self._subs.exists(id)

    def list(self, topic: str | None = None, *, limit: int = 1000) -> list[SubscriptionRow]:
        """Subscriptions, oldest first (exact topic filter, as upstream matching).

        Args:
            topic: Only subscriptions to this topic.
            limit: Clamped to 1..10000.
        """
        t = codex_subscriptions
        where = [] if topic is None else [t.c.topic == topic]
        stmt = self._subs.select(*where).order_by(t.c.created_at, t.c.id).limit(clamp_limit(limit))
        return self._all(SubscriptionRow, stmt)

    def count(self, topic: str | None = None) -> int:
        """Number of subscriptions (optionally to one topic)."""
        where = [] if topic is None else [codex_subscriptions.c.topic == topic]
        return self._subs.count(*where)

    def delete(self, id: str) -> None:
        """Remove a subscription.

        Raises:
            NotFound: No subscription with that id (in scope).
        """
        self._writable()
        try:
            self._subs.delete(id)
        except NotFound:
            raise NotFound(f"no subscription {id!r}") from None

    def delete_many(self, ids: Iterable[str]) -> int:
        """Remove subscriptions by id (ids that do not exist in scope are ignored).

        Returns:
            How many rows were removed.
        """
        self._writable()
        wanted = sorted(set(ids))
        removed = 0
        t = codex_subscriptions
        subs = self._subs
        for start in range(0, len(wanted), 500):  # stay well under SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            stmt = sa.delete(t).where(subs.where(t.c.id.in_(chunk))).returning(t.c.id)
            removed += len(self._execute(stmt).all())
        return removed

    def heartbeat(self, server_id: str, info: Any = None) -> None:
        """Record that ``server_id`` is alive now (its ``server`` row; the time is the database's clock).

        The service writes heartbeats with the operator form (:meth:`unscoped`: tenant ``default``).

        Args:
            server_id: The server's id (1-128 characters).
            info: Any JSON value describing the server (host, pid…), kept in the row's filter.
        """
        self._writable()
        check_name(server_id, "server_id", 128)
        params = {
            "id": f"server:{server_id}",
            "topic": SERVER_TOPIC,
            "server": server_id,
            "info": dump_json(info) or "null",
            **self._owner(),
        }
        self._run(_HEARTBEAT[self.scope.tenant is not None], params)

    def sweep(self, ttl_seconds: float) -> int:
        """Remove the service's rows (streams and heartbeats) of every server not seen for ``ttl_seconds``.

        Rows of a server that never wrote a heartbeat (earlier versions) count as dead too. Rows
        written by other clients (other ``client_hint`` values) are left alone. The clock is the
        database's, so servers with skewed clocks agree. Operator housekeeping: the unscoped form
        sweeps every tenant's rows against every heartbeat; a tenant's form sees only its own rows and
        heartbeats.

        Returns:
            How many rows were removed.
        """
        self._writable()
        scoped, params = self._scoped()
        return int(self._execute(_SWEEP[scoped], params | {"window": _window(ttl_seconds)}).rowcount or 0)

    def dead_rows(self, ttl_seconds: float) -> int:
        """How many rows :meth:`sweep` would remove now (a read)."""
        scoped, params = self._scoped()
        return int(
            self._execute(_COUNT_DEAD[scoped], params | {"window": _window(ttl_seconds)}).scalar() or 0
        )

    def forget_server(self, server_id: str) -> int:
        """Remove every row the service wrote for ``server_id`` (its streams and its heartbeat).

        Returns:
            How many rows were removed.
        """
        self._writable()
        scoped, params = self._scoped()
        return int(self._execute(_FORGET_SERVER[scoped], params | {"server": server_id}).rowcount or 0)
