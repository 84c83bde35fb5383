"""The tenant isolation matrix: tenant B, with every scope it can hold, against every object of tenant A.

Tenant A (``tenant-a``) creates one of every object through the API. Then, for every named query, every
named mutation and every route of the OpenAPI document, tenant B (``tenant-b``, with a ``read``, a ``write``,
a ``subscribe`` and an ``admin`` token) aims at A's objects (A's ids in the parameters, body and path):

* a token without the scope gets 403;
* otherwise the answer is 404 or 403, or 200 with B's own (or no) rows;
* **nothing of A's leaks**: every text A wrote carries a marker that never appears in a B response, and
  A's ids are made distinctive (each table's AUTOINCREMENT sequence is moved to its own range before A
  writes), so none may appear in a B response unless B itself sent it;
* none of A's rows changed (every tenant-owned row of A, A's usage rows and A's search documents are
  compared before and after each case).

The cases are keyed by query name, mutation name and ``METHOD path``; the matrix fails when the registry or
the OpenAPI document (live or committed) has an entry without a case, so a new query, mutation or route
cannot be added without saying how tenant B is kept out of it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from codex.api import create_app, default_registry
from codex.config import LocalDb
from codex.repositories.tenancy import TokenRepository
from codex.store import open_store
from domains.usage_governance import usage_limit_definitions
from tests.api._isolation_world import B_TOKENS, GOVERNED, A, B, World, build_world
from tests.api.conftest import REPO, Server

PUBLIC = ("/health", "/ready")
CONTRACT = REPO / "contracts" / "codex-api.openapi.yaml"

_ID = re.compile(r"(?<![\w.])(\d{7,})(?![\w.])")
_CURSOR = re.compile(r'"cursor"\s*:\s*\d+|^id: \d+$', re.MULTILINE)


@pytest.fixture(scope="module")
def world(shared_server: Server) -> Iterator[World]:
    yield build_world(shared_server)


# -- probes and the leak check ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """One request of tenant B, and the statuses a token holding the case's scope may get."""

    method: str
    path: str
    expect: frozenset[int]
    params: dict[str, Any] | None = None
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    check: Callable[[Any], None] | None = None
    """Called with the parsed JSON body of a 2xx answer (more specific assertions)."""


def probe(method: str, path: str, *expect: int, **kw: Any) -> Probe:
    return Probe(method, path, frozenset(expect), **kw)


@dataclass(frozen=True)
class Case:
    """How tenant B is kept out of one query, mutation or route."""

    scope: str | None  # None: public
    probes: Callable[[World], list[Probe]]


def _send(w: World, token: str, p: Probe) -> tuple[int, str]:
    with w.client(token) as c:
        if not p.stream:
            r = c.request(
                p.method, p.path, params=p.params, json=p.json, content=p.content, headers=p.headers
            )
            return r.status_code, r.text
        with c.stream(p.method, p.path, params=p.params, headers=p.headers) as r:
            if r.status_code != 200:
                return r.status_code, r.read().decode()
            lines: list[str] = []
            for line in r.iter_lines():  # the backlog, then the first keepalive comment (2 s idle)
                lines.append(line)
                if line.startswith(":"):
                    break
            return r.status_code, "\n".join(lines)


def _leaks(w: World, p: Probe, text: str) -> list[str]:
    """What of A's the answer shows: the marker, or an id of A's that B did not send itself."""
    sent = json.dumps([p.path, p.params, p.json, p.content, p.headers], default=str)
    for value in [*(p.params or {}).values(), *(p.json or {}).values()]:
        if isinstance(value, str) and w.mark in value:  # B named one of A's values: its echo is no leak
            text = text.replace(value, "")
    found = [f"marker {w.mark}"] if w.mark in text else []
    # ``cursor`` (and an SSE event's ``id:``) is a position in the one change log every tenant shares (a
    # clock), not a row: a row of A's delivered to B would still show in the event's data
    numbers = {int(n) for n in _ID.findall(_CURSOR.sub("", text))}
    sent_numbers = {int(n) for n in _ID.findall(sent)}
    found += [f"id {n}" for n in sorted(numbers & w.a_ids - sent_numbers)]
    return found


