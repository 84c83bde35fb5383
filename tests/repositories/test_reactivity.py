"""Reactive bookkeeping: subscriptions, schema lineage, query snapshots and projection versions."""

from __future__ import annotations

import json

import pytest

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.reactivity import (
    KEEP_VERSIONS,
    ProjectionRepository,
    QuerySnapshotRepository,
    SchemaLineageRepository,
    canonical_json,
    snapshot_key,
)
from codex.repositories.subscriptions import SubscriptionRepository
from codex.schema import keccak256_hex
from codex.store import Store


class Boom(Exception):
    pass


# -- subscriptions ------------------------------------------------------------------------------
def test_subscription_upsert_get_list_delete(store: Store) -> None:
    with store.begin() as conn:
        subs = SubscriptionRepository(conn)
        first = subs.upsert("s1", "conversations/42", {"role": "user"}, "browser")
        subs.upsert("s2", "conversations/42")
        subs.upsert("s3", "usage/tokens", client_hint="cli")
        again = subs.upsert("s1", "search/documents", None, "tab-2")
    assert first.filter == {"role": "user"} and first.filter_json == '{"role":"user"}'
    assert (again.topic, again.filter_json, again.client_hint) == ("search/documents", None, "tab-2")
    assert again.created_at == first.created_at
    with store.connect() as conn:
        subs = SubscriptionRepository(conn)
        assert subs.get("s1") == again
        assert subs.get_one_or_none("nope") is None
        assert subs.exists("s2") and not subs.exists("nope")
        assert [s.id for s in subs.list()] == ["s1", "s2", "s3"]
        assert [s.id for s in subs.list("conversations/42")] == ["s2"]
        assert subs.count() == 3 and subs.count("usage/tokens") == 1
        assert len(subs.list(limit=2)) == 2
        with pytest.raises(NotFound):
            subs.get("nope")
    with store.begin() as conn:
        subs = SubscriptionRepository(conn)
        subs.delete("s2")
        with pytest.raises(NotFound):
            subs.delete("s2")
        assert [s.id for s in subs.list()] == ["s1", "s3"]
        # Not a live domain: nothing went to the change log.
        assert ChangeLogRepository(conn).head() == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "conversations/1"), "id"),
        (("x" * 257, "conversations/1"), "id"),
        (("s", "bad topic"), "topic"),
        (("s", "conversations/*"), "topic"),
        (("s", "conversations/1", None, "h" * 1025), "client_hint"),
    ],
)
def test_subscription_refuses_bad_values(store: Store, args: tuple[object, ...], field: str) -> None:
    with store.begin() as conn:
        with pytest.raises(InvalidInput) as info:
            SubscriptionRepository(conn).upsert(*args)  # type: ignore[arg-type]
        assert info.value.details["field"] == field
        with pytest.raises(InvalidInput):
            SubscriptionRepository(conn).upsert("s", "t", {1, 2})  # a set is not JSON
        assert SubscriptionRepository(conn).count() == 0


def test_subscription_upsert_many(store: Store) -> None:
    with store.begin() as conn:
        subs = SubscriptionRepository(conn)
        assert subs.upsert_many([]) == 0
        written = subs.upsert_many([(f"s{i}", f"topics/{i % 3}", {"i": i}, None) for i in range(10)])
        assert written == 10
        subs.upsert_many([("s0", "audit", None, "moved")])
        with pytest.raises(InvalidInput):
            subs.upsert_many([("s20", "audit", None, None), ("s21", "bad topic", None, None)])
    with store.connect() as conn:
        subs = SubscriptionRepository(conn)
        assert subs.count() == 10 and subs.count("topics/1") == 3
        assert (subs.get("s0").topic, subs.get("s0").client_hint) == ("audit", "moved")
        assert subs.get("s5").filter == {"i": 5}
        assert not subs.exists("s20")


def test_subscription_writes_refuse_a_read_connection(store: Store) -> None:
    with store.connect() as conn, pytest.raises(InvalidInput):
        SubscriptionRepository(conn).upsert("s", "audit")


