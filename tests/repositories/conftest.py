"""Repository contract fixtures: a migrated store on a local file and on sqld, empty for each test.

Migrating once per session and copying (local) or truncating (sqld) per test keeps the suite fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex.config import DbConfig, LocalDb, RemoteDb
from codex.engine import FOREIGN_KEYS_OFF
from codex.store import Store, open_store
from tests.conftest import wipe
from tests.sqld import SqldServer

KEEP = ("alembic_version", "schema_version", "codex_migration_ledger")


@pytest.fixture(scope="session")
def local_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local file migrated to head once per session."""
    path = tmp_path_factory.mktemp("template") / "codex.db"
    open_store(LocalDb(path=str(path))).dispose()
    return path


@pytest.fixture(scope="session")
def sqld_migrated(sqld_server: SqldServer) -> DbConfig:
    """The session's sqld, wiped and migrated to head once."""
    config = RemoteDb(url=sqld_server.url, token="", source="test")
    store = Store(config)
    wipe(store.engine)
    store.dispose()
    open_store(config).dispose()
    return config


def _migrated(store: Store) -> bool:
    with store.connect() as conn:
        found = conn.exec_driver_sql("SELECT 1 FROM sqlite_schema WHERE name = 'codex_change_log'").first()
    return found is not None


def truncate(store: Store) -> None:
    """Empty every data table (keeping the migration bookkeeping) and reset AUTOINCREMENT."""
    with store.engine.connect() as conn:
        conn.info[FOREIGN_KEYS_OFF] = True  # the transaction begins with foreign keys off (sqld too)
        try:
            with conn.begin():
                names = [
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                        "AND name NOT LIKE 'libsql_%' AND name NOT LIKE '%_shadow' AND sql NOT LIKE "
                        "'CREATE VIRTUAL%'"
                    )
                ]
                # A bare DELETE (SQLite's truncate shortcut) leaves a libSQL vector index's shadow rows
                # behind; a WHERE clause makes it delete row by row, through the index.
                vector_tables = {
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT tbl_name FROM sqlite_schema WHERE type='index' AND sql LIKE '%libsql_vector_idx%'"
                    )
                }
                for name in names:
                    if name not in KEEP and "_fts_" not in name:
                        where = " WHERE true" if name in vector_tables else ""
                        conn.exec_driver_sql(f'DELETE FROM "{name}"{where}')
                # External-content FTS5 tables index rows that were just deleted: empty them too.
                for (fts,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_schema WHERE type='table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%content=%'"
                ).all():
                    conn.exec_driver_sql(f'INSERT INTO "{fts}"("{fts}") VALUES (\'delete-all\')')
                conn.exec_driver_sql("DELETE FROM sqlite_sequence")
        finally:
            conn.info.pop(FOREIGN_KEYS_OFF, None)
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated, empty store on the requested backend (``local`` file or real ``sqld``)."""
    if backend == "local":
        template: Path = request.getfixturevalue("local_template")
        path = tmp_path / "codex.db"
        shutil.copyfile(template, path)
        s = open_store(LocalDb(path=str(path)), migrate="none")
    else:
        config: DbConfig = request.getfixturevalue("sqld_migrated")
        s = open_store(config, migrate="none")
        if not _migrated(s):  # another module on this worker wiped the shared server since
            s.dispose()
            s = open_store(config)
        truncate(s)
    try:
        yield s
    finally:
        s.dispose()
