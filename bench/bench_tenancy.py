"""Tenant A's list latency when tenant B holds 100,000 rows vs none (performance goal P11).

Run from the repository root::

    .venv/bin/python bench/bench_tenancy.py [--b-rows 100000] [--reps 300] [--rounds 5] [--http] [--analyze]

Two local libSQL files are made from one migrated template: in both, tenant ``a`` holds 3 conversations; in
the "full" one tenant ``b`` also holds ``--b-rows`` conversations, bulk-loaded with one ``executemany``
(``TableGateway.insert_many``) after A's rows, so that B's rows are the most recently updated and come first
in any walk of the ``updated_at`` index (the worst case for a plan that filters the tenant after the scan).

What is timed is the named query ``chat.conversations`` through the repository layer, as a request runs it:
``with store.connect(tenant="a") as conn: ChatRepository(conn, "a").list(limit=50)`` (read connection from
the pool, read transaction, statement, rows). Rounds interleave the two files (``--reps`` calls on each per
round, after a warm-up) and the percentiles are taken over every call. Each answer is checked: exactly A's
three conversations, newest first; a wrong answer makes the figures meaningless, and the script exits 2.

With ``--http`` the same is measured through ``GET /api/codex/query/chat.conversations`` on a ``codex serve``
subprocess per file (keep-alive client, tenant ``a``'s read token), printed for information.

The last line is the figure for the issue's closing note::

    tenancy-bench: a_rows=3 b_rows=100000 p50_ms_empty=X p50_ms_full=Y ratio=Z

Nothing here is a test: it prints figures (goal: ratio <= 1.5) and exits 0 unless an answer is wrong.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from codex.config import LocalDb
from codex.repositories.gateway import Scope, TableGateway
from codex.repositories.tenancy import TokenRepository
from codex.repositories.user_chat import ChatRepository, ConversationRow
from codex.store import Store, open_store
from domains.user_chat import conversations

REPO = Path(__file__).resolve().parents[1]
A_ROWS = 3
GOAL = 1.5
PLAN_SQL = (
    "EXPLAIN QUERY PLAN SELECT * FROM conversations WHERE tenant_id = ? "
    "ORDER BY updated_at DESC, id DESC LIMIT 50"
)


def build(root: Path, template: Path, name: str, b_rows: int, analyze: bool) -> tuple[Path, list[int]]:
    """A copy of the template with A's three conversations and ``b_rows`` of B's; returns A's ids, newest first."""
    path = root / f"{name}.db"
    shutil.copyfile(template, path)
    store = open_store(LocalDb(path=str(path)), migrate="none")
    try:
        with store.begin(tenant="a") as conn:
            chat = ChatRepository(conn, "a")
            a_ids = [chat.create_conversation(title=f"a{i}").id for i in range(A_ROWS)]
            # Older than anything B writes, one second apart: A's rows are last in updated_at order.
            for i, conv_id in enumerate(a_ids):
                stamp = f"2020-01-01 00:00:0{i}"
                conn.execute(
                    conversations.update()
                    .where(conversations.c.id == conv_id)
                    .values(created_at=stamp, updated_at=stamp)
                )
        if b_rows:
            started = time.perf_counter()
            with store.begin(tenant="b") as conn:
                gateway = TableGateway(conn, conversations, ConversationRow, Scope.for_tenant("b"))
                batch = 20_000
                for start in range(0, b_rows, batch):
                    gateway.insert_many(
                        [{"title": f"b{i}"} for i in range(start, min(start + batch, b_rows))]
                    )
            print(f"  loaded {b_rows:,} rows of tenant b in {time.perf_counter() - started:.2f} s")
        if analyze:  # planner statistics: the plan a long-lived database would get
            with store.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        with store.connect() as conn:
            plan = conn.exec_driver_sql(PLAN_SQL, ("a",)).all()
        print(f"  {name}: plan of A's list: {' | '.join(str(row[-1]) for row in plan)}")
    finally:
        store.dispose()
    return path, a_ids[::-1]


def list_a(store: Store) -> list[int]:
    """Tenant A's ``chat.conversations`` through the repository layer, as a request runs it."""
    with store.connect(tenant="a") as conn:
        return [row.id for row in ChatRepository(conn, "a").list(limit=50)]


