"""search_ingest: the indexing-job queue (``search_indexing_jobs`` + the ``search_job_leases`` side table).

States (``search_indexing_jobs.status``): ``queued`` → ``running`` → ``done``; a failure goes back to
``queued`` with exponential back-off, or to ``dead`` (with ``error_text``) once ``max_attempts`` leases
were used. The lease bookkeeping lives in ``search_job_leases`` (attempts, max_attempts, lease_owner,
lease_until_ms, next_run_at_ms; Unix ms) so the baseline table stays as upstream defines it.

Lease design:

* :meth:`JobQueue.lease` claims due jobs with **one** ``UPDATE … RETURNING`` on the lease table (queued
  jobs whose ``next_run_at_ms`` has come, and running jobs whose lease expired: a crashed worker's job
  returns to the queue by itself), then marks them ``running``, in the caller's write transaction
  (``BEGIN IMMEDIATE`` on a local file and on sqld), so two workers can never claim the same job.
* Each claim increments ``attempts``. An expired lease that has used its last attempt makes the job
  ``dead`` instead of being claimed again.
* :meth:`JobQueue.complete` and :meth:`JobQueue.fail` require the caller to still hold the lease
  (owner and ``running``), else :class:`LeaseLost`. The worker does the job's work and ``complete`` in
  one write transaction that starts with :meth:`JobQueue.check_lease`: while it runs no other worker can
  lease, so a job is processed by one worker at a time.
* :meth:`JobQueue.enqueue` is idempotent for the same ``(job_kind, target_uri)`` while such a job is
  queued or running (one ``INSERT … SELECT … WHERE NOT EXISTS``).

Change-log topic: ``search/jobs`` with ``entity_kind`` ``search_indexing_job``: ``insert`` on enqueue,
``update`` on lease / complete / fail / requeue (payload ``{status, job_kind, target_uri, attempts}``),
``delete`` on delete.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, load_json, now_ms, row_as

__all__ = ["JOBS_TOPIC", "JOB_STATUSES", "JobQueue", "JobRow", "LeaseLost"]

JOBS_TOPIC = "search/jobs"
JOB_STATUSES = ("queued", "running", "done", "dead")

_SELECT = (
    "SELECT j.id, j.job_kind, j.target_uri, j.status, j.detail_json, j.error_text, j.created_at, j.updated_at, "
    "COALESCE(l.attempts, 0) AS attempts, COALESCE(l.max_attempts, 5) AS max_attempts, l.lease_owner, "
    "l.lease_until_ms, COALESCE(l.next_run_at_ms, 0) AS next_run_at_ms "
    "FROM search_indexing_jobs j LEFT JOIN search_job_leases l ON l.job_id = j.id"
)
_ENQUEUE = (
    "INSERT INTO search_indexing_jobs (job_kind, target_uri, detail_json) SELECT ?, ?, ? WHERE NOT EXISTS "
    "(SELECT 1 FROM search_indexing_jobs WHERE job_kind = ? AND target_uri = ? AND status IN ('queued', 'running')) "
    "RETURNING id"
)
_ACTIVE = (
    "SELECT id FROM search_indexing_jobs WHERE job_kind = ? AND target_uri = ? AND status IN ('queued', 'running') "
    "ORDER BY id LIMIT 1"
)
_ADOPT = (
    "INSERT INTO search_job_leases (job_id) SELECT j.id FROM search_indexing_jobs j "
    "WHERE j.status IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM search_job_leases l WHERE l.job_id = j.id)"
)
_EXHAUSTED = (
    "UPDATE search_indexing_jobs SET status = 'dead', updated_at = datetime('now'), error_text = "
    "'lease expired on the last attempt' || COALESCE(' (last error: ' || error_text || ')', '') "
    "WHERE status = 'running' AND id IN (SELECT job_id FROM search_job_leases "
    "WHERE COALESCE(lease_until_ms, 0) < CAST(? AS INTEGER) AND attempts >= max_attempts) RETURNING id"
)
# The claim: one UPDATE … RETURNING, atomic inside the write transaction. Millisecond parameters are
# CAST: the engine binds ints wider than 32 bits as decimal text (codex.engine.safe_params), and an
# expression such as COALESCE(...) has no column affinity to turn that text back into a number.
_CLAIM = (
    "UPDATE search_job_leases SET lease_owner = ?, lease_until_ms = CAST(? AS INTEGER), attempts = attempts + 1 "
    "WHERE job_id IN (SELECT l.job_id FROM search_job_leases l JOIN search_indexing_jobs j ON j.id = l.job_id "
    "WHERE (j.status = 'queued' AND l.next_run_at_ms <= CAST(? AS INTEGER)) "
    "OR (j.status = 'running' AND COALESCE(l.lease_until_ms, 0) < CAST(? AS INTEGER) "
    "AND l.attempts < l.max_attempts) "
    "ORDER BY l.next_run_at_ms, l.job_id LIMIT ?) RETURNING job_id"
)
_SET_STATUS = (
    "UPDATE search_indexing_jobs SET status = ?, error_text = ?, updated_at = datetime('now') WHERE id = ?"
)
_CLEAR_LEASE = "UPDATE search_job_leases SET lease_owner = NULL, lease_until_ms = NULL WHERE job_id = ?"


class LeaseLost(Conflict):
    """The worker no longer holds the job's lease (it expired and another worker took it, or it ended)."""


