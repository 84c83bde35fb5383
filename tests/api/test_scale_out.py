"""The scale-out path through real servers: concurrent writers, two servers on one sqld, an embedded replica.

Bounded and on loopback: every loop has a fixed count, every wait a deadline.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from codex.config import RemoteDb
from codex.engine import make_engine
from codex.repositories.usage import UsageRepository
from tests.api.conftest import Server, start_server
from tests.api.sse_client import events
from tests.conftest import wipe
from tests.sqld import SqldServer

WRITERS, EACH = 16, 50


def test_concurrent_writers_lose_nothing_and_health_stays_fast(server: Server) -> None:
    """16 writers × 50 mutations; each consumes the tenant's usage counter (a read-modify-write)."""
    statuses: list[int] = []
    health: list[float] = []
    done = threading.Event()

    def writer(n: int) -> None:
        with server.client("a_all") as c:
            for i in range(EACH):
                r = c.post(
                    "/api/codex/mutate/change",
                    json={"topic": f"load/{n}", "change_kind": "insert", "payload": {"i": i}},
                )
                statuses.append(r.status_code)

    def prober() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not done.is_set():
                start = time.perf_counter()
                assert c.get("/health").status_code == 200
                health.append(time.perf_counter() - start)
                time.sleep(0.05)

    probe = threading.Thread(target=prober)
    probe.start()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    elapsed = time.perf_counter() - started
    done.set()
    probe.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    assert statuses.count(200) == WRITERS * EACH, {s: statuses.count(s) for s in set(statuses)}
    with server.store.connect() as conn:
        counters = UsageRepository(conn).list_counters(
            metric_key="api.mutations", scope_kind="tenant", scope_id="tenant-a"
        )
        rows = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM codex_change_log WHERE topic LIKE 'load/%'"
        ).scalar()
    assert sum(c.amount for c in counters) == WRITERS * EACH  # not one increment lost
    assert rows == WRITERS * EACH
    print(
        f"{WRITERS}x{EACH} mutations in {elapsed:.1f} s ({WRITERS * EACH / elapsed:.0f}/s); /health max "
        f"{max(health) * 1000:.0f} ms over {len(health)} probes"
    )
    assert max(health) < 2.0


@pytest.fixture
def two_servers(sqld_server: SqldServer, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    config = RemoteDb(url=sqld_server.url, token="", source="test")
    engine = make_engine(config)
    wipe(engine)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_server(config, tmp_path / "a")
    b = start_server(config, tmp_path / "b")
    b.tokens = a.tokens  # one database: the tokens made for A are valid on B
    try:
        yield a, b
    finally:
        for srv in (a, b):
            srv.stop()
            srv.store.dispose()
        wipe(engine)
        engine.dispose()


@pytest.mark.sqld
def test_a_commit_on_one_server_reaches_subscribers_on_another(two_servers: tuple[Server, Server]) -> None:
    a, b = two_servers
    arrivals: dict[str, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with b.client("a_all") as c, c.stream("GET", "/api/codex/subscribe/cross/*") as r:
            ready.set()
            for event in events(r):
                if event.event == "change" or event.id:
                    arrivals[str(event.id)] = time.perf_counter()
                    if len(arrivals) >= 10:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(15)
    time.sleep(0.5)
    sent: dict[str, float] = {}
    with a.client("a_all") as c:
        for i in range(10):  # sparse: B's poll has gone idle between changes
            time.sleep(0.3)
            start = time.perf_counter()
            r = c.post("/api/codex/mutate/change", json={"topic": f"cross/{i}", "change_kind": "insert"})
            assert r.status_code == 200, r.text
            sent[str(r.json()["change_log_id"])] = start
    listener.join(timeout=15)
    assert set(arrivals) == set(sent), (sorted(arrivals), sorted(sent))
    lags = [arrivals[k] - sent[k] for k in sent]
    print(
        f"cross-server delivery: p50 {statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms"
    )
    assert max(lags) < 1.0


@pytest.mark.sqld
def test_embedded_replica_reads_its_own_writes(sqld_server: SqldServer, tmp_path: Path) -> None:
    config = RemoteDb(url=sqld_server.url, token="", source="test")
    engine = make_engine(config)
    wipe(engine)
    srv = start_server(config, tmp_path, env_extra={"VOX_DB_PATH": str(tmp_path / "replica.db")})
    try:
        with srv.client("a_all") as c:
            for i in range(5):
                made = c.post("/api/codex/mutate/chat.create_conversation", json={"title": f"t{i}"})
                assert made.status_code == 200, made.text
                listed = c.get("/api/codex/query/chat.conversations")
                assert listed.status_code == 200
                assert f"t{i}" in [row["title"] for row in listed.json()["result"]]  # read-your-writes
            ready = c.get("/ready").json()
            assert ready.get("status") == "ready", ready
            assert ready["replica"]["syncs"] >= 5 and ready["replica"]["last_sync_age_ms"] >= 0
    finally:
        srv.stop()
        srv.store.dispose()
        wipe(engine)
        engine.dispose()


def test_idempotency_key_applies_a_retried_mutation_once(server: Server) -> None:
    body = {"topic": "idem/1", "change_kind": "insert", "payload": {"n": 1}}
    headers = {"Idempotency-Key": "order-42"}
    results: list[httpx.Response] = []

    def send() -> None:
        with server.client("a_all", headers=headers) as c:
            results.append(c.post("/api/codex/mutate/change", json=body))

    threads = [
        threading.Thread(target=send) for _ in range(4)
    ]  # a client retrying while the first is in flight
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    assert len({r.json()["change_log_id"] for r in results}) == 1
    with server.store.connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM codex_change_log WHERE topic = 'idem/1'").scalar()
    assert rows == 1
    with server.client("a_all", headers=headers) as c:
        other = c.post("/api/codex/mutate/change", json={**body, "payload": {"n": 2}})
        assert other.status_code == 422 and other.json()["error"] == "IdempotencyKeyReused", other.text
    with server.client("b_all", headers=headers) as c:  # keys are per tenant
        assert (
            c.post("/api/codex/mutate/change", json=body).json()["change_log_id"]
            != results[0].json()["change_log_id"]
        )
    with server.client("a_all", headers={"Idempotency-Key": "x" * 201}) as c:
        assert c.post("/api/codex/mutate/change", json=body).status_code == 422
