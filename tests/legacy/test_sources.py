"""Named legacy sources: the old code store, orchestrator file memory, skill bundles."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb, MemoryDb
from codex.engine import FOREIGN_KEYS_OFF, make_engine
from codex.errors import ConfigError
from codex.legacy import (
    LEGACY_EXPORT_TABLES,
    LegacyImportError,
    import_code_store,
    import_file_memory,
    import_skill_bundles,
    parse_skill_bundle,
)
from codex.repositories.skills import SkillRepository
from codex.schema import baseline_statements
from codex.store import Store, open_store
from tests.legacy._data import insert_rows, snapshot, table_rows

CODE_STORE_TABLES = (
    "objects",
    "names",
    "metadata",
    "packages",
    "package_deps",
    "execution_log",
    "scheduled",
    "components",
)


@pytest.fixture
def target(db_config: DbConfig) -> Iterator[Store]:
    store = open_store(db_config)
    try:
        yield store
    finally:
        store.dispose()


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]


def build_code_store(path: Path, n: int = 5) -> DbConfig:
    """An old CodeStore file: only the CAS tables, one with a column Codex does not have."""
    config = LocalDb(path=str(path))
    engine = make_engine(config)
    with engine.connect() as conn:
        conn.info[FOREIGN_KEYS_OFF] = True
        with conn.begin():
            for statement in baseline_statements():
                head = statement.split("(")[0]
                if any(f" {t} " in head + " " or head.endswith(f" {t}") for t in CODE_STORE_TABLES):
                    conn.exec_driver_sql(statement)
            conn.exec_driver_sql("ALTER TABLE objects ADD COLUMN legacy_flag INTEGER DEFAULT 7")
            for table in CODE_STORE_TABLES:
                insert_rows(conn, table, table_rows(table, n))
    engine.dispose()
    return config


def test_code_store_is_copied_through_the_jsonl_route(target: Store, tmp_path: Path) -> None:
    old = build_code_store(tmp_path / "store.db")
    engine = make_engine(old, wal=False)
    expected = snapshot(engine, CODE_STORE_TABLES)
    engine.dispose()
    exported, imported = import_code_store(target, tmp_path / "store.db", batch_size=7)
    assert exported.rows == {t: 5 for t in CODE_STORE_TABLES}
    assert set(exported.skipped) == set(LEGACY_EXPORT_TABLES) - set(CODE_STORE_TABLES)
    assert imported.rows == {t: 5 for t in CODE_STORE_TABLES}
    assert imported.dropped_columns == {"objects": ["legacy_flag"]}
    assert imported.batches == 6  # 40 lines in batches of 7
    assert snapshot(target.engine, CODE_STORE_TABLES) == expected


def test_code_store_must_exist_and_must_not_be_the_target(tmp_path: Path) -> None:
    memory = open_store(MemoryDb())
    with pytest.raises(ConfigError, match="refusing to create"):
        import_code_store(memory, tmp_path / "missing.db")
    memory.dispose()
    assert not (tmp_path / "missing.db").exists()
    store = open_store(LocalDb(path=str(tmp_path / "same.db")))
    try:
        with pytest.raises(LegacyImportError, match="target database itself"):
            import_code_store(store, tmp_path / "same.db")
    finally:
        store.dispose()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def memory_dir(tmp_path: Path) -> Path:
    base = tmp_path / "project"
    write(
        base / "MEMORY.md",
        "# Vox Long-Term Memory\n\nThis file is managed by the Vox orchestrator. Edit freely.\n\n"
        "## Decisions\nUse libSQL.\nKeep it small.\n\n## campaign:x:fact:0\nfact text\n\n## Empty\n\n",
    )
    write(
        base / "memory" / "2026-01-02.md",
        "# Daily Log — 2026-01-02\n\n- `10:00:00` started\n- `11:00:00` done\n",
    )
    write(base / "memory" / "planner.md", "intro note ✓\n## Open Questions\nq1\n")
    write(base / "memory" / "coder" / "notes.md", "## Style\nruff format\n")
    write(base / "memory" / "ignored.txt", "not markdown")
    return base


MEMORY_SQL = (
    "SELECT agent_id, memory_type, content, session_id, created_at, importance FROM memories ORDER BY id"
)


def test_file_memory_maps_files_and_sections_to_memories(target: Store, memory_dir: Path) -> None:
    report = import_file_memory(target, memory_dir)
    assert report.files == 4 and report.rows == 7 and report.replaced == 0
    rows = _rows(target, MEMORY_SQL)
    assert [r[:3] for r in rows] == [
        ("global", "note", "This file is managed by the Vox orchestrator. Edit freely."),
        ("global", "decisions", "Use libSQL.\nKeep it small."),
        ("global", "campaign_x_fact_0", "fact text"),
        ("global", "daily_log", "- `10:00:00` started\n- `11:00:00` done"),
        ("coder", "style", "ruff format"),
        ("planner", "note", "intro note ✓"),
        ("planner", "open_questions", "q1"),
    ]
    assert rows[0][3] == "file:MEMORY.md" and rows[3][3] == "file:memory/2026-01-02.md"
    assert rows[3][4] == "2026-01-02 00:00:00" and rows[0][5] == 1.0
    meta = json.loads(_rows(target, "SELECT metadata FROM memories WHERE memory_type = 'decisions'")[0][0])
    assert meta == {
        "source": "orchestrator_file_memory",
        "path": "MEMORY.md",
        "heading": "Decisions",
        "section": 1,
        "title": "Vox Long-Term Memory",
    }
    assert report.by_agent == {"global": 4, "coder": 1, "planner": 2}


def test_reimporting_memory_files_replaces_their_rows_only(target: Store, memory_dir: Path) -> None:
    import_file_memory(target, memory_dir)
    with target.begin() as conn:  # a memory that did not come from a file is never touched
        conn.exec_driver_sql(
            "INSERT INTO memories (agent_id, session_id, memory_type, content) "
            "VALUES ('planner', 'file:memory/planner.md', 'fact', 'kept')"
        )
    write(memory_dir / "memory" / "planner.md", "## Open Questions\nq2\n")
    report = import_file_memory(target, memory_dir)
    assert report.replaced == 7 and report.rows == 6
    planner = _rows(
        target, "SELECT memory_type, content FROM memories WHERE agent_id = 'planner' ORDER BY id"
    )
    assert planner == [("fact", "kept"), ("open_questions", "q2")]
    assert _rows(target, "SELECT count(*) FROM memories") == [(7,)]


def test_memory_dir_without_a_memory_folder_is_the_memory_root(target: Store, tmp_path: Path) -> None:
    write(tmp_path / "mem" / "researcher.md", "## Findings\nx\n")
    write(tmp_path / "mem" / "MEMORY.md", "## Key\nvalue\n")
    import_file_memory(target, tmp_path / "mem")
    assert _rows(target, "SELECT agent_id, memory_type FROM memories ORDER BY agent_id") == [
        ("global", "key"),
        ("researcher", "findings"),
    ]


def test_memory_import_refuses_empty_or_missing_dirs(target: Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LegacyImportError, match=r"no MEMORY\.md"):
        import_file_memory(target, tmp_path / "empty")
    with pytest.raises(LegacyImportError, match="no such directory"):
        import_file_memory(target, tmp_path / "absent")


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    base = tmp_path / "skills"
    write(
        base / "alpha" / "SKILL.md",
        "---\nname: alpha\nversion: 1.2.0\ndescription: YAML front matter\ntools: [a, b]\n---\n# Alpha\nDo A.\n",
    )
    write(
        base / "beta" / "SKILL.md",
        '---\nid = "vox.beta"\nversion = "0.3.0"\ncategory = "testing"\n---\n# Beta\n',
    )
    write(
        base / "beta" / "manifest.json", json.dumps({"description": "from manifest.json", "version": "0.4.0"})
    )
    write(base / "gamma" / "SKILL.md", "# Gamma\nNo front matter.\n")
    write(base / "gamma" / "skill.yaml", "version: 2.0.0\nauthor: vox\n")
    (base / "not-a-skill").mkdir()
    return base


def test_skill_bundles_become_skill_manifests(target: Store, skills_dir: Path) -> None:
    report = import_skill_bundles(target, skills_dir)
    assert report.published == [("alpha", "1.2.0"), ("vox.beta", "0.4.0"), ("gamma", "2.0.0")]
    assert report.skipped == {"not-a-skill": "no SKILL.md"}
    with target.connect() as conn:
        repo = SkillRepository(conn)
        alpha, beta, gamma = (
            repo.get("alpha", "1.2.0"),
            repo.get("vox.beta", "0.4.0"),
            repo.get("gamma", "2.0.0"),
        )
    assert alpha.manifest == {
        "name": "alpha",
        "version": "1.2.0",
        "description": "YAML front matter",
        "tools": ["a", "b"],
        "id": "alpha",
    }
    assert alpha.skill_md.startswith("---\nname: alpha") and alpha.skill_md.endswith("Do A.\n")
    assert beta.manifest == {
        "id": "vox.beta",
        "version": "0.4.0",
        "category": "testing",
        "description": "from manifest.json",
    }
    assert gamma.manifest == {"version": "2.0.0", "author": "vox", "id": "gamma"}


def test_one_bundle_directory_and_a_malformed_manifest(target: Store, skills_dir: Path) -> None:
    assert import_skill_bundles(target, skills_dir / "alpha").published == [("alpha", "1.2.0")]
    write(skills_dir / "delta" / "SKILL.md", "# Delta\n")
    write(skills_dir / "delta" / "manifest.json", "{not json")
    with pytest.raises(LegacyImportError, match=r"manifest\.json: not a valid manifest"):
        import_skill_bundles(target, skills_dir)
    assert _rows(target, "SELECT id FROM skill_manifests") == [("alpha",)]  # nothing else was written
    write(skills_dir / "delta" / "SKILL.md", "---\nname: [unclosed\n")
    with pytest.raises(LegacyImportError, match="not closed"):
        parse_skill_bundle(skills_dir / "delta")


def test_skill_import_refuses_a_directory_without_bundles(target: Store, tmp_path: Path) -> None:
    (tmp_path / "nothing" / "sub").mkdir(parents=True)
    with pytest.raises(LegacyImportError, match="no skill bundle"):
        import_skill_bundles(target, tmp_path / "nothing")


def test_file_memory_times_come_from_mtime(target: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "m" / "memory" / "ops.md", "## Note\nx\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    import_file_memory(target, tmp_path / "m")
    assert _rows(target, "SELECT created_at FROM memories") == [("2023-11-14 22:13:20",)]