@dataclass(frozen=True, slots=True)
class JobRow:
    """An indexing job with its lease bookkeeping (times in Unix ms)."""

    id: int
    job_kind: str
    target_uri: str
    status: str
    detail_json: str | None
    error_text: str | None
    created_at: str
    updated_at: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_until_ms: int | None
    next_run_at_ms: int

    @property
    def detail(self) -> Any:
        """The job's detail, parsed."""
        return load_json(self.detail_json)


class JobQueue(Repository):
    """The indexing-job queue: enqueue, lease, complete, fail (with back-off), requeue, inspect.

    Args:
        conn: A connection from ``store.begin()`` (writes) or ``store.connect()`` (reads).
        backoff_base_ms: First retry delay; attempt *n* waits ``base * 2**(n-1)``.
        backoff_max_ms: Upper bound of a retry delay.
    """

    topic_root = JOBS_TOPIC

    def __init__(
        self, conn: sa.Connection, *, backoff_base_ms: int = 1000, backoff_max_ms: int = 3_600_000
    ) -> None:
        super().__init__(conn)
        self.backoff_base_ms = int(backoff_base_ms)
        self.backoff_max_ms = int(backoff_max_ms)

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, job_id: int) -> JobRow:
        """One job.

        Raises:
            NotFound: No such job.
        """
        found = self.get_one_or_none(job_id)
        if found is None:
            raise NotFound(f"no search indexing job {job_id}")
        return found

    def get_one_or_none(self, job_id: int) -> JobRow | None:
        """One job, or None."""
        row = self._sql(f"{_SELECT} WHERE j.id = ?", (job_id,)).first()
        return None if row is None else row_as(JobRow, row)

    def list(
        self, *, status: str | None = None, job_kind: str | None = None, after_id: int = 0, limit: int = 100
    ) -> builtins.list[JobRow]:
        """Jobs by id, optionally of one status or kind.

        Raises:
            InvalidInput: Unknown status.
        """
        where: builtins.list[str] = ["j.id > ?"]
        params: builtins.list[Any] = [after_id]
        if status is not None:
            where.append("j.status = ?")
            params.append(self._check_vocab(status, JOB_STATUSES, "status"))
        if job_kind is not None:
            where.append("j.job_kind = ?")
            params.append(job_kind)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY j.id LIMIT ?"
        return [row_as(JobRow, r) for r in self._sql(sql, (*params, clamp_limit(limit)))]

    def count(self, *, status: str | None = None) -> int:
        """Number of jobs (optionally of one status).

        Raises:
            InvalidInput: Unknown status.
        """
        if status is None:
            return int(self._sql("SELECT count(*) FROM search_indexing_jobs").scalar() or 0)
        self._check_vocab(status, JOB_STATUSES, "status")
        return int(
            self._sql("SELECT count(*) FROM search_indexing_jobs WHERE status = ?", (status,)).scalar() or 0
        )

    def counts_by_status(self) -> dict[str, int]:
        """``{status: count}`` for every status (zeros included; unknown statuses are kept too)."""
        out = dict.fromkeys(JOB_STATUSES, 0)
        for row in self._sql(
            "SELECT status, count(*) AS n FROM search_indexing_jobs GROUP BY status"
        ).mappings():
            out[str(row["status"])] = int(row["n"])
        return out

    # -- writes ------------------------------------------------------------------------------------------
    def enqueue(
        self,
        job_kind: str,
        target_uri: str = "",
        detail: Any = None,
        *,
        max_attempts: int = 5,
        delay_ms: int = 0,
        now: int | None = None,
    ) -> JobRow:
        """Queue a job, or return the queued/running job of the same ``(job_kind, target_uri)``.

        Args:
            job_kind: What to do (the worker knows ``ingest``, ``delete`` and ``reindex``), 1-64 chars.
            target_uri: What to do it to (a path or URI).
            detail: JSON detail (e.g. ``{"mime_type": "text/html"}``).
            max_attempts: Leases before the job goes ``dead`` (>= 1).
            delay_ms: Do not run before ``now + delay_ms``.
            now: The clock (Unix ms; default: now).

        Returns:
            The new job, or the existing active one (unchanged).

        Raises:
            InvalidInput: Empty or long kind, ``max_attempts < 1``, negative delay.
        """
        self._writable()
        if not job_kind or len(job_kind) > 64:
            raise InvalidInput("job_kind must be 1-64 characters", field="job_kind")
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1", field="max_attempts")
        if delay_ms < 0:
            raise InvalidInput("delay_ms must not be negative", field="delay_ms")
        row = self._raw(_ENQUEUE, (job_kind, target_uri, dump_json(detail), job_kind, target_uri)).fetchone()
        if row is None:
            existing = self._sql(_ACTIVE, (job_kind, target_uri)).scalar_one()
            return self.get(int(existing))
        job_id = int(row[0])
        start = (now_ms() if now is None else now) + delay_ms
        self._sql(
            "INSERT INTO search_job_leases (job_id, max_attempts, next_run_at_ms) VALUES (?, ?, CAST(? AS INTEGER))",
            (job_id, max_attempts, start),
        )
        self._emit(job_id, "insert", "queued", job_kind, target_uri, 0)
        return self.get(job_id)

    def lease(
        self, worker: str, *, lease_seconds: float = 60, limit: int = 1, now: int | None = None
    ) -> builtins.list[JobRow]:
        """Claim up to ``limit`` due jobs for ``worker`` until ``now + lease_seconds``.

        Due jobs are queued ones whose ``next_run_at_ms`` has come, and running ones whose lease expired
        (their worker crashed or stalled), oldest due first. Running jobs whose lease expired on their
        last attempt become ``dead`` here.

        Args:
            worker: A unique worker id (e.g. ``host:pid:random``).
            lease_seconds: Lease length (> 0).
            limit: Maximum jobs to claim (clamped to 1..1000).
            now: The clock (Unix ms; default: now).

        Returns:
            The claimed jobs (status ``running``, owned by ``worker``), in claim order.

        Raises:
            InvalidInput: Empty worker id or non-positive lease.
        """
        self._writable()
        if not worker:
            raise InvalidInput("worker must not be empty", field="worker")
        if lease_seconds <= 0:
            raise InvalidInput("lease_seconds must be positive", field="lease_seconds")
        t = now_ms() if now is None else now
        self._sql(_ADOPT)
        for (dead_id,) in self._raw(_EXHAUSTED, (t,)).fetchall():
            self._sql(_CLEAR_LEASE, (dead_id,))
            job = self.get(int(dead_id))
            self._emit(job.id, "update", "dead", job.job_kind, job.target_uri, job.attempts)
        until = t + int(lease_seconds * 1000)
        claimed = [
            int(r[0])
            for r in self._raw(_CLAIM, (worker, until, t, t, clamp_limit(limit, maximum=1000))).fetchall()
        ]
        jobs: builtins.list[JobRow] = []
        for job_id in claimed:
            self._sql(
                "UPDATE search_indexing_jobs SET status = 'running', updated_at = datetime('now') WHERE id = ?",
                (job_id,),
            )
            job = self.get(job_id)
            self._emit(job.id, "update", "running", job.job_kind, job.target_uri, job.attempts)
            jobs.append(job)
        return jobs

    def check_lease(self, job_id: int, worker: str, *, now: int | None = None) -> JobRow:
        """The job, if ``worker`` holds an unexpired lease on it.

        Raises:
            NotFound: No such job.
            LeaseLost: The job is not running, another worker owns it, or the lease expired.
        """
        job = self.get(job_id)
        t = now_ms() if now is None else now
        if job.status != "running" or job.lease_owner != worker or (job.lease_until_ms or 0) < t:
            raise LeaseLost(
                f"worker {worker!r} does not hold the lease on job {job_id} (status {job.status}, "
                f"owner {job.lease_owner!r})",
                job_id=job_id,
                owner=job.lease_owner,
            )
        return job

    def extend(
        self, job_id: int, worker: str, *, lease_seconds: float = 60, now: int | None = None
    ) -> JobRow:
        """Heartbeat: push a held lease to ``now + lease_seconds``.

        Raises:
            LeaseLost: The lease is no longer held.
        """
        self._writable()
        t = now_ms() if now is None else now
        self.check_lease(job_id, worker, now=t)
        self._sql(
            "UPDATE search_job_leases SET lease_until_ms = CAST(? AS INTEGER) WHERE job_id = ?",
            (t + int(lease_seconds * 1000), job_id),
        )
        return self.get(job_id)

    def complete(self, job_id: int, worker: str) -> JobRow:
        """Mark a job ``done`` (the lease is released; ``error_text`` cleared).

        Raises:
            NotFound: No such job.
            LeaseLost: ``worker`` does not own the running job.
        """
        self._writable()
        job = self._owned(job_id, worker)
        self._sql(_SET_STATUS, ("done", None, job_id))
        self._sql(_CLEAR_LEASE, (job_id,))
        self._emit(job_id, "update", "done", job.job_kind, job.target_uri, job.attempts)
        return self.get(job_id)

    def fail(
        self, job_id: int, worker: str, error: str, *, retry: bool = True, now: int | None = None
    ) -> JobRow:
        """Record a failed attempt: back to ``queued`` after a back-off, or ``dead`` when attempts are spent.

        The retry waits ``backoff_base_ms * 2**(attempts-1)`` (capped at ``backoff_max_ms``).

        Args:
            job_id: The job.
            worker: The lease holder.
            error: What went wrong (kept in ``error_text``, truncated to 4000 characters).
            retry: False makes the job ``dead`` at once (a permanent error).
            now: The clock (Unix ms; default: now).

        Raises:
            NotFound: No such job.
            LeaseLost: ``worker`` does not own the running job.
        """
        self._writable()
        job = self._owned(job_id, worker)
        text = (error or "failed")[:4000]
        if not retry or job.attempts >= job.max_attempts:
            self._sql(_SET_STATUS, ("dead", text, job_id))
            self._sql(_CLEAR_LEASE, (job_id,))
            self._emit(job_id, "update", "dead", job.job_kind, job.target_uri, job.attempts)
            return self.get(job_id)
        t = now_ms() if now is None else now
        delay = min(self.backoff_max_ms, self.backoff_base_ms * 2 ** max(0, job.attempts - 1))
        self._sql(_SET_STATUS, ("queued", text, job_id))
        self._sql(
            "UPDATE search_job_leases SET lease_owner = NULL, lease_until_ms = NULL, next_run_at_ms = CAST(? AS INTEGER) "
            "WHERE job_id = ?",
            (t + delay, job_id),
        )
        self._emit(job_id, "update", "queued", job.job_kind, job.target_uri, job.attempts)
        return self.get(job_id)

    def requeue(self, job_id: int, *, now: int | None = None) -> JobRow:
        """Put a ``dead`` or ``done`` job back in the queue with fresh attempts.

        Raises:
            NotFound: No such job.
            InvalidInput: The job is queued or running.
        """
        self._writable()
        job = self.get(job_id)
        if job.status not in ("dead", "done"):
            raise InvalidInput(
                f"job {job_id} is {job.status}; only dead or done jobs are requeued", field="status"
            )
        self._sql(_SET_STATUS, ("queued", None, job_id))
        self._sql(
            "INSERT INTO search_job_leases (job_id, attempts, next_run_at_ms) VALUES (?, 0, CAST(? AS INTEGER)) "
            "ON CONFLICT(job_id) "
            "DO UPDATE SET attempts = 0, lease_owner = NULL, lease_until_ms = NULL, next_run_at_ms = excluded.next_run_at_ms",
            (job_id, now_ms() if now is None else now),
        )
        self._emit(job_id, "update", "queued", job.job_kind, job.target_uri, 0)
        return self.get(job_id)

    def delete(self, job_id: int) -> None:
        """Delete a job (its lease row cascades).

        Raises:
            NotFound: No such job.
        """
        self._writable()
        job = self.get(job_id)
        self._sql("DELETE FROM search_indexing_jobs WHERE id = ?", (job_id,))
        self._change(
            JOBS_TOPIC,
            "delete",
            "search_indexing_job",
            job_id,
            {"job_kind": job.job_kind, "target_uri": job.target_uri},
        )

    # -- internals ---------------------------------------------------------------------------------------
    def _owned(self, job_id: int, worker: str) -> JobRow:
        job = self.get(job_id)
        if job.status != "running" or job.lease_owner != worker:
            raise LeaseLost(
                f"worker {worker!r} does not hold the lease on job {job_id} (status {job.status}, "
                f"owner {job.lease_owner!r})",
                job_id=job_id,
                owner=job.lease_owner,
            )
        return job

    def _emit(
        self, job_id: int, kind: str, status: str, job_kind: str, target_uri: str, attempts: int
    ) -> None:
        payload = {"status": status, "job_kind": job_kind, "target_uri": target_uri, "attempts": attempts}
        self._change(JOBS_TOPIC, kind, "search_indexing_job", job_id, payload)
