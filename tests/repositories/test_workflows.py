"""WorkflowRepository: execution log, scheduler (due / atomic claim / complete / fail) and components.

The claim test runs 4 real worker processes against the same database (a local file, and sqld).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from codex.config import DbConfig
from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.core_cas import CasRepository, cas_hash
from codex.repositories.workflows import WorkflowRepository, utc_text
from codex.store import Store, open_store

T0 = "2026-01-01 00:00:00"


class Boom(Exception):
    pass


def _fn(conn: sa.Connection, code: str = "fn job() {}") -> str:
    return CasRepository(conn).store("function", code.encode())


def test_utc_text_normalises_times() -> None:
    assert utc_text("2026-05-01 10:00:00") == "2026-05-01 10:00:00"
    assert utc_text("2026-05-01T12:30:00+02:00") == "2026-05-01 10:30:00"
    assert utc_text("2026-05-01T10:30:00.999Z") == "2026-05-01 10:30:00"
    assert utc_text(datetime(2026, 5, 1, 10, 30, 5, 700_000)) == "2026-05-01 10:30:05"  # naive = UTC
    assert utc_text(datetime(2026, 5, 1, 3, 0, tzinfo=timezone(timedelta(hours=-7)))) == "2026-05-01 10:00:00"
    now = utc_text()
    assert len(now) == 19 and now[4] == "-" and now[10] == " "
    for bad in ("tomorrow", "2026-13-01 00:00:00", ""):
        with pytest.raises(InvalidInput):
            utc_text(bad)
    with pytest.raises(InvalidInput):
        utc_text(1_700_000_000)  # type: ignore[arg-type]


def test_log_execution_and_history(store: Store) -> None:
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        first = wf.log_execution("wf-1", "fetch", "started", input=b"\x00in")
        other = wf.log_execution("wf-2", "fetch", "started")
        second = wf.log_execution(
            "wf-1",
            "fetch",
            "failed",
            attempt=2,
            output=bytearray(b"out"),
            error="timeout",
            options={"retries": 3, "queue": "io"},
        )
    assert first < other < second
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        rows = wf.history("wf-1")
        assert [r.id for r in rows] == [first, second]
        a, b = rows
        assert (a.workflow_id, a.activity_name, a.status, a.attempt) == ("wf-1", "fetch", "started", 1)
        assert (a.input, a.output, a.error, a.options, a.parsed_options) == (
            b"\x00in",
            None,
            None,
            None,
            None,
        )
        assert (b.status, b.attempt, b.output, b.error) == ("failed", 2, b"out", "timeout")
        assert b.parsed_options == {"retries": 3, "queue": "io"}
        assert len(b.created_at) == 19 and len(b.updated_at) == 19
        assert wf.get_execution(other).workflow_id == "wf-2"
        assert wf.history("nope") == []
        with pytest.raises(NotFound):
            wf.get_execution(999_999)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workflow_id": ""},
        {"status": ""},
        {"attempt": 0},
        {"attempt": True},
        {"input": "text"},
        {"options": {"bad": object()}},
    ],
)
def test_log_execution_rejects_bad_input(store: Store, kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"workflow_id": "wf", "activity_name": "a", "status": "started"}
    args.update(kwargs)
    with store.begin() as conn, pytest.raises(InvalidInput):
        WorkflowRepository(conn).log_execution(**args)


def test_schedule_due_and_status_changes(store: Store) -> None:
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        fn = _fn(conn)
        late = wf.schedule(fn, b"late", "2026-01-01 00:10:00")
        early = wf.schedule(fn, None, datetime(2026, 1, 1, 0, 5, tzinfo=UTC), cron_expr="*/5 * * * *")
        tie = wf.schedule(fn, memoryview(b"tie"), "2026-01-01T01:05:00+01:00")  # == 00:05:00 UTC
        future = wf.schedule(fn, b"future", "2026-01-02 00:00:00")
        with pytest.raises(Conflict):
            wf.schedule(cas_hash(b"missing function"), None, T0)
        with pytest.raises(InvalidInput):
            wf.schedule(fn, None, "not a time")
        with pytest.raises(InvalidInput):
            wf.schedule(fn, "args", T0)  # type: ignore[arg-type]
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        row = wf.get_scheduled(early)
        assert (row.function_hash, row.args, row.run_at, row.cron_expr, row.status) == (
            fn,
            None,
            "2026-01-01 00:05:00",
            "*/5 * * * *",
            "pending",
        )
        assert wf.get_scheduled(tie).args == b"tie"
        assert [r.id for r in wf.due("2026-01-01 00:04:59")] == []
        assert [r.id for r in wf.due("2026-01-01 00:05:00")] == [early, tie]  # run_at <= now, by run_at, id
        assert [r.id for r in wf.due(datetime(2026, 1, 1, 12, 0))] == [early, tie, late]
        assert [r.id for r in wf.due()] == [early, tie, late, future]  # the real now is after 2026-01-02
        with pytest.raises(NotFound):
            wf.get_scheduled(999_999)
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        wf.complete(early)
        wf.fail(late)
        with pytest.raises(NotFound):
            wf.complete(999_999)
        with pytest.raises(NotFound):
            wf.fail(999_999)
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        assert wf.get_scheduled(early).status == "completed"
        assert wf.get_scheduled(late).status == "failed"
        assert [r.id for r in wf.due("2026-12-31 00:00:00")] == [tie, future]  # only pending rows are due
        assert [r.id for r in wf.list_scheduled()] == [early, tie, late, future]
        assert [r.id for r in wf.list_scheduled(status="pending")] == [tie, future]
        assert wf.count_scheduled() == 4 and wf.count_scheduled(status="failed") == 1
        with pytest.raises(InvalidInput):
            wf.list_scheduled(status="done")
        with pytest.raises(InvalidInput):
            wf.count_scheduled(status="PENDING")


def test_claim_due_takes_oldest_first_and_only_once(store: Store) -> None:
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        fn = _fn(conn)
        ids = [wf.schedule(fn, bytes([i]), f"2026-01-01 00:00:0{9 - i}") for i in range(5)]
        not_due = wf.schedule(fn, None, "2026-06-01 00:00:00")
    oldest_first = list(reversed(ids))
    now = "2026-02-01 00:00:00"
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        first = wf.claim_due(now)
        assert [r.id for r in first] == oldest_first[:1]
        assert first[0].status == "running" and first[0].args == bytes([4])
        batch = wf.claim_due(now, limit=3)
        assert [r.id for r in batch] == oldest_first[1:4]
        assert all(r.status == "running" for r in batch)
        assert [r.id for r in wf.due(now)] == oldest_first[4:]
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        assert [r.id for r in wf.claim_due(now, limit=10)] == oldest_first[4:]
        assert wf.claim_due(now, limit=10) == []  # nothing left: the not-yet-due row stays pending
        assert wf.get_scheduled(not_due).status == "pending"
        assert wf.count_scheduled(status="running") == 5
    with store.connect() as conn, pytest.raises(InvalidInput):
        WorkflowRepository(conn).claim_due(now)  # claiming writes


def test_claim_is_undone_by_rollback(store: Store) -> None:
    with store.begin() as conn:
        job = WorkflowRepository(conn).schedule(_fn(conn), None, T0)
    with pytest.raises(Boom), store.begin() as conn:
        assert [r.id for r in WorkflowRepository(conn).claim_due()] == [job]
        raise Boom
    with store.connect() as conn:
        assert WorkflowRepository(conn).get_scheduled(job).status == "pending"


def test_components(store: Store) -> None:
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        schema = CasRepository(conn).store("schema", b"{}")
        row = wf.register_component("zeta", "ui")
        assert (row.name, row.namespace, row.schema_hash, row.description, row.version) == (
            "zeta",
            "ui",
            None,
            None,
            "0.1.0",
        )
        wf.register_component("alpha", "ui", schema_hash=schema, description="first", version="1.0.0")
        wf.register_component("beta", "core")
        moved = wf.register_component("beta", "ui", description="moved", version="2.0.0")  # upsert
        assert (moved.namespace, moved.description, moved.version) == ("ui", "moved", "2.0.0")
        with pytest.raises(Conflict):
            wf.register_component("gamma", "ui", schema_hash=cas_hash(b"missing"))
        with pytest.raises(InvalidInput):
            wf.register_component("", "ui")
        with pytest.raises(InvalidInput):
            wf.register_component("x", "ui", version="")
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        assert [c.name for c in wf.list_components("ui")] == ["alpha", "beta", "zeta"]
        assert wf.list_components("core") == []
        alpha = wf.get_component("alpha")
        assert (alpha.schema_hash, alpha.description, alpha.version) == (schema, "first", "1.0.0")
        with pytest.raises(NotFound):
            wf.get_component("gamma")


def test_rollback_leaves_nothing_and_no_change_rows(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        wf = WorkflowRepository(conn)
        wf.log_execution("wf", "a", "started")
        wf.schedule(_fn(conn), None, T0)
        wf.register_component("c", "ns")
        raise Boom
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        assert wf.history("wf") == [] and wf.count_scheduled() == 0 and wf.list_components("ns") == []
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        wf.log_execution("wf", "a", "started")
        wf.complete(wf.schedule(_fn(conn), None, T0))
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0  # workflows is not a live domain


# -- multi-process claim ------------------------------------------------------------------------
WORKERS = 4


def _claim_worker(config: DbConfig, worker: int, barrier: Any, results: Any) -> None:
    """Child process: claim until nothing is due; report the ids (or the error)."""
    claimed: list[int] = []
    try:
        store = open_store(config, migrate="none")
        try:
            with store.connect() as conn:  # open the connection before the race starts
                WorkflowRepository(conn).count_scheduled()
            barrier.wait(timeout=60)
            limit = 1 + worker % 2  # two workers take one job per claim, two take two
            while True:
                with store.begin() as conn:
                    rows = WorkflowRepository(conn).claim_due(T0, limit=limit)
                if not rows:
                    break
                claimed.extend(r.id for r in rows)
        finally:
            store.dispose()
        results.put((worker, claimed, None))
    except BaseException as exc:
        results.put((worker, claimed, f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_claim_due_across_processes_claims_every_job_once(store: Store) -> None:
    jobs = 200 if store.config.mode == "local" else 40
    with store.begin() as conn:
        wf = WorkflowRepository(conn)
        fn = _fn(conn)
        expected = {wf.schedule(fn, str(i).encode(), T0) for i in range(jobs)}
    assert len(expected) == jobs

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_worker, args=(store.config, w, barrier, results), daemon=True)
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    reports = []
    try:
        for _ in procs:
            reports.append(results.get(timeout=90))
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {WORKERS} workers reported: {reports}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    errors = [(w, err) for w, _, err in reports if err is not None]
    assert errors == []
    counts = Counter(job for _, claimed, _ in reports for job in claimed)
    doubles = {job: n for job, n in counts.items() if n > 1}
    assert doubles == {}
    assert set(counts) == expected  # none lost
    assert sum(counts.values()) == jobs
    with store.connect() as conn:
        wf = WorkflowRepository(conn)
        assert wf.count_scheduled(status="running") == jobs
        assert wf.count_scheduled(status="pending") == 0
