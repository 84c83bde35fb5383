"""processing_audit: durable processing runs, their steps, and the append-only audit trail
(``processing_runs``, ``processing_run_steps``, ``audit_log``).

Upstream defines no operations for these tables (``semantics.md`` §12); this module defines them.

Status machines (checked in the UPDATE itself: ``… WHERE id = ? AND status IN (<allowed sources>)``):

* runs: ``queued → running | failed | cancelled``; ``running → succeeded | failed | cancelled``.
  ``start_run`` creates a run already ``running`` (``started_at`` set); ``enqueue_run`` creates a
  ``queued`` one that :meth:`ProcessingRepository.mark_running` starts. ``finish_run`` sets
  ``completed_at``.
* steps: ``pending → running | failed | skipped``; ``running → succeeded | failed | skipped``.
  ``finish_step`` sets ``finished_at_ms``; ``start_step`` (or ``append_step(status="running")``) sets
  ``started_at_ms``.

A final status (runs: succeeded, failed, cancelled; steps: succeeded, failed, skipped) never changes, and
any move the machine does not allow raises ``Conflict`` (``constraint="status_transition"``, with
``current`` and ``requested``). A status outside the vocabulary, or a non-final status passed to a
``finish_*`` method, raises ``InvalidInput``.

The audit log is append-only through this API: :class:`AuditRepository` has ``append``, ``query``,
``count`` and ``get`` and nothing that updates or deletes.

A live domain. Change-log topics: ``processing/runs/<run_id>`` (``insert`` / ``update`` of
``processing_run`` and of ``processing_run_step``), and ``audit`` (``insert`` / ``audit_log``).

Tenancy: the three tables are tenant-owned. Every statement carries the repository's tenant scope in
SQL: a run, step or audit entry of another tenant is ``NotFound`` (or not listed, not counted), exactly
like a missing one, and a step is appended only to a run in scope, with the run's tenant. The columns
``scope_kind`` / ``scope_id`` are the caller's data (what a run or entry is about), not the tenant. The
unscoped operator form (``Repository.unscoped``) sees every tenant's rows, creates runs and entries for
the tenant ``default``, and writes each change-log row with the tenant of the row it is about.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NoReturn

import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    clamp_limit,
    dump_json,
    insert_next_index,
    json_property,
    now_ms,
    row_as,
    sql_timestamp,
)
from codex.repositories.gateway import TableGateway
from domains._meta import TENANT_COLUMN
from domains.processing_audit import audit_log, processing_run_steps, processing_runs

__all__ = [
    "FINAL_RUN_STATUSES",
    "FINAL_STEP_STATUSES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "AuditRepository",
    "AuditRow",
    "ProcessingRepository",
    "RunRow",
    "StepRow",
]

RUN_STATUSES: Final = ("queued", "running", "succeeded", "failed", "cancelled")
"""The ``processing_runs.status`` vocabulary."""
FINAL_RUN_STATUSES: Final = ("succeeded", "failed", "cancelled")
STEP_STATUSES: Final = ("pending", "running", "succeeded", "failed", "skipped")
"""The ``processing_run_steps.status`` vocabulary."""
FINAL_STEP_STATUSES: Final = ("succeeded", "failed", "skipped")

# requested status -> the statuses it may be reached from
_RUN_FROM: Final[dict[str, tuple[str, ...]]] = {
    "running": ("queued",),
    "succeeded": ("running",),
    "failed": ("queued", "running"),
    "cancelled": ("queued", "running"),
}
_STEP_FROM: Final[dict[str, tuple[str, ...]]] = {
    "running": ("pending",),
    "succeeded": ("running",),
    "failed": ("pending", "running"),
    "skipped": ("pending", "running"),
}

_r = processing_runs
_s = processing_run_steps
_a = audit_log

_NOW = sa.func.datetime("now")
_RUN_INSERT = sa.insert(_r).returning(*_r.c)
# The next step index is computed and inserted by one statement (atomic under the write transaction).
_STEP_NEXT: Final = insert_next_index(
    _s,
    "step_index",
    "processing_run_id",
    ("processing_run_id", "step_name", "status", "detail_json", "started_at_ms", "tenant_id"),
)
_STEP_AT = sa.insert(_s).returning(*_s.c)
_AUDIT_INSERT = sa.insert(_a).returning(*_a.c)


@dataclass(frozen=True, slots=True)
class StepRow:
    """One ``processing_run_steps`` row; ``detail`` is the parsed JSON."""

    id: int
    processing_run_id: int
    step_index: int
    step_name: str
    status: str
    detail_json: str | None
    started_at_ms: int
    finished_at_ms: int
    created_at: str

    detail = json_property("detail_json", "The step detail, parsed.")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One ``processing_runs`` row; ``steps`` is filled by :meth:`ProcessingRepository.get_run` only."""

    id: int
    run_kind: str
    status: str
    scope_kind: str
    scope_id: str
    correlation_id: str
    payload_json: str | None
    error_text: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None
    steps: tuple[StepRow, ...] = ()

    payload = json_property("payload_json", "The run payload, parsed.")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One ``audit_log`` row; ``payload`` is the parsed JSON."""

    id: int
    actor_kind: str
    actor_id: str
    action: str
    resource_kind: str
    resource_id: str
    scope_kind: str
    scope_id: str
    payload_json: str | None
    created_at: str

    payload = json_property("payload_json", "The entry payload, parsed.")


def _run_topic(run_id: int) -> str:
    return f"processing/runs/{run_id}"


def _refuse(kind: str, table: str, entity_id: int, current: str, requested: str) -> NoReturn:
    raise Conflict(
        f"{kind} {entity_id} is {current}; it cannot become {requested}",
        table=table,
        constraint="status_transition",
        current=current,
        requested=requested,
    )


class ProcessingRepository(Repository):
    """Processing runs and their steps, with validated status transitions, in the repository's tenant
    scope."""

    topic_root = "processing/runs"

    @property
    def _runs(self) -> TableGateway[RunRow]:
        return self._gateway(_r, RunRow)

    @property
    def _steps(self) -> TableGateway[StepRow]:
        return self._gateway(_s, StepRow)

    # -- runs -----------------------------------------------------------------------------------
    def start_run(
        self,
        run_kind: str,
        *,
        scope_kind: str = "",
        scope_id: str = "",
        correlation_id: str = "",
        payload: Any = None,
    ) -> RunRow:
        """Create a run that is ``running`` now (``started_at`` set).

        Args:
            run_kind: What kind of processing (non-empty), e.g. ``search_ingest``.
            scope_kind: What the run is about, e.g. ``repository`` (``''`` when it does not apply).
            scope_id: Its id.
            correlation_id: A caller's correlation id.
            payload: Any JSON value.

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty run kind, or a payload that is not JSON-serialisable.
        """
        return self._create_run(run_kind, "running", scope_kind, scope_id, correlation_id, payload)

    def enqueue_run(
        self,
        run_kind: str,
        *,
        scope_kind: str = "",
        scope_id: str = "",
        correlation_id: str = "",
        payload: Any = None,
    ) -> RunRow:
        """Create a ``queued`` run (``started_at`` NULL until :meth:`mark_running`).

        Args:
            run_kind: What kind of processing (non-empty).
            scope_kind: What the run is about (``''`` when it does not apply).
            scope_id: Its id.
            correlation_id: A caller's correlation id.
            payload: Any JSON value.

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty run kind, or a payload that is not JSON-serialisable.
        """
        return self._create_run(run_kind, "queued", scope_kind, scope_id, correlation_id, payload)

    def mark_running(self, run_id: int) -> RunRow:
        """Start a queued run: ``running``, ``started_at`` now.

        Raises:
            NotFound: No such run.
            Conflict: The run is not queued.
        """
        return self._move_run(run_id, "running", {"started_at": _NOW})

    def finish_run(self, run_id: int, status: str, *, error: str | None = None) -> RunRow:
        """End a run with a final status; sets ``completed_at`` and ``error_text``.

        Args:
            run_id: The run.
            status: ``succeeded`` (from running), ``failed`` or ``cancelled`` (from queued or running).
            error: Error text.

        Returns:
            The updated row (without steps).

        Raises:
            InvalidInput: Unknown status, or one that is not final.
            NotFound: No such run.
            Conflict: The transition is not allowed (e.g. the run has already finished).
        """
        self._check_vocab(status, RUN_STATUSES, "status")
        if status not in FINAL_RUN_STATUSES:
            raise InvalidInput(f"finish_run() needs a final status; got {status!r}", field="status")
        return self._move_run(run_id, status, {"completed_at": _NOW, "error_text": error})

    def get_run(self, run_id: int) -> RunRow:
        """The run with its steps (``steps`` in index order).

        Raises:
            NotFound: No such run in scope (missing, or another tenant's).
        """
        run = self._runs.get(run_id)
        return dataclasses.replace(run, steps=tuple(self.list_steps(run_id)))

    def get_one_or_none(self, run_id: int) -> RunRow | None:
        """The run (without steps), or None (also for another tenant's)."""
        return self._runs.find(run_id)

    def list_runs(
        self,
        *,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        status: str | None = None,
        run_kind: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 100,
        with_steps: bool = False,
    ) -> list[RunRow]:
        """The runs in scope, newest first (ties: highest id first).

        Args:
            scope_kind: Only runs with this scope kind.
            scope_id: Only runs with this scope id.
            status: Only runs in this status.
            run_kind: Only runs of this kind.
            since: Only runs with ``created_at >= since`` (UTC text ``YYYY-MM-DD HH:MM:SS`` or a
                datetime; naive datetimes are taken as UTC).
            until: Only runs with ``created_at < until`` (same forms).
            limit: Clamped to 1..10000.
            with_steps: Fill each run's ``steps`` (in index order; one more query per 500 runs, not one
                per run). Without it ``steps`` is empty.

        Raises:
            InvalidInput: Unknown status.
        """
        if status is not None:
            self._check_vocab(status, RUN_STATUSES, "status")
        where = [
            column == value
            for column, value in (
                (_r.c.status, status),
                (_r.c.scope_kind, scope_kind),
                (_r.c.scope_id, scope_id),
                (_r.c.run_kind, run_kind),
            )
            if value is not None
        ]
        if since is not None:
            where.append(_r.c.created_at >= _timestamp(since))
        if until is not None:
            where.append(_r.c.created_at < _timestamp(until))
        stmt = (
            self._runs.select(*where)
            .order_by(_r.c.created_at.desc(), _r.c.id.desc())
            .limit(clamp_limit(limit))
        )
        runs = self._all(RunRow, stmt)
        if not with_steps or not runs:
            return runs
        steps: dict[int, list[StepRow]] = {}
        ids = [run.id for run in runs]
        for start in range(0, len(ids), 500):
            chunk = self._steps.select(_s.c.processing_run_id.in_(ids[start : start + 500])).order_by(
                _s.c.processing_run_id, _s.c.step_index
            )
            for step in self._all(StepRow, chunk):
                steps.setdefault(step.processing_run_id, []).append(step)
        return [dataclasses.replace(run, steps=tuple(steps.get(run.id, ()))) for run in runs]

    def count_runs(self, *, status: str | None = None) -> int:
        """Number of runs in scope (optionally in one status).

        Raises:
            InvalidInput: Unknown status.
        """
        if status is None:
            return self._runs.count()
        self._check_vocab(status, RUN_STATUSES, "status")
        return self._runs.count(_r.c.status == status)

    # -- steps ----------------------------------------------------------------------------------
    def append_step(
        self,
        run_id: int,
        step_name: str,
        *,
        step_index: int | None = None,
        detail: Any = None,
        status: str = "pending",
    ) -> StepRow:
        """Add a step to a run in scope (the step gets the run's tenant).

        Args:
            run_id: The run.
            step_name: The step's name (non-empty).
            step_index: Its position; None takes the next one (0 for the first) in the same statement.
            detail: Any JSON value.
            status: ``pending`` or ``running`` (then ``started_at_ms`` is now).

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty name, negative index, or a status other than pending/running.
            NotFound: No such run in scope (missing, or another tenant's).
            Conflict: The index is taken in this run (unique).
        """
        self._writable()
        if not step_name:
            raise InvalidInput("step_name must not be empty", field="step_name")
        self._check_vocab(status, ("pending", "running"), "status")
        if step_index is not None and (isinstance(step_index, bool) or step_index < 0):
            raise InvalidInput("step_index must be a non-negative integer", field="step_index")
        detail_json = dump_json(detail)
        tenant = self._run_tenant(run_id)
        started = now_ms() if status == "running" else 0
        values: dict[str, Any] = {
            "processing_run_id": run_id,
            "step_name": step_name,
            "status": status,
            "detail_json": detail_json,
            "started_at_ms": started,
            "tenant_id": tenant,
        }
        if step_index is None:
            row = self._execute(_STEP_NEXT, values).one()
        else:
            row = self._execute(_STEP_AT, {**values, "step_index": int(step_index)}).one()
        step = row_as(StepRow, row)
        self._change(
            _run_topic(run_id),
            "insert",
            "processing_run_step",
            step.id,
            {"step_index": step.step_index, "step_name": step_name, "status": status},
            tenant=tenant,
        )
        return step

    def start_step(self, step_id: int) -> StepRow:
        """Start a pending step: ``running``, ``started_at_ms`` now.

        Raises:
            NotFound: No such step.
            Conflict: The step is not pending.
        """
        return self._move_step(step_id, "running", {"started_at_ms": now_ms()})

    def finish_step(self, step_id: int, status: str, *, detail: Any = None) -> StepRow:
        """End a step with a final status; sets ``finished_at_ms`` (and ``detail`` when given).

        Args:
            step_id: The step.
            status: ``succeeded`` (from running), ``failed`` or ``skipped`` (from pending or running).
            detail: Any JSON value, replacing the step's detail when not None.

        Returns:
            The updated row.

        Raises:
            InvalidInput: Unknown status, or one that is not final.
            NotFound: No such step.
            Conflict: The transition is not allowed (e.g. the step has already finished).
        """
        self._check_vocab(status, STEP_STATUSES, "status")
        if status not in FINAL_STEP_STATUSES:
            raise InvalidInput(f"finish_step() needs a final status; got {status!r}", field="status")
        values: dict[str, Any] = {"finished_at_ms": now_ms()}
        if detail is not None:
            values["detail_json"] = dump_json(detail)
        return self._move_step(step_id, status, values)

    def get_step(self, step_id: int) -> StepRow:
        """The step with this id.

        Raises:
            NotFound: No such step in scope (missing, or another tenant's).
        """
        step = self._steps.find(step_id)
        if step is None:
            raise NotFound(f"processing step {step_id} not found")
        return step

    def list_steps(self, run_id: int) -> list[StepRow]:
        """A run's steps in index order (empty for a run not in scope)."""
        stmt = self._steps.select(_s.c.processing_run_id == run_id).order_by(_s.c.step_index)
        return self._all(StepRow, stmt)

    # -- helpers --------------------------------------------------------------------------------
    def _create_run(
        self, run_kind: str, status: str, scope_kind: str, scope_id: str, correlation_id: str, payload: Any
    ) -> RunRow:
        self._writable()
        if not run_kind:
            raise InvalidInput("run_kind must not be empty", field="run_kind")
        params = {
            "run_kind": run_kind,
            "status": status,
            "scope_kind": scope_kind,
            "scope_id": scope_id,
            "correlation_id": correlation_id,
            "payload_json": dump_json(payload),
            "started_at": _NOW if status == "running" else None,
            "tenant_id": self.tenant,
        }
        run = row_as(RunRow, self._execute(_RUN_INSERT.values(**params)).one())
        self._change(
            _run_topic(run.id),
            "insert",
            "processing_run",
            run.id,
            {"run_kind": run_kind, "status": status, "scope_kind": scope_kind, "scope_id": scope_id},
        )
        return run

    def _move_run(self, run_id: int, status: str, values: dict[str, Any]) -> RunRow:
        self._writable()
        stmt = (
            sa.update(_r)
            .where(self._runs.where(_r.c.id == run_id, _r.c.status.in_(_RUN_FROM[status])))
            .values(status=status, updated_at=_NOW, **values)
            .returning(*_r.c)
        )
        row = self._execute(stmt).first()
        if row is None:
            current = self._runs.find(run_id)
            if current is None:
                raise NotFound(f"processing run {run_id} not found")
            _refuse("processing run", _r.name, run_id, current.status, status)
        run = row_as(RunRow, row)
        self._change(
            _run_topic(run_id),
            "update",
            "processing_run",
            run_id,
            {"status": status},
            tenant=row._mapping[TENANT_COLUMN],
        )
        return run

    def _move_step(self, step_id: int, status: str, values: dict[str, Any]) -> StepRow:
        self._writable()
        stmt = (
            sa.update(_s)
            .where(self._steps.where(_s.c.id == step_id, _s.c.status.in_(_STEP_FROM[status])))
            .values(status=status, **values)
            .returning(*_s.c)
        )
        row = self._execute(stmt).first()
        if row is None:
            current = self.get_step(step_id)
            _refuse("processing step", _s.name, step_id, current.status, status)
        step = row_as(StepRow, row)
        self._change(
            _run_topic(step.processing_run_id),
            "update",
            "processing_run_step",
            step_id,
            {"step_index": step.step_index, "status": status},
            tenant=row._mapping[TENANT_COLUMN],
        )
        return step

    def _run_tenant(self, run_id: int) -> str:
        """The tenant of a run in scope (the tenant of its steps).

        Raises:
            NotFound: No such run in scope.
        """
        stmt = sa.select(_r.c[TENANT_COLUMN]).where(self._runs.where(_r.c.id == run_id))
        tenant = self._execute(stmt).scalar()
        if tenant is None:
            raise NotFound(f"processing run {run_id} not found")
        return str(tenant)


def _timestamp(value: str | datetime) -> str:
    """A bound for ``created_at`` comparisons: text as is, datetimes as UTC ``YYYY-MM-DD HH:MM:SS``."""
    return sql_timestamp(value) if isinstance(value, datetime) else value


def _audit_filters(
    scope_kind: str | None,
    scope_id: str | None,
    resource_kind: str | None,
    resource_id: str | None,
    actor_kind: str | None,
    actor_id: str | None,
    action: str | None,
    since: str | datetime | None,
    until: str | datetime | None,
) -> list[sa.ColumnElement[bool]]:
    exact = (
        (_a.c.scope_kind, scope_kind),
        (_a.c.scope_id, scope_id),
        (_a.c.resource_kind, resource_kind),
        (_a.c.resource_id, resource_id),
        (_a.c.actor_kind, actor_kind),
        (_a.c.actor_id, actor_id),
        (_a.c.action, action),
    )
    where = [column == value for column, value in exact if value is not None]
    if since is not None:
        where.append(_a.c.created_at >= _timestamp(since))
    if until is not None:
        where.append(_a.c.created_at < _timestamp(until))
    return where


class AuditRepository(Repository):
    """The audit trail: append and read, nothing else (append-only by design), in the repository's
    tenant scope."""

    topic_root = "audit"

    @property
    def _entries(self) -> TableGateway[AuditRow]:
        return self._gateway(_a, AuditRow)

    def append(
        self,
        actor_kind: str,
        actor_id: str,
        action: str,
        *,
        resource_kind: str = "",
        resource_id: str = "",
        scope_kind: str = "",
        scope_id: str = "",
        payload: Any = None,
    ) -> AuditRow:
        """Append an audit entry for the repository's tenant.

        Args:
            actor_kind: Who acted, e.g. ``user``, ``agent``, ``system`` (non-empty).
            actor_id: Their id (``''`` when it does not apply).
            action: What they did, e.g. ``package.publish`` (non-empty).
            resource_kind: What it was done to.
            resource_id: Its id.
            scope_kind: The scope (tenant, repository…).
            scope_id: Its id.
            payload: Any JSON value.

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty actor kind or action, or a payload that is not JSON-serialisable.
        """
        self._writable()
        if not actor_kind:
            raise InvalidInput("actor_kind must not be empty", field="actor_kind")
        if not action:
            raise InvalidInput("action must not be empty", field="action")
        params = {
            "actor_kind": actor_kind,
            "actor_id": actor_id,
            "action": action,
            "resource_kind": resource_kind,
            "resource_id": resource_id,
            "scope_kind": scope_kind,
            "scope_id": scope_id,
            "payload_json": dump_json(payload),
            "tenant_id": self.tenant,
        }
        entry = row_as(AuditRow, self._execute(_AUDIT_INSERT, params).one())
        self._change(
            "audit",
            "insert",
            "audit_log",
            entry.id,
            {
                "actor_kind": actor_kind,
                "action": action,
                "resource_kind": resource_kind,
                "resource_id": resource_id,
            },
        )
        return entry

    def get(self, entry_id: int) -> AuditRow:
        """The entry with this id.

        Raises:
            NotFound: No such entry in scope (missing, or another tenant's).
        """
        entry = self._entries.find(entry_id)
        if entry is None:
            raise NotFound(f"audit entry {entry_id} not found")
        return entry

    def query(
        self,
        *,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        resource_kind: str | None = None,
        resource_id: str | None = None,
        actor_kind: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        """The entries in scope matching every filter given, newest first (ties: highest id first).

        Args:
            scope_kind: Exact scope kind.
            scope_id: Exact scope id.
            resource_kind: Exact resource kind.
            resource_id: Exact resource id.
            actor_kind: Exact actor kind.
            actor_id: Exact actor id.
            action: Exact action.
            since: Only entries with ``created_at >= since`` (UTC text ``YYYY-MM-DD HH:MM:SS`` or a
                datetime; naive datetimes are taken as UTC).
            until: Only entries with ``created_at < until`` (same forms).
            limit: Clamped to 1..10000.
        """
        where = _audit_filters(
            scope_kind, scope_id, resource_kind, resource_id, actor_kind, actor_id, action, since, until
        )
        stmt = (
            self._entries.select(*where)
            .order_by(_a.c.created_at.desc(), _a.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(AuditRow, stmt)

    def count(
        self,
        *,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        resource_kind: str | None = None,
        resource_id: str | None = None,
        actor_kind: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> int:
        """Number of entries in scope matching the filters (those of :meth:`query`)."""
        where = _audit_filters(
            scope_kind, scope_id, resource_kind, resource_id, actor_kind, actor_id, action, since, until
        )
        return self._entries.count(*where)
