"""The indexing worker: lease jobs from the queue, run them, complete or fail them.

Each job runs in **one write transaction** that starts with :meth:`JobQueue.check_lease`, does the
work and calls :meth:`JobQueue.complete`; a failure rolls that transaction back and records the failure
(with back-off) in a second one. Because leasing also needs the write lock, no other worker can take
the job while its transaction runs; if the lease expired before the transaction began, the check fails
with :class:`LeaseLost` and the work is not done (another worker owns the job now).

Job kinds the default handlers know:

* ``ingest``: ``target_uri`` is a file path or ``file://`` URI; ``detail`` may give ``source_uri``,
  ``title``. The file is ingested with :func:`codex.search.ingest_file`.
* ``delete``: ``target_uri`` is a document's source URI (a missing document is not an error).
* ``reindex``: rebuild the FTS table (``detail.reembed`` re-embeds the corpus in the job's transaction;
  for a large corpus use :func:`codex.search.reembed`, one transaction per batch).

An unknown kind, a missing file or undecodable content makes the job ``dead`` at once (retrying
cannot help); any other error is retried with exponential back-off until ``max_attempts``. A lock
conflict reported by the database ("database is locked" / ``SQLITE_BUSY``, seen on a busy sqld) is not a
job failure: the transaction is simply run again after a short pause (up to 6 tries).

On sqld keep a job's transaction short: sqld aborts an interactive transaction that holds the write lock
for more than about 5 s (``TRANSACTION_TIMEOUT``), and the job then fails and is retried.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from codex.errors import CodexError, DatabaseUnavailable, InvalidInput, NotFound
from codex.search._embedders import Embedder, default_embedder
from codex.search.ingest import delete_document, ingest_file, reindex
from codex.search.jobs import JobQueue, JobRow, LeaseLost
from codex.store import Store

__all__ = ["DEFAULT_HANDLERS", "Handler", "PermanentJobError", "WorkerStats", "run_worker", "worker_id"]

T = TypeVar("T")

Handler = Callable[[sa.Connection, JobRow, Embedder], None]
"""A job handler: does the job's work inside the worker's write transaction."""


class PermanentJobError(CodexError):
    """A job that cannot succeed on retry (it goes ``dead`` at once)."""


@dataclass
class WorkerStats:
    """What a worker run did: ids of completed, failed (retried later) and dead jobs, and lost leases."""

    worker: str
    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


def worker_id() -> str:
    """A unique worker id: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _path_of(target: str) -> Path:
    if target.startswith("file://"):
        return Path(unquote(urlsplit(target).path))
    return Path(target)


def _ingest(conn: sa.Connection, job: JobRow, embedder: Embedder) -> None:
    detail = job.detail if isinstance(job.detail, dict) else {}
    path = _path_of(job.target_uri)
    if not path.is_file():
        raise PermanentJobError(f"no such file: {path}")
    try:
        ingest_file(
            conn,
            path,
            embedder=embedder,
            source_uri=detail.get("source_uri") or None,
            title=str(detail.get("title") or ""),
        )
    except InvalidInput as exc:
        raise PermanentJobError(exc.message) from exc


def _delete(conn: sa.Connection, job: JobRow, embedder: Embedder) -> None:
    with contextlib.suppress(NotFound):  # already gone: the job's goal holds
        delete_document(conn, job.target_uri)


def _reindex(conn: sa.Connection, job: JobRow, embedder: Embedder) -> None:
    detail = job.detail if isinstance(job.detail, dict) else {}
    reindex(conn, embedder=embedder, reembed=bool(detail.get("reembed")))


DEFAULT_HANDLERS: Mapping[str, Handler] = {"ingest": _ingest, "delete": _delete, "reindex": _reindex}
"""Handlers by job kind."""


_TRANSIENT = ("database is locked", "SQLITE_BUSY")


