"""Retention of the change log and the query snapshots: the policy, the pruner and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codex.cli import app
from codex.config import LocalDb
from codex.errors import CursorExpired, InvalidInput
from codex.reactive.feed import read_changes
from codex.reactive.retention import RetentionPolicy, parse_duration, prune
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.reactivity import QuerySnapshotRepository
from codex.store import Store, open_store


def _append(store: Store, n: int, tenant: str = "t1") -> list[int]:
    with store.begin(tenant=tenant) as conn:
        log = ChangeLogRepository(conn)
        return [log.append(f"r/{i}", "insert", payload=i) for i in range(n)]


def _age(store: Store, ids: list[int], seconds: int) -> None:
    with store.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE codex_change_log SET created_at = datetime('now', '-{seconds} seconds') "
            f"WHERE id BETWEEN {min(ids)} AND {max(ids)}"
        )


def test_keep_last_prunes_oldest_first_and_reports_the_edge(store: Store) -> None:
    ids = _append(store, 30)
    report = prune(store, RetentionPolicy(keep_last=10), batch=7)  # several short transactions
    assert (report.changes_deleted, report.oldest, report.head) == (20, ids[20], ids[-1])
    with store.connect() as conn:
        assert [r.id for r in ChangeLogRepository(conn, "t1").since(0)] == ids[20:]
        tenants = conn.exec_driver_sql("SELECT tenant_id, COUNT(*) FROM codex_change_log GROUP BY 1").all()
        assert [tuple(t) for t in tenants] == [("t1", 10)]  # the rows kept keep their tenant
        # the edge resumes without a gap; one older is refused, naming the oldest
        assert [r.id for r in read_changes(conn, ids[19], check_edge=True)] == ids[20:]
        with pytest.raises(CursorExpired) as caught:
            read_changes(conn, ids[18], check_edge=True)
        assert caught.value.oldest == ids[20] and caught.value.to_dict()["error"] == "CursorExpired"
    assert prune(store, RetentionPolicy(keep_last=10)).changes_deleted == 0  # idempotent


def test_older_than_and_both_limits(store: Store) -> None:
    old = _append(store, 10)
    new = _append(store, 5)
    _age(store, old, 7200)
    # both limits: keep the last 12 AND everything younger than an hour -> only 3 old rows go
    report = prune(store, RetentionPolicy(keep_last=12, older_than_seconds=3600))
    assert report.changes_deleted == 3 and report.oldest == old[3]
    report = prune(store, RetentionPolicy(older_than_seconds=3600))
    assert report.changes_deleted == 7 and report.oldest == new[0]


def test_pruning_everything_keeps_the_head_and_the_edge(store: Store) -> None:
    ids = _append(store, 5)
    report = prune(store, RetentionPolicy(keep_last=0))
    assert (report.changes_deleted, report.oldest, report.head) == (5, ids[-1] + 1, ids[-1])
    with store.connect() as conn:
        assert read_changes(conn, ids[-1], check_edge=True) == []  # at the edge: fine
        with pytest.raises(CursorExpired):
            read_changes(conn, 0, check_edge=True)
    assert _append(store, 1) == [ids[-1] + 1]  # ids never go back


def test_snapshots_keep_the_newest_per_query(store: Store) -> None:
    with store.begin() as conn:
        snaps = QuerySnapshotRepository(conn)
        for i in range(4):
            snaps.record_result("a", {"v": i})
        for i in range(2):
            snaps.record_result("b", {"v": i})
        conn.exec_driver_sql("UPDATE codex_query_snapshots SET created_at = datetime('now', '-2 days')")
    report = prune(store, RetentionPolicy(keep_last=2))
    assert report.snapshots_deleted == 2
    report = prune(store, RetentionPolicy(older_than_seconds=86400))
    assert report.snapshots_deleted == 2
    with store.connect() as conn:
        snaps = QuerySnapshotRepository(conn)
        assert [s.result for s in snaps.list("a")] == [{"v": 3}]
        assert [s.result for s in snaps.list("b")] == [{"v": 1}]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("45s", 45.0), ("15m", 900.0), ("36h", 129600.0), ("2w", 1209600.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "x", "-1d", "3y", "1d2h", "1e3"])
def test_bad_durations_and_policies_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(bad)
    with pytest.raises(InvalidInput):
        RetentionPolicy(keep_last=-1)


def test_cli_prunes_and_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VOX_DB_PATH", str(tmp_path / "codex.db"))
    store = open_store(LocalDb(path=str(tmp_path / "codex.db")))
    ids = _append(store, 12)
    runner = CliRunner()
    try:
        done = runner.invoke(app, ["changes", "prune", "--keep-last", "4"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == {
            "changes_deleted": 8,
            "snapshots_deleted": 0,
            "oldest": ids[8],
            "head": ids[-1],
        }
        for args, needle in (
            ([], "--keep-last"),
            (["--older-than", "soon"], "invalid duration"),
            (["--keep-last", "-3"], "keep-last"),
        ):
            refused = runner.invoke(app, ["changes", "prune", *args])
            assert refused.exit_code == 2 and needle in refused.output, refused.output
    finally:
        store.dispose()
