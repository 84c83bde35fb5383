"""Offline SQL: `codex db upgrade --sql` / `alembic upgrade --sql` print a script and touch no database.

The script, run whole with the libSQL driver's ``executescript``, must give what an online run gives:
the same live schema, ``schema_version`` rows, ``alembic_version`` and ledger rows (digests included).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import libsql_experimental
import pytest

from codex.config import DbConfig, LocalDb
from codex.engine import dbapi_connection, make_engine
from codex.migrate import (
    LEDGER_TABLE,
    downgrade,
    expected_head_schema,
    head_revision,
    head_schema_version,
    pending_revisions,
    schema_at,
    script_directory,
    upgrade,
    user_tables,
)
from codex.schema import baseline_statements, read_live_schema, split_statements

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEDGER_COLUMNS = (
    "revision, from_revision, to_revision, direction, schema_version, digest_before, digest_after"
)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )


def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose configured database is a local file that must never be created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env["HOME"] = str(tmp_path)  # no stray config file
    env["VOX_DB_PATH"] = str(tmp_path / "never-created.db")
    return env


def assert_nothing_created(tmp_path: Path) -> None:
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("never-created")]
    assert leftovers == [], leftovers


def script_for(args: list[str], tmp_path: Path) -> str:
    env = offline_env(tmp_path)
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    assert_nothing_created(tmp_path)
    return result.stdout


def apply_script(config: DbConfig, script: str) -> None:
    """Run the script whole: ``executescript`` of the libSQL driver on a local file; statement by
    statement through the driver on sqld.

    ``executescript`` stops silently at a failing statement (it raises nothing), so the script's own
    transaction still being open is how a failure shows: roll back and fail. On sqld the driver's
    ``executescript`` re-renders every statement through its SQL parser (``!=`` is stored as ``<>``,
    ``datetime('now')`` as ``datetime ('now')``), so the live digest would differ from head's: there
    the statements are sent one by one, as written.
    """
    if config.mode == "local":
        raw = libsql_experimental.connect(str(config.path))
        try:
            raw.executescript(script)
            stopped = raw.in_transaction
            if stopped:
                raw.rollback()
            raw.commit()
        finally:
            raw.close()
        assert not stopped, "the script stopped part-way (executescript reports no error)"
        return
    engine = make_engine(config)
    try:
        with engine.connect() as conn:
            raw = dbapi_connection(conn)
            for statement in split_statements(script):
                raw.execute(statement)
            assert not raw.in_transaction
    finally:
        engine.dispose()


def db_state(config: DbConfig) -> dict[str, Any]:
    """What the run leaves: live digest, schema_version rows, alembic_version, ledger rows (sans times)."""
    engine = make_engine(config)
    try:
        with engine.connect() as conn:
            tables = user_tables(conn)
            state: dict[str, Any] = {"digest": read_live_schema(conn).digest(), "tables": len(tables)}
            state["schema_version"] = (
                [r[0] for r in conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version")]
                if "schema_version" in tables
                else None
            )
            state["alembic_version"] = [
                r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ]
            state["ledger"] = (
                [
                    tuple(r)
                    for r in conn.exec_driver_sql(f"SELECT {LEDGER_COLUMNS} FROM {LEDGER_TABLE} ORDER BY id")
                ]
                if LEDGER_TABLE in tables
                else None
            )
            return state
    finally:
        engine.dispose()


def online(config: DbConfig, *steps: tuple[str, str]) -> None:
    engine = make_engine(config)
    try:
        for verb, target in steps:
            with engine.connect() as conn:
                (upgrade if verb == "upgrade" else downgrade)(conn, target)
    finally:
        engine.dispose()


def verify_env(config: DbConfig, tmp_path: Path) -> dict[str, str]:
    env = offline_env(tmp_path)
    del env["VOX_DB_PATH"]
    if config.mode == "local":
        env["VOX_DB_PATH"] = str(config.path)
    else:
        env.update(VOX_DB_URL=str(config.url), VOX_DB_ALLOW_NO_TOKEN="1")
    return env


def test_whole_chain_script_builds_the_same_database_as_an_online_upgrade(
    db_config: DbConfig, tmp_path: Path
) -> None:
    script = script_for(["codex", "db", "upgrade", "--sql"], tmp_path)
    lines = [line for line in script.splitlines() if line.strip() and not line.startswith("--")]
    assert lines[:2] == ["PRAGMA foreign_keys=OFF;", "BEGIN;"]
    assert lines[-2:] == ["COMMIT;", "PRAGMA foreign_keys=ON;"]
    assert all(statement in script for statement in baseline_statements())  # verbatim

    apply_script(db_config, script)
    verify = run(["codex", "db", "verify"], verify_env(db_config, tmp_path))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    reference = LocalDb(path=str(tmp_path / "online.db"))
    online(reference, ("upgrade", "head"))
    offline_state, online_state = db_state(db_config), db_state(reference)
    assert offline_state == online_state
    assert offline_state["digest"] == expected_head_schema().digest()
    assert offline_state["alembic_version"] == [head_revision()]
    assert offline_state["schema_version"][-1] == head_schema_version()
    assert len(offline_state["ledger"]) == head_schema_version()  # one row per step
    engine = make_engine(db_config)
    with engine.connect() as conn:
        times = conn.exec_driver_sql(f"SELECT started_at, finished_at, host FROM {LEDGER_TABLE}").all()
    engine.dispose()
    assert all(start and finish and host.endswith("(--sql)") for start, finish, host in times)


def test_alembic_sql_from_the_repo_root_prints_the_same_script(tmp_path: Path) -> None:
    for alembic_args, codex_args in (
        (["upgrade", "head", "--sql"], ["upgrade", "--sql", "head"]),
        (["upgrade", "0003:head", "--sql"], ["upgrade", "--sql", "0003:head"]),
        (["downgrade", "head:0002", "--sql"], ["downgrade", "--sql", "head:0002"]),
    ):
        by_alembic = script_for(["alembic", *alembic_args], tmp_path)
        by_codex = script_for(["codex", "db", *codex_args], tmp_path)
        assert by_alembic == by_codex, alembic_args
        assert "BEGIN;" in by_alembic and "COMMIT;" in by_alembic


def test_range_script_holds_only_its_revisions(db_config: DbConfig, tmp_path: Path) -> None:
    script = script_for(["codex", "db", "upgrade", "--sql", "0003:head"], tmp_path)
    assert "-- Running upgrade 0003 -> 0004" in script
    assert "-- Running upgrade 0002 -> 0003" not in script and "-> 0001" not in script
    assert "CREATE TABLE alembic_version" not in script
    assert f"CREATE TABLE {LEDGER_TABLE}" not in script
    assert not any(statement in script for statement in baseline_statements())

    online(db_config, ("upgrade", "0003"))
    apply_script(db_config, script)
    verify = run(["codex", "db", "verify"], verify_env(db_config, tmp_path))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    ledger = db_state(db_config)["ledger"]
    head = head_revision()  # the chain may grow past 0004: the last ledger row is the head's
    previous = script_directory().get_revision(head).down_revision
    assert [row[:5] for row in ledger[-1:]] == [(head, previous, head, "upgrade", head_schema_version())]
    assert [row[0] for row in ledger if row[3] == "upgrade"][-len(pending_revisions("0003", head)) :] == (
        pending_revisions("0003", head)
    )
    assert ledger[-1][5:] == (schema_at(previous).digest(), expected_head_schema().digest())


def test_downgrade_script_matches_an_online_downgrade(tmp_path: Path) -> None:
    down = script_for(["codex", "db", "downgrade", "--sql", "head:0002"], tmp_path)
    up = script_for(["codex", "db", "upgrade", "--sql", "0002:head"], tmp_path)
    to_base = script_for(["codex", "db", "downgrade", "--sql", "head:base"], tmp_path)
    by_script = LocalDb(path=str(tmp_path / "script.db"))
    by_alembic = LocalDb(path=str(tmp_path / "alembic.db"))
    online(by_script, ("upgrade", "head"))
    online(by_alembic, ("upgrade", "head"))

    apply_script(by_script, down)
    online(by_alembic, ("downgrade", "0002"))
    assert db_state(by_script) == db_state(by_alembic)
    assert db_state(by_script)["alembic_version"] == ["0002"]

    apply_script(by_script, up)
    online(by_alembic, ("upgrade", "head"))
    assert db_state(by_script) == db_state(by_alembic)

    apply_script(by_script, to_base)
    online(by_alembic, ("downgrade", "base"))
    assert db_state(by_script) == db_state(by_alembic)
    assert db_state(by_script)["tables"] == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["upgrade", "--sql", "a:b:c"], "malformed revision range"),
        (["upgrade", "--sql", ":"], "malformed revision range"),
        (["upgrade", "--sql", "head:"], "malformed revision range"),
        (["upgrade", "--sql", ":head"], "malformed revision range"),
        (["upgrade", "--sql", "head:0002"], "not an ancestor"),
        (["upgrade", "--sql", "zzzz"], "zzzz"),
        (["upgrade", "--sql", "0003:zzzz"], "zzzz"),
        (["upgrade", "--sql", "0003:+1"], "relative"),
        (["upgrade", "0003:head"], "needs --sql"),
        (["downgrade", "--sql", "head"], "needs a range FROM:TO"),
        (["downgrade", "--sql", "0002:head"], "not an ancestor"),
        (["downgrade", "--sql", "a:b:c"], "malformed revision range"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(args: list[str], says: str, tmp_path: Path) -> None:
    result = run(["codex", "db", *args], offline_env(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codex: error: ") and says in lines[0], result.stderr
    assert result.stdout == ""
    assert_nothing_created(tmp_path)


def test_sql_never_contacts_the_configured_database(tmp_path: Path) -> None:
    """A configured remote primary (a listening socket here) and replica file are left alone."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        env = offline_env(tmp_path)
        env.update(
            VOX_DB_URL=f"http://127.0.0.1:{listener.getsockname()[1]}",
            VOX_DB_ALLOW_NO_TOKEN="1",
            VOX_DB_PATH=str(tmp_path / "never-created-replica.db"),
        )
        for args in (["codex", "db", "upgrade", "--sql"], ["alembic", "upgrade", "head", "--sql"]):
            result = run(args, env)
            assert result.returncode == 0, result.stderr
            assert "BEGIN;" in result.stdout
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert_nothing_created(tmp_path)


