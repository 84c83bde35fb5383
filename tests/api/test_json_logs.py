"""``codex serve`` logs JSON lines when stdout is not a terminal: one access record per request."""

from __future__ import annotations

import json
import time
from pathlib import Path

from codex.config import LocalDb
from tests.api.conftest import start_server
from tests.api.test_logs import TOKEN


def test_serve_writes_one_json_object_per_line_with_the_access_fields(tmp_path: Path) -> None:
    srv = start_server(
        LocalDb(path=str(tmp_path / "codex.db")),
        tmp_path,
        {"VOX_CODEX_LOG_FORMAT": "auto", "VOX_CODEX_LOG_LEVEL": "info"},  # stdout is a file: JSON
    )
    try:
        with srv.client("a_all") as c:
            ok = c.get("/api/codex/query/changes.since", params={"topic": "*"})
            missing = c.get("/api/codex/query/no.such", params={"token": TOKEN})  # never logged
        assert ok.status_code == 200 and missing.status_code == 404
        deadline = time.monotonic() + 10
        while True:
            records = [json.loads(line) for line in srv.log.read_text().splitlines() if line.strip()]
            access = [r for r in records if r["logger"] == "codex.access" and r.get("tenant")]
            if len(access) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        srv.stop()
        srv.store.dispose()
    text = srv.log.read_text()
    assert TOKEN not in text and srv.tokens["a_all"] not in text
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
    by_id = {r["request_id"]: r for r in access}
    first = by_id[ok.headers["x-request-id"]]
    assert first["route"] == "/api/codex/query/changes.since" and first["status"] == 200
    assert first["tenant"] == "tenant-a" and first["method"] == "GET" and first["duration_ms"] >= 0
    assert by_id[missing.headers["x-request-id"]]["status"] == 404
    assert any("codex: serving the local database" in r["message"] for r in records)
