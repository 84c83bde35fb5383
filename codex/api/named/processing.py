"""Processing runs and the audit log as named mutations and queries.

Every handler gets a connection bound to the caller's tenant (mutations in ``store.begin(tenant=…)``,
queries in ``store.connect(tenant=…)``), so the repositories are scoped to that tenant in SQL: a tenant
sees only its own runs, steps and audit entries, and another tenant's run or step id answers 404 exactly
as a missing one does. Runs and audit entries written here also carry ``scope_kind = 'tenant'`` and
``scope_id = <tenant>`` as data (what they are about), as before.

Steps appended here start ``pending``; ``processing.finish_step`` with ``succeeded`` starts a pending step
first (there is no separate start mutation), other transitions are validated as in the repository.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field, JsonValue

from codex.api.auth import Principal
from codex.api.named._common import Body, plain
from codex.api.registry import Mutation, Query
from codex.errors import NotFound
from codex.repositories.processing_audit import AuditRepository, ProcessingRepository

__all__ = ["MUTATIONS", "QUERIES"]


class StartRun(Body):
    run_kind: str = Field(min_length=1, max_length=200)
    correlation_id: str = Field("", max_length=200)
    payload: JsonValue = None


def _start_run(conn: sa.Connection, who: Principal, body: StartRun) -> dict[str, Any]:
    run = ProcessingRepository(conn).start_run(
        body.run_kind,
        scope_kind="tenant",
        scope_id=who.tenant,
        correlation_id=body.correlation_id,
        payload=body.payload,
    )
    return plain(run)


class AppendStep(Body):
    run_id: int = Field(ge=1)
    step_name: str = Field(min_length=1, max_length=200)
    detail: JsonValue = None


def _append_step(conn: sa.Connection, who: Principal, body: AppendStep) -> dict[str, Any]:
    return plain(ProcessingRepository(conn).append_step(body.run_id, body.step_name, detail=body.detail))


class FinishStep(Body):
    run_id: int = Field(ge=1)
    step_id: int = Field(ge=1)
    status: Literal["succeeded", "failed", "skipped"]
    detail: JsonValue = None


def _finish_step(conn: sa.Connection, who: Principal, body: FinishStep) -> dict[str, Any]:
    repo = ProcessingRepository(conn)
    step = repo.get_step(body.step_id)
    if step.processing_run_id != body.run_id:
        raise NotFound(f"step {body.step_id} of run {body.run_id} not found")
    if body.status == "succeeded" and step.status == "pending":
        # The API appends steps pending and has no start_step: finishing one as succeeded runs it
        # first (pending → running → succeeded, one transaction), else "succeeded" could never be set.
        repo.start_step(step.id)
    return plain(repo.finish_step(body.step_id, body.status, detail=body.detail))


class FinishRun(Body):
    run_id: int = Field(ge=1)
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None = Field(None, max_length=20_000)


def _finish_run(conn: sa.Connection, who: Principal, body: FinishRun) -> dict[str, Any]:
    return _run_dict(ProcessingRepository(conn).finish_run(body.run_id, body.status, error=body.error))


class AuditBody(Body):
    actor_kind: str = Field(min_length=1, max_length=100)
    actor_id: str = Field("", max_length=200)
    action: str = Field(min_length=1, max_length=200)
    resource_kind: str = Field("", max_length=200)
    resource_id: str = Field("", max_length=200)
    payload: JsonValue = None


def _audit(conn: sa.Connection, who: Principal, body: AuditBody) -> dict[str, Any]:
    row = AuditRepository(conn).append(
        body.actor_kind,
        body.actor_id,
        body.action,
        resource_kind=body.resource_kind,
        resource_id=body.resource_id,
        scope_kind="tenant",
        scope_id=who.tenant,
        payload=body.payload,
    )
    return plain(row)


class RunsParams(Body):
    status: str | None = Field(None, max_length=50)
    run_kind: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=500)


def _run_dict(run: Any) -> dict[str, Any]:
    data = plain(run)
    if "steps" in data:
        data["steps"] = [plain(s) for s in run.steps]
    return data


def _runs(conn: sa.Connection, who: Principal, params: RunsParams) -> list[dict[str, Any]]:
    runs = ProcessingRepository(conn).list_runs(
        status=params.status, run_kind=params.run_kind, limit=params.limit, with_steps=True
    )
    return [_run_dict(r) for r in runs]


class AuditParams(Body):
    resource_kind: str | None = Field(None, max_length=200)
    resource_id: str | None = Field(None, max_length=200)
    since: str | None = Field(
        None, max_length=40, description="Inclusive lower bound, `YYYY-MM-DD HH:MM:SS` UTC."
    )
    until: str | None = Field(None, max_length=40, description="Exclusive upper bound.")
    limit: int = Field(100, ge=1, le=1000)


def _audit_log(conn: sa.Connection, who: Principal, params: AuditParams) -> list[dict[str, Any]]:
    rows = AuditRepository(conn).query(
        resource_kind=params.resource_kind,
        resource_id=params.resource_id,
        since=params.since,
        until=params.until,
        limit=params.limit,
    )
    return [plain(r) for r in rows]


MUTATIONS = [
    Mutation(
        "processing.start_run",
        StartRun,
        _start_run,
        "Start a processing run (status running).",
        topic="processing/runs/<id>",
    ),
    Mutation(
        "processing.append_step",
        AppendStep,
        _append_step,
        "Append the next step to a run.",
        topic="processing/runs/<id>",
    ),
    Mutation(
        "processing.finish_step",
        FinishStep,
        _finish_step,
        "Finish a step (transitions validated).",
        topic="processing/runs/<id>",
    ),
    Mutation(
        "processing.finish_run",
        FinishRun,
        _finish_run,
        "Finish a run (transitions validated).",
        topic="processing/runs/<id>",
    ),
    Mutation("audit.append", AuditBody, _audit, "Append an audit entry (append-only).", topic="audit"),
]
QUERIES = [
    Query(
        "processing.runs",
        RunsParams,
        _runs,
        "The tenant's processing runs with their steps, newest first.",
        topics=("processing/runs/*",),
    ),
    Query(
        "audit.log",
        AuditParams,
        _audit_log,
        "The tenant's audit log, newest first, filterable by time.",
        topics=("audit",),
    ),
]