def _scopes_allow(held: tuple[str, ...], needed: str | None) -> bool:
    if needed is None:
        return True
    return needed in held or ("admin" in held and needed != "operator")


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- expectations shared by the cases ---------------------------------------------------------------------
def _empty_result(body: Any) -> None:
    assert body["result"] == [], body


def _no_rows_of_a(w: World) -> Callable[[Any], None]:
    def check(body: Any) -> None:
        assert w.mark not in json.dumps(body)

    return check


def _own_new(w: World, key: str, field_name: str = "id") -> Callable[[Any], None]:
    """The answer is a row of B's own: not A's object ``key``."""

    def check(body: Any) -> None:
        result = body.get("result", body)
        assert result[field_name] != w.a[key], body

    return check


def _own_document(w: World) -> Callable[[Any], None]:
    def check(body: Any) -> None:
        ids = [d["document_id"] for d in body.get("documents", [body])]
        assert not set(ids) & {w.a["doc"], w.a["doc2"]}, body

    return check


def _no_hits(body: Any) -> None:
    assert body["hits"] == [], body


def _database_hidden(body: Any) -> None:
    assert body["database"].get("url") is None and body["database"].get("path") is None, body


def _no_row_counts(body: Any) -> None:
    assert body["row_counts"] != "shown"
    assert all(t["row_count"] is None for d in body["domains"] for t in d["tables"])


def _nothing_replayed(body: Any) -> None:
    assert body["replayed"] == 0, body


# -- the cases --------------------------------------------------------------------------------------------
Q = "/api/codex/query/"
M = "/api/codex/mutate/"


def _q(
    name: str, params: dict[str, Any] | None, *expect: int, check: Callable[[Any], None] | None = None
) -> Probe:
    return probe("GET", Q + name, *expect, params=params, check=check)


def _m(name: str, body: dict[str, Any], *expect: int, **kw: Any) -> Probe:
    return probe("POST", M + name, *expect, json=body, **kw)


QUERY_CASES: dict[str, Case] = {
    "changes.since": Case(
        "read",
        lambda w: [
            _q("changes.since", {"topic": "*", "after_id": 0}, 200),
            _q("changes.since", {"topic": w.a["change_topic"], "after_id": 0}, 200),
            _q("changes.since", {"topic": "conversations/*", "after_id": 0}, 200),
        ],
    ),
    "chat.conversations": Case("read", lambda w: [_q("chat.conversations", {"limit": 500}, 200)]),
    "chat.messages": Case(
        "read",
        lambda w: [
            _q("chat.messages", {"conversation_id": w.a["conv"]}, 404),
            _q("chat.messages", {"conversation_id": w.a["conv2"]}, 404),
        ],
    ),
    "tool_calls.list": Case("read", lambda w: [_q("tool_calls.list", {"message_id": w.a["msg"]}, 404)]),
    "graph.research_sessions": Case("read", lambda w: [_q("graph.research_sessions", {"limit": 500}, 200)]),
    "processing.runs": Case(
        "read",
        lambda w: [
            _q("processing.runs", {"limit": 500}, 200),
            _q("processing.runs", {"status": "succeeded"}, 200),
            _q("processing.runs", {"run_kind": f"kind-{w.mark}"}, 200, check=_empty_result),
        ],
    ),
    "audit.log": Case(
        "read",
        lambda w: [
            _q("audit.log", {"limit": 1000}, 200),
            _q(
                "audit.log",
                {"resource_kind": "doc", "resource_id": w.a["audit_resource"]},
                200,
                check=_empty_result,
            ),
        ],
    ),
    "usage.limits": Case("read", lambda w: [_q("usage.limits", {}, 200)]),
    "usage.counters": Case("read", lambda w: [_q("usage.counters", {}, 200)]),
}