def timed(call: Callable[[], list[int]], reps: int, expected: list[int], label: str) -> list[float]:
    """``reps`` timings of ``call`` in milliseconds, each answer checked against ``expected``."""
    out: list[float] = []
    for _ in range(reps):
        started = time.perf_counter()
        got = call()
        out.append((time.perf_counter() - started) * 1000)
        if got != expected:
            print(f"WRONG RESULT ({label}): expected tenant a's {expected}, got {got[:10]} ({len(got)} rows)")
            sys.exit(2)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def serve(path: Path, root: Path) -> Iterator[tuple[str, str]]:
    """A ``codex serve`` subprocess on ``path``; yields (base URL, tenant a's read token)."""
    import socket

    import httpx

    store = open_store(LocalDb(path=str(path)), migrate="none")
    try:
        with store.begin() as conn:
            token = TokenRepository(conn).create("a", ["read"]).secret
    finally:
        store.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(VOX_DB_PATH=str(path), HOME=str(root), VOX_CODEX_LOG_LEVEL="warning")
    log = (root / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"codex serve did not start (see {log.name})")
            time.sleep(0.1)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def http_round(paths: dict[str, Path], expected: dict[str, list[int]], root: Path, reps: int) -> None:
    """p50/p99 of ``GET /api/codex/query/chat.conversations`` on each file (information only)."""
    import httpx

    results: dict[str, list[float]] = {}
    for name, path in paths.items():
        with (
            serve(path, root) as (url, token),
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c,
        ):

            def call() -> list[int]:
                r = c.get("/api/codex/query/chat.conversations", params={"limit": 50})
                r.raise_for_status()
                return [row["id"] for row in r.json()["result"]]

            timed(call, 20, expected[name], f"http {name}")  # warm-up
            results[name] = timed(call, reps, expected[name], f"http {name}")
    empty, full = results["empty"], results["full"]
    print(
        f"(info) HTTP chat.conversations: empty p50 {pct(empty, 0.5):.3f} ms p99 {pct(empty, 0.99):.3f} ms; "
        f"full p50 {pct(full, 0.5):.3f} ms p99 {pct(full, 0.99):.3f} ms; "
        f"ratio {pct(full, 0.5) / pct(empty, 0.5):.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--b-rows", type=int, default=100_000, help="tenant b's conversations in the full file"
    )
    parser.add_argument("--reps", type=int, default=300, help="timed calls per file per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--http", action="store_true", help="also measure through HTTP (codex serve)")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on both files before timing")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="codex-bench-tenancy-"))
    try:
        template = root / "template.db"
        open_store(LocalDb(path=str(template))).dispose()
        print(
            f"codex tenancy bench: a_rows={A_ROWS}, b_rows={args.b_rows:,}; local file; {args.rounds} rounds"
        )
        empty_path, expected_empty = build(root, template, "empty", 0, args.analyze)
        full_path, expected_full = build(root, template, "full", args.b_rows, args.analyze)
        stores = {
            "empty": open_store(LocalDb(path=str(empty_path)), migrate="none"),
            "full": open_store(LocalDb(path=str(full_path)), migrate="none"),
        }
        expected = {"empty": expected_empty, "full": expected_full}
        samples: dict[str, list[float]] = {"empty": [], "full": []}
        try:
            for name, store in stores.items():  # warm-up: pool, statement cache, page cache
                timed(functools.partial(list_a, store), 50, expected[name], name)
            for round_no in range(args.rounds):
                order = ("empty", "full") if round_no % 2 == 0 else ("full", "empty")
                for name in order:
                    store = stores[name]
                    samples[name] += timed(functools.partial(list_a, store), args.reps, expected[name], name)
        finally:
            for store in stores.values():
                store.dispose()
        if args.http:
            http_round({"empty": empty_path, "full": full_path}, expected, root, args.reps)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    empty, full = samples["empty"], samples["full"]
    p50_empty, p50_full = statistics.median(empty), statistics.median(full)
    ratio = p50_full / p50_empty
    print(
        f"repository list, tenant b empty: p50 {p50_empty:.3f} ms  p99 {pct(empty, 0.99):.3f} ms  ({len(empty)} calls)"
    )
    print(
        f"repository list, tenant b full:  p50 {p50_full:.3f} ms  p99 {pct(full, 0.99):.3f} ms  ({len(full)} calls)"
    )
    print(
        f"P11 ratio full/empty p50: {ratio:.2f}x (goal <= {GOAL}x): {'met' if ratio <= GOAL else 'NOT met'}"
    )
    print(
        f"tenancy-bench: a_rows={A_ROWS} b_rows={args.b_rows} p50_ms_empty={p50_empty:.3f} "
        f"p50_ms_full={p50_full:.3f} ratio={ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