def _retrying(fn: Callable[[], T], *, tries: int = 6, first_delay: float = 0.05) -> T:
    """Run a transaction, again after a short back-off when the database reports a lock conflict."""
    for attempt in range(tries):
        try:
            return fn()
        except DatabaseUnavailable as exc:
            if attempt == tries - 1 or not any(key in exc.message for key in _TRANSIENT):
                raise
            time.sleep(first_delay * 2**attempt)
    raise AssertionError("unreachable")


def _run_one(
    store: Store,
    queue_factory: Callable[[sa.Connection], JobQueue],
    job: JobRow,
    worker: str,
    handlers: Mapping[str, Handler],
    embedder: Embedder,
    stats: WorkerStats,
) -> None:
    def work() -> None:
        with store.begin() as conn:
            queue = queue_factory(conn)
            queue.check_lease(job.id, worker)
            handler = handlers.get(job.job_kind)
            if handler is None:
                raise PermanentJobError(f"unknown job kind {job.job_kind!r}")
            handler(conn, job, embedder)
            queue.complete(job.id, worker)

    error: str | None = None
    permanent = False
    try:
        _retrying(work)
        stats.completed.append(job.id)
        return
    except LeaseLost:
        stats.lost.append(job.id)
        return
    except PermanentJobError as exc:
        error, permanent = exc.message, True
    except Exception as exc:  # any failure of the work is recorded on the job, then retried
        error = f"{type(exc).__name__}: {exc}"

    def record() -> JobRow:
        with store.begin() as conn:
            return queue_factory(conn).fail(job.id, worker, error or "failed", retry=not permanent)

    try:
        failed = _retrying(record)
    except LeaseLost:
        stats.lost.append(job.id)
        return
    (stats.dead if failed.status == "dead" else stats.failed).append(job.id)


def run_worker(
    store: Store,
    *,
    worker: str | None = None,
    lease_seconds: float = 60,
    once: bool = False,
    poll_interval: float = 1.0,
    batch: int = 1,
    max_jobs: int | None = None,
    embedder: Embedder | None = None,
    handlers: Mapping[str, Handler] | None = None,
    backoff_base_ms: int = 1000,
    should_stop: Callable[[], bool] | None = None,
    on_job: Callable[[JobRow, WorkerStats], None] | None = None,
) -> WorkerStats:
    """Process indexing jobs.

    Args:
        store: The :class:`codex.store.Store` to work on.
        worker: This worker's id (default: :func:`worker_id`).
        lease_seconds: Lease length; a job not finished by then can be taken by another worker.
        once: Stop when no job is due (drain the queue once) instead of polling forever.
        poll_interval: Seconds to sleep when no job is due (``once=False``).
        batch: Jobs leased per round trip.
        max_jobs: Stop after this many jobs (None: no limit).
        embedder: Embedder for ingest (default: the built-in one).
        handlers: Handlers by job kind (default: :data:`DEFAULT_HANDLERS`).
        backoff_base_ms: First retry delay (doubles per attempt).
        should_stop: Checked between jobs; True ends the run (signal handling).
        on_job: Called after each job with the job and the running stats.

    Returns:
        The :class:`WorkerStats`.
    """
    me = worker or worker_id()
    embedder = embedder or default_embedder()
    handlers = DEFAULT_HANDLERS if handlers is None else handlers
    stats = WorkerStats(me)
    seen = 0

    def factory(conn: sa.Connection) -> JobQueue:
        return JobQueue(conn, backoff_base_ms=backoff_base_ms)

    while not (should_stop and should_stop()):
        if max_jobs is not None and seen >= max_jobs:
            break

        def claim() -> list[JobRow]:
            with store.begin() as conn:
                return factory(conn).lease(me, lease_seconds=lease_seconds, limit=batch)

        jobs = _retrying(claim)
        if not jobs:
            if once:
                break
            time.sleep(poll_interval)
            continue
        for job in jobs:
            _run_one(store, factory, job, me, handlers, embedder, stats)
            seen += 1
            if on_job is not None:
                on_job(job, stats)
    return stats