MUTATION_CASES: dict[str, Case] = {
    "change": Case(
        "write",
        lambda w: [
            # the same topic name is B's own topic: a row of B's, nothing of A's shown
            _m(
                "change",
                {"topic": w.a["change_topic"], "change_kind": "update"},
                200,
            )
        ],
    ),
    "chat.create_conversation": Case(
        "write",
        lambda w: [
            _m("chat.create_conversation", {"title": "B's"}, 200, check=_own_new(w, "conv")),
            # A's Idempotency-Key and body: B gets its own conversation, never A's stored response
            _m(
                "chat.create_conversation",
                w.a["idem_body"],
                200,
                headers={"Idempotency-Key": w.a["idem_key"]},
                check=_own_new(w, "conv3"),
            ),
        ],
    ),
    "chat.append_message": Case(
        "write",
        lambda w: [
            _m("chat.append_message", {"conversation_id": w.a["conv"], "role": "user", "text": "x"}, 404)
        ],
    ),
    "tool_calls.add": Case(
        "write",
        lambda w: [
            _m("tool_calls.add", {"message_id": w.a["msg"], "tool_name": "t"}, 404),
            _m("tool_calls.add", {"message_id": w.a["msg"], "tool_name": "t", "ordinal": 7}, 404),
        ],
    ),
    "tool_calls.finish": Case(
        "write",
        lambda w: [
            _m(
                "tool_calls.finish", {"tool_call_id": w.a["tool_call"], "status": "failed", "error": "x"}, 404
            ),
            _m("tool_calls.finish", {"tool_call_id": w.a["tool_call2"], "status": "succeeded"}, 404),
        ],
    ),
    "topics.ensure": Case(
        "write",
        lambda w: [
            # A's slug: B gets a topic of its own (no 404/409 existence oracle)
            _m("topics.ensure", {"slug": w.a["slug"], "label": "B's"}, 200, check=_own_new(w, "topic"))
        ],
    ),
    "topics.link_conversation": Case(
        "write",
        lambda w: [
            _m("topics.link_conversation", {"conversation_id": w.a["conv"], "topic_id": w.a["topic"]}, 404),
            _m("topics.link_conversation", {"conversation_id": w.b["conv"], "topic_id": w.a["topic"]}, 404),
            _m("topics.link_conversation", {"conversation_id": w.a["conv"], "topic_id": w.b["topic"]}, 404),
        ],
    ),
    "graph.research_session": Case(
        "write",
        lambda w: [
            _m(
                "graph.research_session",
                {"session_key": w.a["session_key"], "title": "B's"},
                200,
                check=_own_new(w, "session"),
            ),
            _m("graph.research_session", {"session_key": "x", "repository_id": A}, 403),
        ],
    ),
    "graph.conversation_version": Case(
        "write",
        lambda w: [
            _m("graph.conversation_version", {"conversation_id": w.a["conv"]}, 404),
            _m("graph.conversation_version", {"conversation_id": w.a["conv"], "version_index": 0}, 404),
        ],
    ),
    "graph.conversation_edge": Case(
        "write",
        lambda w: [
            _m(
                "graph.conversation_edge",
                {"from_conversation_id": w.a["conv"], "to_conversation_id": w.a["conv2"]},
                404,
            ),
            _m(
                "graph.conversation_edge",
                {"from_conversation_id": w.b["conv"], "to_conversation_id": w.a["conv"]},
                404,
            ),
            _m(
                "graph.conversation_edge",
                {"from_conversation_id": w.a["conv"], "to_conversation_id": w.b["conv"]},
                404,
            ),
        ],
    ),
    "graph.topic_evolution": Case(
        "write",
        lambda w: [_m("graph.topic_evolution", {"topic_id": w.a["topic"], "event_kind": "merged"}, 404)],
    ),
    "processing.start_run": Case(
        "write", lambda w: [_m("processing.start_run", {"run_kind": "b"}, 200, check=_own_new(w, "run"))]
    ),
    "processing.append_step": Case(
        "write", lambda w: [_m("processing.append_step", {"run_id": w.a["run"], "step_name": "s"}, 404)]
    ),
    "processing.finish_step": Case(
        "write",
        lambda w: [
            _m(
                "processing.finish_step",
                {"run_id": w.a["run"], "step_id": w.a["step"], "status": "failed"},
                404,
            ),
            _m(
                "processing.finish_step",
                {"run_id": w.b["run"], "step_id": w.a["step"], "status": "failed"},
                404,
            ),
        ],
    ),
    "processing.finish_run": Case(
        "write", lambda w: [_m("processing.finish_run", {"run_id": w.a["run"], "status": "cancelled"}, 404)]
    ),
    "audit.append": Case(
        "write",
        lambda w: [
            _m(
                "audit.append",
                {
                    "actor_kind": "user",
                    "action": "a",
                    "resource_kind": "doc",
                    "resource_id": "b-doc",
                },
                200,
                check=_own_new(w, "audit"),
            )
        ],
    ),
    "usage.set_limit": Case(
        "operator",  # no token of tenant B holds it: 403 for every one, admin included
        lambda w: [
            _m(
                "usage.set_limit",
                {"tenant": A, "metric_key": "api.mutations", "period_kind": "none", "limit_value": 0},
                403,
            ),
            _m(
                "usage.set_limit",
                {"tenant": B, "metric_key": "api.mutations", "period_kind": "none", "limit_value": 10**9},
                403,
            ),
        ],
    ),
}


