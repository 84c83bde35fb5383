"""Schema evolution the way a team uses it, in a temporary copy of the project.

Every test copies the project (``codex/``, ``domains/``, ``tests/``, ``contracts/``, ``alembic.ini``,
``pyproject.toml``) into a temporary directory, changes ``domains/`` or the chain there, and drives the
real ``codex`` / ``alembic`` commands with ``PYTHONPATH`` pointing at the copy, so the repository's
own chain is never touched and any number of throwaway revisions can be added.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from codex.config import RemoteDb
from codex.migrate import head_revision, head_schema_version
from tests.sqld import SqldServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COPIED = ("codex", "domains", "tests", "contracts", "alembic.ini", "pyproject.toml")


@dataclass
class Project:
    """A throwaway copy of the project and the environment that makes ``codex`` import it."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, db: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, **extra)
        if db is not None:
            env["VOX_DB_PATH"] = str(db)
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, *args: str, db: Path | None = None, **extra: str) -> str:
        result = self.run(*args, db=db, **extra)
        assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
        return result.stdout

    def versions(self) -> set[Path]:
        return set((self.root / "codex" / "migrations" / "versions").glob("*.py"))

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def write_revision(self, rev: str, down: str, body: str = "pass") -> Path:
        path = self.root / "codex" / "migrations" / "versions" / f"{rev}_throwaway.py"
        path.write_text(
            f'"""throwaway {rev}"""\n\nfrom alembic import op\n\nrevision = "{rev}"\ndown_revision = "{down}"\n'
            f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {body}\n\n\n"
            "def downgrade() -> None:\n    pass\n",
            encoding="utf-8",
        )
        return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, root / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_", "CODEX_"))}
    env.update(
        PYTHONPATH=str(root),
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    proj = Project(root, env)
    paths = json.loads(proj.ok("codex", "db", "paths"))
    assert paths["migrations"].startswith(str(root)), paths  # the copy's code runs, not the checkout's
    return proj


def live_digest(project: Project, db: Path) -> str:
    return str(json.loads(project.ok("codex", "db", "digest", "--live", db=db))["live_digest"])


def verify(project: Project, db: Path) -> dict[str, object]:
    result = project.run("codex", "db", "verify", db=db)
    report: dict[str, object] = json.loads(result.stdout)
    assert result.returncode == (0 if report["ok"] else 1)
    return report


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("codex: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@contextmanager
def plain_sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    """A stdlib connection that commits on success and is closed after (``with sqlite3.connect()`` only
    commits: Python 3.13 warns about the connection left open)."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def file_hash(path: Path) -> str:
    """The database's content (schema and rows): a WAL checkpoint may rewrite bytes, never content."""
    with plain_sqlite(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


TOPICS_DESCRIPTION = (
    '    sa.Index("idx_topics_label", "label"),',
    '    sa.Column("description", sa.Text, nullable=True),\n'
    '    sa.Index("idx_topics_label", "label"),\n'
    '    sa.Index("idx_topics_description", "description"),',
)


def test_baseline_table_change_goes_through_the_pr_workflow(project: Project, tmp_path: Path) -> None:
    old, fresh = tmp_path / "old.db", tmp_path / "fresh.db"
    project.ok("codex", "db", "upgrade", db=old)
    with plain_sqlite(old) as conn:
        conn.execute("INSERT INTO topics (slug, label) VALUES ('general', 'General')")

    project.edit("domains/topics.py", *TOPICS_DESCRIPTION)
    check = project.run("codex", "db", "check")
    assert check.returncode == 1 and "description" in check.stderr
    review = project.run("codex", "db", "review")
    assert review.returncode == 1 and "topics" in review.stdout and "description" in review.stdout

    before = project.versions()
    out = project.ok("codex", "db", "revision", "--autogenerate", "-m", "topics: description")
    (new_file,) = project.versions() - before
    assert str(new_file) in out
    text = new_file.read_text(encoding="utf-8")
    assert 'add_column(sa.Column("description", sa.Text(), nullable=True))' in text
    assert 'create_index("idx_topics_description", ["description"], unique=False)' in text
    for spurious in (
        "create_table",
        "drop_table",
        "alter_column",
        "_fts",
        "vector",
        "server_default",
        "TODO",
    ):
        assert spurious not in text.split("def upgrade")[1], spurious
    project.ok("ruff", "format", "--check", str(new_file))
    project.ok("ruff", "check", str(new_file))
    again = project.ok("codex", "db", "revision", "--autogenerate", "-m", "nothing")
    assert "No changes" in again and project.versions() - before == {new_file}

    project.ok("codex", "db", "upgrade", db=old)
    project.ok("codex", "db", "upgrade", db=fresh)
    assert verify(project, old)["ok"] and verify(project, fresh)["ok"]
    assert live_digest(project, old) == live_digest(project, fresh)
    assert verify(project, fresh)["schema_version"] == head_schema_version() + 1
    project.ok("alembic", "check")
    project.ok("codex", "db", "check")
    project.ok("codex", "db", "review")
    with plain_sqlite(old) as conn:
        assert conn.execute("SELECT slug, description FROM topics").fetchall() == [("general", None)]

    project.ok("codex", "db", "downgrade", "-1", db=old)
    assert not verify(project, old)["ok"]
    project.ok("codex", "db", "upgrade", db=old)
    assert verify(project, old)["ok"] and live_digest(project, old) == live_digest(project, fresh)


@pytest.mark.sqld
def test_baseline_table_change_upgrades_an_existing_sqld_database(
    project: Project, tmp_path: Path, sqld_server: SqldServer, request: pytest.FixtureRequest
) -> None:
    from codex.engine import make_engine
    from tests.conftest import wipe

    engine = make_engine(RemoteDb(url=sqld_server.url, token="", source="test"))
    wipe(engine)
    try:
        remote = {"VOX_DB_URL": sqld_server.url, "VOX_DB_ALLOW_NO_TOKEN": "1"}
        project.ok("codex", "db", "upgrade", **remote)
        project.edit("domains/topics.py", *TOPICS_DESCRIPTION)
        project.ok("codex", "db", "revision", "--autogenerate", "-m", "topics: description")
        project.ok("codex", "db", "upgrade", **remote)
        report = json.loads(project.ok("codex", "db", "verify", **remote))
        local = tmp_path / "fresh.db"
        project.ok("codex", "db", "upgrade", db=local)
        assert report["ok"] and report["live_digest"] == live_digest(project, local)
    finally:
        wipe(engine)
        engine.dispose()


def test_destructive_changes_on_baseline_tables_are_flagged(project: Project) -> None:
    project.edit("domains/topics.py", '    sa.Column("weight", REAL,', '    sa.Column("weight", sa.Integer,')
    review = project.run("codex", "db", "review")
    assert review.returncode == 2, review.stdout + review.stderr
    assert "conversation_topics" in review.stdout and "weight" in review.stdout

    with (project.root / "domains" / "__init__.py").open("a", encoding="utf-8") as init:
        init.write(
            '\nmetadata.remove(metadata.tables["populi_reviews"])  # throwaway: a baseline table dropped\n'
        )
    review = project.run("codex", "db", "review")
    assert review.returncode == 2 and "populi_reviews" in review.stdout, review.stdout + review.stderr


def test_two_heads_are_one_line_everywhere_until_merged(project: Project, tmp_path: Path) -> None:
    head = head_revision()
    db = tmp_path / "heads.db"
    project.ok("codex", "db", "upgrade", db=db)
    digest_before = file_hash(db)
    project.write_revision("aaaa1111", head, 'op.execute("UPDATE topics SET label = label")')  # data only
    project.write_revision("bbbb2222", head)
    commands = (
        ["upgrade"],
        ["verify"],
        ["check"],
        ["review"],
        ["digest"],
        ["current"],
        ["downgrade", "-1"],
        ["stamp", "head"],
        ["revision", "-m", "x"],
        ["rebaseline"],
        ["heads", "--require-one"],
    )
    for args in commands:
        line = one_line_error(project.run("codex", "db", *args, db=db))
        assert "2 heads (aaaa1111, bbbb2222)" in line and "codex db merge" in line, (args, line)
    assert file_hash(db) == digest_before
    heads = project.ok("codex", "db", "heads")
    assert "aaaa1111" in heads and "bbbb2222" in heads

    out = project.ok("codex", "db", "merge", "-m", "merge heads")
    assert "wrote" in out
    history = project.ok("codex", "db", "history")
    assert f"(schema_version {head_schema_version() + 1})" in history
    assert f"schema_version {head_schema_version() + 3}, head, merge" in history
    project.ok("codex", "db", "upgrade", db=db)
    report = verify(project, db)
    assert report["ok"] and report["schema_version"] == head_schema_version() + 3
    # The suite survives growth: the project's own schema and migration tests pass on the grown chain.
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-x",
            "-m",
            "not sqld and not slow",
            "tests/migrate/test_chain.py",
            "tests/schema",
        ],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]


def test_rebaseline_folds_the_chain_and_every_database_reaches_the_same_schema(
    project: Project, tmp_path: Path
) -> None:
    mid, old_head, fresh = tmp_path / "mid.db", tmp_path / "old_head.db", tmp_path / "fresh.db"
    project.ok("codex", "db", "upgrade", "0002", db=mid)
    project.ok("codex", "db", "upgrade", db=old_head)
    head_digest = live_digest(project, old_head)
    baseline = project.root / "codex" / "schema" / "baseline"
    before = {p.name: p.read_bytes() for p in baseline.glob("v*.sql")}

    out = project.ok("codex", "db", "rebaseline")
    assert "v18" in out
    for name, data in before.items():
        assert (baseline / name).read_bytes() == data, f"{name} changed"
    assert (baseline / "v18.sql").is_file()
    digest = json.loads(project.ok("codex", "db", "digest"))
    assert digest["baseline_version"] == head_schema_version() and "v18" in digest["fragments"]
    assert one_line_error(project.run("codex", "db", "rebaseline")).endswith(f"up to {head_revision()}")

    project.ok("codex", "db", "upgrade", db=fresh)
    for db in (fresh, old_head, mid):
        project.ok("codex", "db", "upgrade", db=db)
        assert verify(project, db)["ok"], db
        assert live_digest(project, db) == head_digest, db
    project.ok("codex", "db", "check")
    project.ok("codex", "db", "downgrade", "base", db=fresh)
    project.ok("codex", "db", "upgrade", db=fresh)
    assert verify(project, fresh)["ok"]

    # and the chain goes on after the rebaseline, for old and new databases alike
    project.edit("domains/topics.py", *TOPICS_DESCRIPTION)
    project.ok("codex", "db", "revision", "--autogenerate", "-m", "topics: description")
    for db in (fresh, old_head):
        project.ok("codex", "db", "upgrade", db=db)
        assert verify(project, db)["ok"]
    assert live_digest(project, fresh) == live_digest(project, old_head)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/schema/test_digest.py"],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-4000:]


def test_bad_chain_and_bad_databases_are_one_line_and_touch_nothing(project: Project, tmp_path: Path) -> None:
    head = head_revision()
    missing = tmp_path / "never.db"
    broken = project.write_revision("cccc3333", head, "def (")
    line = one_line_error(project.run("codex", "db", "upgrade", db=missing))
    assert "cccc3333_throwaway.py" in line and "fails to import" in line and not missing.exists()
    one_line_error(project.run("codex", "db", "verify", db=missing))
    broken.unlink()

    failing = project.write_revision("eeee5555", head, 'raise RuntimeError("boom")')
    line = one_line_error(project.run("codex", "db", "upgrade", db=missing))
    assert "eeee5555" in line and "rolled back" in line and "boom" in line, line
    assert not missing.exists()  # a failed first upgrade leaves no file behind
    failing.unlink()

    dangling = project.write_revision("dddd4444", "nope0000")
    line = one_line_error(project.run("codex", "db", "upgrade", db=missing))
    assert "nope0000" in line and not missing.exists()
    dangling.unlink()

    db = tmp_path / "known.db"
    project.ok("codex", "db", "upgrade", db=db)
    with plain_sqlite(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'feedbeef'")
    before = file_hash(db)
    for args in (["upgrade"], ["verify"], ["current"], ["downgrade", "-1"]):
        line = one_line_error(project.run("codex", "db", *args, db=db))
        assert "feedbeef" in line and "does not have" in line, (args, line)
    assert file_hash(db) == before

    legacy = tmp_path / "legacy.db"
    with plain_sqlite(legacy) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version (version) VALUES (9)")
    before = file_hash(legacy)
    assert "ahead of this code" in one_line_error(project.run("codex", "db", "upgrade", db=legacy))
    assert file_hash(legacy) == before

    assert "nonexistent" in one_line_error(project.run("codex", "db", "upgrade", "nonexistent", db=missing))
    assert not missing.exists()

    # autogenerate needs no database: nothing is created under the default data directory
    result = project.run("codex", "db", "revision", "--autogenerate", "-m", "probe")
    assert result.returncode == 0 and "No changes" in result.stdout, result.stderr
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home" / ".local").exists()


def test_stamp_refuses_a_database_whose_schema_is_not_the_targets(project: Project, tmp_path: Path) -> None:
    db = tmp_path / "stamp.db"
    project.ok("codex", "db", "upgrade", "0003", db=db)
    before = file_hash(db)
    assert "refusing to stamp" in one_line_error(project.run("codex", "db", "stamp", "head", db=db))
    assert file_hash(db) == before
    project.ok("codex", "db", "stamp", "0003", db=db)  # it is that revision's schema: allowed
    project.ok("codex", "db", "stamp", "head", "--force", db=db)
    assert "(head)" in project.ok("codex", "db", "current", db=db)
