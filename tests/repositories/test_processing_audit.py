"""ProcessingRepository (runs, steps, status machines) and AuditRepository (append-only), with the
change log and rollback."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.processing_audit import AuditRepository, ProcessingRepository
from codex.store import Store
from domains.processing_audit import processing_runs


class Boom(Exception):
    pass


# -- runs -----------------------------------------------------------------------------------------


def test_start_run_and_finish(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run(
            "search_ingest", scope_kind="repository", scope_id="r1", correlation_id="c-1", payload={"n": 2}
        )
    assert (run.status, run.run_kind, run.scope_kind, run.scope_id, run.correlation_id) == (
        "running",
        "search_ingest",
        "repository",
        "r1",
        "c-1",
    )
    assert run.payload == {"n": 2} and run.started_at is not None and run.completed_at is None
    with store.begin() as conn:
        done = ProcessingRepository(conn).finish_run(run.id, "succeeded")
    assert done.status == "succeeded" and done.completed_at is not None and done.error_text is None
    with store.connect() as conn:
        assert ProcessingRepository(conn).get_run(run.id) == done
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        (f"processing/runs/{run.id}", "insert", "processing_run", str(run.id)),
        (f"processing/runs/{run.id}", "update", "processing_run", str(run.id)),
    ]
    assert changes[1].payload == {"status": "succeeded"}


def test_queued_run_lifecycle(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        queued = runs.enqueue_run("reindex")
        assert (queued.status, queued.started_at) == ("queued", None)
        started = runs.mark_running(queued.id)
        assert started.status == "running" and started.started_at is not None
        failed = runs.finish_run(queued.id, "failed", error="disk full")
        assert (failed.status, failed.error_text) == ("failed", "disk full") and failed.completed_at
        cancelled = runs.finish_run(runs.enqueue_run("reindex").id, "cancelled")
        assert cancelled.status == "cancelled" and cancelled.started_at is None


@pytest.mark.parametrize(
    ("setup", "requested"),
    [
        ("queued", "succeeded"),  # a run must be running to succeed
        ("running", "running"),
        ("succeeded", "failed"),
        ("failed", "succeeded"),
        ("cancelled", "running"),
        ("cancelled", "cancelled"),
    ],
)
def test_run_transitions_refused(store: Store, setup: str, requested: str) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.enqueue_run("k") if setup == "queued" else runs.start_run("k")
        if setup in ("succeeded", "failed", "cancelled"):
            runs.finish_run(run.id, setup)
        with pytest.raises(Conflict) as info:
            if requested == "running":
                runs.mark_running(run.id)
            else:
                runs.finish_run(run.id, requested)
        assert info.value.details == {
            "table": "processing_runs",
            "constraint": "status_transition",
            "current": setup,
            "requested": requested,
        }
        assert runs.get_run(run.id).status == setup


def test_run_errors(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("k")
        for status in ("bogus", "queued", "running"):
            with pytest.raises(InvalidInput):
                runs.finish_run(run.id, status)
        with pytest.raises(InvalidInput):
            runs.start_run("")
        with pytest.raises(NotFound):
            runs.finish_run(run.id + 100, "failed")
        with pytest.raises(NotFound):
            runs.mark_running(run.id + 100)
        with pytest.raises(NotFound):
            runs.get_run(run.id + 100)
        assert runs.get_one_or_none(run.id + 100) is None
        with pytest.raises(InvalidInput):
            runs.list_runs(status="bogus")


def test_list_runs_filters(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        a = runs.start_run("ingest", scope_kind="repo", scope_id="1")
        b = runs.start_run("ingest", scope_kind="repo", scope_id="2")
        c = runs.enqueue_run("export", scope_kind="user", scope_id="1")
        runs.finish_run(a.id, "succeeded")
    with store.connect() as conn:
        runs = ProcessingRepository(conn)
        assert [r.id for r in runs.list_runs()] == [c.id, b.id, a.id]
        assert [r.id for r in runs.list_runs(scope_kind="repo")] == [b.id, a.id]
        assert [r.id for r in runs.list_runs(scope_kind="repo", scope_id="1")] == [a.id]
        assert [r.id for r in runs.list_runs(scope_id="1")] == [c.id, a.id]
        assert [r.id for r in runs.list_runs(status="running")] == [b.id]
        assert [r.id for r in runs.list_runs(run_kind="export")] == [c.id]
        assert [r.id for r in runs.list_runs(limit=1)] == [c.id]
        assert all(r.steps == () for r in runs.list_runs())
        assert runs.count_runs() == 3 and runs.count_runs(status="queued") == 1


# -- steps ----------------------------------------------------------------------------------------


def test_steps_indexes_and_get_run_with_steps(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("k")
        s0 = runs.append_step(run.id, "fetch", detail={"url": "x"})
        s1 = runs.append_step(run.id, "parse", status="running")
        s7 = runs.append_step(run.id, "late", step_index=7)
        s8 = runs.append_step(run.id, "later")
        with pytest.raises(Conflict) as info:
            runs.append_step(run.id, "dup", step_index=7)
        assert info.value.details["constraint"] == "unique"
    assert [s.step_index for s in (s0, s1, s7, s8)] == [0, 1, 7, 8]
    assert (s0.status, s0.started_at_ms, s0.detail) == ("pending", 0, {"url": "x"})
    assert s1.status == "running" and s1.started_at_ms > 0
    with store.connect() as conn:
        full = ProcessingRepository(conn).get_run(run.id)
        changes = ChangeLogRepository(conn).since(0, topic=f"processing/runs/{run.id}")
    assert full.steps == (s0, s1, s7, s8)
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        bare = runs.start_run("k")
        listed = runs.list_runs(with_steps=True)
        old = "2000-01-01 00:00:00"
        conn.execute(sa.update(processing_runs).where(processing_runs.c.id == bare.id).values(created_at=old))
        assert [r.id for r in runs.list_runs(since="2001-01-01")] == [run.id]
        assert [r.id for r in runs.list_runs(until=datetime(2001, 1, 1, tzinfo=UTC))] == [bare.id]
    assert [(r.id, r.steps) for r in listed] == [(bare.id, ()), (run.id, full.steps)]
    assert [(c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("insert", "processing_run", str(run.id)),
        ("insert", "processing_run_step", str(s0.id)),
        ("insert", "processing_run_step", str(s1.id)),
        ("insert", "processing_run_step", str(s7.id)),
        ("insert", "processing_run_step", str(s8.id)),
    ]


def test_step_transitions(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("k")
        a = runs.append_step(run.id, "a")
        b = runs.append_step(run.id, "b")
        c = runs.append_step(run.id, "c")
        started = runs.start_step(a.id)
        assert started.status == "running" and started.started_at_ms > 0
        done = runs.finish_step(a.id, "succeeded", detail={"rows": 5})
        assert (
            done.status == "succeeded"
            and done.finished_at_ms >= started.started_at_ms
            and done.detail == {"rows": 5}
        )
        assert runs.finish_step(b.id, "skipped").status == "skipped"
        with pytest.raises(Conflict) as info:
            runs.finish_step(c.id, "succeeded")  # pending cannot succeed without running
        assert info.value.details["current"] == "pending"
        assert runs.finish_step(c.id, "failed").detail is None
        for step_id, again in ((a.id, "failed"), (b.id, "succeeded"), (c.id, "skipped")):
            with pytest.raises(Conflict):
                runs.finish_step(step_id, again)
        with pytest.raises(Conflict):
            runs.start_step(a.id)
        for status in ("bogus", "pending", "running"):
            with pytest.raises(InvalidInput):
                runs.finish_step(a.id, status)
        with pytest.raises(NotFound):
            runs.finish_step(c.id + 100, "failed")
        with pytest.raises(NotFound):
            runs.get_step(c.id + 100)
        assert [s.status for s in runs.list_steps(run.id)] == ["succeeded", "skipped", "failed"]
    with store.connect() as conn:
        updates = [
            (x.payload["status"], x.entity_id)
            for x in ChangeLogRepository(conn).since(0)
            if x.change_kind == "update" and x.entity_kind == "processing_run_step"
        ]
    assert updates == [
        ("running", str(a.id)),
        ("succeeded", str(a.id)),
        ("skipped", str(b.id)),
        ("failed", str(c.id)),
    ]


def test_append_step_errors(store: Store) -> None:
    with store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("k")
        with pytest.raises(NotFound):
            runs.append_step(run.id + 100, "x")
        with pytest.raises(InvalidInput):
            runs.append_step(run.id, "")
        with pytest.raises(InvalidInput):
            runs.append_step(run.id, "x", step_index=-1)
        with pytest.raises(InvalidInput):
            runs.append_step(run.id, "x", status="succeeded")
        assert runs.list_steps(run.id) == []


def test_run_rollback_leaves_neither_rows_nor_changes(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("ghost")
        runs.append_step(run.id, "s")
        AuditRepository(conn).append("system", "", "ghost.run")
        raise Boom
    with store.connect() as conn:
        assert ProcessingRepository(conn).count_runs() == 0
        assert AuditRepository(conn).count() == 0
        assert ChangeLogRepository(conn).head() == 0


# -- audit ----------------------------------------------------------------------------------------


def test_audit_append_get_and_change_row(store: Store) -> None:
    with store.begin() as conn:
        entry = AuditRepository(conn).append(
            "user",
            "u1",
            "package.publish",
            resource_kind="package",
            resource_id="left-pad",
            scope_kind="tenant",
            scope_id="t1",
            payload={"version": "1.0.0"},
        )
    assert (entry.actor_kind, entry.actor_id, entry.action, entry.resource_id, entry.scope_id) == (
        "user",
        "u1",
        "package.publish",
        "left-pad",
        "t1",
    )
    assert entry.payload == {"version": "1.0.0"}
    with store.connect() as conn:
        assert AuditRepository(conn).get(entry.id) == entry
        with pytest.raises(NotFound):
            AuditRepository(conn).get(entry.id + 1)
        (change,) = ChangeLogRepository(conn).since(0)
    assert (change.topic, change.change_kind, change.entity_kind, change.entity_id) == (
        "audit",
        "insert",
        "audit_log",
        str(entry.id),
    )


def test_audit_query_filters_and_order(store: Store) -> None:
    with store.begin() as conn:
        audit = AuditRepository(conn)
        old = audit.append("user", "u1", "login", scope_kind="tenant", scope_id="t1")
        a = audit.append(
            "user",
            "u1",
            "publish",
            resource_kind="package",
            resource_id="p1",
            scope_kind="tenant",
            scope_id="t1",
        )
        b = audit.append(
            "agent",
            "a7",
            "publish",
            resource_kind="package",
            resource_id="p2",
            scope_kind="tenant",
            scope_id="t2",
        )
        c = audit.append("system", "", "vacuum")
        with pytest.raises(InvalidInput):
            audit.append("", "u1", "x")
        with pytest.raises(InvalidInput):
            audit.append("user", "u1", "")
    # Test setup only: age one entry (created_at has one-second resolution).
    with store.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET created_at = '2020-01-01 00:00:00' WHERE id = :id"), {"id": old.id}
        )
    with store.connect() as conn:
        audit = AuditRepository(conn)
        assert [e.id for e in audit.query()] == [c.id, b.id, a.id, old.id]
        assert [e.id for e in audit.query(scope_kind="tenant")] == [b.id, a.id, old.id]
        assert [e.id for e in audit.query(scope_kind="tenant", scope_id="t1")] == [a.id, old.id]
        assert [e.id for e in audit.query(resource_kind="package", resource_id="p2")] == [b.id]
        assert [e.id for e in audit.query(actor_kind="user", action="publish")] == [a.id]
        assert [e.id for e in audit.query(actor_id="")] == [c.id]
        assert [e.id for e in audit.query(since="2021-01-01 00:00:00")] == [c.id, b.id, a.id]
        assert [e.id for e in audit.query(until="2021-01-01 00:00:00")] == [old.id]
        assert [
            e.id for e in audit.query(since=datetime(2019, 12, 31, 23, 0, tzinfo=UTC), until="2020-01-02")
        ] == [old.id]
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert audit.query(since=tomorrow) == []
        assert [e.id for e in audit.query(limit=2)] == [c.id, b.id]
        assert audit.count() == 4 and audit.count(scope_kind="tenant", since="2021-01-01") == 2


def test_audit_log_is_append_only_through_the_api() -> None:
    public = {
        name
        for name, member in inspect.getmembers(AuditRepository)
        if not name.startswith("_") and callable(member)
    }
    # append is the only writer; nothing updates or deletes an entry (``unscoped`` is the operator
    # form's constructor, inherited from Repository).
    assert public == {"append", "count", "get", "query", "unscoped"}
    assert "_writable" in inspect.getsource(AuditRepository.append)
    for name in ("count", "get", "query"):
        assert "_writable" not in inspect.getsource(getattr(AuditRepository, name))


def test_audit_reads_work_on_a_read_connection_and_append_does_not(store: Store) -> None:
    with store.connect() as conn:
        audit = AuditRepository(conn)
        assert audit.query() == [] and audit.count() == 0
        with pytest.raises(InvalidInput):
            audit.append("user", "u1", "x")


# -- tenancy ----------------------------------------------------------------------------------------


def test_a_tenant_cannot_touch_another_tenants_runs_and_steps(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        runs = ProcessingRepository(conn)
        run = runs.enqueue_run("ingest", scope_kind="tenant", scope_id="a")
        step = runs.append_step(run.id, "fetch")
    with store.begin(tenant="b") as conn:
        runs = ProcessingRepository(conn)
        own = runs.start_run("ingest")
        assert runs.get_one_or_none(run.id) is None
        with pytest.raises(NotFound, match=f"processing run {run.id} not found"):
            runs.get_run(run.id)
        assert [r.id for r in runs.list_runs()] == [own.id]
        assert runs.list_runs(scope_kind="tenant", scope_id="a") == []
        assert runs.count_runs() == 1 and runs.count_runs(status="queued") == 0
        for move in (
            lambda: runs.mark_running(run.id),
            lambda: runs.finish_run(run.id, "cancelled"),
        ):
            with pytest.raises(NotFound, match=f"processing run {run.id} not found"):
                move()
        for index in (None, 5):
            with pytest.raises(NotFound, match=f"processing run {run.id} not found"):
                runs.append_step(run.id, "mine now", step_index=index)
        with pytest.raises(NotFound, match=f"processing step {step.id} not found"):
            runs.get_step(step.id)
        with pytest.raises(NotFound):
            runs.start_step(step.id)
        with pytest.raises(NotFound):
            runs.finish_step(step.id, "skipped")
        assert runs.list_steps(run.id) == []
        assert [c.entity_id for c in ChangeLogRepository(conn).since(0)] == [str(own.id)]
    with store.connect(tenant="a") as conn:
        runs = ProcessingRepository(conn)
        kept = runs.get_run(run.id)
        assert (kept.status, kept.steps) == ("queued", (step,))
        assert [r.id for r in runs.list_runs()] == [run.id] and runs.count_runs() == 1
        rows = conn.exec_driver_sql(
            "SELECT 'run', id, tenant_id FROM processing_runs UNION ALL "
            "SELECT 'step', id, tenant_id FROM processing_run_steps ORDER BY 1, 2"
        ).all()
    assert [tuple(r) for r in rows] == [("run", run.id, "a"), ("run", own.id, "b"), ("step", step.id, "a")]


def test_steps_and_their_change_rows_get_the_runs_tenant(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        runs = ProcessingRepository(conn)
        run = runs.start_run("ingest")
        first = runs.append_step(run.id, "one")
        second = runs.append_step(run.id, "two", step_index=4, status="running")
        third = runs.append_step(run.id, "three")
        runs.finish_step(second.id, "succeeded")
        runs.finish_run(run.id, "succeeded")
    assert (first.step_index, second.step_index, third.step_index) == (0, 4, 5)
    with store.connect(tenant="a") as conn:
        changes = ChangeLogRepository(conn).since(0)
        tenants = conn.exec_driver_sql("SELECT DISTINCT tenant_id FROM processing_run_steps").all()
    assert [(c.entity_kind, c.change_kind) for c in changes] == [
        ("processing_run", "insert"),
        ("processing_run_step", "insert"),
        ("processing_run_step", "insert"),
        ("processing_run_step", "insert"),
        ("processing_run_step", "update"),
        ("processing_run", "update"),
    ]
    assert [tuple(r) for r in tenants] == [("a",)]
    with store.connect(tenant="b") as conn:
        assert ChangeLogRepository(conn).since(0) == []


def test_the_operator_form_sees_every_tenant_and_logs_as_the_rows_tenant(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        run = ProcessingRepository(conn).start_run("ingest")
    with store.begin(tenant="b") as conn:
        other = ProcessingRepository(conn).start_run("ingest")
    with store.begin() as conn:
        operator = ProcessingRepository.unscoped(conn)
        assert {r.id for r in operator.list_runs()} == {run.id, other.id} and operator.count_runs() == 2
        step = operator.append_step(run.id, "by operator")
        operator.finish_run(run.id, "failed", error="stopped by an operator")
        assert ProcessingRepository(conn).list_runs() == []  # library use: tenant ``default``
    with store.connect(tenant="a") as conn:
        assert ProcessingRepository(conn).get_run(run.id).steps == (step,)
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.entity_kind, c.change_kind) for c in changes] == [
        ("processing_run", "insert"),
        ("processing_run_step", "insert"),
        ("processing_run", "update"),
    ]


def test_a_tenant_cannot_read_another_tenants_audit_entries(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        entry = AuditRepository(conn).append("user", "u1", "x.do", scope_kind="tenant", scope_id="b")
    with store.begin(tenant="b") as conn:
        audit = AuditRepository(conn)
        own = audit.append("user", "u2", "x.do")
        with pytest.raises(NotFound, match=f"audit entry {entry.id} not found"):
            audit.get(entry.id)
        # scope_kind / scope_id are data, not the tenant: naming b does not make a's entry b's
        assert audit.query(scope_kind="tenant", scope_id="b") == []
        assert [e.id for e in audit.query()] == [own.id] and audit.count() == 1
        assert audit.count(action="x.do") == 1
    with store.connect() as conn:
        assert AuditRepository(conn).count() == 0
        operator = AuditRepository.unscoped(conn)
        assert operator.count() == 2 and operator.get(entry.id) == entry
        assert [e.id for e in operator.query(scope_id="b")] == [entry.id]