def _latest_probes(w: World) -> list[Probe]:
    return [probe("GET", f"{Q}{name}/latest", 200, 404) for name in sorted(default_registry().queries)]


ROUTE_CASES: dict[str, Case] = {
    "GET /health": Case(None, lambda w: [probe("GET", "/health", 200)]),
    "GET /ready": Case(None, lambda w: [probe("GET", "/ready", 200)]),
    "GET /api/codex/query/{name}/latest": Case("read", _latest_probes),
    "GET /api/codex/subscribe/{topic}": Case(
        "subscribe",
        lambda w: [
            probe("GET", "/api/codex/subscribe/*", 200, params={"after_id": 0}, stream=True),
            probe(
                "GET",
                "/api/codex/subscribe/notes/*",
                200,
                403,  # the snapshot's named query needs read: a subscribe-only token is refused
                params={"after_id": 0, "query": "changes.since"},
                stream=True,
            ),
            probe(
                "GET",
                f"/api/codex/subscribe/conversations/{w.a['conv']}",
                404,
                403,  # the named query needs read: a subscribe-only token is refused before it runs
                params={"query": "chat.messages", "conversation_id": w.a["conv"]},
                stream=True,
            ),
        ],
    ),
    "GET /api/codex/live/{query}": Case(
        "subscribe",
        lambda w: [
            # b's own (empty) list; a token without both subscribe and read is refused
            probe("GET", "/api/codex/live/chat.conversations", 200, 403, stream=True),
            probe(
                "GET",
                "/api/codex/live/chat.messages",
                404,
                403,
                params={"conversation_id": w.a["conv"]},
                stream=True,
            ),
        ],
    ),
    "POST /api/codex/research-session": Case(
        "write",
        lambda w: [
            probe(
                "POST",
                "/api/codex/research-session",
                200,
                json={"session_key": w.a["session_key"], "status": "open"},
                check=_own_new(w, "session"),
            ),
            probe("POST", "/api/codex/research-session", 403, json={"session_key": "y", "repository_id": A}),
        ],
    ),
    "POST /api/codex/conversations/{conv_id}/versions": Case(
        "write",
        lambda w: [
            probe("POST", f"/api/codex/conversations/{w.a['conv']}/versions", 404, json={"label": "x"})
        ],
    ),
    "POST /api/codex/conversation-edges": Case(
        "write",
        lambda w: [
            probe(
                "POST",
                "/api/codex/conversation-edges",
                404,
                json={"from_conversation_id": w.b["conv"], "to_conversation_id": w.a["conv2"]},
            )
        ],
    ),
    "POST /api/codex/topics/{topic_id}/evolution-events": Case(
        "write",
        lambda w: [
            probe(
                "POST",
                f"/api/codex/topics/{w.a['topic']}/evolution-events",
                404,
                json={"event_kind": "split"},
            )
        ],
    ),
    "GET /api/admin/overview": Case(
        "read", lambda w: [probe("GET", "/api/admin/overview", 200, check=_database_hidden)]
    ),
    "POST /api/admin/replica/sync": Case(
        "admin",
        lambda w: [probe("POST", "/api/admin/replica/sync", 409)],  # not a replica: nothing to sync
    ),
    "GET /api/admin/schema": Case(
        "read", lambda w: [probe("GET", "/api/admin/schema", 200, check=_no_row_counts)]
    ),
    "GET /api/admin/registry": Case("read", lambda w: [probe("GET", "/api/admin/registry", 200)]),
    # the metrics span every tenant: operators only (no token of tenant B holds it, admin included)
    "GET /metrics": Case("operator", lambda w: [probe("GET", "/metrics", 403)]),
    "GET /api/admin/changes/tail": Case(
        "read",
        lambda w: [
            probe("GET", "/api/admin/changes/tail", 200, params={"topic": w.a["change_topic"], "limit": 500}),
            probe(
                "GET",
                "/api/admin/changes/tail",
                200,
                params={"topic": f"processing/runs/{w.a['run']}"},
                check=_nothing_replayed,
            ),
            probe("GET", "/api/admin/changes/tail", 200, params={"topic": "processing/*"}),
        ],
    ),
    "GET /api/admin/runs": Case(
        "read",
        lambda w: [
            probe("GET", "/api/admin/runs", 200, params={"limit": 500}),
            probe("GET", "/api/admin/runs", 200, params={"run_kind": f"kind-{w.mark}"}),
        ],
    ),
    "GET /api/search": Case(
        "read",
        lambda w: [
            probe("GET", "/api/search", 200, params={"q": w.a["word"], "mode": mode}, check=_no_hits)
            for mode in ("fts", "vector", "hybrid")
        ],
    ),
    "GET /api/search/status": Case("read", lambda w: [probe("GET", "/api/search/status", 200)]),
    "POST /api/search/documents": Case(
        "write",
        lambda w: [
            probe(
                "POST",
                "/api/search/documents",
                200,
                201,
                json={"source_uri": w.a["doc_uri"], "content": "B's own words about otters."},
                check=_own_document(w),
            )
        ],
    ),
    "POST /api/search/documents/batch": Case(
        "write",
        lambda w: [
            probe(
                "POST",
                "/api/search/documents/batch",
                200,
                content=json.dumps({"source_uri": w.a["doc_uri"], "content": "B's batch about badgers."})
                + "\n",
                headers={"Content-Type": "application/x-ndjson"},
                check=_own_document(w),
            )
        ],
    ),
    "POST /api/search/documents/delete": Case(
        "write",
        lambda w: [probe("POST", "/api/search/documents/delete", 404, json={"source_uri": w.a["doc2_uri"]})],
    ),
    "DELETE /api/search/documents/{document_id}": Case(
        "write",
        lambda w: [
            probe("DELETE", f"/api/search/documents/{w.a['doc']}", 404),
            probe("DELETE", f"/api/search/documents/{w.a['doc2']}", 404),
        ],
    ),
}

