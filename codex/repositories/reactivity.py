"""codex_reactivity (the rest): schema lineage, query snapshots, projection versions.

The change log itself lives in :mod:`codex.repositories.changelog`, the subscriptions in
:mod:`codex.repositories.subscriptions`. The tables here are the reactive layer's bookkeeping
(``semantics.md`` §6):

* ``codex_schema_lineage`` (shared): append-only provenance of baselines and imports
  (upstream ``record_codex_schema_lineage``);
* ``codex_query_snapshots`` (tenant-owned): materialised named-query results with a content digest,
  keyed by the tenant (``tenant_id``) and a snapshot key, the query name plus the canonical JSON of its
  parameters (:func:`snapshot_key`, kept in ``query_name``). Upstream never writes them; Codex stores the
  canonical JSON (``sort_keys``, compact separators, UTF-8) and its Keccak-256 digest (``0x`` + 64 hex),
  so equal results always have equal digests;
* ``codex_projection_versions`` (tenant-owned): a ``(projection_name, version)`` ledger per tenant; each
  bump inserts ``MAX(version) + 1`` in one statement.

:meth:`QuerySnapshotRepository.record_result` ties the last two together: it saves a snapshot and bumps
the projection version only when the result's digest differs from the latest snapshot's of that
(tenant, key), and prunes both to the last :data:`KEEP_VERSIONS` of the key in the same transaction.

Projection names are stored qualified by their tenant (``<tenant>:<name>``) because the table's primary
key is ``(projection_name, version)`` without the tenant: two tenants' versions of one name would
collide, and numbering them from one shared sequence would let a tenant watch another's activity. The
qualification is internal: arguments and rows carry the bare name, and every statement is scoped by
``tenant_id`` as well. (A revision that puts ``tenant_id`` into that primary key can drop it.)

Change log: these tables are the reactive layer's own bookkeeping, not a live domain; no method here
emits change-log rows.
"""

from __future__ import annotations

import builtins
import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    check_name,
    clamp_limit,
    json_property,
    prepare,
    text_literals,
)
from codex.repositories._rows import row_as
from codex.repositories.changelog import head_expression
from codex.repositories.gateway import TableGateway
from codex.schema import keccak256_hex
from domains.codex_reactivity import (
    codex_projection_versions,
    codex_query_snapshots,
    codex_schema_lineage,
)

__all__ = [
    "KEEP_VERSIONS",
    "LineageRow",
    "ProjectionRepository",
    "ProjectionVersion",
    "QuerySnapshotRepository",
    "QuerySnapshotRow",
    "RecordedResult",
    "SchemaLineageRepository",
    "SnapshotState",
    "canonical_json",
    "snapshot_key",
]

KEEP_VERSIONS = 20
"""Snapshots and projection versions kept per (tenant, key) by :meth:`QuerySnapshotRepository.record_result`."""

_KEY_MAX = 1024
"""Longest snapshot key / projection name."""
_PARAMS_TEXT_MAX = 512
"""Canonical parameter text longer than this is keyed by its digest instead (:func:`snapshot_key`)."""
_ROWID: sa.ColumnClause[Any] = sa.literal_column("rowid")

# The statements of the subscription, projection and retention paths, built once (the heartbeat, the
# bump and the snapshot reads run on every request or round). Each comes in two forms, keyed by
# "scoped": a tenant's (``tenant_id = :tenant``) and the unscoped operator form.
_SCOPES = (True, False)


def _projection_where(scoped: bool) -> builtins.list[sa.ColumnElement[bool]]:
    """``projection_name = :name``, and the tenant's rows only when ``scoped``."""
    v = codex_projection_versions
    where = [v.c.projection_name == sa.bindparam("name", type_=v.c.projection_name.type)]
    if scoped:
        where.append(v.c.tenant_id == sa.bindparam("tenant"))
    return where


