"""Multi-process reliability: no lost read-modify-write updates, no over-admission past a hard quota.

Each worker is a real process (``spawn``) that opens its own Store from the parent's ``store.config``
(``migrate="none"``) on the same local file or sqld, waits on a barrier so that all of them race, and
runs every unit of work in its own ``store.begin()`` (``BEGIN IMMEDIATE``). The figures held
(reliability goals "lost updates": 8 processes x 500 on a local file, 16 x 50 on sqld; "quotas") are
printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest

from codex.config import DbConfig
from codex.errors import QuotaExceeded
from codex.repositories import ChangeLogRepository
from codex.repositories.usage import UsageRepository
from codex.store import Store, open_store

CTX = mp.get_context("spawn")
METRIC = "race.counter"
QUOTA = "race.quota"
TIMEOUT_S = 120.0
# Eight local processes queue on one write lock: give the busy handler room (a lock error would not
# be a lost update, but it would fail the run).
BUSY_TIMEOUT_MS = 60_000


def _increment(config: DbConfig, count: int, barrier: Barrier, out: Queue[Any], host_lock: bool) -> None:
    """Worker: ``count`` read-modify-write increments, each a SELECT then an absolute UPDATE."""
    try:
        store = open_store(config, migrate="none", busy_timeout_ms=BUSY_TIMEOUT_MS, host_lock=host_lock)
        try:
            barrier.wait(timeout=TIMEOUT_S)
            for _ in range(count):
                with store.begin() as conn:
                    usage = UsageRepository(conn)
                    value = usage.usage(METRIC, "global", "", "")
                    usage.set_amount(METRIC, "global", "", "", value + 1)
        finally:
            store.dispose()
        out.put(("ok", count, 0))
    except BaseException as exc:  # reported to the parent, which fails the test
        out.put(("error", repr(exc), 0))


def _consume(config: DbConfig, attempts: int, barrier: Barrier, out: Queue[Any], host_lock: bool) -> None:
    """Worker: ``attempts`` consumes of 1 against the hard quota, each in its own transaction."""
    try:
        store = open_store(config, migrate="none", busy_timeout_ms=BUSY_TIMEOUT_MS, host_lock=host_lock)
        admitted = refused = 0
        try:
            barrier.wait(timeout=TIMEOUT_S)
            for _ in range(attempts):
                try:
                    with store.begin() as conn:
                        UsageRepository(conn).consume(QUOTA, "user", "alice")
                    admitted += 1
                except QuotaExceeded:
                    refused += 1
        finally:
            store.dispose()
        out.put(("ok", admitted, refused))
    except BaseException as exc:
        out.put(("error", repr(exc), 0))


def _race(
    target: Any, config: DbConfig, procs: int, per_proc: int, host_lock: bool = False
) -> tuple[list[tuple[Any, ...]], float]:
    """Run ``procs`` workers to completion; return their reports and the wall time after the barrier.

    Without the host lock the processes meet on the database's own lock (the hard case); with it
    they take turns on a file lock first, as the workers of one server do.
    """
    barrier = CTX.Barrier(procs + 1)
    out: Queue[Any] = CTX.Queue()
    workers = [
        CTX.Process(target=target, args=(config, per_proc, barrier, out, host_lock)) for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        barrier.wait(timeout=TIMEOUT_S)  # every worker has opened its store
        started = time.monotonic()
        reports = [out.get(timeout=max(1.0, deadline - time.monotonic())) for _ in workers]
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.join(timeout=max(1.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    errors = [r[1] for r in reports if r[0] != "ok"]
    assert errors == [], errors
    return reports, elapsed


@pytest.mark.parametrize(
    ("backend", "procs", "per_proc", "host_lock"),
    [
        pytest.param("local", 8, 500, False, marks=pytest.mark.slow),
        pytest.param("local", 8, 200, True, marks=pytest.mark.slow),
        pytest.param("sqld", 16, 50, False, marks=pytest.mark.slow),
        pytest.param("sqld", 16, 50, True, marks=pytest.mark.slow),
    ],
)
def test_no_lost_updates(store: Store, backend: str, procs: int, per_proc: int, host_lock: bool) -> None:
    with store.begin() as conn:
        UsageRepository(conn).set_amount(METRIC, "global", "", "", 0)
    _, elapsed = _race(_increment, store.config, procs, per_proc, host_lock)
    expected = procs * per_proc
    with store.connect() as conn:
        final = UsageRepository(conn).usage(METRIC, "global", "", "")
        changes = ChangeLogRepository(conn).count(f"usage/{METRIC}")
    print(
        f"\n[lost updates/{backend}, host lock {host_lock}] {procs} processes x {per_proc} read-modify-write increments: "
        f"final={final} expected={expected} lost={expected - final} ({elapsed:.1f} s, {expected / elapsed:.0f} tx/s)"
    )
    assert final == expected
    assert changes == expected + 1  # one change row per increment, plus the seed


@pytest.mark.parametrize(
    ("backend", "procs", "attempts", "limit"),
    [("local", 4, 60, 100), ("sqld", 4, 20, 40)],
)
def test_hard_quota_admits_exactly_the_limit(
    store: Store, backend: str, procs: int, attempts: int, limit: int
) -> None:
    with store.begin() as conn:
        UsageRepository(conn).set_limit(QUOTA, "user", "alice", "none", limit, "hard")
    reports, elapsed = _race(_consume, store.config, procs, attempts)
    admitted = sum(r[1] for r in reports)
    refused = sum(r[2] for r in reports)
    with store.connect() as conn:
        counter = UsageRepository(conn).usage(QUOTA, "user", "alice", "")
        counter_changes = [
            c
            for c in ChangeLogRepository(conn).since(0, f"usage/{QUOTA}", 10_000)
            if c.entity_kind == "usage_counter"
        ]
    print(
        f"\n[quota/{backend}] {procs} processes x {attempts} consumes against hard limit {limit}: "
        f"admitted={admitted} refused={refused} counter={counter} over={max(0, counter - limit)} "
        f"({elapsed:.1f} s)"
    )
    assert admitted == limit
    assert refused == procs * attempts - limit
    assert counter == limit
    assert len(counter_changes) == limit  # refused consumes wrote no change row
    assert sorted(c.payload["used"] for c in counter_changes) == list(range(1, limit + 1))
