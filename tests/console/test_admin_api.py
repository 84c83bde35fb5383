"""The routes the console needs (``/api/admin/*``, ``/api/search``) through a real server: auth, scopes,
tenant isolation, bad input, and what each one reports."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from codex.api import create_app, default_registry
from codex.config import DbConfig
from codex.migrate import script_directory
from codex.repositories.changelog import ChangeLogRepository
from domains import DOMAIN_NAMES, DOMAINS
from tests.api.conftest import Server, start_server
from tests.api.sse_client import events

ROUTES = [
    ("GET", "/api/admin/overview", "read"),
    ("POST", "/api/admin/replica/sync", "admin"),
    ("GET", "/api/admin/schema", "read"),
    ("GET", "/api/admin/registry", "read"),
    ("GET", "/api/admin/changes/tail", "read"),
    ("GET", "/api/admin/runs", "read"),
    ("GET", "/api/search?q=lease", "read"),
]


def _change(c: httpx.Client, topic: str, payload: object = None) -> int:
    r = c.post("/api/codex/mutate/change", json={"topic": topic, "change_kind": "insert", "payload": payload})
    assert r.status_code == 200, r.text
    return int(r.json()["result"]["change_log_id"])


def test_the_routes_are_in_the_openapi_contract_with_bearer_auth() -> None:
    paths = create_app().openapi()["paths"]
    for method, path, _ in ROUTES:
        op = paths[path.split("?")[0]][method.lower()]
        assert op["summary"] and "200" in op["responses"]
    assert "/api/admin/test/drop-streams" not in paths  # the test hook is never in the contract


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_no_token_revoked_token_and_missing_scope(
    shared_server: Server, method: str, path: str, scope: str
) -> None:
    def call(token: str | None) -> httpx.Response:
        with shared_server.client(token) as c:
            return c.request(method, path)

    for token in (None, "revoked"):
        r = call(token)
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    wrong = {"read": "a_write", "admin": "a_all"}[scope]
    r = call(wrong)
    body = r.json()
    assert body.pop("request_id") == r.headers["X-Request-ID"]  # every error body carries one
    assert r.status_code == 403 and body == {
        "error": "Forbidden",
        "message": f"this token lacks the {scope!r} scope",
        "required_scope": scope,
    }
    allowed = call("admin" if scope == "admin" else "a_read")
    assert allowed.status_code in (200, 409), allowed.text  # 409: sync on a database that is no replica


def test_overview_reports_readiness_ledger_and_mode(server: Server) -> None:
    with server.client("a_read") as c:
        body = c.get("/api/admin/overview").json()
    assert body["ok"] is True and body["problems"] == []
    assert body["drift"] == {
        "missing_tables": [],
        "extra_tables": [],
        "missing_indexes": [],
        "extra_indexes": [],
        "changed_indexes": [],
        "tables": [],
        "other": [],
    }
    revisions = [row["revision"] for row in body["ledger"]]
    chain = [sc.revision for sc in script_directory().walk_revisions()]  # newest first
    assert revisions[:3] == chain[:3]
    newest = body["ledger"][0]
    assert newest["direction"] == "upgrade" and newest["digest_after"].startswith("0x")
    assert newest["error_text"] is None and newest["duration_ms"] >= 0
    db = body["database"]
    assert db["mode"] == server.store.config.mode and db["token"] is None and body["replica"] is None
    assert db["url"] is None and db["path"] is None  # the location is for operator tokens only
    with server.client("operator") as c:
        described = c.get("/api/admin/overview").json()["database"]
    assert described == {**server.store.config.describe(), "source": described["source"]}


def test_overview_names_the_exact_drift(server: Server) -> None:
    with server.store.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE conversations ADD COLUMN mood TEXT")
        conn.exec_driver_sql("CREATE TABLE stray_notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("DROP INDEX idx_usage_limit_defs_lookup")
    with server.client("a_read") as c:
        ready = c.get("/ready")
        body = c.get("/api/admin/overview").json()
    assert ready.status_code == 503 and body["ok"] is False
    drift = body["drift"]
    assert drift["extra_tables"] == ["stray_notes"] and drift["missing_tables"] == []
    assert drift["missing_indexes"] == ["idx_usage_limit_defs_lookup"]
    assert drift["tables"] == [
        {
            "table": "conversations",
            "missing_columns": [],
            "extra_columns": ["mood"],
            "changed_columns": [],
            "missing_constraints": [],
            "extra_constraints": [],
        }
    ]
    assert any("differs" in p for p in body["problems"])


def test_replica_sync_is_409_on_other_modes(server: Server) -> None:
    with server.client("admin") as c:
        r = c.post("/api/admin/replica/sync")
    assert r.status_code == 409 and r.json()["error"] == "NotAReplica"
    assert server.store.config.mode in r.json()["message"]


@pytest.mark.parametrize("backend", ["sqld"])
def test_replica_overview_reports_lag_and_sync_catches_up(db_config: DbConfig, tmp_path: Path) -> None:
    srv = start_server(db_config, tmp_path, {"VOX_DB_PATH": str(tmp_path / "replica.db")})
    try:
        with srv.client("operator") as c:
            first = c.get("/api/admin/overview").json()
            assert first["database"]["mode"] == "replica" and first["database"]["path"].endswith("replica.db")
            assert first["replica"]["error"] is None
            with srv.store.begin() as conn:  # a write on the primary, behind the server's back
                head = ChangeLogRepository(conn).append("primary/1", "insert")
            seen = c.get("/api/admin/overview").json()["replica"]
            assert seen["primary_head"] == head and seen["lag_changes"] == head - seen["local_head"]
            synced = c.post("/api/admin/replica/sync")
            assert synced.status_code == 200, synced.text
            out = synced.json()
            assert out["synced"] is True and out["replica"]["local_head"] == head
            assert out["replica"]["lag_changes"] == 0 and out["replica"]["last_sync_at"]
        with srv.client("a_all") as c:
            assert c.post("/api/admin/replica/sync").status_code == 403
    finally:
        srv.stop()
        srv.store.dispose()


def test_schema_describes_every_table_of_every_domain(server: Server) -> None:
    with server.client("a_read") as c:
        body = c.get("/api/admin/schema").json()
    assert [d["name"] for d in body["domains"]] == list(DOMAINS)
    assert [d["name"] for d in body["domains"] if d["schema_domain"]] == list(DOMAIN_NAMES)
    assert len(DOMAIN_NAMES) == 18
    tables = {t["name"]: t for d in body["domains"] for t in d["tables"]}
    assert set(tables) == {t.name for ts in DOMAINS.values() for t in ts}
    msgs = tables["conversation_messages"]
    assert msgs["created_by"].startswith("v11: ")
    [fk] = [fk for fk in msgs["foreign_keys"] if fk["ref_table"] == "conversations"]
    assert fk == {
        "name": fk["name"],
        "columns": ["conversation_id"],
        "ref_table": "conversations",
        "ref_columns": ["id"],
        "ondelete": "CASCADE",
        "ref_domain": "user_chat",
    }
    created_by = next(  # the oldest revision that mentions the table creates it
        sc.revision
        for sc in reversed(list(script_directory().walk_revisions()))
        if '"codex_access_tokens"' in Path(sc.path).read_text(encoding="utf-8")
    )
    assert tables["codex_access_tokens"]["created_by"].startswith(f"revision {created_by}")
    created = next(col for col in tables["conversations"]["columns"] if col["name"] == "created_at")
    assert created == {
        "name": "created_at",
        "type": "TEXT",
        "nullable": False,
        "default": "(datetime('now'))",
        "primary_key": False,
    }
    assert {
        "name": "idx_usage_limit_defs_lookup",
        "columns": ["metric_key", "scope_kind", "scope_id"],
    }.items() <= {
        **next(
            i
            for i in tables["usage_limit_definitions"]["indexes"]
            if i["name"] == "idx_usage_limit_defs_lookup"
        )
    }.items()
    # row counts span tenants: operator only
    assert body["row_counts"] == "operator scope required" and tables["conversations"]["row_count"] is None
    with server.client("a_all") as c:
        c.post("/api/codex/mutate/chat.create_conversation", json={"title": "one"})
    with server.client("operator") as c:
        counted = c.get("/api/admin/schema").json()
    by_name = {t["name"]: t for d in counted["domains"] for t in d["tables"]}
    assert counted["row_counts"] == "shown" and by_name["conversations"]["row_count"] == 1


def test_registry_lists_the_named_queries_with_their_parameters(server: Server) -> None:
    with server.client("a_read") as c:
        body = c.get("/api/admin/registry").json()
    registry = default_registry()
    assert [q["name"] for q in body["queries"]] == sorted(registry.queries)
    assert [m["name"] for m in body["mutations"]] == sorted(registry.mutations)
    messages = next(q for q in body["queries"] if q["name"] == "chat.messages")
    param = next(p for p in messages["params"] if p["name"] == "conversation_id")
    assert param["required"] is True and param["type"] == "integer"
    since = next(q for q in body["queries"] if q["name"] == "changes.since")
    assert {"name": "topic", "type": "string", "required": False, "default": "*"}.items() <= next(
        p for p in since["params"] if p["name"] == "topic"
    ).items()


def test_changes_tail_replays_the_tenants_last_changes_only(server: Server) -> None:
    with server.client("a_all") as a, server.client("b_all") as b:
        ids = [_change(a, f"notes/{i}", {"n": i}) for i in range(3)]
        _change(a, "other/1")
        b_id = _change(b, "notes/b")
        tail = a.get("/api/admin/changes/tail", params={"topic": "notes/*", "limit": 2}).json()
        assert tail == {"topic": "notes/*", "after_id": ids[1] - 1, "replayed": 2, "head": tail["head"]}
        assert tail["head"] > ids[-1] and tail["head"] < b_id  # A's own head: B's row is not A's
        with a.stream("GET", f"/api/codex/subscribe/notes/*?after_id={tail['after_id']}") as stream:
            got = []
            for ev in events(stream):
                got.append(ev.data["id"])
                if len(got) == 2:
                    break
        assert got == ids[1:]
        b_tail = b.get("/api/admin/changes/tail", params={"topic": "", "limit": 50}).json()
        assert b_tail["topic"] == "*" and b_tail["replayed"] == 2  # notes/b and its usage row only
        empty = b.get("/api/admin/changes/tail", params={"topic": "nothing/here"}).json()
        assert empty["replayed"] == 0 and empty["after_id"] == b_tail["head"]
        bad = a.get("/api/admin/changes/tail", params={"topic": "a b"})
        assert bad.status_code == 422 and bad.json()["error"] == "InvalidInput"
        assert "invalid topic pattern" in bad.json()["message"]
        for limit in (-1, 501, "many"):
            r = a.get("/api/admin/changes/tail", params={"limit": limit})
            assert r.status_code == 422 and r.json()["error"] == "ValidationError"


def test_runs_with_steps_filtered_by_status_and_time_per_tenant(server: Server) -> None:
    with server.client("a_all") as a, server.client("b_all") as b:
        run = a.post("/api/codex/mutate/processing.start_run", json={"run_kind": "ingest"}).json()["result"]
        a.post(
            "/api/codex/mutate/processing.append_step",
            json={"run_id": run["id"], "step_name": "fetch", "detail": {"n": 1}},
        )
        a.post("/api/codex/mutate/processing.finish_run", json={"run_id": run["id"], "status": "failed"})
        a.post("/api/codex/mutate/processing.start_run", json={"run_kind": "reindex"})
        b.post("/api/codex/mutate/processing.start_run", json={"run_kind": "b-only"})
        everything = a.get("/api/admin/runs").json()["runs"]
        assert [r["run_kind"] for r in everything] == ["reindex", "ingest"]
        failed = a.get("/api/admin/runs", params={"status": "failed"}).json()["runs"]
        assert [r["id"] for r in failed] == [run["id"]]
        assert [s["step_name"] for s in failed[0]["steps"]] == ["fetch"] and failed[0]["steps"][0][
            "detail"
        ] == {"n": 1}
        assert a.get("/api/admin/runs", params={"run_kind": "ingest"}).json()["runs"][0]["id"] == run["id"]
        assert a.get("/api/admin/runs", params={"until": "2000-01-01"}).json()["runs"] == []
        assert a.get("/api/admin/runs", params={"since": "2999-01-01T00:00"}).json()["runs"] == []
        assert len(a.get("/api/admin/runs", params={"since": "2000-01-01 00:00"}).json()["runs"]) == 2
        assert [r["run_kind"] for r in b.get("/api/admin/runs").json()["runs"]] == ["b-only"]
        bad_time = a.get("/api/admin/runs", params={"since": "yesterday"})
        assert bad_time.status_code == 422 and bad_time.json()["field"] == "since"
        assert "2026-01-31" in bad_time.json()["message"]
        bad_status = a.get("/api/admin/runs", params={"status": "exploded"})
        assert bad_status.status_code == 422 and bad_status.json()["field"] == "status"
        assert a.get("/api/admin/runs", params={"limit": 0}).status_code == 422


def test_search_sees_only_the_tenants_documents(server: Server) -> None:
    from codex.search import ingest

    with server.store.begin() as conn:
        ingest(
            conn,
            "tenant-a/notes/leases",
            "How leases expire: a lease lapses after its ttl.",
            "text/plain",
            "A",
        )
        ingest(conn, "tenant-b/notes/leases", "Tenant B also writes about lease expiry.", "text/plain", "B")
    with server.client("a_read") as a, server.client("b_all") as b:
        fts = a.get("/api/search", params={"q": "lease", "mode": "fts", "k": 5}).json()
        assert fts["mode"] == "fts" and fts["k"] == 5
        assert [h["source_uri"] for h in fts["hits"]] == ["tenant-a/notes/leases"]
        assert fts["hits"][0]["fts_rank"] == 1 and "[" in fts["hits"][0]["snippet"]
        hybrid = a.get("/api/search", params={"q": "lease expiry"}).json()
        assert {h["source_uri"] for h in hybrid["hits"]} == {"tenant-a/notes/leases"}
        assert hybrid["mode"] == "hybrid" and hybrid["hits"][0]["vector_rank"] is not None
        assert [h["source_uri"] for h in b.get("/api/search", params={"q": "lease"}).json()["hits"]] == [
            "tenant-b/notes/leases"
        ]
        bad: list[dict[str, str | int]] = [
            {"q": "x", "mode": "sql"},
            {"q": "x", "k": 0},
            {"q": "x", "k": 101},
            {},
        ]
        for params in bad:
            r = a.get("/api/search", params=params)
            assert r.status_code == 422 and r.json()["error"] == "ValidationError", params