def test_libsql_executescript_stops_silently_at_an_error(tmp_path: Path) -> None:
    """Why the runner checks ``in_transaction``: libsql-experimental 0.0.55 raises nothing, stops at the
    failing statement and leaves the script's transaction open (a commit would keep the partial work)."""
    raw = libsql_experimental.connect(str(tmp_path / "stops.db"))
    raw.executescript("BEGIN; CREATE TABLE a (x); INSERT INTO nope VALUES (1); CREATE TABLE b (x); COMMIT;")
    assert raw.in_transaction
    raw.rollback()
    names = [r[0] for r in raw.execute("SELECT name FROM sqlite_schema").fetchall()]
    raw.close()
    assert names == []


def test_script_turns_foreign_keys_off_for_the_run(tmp_path: Path) -> None:
    """``PRAGMA foreign_keys=OFF`` before ``BEGIN`` takes effect under executescript (the driver opens
    no transaction of its own), so a rebuild inside the script cannot cascade."""
    raw = libsql_experimental.connect(str(tmp_path / "fk.db"))
    assert raw.execute("PRAGMA foreign_keys").fetchall() == [(1,)]  # libSQL's default is ON
    raw.executescript(
        "PRAGMA foreign_keys=OFF; BEGIN; CREATE TABLE p (id INTEGER PRIMARY KEY); "
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id) ON DELETE CASCADE); "
        "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1); DROP TABLE p; COMMIT; PRAGMA foreign_keys=ON;"
    )
    assert not raw.in_transaction
    assert raw.execute("SELECT count(*) FROM c").fetchall() == [(1,)]  # no cascade
    raw.close()
