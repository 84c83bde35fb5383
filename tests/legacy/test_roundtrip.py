"""Legacy export → fresh database → import: every row of every exported table survives, on a file and on sqld."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb, MemoryDb, ReplicaDb
from codex.engine import make_engine
from codex.errors import ConfigError, SchemaError
from codex.legacy import (
    LEGACY_EXPORT_TABLES,
    export_database,
    import_legacy,
    inspect_database,
    open_legacy_engine,
    read_snapshot,
)
from codex.store import open_store
from tests.conftest import wipe
from tests.legacy._data import LARGE_TEXT, build_legacy, snapshot

N_LOCAL = 8


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_every_row_of_every_table_on_a_local_file(tmp_path: Path) -> None:
    legacy = LocalDb(path=str(tmp_path / "legacy.db"))
    build_legacy(legacy, N_LOCAL, large=True)
    source = make_engine(legacy, wal=False)
    expected = snapshot(source)
    source.dispose()
    assert all(len(rows) == N_LOCAL for rows in expected.values()) and len(expected) == 41
    before = _sha(tmp_path / "legacy.db")

    out = tmp_path / "rows.jsonl"
    report = export_database(legacy, out)

    assert _sha(tmp_path / "legacy.db") == before  # export never changes its source (no WAL switch)
    assert not (tmp_path / "legacy.db-wal").exists()
    assert report.total == 41 * N_LOCAL and report.skipped == {}
    assert list(report.rows) == list(LEGACY_EXPORT_TABLES)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 41 * N_LOCAL
    records = [json.loads(line) for line in lines]
    order = [r["table"] for r in records]
    assert order == [t for t in LEGACY_EXPORT_TABLES for _ in range(N_LOCAL)]
    objects = next(r for r in records if r["table"] == "objects")
    assert objects["columns"] == ["hash", "kind", "data", "created_at"]
    assert (
        objects["row"]["data"]
        == "base64:" + base64.b64encode(bytes([0xFF, 0xFE, 0x00, 0x80, 0xC3, 0]) + bytes(4)).decode()
    )
    assert any(r["row"].get("content") == LARGE_TEXT for r in records if r["table"] == "memories")

    target = open_store(LocalDb(path=str(tmp_path / "fresh.db")))
    try:
        imported = import_legacy(target, out)
        assert imported.total == 41 * N_LOCAL and imported.unknown_tables == {} and imported.dangling == {}
        assert imported.rows == {t: N_LOCAL for t in LEGACY_EXPORT_TABLES}
        got = snapshot(target.engine)
        for table in LEGACY_EXPORT_TABLES:
            assert got[table] == expected[table], table
        with target.connect() as conn:
            status = inspect_database(conn)
            fts = conn.exec_driver_sql(
                "SELECT count(*) FROM search_chunks_fts WHERE search_chunks_fts MATCH 'quoted'"
            ).scalar()
            leases = conn.exec_driver_sql("SELECT count(*) FROM search_job_leases").scalar()
        assert status.ok and status.has_alembic and not status.legacy_chain
        assert fts == sum(1 for r in expected["search_document_chunks"] if "quoted" in str(r[6]))
        assert fts and leases == N_LOCAL
        assert imported.refreshed == ["search_chunks_fts", "search_job_leases"]
    finally:
        target.dispose()
    assert not Path(str(out) + ".progress").exists()


def test_round_trip_on_each_backend(db_config: DbConfig, backend: str, tmp_path: Path) -> None:
    build_legacy(db_config, 3)
    engine = make_engine(db_config, wal=False)
    expected = snapshot(engine)
    with engine.connect() as conn:
        status = inspect_database(conn)
    assert status.legacy_chain and status.multi_version_chain and status.schema_version == 3
    out = tmp_path / "rows.jsonl"
    assert export_database(db_config, out).total == 41 * 3
    if backend == "local":
        target_config = LocalDb(path=str(tmp_path / "fresh.db"))
    else:  # the upstream sequence on one server: export, start a fresh database, import
        wipe(engine)
        target_config = db_config
    engine.dispose()
    target = open_store(target_config)
    try:
        assert import_legacy(target, out, batch_size=50).total == 41 * 3
        assert snapshot(target.engine) == expected
    finally:
        target.dispose()


def test_export_refuses_a_missing_path_instead_of_creating_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "vox.db"
    with pytest.raises(ConfigError, match="refusing to create"):
        export_database(LocalDb(path=str(missing)), tmp_path / "rows.jsonl")
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "rows.jsonl").exists()


@pytest.mark.parametrize("config", [MemoryDb(), ReplicaDb(url="http://127.0.0.1:1", token="t", path="x.db")])
def test_export_refuses_memory_and_replicas(config: DbConfig) -> None:
    with pytest.raises(ConfigError):
        open_legacy_engine(config)


def test_a_legacy_chain_is_refused_as_import_target_and_readable_for_export(tmp_path: Path) -> None:
    legacy = LocalDb(path=str(tmp_path / "legacy.db"))
    build_legacy(legacy, 2)
    with pytest.raises(SchemaError, match="legacy export"):
        open_store(legacy)
    engine = open_legacy_engine(legacy)
    try:
        with read_snapshot(engine) as conn:
            status = inspect_database(conn)
    finally:
        engine.dispose()
    assert status.schema_version == 3 and status.version_rows == 3
    assert status.legacy_chain and not status.has_alembic and not status.ok
    assert (
        status.reactivity_tables_ok and status.remedy is not None and "codex legacy import" in status.remedy
    )
    assert status.lines()[:3] == [
        "schema_version: 3",
        "codex_reactivity_tables_ok (manifest): true",
        "legacy_multi_version_chain: true",
    ]


def test_a_database_without_reactivity_tables_is_reported(tmp_path: Path) -> None:
    engine = make_engine(LocalDb(path=str(tmp_path / "old.db")))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO schema_version VALUES (1)")
        conn.exec_driver_sql("CREATE TABLE codex_change_log (id INTEGER PRIMARY KEY)")
        status = inspect_database(conn)
    engine.dispose()
    assert status.ok and not status.multi_version_chain and status.schema_version == 1
    assert not status.reactivity_tables_ok
    assert status.missing_reactivity_tables == (
        "codex_subscriptions",
        "codex_schema_lineage",
        "codex_query_snapshots",
        "codex_projection_versions",
    )


def _rows_of(records: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r["table"]] = counts.get(r["table"], 0) + 1
    return counts
