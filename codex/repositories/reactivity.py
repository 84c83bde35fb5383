"""codex_reactivity (the rest): subscriptions, schema lineage, query snapshots, projection versions.

The change log itself lives in :mod:`codex.repositories.changelog`. The tables here are the
reactive layer's bookkeeping (``semantics.md`` §6):

* ``codex_subscriptions``: who is subscribed to which topic (upstream ``upsert_codex_subscription``;
  delivery happens out of band, matching is exact topic equality). The service mirrors its open
  streams here off the request path (``client_hint`` ``sse`` / ``websocket``, the server in
  ``filter.server``) and keeps one ``server`` row per live server as its heartbeat; rows of a server
  whose heartbeat stopped are swept (:meth:`SubscriptionRepository.sweep`);
* ``codex_schema_lineage``: append-only provenance of baselines and imports
  (upstream ``record_codex_schema_lineage``);
* ``codex_query_snapshots``: materialised named-query results with a content digest. Upstream never
  writes them; Codex stores the canonical JSON (``sort_keys``, compact separators, UTF-8) and its
  Keccak-256 digest (``0x`` + 64 hex), so equal results always have equal digests;
* ``codex_projection_versions``: a ``(projection_name, version)`` ledger; each bump inserts
  ``MAX(version) + 1`` in one statement.

:meth:`QuerySnapshotRepository.record_result` ties the last two together: it saves a snapshot and bumps
the projection version only when the result's digest differs from the latest snapshot's.

Change log: these tables are the reactive layer's own bookkeeping, not a live domain; no method here
emits change-log rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, row_as
from codex.repositories.changelog import validate_topic
from codex.schema import keccak256_hex
from domains.codex_reactivity import (
    codex_projection_versions,
    codex_query_snapshots,
    codex_schema_lineage,
    codex_subscriptions,
)

__all__ = [
    "SERVER_TOPIC",
    "SERVICE_HINTS",
    "LineageRow",
    "ProjectionRepository",
    "ProjectionVersion",
    "QuerySnapshotRepository",
    "QuerySnapshotRow",
    "RecordedResult",
    "SchemaLineageRepository",
    "SubscriptionRepository",
    "SubscriptionRow",
    "canonical_json",
]

_UPSERT_SUBSCRIPTION = (
    "INSERT INTO codex_subscriptions (id, topic, filter_json, client_hint) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, filter_json = excluded.filter_json, "
    "client_hint = excluded.client_hint"
)
SERVER_TOPIC = "codex/servers"
"""The topic of the servers' heartbeat rows in ``codex_subscriptions``."""
SERVICE_HINTS = ("sse", "websocket", "server")
"""``client_hint`` values of the rows the service writes (and sweeps)."""
_HEARTBEAT = (
    "INSERT INTO codex_subscriptions (id, topic, filter_json, client_hint) VALUES "
    "(?, ?, json_object('server', ?, 'seen', datetime('now'), 'info', json(?)), 'server') "
    "ON CONFLICT (id) DO UPDATE SET filter_json = excluded.filter_json, client_hint = excluded.client_hint"
)
_SERVER_OF = "(CASE WHEN json_valid(filter_json) THEN json_extract(filter_json, '$.server') END)"
_DEAD = (
    "client_hint IN ('sse', 'websocket', 'server') "
    f"AND COALESCE({_SERVER_OF}, '') NOT IN (SELECT {_SERVER_OF} FROM codex_subscriptions "
    f"WHERE client_hint = 'server' AND {_SERVER_OF} IS NOT NULL "
    "AND json_extract(filter_json, '$.seen') >= datetime('now', ?))"
)
"""The service's rows whose server has not been seen within the window (``'-N seconds'``)."""
_SWEEP = f"DELETE FROM codex_subscriptions WHERE {_DEAD}"
_COUNT_DEAD = f"SELECT COUNT(*) FROM codex_subscriptions WHERE {_DEAD}"
_FORGET_SERVER = f"DELETE FROM codex_subscriptions WHERE client_hint IN ('sse', 'websocket', 'server') AND {_SERVER_OF} = ?"
_BUMP = (
    "INSERT INTO codex_projection_versions (projection_name, version) "
    "SELECT ?, COALESCE(MAX(version), 0) + 1 FROM codex_projection_versions WHERE projection_name = ? "
    "RETURNING version"
)
_PRUNE_SNAPSHOTS = (
    "DELETE FROM codex_query_snapshots WHERE rowid IN (SELECT rowid FROM (SELECT rowid, created_at, "
    "ROW_NUMBER() OVER (PARTITION BY query_name ORDER BY created_at DESC, rowid DESC) AS rn "
    "FROM codex_query_snapshots)"
)
_CURRENT = "SELECT COALESCE(MAX(version), 0) FROM codex_projection_versions WHERE projection_name = ?"


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value: sorted keys, compact separators, UTF-8, no NaN.

    Raises:
        InvalidInput: The value is not JSON-serialisable (or holds NaN / infinity).

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        '{"a":[1,2],"b":1}'
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"result is not JSON-serialisable: {exc}", field="result") from exc


