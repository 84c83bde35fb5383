"""Operational hygiene through a real server: typed waits and refusals with Retry-After, throttles and
caps, request ids in every error body and log line, secrets kept out of logs and bodies, token use."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from codex.config import LocalDb, RemoteDb
from codex.repositories.usage import UsageRepository
from tests.api.conftest import REPO, Server, start_server
from tests.sqld import start_sqld

ENV = {
    "VOX_CODEX_LOG_LEVEL": "info",  # the access log is on: it is what must stay secret-free
    "VOX_CODEX_BUSY_TIMEOUT_MS": "300",
    "VOX_CODEX_MAX_STREAMS_PER_TOKEN": "2",
    "VOX_CODEX_MAX_STREAMS_PER_TENANT": "3",
    "VOX_CODEX_WS_MAX_MESSAGE_BYTES": "4096",
    "VOX_CODEX_BOOKKEEPING_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server over a local file with small caps and waits, logging at info."""
    tmp = tmp_path_factory.mktemp("hygiene")
    srv = start_server(LocalDb(path=str(tmp / "codex.db")), tmp, ENV)
    try:
        yield srv
    finally:
        srv.stop()
        srv.store.dispose()


def _fake_token() -> str:
    return "codex_" + secrets.token_urlsafe(32)


def test_a_write_blocked_by_a_lock_is_503_database_busy_with_retry_after(hostile: Server) -> None:
    body = {"topic": "busy/1", "change_kind": "insert"}
    with hostile.store.begin() as conn, hostile.client() as c:  # another writer holds the lock
        conn.exec_driver_sql(
            "INSERT INTO codex_change_log (topic, change_kind) VALUES ('lock/holder', 'insert')"
        )
        started = time.monotonic()
        r = c.post("/api/codex/mutate/change", json=body)
        waited = time.monotonic() - started
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "DatabaseBusy" and int(r.headers["Retry-After"]) >= 1
    assert r.json()["request_id"] == r.headers["X-Request-ID"]
    assert waited < 4  # the configured 300 ms wait (and two retries), not the 5 s default
    with hostile.client() as c:
        assert c.post("/api/codex/mutate/change", json=body).status_code == 200  # lock gone: it works


@pytest.mark.sqld
def test_an_unreachable_database_is_503_database_unavailable_with_retry_after(tmp_path: Path) -> None:
    with start_sqld(tmp_path / "sqld") as sqld:
        srv = start_server(RemoteDb(url=sqld.url, token=""), tmp_path)
        try:
            sqld.stop()
            with srv.client() as c:
                r = c.post("/api/codex/mutate/change", json={"topic": "gone/1", "change_kind": "insert"})
        finally:
            srv.stop()
            srv.store.dispose()
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "DatabaseUnavailable" and int(r.headers["Retry-After"]) >= 1