CASES: dict[str, Case] = {
    **{f"query:{name}": case for name, case in QUERY_CASES.items()},
    **{f"mutation:{name}": case for name, case in MUTATION_CASES.items()},
    **{f"route:{key}": case for key, case in ROUTE_CASES.items()},
}


# -- coverage: the matrix has a case for every name and route ---------------------------------------------
def _openapi_routes(paths: dict[str, Any]) -> set[str]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {f"{m.upper()} {path}" for path, ops in paths.items() for m in ops if m in methods}


def expected_cases() -> set[str]:
    """Every named query and mutation of the registry, and every other route of the live and committed
    OpenAPI documents."""
    registry = default_registry()
    named = {f"GET {Q}{n}" for n in registry.queries} | {f"POST {M}{n}" for n in registry.mutations}
    live = _openapi_routes(create_app().openapi()["paths"])
    committed = _openapi_routes(yaml.safe_load(CONTRACT.read_text())["paths"]) if CONTRACT.exists() else set()
    unknown_named = {
        r for r in live | committed if r.split(" ", 1)[1].startswith((Q, M)) and r not in named
    } - {"GET /api/codex/query/{name}/latest"}
    assert not unknown_named, f"routes of names the registry does not have: {sorted(unknown_named)}"
    return (
        {f"query:{n}" for n in registry.queries}
        | {f"mutation:{n}" for n in registry.mutations}
        | {f"route:{r}" for r in (live | committed) - named}
    )