def _name(value: str, what: str, maximum: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > maximum:
        raise InvalidInput(f"{what} must be a non-empty string of at most {maximum} characters", field=what)
    return value


def _window(seconds: float) -> str:
    return f"-{max(1, int(seconds))} seconds"


# -- subscriptions ------------------------------------------------------------------------------
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
    """The ``codex_subscriptions`` table (upstream ``upsert_codex_subscription``)."""

    def upsert(
        self, id: str, topic: str, filter: Any = None, client_hint: str | None = None
    ) -> SubscriptionRow:
        """Create or replace a subscription by id; topic, filter and client hint are overwritten.

        Args:
            id: The subscription id (1-256 characters, chosen by the caller).
            topic: A concrete topic (see :func:`~codex.repositories.changelog.validate_topic`).
            filter: Any JSON value (stored as compact JSON; None → NULL).
            client_hint: Free text about the client (at most 1024 characters).

        Returns:
            The stored row (``created_at`` is kept from the first insert).

        Raises:
            InvalidInput: Bad id, topic, filter or hint.
        """
        self._writable()
        self._raw(_UPSERT_SUBSCRIPTION, self._params(id, topic, filter, client_hint))
        return self.get(id)

    def upsert_many(self, items: Iterable[tuple[str, str, Any, str | None]]) -> int:
        """Upsert many ``(id, topic, filter, client_hint)`` subscriptions with one ``executemany``.

        Used to restore a server's subscriptions in bulk. Same rules as :meth:`upsert`.

        Returns:
            The number of rows written.

        Raises:
            InvalidInput: Any item is invalid (nothing is written then).
        """
        self._writable()
        rows = [self._params(*item) for item in items]
        if rows:
            self._raw_many(_UPSERT_SUBSCRIPTION, rows)
        return len(rows)

    @staticmethod
    def _params(id: str, topic: str, filter: Any, client_hint: str | None) -> tuple[Any, ...]:
        _name(id, "id")
        validate_topic(topic)
        if client_hint is not None and (not isinstance(client_hint, str) or len(client_hint) > 1024):
            raise InvalidInput("client_hint must be a string of at most 1024 characters", field="client_hint")
        return (id, topic, dump_json(filter), client_hint)

    def get(self, id: str) -> SubscriptionRow:
        """One subscription.

        Raises:
            NotFound: No subscription with that id.
        """
        t = codex_subscriptions
        return self._one(SubscriptionRow, sa.select(t).where(t.c.id == id), f"no subscription {id!r}")

    def get_one_or_none(self, id: str) -> SubscriptionRow | None:
        """One subscription, or None."""
        t = codex_subscriptions
        return self._one_or_none(SubscriptionRow, sa.select(t).where(t.c.id == id))

    def exists(self, id: str) -> bool:
        """Whether a subscription with that id exists."""
        t = codex_subscriptions
        return self._execute(sa.select(sa.literal(1)).where(t.c.id == id)).first() is not None

    def list(self, topic: str | None = None, *, limit: int = 1000) -> list[SubscriptionRow]:
        """Subscriptions, oldest first (exact topic filter, as upstream matching).

        Args:
            topic: Only subscriptions to this topic.
            limit: Clamped to 1..10000.
        """
        t = codex_subscriptions
        stmt = sa.select(t).order_by(t.c.created_at, t.c.id).limit(clamp_limit(limit))
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        return self._all(SubscriptionRow, stmt)

    def count(self, topic: str | None = None) -> int:
        """Number of subscriptions (optionally to one topic)."""
        t = codex_subscriptions
        stmt = sa.select(sa.func.count()).select_from(t)
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        return int(self._execute(stmt).scalar_one())

    def delete(self, id: str) -> None:
        """Remove a subscription.

        Raises:
            NotFound: No subscription with that id.
        """
        self._writable()
        t = codex_subscriptions
        self._affect_one(sa.delete(t).where(t.c.id == id), f"no subscription {id!r}")

    def delete_many(self, ids: Iterable[str]) -> int:
        """Remove subscriptions by id (ids that do not exist are ignored).

        Returns:
            How many rows were removed.
        """
        self._writable()
        wanted = sorted(set(ids))
        removed = 0
        t = codex_subscriptions
        for start in range(0, len(wanted), 500):  # stay well under SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            removed += len(self._execute(sa.delete(t).where(t.c.id.in_(chunk)).returning(t.c.id)).all())
        return removed

    def heartbeat(self, server_id: str, info: Any = None) -> None:
        """Record that ``server_id`` is alive now (its ``server`` row; the time is the database's clock).

        Args:
            server_id: The server's id (1-128 characters).
            info: Any JSON value describing the server (host, pid…), kept in the row's filter.
        """
        self._writable()
        _name(server_id, "server_id", 128)
        self._raw(_HEARTBEAT, (f"server:{server_id}", SERVER_TOPIC, server_id, dump_json(info) or "null"))

    def sweep(self, ttl_seconds: float) -> int:
        """Remove the service's rows (streams and heartbeats) of every server not seen for ``ttl_seconds``.

        Rows of a server that never wrote a heartbeat (earlier versions) count as dead too. Rows
        written by other clients (other ``client_hint`` values) are left alone. The clock is the
        database's, so servers with skewed clocks agree.

        Returns:
            How many rows were removed.
        """
        self._writable()
        return int(self._raw(_SWEEP, (_window(ttl_seconds),)).rowcount or 0)

    def dead_rows(self, ttl_seconds: float) -> int:
        """How many rows :meth:`sweep` would remove now (a read)."""
        return int(self._sql(_COUNT_DEAD, (_window(ttl_seconds),)).scalar() or 0)

    def forget_server(self, server_id: str) -> int:
        """Remove every row the service wrote for ``server_id`` (its streams and its heartbeat).

        Returns:
            How many rows were removed.
        """
        self._writable()
        return int(self._raw(_FORGET_SERVER, (server_id,)).rowcount or 0)


# -- schema lineage -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LineageRow:
    """One lineage record: a baseline or import, with the schema digest it carried."""

    id: int
    baseline_id: str
    schema_digest: str
    provenance: str | None
    created_at: str


class SchemaLineageRepository(Repository):
    """The append-only ``codex_schema_lineage`` table (upstream ``record_codex_schema_lineage``)."""

    def record(self, baseline_id: str, schema_digest: str, provenance: str | None = None) -> int:
        """Append a lineage row (nothing records one automatically on open).

        Args:
            baseline_id: The baseline identity, e.g. ``"v17"`` or a revision id.
            schema_digest: The schema digest at that point (``0x`` + hex).
            provenance: Free text: where it came from (an import file, a tool).

        Returns:
            The new row id.

        Raises:
            InvalidInput: Empty or over-long id or digest.
        """
        self._writable()
        _name(baseline_id, "baseline_id")
        _name(schema_digest, "schema_digest")
        if provenance is not None and not isinstance(provenance, str):
            raise InvalidInput("provenance must be a string", field="provenance")
        t = codex_schema_lineage
        stmt = sa.insert(t).values(
            baseline_id=baseline_id, schema_digest=schema_digest, provenance=provenance
        )
        return int(self._execute(stmt.returning(t.c.id)).scalar_one())

    def get(self, id: int) -> LineageRow:
        """One lineage row.

        Raises:
            NotFound: No row with that id.
        """
        t = codex_schema_lineage
        return self._one(LineageRow, sa.select(t).where(t.c.id == id), f"no schema lineage row {id}")

    def list(self, baseline_id: str | None = None, *, limit: int = 1000) -> list[LineageRow]:
        """Lineage rows in the order they were recorded.

        Args:
            baseline_id: Only rows for this baseline.
            limit: Clamped to 1..10000.
        """
        t = codex_schema_lineage
        stmt = sa.select(t).order_by(t.c.id).limit(clamp_limit(limit))
        if baseline_id is not None:
            stmt = stmt.where(t.c.baseline_id == baseline_id)
        return self._all(LineageRow, stmt)

    def latest(self, baseline_id: str | None = None) -> LineageRow | None:
        """The newest lineage row (optionally for one baseline), or None."""
        t = codex_schema_lineage
        stmt = sa.select(t).order_by(t.c.id.desc()).limit(1)
        if baseline_id is not None:
            stmt = stmt.where(t.c.baseline_id == baseline_id)
        return self._one_or_none(LineageRow, stmt)


# -- projections ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProjectionVersion:
    """One entry of the projection-version ledger."""

    projection_name: str
    version: int
    updated_at: str


class ProjectionRepository(Repository):
    """The ``codex_projection_versions`` ledger: one row per version of each projection."""

    def current(self, projection_name: str) -> int:
        """The projection's current version (0 when it has none)."""
        return int(self._sql(_CURRENT, (projection_name,)).scalar() or 0)

    def bump(self, projection_name: str) -> int:
        """Record the next version (``MAX + 1``, in one statement) and return it.

        Raises:
            InvalidInput: Empty or over-long name.
        """
        self._writable()
        _name(projection_name, "projection_name")
        return int(self._raw(_BUMP, (projection_name, projection_name)).fetchone()[0])

    def history(self, projection_name: str, *, limit: int = 1000) -> list[ProjectionVersion]:
        """The projection's versions, newest first (limit clamped to 1..10000)."""
        t = codex_projection_versions
        stmt = (
            sa.select(t)
            .where(t.c.projection_name == projection_name)
            .order_by(t.c.version.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(ProjectionVersion, stmt)

    def list(self) -> list[ProjectionVersion]:
        """Every projection at its current version, by name."""
        t = codex_projection_versions
        latest = (
            sa.select(t.c.projection_name, sa.func.max(t.c.version).label("version"))
            .group_by(t.c.projection_name)
            .subquery()
        )
        stmt = (
            sa.select(t)
            .join(
                latest,
                sa.and_(t.c.projection_name == latest.c.projection_name, t.c.version == latest.c.version),
            )
            .order_by(t.c.projection_name)
        )
        return self._all(ProjectionVersion, stmt)


# -- query snapshots ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QuerySnapshotRow:
    """One materialised result of a named query."""

    id: str
    query_name: str
    snapshot_json: str
    digest: str
    created_at: str

    result = json_property("snapshot_json", "The stored result, parsed.")


class RecordedResult(NamedTuple):
    """What :meth:`QuerySnapshotRepository.record_result` did (unpacks as a 3-tuple)."""

    snapshot: QuerySnapshotRow
    version: int
    changed: bool


class QuerySnapshotRepository(Repository):
    """The ``codex_query_snapshots`` table: named-query results with a Keccak-256 content digest."""

    def save(self, query_name: str, result: Any) -> QuerySnapshotRow:
        """Store a result as canonical JSON with its digest, under a new uuid4-hex id.

        Args:
            query_name: The named query (1-256 characters).
            result: Any JSON value.

        Returns:
            The stored row.

        Raises:
            InvalidInput: Bad name, or a result that is not JSON.
        """
        self._writable()
        _name(query_name, "query_name")
        text = canonical_json(result)
        t = codex_query_snapshots
        stmt = (
            sa.insert(t)
            .values(
                id=uuid.uuid4().hex, query_name=query_name, snapshot_json=text, digest=keccak256_hex(text)
            )
            .returning(*t.c)
        )
        return row_as(QuerySnapshotRow, self._execute(stmt).one())

    def get(self, id: str) -> QuerySnapshotRow:
        """One snapshot.

        Raises:
            NotFound: No snapshot with that id.
        """
        t = codex_query_snapshots
        return self._one(QuerySnapshotRow, sa.select(t).where(t.c.id == id), f"no query snapshot {id!r}")

    def latest(self, query_name: str) -> QuerySnapshotRow | None:
        """The newest snapshot of a query (by ``created_at``, then insertion order), or None.

        This is what upstream's ``GET /api/codex/query/:name`` serves.
        """
        t = codex_query_snapshots
        stmt = (
            sa.select(t)
            .where(t.c.query_name == query_name)
            .order_by(t.c.created_at.desc(), sa.literal_column("rowid").desc())
            .limit(1)
        )
        return self._one_or_none(QuerySnapshotRow, stmt)

    def list(self, query_name: str, *, limit: int = 100) -> list[QuerySnapshotRow]:
        """A query's snapshots, newest first (limit clamped to 1..10000)."""
        t = codex_query_snapshots
        stmt = (
            sa.select(t)
            .where(t.c.query_name == query_name)
            .order_by(t.c.created_at.desc(), sa.literal_column("rowid").desc())
            .limit(clamp_limit(limit))
        )
        return self._all(QuerySnapshotRow, stmt)

    def prune(self, *, keep_last: int | None = None, older_than_seconds: float | None = None) -> int:
        """Delete old snapshots; the newest snapshot of every query is always kept.

        Args:
            keep_last: Keep this many newest snapshots per query (at least 1).
            older_than_seconds: Delete snapshots created more than this many seconds ago (the
                database's clock).

        With both, a snapshot goes only when both allow it. With neither, nothing is deleted.

        Returns:
            How many snapshots were deleted.
        """
        self._writable()
        if keep_last is None and older_than_seconds is None:
            return 0
        sql = _PRUNE_SNAPSHOTS + " WHERE rn > ?"
        params: list[Any] = [max(1, keep_last if keep_last is not None else 1)]
        if older_than_seconds is not None:
            sql += " AND created_at < datetime('now', ?)"
            params.append(f"-{max(0.0, older_than_seconds):.3f} seconds")
        return int(self._raw(sql + ")", tuple(params)).rowcount or 0)

    def record_result(self, query_name: str, result: Any, *, projection: str | None = None) -> RecordedResult:
        """Save a query result and bump its projection version, but only when the result changed.

        The result's digest is compared with the latest snapshot's: when they are equal nothing is
        written and the latest snapshot and current version come back with ``changed=False``;
        otherwise a snapshot is saved and the projection bumped (``changed=True``). Run it in one
        ``store.begin()`` so the comparison and the writes are atomic.

        Args:
            query_name: The named query.
            result: Any JSON value.
            projection: The projection to bump (default: ``query_name``).

        Returns:
            ``RecordedResult(snapshot, version, changed)``.

        Raises:
            InvalidInput: Bad name, or a result that is not JSON.
        """
        self._writable()
        _name(query_name, "query_name")
        name = query_name if projection is None else projection
        projections = ProjectionRepository(self.conn)
        latest = self.latest(query_name)
        if latest is not None and latest.digest == keccak256_hex(canonical_json(result)):
            return RecordedResult(latest, projections.current(name), False)
        snapshot = self.save(query_name, result)
        return RecordedResult(snapshot, projections.bump(name), True)
