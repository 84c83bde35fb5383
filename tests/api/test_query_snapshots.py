"""Named queries are reads: keyed snapshots, recorded only on change, and no wait on the write lock."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from codex.config import LocalDb
from codex.repositories.reactivity import ProjectionRepository, QuerySnapshotRepository, snapshot_key
from tests.api.conftest import Server, start_server

QUERY = "/api/codex/query/changes.since"


def _params(limit: int) -> dict[str, Any]:
    """``changes.since``'s parameters with its defaults filled in, as the server keys them."""
    return {"after_id": 0, "topic": "*", "limit": limit}


def _until_recorded(c: httpx.Client, params: dict[str, Any], digest: str) -> dict[str, Any]:
    """The latest snapshot of one parameter set once it carries ``digest`` (a background recorder writes)."""
    deadline = time.monotonic() + 10
    while True:
        latest = c.get(f"{QUERY}/latest", params=params)
        if latest.status_code == 200 and latest.json()["digest"] == digest:
            return dict(latest.json())
        assert time.monotonic() < deadline, latest.text
        time.sleep(0.05)


def _stored(server: Server, tenant: str, key: str) -> tuple[int, int]:
    """(snapshots, projection versions) stored for ``key`` in ``tenant``."""
    with server.store.connect(tenant=tenant) as conn:
        snapshots = len(QuerySnapshotRepository(conn).list(key, limit=1000))
        versions = len(ProjectionRepository(conn).history(key))
    return snapshots, versions


def test_alternating_parameter_sets_record_each_result_once(server: Server) -> None:
    with server.client("a_all") as c, server.client("b_all") as b:
        for topic in ("notes/1", "notes/2"):
            r = c.post("/api/codex/mutate/change", json={"topic": topic, "change_kind": "insert"})
            assert r.status_code == 200, r.text
        answers = [c.get(QUERY, params={"limit": limit}).json() for limit in (1, 2, 1, 2, 1, 2)]
        one, two = answers[0], answers[1]
        assert len(one["result"]) == 1 and len(two["result"]) == 2 and one["digest"] != two["digest"]
        assert all(a["version"] == 1 for a in answers), answers
        assert [a["digest"] for a in answers] == [one["digest"], two["digest"]] * 3
        assert _until_recorded(c, {"limit": 1}, one["digest"])["snapshot_json"] == one["result"]
        assert _until_recorded(c, {"limit": 2}, two["digest"])["snapshot_json"] == two["result"]
        # Once recorded, alternating again writes nothing: same digest per key, same version.
        again = [c.get(QUERY, params={"limit": limit}).json() for limit in (1, 2, 1, 2)]
        assert [(a["digest"], a["version"]) for a in again] == [(one["digest"], 1), (two["digest"], 1)] * 2
        time.sleep(0.3)  # a few recorder rounds
        for limit in (1, 2):
            assert _stored(server, "tenant-a", snapshot_key("changes.since", _params(limit))) == (1, 1)
        # An omitted parameter and its default share one key.
        assert c.get(QUERY, params={"limit": 100}).json()["version"] == 1
        default = c.get(QUERY).json()
        _until_recorded(c, {"limit": 100}, default["digest"])
        assert c.get(QUERY).json()["version"] == 1
        time.sleep(0.3)
        assert _stored(server, "tenant-a", snapshot_key("changes.since", _params(100))) == (1, 1)
        # /latest without a query string: the newest of any parameter set (the upstream read).
        assert c.get(f"{QUERY}/latest").status_code == 200
        assert c.get(f"{QUERY}/latest", params={"limit": "abc"}).status_code == 422
        # Snapshots are the tenant's: B has none of A's keys.
        assert b.get(f"{QUERY}/latest", params={"limit": 1}).status_code == 404
        assert b.get(f"{QUERY}/latest").status_code == 404
        assert _stored(server, "tenant-b", snapshot_key("changes.since", _params(1))) == (0, 0)


def test_named_query_answers_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "codex.db"
    server = start_server(LocalDb(path=str(path)), tmp_path)
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with server.client("a_all") as c:
            r = c.post("/api/codex/mutate/change", json={"topic": "notes/1", "change_kind": "insert"})
            assert r.status_code == 200, r.text
            notes = {"topic": "notes/*"}
            assert c.get(QUERY, params=notes).status_code == 200  # warm: connections open, snapshot offered
            time.sleep(0.3)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held by another connection
            holder.execute("INSERT INTO codex_subscriptions (id, topic) VALUES ('lock-holder', 'audit')")
            for params in (notes, {**notes, "limit": 1}):  # a recorded key, and a new one (offered only)
                # A read that needed the write lock would wait for it, then answer 503 (busy): a 200
                # while the lock is held is the proof, with no clock involved.
                r = c.get(QUERY, params=params)
                assert r.status_code == 200, r.text
                assert [row["topic"] for row in r.json()["result"]] == ["notes/1"]
            holder.execute("ROLLBACK")
            # The offered snapshot lands once the lock is free.
            recorded = _until_recorded(c, {**notes, "limit": 1}, r.json()["digest"])
            assert recorded["snapshot_json"] == r.json()["result"]
    finally:
        holder.close()
        server.stop()
        server.store.dispose()