def _bump(scoped: bool) -> sa.Insert:
    """``INSERT … SELECT :name, COALESCE(MAX(version), 0) + 1, :owner`` over the projection's rows."""
    v = codex_projection_versions
    return sa.insert(v).from_select(
        ["projection_name", "version", "tenant_id"],
        sa.select(
            sa.bindparam("name", type_=v.c.projection_name.type),
            sa.func.coalesce(sa.func.max(v.c.version), 0) + 1,
            sa.bindparam("owner", type_=v.c.tenant_id.type),
        ).where(*_projection_where(scoped)),
    )


_BUMP = {scoped: prepare(_bump(scoped).returning(codex_projection_versions.c.version)) for scoped in _SCOPES}
_BUMP_MANY = {scoped: prepare(_bump(scoped)) for scoped in _SCOPES}
""":data:`_BUMP` for ``executemany`` (:meth:`ProjectionRepository.bump_many`): no rows back."""
_CURRENT = {
    scoped: sa.select(sa.func.coalesce(sa.func.max(codex_projection_versions.c.version), 0)).where(
        *_projection_where(scoped)
    )
    for scoped in _SCOPES
}


@functools.cache
def _prune_snapshots(scoped: bool, by_age: bool) -> sa.Delete:
    """Retention (every key's snapshots in scope): rank each key's snapshots, newest first, and delete
    those past ``:keep`` (and, ``by_age``, created before ``datetime('now', :age)``)."""
    t = codex_query_snapshots
    ranked = (
        sa.select(
            _ROWID.label("rid"),
            t.c.created_at,
            sa.func.row_number()
            .over(
                partition_by=(t.c.tenant_id, t.c.query_name), order_by=(t.c.created_at.desc(), _ROWID.desc())
            )
            .label("rn"),
        )
        .where(*([t.c.tenant_id == sa.bindparam("tenant")] if scoped else []))
        .subquery("ranked")
    )
    doomed = sa.select(ranked.c.rid).where(ranked.c.rn > sa.bindparam("keep", type_=sa.Integer))
    if by_age:
        doomed = doomed.where(
            ranked.c.created_at < sa.func.datetime(*text_literals("now"), sa.bindparam("age", type_=sa.Text))
        )
    return sa.delete(t).where(_ROWID.in_(doomed.scalar_subquery()))


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


def snapshot_key(query_name: str, params: Mapping[str, Any] | None = None) -> str:
    """The snapshot key of a named query called with ``params``: ``<name>?<canonical JSON of params>``.

    Equal parameters give equal keys whatever their order (the JSON is canonical); pass the parameters
    with their defaults filled in (``model.model_dump(mode="json")``) so that an omitted parameter and
    its default share a key. Parameter text over 512 characters is replaced by its digest
    (``<name>?keccak256:0x…``), which keeps keys short and still one per parameter set.

    Raises:
        InvalidInput: Bad name, or parameters that are not JSON.

    Example:
        >>> snapshot_key("changes.since", {"limit": 5, "after_id": 0})
        'changes.since?{"after_id":0,"limit":5}'
    """
    check_name(query_name, "query_name")
    text = canonical_json(dict(params or {}))
    if len(text) > _PARAMS_TEXT_MAX:
        text = f"keccak256:{keccak256_hex(text)}"
    return f"{query_name}?{text}"