def test_quota_refusal_is_429_with_retry_after_to_the_window_reset(hostile: Server) -> None:
    with hostile.store.begin() as conn:
        UsageRepository(conn).set_limit("api.mutations", "tenant", "tenant-b", "daily", 1, "hard")
    with hostile.client("b_all") as c:
        assert (
            c.post("/api/codex/mutate/change", json={"topic": "q/1", "change_kind": "insert"}).status_code
            == 200
        )
        r = c.post("/api/codex/mutate/change", json={"topic": "q/2", "change_kind": "insert"})
    assert r.status_code == 429 and r.json()["error"] == "QuotaExceeded", r.text
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(r.headers["Retry-After"]) - (midnight - now).total_seconds()) < 30
    assert r.json()["resets_at"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_open_streams_are_capped_per_token_and_per_tenant(hostile: Server) -> None:
    path = "/api/codex/subscribe/capped/*"
    with hostile.client("a_all") as a, hostile.client("a_sub") as sub, hostile.client("admin") as adm:
        with a.stream("GET", path) as one, a.stream("GET", path) as two:
            assert (one.status_code, two.status_code) == (200, 200)
            with a.stream("GET", path) as three:  # the token's third
                assert three.status_code == 429 and int(three.headers["Retry-After"]) >= 1
                three.read()
                assert three.json()["error"] == "TooManyStreams" and three.json()["limit"] == 2
            with sub.stream("GET", path) as other:  # the tenant's third: another token, allowed
                assert other.status_code == 200
                with adm.stream("GET", path) as fourth:  # the tenant's fourth
                    assert fourth.status_code == 429
                url = hostile.url.replace("http://", "ws://") + "/api/codex/ws"
                headers = {"Authorization": f"Bearer {hostile.tokens['admin']}"}
                with ws_connect(url, additional_headers=headers) as ws:
                    assert json.loads(ws.recv(timeout=10))["type"] == "ready"
                    ws.send(json.dumps({"type": "subscribe", "id": "x", "topic": "capped/*"}))
                    refused = json.loads(ws.recv(timeout=10))
                    assert refused["type"] == "error" and refused["status"] == 429
        # streams closed: room again
        with a.stream("GET", path) as again:
            assert again.status_code == 200


def test_websocket_messages_are_size_capped(hostile: Server) -> None:
    url = hostile.url.replace("http://", "ws://") + "/api/codex/ws"
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {hostile.tokens['a_all']}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"type": "subscribe", "id": "x" * 100, "topic": "t/" + "y" * 50}))
        assert json.loads(ws.recv(timeout=10))["type"] in ("subscribed", "error")
        ws.send(json.dumps({"type": "subscribe", "topic": "big", "pad": "z" * 10_000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_token_last_use_is_kept_off_the_request_path_and_listed(hostile: Server) -> None:
    with hostile.client("a_read") as c:
        assert c.get("/api/codex/query/changes.since").status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(HOME=hostile.env["HOME"], VOX_DB_PATH=hostile.env["VOX_DB_PATH"])

    def listed() -> dict[str, str | None]:
        out = subprocess.run(
            [sys.executable, "-m", "codex.cli", "tokens", "list", "--tenant", "tenant-a"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return {row["prefix"]: row["last_used_at"] for row in json.loads(out.stdout)}

    deadline = time.monotonic() + 15
    while (seen := listed())[hostile.tokens["a_read"][:12]] is None:
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)
    used = datetime.strptime(str(seen[hostile.tokens["a_read"][:12]]), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=UTC
    )
    assert abs((datetime.now(UTC) - used).total_seconds()) < 60
    assert seen[hostile.tokens["revoked"][:12]] is None  # never used


def test_secrets_never_reach_the_access_log_or_an_error_body(hostile: Server) -> None:
    secret, fake = hostile.tokens["a_all"], _fake_token()
    with hostile.client(None) as c:
        r = c.get(
            "/api/admin/registry", params={"token": secret}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert r.status_code == 200
        refused = c.get("/api/codex/query/changes.since", params={"token": secret})  # 401, then 422
        assert refused.status_code in (401, 422) and secret not in refused.text
        denied = c.get("/api/codex/query/changes.since", headers={"Authorization": f"Bearer {fake}"})
        assert denied.status_code == 401 and fake not in denied.text
        echoed = c.get(f"/api/codex/query/{fake}", headers={"Authorization": f"Bearer {secret}"})
        assert echoed.status_code == 404 and fake not in echoed.text and "[REDACTED]" in echoed.text
        c.get("/health", params={"access_token": fake, "password": "hunter2"})
    time.sleep(0.3)
    log = hostile.log.read_text()
    assert secret not in log and fake not in log and "hunter2" not in log, log[-2000:]
    assert "token=[REDACTED]" in log and "access_token=[REDACTED]" in log


def test_every_error_body_and_log_line_carries_a_request_id(hostile: Server) -> None:
    with hostile.client(None) as c:
        answers = [
            c.get("/api/codex/query/changes.since"),  # 401
            c.get(
                "/api/codex/nowhere", headers={"Authorization": f"Bearer {hostile.tokens['a_all']}"}
            ),  # 404
            c.post(
                "/api/codex/mutate/change",
                content=b'{"topic": "x/1", "change_kind": "insert", "payload": NaN}',
                headers={
                    "Authorization": f"Bearer {hostile.tokens['a_all']}",
                    "Content-Type": "application/json",
                },
            ),  # 422
            c.post(
                "/api/codex/mutate/change",
                content=b"x" * 2_000_000,
                headers={"Content-Type": "application/json"},
            ),
            c.get("/console/static/app.js%00.js"),  # 404
        ]
        mine = c.get("/api/codex/query/changes.since", headers={"X-Request-ID": "trace-me-42"})
    assert [a.status_code for a in answers] == [401, 404, 422, 413, 404]
    for answer in answers:
        assert re.fullmatch(r"[0-9a-f]{32}", answer.json()["request_id"]), answer.text
        assert answer.json()["request_id"] == answer.headers["X-Request-ID"]
    assert mine.json()["request_id"] == "trace-me-42" == mine.headers["X-Request-ID"]
    time.sleep(0.3)
    access = [line for line in hostile.log.read_text().splitlines() if '" 4' in line or '" 2' in line]
    assert access and all(re.search(r"\[[0-9A-Za-z._:-]+\]", line) for line in access), access[-5:]
    for answer in answers:
        assert any(answer.json()["request_id"] in line for line in access), answer.json()["request_id"]


def test_failed_console_logins_are_throttled_per_address(hostile: Server) -> None:
    """Last in the module: it locks 127.0.0.1 out of the console for a minute."""
    statuses: list[int] = []
    with httpx.Client(base_url=hostile.url, timeout=30) as client:
        for _ in range(12):
            statuses.append(client.post("/console/login", data={"token": _fake_token()}).status_code)
        blocked = client.post("/console/login", data={"token": hostile.tokens["a_all"]})
    assert statuses == [401] * 10 + [429] * 2
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "codex_console" not in blocked.headers.get("set-cookie", "")
