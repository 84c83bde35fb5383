"""`codex db …` and `alembic …` from the repository root, on a local file, sqld and an embedded replica."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codex.config import DbConfig, LocalDb, RemoteDb
from codex.migrate import expected_head_schema, head_revision
from codex.schema import read_live_schema
from codex.store import Store
from tests.sqld import SqldServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env["HOME"] = str(tmp_path)  # no stray config file
    return env


@pytest.fixture
def env(backend: str, tmp_path: Path, db_config: DbConfig) -> dict[str, str]:
    e = base_env(tmp_path)
    if backend == "local":
        e["VOX_DB_PATH"] = str(db_config.path)
    else:
        e.update(VOX_DB_URL=str(db_config.url), VOX_DB_ALLOW_NO_TOKEN="1")
    return e


def test_codex_db_upgrade_verify_check_downgrade(env: dict[str, str], backend: str) -> None:
    verify = run(["codex", "db", "verify"], env)
    if backend == "local":  # no file yet: a read-only command refuses rather than create it
        assert verify.returncode == 2 and "no database at" in verify.stderr, verify.stderr
        assert not Path(env["VOX_DB_PATH"]).exists()
    else:
        assert verify.returncode == 1, verify.stderr
        assert json.loads(verify.stdout)["ok"] is False
    up = run(["codex", "db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    verify = run(["codex", "db", "verify"], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["schema_version"] == report["expected_schema_version"]
    assert report["live_digest"] == report["expected_digest"] and report["missing_tables"] == []
    assert report["ledger_head"]["revision"] == head_revision()
    assert run(["codex", "db", "check"], env).returncode == 0
    current = run(["codex", "db", "current"], env)
    assert f"revision: {head_revision()} (head)" in current.stdout
    digest = run(["codex", "db", "digest", "--live"], env)
    assert json.loads(digest.stdout)["live_digest"] == report["live_digest"]
    assert run(["codex", "db", "downgrade", "base"], env).returncode == 0
    assert run(["codex", "db", "verify"], env).returncode == 1


def test_alembic_cli_from_repo_root(env: dict[str, str]) -> None:
    for args in (["upgrade", "head"], ["check"], ["current"], ["downgrade", "base"], ["upgrade", "head"]):
        result = run(["alembic", *args], env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert run(["codex", "db", "verify"], env).returncode == 0


def test_alembic_revision_autogenerate_is_empty_at_head(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["alembic", "upgrade", "head"], env).returncode == 0
    # Autogenerate into a copy of the script directory, so the repository's chain is never touched.
    copy = tmp_path / "migrations"
    shutil.copytree(REPO / "codex" / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__"))
    ini = tmp_path / "alembic.ini"
    ini.write_text((REPO / "alembic.ini").read_text().replace("%(here)s/codex/migrations", str(copy)))
    before = set((copy / "versions").glob("*.py"))
    result = run(["alembic", "-c", str(ini), "revision", "--autogenerate", "-m", "probe"], env)
    assert result.returncode == 0, result.stderr
    (new_file,) = set((copy / "versions").glob("*.py")) - before
    generated = new_file.read_text()
    assert "op.create_table" not in generated and "op.add_column" not in generated
    assert "op.drop_" not in generated and "TODO" not in generated
    for lint in (["ruff", "format", "--check", str(new_file)], ["ruff", "check", str(new_file)]):
        assert run(lint, env).returncode == 0, lint  # the post-write hook formatted it


def test_model_column_without_revision_fails_the_check(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["VOX_DB_PATH"] = str(tmp_path / "c.db")
    assert run(["codex", "db", "upgrade"], env).returncode == 0
    script = (
        "import sqlalchemy as sa, sys\n"
        "from domains.user_chat import conversations\n"
        "conversations.append_column(sa.Column('mood', sa.Text))\n"
        "from codex.cli import app\n"
        "sys.argv = ['codex', 'db', 'check']\n"
        "app()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "add_column" in result.stderr and "mood" in result.stderr
    assert "write a revision" in result.stderr


def test_token_in_config_file_is_refused_by_the_cli(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    config = tmp_path / "codex.toml"
    config.write_text('[db]\nurl = "libsql://x.example"\ntoken = "abc.def.ghi"\n')
    env["VOX_CONFIG_FILE"] = str(config)
    result = run(["codex", "db", "verify"], env)
    assert result.returncode == 2
    assert "environment" in result.stderr and "abc.def.ghi" not in result.stderr + result.stdout


def test_partial_env_pair_is_a_clear_cli_error(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["VOX_DB_URL"] = "libsql://x.example"
    result = run(["codex", "db", "current"], env)
    assert result.returncode == 2 and "VOX_DB_TOKEN" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqld"], indirect=True)  # a replica syncs from a server
def test_embedded_replica_upgrade_and_verify(
    sqld_server: SqldServer, tmp_path: Path, db_config: DbConfig
) -> None:
    # db_config (sqld backend) wipes the shared server for this test
    env = base_env(tmp_path)
    env.update(
        VOX_DB_URL=sqld_server.url, VOX_DB_ALLOW_NO_TOKEN="1", VOX_DB_PATH=str(tmp_path / "replica.db")
    )
    for args in (["codex", "db", "upgrade"], ["alembic", "check"], ["codex", "db", "verify"]):
        result = run(args, env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    # the primary sees what the replica forwarded
    primary = Store(RemoteDb(url=sqld_server.url, token=""))
    with primary.connect() as conn:
        assert read_live_schema(conn).digest() == expected_head_schema().digest()
    primary.dispose()


@pytest.mark.slow
def test_kill_9_during_upgrade_leaves_old_or_new_revision(tmp_path: Path) -> None:
    """Reliability goal: 20 kills at random points; never between revisions."""
    rng = random.Random(20261123)
    expected = expected_head_schema().digest()
    outcomes = {"empty": 0, "head": 0}
    for attempt in range(20):
        env = base_env(tmp_path)
        path = tmp_path / f"kill{attempt}.db"
        env["VOX_DB_PATH"] = str(path)
        proc = subprocess.Popen(
            [str(BIN / "codex"), "db", "upgrade"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.25, 0.9))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        store = Store(LocalDb(path=str(path)))
        with store.connect() as conn:
            live = read_live_schema(conn)
            revision = (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                if "alembic_version"
                in [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type='table'")]
                else None
            )
        store.dispose()
        if not live.objects:
            assert revision is None
            outcomes["empty"] += 1
        else:
            assert revision == head_revision() and live.digest() == expected, (attempt, revision)
            outcomes["head"] += 1
    print(f"kill -9 outcomes over 20 tries: {outcomes}")
    assert sum(outcomes.values()) == 20