def test_the_matrix_has_a_case_for_every_query_mutation_and_route() -> None:
    expected = expected_cases()
    assert not expected - set(CASES), f"no isolation case for: {sorted(expected - set(CASES))}"
    assert not set(CASES) - expected, (
        f"cases for names/routes that do not exist: {sorted(set(CASES) - expected)}"
    )


def test_every_case_aims_somewhere() -> None:
    assert len(CASES) >= 40
    for key, case in CASES.items():
        assert case.scope in (None, "read", "write", "subscribe", "admin", "operator"), key
    for name, query in default_registry().queries.items():
        assert CASES[f"query:{name}"].scope == query.scope, name
    for name, mutation in default_registry().mutations.items():
        assert CASES[f"mutation:{name}"].scope == mutation.scope, name


# -- the matrix ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(CASES))
def test_tenant_b_cannot_reach_tenant_a(world: World, key: str) -> None:
    case = CASES[key]
    before = world.a_state()
    probes = case.probes(world)
    assert probes, key
    failures: list[str] = []
    for token, held in B_TOKENS.items():
        for p in probes:
            status, text = _send(world, token, p)
            where = f"{token} {p.method} {p.path} {p.params or ''} {p.json or ''}"
            allowed = p.expect if _scopes_allow(held, case.scope) else frozenset({403})
            if status not in allowed:
                failures.append(f"{where}: {status} not in {sorted(allowed)}: {text[:300]}")
            leaked = _leaks(world, p, text)
            if leaked:
                failures.append(f"{where}: leaked {leaked}: {text[:300]}")
            if p.check is not None and 200 <= status < 300 and not p.stream:
                try:
                    p.check(_parsed(text))
                except AssertionError as exc:
                    failures.append(f"{where}: {exc}")
    assert not failures, "\n".join(failures)
    assert world.a_state() == before, f"{key}: a row of tenant A changed"


def test_a_fresh_tenant_lists_nothing(world: World) -> None:
    """A tenant that never wrote gets empty lists from every list query and route (A's rows exist)."""
    lists = ["changes.since", "chat.conversations", "graph.research_sessions", "processing.runs", "audit.log"]
    lists += ["usage.limits", "usage.counters"]
    with world.client("z_read") as c:
        for name in lists:
            r = c.get(Q + name)
            assert r.status_code == 200, (name, r.text)
            assert r.json()["result"] == [], (name, r.text)
        assert c.get("/api/admin/runs").json()["runs"] == []
        tail = c.get("/api/admin/changes/tail").json()
        assert (tail["replayed"], tail["head"]) == (0, 0)
        status = c.get("/api/search/status").json()
        assert (status["search_documents"], status["search_document_chunks"]) == (0, 0)
        assert c.get("/api/search", params={"q": world.a["word"]}).json()["hits"] == []
        for name in sorted(default_registry().queries):
            latest = c.get(f"{Q}{name}/latest")
            assert latest.status_code in (200, 404) and world.mark not in latest.text, (name, latest.text)


def test_the_same_names_in_another_tenant_are_its_own(world: World) -> None:
    """Topic slugs and session keys are unique per tenant: B using A's names creates its own rows, and the
    answer is the same as for a name nobody uses (no existence oracle)."""
    a = world.a
    with world.client("b_all") as c:
        taken = c.post(M + "topics.ensure", json={"slug": a["slug"], "label": "B general"})
        free = c.post(M + "topics.ensure", json={"slug": f"free-{uuid.uuid4().hex[:8]}"})
        assert (taken.status_code, free.status_code) == (200, 200), (taken.text, free.text)
        mine = taken.json()["result"]
        assert mine["id"] != a["topic"] and mine["slug"] == a["slug"]
        again = c.post(M + "topics.ensure", json={"slug": a["slug"]}).json()["result"]
        assert again["id"] == mine["id"]
        s_taken = c.post(M + "graph.research_session", json={"session_key": a["session_key"], "title": "B's"})
        s_free = c.post(M + "graph.research_session", json={"session_key": f"free-{uuid.uuid4().hex[:8]}"})
        assert (s_taken.status_code, s_free.status_code) == (200, 200), (s_taken.text, s_free.text)
        assert s_taken.json()["result"]["id"] != a["session"]
        sessions = c.get(Q + "graph.research_sessions", params={"limit": 500}).json()["result"]
        assert a["session"] not in {s["id"] for s in sessions}
        assert [s["title"] for s in sessions if s["session_key"] == a["session_key"]] == ["B's"]
    with world.client("a_all") as c:
        titles = [
            s["title"]
            for s in c.get(Q + "graph.research_sessions", params={"limit": 500}).json()["result"]
            if s["session_key"] == a["session_key"]
        ]
        assert titles == [f"A {world.mark} session"]  # A's session was not overwritten
        topic = c.post(M + "topics.ensure", json={"slug": a["slug"]}).json()["result"]
        assert topic["id"] == a["topic"] and world.mark in topic["label"]


