"""P3 / P3b: commit → SSE delivery on loopback, measured from outside the server.

Setup: ``codex serve`` runs as its own process over a fresh local libSQL file. Subscribers are raw
asyncio connections (a hand-written HTTP/1.1 request and a byte scanner, no HTTP library) spread over
separate client processes, which print their own CPU. Mutations (``POST /api/codex/mutate/change``)
are sent open loop — on a fixed schedule at 10 and 20 changes/s, whether or not earlier ones have
answered — from this process over raw keep-alive connections; each carries its send time, and every
subscriber stamps its receive time, so a delivery's latency is commit-and-deliver as a client sees it.

For each rate and subscriber count (0 = mutation latency without subscribers, the baseline of the ratio)
it prints delivery p50 / p99 / max, lost deliveries, server CPU per change and per delivery, client CPU,
and the mutations' own p50 / p99; then the server's RSS with 10,000 idle streams. The goals
(``../shared/performance-goals.md`` P3, P3b) are checked in the last lines. A script, never a test.

Run: ``.venv/bin/python bench/bench_delivery.py [--subscribers 0,1,100,1000] [--rates 10,20]
[--seconds 10] [--idle 10000] [--clients 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_EVENT = re.compile(rb'"payload":\{"t":([0-9.eE+-]+),"i":(\d+)\}')


# -- client processes (stdlib only: they are spawned, and import nothing of Codex) ----------------------
class _Subscriber(asyncio.Protocol):
    """One SSE connection: finds the status line, then stamps every event it sees."""

    def __init__(
        self, ident: int, request: bytes, got: list[tuple[int, int, float]], ready: list[int]
    ) -> None:
        self.ident, self.request, self.got, self.ready = ident, request, got, ready
        self.buf = b""
        self.started = False
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf + data
        if not self.started:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self.status = int(buf[9:12])
            self.started = True
            self.ready.append(self.status)
            buf = buf[end + 4 :]
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.buf = buf
            return
        for m in _EVENT.finditer(buf, 0, cut):
            self.got.append((self.ident, int(m.group(2)), now - float(m.group(1))))
        self.buf = buf[cut + 2 :]


def _client(
    port: int, token: str, topic: str, count: int, after: int, pipe: Connection, loop_kind: str
) -> None:
    """A client process: ``count`` SSE connections; reports when all answered, then the stamps."""
    if loop_kind == "uvloop":
        import uvloop

        uvloop.install()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        got: list[tuple[int, int, float]] = []
        ready: list[int] = []
        request = (
            f"GET /api/codex/subscribe/{topic} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\nLast-Event-ID: {after}\r\n\r\n"
        ).encode()
        transports = []
        for start in range(0, count, 100):  # paced: the server's listen backlog is finite
            made = await asyncio.gather(
                *(
                    loop.create_connection(lambda k=k: _Subscriber(k, request, got, ready), "127.0.0.1", port)
                    for k in range(start, min(start + 100, count))
                )
            )
            transports.extend(t for t, _ in made)
            while len(ready) < len(transports):
                await asyncio.sleep(0.01)
        cpu0 = time.process_time()
        pipe.send(("ready", sorted(set(ready))))
        while not pipe.poll():
            await asyncio.sleep(0.05)
        pipe.recv()
        pipe.send(("done", got, time.process_time() - cpu0))
        for t in transports:
            t.close()

    asyncio.run(run())


# -- the mutation sender (raw keep-alive HTTP/1.1) ------------------------------------------------------
class _Poster:
    """Open-loop POSTs over a pool of raw keep-alive connections (a new one when all are busy)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.latencies: list[float] = []
        self.errors = 0

    async def post(self, body: bytes) -> None:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        request = (
            f"POST /api/codex/mutate/change HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        self.latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            self.errors += 1
        self.idle.append(conn)

    async def run(self, rate: float, seconds: float, topic: str) -> int:
        """Send ``rate`` changes a second for ``seconds`` on a fixed schedule; returns how many."""
        total = int(rate * seconds)
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = (
                f'{{"topic":"{topic}","change_kind":"insert","payload":{{"t":{time.time():.6f},"i":{i}}}}}'
            ).encode()
            tasks.append(asyncio.create_task(self.post(body)))
        await asyncio.gather(*tasks)
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()
        return total


# -- the server ---------------------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


def start_server(tmp: Path) -> Server:
    sys.path.insert(0, str(REPO))
    from codex.config import LocalDb
    from codex.repositories.tenancy import TokenRepository
    from codex.store import open_store
    from tests.sqld import free_port

    path = tmp / "bench.db"
    store = open_store(LocalDb(path=str(path)))
    with store.begin() as conn:
        token = TokenRepository(conn).create("bench", ["read", "write", "subscribe"]).secret
    store.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(
        VOX_DB_PATH=str(path),
        VOX_CODEX_LOG_LEVEL="warning",
        VOX_CODEX_MAX_STREAMS_PER_TOKEN="20000",
        VOX_CODEX_MAX_STREAMS_PER_TENANT="20000",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return Server(proc, port, token, path)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("codex serve did not start")


def head(server: Server) -> int:
    import httpx

    r = httpx.get(
        f"http://127.0.0.1:{server.port}/api/codex/query/changes.since",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    return int(r.json()["cursor"])


@dataclass
class Row:
    rate: float
    subs: int
    changes: int
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    lost: int = 0
    server_cpu_per_change: float = float("nan")
    server_cpu_per_delivery_us: float = float("nan")
    client_cpu: float = 0.0
    mutation_p50: float = float("nan")
    mutation_p99: float = float("nan")
    errors: int = 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def open_clients(
    server: Server, topic: str, total: int, processes: int, after: int
) -> list[tuple[mp.process.BaseProcess, Connection]]:
    ctx = mp.get_context("spawn")
    clients = []
    per = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    for n in per:
        if n == 0:
            continue
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=_client, args=(server.port, server.token, topic, n, after, theirs, "uvloop"), daemon=True
        )
        proc.start()
        clients.append((proc, mine))
    for _proc, pipe in clients:
        kind, statuses = pipe.recv()
        assert kind == "ready" and statuses == [200], statuses
    return clients


def measure(server: Server, rate: float, subs: int, seconds: float, processes: int) -> Row:
    import psutil

    topic = f"bench/r{int(rate)}s{subs}"
    clients = open_clients(server, topic + "/*", subs, min(processes, max(1, subs // 50)), head(server))
    time.sleep(1.0)
    proc = psutil.Process(server.proc.pid)
    cpu0 = sum(proc.cpu_times()[:2])
    poster = _Poster(server.port, server.token)
    changes = asyncio.run(poster.run(rate, seconds, topic + "/x"))
    time.sleep(1.5)  # the last deliveries
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    latencies: list[float] = []
    seen = 0
    client_cpu = 0.0
    for p, pipe in clients:
        pipe.send("stop")
        _, got, used = pipe.recv()
        client_cpu += used
        seen += len({(k, i) for k, i, _ in got})
        latencies.extend(lat for _, _, lat in got)
        p.join(timeout=10)
    row = Row(rate, subs, changes, errors=poster.errors)
    row.mutation_p50, row.mutation_p99 = pct(poster.latencies, 0.5), pct(poster.latencies, 0.99)
    row.server_cpu_per_change = cpu * 1000 / changes
    row.client_cpu = client_cpu
    if subs:
        row.p50, row.p99, row.max = pct(latencies, 0.5), pct(latencies, 0.99), max(latencies) * 1000
        row.lost = changes * subs - seen
        row.server_cpu_per_delivery_us = cpu * 1e6 / (changes * subs)
    return row


def idle_rss(server: Server, n: int, processes: int) -> tuple[float, float, float]:
    import psutil

    proc = psutil.Process(server.proc.pid)
    before = proc.memory_info().rss / 1e6
    started = time.perf_counter()
    clients = open_clients(server, "idle/*", n, processes, 10**12)
    opened = time.perf_counter() - started
    time.sleep(2.0)
    after = proc.memory_info().rss / 1e6
    for p, pipe in clients:
        pipe.send("stop")
        pipe.recv()
        p.join(timeout=30)
    return before, after, opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", default="0,1,100,1000")
    parser.add_argument("--rates", default="10,20")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4, help="client processes (at most)")
    args = parser.parse_args()
    counts = [int(x) for x in args.subscribers.split(",")]
    rates = [float(x) for x in args.rates.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            for rate in rates:
                for n in counts:
                    rows.append(measure(server, rate, n, args.seconds, args.clients))
                    r = rows[-1]
                    print(f"  measured {r.subs} subscribers at {r.rate:g}/s", file=sys.stderr)
            rss = idle_rss(server, args.idle, args.clients) if args.idle else None
        finally:
            server.proc.terminate()
            server.proc.wait(timeout=20)
    print(
        f"{'rate/s':>6} {'subs':>5} {'changes':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost':>5} "
        f"{'srv CPU ms/chg':>14} {'srv CPU us/dlv':>14} {'client CPU s':>12} {'POST p50':>8} {'POST p99':>8}"
    )
    for r in rows:
        print(
            f"{r.rate:>6g} {r.subs:>5} {r.changes:>7} {r.p50:>7.1f} {r.p99:>7.1f} {r.max:>7.1f} {r.lost:>5} "
            f"{r.server_cpu_per_change:>14.2f} {r.server_cpu_per_delivery_us:>14.1f} {r.client_cpu:>12.2f} "
            f"{r.mutation_p50:>8.1f} {r.mutation_p99:>8.1f}" + (f"  ({r.errors} errors)" if r.errors else "")
        )
    for rate in rates:
        by = {r.subs: r for r in rows if r.rate == rate}
        if 1 in by:
            print(f"P3 1 subscriber at {rate:g}/s: p50 {by[1].p50:.1f} ms (goal < 5): {_met(by[1].p50 < 5)}")
        if 1000 in by:
            r = by[1000]
            ok = r.p50 < 10 and r.p99 < 50 and r.lost == 0
            print(
                f"P3 1,000 subscribers at {rate:g}/s: p50 {r.p50:.1f} ms, p99 {r.p99:.1f} ms, {r.lost} lost "
                f"(goal p50 < 10, p99 < 50, 0 lost): {_met(ok)}"
            )
            if 0 in by:
                ratio = r.mutation_p50 / by[0].mutation_p50
                print(
                    f"P3 mutation p50 with 1,000 subscribers / without at {rate:g}/s: {r.mutation_p50:.1f} / "
                    f"{by[0].mutation_p50:.1f} ms = {ratio:.2f}x (goal <= 1.5x): {_met(ratio <= 1.5)}"
                )
    if rss is not None:
        before, after, opened = rss
        print(
            f"P3b {args.idle} idle streams: server RSS {after:.0f} MB (+{after - before:.0f} MB, "
            f"{(after - before) * 1000 / args.idle:.1f} KB a stream; opened in {opened:.1f} s) "
            f"(goal < 250 MB): {_met(after < 250)}"
        )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
