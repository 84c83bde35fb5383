"""The world of the tenant isolation matrix (``test_isolation.py``): tenant A's objects, tenant B's own,
the tokens, and the means to read A's rows directly (so a test can tell that none of them changed)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from codex.repositories.tenancy import TokenRepository
from codex.store import Store
from domains._meta import TENANT_COLUMN, is_tenant_owned, metadata
from domains.search_ingest import search_document_chunks, search_documents
from domains.usage_governance import usage_counter_snapshots, usage_limit_definitions
from tests.api.conftest import Server

__all__ = ["B_TOKENS", "FRESH", "GOVERNED", "VOLATILE", "A", "B", "World", "build_world", "mutate"]

A, B, FRESH, GOVERNED = "tenant-a", "tenant-b", "tenant-z", "tenant-q"
B_TOKENS = {"b_read": ("read",), "b_write": ("write",), "b_subscribe": ("subscribe",), "b_admin": ("admin",)}
VOLATILE = ("codex_subscriptions", "codex_query_snapshots", "codex_projection_versions")
"""Tenant-owned tables that change without a request of the tenant (stream bookkeeping, background snapshot
recording); B's reach into them is checked through the routes that read them."""


# -- the world: A's objects, B's own objects, the tokens --------------------------------------------------
@dataclass
class World:
    """A running server, tenant A's objects and the means to check that none of them leaks."""

    server: Server
    mark: str
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)
    a_ids: frozenset[int] = frozenset()

    def client(self, token: str | None) -> httpx.Client:
        return self.server.client(token)

    def a_state(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of tenant A (tenant-owned tables, usage rows, search documents), read directly."""
        return _tenant_state(self.server.store, A)


def _tenant_state(store: Store, tenant: str) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.connect() as conn:
        for table in metadata.sorted_tables:
            if not is_tenant_owned(table) or table.name in VOLATILE:
                continue
            order = list(table.primary_key.columns) or list(table.c)
            rows = conn.execute(sa.select(table).where(table.c[TENANT_COLUMN] == tenant).order_by(*order))
            out[table.name] = [tuple(r) for r in rows]
        for usage in (usage_limit_definitions, usage_counter_snapshots):
            rows = conn.execute(
                sa.select(usage).where(usage.c.scope_id == tenant).order_by(*usage.primary_key.columns)
            )
            out[usage.name] = [tuple(r) for r in rows]
        docs = search_documents
        rows = conn.execute(
            sa.select(docs.c.id, docs.c.source_uri, docs.c.content_hash)
            .where(docs.c.source_uri.like(f"{tenant}/%"))
            .order_by(docs.c.id)
        )
        out["search_documents"] = [tuple(r) for r in rows]
    return out


def _seed_sequences(store: Store) -> None:
    """Move every AUTOINCREMENT sequence A's objects use to a range of its own (``<n>_500_000``).

    A's ids are then 8-digit numbers that appear nowhere else, so finding one in a B response is a leak
    (tenant B's later rows continue the same range, above A's)."""
    tables = [
        t
        for t in metadata.sorted_tables
        if t.dialect_options["sqlite"].get("autoincrement")
        and (is_tenant_owned(t) or t.name.startswith(("search_", "usage_")))
        and t.name != "codex_change_log"  # change ids are the global cursor, not A's rows (see _a_ids)
    ]
    with store.begin() as conn:
        for n, table in enumerate(sorted(tables, key=lambda t: t.name), start=11):
            current = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
            seed = max(n * 1_000_000 + 500_000, int(current))
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table.name,))
            conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table.name, seed))


def _tokens(store: Store) -> dict[str, str]:
    with store.begin() as conn:
        repo = TokenRepository(conn)
        made = {name: repo.create(B, list(scopes)).secret for name, scopes in B_TOKENS.items()}
        made["b_all"] = repo.create(B, ["read", "write", "subscribe"]).secret
        made["a_all"] = repo.create(A, ["read", "write", "subscribe"]).secret
        made["a_admin"] = repo.create(A, ["admin"]).secret
        made["z_read"] = repo.create(FRESH, ["read", "subscribe"]).secret
        made["q_read"] = repo.create(GOVERNED, ["read"]).secret
        made["operator"] = repo.create("default", ["operator"]).secret
    return made


def mutate(c: httpx.Client, name: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = c.post(f"/api/codex/mutate/{name}", json=body, headers=headers)
    assert r.status_code == 200, (name, r.status_code, r.text)
    result: dict[str, Any] = r.json()["result"]
    return result


def _build_a(w: World) -> None:
    """Tenant A creates one of every object, every text carrying the marker."""
    m, a = w.mark, w.a
    with w.client("a_all") as c:
        a["conv"] = mutate(c, "chat.create_conversation", {"title": f"A {m} conversation"})["id"]
        a["conv2"] = mutate(c, "chat.create_conversation", {"title": f"A {m} second"})["id"]
        a["idem_body"] = {"title": "idempotent"}
        a["idem_key"] = f"idem-{m}"
        a["conv3"] = mutate(
            c, "chat.create_conversation", a["idem_body"], **{"Idempotency-Key": a["idem_key"]}
        )["id"]
        a["msg"] = mutate(
            c,
            "chat.append_message",
            {"conversation_id": a["conv"], "role": "user", "text": f"A {m} message", "payload": {"m": m}},
        )["id"]
        a["tool_call"] = mutate(
            c, "tool_calls.add", {"message_id": a["msg"], "tool_name": f"tool-{m}", "arguments": {"q": m}}
        )["id"]
        a["tool_call2"] = mutate(c, "tool_calls.add", {"message_id": a["msg"], "tool_name": f"tool2-{m}"})[
            "id"
        ]
        mutate(c, "tool_calls.finish", {"tool_call_id": a["tool_call2"], "status": "succeeded", "result": m})
        a["slug"] = "general"  # a name B may also choose: no marker, B gets its own topic
        a["topic"] = mutate(c, "topics.ensure", {"slug": a["slug"], "label": f"A {m} topic"})["id"]
        mutate(c, "topics.link_conversation", {"conversation_id": a["conv"], "topic_id": a["topic"]})
        a["session_key"] = "weekly-review"  # likewise a shared name
        a["session"] = mutate(
            c,
            "graph.research_session",
            {"session_key": a["session_key"], "title": f"A {m} session", "config_json": {"m": m}},
        )["id"]
        a["version"] = mutate(
            c, "graph.conversation_version", {"conversation_id": a["conv"], "label": f"A {m} v0"}
        )["id"]
        a["edge"] = mutate(
            c,
            "graph.conversation_edge",
            {"from_conversation_id": a["conv"], "to_conversation_id": a["conv2"], "metadata_json": {"m": m}},
        )["id"]
        a["event"] = mutate(
            c,
            "graph.topic_evolution",
            {"topic_id": a["topic"], "event_kind": "renamed", "new_label": f"A {m}"},
        )["id"]
        a["run"] = mutate(
            c, "processing.start_run", {"run_kind": f"kind-{m}", "correlation_id": f"corr-{m}", "payload": m}
        )["id"]
        a["step"] = mutate(c, "processing.append_step", {"run_id": a["run"], "step_name": f"step-{m}"})["id"]
        a["run2"] = mutate(c, "processing.start_run", {"run_kind": f"kind2-{m}"})["id"]
        a["step2"] = mutate(c, "processing.append_step", {"run_id": a["run2"], "step_name": f"step2-{m}"})[
            "id"
        ]
        mutate(
            c, "processing.finish_step", {"run_id": a["run2"], "step_id": a["step2"], "status": "succeeded"}
        )
        mutate(c, "processing.finish_run", {"run_id": a["run2"], "status": "succeeded"})
        a["audit_resource"] = "doc-1"  # a name; the entry's action carries the marker
        a["audit"] = mutate(
            c,
            "audit.append",
            {
                "actor_kind": "user",
                "action": f"act-{m}",
                "resource_kind": "doc",
                "resource_id": a["audit_resource"],
            },
        )["id"]
        a["change_topic"] = "notes/1"  # a topic name B may use too
        a["change"] = mutate(
            c, "change", {"topic": a["change_topic"], "change_kind": "insert", "payload": m}
        )["change_log_id"]
        a["word"] = f"quokka{uuid.uuid4().hex[:8]}"  # what B searches for (not the marker)
        a["doc_uri"], a["doc2_uri"] = "notes/shared.md", "notes/private.md"
        for key, uri in (("doc", a["doc_uri"]), ("doc2", a["doc2_uri"])):
            r = c.post(
                "/api/search/documents",
                json={
                    "source_uri": uri,
                    "content": f"{a['word']} lives with {m} in the notes.",
                    "title": f"A {m}",
                },
            )
            assert r.status_code == 201, r.text
            a[key] = r.json()["document_id"]
        # A reads its lists once: snapshots and projection versions of tenant A exist
        for name in ("chat.conversations", "graph.research_sessions", "processing.runs", "audit.log"):
            assert c.get(f"/api/codex/query/{name}").status_code == 200
        deadline = time.monotonic() + 15
        while c.get("/api/codex/query/chat.conversations/latest").status_code != 200:
            assert time.monotonic() < deadline, "A's snapshot was never recorded"
            time.sleep(0.05)
        # a stream of A's (a subscription row while it is open)
        with c.stream("GET", "/api/codex/subscribe/notes/*", params={"query": "chat.conversations"}) as s:
            assert s.status_code == 200
            for line in s.iter_lines():
                if line.startswith("data: "):
                    break
        found = c.get("/api/search", params={"q": a["word"], "mode": "fts"}).json()["hits"]
        assert {h["document_id"] for h in found} == {a["doc"], a["doc2"]}


def _build_b(w: World) -> None:
    """B's own objects, for the cases that mix one of B's ids with one of A's."""
    b = w.b
    with w.client("b_all") as c:
        b["conv"] = mutate(c, "chat.create_conversation", {"title": "B's own"})["id"]
        b["msg"] = mutate(
            c, "chat.append_message", {"conversation_id": b["conv"], "role": "user", "text": "b"}
        )["id"]
        b["topic"] = mutate(c, "topics.ensure", {"slug": "b-only"})["id"]
        b["run"] = mutate(c, "processing.start_run", {"run_kind": "b-kind"})["id"]
        b["step"] = mutate(c, "processing.append_step", {"run_id": b["run"], "step_name": "b-step"})["id"]


def _a_ids(store: Store) -> frozenset[int]:
    """Every id of a row of tenant A in the seeded tables (and of A's search documents and chunks)."""
    ids: set[int] = set()
    with store.connect() as conn:
        for table in metadata.sorted_tables:
            if (
                is_tenant_owned(table)
                and "id" in table.c
                and table.dialect_options["sqlite"].get("autoincrement")
                and table.name != "codex_change_log"  # a change id is a position in the global log
            ):
                ids.update(
                    int(i)
                    for i in conn.execute(sa.select(table.c.id).where(table.c[TENANT_COLUMN] == A)).scalars()
                )
        docs, chunks = search_documents, search_document_chunks
        mine = sa.select(docs.c.id).where(docs.c.source_uri.like(f"{A}/%"))
        ids.update(int(i) for i in conn.execute(mine).scalars())
        ids.update(
            int(i)
            for i in conn.execute(sa.select(chunks.c.id).where(chunks.c.document_id.in_(mine))).scalars()
        )
        for usage in (usage_limit_definitions, usage_counter_snapshots):
            ids.update(
                int(i) for i in conn.execute(sa.select(usage.c.id).where(usage.c.scope_id == A)).scalars()
            )
    assert all(i >= 1_000_000 for i in ids), "a sequence was not seeded"
    return frozenset(ids)


def build_world(server: Server) -> World:
    """Seed distinctive id ranges, make the tokens, then A's and B's objects."""
    _seed_sequences(server.store)
    server.tokens.update(_tokens(server.store))
    w = World(server=server, mark=f"zq{uuid.uuid4().hex[:12]}")
    _build_a(w)
    _build_b(w)
    w.a_ids = _a_ids(server.store)
    assert len(w.a_ids) >= 15
    return w