def test_limits_are_the_operators(world: World) -> None:
    body = {"tenant": GOVERNED, "metric_key": "isolation.probe", "period_kind": "none", "limit_value": 5}
    with world.client("a_admin") as c:
        refused = c.post(M + "usage.set_limit", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/json")
        own = c.post(M + "usage.set_limit", json={**body, "tenant": A})
        assert own.status_code == 403, own.text  # not even for its own tenant
    with world.client("operator") as c:
        done = c.post(M + "usage.set_limit", json=body)
        assert done.status_code == 200, done.text
        row = done.json()["result"]
        assert (row["scope_kind"], row["scope_id"], row["limit_value"]) == ("tenant", GOVERNED, 5)
        for bad in ("Not A Slug", "", "-x", "a" * 64, "tenant/a"):
            r = c.post(M + "usage.set_limit", json={**body, "tenant": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.headers["content-type"].startswith("application/json") and r.json(), r.text
        missing = {k: v for k, v in body.items() if k != "tenant"}
        assert c.post(M + "usage.set_limit", json=missing).status_code == 422
    with world.server.store.connect() as conn:
        scope_ids = set(conn.execute(sa.select(usage_limit_definitions.c.scope_id)).scalars())
    assert not scope_ids & {"Not A Slug", "", "-x", "a" * 64, "tenant/a"}  # nothing half-written
    with world.client("q_read") as c:
        limits = c.get(Q + "usage.limits").json()["result"]
        assert [(x["metric_key"], x["limit_value"]) for x in limits] == [("isolation.probe", 5)]
    with world.client("b_read") as c:
        assert "isolation.probe" not in c.get(Q + "usage.limits").text


def test_an_operator_reaches_across_tenants(world: World) -> None:
    with world.client("operator") as c:
        hits = c.get("/api/search", params={"q": world.a["word"], "mode": "fts"}).json()["hits"]
        assert {world.a["doc"], world.a["doc2"]} <= {h["document_id"] for h in hits}
        status = c.get("/api/search/status").json()
        assert status["search_documents"] >= 2
        assert c.get("/api/admin/schema").json()["row_counts"] == "shown"
    with world.client("b_admin") as c:
        assert c.get("/api/search", params={"q": world.a["word"], "mode": "fts"}).json()["hits"] == []


def test_codex_tokens_create_refuses_unknown_scopes_and_bad_tenants(tmp_path: Path) -> None:
    path = tmp_path / "codex.db"
    open_store(LocalDb(path=str(path))).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env.update(VOX_DB_PATH=str(path), HOME=str(tmp_path))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "codex.cli", "tokens", "create", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    unknown = cli("--tenant", "acme", "--scopes", "nosuch")
    assert unknown.returncode != 0
    assert "nosuch" in unknown.stdout + unknown.stderr and "Traceback" not in unknown.stderr
    bad_tenant = cli("--tenant", "Not A Slug", "--scopes", "read")
    assert bad_tenant.returncode != 0 and "Traceback" not in bad_tenant.stderr
    assert "tenant" in (bad_tenant.stdout + bad_tenant.stderr).lower()
    ok = cli("--tenant", "default", "--scopes", "operator")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("codex_")
    store = open_store(LocalDb(path=str(path)), migrate="none")
    try:
        with store.connect() as conn:
            tokens = TokenRepository(conn).list()
    finally:
        store.dispose()
    assert [(t.tenant, t.scopes) for t in tokens] == [("default", "operator")]  # the refusals wrote nothing
