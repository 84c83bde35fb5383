"""`codex db rehearse`: pending revisions run on a copy, timed, rebuilds counted; the original never written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codex.config import DbConfig, LocalDb, RemoteDb, ReplicaDb
from codex.engine import make_engine
from codex.migrate import head_revision, migrations_dir, pending_revisions, upgrade, verify_database
from codex.migrate._alembic import current_revision
from tests.sqld import SqldServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXTRA = "9001"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "codex"), "db", "rehearse", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def revision_of(path: Path) -> str | None:
    """The file's Alembic revision, read through stdlib sqlite3 read-only (nothing written)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else None


def make_db(path: Path, config: DbConfig | None = None) -> None:
    """A database at revision 0002 holding two topics with the same label."""
    engine = make_engine(config or LocalDb(path=str(path)))
    try:
        with engine.connect() as conn:
            upgrade(conn, "0002")
            with conn.begin():
                conn.exec_driver_sql("INSERT INTO topics (slug, label) VALUES ('a', 'same'), ('b', 'same')")
    finally:
        engine.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "codex.db"
    make_db(path)
    return path


@pytest.fixture
def env(tmp_path: Path, db: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_", "CODEX_MIGRATIONS"))}
    e["HOME"] = str(tmp_path)  # no stray config file
    e["VOX_DB_PATH"] = str(db)
    (tmp_path / "tmp").mkdir()
    e["TMPDIR"] = str(tmp_path / "tmp")  # the scratch copy goes here: must be gone afterwards
    return e


def chain_with(tmp_path: Path, upgrade_body: str) -> Path:
    """A copy of the script directory with one more revision after head, whose upgrade is ``upgrade_body``."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    body = textwrap.indent(textwrap.dedent(upgrade_body).strip(), "    ")
    source = (
        f'"""Rehearsal probe.\n\nRevision ID: {EXTRA}\nRevises: {head_revision()}\n"""\n\n'
        "from alembic import op\n\n"
        f'revision = "{EXTRA}"\ndown_revision = "{head_revision()}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        f"def upgrade() -> None:\n{body}\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    (copy / "versions" / f"{EXTRA}_probe.py").write_text(source)
    return copy


def test_passing_chain_runs_on_a_copy_and_deletes_it(env: dict[str, str], db: Path, tmp_path: Path) -> None:
    before, siblings = digest(db), sorted(os.listdir(db.parent))
    result = run([], env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("0003 (0002 -> 0003): ") and " ms, " in line for line in lines), lines
    assert any(line.startswith("0004 (0003 -> 0004): ") and " ms, " in line for line in lines), lines
    assert f"verify: ok at {head_revision()}" in lines and "copy deleted" in lines
    assert result.stderr == ""
    # the original: same bytes, same revision, no companion files left behind; the copy is gone
    assert digest(db) == before and sorted(os.listdir(db.parent)) == siblings
    assert revision_of(db) == "0002"
    assert os.listdir(tmp_path / "tmp") == []


def test_keep_leaves_the_copy_at_head(env: dict[str, str], db: Path, tmp_path: Path) -> None:
    before = digest(db)
    kept = tmp_path / "rehearsed.db"
    result = run(["--keep", str(kept), "--format", "json"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["kept"] == str(kept)
    after = pending_revisions("0002", head_revision())  # 0003 … head: the chain may grow
    assert report["from_revision"] == "0002" and report["pending"] == after
    assert [r["revision"] for r in report["revisions"]] == after
    assert all(r["duration_ms"] >= 0 for r in report["revisions"])
    assert digest(db) == before and revision_of(db) == "0002"
    assert kept.is_file() and not Path(f"{kept}-wal").exists()
    engine = make_engine(LocalDb(path=str(kept)))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert verify_database(conn).ok
            assert conn.exec_driver_sql("SELECT count(*) FROM topics").scalar() == 2
    finally:
        engine.dispose()
    # a second run refuses to overwrite the kept copy
    again = run(["--keep", str(kept)], env)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "already exists" in again.stderr


def test_failing_revision_is_named_with_the_database_error(
    env: dict[str, str], db: Path, tmp_path: Path
) -> None:
    env["CODEX_MIGRATIONS_DIR"] = str(
        chain_with(tmp_path, 'op.create_index("ux_topics_label", "topics", ["label"], unique=True)')
    )
    before = digest(db)
    result = run([], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith("codex: error: ") and f"revision {EXTRA} (" in line
    assert "unique constraint failed: topics.label" in line.lower()
    assert "Traceback" not in result.stderr
    assert "0003 (0002 -> 0003)" in result.stdout and "0004 (0003 -> 0004)" in result.stdout
    assert "verify: ok" not in result.stdout
    assert digest(db) == before and revision_of(db) == "0002"
    assert os.listdir(tmp_path / "tmp") == []


def test_table_rebuild_is_reported_with_rows_copied(env: dict[str, str], db: Path, tmp_path: Path) -> None:
    env["CODEX_MIGRATIONS_DIR"] = str(
        chain_with(
            tmp_path,
            """
            with op.batch_alter_table("topics", recreate="always"):
                pass
            """,
        )
    )
    before = digest(db)
    result = run([], env)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith(f"{EXTRA} (")]
    assert line.endswith("rebuilt topics (2 rows copied)"), line
    assert "0003 (0002 -> 0003)" in result.stdout and f"verify: ok at {EXTRA}" in result.stdout
    json_run = run(["--format", "json", "--to", EXTRA], env)
    assert json_run.returncode == 0, json_run.stderr
    (extra,) = [r for r in json.loads(json_run.stdout)["revisions"] if r["revision"] == EXTRA]
    assert extra["rebuilt"] == [{"table": "topics", "rows": 2}]
    assert digest(db) == before and revision_of(db) == "0002"


def test_to_rev_stops_early_and_bad_input_is_one_line(env: dict[str, str], db: Path) -> None:
    result = run(["--to", "0003"], env)
    assert result.returncode == 0, result.stderr
    assert "0003 (0002 -> 0003)" in result.stdout and "0004" not in result.stdout
    assert "verify: ok at 0003" in result.stdout
    for args, text in (
        (["--to", "nope"], "nope"),
        (["--to", "0001"], "past 0001"),
        (["--format", "yaml"], "--format"),
    ):
        bad = run(args, env)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, (args, bad.stderr)
        assert bad.stderr.startswith("codex: error: ") and text in bad.stderr, (args, bad.stderr)


def test_missing_file_and_remote_primary_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    env["VOX_DB_PATH"] = str(tmp_path / "absent.db")
    missing = run([], env)
    assert missing.returncode == 2 and "no database at" in missing.stderr
    assert not (tmp_path / "absent.db").exists()
    del env["VOX_DB_PATH"]
    env.update(VOX_DB_URL="http://127.0.0.1:9", VOX_DB_ALLOW_NO_TOKEN="1")
    remote = run([], env)
    assert remote.returncode == 2 and remote.stderr.count("\n") == 1
    assert "embedded replica" in remote.stderr and "downloaded copy" in remote.stderr


def test_pending_revisions_order() -> None:
    assert pending_revisions(None, "0002") == ["0001", "0002"]
    assert pending_revisions("0002", "0004") == ["0003", "0004"]
    assert pending_revisions("0004", "0004") == []


@pytest.mark.sqld
def test_embedded_replica_is_synced_then_copied(sqld_server: SqldServer, tmp_path: Path) -> None:
    from tests.conftest import wipe

    primary = RemoteDb(url=sqld_server.url, token="")
    primary_engine = make_engine(primary)
    wipe(primary_engine)
    try:
        replica = tmp_path / "replica.db"
        make_db(replica, ReplicaDb(url=sqld_server.url, token="", path=str(replica)))
        e = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_", "CODEX_MIGRATIONS"))}
        e.update(
            HOME=str(tmp_path),
            VOX_DB_URL=sqld_server.url,
            VOX_DB_ALLOW_NO_TOKEN="1",
            VOX_DB_PATH=str(replica),
        )
        result = run([], e)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0004 (0003 -> 0004)" in result.stdout and "copy deleted" in result.stdout
        with primary_engine.connect() as conn:  # the primary was not migrated
            assert current_revision(conn) == "0002"
        replica_engine = make_engine(ReplicaDb(url=sqld_server.url, token="", path=str(replica)))
        try:  # and the replica still opens, at the primary's revision
            with replica_engine.connect() as conn:
                assert current_revision(conn) == "0002"
        finally:
            replica_engine.dispose()
    finally:
        wipe(primary_engine)
        primary_engine.dispose()
