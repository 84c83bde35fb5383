"""The indexing-job queue: idempotent enqueue, leases, expiry, back-off, dead jobs, change rows."""

from __future__ import annotations

import pytest

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories._base import now_ms
from codex.search import JobQueue, LeaseLost
from codex.store import Store

T0 = 1_800_000_000_000  # a fixed clock (Unix ms): no sleeping, no timing assertions


class Boom(Exception):
    pass


def test_enqueue_is_idempotent_while_active(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        first = q.enqueue("ingest", "/docs/a.md", {"title": "A"}, now=T0)
        again = q.enqueue("ingest", "/docs/a.md", {"title": "other"}, now=T0)
        other_kind = q.enqueue("delete", "/docs/a.md", now=T0)
        other_uri = q.enqueue("ingest", "/docs/b.md", now=T0)
    assert again.id == first.id and again.detail == {"title": "A"}
    assert len({first.id, other_kind.id, other_uri.id}) == 3
    assert (first.status, first.attempts, first.max_attempts, first.next_run_at_ms) == ("queued", 0, 5, T0)
    with store.begin() as conn:
        q = JobQueue(conn)
        [job] = q.lease("w1", now=T0, limit=1)
        assert job.id == first.id
        assert q.enqueue("ingest", "/docs/a.md", now=T0).id == first.id  # running counts as active
        q.complete(job.id, "w1")
        fresh = q.enqueue("ingest", "/docs/a.md", now=T0)  # done: a new job
        assert fresh.id not in (first.id, other_kind.id, other_uri.id)
        assert q.count() == 4 and q.count(status="done") == 1
        assert q.counts_by_status() == {"queued": 3, "running": 0, "done": 1, "dead": 0}


def test_lease_claims_due_jobs_once(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        ids = [q.enqueue("ingest", f"/d/{i}", now=T0).id for i in range(5)]
        q.enqueue("ingest", "/d/later", delay_ms=60_000, now=T0)
    with store.begin() as conn:
        q = JobQueue(conn)
        a = q.lease("w1", limit=2, lease_seconds=120, now=T0)
        b = q.lease("w2", limit=10, lease_seconds=120, now=T0)
        assert [j.id for j in a] == ids[:2] and [j.id for j in b] == ids[2:]
        assert q.lease("w3", now=T0) == []
        job = a[0]
        assert (job.status, job.lease_owner, job.lease_until_ms, job.attempts) == (
            "running",
            "w1",
            T0 + 120_000,
            1,
        )
        assert [j.target_uri for j in q.lease("w3", now=T0 + 60_000)] == ["/d/later"]


def test_an_expired_lease_returns_the_job_to_the_queue(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        job = q.enqueue("ingest", "/d/a", now=T0)
        q.lease("crashed", lease_seconds=10, now=T0)
    with store.begin() as conn:
        q = JobQueue(conn)
        assert q.lease("w2", now=T0 + 9_999) == []  # still leased
        with pytest.raises(LeaseLost):
            q.check_lease(job.id, "w2", now=T0)
        [again] = q.lease("w2", lease_seconds=10, now=T0 + 10_001)
        assert (again.id, again.lease_owner, again.attempts) == (job.id, "w2", 2)
        with pytest.raises(LeaseLost):
            q.complete(job.id, "crashed")  # the old owner lost it
        with pytest.raises(LeaseLost):
            q.fail(job.id, "crashed", "late")
        assert q.check_lease(job.id, "w2", now=T0 + 10_002).id == job.id
        extended = q.extend(job.id, "w2", lease_seconds=100, now=T0 + 15_000)
        assert extended.lease_until_ms == T0 + 115_000
        done = q.complete(job.id, "w2")
        assert (done.status, done.lease_owner, done.lease_until_ms, done.error_text) == (
            "done",
            None,
            None,
            None,
        )
        with pytest.raises(LeaseLost):
            q.complete(job.id, "w2")


def test_failures_back_off_exponentially_then_go_dead(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn, backoff_base_ms=1000)
        job = q.enqueue("ingest", "/d/a", max_attempts=3, now=T0)
        t = T0
        for attempt, delay in ((1, 1000), (2, 2000)):
            [leased] = q.lease("w", now=t)
            assert leased.attempts == attempt
            failed = q.fail(job.id, "w", f"boom {attempt}", now=t)
            assert (failed.status, failed.error_text, failed.next_run_at_ms) == (
                "queued",
                f"boom {attempt}",
                t + delay,
            )
            assert q.lease("w", now=t + delay - 1) == []
            t += delay
        [leased] = q.lease("w", now=t)
        dead = q.fail(job.id, "w", "boom 3", now=t)
        assert (dead.status, dead.error_text, dead.attempts, dead.lease_owner) == ("dead", "boom 3", 3, None)
        assert q.lease("w", now=t + 10**9) == []
        assert [j.id for j in q.list(status="dead")] == [job.id]
        requeued = q.requeue(job.id, now=t)
        assert (requeued.status, requeued.attempts, requeued.error_text) == ("queued", 0, None)
        with pytest.raises(InvalidInput):
            q.requeue(job.id)


def test_a_permanent_failure_is_dead_at_once_and_an_expired_last_lease_too(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        a = q.enqueue("ingest", "/d/a", now=T0)
        b = q.enqueue("ingest", "/d/b", max_attempts=1, now=T0)
        q.lease("w", limit=2, lease_seconds=5, now=T0)
        assert q.fail(a.id, "w", "no such file", retry=False).status == "dead"
        assert q.lease("w2", now=T0 + 6_000) == []  # b's only attempt expired: dead, not leased again
        gone = q.get(b.id)
        assert gone.status == "dead" and "lease expired" in (gone.error_text or "")


def test_bad_inputs_and_missing_jobs(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        for kw in ({"job_kind": ""}, {"job_kind": "x" * 65}, {"max_attempts": 0}, {"delay_ms": -1}):
            args = {"job_kind": "ingest", **kw}
            with pytest.raises(InvalidInput):
                q.enqueue(args.pop("job_kind"), "/d", **args)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            q.lease("")
        with pytest.raises(InvalidInput):
            q.lease("w", lease_seconds=0)
        with pytest.raises(InvalidInput):
            q.list(status="paused")
        with pytest.raises(NotFound):
            q.get(999)
        with pytest.raises(NotFound):
            q.complete(999, "w")
        with pytest.raises(NotFound):
            q.delete(999)
    with store.connect() as conn, pytest.raises(InvalidInput, match="writes"):
        JobQueue(conn).enqueue("ingest", "/d")


def test_change_rows_and_rollback(store: Store) -> None:
    with store.begin() as conn:
        q = JobQueue(conn)
        job = q.enqueue("ingest", "/d/a", now=T0)
        q.lease("w", now=T0)
        q.complete(job.id, "w")
        q.delete(job.id)
        rows = ChangeLogRepository(conn).since(0, topic="search/jobs")
    assert [(r.change_kind, (r.payload or {}).get("status")) for r in rows] == [
        ("insert", "queued"),
        ("update", "running"),
        ("update", "done"),
        ("delete", None),
    ]
    assert {r.entity_kind for r in rows} == {"search_indexing_job"} and rows[0].entity_id == str(job.id)
    with pytest.raises(Boom), store.begin() as conn:
        JobQueue(conn).enqueue("ingest", "/d/b")
        raise Boom
    with store.connect() as conn:
        assert JobQueue(conn).count() == 0
        assert ChangeLogRepository(conn).count(topic="search/jobs") == 4


def test_jobs_inserted_without_a_lease_row_are_adopted(store: Store) -> None:
    """A job row written by other code (no lease row) is still leased."""
    with store.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO search_indexing_jobs (job_kind, target_uri) VALUES ('ingest', '/d/x')"
        )
    with store.begin() as conn:
        q = JobQueue(conn)
        assert q.list()[0].attempts == 0
        [job] = q.lease("w", now=now_ms())
        assert (job.target_uri, job.attempts, job.max_attempts) == ("/d/x", 1, 5)
