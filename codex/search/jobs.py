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
from sqlalchemy.dialects import sqlite

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, load_json, now_ms, prepare, row_as
from domains.search_ingest import search_indexing_jobs, search_job_leases

__all__ = ["JOBS_TOPIC", "JOB_STATUSES", "JobQueue", "JobRow", "LeaseLost"]

JOBS_TOPIC = "search/jobs"
JOB_STATUSES = ("queued", "running", "done", "dead")

_jobs, _leases = search_indexing_jobs, search_job_leases
_j, _l = search_indexing_jobs.alias("j"), search_job_leases.alias("l")
_ACTIVE_STATUSES: list[sa.ColumnElement[Any]] = [
    sa.literal_column("'queued'"),
    sa.literal_column("'running'"),
]
_NOW = sa.func.datetime(sa.literal_column("'now'"))


def _ms(name: str) -> sa.Cast[int]:
    """A millisecond parameter, CAST: the engine binds ints wider than 32 bits as decimal text
    (``codex.engine.safe_params``), and an expression such as ``COALESCE(…)`` has no column affinity
    to turn that text back into a number."""
    return sa.cast(sa.bindparam(name), sa.Integer)


_SELECT = sa.select(
    _j.c.id,
    _j.c.job_kind,
    _j.c.target_uri,
    _j.c.status,
    _j.c.detail_json,
    _j.c.error_text,
    _j.c.created_at,
    _j.c.updated_at,
    sa.func.coalesce(_l.c.attempts, 0).label("attempts"),
    sa.func.coalesce(_l.c.max_attempts, 5).label("max_attempts"),
    _l.c.lease_owner,
    _l.c.lease_until_ms,
    sa.func.coalesce(_l.c.next_run_at_ms, 0).label("next_run_at_ms"),
).select_from(_j.outerjoin(_l, _l.c.job_id == _j.c.id))
"""A job with its lease bookkeeping (:class:`JobRow`)."""
_GET = _SELECT.where(_j.c.id == sa.bindparam("job_id"))
_COUNT = sa.select(sa.func.count()).select_from(_jobs)
_COUNT_STATUS = _COUNT.where(_jobs.c.status == sa.bindparam("status"))
_COUNTS = sa.select(_jobs.c.status, sa.func.count().label("n")).group_by(_jobs.c.status)
_SAME_ACTIVE = (
    _jobs.c.job_kind == sa.bindparam("kind"),
    _jobs.c.target_uri == sa.bindparam("uri"),
    _jobs.c.status.in_(_ACTIVE_STATUSES),
)
# Parameters of an UPDATE are never named after a column of its table (SQLAlchemy would take them for
# SET values): the lease updates take ``:lease_job``.
_ENQUEUE = prepare(
    sa.insert(_jobs)
    .from_select(
        ["job_kind", "target_uri", "detail_json"],
        sa.select(
            sa.bindparam("kind", type_=sa.Text),
            sa.bindparam("uri", type_=sa.Text),
            sa.bindparam("detail", type_=sa.Text),
        ).where(~sa.exists().where(*_SAME_ACTIVE)),
    )
    .returning(_jobs.c.id)
)
"""Queue a job unless one of the same kind and target is active (no row back then)."""
_ACTIVE = sa.select(_jobs.c.id).where(*_SAME_ACTIVE).order_by(_jobs.c.id).limit(1)
_ADD_LEASE = prepare(
    sa.insert(_leases).values(
        job_id=sa.bindparam("job_id"),
        max_attempts=sa.bindparam("max_attempts"),
        next_run_at_ms=_ms("next_run"),
    )
)
_ADOPT = sa.insert(_leases).from_select(
    ["job_id"],
    sa.select(_j.c.id).where(_j.c.status.in_(_ACTIVE_STATUSES), ~sa.exists().where(_l.c.job_id == _j.c.id)),
)
"""Give every active job without one its lease row."""
_EXHAUSTED = prepare(
    sa.update(_jobs)
    .where(
        _jobs.c.status == sa.literal_column("'running'"),
        _jobs.c.id.in_(
            sa.select(_leases.c.job_id).where(
                sa.func.coalesce(_leases.c.lease_until_ms, 0) < _ms("now"),
                _leases.c.attempts >= _leases.c.max_attempts,
            )
        ),
    )
    .values(
        status=sa.literal_column("'dead'"),
        updated_at=_NOW,
        error_text=sa.literal_column("'lease expired on the last attempt'", sa.Text)
        + sa.func.coalesce(
            sa.literal_column("' (last error: '", sa.Text)
            + _jobs.c.error_text
            + sa.literal_column("')'", sa.Text),
            sa.literal_column("''"),
        ),
    )
    .returning(_jobs.c.id)
)
"""Running jobs whose lease expired on their last attempt become ``dead``."""
_CLAIM = prepare(
    sa.update(_leases)
    .where(
        _leases.c.job_id.in_(
            sa.select(_l.c.job_id)
            .select_from(_l.join(_j, _j.c.id == _l.c.job_id))
            .where(
                sa.or_(
                    sa.and_(_j.c.status == sa.literal_column("'queued'"), _l.c.next_run_at_ms <= _ms("now")),
                    sa.and_(
                        _j.c.status == sa.literal_column("'running'"),
                        sa.func.coalesce(_l.c.lease_until_ms, 0) < _ms("now"),
                        _l.c.attempts < _l.c.max_attempts,
                    ),
                )
            )
            .order_by(_l.c.next_run_at_ms, _l.c.job_id)
            .limit(sa.bindparam("lim"))
        )
    )
    .values(lease_owner=sa.bindparam("worker"), lease_until_ms=_ms("until"), attempts=_leases.c.attempts + 1)
    .returning(_leases.c.job_id)
)
"""The claim: one ``UPDATE … RETURNING``, atomic inside the write transaction."""
_RUNNING = prepare(
    sa.update(_jobs)
    .where(_jobs.c.id == sa.bindparam("job_id"))
    .values(status=sa.literal_column("'running'"), updated_at=_NOW)
)
_SET_STATUS = prepare(
    sa.update(_jobs)
    .where(_jobs.c.id == sa.bindparam("job_id"))
    .values(status=sa.bindparam("new_status"), error_text=sa.bindparam("error"), updated_at=_NOW)
)
_LEASE_OF_JOB = sa.update(_leases).where(_leases.c.job_id == sa.bindparam("lease_job"))
_RELEASE = {"lease_owner": sa.null(), "lease_until_ms": sa.null()}
_CLEAR_LEASE = prepare(_LEASE_OF_JOB.values(_RELEASE))
_EXTEND = _LEASE_OF_JOB.values(lease_until_ms=_ms("until"))
_BACK_OFF = _LEASE_OF_JOB.values(_RELEASE | {"next_run_at_ms": _ms("next_run")})
_REQUEUE_LEASE = sqlite.insert(_leases).values(
    job_id=sa.bindparam("job_id"), attempts=sa.literal_column("0"), next_run_at_ms=_ms("next_run")
)
_REQUEUE_LEASE = _REQUEUE_LEASE.on_conflict_do_update(
    index_elements=[_leases.c.job_id],
    set_={
        "attempts": sa.literal_column("0"),
        "lease_owner": sa.null(),
        "lease_until_ms": sa.null(),
        "next_run_at_ms": _REQUEUE_LEASE.excluded.next_run_at_ms,
    },
)
_DELETE = sa.delete(_jobs).where(_jobs.c.id == sa.bindparam("job_id"))


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
        row = self._execute(_GET, {"job_id": job_id}).first()
        return None if row is None else row_as(JobRow, row)

    def list(
        self, *, status: str | None = None, job_kind: str | None = None, after_id: int = 0, limit: int = 100
    ) -> builtins.list[JobRow]:
        """Jobs by id, optionally of one status or kind.

        Raises:
            InvalidInput: Unknown status.
        """
        stmt = _SELECT.where(_j.c.id > after_id)
        if status is not None:
            stmt = stmt.where(_j.c.status == self._check_vocab(status, JOB_STATUSES, "status"))
        if job_kind is not None:
            stmt = stmt.where(_j.c.job_kind == job_kind)
        return [row_as(JobRow, r) for r in self._execute(stmt.order_by(_j.c.id).limit(clamp_limit(limit)))]

    def count(self, *, status: str | None = None) -> int:
        """Number of jobs (optionally of one status).

        Raises:
            InvalidInput: Unknown status.
        """
        if status is None:
            return int(self._execute(_COUNT).scalar() or 0)
        self._check_vocab(status, JOB_STATUSES, "status")
        return int(self._execute(_COUNT_STATUS, {"status": status}).scalar() or 0)

    def counts_by_status(self) -> dict[str, int]:
        """``{status: count}`` for every status (zeros included; unknown statuses are kept too)."""
        out = dict.fromkeys(JOB_STATUSES, 0)
        for row in self._execute(_COUNTS).mappings():
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
        job = {"kind": job_kind, "uri": target_uri}
        row = self._run(_ENQUEUE, job | {"detail": dump_json(detail)}).fetchone()
        if row is None:
            existing = self._execute(_ACTIVE, job).scalar_one()
            return self.get(int(existing))
        job_id = int(row[0])
        start = (now_ms() if now is None else now) + delay_ms
        self._run(_ADD_LEASE, {"job_id": job_id, "max_attempts": max_attempts, "next_run": start})
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
        self._execute(_ADOPT)
        for (dead_id,) in self._run(_EXHAUSTED, {"now": t}).fetchall():
            self._run(_CLEAR_LEASE, {"lease_job": dead_id})
            job = self.get(int(dead_id))
            self._emit(job.id, "update", "dead", job.job_kind, job.target_uri, job.attempts)
        until = t + int(lease_seconds * 1000)
        params = {"worker": worker, "until": until, "now": t, "lim": clamp_limit(limit, maximum=1000)}
        claimed = [int(r[0]) for r in self._run(_CLAIM, params).fetchall()]
        jobs: builtins.list[JobRow] = []
        for job_id in claimed:
            self._run(_RUNNING, {"job_id": job_id})
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
        self._execute(_EXTEND, {"lease_job": job_id, "until": t + int(lease_seconds * 1000)})
        return self.get(job_id)

    def complete(self, job_id: int, worker: str) -> JobRow:
        """Mark a job ``done`` (the lease is released; ``error_text`` cleared).

        Raises:
            NotFound: No such job.
            LeaseLost: ``worker`` does not own the running job.
        """
        self._writable()
        job = self._owned(job_id, worker)
        self._set_status(job_id, "done", None)
        self._run(_CLEAR_LEASE, {"lease_job": job_id})
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
            self._set_status(job_id, "dead", text)
            self._run(_CLEAR_LEASE, {"lease_job": job_id})
            self._emit(job_id, "update", "dead", job.job_kind, job.target_uri, job.attempts)
            return self.get(job_id)
        t = now_ms() if now is None else now
        delay = min(self.backoff_max_ms, self.backoff_base_ms * 2 ** max(0, job.attempts - 1))
        self._set_status(job_id, "queued", text)
        self._execute(_BACK_OFF, {"lease_job": job_id, "next_run": t + delay})
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
        self._set_status(job_id, "queued", None)
        self._execute(_REQUEUE_LEASE, {"job_id": job_id, "next_run": now_ms() if now is None else now})
        self._emit(job_id, "update", "queued", job.job_kind, job.target_uri, 0)
        return self.get(job_id)

    def delete(self, job_id: int) -> None:
        """Delete a job (its lease row cascades).

        Raises:
            NotFound: No such job.
        """
        self._writable()
        job = self.get(job_id)
        self._execute(_DELETE, {"job_id": job_id})
        self._change(
            JOBS_TOPIC,
            "delete",
            "search_indexing_job",
            job_id,
            {"job_kind": job.job_kind, "target_uri": job.target_uri},
        )

    # -- internals ---------------------------------------------------------------------------------------
    def _set_status(self, job_id: int, status: str, error_text: str | None) -> None:
        self._run(_SET_STATUS, {"job_id": job_id, "new_status": status, "error": error_text})

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
