"""``codex legacy …`` end to end (in-process CLI runner, configuration from the environment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codex.cli import app
from codex.config import LocalDb
from codex.legacy import LEGACY_EXPORT_TABLES
from codex.migrate import LEGACY_REMEDY
from codex.store import open_store
from tests.legacy._data import build_legacy

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # no stray config file
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use_db(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("VOX_DB_PATH", str(path))


def test_export_verify_import_sequence(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = env / "legacy.db"
    build_legacy(LocalDb(path=str(legacy)), 2)
    use_db(monkeypatch, legacy)

    verify = runner.invoke(app, ["legacy", "verify"])
    assert verify.exit_code == 1
    assert verify.stdout.splitlines()[:3] == [
        "schema_version: 3",
        "codex_reactivity_tables_ok (manifest): true",
        "legacy_multi_version_chain: true",
    ]
    assert LEGACY_REMEDY in verify.stderr

    refused = runner.invoke(app, ["legacy", "import", str(env / "x.jsonl")])
    assert refused.exit_code == 1 and "legacy" in refused.stderr  # opening a legacy chain normally is refused

    out = env / "rows.jsonl"
    export = runner.invoke(app, ["legacy", "export", str(out)])
    assert export.exit_code == 0, export.stderr
    assert export.stdout.strip() == f"Exported {41 * 2} row(s) to {out}"
    assert "exported rows per table" in export.stderr and "codex_projection_versions" in export.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 82

    use_db(monkeypatch, env / "fresh.db")
    imported = runner.invoke(app, ["legacy", "import", str(out)])
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout.strip() == f"Imported 82 row(s) from {out}"
    assert all(t in imported.stderr for t in LEGACY_EXPORT_TABLES)

    verify = runner.invoke(app, ["legacy", "verify"])
    assert verify.exit_code == 0, verify.stderr
    assert (
        "alembic_version: present" in verify.stdout and "legacy_multi_version_chain: false" in verify.stdout
    )


def test_export_refuses_a_missing_database(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_db(monkeypatch, env / "missing" / "vox.db")
    result = runner.invoke(app, ["legacy", "export", str(env / "rows.jsonl")])
    assert result.exit_code == 2 and "refusing to create an empty one" in result.stderr
    assert not (env / "missing").exists() and not (env / "rows.jsonl").exists()
    assert runner.invoke(app, ["legacy", "verify"]).exit_code == 2


def test_import_reports_the_line_and_resumes(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_db(monkeypatch, env / "fresh.db")
    rows = [json.dumps({"table": "users", "row": {"id": f"u{i}", "display_name": "n"}}) for i in range(1, 8)]
    bad = rows.copy()
    bad[4] = '{"table": "users", "row": {"id": "u5", "display_name": '
    path = env / "rows.jsonl"
    path.write_text("\n".join(bad) + "\n", encoding="utf-8")

    failed = runner.invoke(app, ["legacy", "import", str(path), "--batch-size", "2"])
    assert failed.exit_code == 1
    assert "line 5: not valid JSON" in failed.stderr and "--resume" in failed.stderr
    marker = json.loads((env / "rows.jsonl.progress").read_text(encoding="utf-8"))
    assert marker["last_committed_line"] == 4 and marker["rows"] == {"users": 4}

    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    resumed = runner.invoke(app, ["legacy", "import", str(path), "--batch-size", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.stdout.strip() == f"Imported 7 row(s) from {path} (resumed after line 4)"
    assert not (env / "rows.jsonl.progress").exists()
    store = open_store(LocalDb(path=str(env / "fresh.db")), migrate="none")
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 7
    store.dispose()


def test_named_source_commands(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_db(monkeypatch, env / "fresh.db")
    old = env / "store.db"
    build_legacy(LocalDb(path=str(old)), 2, chain=(1,))
    copied = runner.invoke(app, ["legacy", "import-store", str(old)])
    assert copied.exit_code == 0, copied.stderr
    assert copied.stdout.strip() == f"Imported 82 row(s) from {old}"

    (env / "memory").mkdir()
    (env / "memory" / "MEMORY.md").write_text("## Fact\nvalue\n", encoding="utf-8")
    memory = runner.invoke(app, ["legacy", "import-memory", str(env)])
    assert memory.exit_code == 0, memory.stderr
    assert memory.stdout.strip() == "Imported 1 memory row(s) from 1 file(s) (0 replaced)"

    (env / "skills" / "s1").mkdir(parents=True)
    (env / "skills" / "s1" / "SKILL.md").write_text("---\nversion: 1.0.0\n---\nbody\n", encoding="utf-8")
    skills = runner.invoke(app, ["legacy", "import-skills", str(env / "skills")])
    assert skills.exit_code == 0, skills.stderr
    assert "published s1@1.0.0" in skills.stderr

    missing = runner.invoke(app, ["legacy", "import-skills", str(env / "nope")])
    assert missing.exit_code == 1 and "no such directory" in missing.stderr
