"""A real Codex server (uvicorn in a subprocess on 127.0.0.1) over a local file or sqld, with tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from codex.config import DbConfig, LocalDb, RemoteDb
from codex.repositories.tenancy import TokenRepository
from codex.store import Store, open_store
from tests.sqld import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    """A running server: URL, tokens by name, and the store the test process uses to look inside."""

    url: str
    tokens: dict[str, str]
    store: Store
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, object] = field(default_factory=dict)

    def client(self, token: str | None = "a_all", headers: dict[str, str] | None = None) -> httpx.Client:
        merged = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        merged.update(headers or {})
        return httpx.Client(base_url=self.url, headers=merged, timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def make_tokens(store: Store) -> dict[str, str]:
    """Tokens for tenants a and b, a read-only one, a scope-less-ish one and a revoked one."""
    with store.begin() as conn:
        repo = TokenRepository(conn)
        tokens = {
            "a_all": repo.create("tenant-a", ["read", "write", "subscribe"]).secret,
            "b_all": repo.create("tenant-b", ["read", "write", "subscribe"]).secret,
            "a_read": repo.create("tenant-a", ["read"]).secret,
            "a_write": repo.create("tenant-a", ["write"]).secret,
            "a_sub": repo.create("tenant-a", ["subscribe"]).secret,
            "admin": repo.create("tenant-a", ["admin"]).secret,
            "operator": repo.create("default", ["operator"]).secret,
            "default_all": repo.create("default", ["read", "write", "subscribe"]).secret,
        }
        revoked = repo.create("tenant-a", ["read", "write", "subscribe"])
        repo.revoke(revoked.token.id)
        tokens["revoked"] = revoked.secret
    return tokens


def start_server(
    config: DbConfig, tmp_path: Path, env_extra: dict[str, str] | None = None, *, module: str = "codex.cli"
) -> Server:
    """Start ``python -m <module> serve`` over ``config`` (``module``: a test wrapper may add test routes)."""
    store = open_store(config)  # migrates to head
    tokens = make_tokens(store)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env["HOME"] = str(tmp_path)
    if config.mode == "local":
        env["VOX_DB_PATH"] = str(config.path)
    else:
        env.update(VOX_DB_URL=str(config.url), VOX_DB_ALLOW_NO_TOKEN="1")
    # text logs: tests read the access lines; tests/api/test_logs.py starts a JSON one itself
    env.update(
        VOX_CODEX_SSE_KEEPALIVE_SECONDS="2", VOX_CODEX_LOG_LEVEL="warning", VOX_CODEX_LOG_FORMAT="text"
    )
    env.update(env_extra or {})
    log = tmp_path / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}", tokens=tokens, store=store, env=env, proc=proc, log=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"codex serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return server


@pytest.fixture
def server(db_config: DbConfig, tmp_path: Path) -> Iterator[Server]:
    """A server over an empty, migrated database on the requested backend."""
    srv = start_server(db_config, tmp_path)
    try:
        yield srv
    finally:
        srv.stop()
        srv.store.dispose()


@pytest.fixture(scope="module", params=("local", "sqld"))
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per module and backend, for tests that do not need an empty database each."""
    from codex.engine import make_engine
    from tests.conftest import wipe

    tmp = tmp_path_factory.mktemp("shared")
    if request.param == "local":
        config = LocalDb(path=str(tmp / "codex.db"))
    else:
        sqld = request.getfixturevalue("sqld_server")
        config = RemoteDb(url=sqld.url, token="")
        engine = make_engine(config)
        wipe(engine)
        engine.dispose()
    srv = start_server(config, tmp)
    try:
        yield srv
    finally:
        srv.stop()
        srv.store.dispose()