def _check_keep(keep: int) -> int:
    if not isinstance(keep, int) or keep < 1:
        raise InvalidInput("keep must be a positive integer", field="keep")
    return keep


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
        check_name(baseline_id, "baseline_id")
        check_name(schema_digest, "schema_digest")
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
    """The tenant-owned ``codex_projection_versions`` ledger: one row per version of each projection.

    Names are stored qualified by the tenant (see the module docstring); arguments and rows carry the
    bare name.
    """

    def _stored(self, projection_name: str) -> str:
        return f"{self.tenant}:{projection_name}"

    def _params(self, projection_name: str) -> tuple[bool, dict[str, Any]]:
        """Which form of a cached statement to run, and its parameters for ``projection_name``."""
        tenant = self.scope.tenant
        params = {"name": self._stored(projection_name), "owner": self.tenant}
        return (False, params) if tenant is None else (True, params | {"tenant": tenant})

    @staticmethod
    def _row(row: Any) -> ProjectionVersion:
        name, prefix = row.projection_name, f"{row.tenant_id}:"
        bare = name[len(prefix) :] if name.startswith(prefix) else name
        return ProjectionVersion(projection_name=bare, version=row.version, updated_at=row.updated_at)

    def current(self, projection_name: str) -> int:
        """The projection's current version (0 when it has none)."""
        scoped, params = self._params(projection_name)
        return int(self._execute(_CURRENT[scoped], params).scalar() or 0)

    def bump(self, projection_name: str) -> int:
        """Record the next version (``MAX + 1``, in one statement) and return it.

        Raises:
            InvalidInput: Empty or over-long name.
        """
        self._writable()
        check_name(projection_name, "projection_name", _KEY_MAX)
        scoped, params = self._params(projection_name)
        (version,) = self._run(_BUMP[scoped], params).rows
        return int(version[0])

    def bump_many(self, projection_names: Iterable[str]) -> None:
        """:meth:`bump` each projection (at most once each), in one ``executemany``: one request to a
        remote primary for a whole round of the snapshot recorder.

        Raises:
            InvalidInput: Empty or over-long name.
        """
        self._writable()
        rows = []
        for projection_name in projection_names:
            check_name(projection_name, "projection_name", _KEY_MAX)
            rows.append(self._params(projection_name)[1])
        if rows:
            self._run_many(_BUMP_MANY[self.scope.tenant is not None], rows)

    def prune(self, projection_name: str, *, keep: int = KEEP_VERSIONS) -> int:
        """Delete all but the newest ``keep`` versions of a projection.

        Returns:
            How many versions were deleted.

        Raises:
            InvalidInput: ``keep`` is not a positive integer.
        """
        self._writable()
        _check_keep(keep)
        t = codex_projection_versions
        stored = self._stored(projection_name)
        newest = (
            sa.select(t.c.version)
            .where(self._in_scope(t), t.c.projection_name == stored)
            .order_by(t.c.version.desc())
            .limit(keep)
        )
        stmt = sa.delete(t).where(
            self._in_scope(t), t.c.projection_name == stored, t.c.version.not_in(newest.scalar_subquery())
        )
        return int(self._execute(stmt).rowcount or 0)

    def history(self, projection_name: str, *, limit: int = 1000) -> list[ProjectionVersion]:
        """The projection's versions, newest first (limit clamped to 1..10000)."""
        t = codex_projection_versions
        stmt = (
            sa.select(t)
            .where(self._in_scope(t), t.c.projection_name == self._stored(projection_name))
            .order_by(t.c.version.desc())
            .limit(clamp_limit(limit))
        )
        return [self._row(r) for r in self._execute(stmt)]

    def list(self) -> list[ProjectionVersion]:
        """Every projection (in scope) at its current version, by name."""
        t = codex_projection_versions
        latest = (
            sa.select(t.c.tenant_id, t.c.projection_name, sa.func.max(t.c.version).label("version"))
            .where(self._in_scope(t))
            .group_by(t.c.tenant_id, t.c.projection_name)
            .subquery()
        )
        stmt = (
            sa.select(t)
            .join(
                latest,
                sa.and_(
                    t.c.tenant_id == latest.c.tenant_id,
                    t.c.projection_name == latest.c.projection_name,
                    t.c.version == latest.c.version,
                ),
            )
            .where(self._in_scope(t))
            .order_by(t.c.tenant_id, t.c.projection_name)
        )
        return [self._row(r) for r in self._execute(stmt)]


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


class SnapshotState(NamedTuple):
    """What a named query's read needs besides its result (:meth:`QuerySnapshotRepository.latest_with_version`)."""

    snapshot: QuerySnapshotRow | None
    """The key's newest snapshot, or None."""
    version: int
    """The key's projection version (0 before the first)."""
    head: int
    """The change-log head of the same read."""


