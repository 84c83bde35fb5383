"""Fuzzing the committed OpenAPI contract with schemathesis against a real server.

Every operation of ``contracts/codex-api.openapi.yaml`` is exercised (the event streams too: the
server ends each stream after half a second, so a request completes) with a valid admin token, in
every phase schemathesis has (examples, coverage with negative data, fuzzing, and stateful sequences
along the links the contract declares). The run must see no response >= 500, and afterwards no JSON
column may hold anything but strict JSON (a refused request stored nothing, an accepted one nothing
non-finite). The request counts are printed from schemathesis' HAR report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from codex.config import DbConfig
from codex.store import Store
from tests.api.conftest import REPO, start_server

CONTRACT = REPO / "contracts" / "codex-api.openapi.yaml"
HOOKS = Path(__file__).with_name("fuzz_hooks.py")


def invalid_json_cells(store: Store) -> dict[str, int]:
    """Per ``table.column`` ending in ``_json``: how many values are not strict (RFC 8259) JSON."""
    out: dict[str, int] = {}
    with store.connect() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        for table in tables:
            for column in [r[1] for r in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')]:
                if not str(column).endswith("_json"):
                    continue
                bad = conn.exec_driver_sql(
                    f'SELECT COUNT(*) FROM "{table}" WHERE "{column}" IS NOT NULL AND NOT json_valid("{column}")'
                ).scalar()
                if bad:
                    out[f"{table}.{column}"] = int(bad)
    return out


@pytest.mark.slow
def test_openapi_fuzzing_finds_no_server_error(db_config: DbConfig, tmp_path: Path, backend: str) -> None:
    srv = start_server(db_config, tmp_path, {"VOX_CODEX_SSE_MAX_SECONDS": "0.5"})
    har = tmp_path / "fuzz.har"
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                str(CONTRACT),
                "--url",
                srv.url,
                "--checks",
                "not_a_server_error",
                "-H",
                f"Authorization: Bearer {srv.tokens['admin']}",
                "--max-examples",
                "30" if backend == "local" else "8",
                "--request-timeout",
                "20",
                "--seed",
                "20261123",
                "--no-color",
                "--report",
                "har",
                "--report-har-path",
                str(har),
            ],
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        stored = invalid_json_cells(srv.store)
    finally:
        srv.stop()
        srv.store.dispose()
    tail = result.stdout[-4000:]
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    statuses = Counter(int(e["response"]["status"]) for e in entries)
    server_errors = sum(n for status, n in statuses.items() if status >= 500 or status == 0)
    print(tail)
    print(
        f"schemathesis on {backend}: {len(entries)} requests, {server_errors} responses >= 500; "
        f"by status {dict(sorted(statuses.items()))}"
    )
    assert result.returncode == 0, tail + result.stderr[-2000:]
    assert "Server error" not in tail
    assert entries and server_errors == 0
    assert stored == {}, stored
