"""Legacy import: batches, line-numbered errors, resume, value mapping, unknown tables, foreign keys off."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb
from codex.engine import make_engine
from codex.legacy import (
    LegacyFormatError,
    LegacyImportError,
    ProgressMarker,
    export_database,
    import_legacy,
    progress_path_for,
)
from codex.store import Store, open_store
from domains import metadata
from tests.legacy._data import build_legacy, snapshot


@pytest.fixture
def target(db_config: DbConfig) -> Iterator[Store]:
    """A fresh database at head on the requested backend (local file or sqld)."""
    store = open_store(db_config)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def local_target(tmp_path: Path) -> Iterator[Store]:
    store = open_store(LocalDb(path=str(tmp_path / "target.db")))
    try:
        yield store
    finally:
        store.dispose()


def write_lines(path: Path, records: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def user(uid: str, name: str | None = "n", **extra: Any) -> dict[str, Any]:
    return {"table": "users", "columns": [], "row": {"id": uid, "display_name": name, **extra}}


def scalar(store: Store, sql: str, *params: Any) -> Any:
    with store.connect() as conn:
        return conn.exec_driver_sql(sql, params).scalar()


def pk_of(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table = metadata.tables[record["table"]]
    return record["table"], {c.name: record["row"][c.name] for c in table.primary_key.columns}


def present(store: Store, record: dict[str, Any]) -> bool:
    table, key = pk_of(record)
    where = " AND ".join(f'"{k}" IS ?' for k in key)
    return bool(scalar(store, f'SELECT count(*) FROM "{table}" WHERE {where}', *key.values()))


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, dict[str, list[tuple[Any, ...]]]]:
    """A legacy file (4 rows in every table) exported to JSONL, with its expected snapshot."""
    legacy = LocalDb(path=str(tmp_path / "legacy.db"))
    build_legacy(legacy, 4)
    engine = make_engine(legacy, wal=False)
    expected = snapshot(engine)
    engine.dispose()
    out = tmp_path / "rows.jsonl"
    export_database(legacy, out)
    return out, expected


def test_malformed_line_is_reported_by_file_line_its_batch_not_written_and_resume_completes(
    local_target: Store, exported: tuple[Path, dict[str, list[tuple[Any, ...]]]]
) -> None:
    out, expected = exported
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 164
    good = lines[24]
    lines[24] = good[: len(good) // 2]  # line 25: truncated mid-object
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(LegacyFormatError) as info:
        import_legacy(local_target, out, batch_size=10)
    assert info.value.line == 25
    assert info.value.details["last_committed_line"] == 20
    assert "line 25: not valid JSON" in info.value.message and "--resume" in info.value.message
    records = [json.loads(line) for line in lines[:24]]
    assert all(present(local_target, r) for r in records[:20])  # earlier batches are kept
    assert not any(present(local_target, r) for r in records[20:24])  # nothing of batch 21-30
    marker = ProgressMarker.load(progress_path_for(out))
    assert marker is not None and marker.last_committed_line == 20 and sum(marker.rows.values()) == 20

    lines[24] = good
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_legacy(local_target, out, batch_size=10, resume=True)
    assert report.resumed and report.start_line == 21 and report.last_line == 164
    assert report.total == 164  # cumulative over both runs
    assert snapshot(local_target.engine) == expected
    assert not progress_path_for(out).exists()


def test_a_failure_in_the_first_batch_can_be_resumed(local_target: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "rows.jsonl", [user("a"), "not json", user("b")])
    with pytest.raises(LegacyFormatError) as info:
        import_legacy(local_target, path)
    assert info.value.line == 2 and info.value.details["last_committed_line"] == 0
    assert scalar(local_target, "SELECT count(*) FROM users") == 0
    write_lines(path, [user("a"), user("c"), user("b")])
    assert import_legacy(local_target, path, resume=True).total == 3


def test_database_error_names_the_line_and_rolls_back_its_batch(target: Store, tmp_path: Path) -> None:
    records: list[Any] = [user(f"u{i}") for i in range(1, 7)]
    records.insert(6, user("bad", name=None))  # line 7: users.display_name is NOT NULL
    path = write_lines(tmp_path / "rows.jsonl", records)
    with pytest.raises(LegacyImportError) as info:
        import_legacy(target, path, batch_size=5)
    assert info.value.line == 7 and info.value.details["table"] == "users"
    assert "NOT NULL" in info.value.message.upper() or "constraint" in info.value.message.lower()
    assert info.value.details["last_committed_line"] == 5
    ids = {r[0] for r in _all(target, "SELECT id FROM users")}
    assert ids == {"u1", "u2", "u3", "u4", "u5"}  # line 6 (same batch as 7) rolled back


def test_values_map_back_by_json_type(target: Store, tmp_path: Path) -> None:
    row = {
        "id": 1,
        "source_type": None,
        "source_id": "base64:dGV4dA==",  # named in text_columns: stays TEXT
        "dim": 2**62 + 1,  # beyond the driver's 32-bit binding and 53-bit doubles
        "vector": "base64:" + "//4AgA==",  # bytes ff fe 00 80
        "metadata": {"k": [1, True, None]},  # objects are stored as their JSON text
        "created_at": "2026-01-01 00:00:00",
    }
    records: list[Any] = [
        {"table": "embeddings", "columns": [], "row": row, "text_columns": ["source_id"]},
        {"table": "embeddings", "row": {**row, "id": 2, "source_id": "base64:dGV4dA==", "dim": -(2**63)}},
        {"table": "embeddings", "row": {**row, "id": 3, "source_id": "x", "dim": 2**64}},
        {"table": "agents", "row": {"id": "a", "name": "n", "version": "1", "is_public": True}},
    ]
    import_legacy(target, write_lines(tmp_path / "rows.jsonl", records))
    got = _all(
        target,
        "SELECT id, source_type, source_id, typeof(source_id), dim, typeof(dim), vector, metadata "
        "FROM embeddings ORDER BY id",
    )
    assert got[0] == (
        1,
        None,
        "base64:dGV4dA==",
        "text",
        2**62 + 1,
        "integer",
        b"\xff\xfe\x00\x80",
        '{"k":[1,true,null]}',
    )
    assert got[1][2:6] == (b"text", "blob", -(2**63), "integer")  # upstream quirk without the hint
    assert got[2][4:6] == (float(2**64), "real")
    assert _all(target, "SELECT is_public, typeof(is_public) FROM agents") == [(1, "integer")]


def test_unknown_tables_blank_lines_unknown_keys_and_empty_rows_are_skipped_and_reported(
    target: Store, tmp_path: Path
) -> None:
    records: list[Any] = [
        user("a", shoe_size=42),
        "",
        "   ",
        {"table": "gamify_profiles", "row": {"id": 1}},
        {"table": "gamify_profiles", "row": {"id": 2}},
        {"table": "schema_version", "row": {"version": 99}},
        {"table": "users", "row": {}},
        {"table": "users", "row": {"nope": 1}},
        user("b"),
    ]
    report = import_legacy(target, write_lines(tmp_path / "rows.jsonl", records))
    assert report.rows == {"users": 2}
    assert report.unknown_tables == {"gamify_profiles": 2, "schema_version": 1}
    assert report.dropped_columns == {"users": ["shoe_size", "nope"]}
    assert report.blank_lines == 2 and report.empty_rows == 2 and report.last_line == 9
    assert scalar(target, "SELECT max(version) FROM schema_version") < 99


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"row": {}}', "'table' must be a string"),
        ('{"table": "users", "row": [1]}', "'row' must be an object"),
        ('{"table": "users", "row": {"id": "base64:@@@"}}', "not valid base64"),
    ],
)
def test_malformed_records_name_their_line(
    local_target: Store, tmp_path: Path, line: str, message: str
) -> None:
    path = write_lines(tmp_path / "rows.jsonl", [user("a"), user("b"), line])
    with pytest.raises(LegacyFormatError, match=message) as info:
        import_legacy(local_target, path)
    assert info.value.line == 3


def test_non_utf8_line_names_its_line(local_target: Store, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(json.dumps(user("a")).encode() + b"\n" + b'{"table": "users", "row": {"id": "\xff"}}\n')
    with pytest.raises(LegacyFormatError, match="line 2: not UTF-8"):
        import_legacy(local_target, path)


def test_foreign_keys_are_off_replace_does_not_cascade_and_dangling_rows_load(
    target: Store, tmp_path: Path
) -> None:
    with target.begin() as conn:
        conn.exec_driver_sql("INSERT INTO conversations (id, title) VALUES (1, 'old')")
        conn.exec_driver_sql(
            "INSERT INTO conversation_messages (id, conversation_id, role, content_text) VALUES (1, 1, 'user', 'hi')"
        )
    records = [
        {"table": "conversations", "row": {"id": 1, "title": "replaced"}},
        {
            "table": "conversation_messages",
            "row": {"id": 2, "conversation_id": 999, "role": "user", "content_text": "x"},
        },
    ]
    report = import_legacy(target, write_lines(tmp_path / "rows.jsonl", records))
    assert report.dangling == {"conversation_messages": 1}
    assert scalar(target, "SELECT title FROM conversations WHERE id = 1") == "replaced"
    assert _all(target, "SELECT id, conversation_id FROM conversation_messages ORDER BY id") == [
        (1, 1),
        (2, 999),
    ]
    with target.begin() as conn:  # foreign keys are back on for the store's next transaction
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_start_line_skips_earlier_lines(local_target: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "rows.jsonl", ["garbage", user("a"), user("b")])
    report = import_legacy(local_target, path, start_line=2)
    assert report.start_line == 2 and report.rows == {"users": 2}


def test_resume_needs_a_matching_marker(local_target: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "rows.jsonl", [user("a")])
    with pytest.raises(LegacyImportError, match="nothing to resume"):
        import_legacy(local_target, path, resume=True)
    ProgressMarker("x", "/elsewhere.db", 1, {}, {}, "").save(progress_path_for(path))
    with pytest.raises(LegacyImportError, match=re.escape("belongs to an import into /elsewhere.db")):
        import_legacy(local_target, path, resume=True)
    with pytest.raises(LegacyImportError, match="either resume or start_line"):
        import_legacy(local_target, path, resume=True, start_line=3)
    with pytest.raises(LegacyImportError, match="no such file"):
        import_legacy(local_target, tmp_path / "missing.jsonl")


def test_a_rerun_is_idempotent(target: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "rows.jsonl", [user("a", "first"), user("a", "second"), user("b")])
    import_legacy(target, path)
    import_legacy(target, path)
    assert _all(target, "SELECT id, display_name FROM users ORDER BY id") == [("a", "second"), ("b", "n")]


def _all(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]