@functools.cache
def _state_statement(scoped: bool) -> sa.Select[Any]:
    """The statement of :meth:`QuerySnapshotRepository.latest_with_version`, built once: it runs on every
    named query, and building it each time was a sixth of the read path's CPU."""
    t, v = codex_query_snapshots, codex_projection_versions
    version = sa.select(sa.func.coalesce(sa.func.max(v.c.version), 0)).where(
        v.c.projection_name == sa.bindparam("projection")
    )
    latest = sa.select(*t.c).where(t.c.query_name == sa.bindparam("key"))
    if scoped:
        version = version.where(v.c.tenant_id == sa.bindparam("tenant"))
        latest = latest.where(t.c.tenant_id == sa.bindparam("tenant"))
    newest = latest.order_by(t.c.created_at.desc(), _ROWID.desc()).limit(1).subquery()
    one = sa.select(sa.literal(1).label("one")).subquery()
    return sa.select(
        head_expression().label("codex_head"), version.scalar_subquery().label("codex_version"), newest
    ).select_from(one.outerjoin(newest, sa.true()))


_STATE = {scoped: prepare(_state_statement(scoped)) for scoped in _SCOPES}


class QuerySnapshotRepository(Repository):
    """The tenant-owned ``codex_query_snapshots`` table: named-query results with a Keccak-256 digest.

    Snapshots are keyed by (tenant, ``query_name``); the HTTP layer's ``query_name`` is a
    :func:`snapshot_key` (the query and its canonical parameters).
    """

    @property
    def _snaps(self) -> TableGateway[QuerySnapshotRow]:
        return self._gateway(codex_query_snapshots, QuerySnapshotRow)

    def save(self, query_name: str, result: Any) -> QuerySnapshotRow:
        """Store a result as canonical JSON with its digest, under a new uuid4-hex id.

        Args:
            query_name: The snapshot key (1-1024 characters).
            result: Any JSON value.

        Returns:
            The stored row.

        Raises:
            InvalidInput: Bad name, or a result that is not JSON.
        """
        self._writable()
        check_name(query_name, "query_name", _KEY_MAX)
        text = canonical_json(result)
        return self._insert(query_name, text, keccak256_hex(text))

    def _insert(self, query_name: str, text: str, digest: str) -> QuerySnapshotRow:
        values = {"id": uuid.uuid4().hex, "query_name": query_name, "snapshot_json": text, "digest": digest}
        return self._snaps.insert(values)

    def get(self, id: str) -> QuerySnapshotRow:
        """One snapshot.

        Raises:
            NotFound: No snapshot with that id (in scope).
        """
        row = self._snaps.find(id)
        if row is None:
            raise NotFound(f"no query snapshot {id!r}")
        return row

    def _newest_first(self, query_name: str) -> sa.Select[Any]:
        t = codex_query_snapshots
        return self._snaps.select(t.c.query_name == query_name).order_by(t.c.created_at.desc(), _ROWID.desc())

    def latest(self, query_name: str) -> QuerySnapshotRow | None:
        """The newest snapshot of a key (by ``created_at``, then insertion order), or None.

        This is what upstream's ``GET /api/codex/query/:name`` serves.
        """
        return self._one_or_none(QuerySnapshotRow, self._newest_first(query_name).limit(1))

    def latest_with_version(self, query_name: str) -> SnapshotState:
        """:meth:`latest`, the key's projection version (:meth:`ProjectionRepository.current`) and the
        change-log head (:meth:`ChangeLogRepository.head`), read in one statement: one round trip to a
        remote primary on the read path of every named query, and all three of the same snapshot."""
        tenant = self.scope.tenant
        params = {"key": query_name, "projection": f"{self.tenant}:{query_name}"}
        if tenant is not None:
            params["tenant"] = tenant
        ran = self._run(_STATE[tenant is not None], params)  # one row, with or without a snapshot
        row = dict(zip(ran.columns, ran.rows[0], strict=True))
        snapshot = None if row["id"] is None else row_as(QuerySnapshotRow, row)
        return SnapshotState(snapshot, int(row["codex_version"] or 0), int(row["codex_head"] or 0))

    def latest_of_query(self, query_name: str) -> QuerySnapshotRow | None:
        """The newest snapshot of any parameter set of a query (keys ``<query_name>?…``), or None.

        The upstream ``latest`` read, whose snapshots ignored the parameters.
        """
        t = codex_query_snapshots
        # The keys between "name?" and "name@" ('@' follows '?' in code-point order): an index range.
        keys = sa.and_(t.c.query_name >= f"{query_name}?", t.c.query_name < f"{query_name}@")
        stmt = self._snaps.select(keys).order_by(t.c.created_at.desc(), _ROWID.desc()).limit(1)
        return self._one_or_none(QuerySnapshotRow, stmt)

    def list(self, query_name: str, *, limit: int = 100) -> list[QuerySnapshotRow]:
        """A key's snapshots, newest first (limit clamped to 1..10000)."""
        return self._all(QuerySnapshotRow, self._newest_first(query_name).limit(clamp_limit(limit)))

    def prune(self, query_name: str, *, keep: int = KEEP_VERSIONS) -> int:
        """Delete all but the newest ``keep`` snapshots of a key.

        Returns:
            How many snapshots were deleted.

        Raises:
            InvalidInput: ``keep`` is not a positive integer.
        """
        self._writable()
        _check_keep(keep)
        t = codex_query_snapshots
        newest = self._newest_first(query_name).with_only_columns(_ROWID).limit(keep)
        stmt = sa.delete(t).where(
            self._in_scope(t), t.c.query_name == query_name, _ROWID.not_in(newest.scalar_subquery())
        )
        return int(self._execute(stmt).rowcount or 0)

    def prune_retained(self, *, keep_last: int | None = None, older_than_seconds: float | None = None) -> int:
        """Retention: delete old snapshots of every key in scope; the newest of each key is always kept.

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
        tenant = self.scope.tenant
        params: dict[str, Any] = {"keep": max(1, keep_last if keep_last is not None else 1)}
        if tenant is not None:
            params["tenant"] = tenant
        if older_than_seconds is not None:
            params["age"] = f"-{max(0.0, older_than_seconds):.3f} seconds"
        stmt = _prune_snapshots(tenant is not None, older_than_seconds is not None)
        return int(self._execute(stmt, params).rowcount or 0)

    def record_results(self, results: Mapping[str, Any], *, keep: int = KEEP_VERSIONS) -> builtins.list[str]:
        """:meth:`record_result` for many keys at once, in a fixed number of statements: the latest digest
        and the current version of every key in one read, the changed snapshots in one ``executemany``,
        their projections bumped in another (a key past ``keep`` versions is then pruned on its own).

        The snapshot recorder records a round of offers this way: one round of 200 keys costs a remote
        primary 3 requests instead of 600, all of them under the write lock.

        Args:
            results: Snapshot key (see :func:`snapshot_key`) → result (any JSON value).
            keep: Snapshots and versions kept per key (default :data:`KEEP_VERSIONS`).

        Returns:
            The keys whose result changed (and were recorded), in the order given.

        Raises:
            InvalidInput: A bad key or ``keep``, or a result that is not JSON.
        """
        self._writable()
        _check_keep(keep)
        texts = {}
        for key, result in results.items():
            check_name(key, "query_name", _KEY_MAX)
            text = canonical_json(result)
            texts[key] = (text, keccak256_hex(text))
        if not texts:
            return []
        digests, versions = self._latest_states(tuple(texts))
        changed = [key for key, (_, digest) in texts.items() if digests.get(key) != digest]
        rows = [
            {
                "id": uuid.uuid4().hex,
                "query_name": key,
                "snapshot_json": texts[key][0],
                "digest": texts[key][1],
            }
            for key in changed
        ]
        self._snaps.insert_many(rows)
        projections = ProjectionRepository(self.conn, self.scope)
        projections.bump_many(changed)
        for key in changed:
            if versions.get(key, 0) + 1 > keep:
                self.prune(key, keep=keep)
                projections.prune(key, keep=keep)
        return changed

    def _latest_states(self, keys: Sequence[str]) -> tuple[dict[str, str], dict[str, int]]:
        """The latest snapshot digest and the current projection version of each key, in one statement."""
        t, v = codex_query_snapshots, codex_projection_versions
        prefix = f"{self.tenant}:"
        ranked = (
            sa.select(
                t.c.query_name,
                t.c.digest,
                sa.func.row_number()
                .over(partition_by=t.c.query_name, order_by=(t.c.created_at.desc(), _ROWID.desc()))
                .label("rn"),
            )
            .where(self._in_scope(t), t.c.query_name.in_(keys))
            .subquery()
        )
        latest = sa.select(sa.literal("d").label("kind"), ranked.c.query_name, ranked.c.digest).where(
            ranked.c.rn == 1
        )
        current = (
            sa.select(sa.literal("v"), v.c.projection_name, sa.cast(sa.func.max(v.c.version), sa.Text))
            .where(self._in_scope(v), v.c.projection_name.in_([prefix + key for key in keys]))
            .group_by(v.c.projection_name)
        )
        digests: dict[str, str] = {}
        versions: dict[str, int] = {}
        rows: Sequence[Any] = self._execute(sa.union_all(latest, current)).all()
        for kind, name, value in rows:
            if kind == "d":
                digests[name] = value
            else:
                versions[name.removeprefix(prefix)] = int(value)
        return digests, versions

    def record_result(
        self, query_name: str, result: Any, *, projection: str | None = None, keep: int = KEEP_VERSIONS
    ) -> RecordedResult:
        """Save a query result and bump its projection version, but only when the result changed.

        The result's digest is compared with the latest snapshot's of (tenant, ``query_name``): when
        they are equal nothing is written and the latest snapshot and current version come back with
        ``changed=False``; otherwise a snapshot is saved, the projection bumped (``changed=True``) and,
        once the key has more than ``keep`` versions, both pruned to the newest ``keep`` of the key
        (snapshots stored with :meth:`save` go with them then). Run it in one ``store.begin()`` so the comparison
        and the writes are atomic.

        Args:
            query_name: The snapshot key (see :func:`snapshot_key`).
            result: Any JSON value.
            projection: The projection to bump (default: ``query_name``).
            keep: Snapshots and versions kept per key (default :data:`KEEP_VERSIONS`).

        Returns:
            ``RecordedResult(snapshot, version, changed)``.

        Raises:
            InvalidInput: Bad name or ``keep``, or a result that is not JSON.

        Example:
            >>> rows = [{"id": 1, "topic": "packages/http"}]
            >>> with store.begin(tenant="acme") as conn:
            ...     key = snapshot_key("changes.since", {"limit": 5})
            ...     snapshots = QuerySnapshotRepository(conn)
            ...     first = snapshots.record_result(key, rows)
            ...     again = snapshots.record_result(key, rows)  # the same result: nothing is written
            >>> (first.version, first.changed), (again.version, again.changed)
            ((1, True), (1, False))
        """
        self._writable()
        check_name(query_name, "query_name", _KEY_MAX)
        _check_keep(keep)
        name = query_name if projection is None else projection
        projections = ProjectionRepository(self.conn, self.scope)
        text = canonical_json(result)
        digest = keccak256_hex(text)
        latest = self.latest(query_name)
        if latest is not None and latest.digest == digest:
            return RecordedResult(latest, projections.current(name), False)
        snapshot = self._insert(query_name, text, digest)
        version = projections.bump(name)
        if version > keep:  # a key with at most ``keep`` versions has nothing to prune: 3 statements, not 5
            self.prune(query_name, keep=keep)
            projections.prune(name, keep=keep)
        return RecordedResult(snapshot, version, True)
