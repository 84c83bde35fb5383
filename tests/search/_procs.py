"""Process entry points for the multi-process queue tests (imported by spawned children)."""

from __future__ import annotations

import os
from multiprocessing import Queue
from multiprocessing.synchronize import Event

from codex.config import DbConfig
from codex.search import JobQueue, run_worker
from codex.store import open_store


def drain(
    config: DbConfig, name: str, ready: Queue[str], go: Event, out: Queue[tuple[str, list[int]]]
) -> None:
    """Once every worker is ready, run one over the queue until no job is due; report the ids it completed."""
    with open_store(config, migrate="none", busy_timeout_ms=20_000) as store:
        ready.put(name)
        go.wait(30)
        stats = run_worker(store, worker=name, once=True, lease_seconds=60)
    problems = stats.failed + stats.dead + stats.lost
    out.put((name, [-1] if problems else stats.completed))


def lease_and_crash(config: DbConfig) -> None:
    """Lease one job for one second, then die without completing or failing it."""
    store = open_store(config, migrate="none")
    with store.begin() as conn:
        JobQueue(conn).lease("doomed", lease_seconds=1, limit=1)
    os._exit(3)