def test_subscription_rollback(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        SubscriptionRepository(conn).upsert("s", "audit")
        raise Boom
    with store.connect() as conn:
        assert SubscriptionRepository(conn).count() == 0


# -- schema lineage -------------------------------------------------------------------------------
def test_lineage_record_and_list(store: Store) -> None:
    digest = keccak256_hex("schema")
    with store.begin() as conn:
        lineage = SchemaLineageRepository(conn)
        assert lineage.latest() is None
        first = lineage.record("v17", digest, "baseline")
        second = lineage.record("v17", digest)
        third = lineage.record("import-2026-03", digest, "legacy export vox.db")
    assert first < second < third
    with store.connect() as conn:
        lineage = SchemaLineageRepository(conn)
        rows = lineage.list()
        assert [r.id for r in rows] == [first, second, third]
        assert (rows[0].baseline_id, rows[0].schema_digest, rows[0].provenance) == ("v17", digest, "baseline")
        assert rows[1].provenance is None
        assert [r.id for r in lineage.list("v17")] == [first, second]
        assert lineage.get(third).baseline_id == "import-2026-03"
        assert lineage.latest() == lineage.get(third)
        assert lineage.latest("v17") == lineage.get(second)
        with pytest.raises(NotFound):
            lineage.get(999)


def test_lineage_refuses_bad_values(store: Store) -> None:
    with store.begin() as conn:
        lineage = SchemaLineageRepository(conn)
        with pytest.raises(InvalidInput):
            lineage.record("", "0x00")
        with pytest.raises(InvalidInput):
            lineage.record("v17", "")
        with pytest.raises(InvalidInput):
            lineage.record("v17", "0x00", 42)  # type: ignore[arg-type]
        assert lineage.list() == []


def test_lineage_rollback(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        SchemaLineageRepository(conn).record("v17", "0x00")
        raise Boom
    with store.connect() as conn:
        assert SchemaLineageRepository(conn).list() == []


# -- query snapshots ----------------------------------------------------------------------------
def test_canonical_json() -> None:
    assert canonical_json({"b": [1, {"d": 1, "c": 2}], "a": "é"}) == '{"a":"é","b":[1,{"c":2,"d":1}]}'
    with pytest.raises(InvalidInput):
        canonical_json(float("nan"))
    with pytest.raises(InvalidInput):
        canonical_json({"x": object()})


def test_snapshot_save_get_latest(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        assert snaps.latest("top") is None
        first = snaps.save("top", {"rows": [1, 2], "count": 2})
        second = snaps.save("top", {"count": 3, "rows": [1, 2, 3]})
        snaps.save("other", [])
    text = '{"count":2,"rows":[1,2]}'
    assert first.snapshot_json == text and first.digest == keccak256_hex(text)
    assert first.digest.startswith("0x") and len(first.digest) == 66
    assert len(first.id) == 32 and int(first.id, 16) >= 0 and first.id != second.id
    assert first.result == {"count": 2, "rows": [1, 2]}
    with store.connect() as conn:
        snaps = QuerySnapshotRepository(conn)
        # Same created_at second: insertion order breaks the tie.
        assert snaps.latest("top") == second
        assert snaps.get(first.id) == first
        assert [s.id for s in snaps.list("top")] == [second.id, first.id]
        assert snaps.latest("missing") is None
        with pytest.raises(NotFound):
            snaps.get("nope")


def test_snapshot_latest_prefers_newer_created_at(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        older = snaps.save("q", 1)
        newer = snaps.save("q", 2)
        # Backdate the second-inserted row: created_at, not insertion order, decides first.
        conn.exec_driver_sql(
            "UPDATE codex_query_snapshots SET created_at = '2000-01-01 00:00:00' WHERE id = ?", (newer.id,)
        )
        assert snaps.latest("q") == older


def test_snapshot_refuses_bad_values(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        with pytest.raises(InvalidInput):
            snaps.save("", {})
        with pytest.raises(InvalidInput):
            snaps.save("q", {"x": float("inf")})
        assert snaps.list("q") == []


# -- projections ----------------------------------------------------------------------------------
def test_projection_current_bump_history(store: Store) -> None:
    with store.begin() as conn:
        proj = ProjectionRepository(conn)
        assert proj.current("feed") == 0
        assert [proj.bump("feed") for _ in range(3)] == [1, 2, 3]
        assert proj.bump("other") == 1
        with pytest.raises(InvalidInput):
            proj.bump("")
    with store.connect() as conn:
        proj = ProjectionRepository(conn)
        assert proj.current("feed") == 3 and proj.current("missing") == 0
        assert [v.version for v in proj.history("feed")] == [3, 2, 1]
        assert [(v.projection_name, v.version) for v in proj.list()] == [("feed", 3), ("other", 1)]


def test_projection_rollback(store: Store) -> None:
    with store.begin() as conn:
        ProjectionRepository(conn).bump("feed")
    with pytest.raises(Boom), store.begin() as conn:
        ProjectionRepository(conn).bump("feed")
        raise Boom
    with store.connect() as conn:
        assert ProjectionRepository(conn).current("feed") == 1


# -- record_result --------------------------------------------------------------------------------
def test_record_result_bumps_only_on_change(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        first = snaps.record_result("top", {"a": 1, "b": 2})
        same = snaps.record_result("top", {"b": 2, "a": 1})  # same canonical JSON
        changed = snaps.record_result("top", {"a": 1, "b": 3})
        back = snaps.record_result("top", {"a": 1, "b": 2})  # differs from the LATEST: a change
        custom = snaps.record_result("other", [1], projection="feed")
    assert (first.version, first.changed) == (1, True)
    snapshot, version, was_changed = same
    assert (snapshot, version, was_changed) == (first.snapshot, 1, False)
    assert (changed.version, changed.changed) == (2, True)
    assert (back.version, back.changed) == (3, True) and back.snapshot.digest == first.snapshot.digest
    assert (custom.version, custom.changed) == (1, True)
    with store.connect() as conn:
        assert len(QuerySnapshotRepository(conn).list("top")) == 3
        proj = ProjectionRepository(conn)
        assert (proj.current("top"), proj.current("feed"), proj.current("other")) == (3, 1, 0)
        assert json.loads(QuerySnapshotRepository(conn).latest("top").snapshot_json) == {"a": 1, "b": 2}  # type: ignore[union-attr]


def test_record_result_rollback_and_read_only(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        QuerySnapshotRepository(conn).record_result("top", {"a": 1})
        raise Boom
    with store.connect() as conn:
        assert QuerySnapshotRepository(conn).latest("top") is None
        assert ProjectionRepository(conn).current("top") == 0
        with pytest.raises(InvalidInput):
            QuerySnapshotRepository(conn).record_result("top", {"a": 1})


# -- snapshot keys, pruning -----------------------------------------------------------------------
def test_snapshot_key_is_canonical() -> None:
    assert (
        snapshot_key("changes.since", {"limit": 5, "after_id": 0}) == 'changes.since?{"after_id":0,"limit":5}'
    )
    assert snapshot_key("q", {"b": [1, {"y": 1, "x": 2}], "a": None}) == snapshot_key(
        "q", {"a": None, "b": [1, {"x": 2, "y": 1}]}
    )
    assert snapshot_key("q") == snapshot_key("q", {}) == "q?{}"
    assert snapshot_key("q", {"limit": 1}) != snapshot_key("q", {"limit": 2})
    long_a, long_b = snapshot_key("q", {"t": "a" * 600}), snapshot_key("q", {"t": "b" * 600})
    assert long_a.startswith("q?keccak256:0x") and len(long_a) < 100 and long_a != long_b
    with pytest.raises(InvalidInput):
        snapshot_key("", {})
    with pytest.raises(InvalidInput):
        snapshot_key("q", {"x": float("nan")})


def test_alternating_parameter_sets_record_each_result_once(store: Store) -> None:
    one, two = snapshot_key("top", {"limit": 1}), snapshot_key("top", {"limit": 2})
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        first = [snaps.record_result(key, {"key": key}) for key in (one, two)]
        again = [snaps.record_result(key, {"key": key}) for key in (one, two, one, two, one)]
    assert [(r.version, r.changed) for r in first] == [(1, True), (1, True)]
    assert [(r.version, r.changed) for r in again] == [(1, False)] * 5
    with store.connect() as conn:
        snaps, proj = QuerySnapshotRepository(conn), ProjectionRepository(conn)
        assert len(snaps.list(one)) == len(snaps.list(two)) == 1
        assert proj.current(one) == proj.current(two) == 1
        assert snaps.latest(one).result == {"key": one}  # type: ignore[union-attr]
        # The upstream read: the newest of any parameter set of the query.
        assert snaps.latest_of_query("top") == snaps.latest(two)
        assert snaps.latest_of_query("to") is None and snaps.latest_of_query("top?") is None


def test_record_result_prunes_to_the_last_k(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        for i in range(1, 6):
            snaps.record_result("q?{}", {"i": i}, keep=3)
        snaps.record_result("other?{}", 0, keep=3)
        with pytest.raises(InvalidInput):
            snaps.record_result("q?{}", 1, keep=0)
    with store.connect() as conn:
        snaps, proj = QuerySnapshotRepository(conn), ProjectionRepository(conn)
        assert [s.result for s in snaps.list("q?{}")] == [{"i": 5}, {"i": 4}, {"i": 3}]
        assert [v.version for v in proj.history("q?{}")] == [5, 4, 3]
        assert proj.current("q?{}") == 5 and len(snaps.list("other?{}")) == 1
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        for i in range(KEEP_VERSIONS + 5):
            recorded = snaps.record_result("hot?{}", i)
        assert recorded.version == KEEP_VERSIONS + 5
        assert len(snaps.list("hot?{}", limit=1000)) == KEEP_VERSIONS
        assert len(ProjectionRepository(conn).history("hot?{}")) == KEEP_VERSIONS
        # Pruning never touches the newest: the next change continues the sequence.
        assert snaps.record_result("hot?{}", "new").version == KEEP_VERSIONS + 6


# -- tenant isolation -----------------------------------------------------------------------------
def test_subscriptions_are_scoped_to_their_tenant(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        subs = SubscriptionRepository(conn)
        subs.upsert("a1", "notes/1", {"x": 1}, "sse")
        subs.upsert_many([("a2", "notes/2", None, "websocket"), ("a3", "audit", None, None)])
    with store.begin(tenant="b") as conn:
        subs = SubscriptionRepository(conn)
        subs.upsert("b1", "notes/1")
        assert [s.id for s in subs.list()] == ["b1"] and subs.list("notes/1")[0].id == "b1"
        assert subs.count() == 1 and subs.count("notes/2") == 0
        assert subs.get_one_or_none("a1") is None and not subs.exists("a1")
        with pytest.raises(NotFound):
            subs.get("a1")
        with pytest.raises(NotFound):
            subs.delete("a1")
        assert subs.delete_many(["a1", "a2", "b-none"]) == 0
        # The id is the whole primary key: B cannot take over A's row, and it is left unchanged.
        with pytest.raises(Conflict):
            subs.upsert("a1", "stolen", {"by": "b"})
        subs.upsert_many([("a2", "stolen", None, None)])  # skipped silently
        assert subs.count() == 1
    with store.connect(tenant="a") as conn:
        subs = SubscriptionRepository(conn)
        assert [(s.id, s.topic) for s in subs.list()] == [
            ("a1", "notes/1"),
            ("a2", "notes/2"),
            ("a3", "audit"),
        ]
        assert subs.get("a1").filter == {"x": 1}
    with store.connect() as conn:
        assert SubscriptionRepository(conn).count() == 0  # tenant ``default`` is an ordinary tenant
        every = SubscriptionRepository.unscoped(conn)
        assert every.count() == 4 and every.exists("a1") and every.exists("b1")
    with store.begin(tenant="a") as conn:
        assert SubscriptionRepository(conn).delete_many(["a2", "b1"]) == 1
    with store.connect() as conn:
        assert sorted(s.id for s in SubscriptionRepository.unscoped(conn).list()) == ["a1", "a3", "b1"]


def test_sweeping_is_operator_housekeeping_over_every_tenant(store: Store) -> None:
    with store.begin() as conn:
        SubscriptionRepository.unscoped(conn).heartbeat("live")
    with store.begin(tenant="a") as conn:
        subs = SubscriptionRepository(conn)
        subs.upsert("a-live", "notes", {"server": "live"}, "sse")
        subs.upsert("a-dead", "notes", {"server": "gone"}, "websocket")
        subs.upsert("a-mine", "notes", None, "library")  # not the service's: never swept
    with store.begin(tenant="b") as conn:
        SubscriptionRepository(conn).upsert("b-dead", "notes", {"server": "gone"}, "sse")
        SubscriptionRepository(conn).upsert("b-live", "notes", {"server": "live"}, "sse")
    with store.connect() as conn:
        assert SubscriptionRepository.unscoped(conn).dead_rows(60) == 2
    with store.connect(tenant="b") as conn:
        # A tenant's form sees only its own rows and heartbeats (it has none: both rows count).
        assert SubscriptionRepository(conn).dead_rows(60) == 2
    with store.begin() as conn:
        every = SubscriptionRepository.unscoped(conn)
        assert every.sweep(60) == 2
        assert sorted(s.id for s in every.list()) == ["a-live", "a-mine", "b-live", "server:live"]
        assert every.forget_server("live") == 3
        assert [s.id for s in every.list()] == ["a-mine"]


def test_snapshots_and_projections_are_per_tenant(store: Store) -> None:
    key = snapshot_key("chat.conversations", {"limit": 50})
    with store.begin(tenant="a") as conn:
        mine = QuerySnapshotRepository(conn).record_result(key, ["a's"])
        QuerySnapshotRepository(conn).record_result(key, ["a's", "second"])
    with store.begin(tenant="b") as conn:
        snaps = QuerySnapshotRepository(conn)
        assert snaps.latest(key) is None and snaps.latest_of_query("chat.conversations") is None
        assert snaps.list(key) == [] and ProjectionRepository(conn).current(key) == 0
        with pytest.raises(NotFound):
            snaps.get(mine.snapshot.id)
        # The same key in another tenant: its own sequence (no collision with A's versions), and
        # the same result as A's earlier one is still a change for B.
        theirs = snaps.record_result(key, ["a's"])
        assert (theirs.version, theirs.changed) == (1, True)
        assert ProjectionRepository(conn).bump("feed") == 1
    with store.begin(tenant="a") as conn:
        assert ProjectionRepository(conn).bump("feed") == 1
        assert QuerySnapshotRepository(conn).latest(key).result == ["a's", "second"]  # type: ignore[union-attr]
        proj = ProjectionRepository(conn)
        assert [(v.projection_name, v.version) for v in proj.list()] == [(key, 2), ("feed", 1)]
        assert [v.version for v in proj.history(key)] == [2, 1]
    with store.connect(tenant="b") as conn:
        proj = ProjectionRepository(conn)
        assert [(v.projection_name, v.version) for v in proj.list()] == [(key, 1), ("feed", 1)]
        assert [s.result for s in QuerySnapshotRepository(conn).list(key)] == [["a's"]]
    with store.connect() as conn:
        assert QuerySnapshotRepository(conn).latest(key) is None  # tenant ``default``
        assert len(ProjectionRepository.unscoped(conn).list()) == 4
        assert len(QuerySnapshotRepository.unscoped(conn).list(key)) == 3


def test_latest_with_version_is_latest_and_current_in_one_read(store: Store) -> None:
    with store.begin(tenant="t1") as conn:
        snaps = QuerySnapshotRepository(conn)
        assert snaps.latest_with_version("q?{}") == (None, 0, ChangeLogRepository(conn).head())
        snaps.record_result("q?{}", [1])
        snaps.record_result("q?{}", [2])
    with store.begin(tenant="t2") as conn:  # another tenant's versions and snapshots never count
        for n in range(3):
            QuerySnapshotRepository(conn).record_result("q?{}", [n, "other"])
    with store.begin(tenant="t1") as conn:
        ChangeLogRepository(conn).append("t/x", "insert")
    with store.connect(tenant="t1") as conn:
        latest, version, head = QuerySnapshotRepository(conn).latest_with_version("q?{}")
        assert latest == QuerySnapshotRepository(conn).latest("q?{}")
        assert latest is not None and latest.result == [2]
        assert version == ProjectionRepository(conn).current("q?{}") == 2
        assert head == ChangeLogRepository(conn).head() > 0


def test_record_results_records_a_round_like_record_result_one_by_one(store: Store) -> None:
    with store.begin(tenant="t1") as conn:
        snaps = QuerySnapshotRepository(conn)
        snaps.record_result("k1", [1])
        assert snaps.record_results({"k1": [1], "k2": [2], "k3": [3]}) == ["k2", "k3"]  # k1 is unchanged
        assert snaps.record_results({"k1": [9], "k2": [2]}) == ["k1"]
        assert snaps.record_results({}) == []
    with store.begin(tenant="t2") as conn:  # another tenant's keys of the same names are its own
        assert QuerySnapshotRepository(conn).record_results({"k1": [1]}) == ["k1"]
    with store.connect(tenant="t1") as conn:
        snaps, versions = QuerySnapshotRepository(conn), ProjectionRepository(conn)
        assert [(k, versions.current(k)) for k in ("k1", "k2", "k3")] == [("k1", 2), ("k2", 1), ("k3", 1)]
        latest = snaps.latest("k1")
        assert latest is not None and latest.result == [9]
    with store.begin(tenant="t1") as conn:
        snaps = QuerySnapshotRepository(conn)
        for n in range(4):
            snaps.record_results({"k2": [n, "x"]}, keep=2)
        assert len(snaps.list("k2")) == 2
        assert [v.version for v in ProjectionRepository(conn).history("k2")] == [5, 4]
