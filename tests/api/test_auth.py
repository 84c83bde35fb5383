"""The auth and tenant boundary, as a full matrix over every route."""

from __future__ import annotations

import time

import pytest

from codex.api import create_app
from codex.api.metrics import metrics_scope
from tests.api.conftest import Server

SAMPLE = {"{name}": "changes.since", "{topic}": "t/1", "{document_id}": "1", "{query}": "changes.since"}
STREAMS = ("/subscribe/", "/live/")


def all_routes() -> list[tuple[str, str, str]]:
    """(method, path, required scope) for every route of the OpenAPI contract but /health and /ready."""
    app = create_app()
    scopes = {f"/api/codex/mutate/{m.name}": m.scope for m in app_registry().mutations.values()}
    scopes.update({f"/api/codex/query/{q.name}": q.scope for q in app_registry().queries.values()})
    scopes["/metrics"] = metrics_scope()  # operators only
    out = []
    for path, ops in app.openapi()["paths"].items():
        if path in ("/health", "/ready"):
            continue
        concrete = path
        for key, value in SAMPLE.items():
            concrete = concrete.replace(key, value)
        for method in ops:
            scope = scopes.get(path) or (
                "subscribe"
                if any(s in path for s in STREAMS)
                else "write"
                if method in ("post", "delete")
                else "read"
            )
            out.append((method.upper(), concrete, scope))
    return out


def app_registry():  # type: ignore[no-untyped-def]
    from codex.api import default_registry

    return default_registry()


ROUTES = all_routes()


def _call(
    server: Server, token: str | None, method: str, path: str, headers: dict[str, str] | None = None
) -> int:
    with server.client(token, headers=headers or {}) as c:
        if any(s in path for s in STREAMS):
            with c.stream(method, path) as r:
                return r.status_code
        return c.request(method, path, json={} if method == "POST" else None).status_code


def test_the_matrix_covers_every_route() -> None:
    assert len(ROUTES) >= 8
    assert {m for m, _, _ in ROUTES} == {"GET", "POST", "DELETE"}


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_no_token_bad_token_revoked_token_and_missing_scope(
    shared_server: Server, method: str, path: str, scope: str
) -> None:
    server = shared_server
    assert _call(server, None, method, path) == 401
    assert _call(server, "revoked", method, path) == 401
    assert _call(server, None, method, path, {"Authorization": "Bearer codex_not-a-real-token"}) == 401
    assert _call(server, None, method, path, {"Authorization": "Basic abc"}) == 401
    wrong = {
        "read": "a_write",
        "write": "a_read",
        "subscribe": "a_read",
        "admin": "a_all",
        "operator": "admin",
    }
    assert _call(server, wrong[scope], method, path) == 403
    if scope == "operator":  # a tenant's admin is not an operator; an operator token passes
        assert _call(server, "operator", method, path) not in (401, 403)
    else:
        assert _call(server, "admin", method, path) not in (401, 403)  # admin implies its tenant's scopes


def test_tenants_cannot_see_each_others_rows(server: Server) -> None:
    a, b = server.client("a_all"), server.client("b_all")
    with a, b:
        conv = a.post("/api/codex/mutate/chat.create_conversation", json={"title": "A's"}).json()["result"]
        a.post(
            "/api/codex/mutate/chat.append_message",
            json={"conversation_id": conv["id"], "role": "user", "text": "secret"},
        )
        a.post(
            "/api/codex/mutate/change",
            json={"topic": "notes/1", "change_kind": "insert", "payload": "a-only"},
        )
        # B: the conversation does not exist for it
        assert (
            b.get("/api/codex/query/chat.messages", params={"conversation_id": conv["id"]}).status_code == 404
        )
        r = b.post(
            "/api/codex/mutate/chat.append_message",
            json={"conversation_id": conv["id"], "role": "user", "text": "x"},
        )
        assert r.status_code == 404
        assert b.get("/api/codex/query/chat.conversations").json()["result"] == []
        changes_b = b.get("/api/codex/query/changes.since", params={"topic": "*"}).json()["result"]
        assert all("secret" not in str(c) and c["payload"] != "a-only" for c in changes_b)
        assert [c for c in changes_b if c["topic"] == "notes/1"] == []
        # A sees its own
        assert len(a.get("/api/codex/query/chat.conversations").json()["result"]) == 1
        changes_a = a.get("/api/codex/query/changes.since", params={"topic": "notes/*"}).json()["result"]
        assert [c["payload"] for c in changes_a] == ["a-only"]
        # snapshots are per tenant (recorded off the request path: wait for B's to land)
        deadline = time.monotonic() + 10
        while (latest_b := b.get("/api/codex/query/chat.conversations/latest")).status_code == 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert latest_b.json()["snapshot_json"] == []
        # B's stream of everything carries none of A's events
        with b.stream("GET", "/api/codex/subscribe/*?after_id=0") as stream:
            assert stream.status_code == 200
            b.post("/api/codex/mutate/change", json={"topic": "notes/b", "change_kind": "insert"})
            seen = _read_events(stream, until_topic="notes/b")
        assert [e["topic"] for e in seen if e["topic"].startswith(("notes/", "conversations/"))] == [
            "notes/b"
        ]


def _read_events(stream: object, until_topic: str) -> list[dict[str, object]]:
    import json

    events: list[dict[str, object]] = []
    for line in stream.iter_lines():  # type: ignore[attr-defined]
        if line.startswith("data: "):
            event = json.loads(line[6:])
            events.append(event)
            if event.get("topic") == until_topic:
                return events
    return events
