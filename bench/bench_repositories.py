"""Repository speed, as ratios to baselines measured in the same run (performance goals P1a, P1b, P2, P6).

Run from the repository root::

    .venv/bin/python bench/bench_repositories.py [--rows 20000] [--rounds 5] [--ops 2000] [--attempts 1500]

Everything runs on local files in a temporary directory, each measurement on a fresh copy of one
migrated template (WAL + ``synchronous=NORMAL``, as the engine sets them; the raw baselines set the
same pragmas). Rounds are interleaved and the median ratio is reported. Nothing here is a test: it
prints figures and whether each goal is met, and always exits 0.

* P1a: ``SubscriptionRepository.upsert_many`` (one ``executemany``) vs the raw driver's
  ``executemany`` of the same statement and rows, one transaction each. Both sides serialise the
  filter to JSON inside the timed region (the raw side with ``json.dumps``).
* P1b: ``ChangeLogRepository.append`` per row vs the raw driver executing the same INSERT per row,
  one transaction each (payload serialised inside the timed region on both sides).
* P2: ``UsageRepository.set_limit`` with its change-log row vs the same method with the change-log
  append removed (a subclass), each mutation in its own ``store.begin()`` (the unit of work).
  The same ratio inside one transaction (statement cost only) is printed for information.
* P6: ``UsageRepository.consume`` with 4 processes racing on one local file, each consume in its
  own transaction, against a hard limit below the number of attempts: ops/s over all attempts, and
  over-admission (admitted or counted beyond the limit), which must be 0.

This script may import ``libsql_experimental`` directly (``bench/`` is exempt from the import guard).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libsql_experimental

from codex.config import LocalDb
from codex.errors import QuotaExceeded
from codex.repositories import ChangeLogRepository
from codex.repositories.subscriptions import SubscriptionRepository
from codex.repositories.usage import UsageRepository
from codex.store import Store, open_store

# The raw baselines do the same work as the repositories, tenant included (revision 0007): the row's
# tenant_id, and an upsert that never overwrites another tenant's row.
SUBSCRIPTION_SQL = (
    "INSERT INTO codex_subscriptions (id, topic, filter_json, client_hint, tenant_id) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, filter_json = excluded.filter_json, "
    "client_hint = excluded.client_hint WHERE codex_subscriptions.tenant_id = excluded.tenant_id"
)
LIMIT_SQL = (
    "INSERT INTO usage_limit_definitions "
    "(metric_key, scope_kind, scope_id, period_kind, limit_value, enforcement) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (metric_key, scope_kind, scope_id, period_kind) DO UPDATE SET "
    "limit_value = excluded.limit_value, enforcement = excluded.enforcement, updated_at = datetime('now') "
    "RETURNING id"
)
CHANGE_SQL = (
    "INSERT INTO codex_change_log (topic, entity_kind, entity_id, change_kind, payload_json, tenant_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class Workspace:
    """A temp dir with one migrated template; :meth:`fresh` hands out copies."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="codex-bench-"))
        self.template = self.root / "template.db"
        open_store(LocalDb(path=str(self.template))).dispose()
        self._n = 0

    def fresh(self) -> Path:
        self._n += 1
        path = self.root / f"db{self._n}.db"
        shutil.copyfile(self.template, path)
        return path

    def store(self, **kw: Any) -> Store:
        return open_store(LocalDb(path=str(self.fresh())), migrate="none", **kw)

    def raw(self) -> Any:
        conn = libsql_experimental.connect(str(self.fresh()), isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- P1a ------------------------------------------------------------------------------------------
def p1a_round(ws: Workspace, rows: int) -> tuple[float, float]:
    """rows/s of (repository upsert_many, raw executemany)."""
    items = [(f"sub-{i:08d}", f"conversations/{i % 500}", {"n": i}, None) for i in range(rows)]

    store = ws.store()
    try:

        def repo() -> None:
            with store.begin() as conn:
                SubscriptionRepository(conn).upsert_many(items)

        t_repo = _timed(repo)
    finally:
        store.dispose()

    raw = ws.raw()

    def baseline() -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(
            SUBSCRIPTION_SQL,
            [(i, t, json.dumps(f, separators=(",", ":")), h, "default") for i, t, f, h in items],
        )
        raw.execute("COMMIT")

    t_raw = _timed(baseline)
    raw.close()
    return rows / t_repo, rows / t_raw


# -- P1b ------------------------------------------------------------------------------------------
def p1b_round(ws: Workspace, rows: int) -> tuple[float, float]:
    """rows/s of (ChangeLogRepository.append per row, raw execute per row)."""
    store = ws.store()
    try:

        def repo() -> None:
            with store.begin() as conn:
                log = ChangeLogRepository(conn)
                for i in range(rows):
                    log.append("conversations/42", "insert", "conversation_message", i, {"n": i})

        t_repo = _timed(repo)
    finally:
        store.dispose()

    raw = ws.raw()

    def baseline() -> None:
        raw.execute("BEGIN IMMEDIATE")
        for i in range(rows):
            raw.execute(
                CHANGE_SQL,
                (
                    "conversations/42",
                    "conversation_message",
                    str(i),
                    "insert",
                    json.dumps({"n": i}, separators=(",", ":")),
                    "default",
                ),
            )
        raw.execute("COMMIT")

    t_raw = _timed(baseline)
    raw.close()
    return rows / t_repo, rows / t_raw


# -- P2 -------------------------------------------------------------------------------------------
class BareUsageRepository(UsageRepository):
    """The same repository with the change-log append removed: the bare mutation."""

    def _change(
        self,
        topic: str,
        change_kind: str,
        entity_kind: str | None = None,
        entity_id: object | None = None,
        payload: Any = None,
    ) -> int:
        return 0


def _set_limit(repo: UsageRepository, i: int) -> None:
    repo.set_limit(f"metric.{i % 20}", "user", f"u{i}", "daily", i, "hard")


def _consume(repo: UsageRepository, i: int) -> None:
    repo.consume("metric.0", "user", f"u{i % 100}")


def _mutations(
    store: Store,
    cls: type[UsageRepository],
    op: Callable[[UsageRepository, int], None],
    ops: int,
    *,
    per_tx: bool,
) -> float:
    if op is _consume:  # a governing limit, so consume does its full check
        with store.begin() as conn:
            UsageRepository(conn).set_limit("metric.0", "global", "", "daily", 10**9, "hard")

    def run() -> None:
        if per_tx:
            for i in range(ops):
                with store.begin() as conn:
                    op(cls(conn), i)
        else:
            with store.begin() as conn:
                repo = cls(conn)
                for i in range(ops):
                    op(repo, i)

    return _timed(run)


def p2_round(ws: Workspace, ops: int) -> dict[str, float]:
    """Time ratios (with change row / bare): set_limit and consume, per transaction and in one."""
    ratios: dict[str, float] = {}
    for name, op in (("set_limit", _set_limit), ("consume", _consume)):
        for per_tx in (True, False):
            with_log = ws.store()
            bare = ws.store()
            try:
                t_with = _mutations(with_log, UsageRepository, op, ops, per_tx=per_tx)
                t_bare = _mutations(bare, BareUsageRepository, op, ops, per_tx=per_tx)
                with bare.connect() as conn:
                    assert ChangeLogRepository(conn).count() == (1 if op is _consume else 0)
            finally:
                with_log.dispose()
                bare.dispose()
            ratios[f"{name}/{'tx' if per_tx else 'stmt'}"] = t_with / t_bare
    # The floor: the raw driver running the same upsert, with and without the same change-log INSERT.
    times = {}
    for change in (True, False):
        raw = ws.raw()

        def pair(raw: Any = raw, change: bool = change) -> None:
            for i in range(ops):
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(LIMIT_SQL, (f"metric.{i % 20}", "user", f"u{i}", "daily", i, "hard")).fetchone()
                if change:
                    raw.execute(
                        CHANGE_SQL, ("usage/metric", "usage_limit", str(i), "update", '{"i":1}', "default")
                    )
                raw.execute("COMMIT")

        times[change] = _timed(pair)
        raw.close()
    ratios["raw/tx"] = times[True] / times[False]
    return ratios


# -- P6 -------------------------------------------------------------------------------------------
P6_METRIC = "bench.quota"


def _p6_worker(path: str, attempts: int, barrier: Any, out: Any) -> None:
    try:
        store = open_store(LocalDb(path=path), migrate="none", busy_timeout_ms=60_000)
        admitted = refused = 0
        try:
            barrier.wait(timeout=120)
            for _ in range(attempts):
                try:
                    with store.begin() as conn:
                        UsageRepository(conn).consume(P6_METRIC, "user", "alice")
                    admitted += 1
                except QuotaExceeded:
                    refused += 1
        finally:
            store.dispose()
        out.put(("ok", admitted, refused))
    except BaseException as exc:
        out.put(("error", repr(exc), 0))


def p6_run(ws: Workspace, procs: int, attempts: int) -> dict[str, Any]:
    """One race; returns ops/s over all attempts, admitted, counter and over-admission."""
    limit = procs * attempts * 2 // 3
    path = ws.fresh()
    store = open_store(LocalDb(path=str(path)), migrate="none")
    try:
        with store.begin() as conn:
            UsageRepository(conn).set_limit(P6_METRIC, "user", "alice", "none", limit, "hard")
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(procs + 1)
        out = ctx.Queue()
        workers = [
            ctx.Process(target=_p6_worker, args=(str(path), attempts, barrier, out)) for _ in range(procs)
        ]
        for w in workers:
            w.start()
        try:
            barrier.wait(timeout=120)
            start = time.perf_counter()
            reports = [out.get(timeout=300) for _ in workers]
            elapsed = time.perf_counter() - start
        finally:
            for w in workers:
                w.join(timeout=30)
                if w.is_alive():
                    w.terminate()
                    w.join()
        errors = [r[1] for r in reports if r[0] != "ok"]
        if errors:
            raise RuntimeError(f"P6 worker failed: {errors}")
        admitted = sum(r[1] for r in reports)
        with store.connect() as conn:
            counter = UsageRepository(conn).usage(P6_METRIC, "user", "alice", "")
    finally:
        store.dispose()
    return {
        "ops_s": procs * attempts / elapsed,
        "admitted": admitted,
        "limit": limit,
        "counter": counter,
        "over": max(0, admitted - limit, counter - limit),
        "short": max(0, limit - admitted),
        "elapsed": elapsed,
    }


# -- report ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000, help="rows for P1a and P1b")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median reported)")
    parser.add_argument("--ops", type=int, default=2_000, help="mutations for P2")
    parser.add_argument("--procs", type=int, default=4, help="racing processes for P6")
    parser.add_argument("--attempts", type=int, default=1_500, help="consumes per process for P6")
    args = parser.parse_args(argv)

    ws = Workspace()
    try:
        p1a: list[tuple[float, float]] = []
        p1b: list[tuple[float, float]] = []
        p2: list[dict[str, float]] = []
        for _ in range(args.rounds):
            p1a.append(p1a_round(ws, args.rows))
            p1b.append(p1b_round(ws, args.rows))
            p2.append(p2_round(ws, args.ops))
        p6 = p6_run(ws, args.procs, args.attempts)
    finally:
        ws.close()

    p1a_ratio = statistics.median(r / b for r, b in p1a)
    p1b_ratio = statistics.median(r / b for r, b in p1b)
    med = statistics.median
    p2m = {key: med(r[key] for r in p2) for key in p2[0]}
    rows = [
        (
            "P1a upsert_many vs raw executemany (speed)",
            f"{p1a_ratio:.2f}x ({med(r for r, _ in p1a):,.0f} vs {med(b for _, b in p1a):,.0f} rows/s)",
            ">= 0.8x",
            p1a_ratio >= 0.8,
        ),
        (
            "P1b ChangeLog.append vs raw execute (speed)",
            f"{p1b_ratio:.2f}x ({med(r for r, _ in p1b):,.0f} vs {med(b for _, b in p1b):,.0f} rows/s)",
            ">= 0.8x",
            p1b_ratio >= 0.8,
        ),
        (
            "P2 set_limit + change row vs bare (time, tx/op)",
            f"{p2m['set_limit/tx']:.2f}x (raw-driver floor {p2m['raw/tx']:.2f}x)",
            "<= 1.3x",
            p2m["set_limit/tx"] <= 1.3,
        ),
        (
            "P2 consume + change row vs bare (time, tx/op)",
            f"{p2m['consume/tx']:.2f}x",
            "<= 1.3x",
            p2m["consume/tx"] <= 1.3,
        ),
        (
            f"P6 consume, {args.procs} procs on one file (ops/s)",
            f"{p6['ops_s']:,.0f} ops/s ({args.procs}x{args.attempts} in {p6['elapsed']:.2f} s)",
            ">= 4,000",
            p6["ops_s"] >= 4000,
        ),
        (
            "P6 over-admission",
            f"{p6['over']} (admitted {p6['admitted']}/{p6['limit']}, counter {p6['counter']})",
            "= 0",
            p6["over"] == 0 and p6["short"] == 0,
        ),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(
        f"codex repositories bench: {args.rounds} rounds, median; {args.rows:,} rows, {args.ops:,} ops; local file"
    )
    print(f"{'metric':<{width}}  {'value':<{vwidth}}  {'goal':<8}  met")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 8}  ---")
    for name, value, goal, met in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {goal:<8}  {'yes' if met else 'no'}")
    print(
        f"(info) P2 inside one transaction (statement cost only): set_limit {p2m['set_limit/stmt']:.2f}x, "
        f"consume {p2m['consume/stmt']:.2f}x time"
    )
    print(
        f"(info) per round: P1a {[round(r / b, 2) for r, b in p1a]}, P1b {[round(r / b, 2) for r, b in p1b]}, "
        f"P2 set_limit/tx {[round(r['set_limit/tx'], 2) for r in p2]}, consume/tx {[round(r['consume/tx'], 2) for r in p2]}, "
        f"raw floor/tx {[round(r['raw/tx'], 2) for r in p2]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
