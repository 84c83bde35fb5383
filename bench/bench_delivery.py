"""P3: commit → SSE client delivery latency on loopback, at 1, 100 and 1,000 subscribers.

Two servers over the same kind of local file are measured in this run: Codex as shipped (a commit
through the server wakes every stream at once; other writers are picked up by an adaptive poll) and
the upstream-style baseline (streams only see changes on a fixed 400 ms poll). Each sample posts a
mutation through the API carrying its send time; every subscriber records its receive time. Prints
p50 / p99 per configuration and the server's RSS with 1,000 idle subscribers.

Run: ``.venv/bin/python bench/bench_delivery.py [--subscribers 1,100,1000] [--samples 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codex.config import DbConfig  # noqa: E402
from codex.repositories.tenancy import TokenRepository  # noqa: E402
from codex.store import open_store  # noqa: E402
from tests.sqld import free_port  # noqa: E402


def start(tmp: Path, name: str, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    path = tmp / f"{name}.db"
    store = open_store(DbConfig("local", path=str(path)))
    with store.begin() as conn:
        token = TokenRepository(conn).create("bench", ["read", "write", "subscribe"]).secret
    store.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(
        VOX_DB_PATH=str(path), VOX_CODEX_LOG_LEVEL="warning", VOX_CODEX_CLIENT_BUFFER="100", **env_extra
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url, token
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def measure(
    url: str, token: str, subscribers: int, samples: int, pid: int
) -> tuple[list[float], float]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    ready = 0
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=subscribers + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        head = (await client.get("/api/codex/query/changes.since", params={"limit": 1})).json()["cursor"]

        async def subscriber() -> None:
            nonlocal ready
            async with client.stream("GET", "/api/codex/subscribe/bench/*", params={"after_id": head}) as r:
                ready += 1
                got = 0
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        sent = json.loads(line[6:])["payload"]["t"]
                        latencies.append(time.time() - sent)
                        got += 1
                        if got == samples:
                            return

        tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
        while ready < subscribers:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        server = psutil.Process(pid)
        cpu_before = sum(server.cpu_times()[:2])
        for i in range(samples):
            await client.post(
                "/api/codex/mutate/change",
                json={"topic": "bench/x", "change_kind": "insert", "payload": {"t": time.time(), "i": i}},
            )
            await asyncio.sleep(0.05 if subscribers < 1000 else 0.3)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        server_cpu_ms = (sum(server.cpu_times()[:2]) - cpu_before) * 1000 / samples
    return latencies, server_cpu_ms


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def idle_rss(url: str, token: str, pid: int, n: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        opened = 0

        async def hold() -> None:
            nonlocal opened
            async with client.stream("GET", "/api/codex/subscribe/idle/*", params={"after_id": 10**9}):
                opened += 1
                await asyncio.sleep(3600)

        before = psutil.Process(pid).memory_info().rss
        tasks = [asyncio.create_task(hold()) for _ in range(n)]
        while opened < n:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        after = psutil.Process(pid).memory_info().rss
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return (after - before) / 1e6, after / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", default="1,100,1000")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    counts = [int(x) for x in args.subscribers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = {
            "codex (wake on commit)": {},
            "upstream-style 400 ms poll": {
                "VOX_CODEX_WAKE_ON_COMMIT": "false",
                "VOX_CODEX_POLL_MIN_SECONDS": "0.4",
                "VOX_CODEX_POLL_MAX_SECONDS": "0.4",
            },
        }
        rss_line = ""
        for name, extra in configs.items():
            proc, url, token = start(Path(tmp), name.split()[0], extra)
            try:
                for n in counts:
                    lat, cpu = asyncio.run(measure(url, token, n, args.samples, proc.pid))
                    rows.append((name, n, pct(lat, 0.5), pct(lat, 0.99), len(lat), cpu))
                if name.startswith("codex"):
                    delta, total = asyncio.run(idle_rss(url, token, proc.pid, max(counts)))
                    rss_line = (
                        f"server RSS with {max(counts)} idle subscribers: {total:.0f} MB (+{delta:.0f} MB)"
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    print(
        f"{'configuration':<28} {'subs':>6} {'p50 ms':>9} {'p99 ms':>9} {'events':>8} {'server CPU ms/change':>21}"
    )
    for name, n, p50, p99, k, cpu in rows:
        print(f"{name:<28} {n:>6} {p50:>9.1f} {p99:>9.1f} {k:>8} {cpu:>21.1f}")
    base = {n: p50 for name, n, p50, _, _, _ in rows if name.startswith("upstream")}
    for name, n, p50, p99, _, _ in rows:
        if name.startswith("codex"):
            goal = "p50<10 p99<50" if n == 1000 else ""
            met = "yes" if (p50 < 10 and p99 < 50) else "no"
            print(
                f"P3 at {n:>4} subscribers: p50 {p50:.1f} ms vs baseline {base.get(n, float('nan')):.1f} ms "
                f"({base.get(n, 0) / max(p50, 1e-9):.0f}x faster) {goal} {'met: ' + met if goal else ''}"
            )
    print(rss_line)


if __name__ == "__main__":
    main()
