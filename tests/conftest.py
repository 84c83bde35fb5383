"""Shared fixtures: every contract test runs on a local libSQL file and on a real sqld server."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from codex.config import DbConfig, LocalDb, RemoteDb
from codex.engine import FOREIGN_KEYS_OFF, dbapi_connection, make_engine
from tests.sqld import SqldServer, start_sqld

BACKENDS = ("local", "sqld")


def wipe(engine: sa.Engine) -> None:
    """Drop every user object of a (shared, remote) database so the next test starts empty."""
    with engine.connect() as conn:
        conn.info[FOREIGN_KEYS_OFF] = True
        try:
            with conn.begin():
                # explicit indexes first: libSQL forgets a vector index's metadata only on DROP INDEX
                # (dropping its table leaves libsql_vector_meta_shadow behind, and a later CREATE INDEX
                # of the same name fails with "unable to initialize diskann")
                for (name,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_schema WHERE type='index' AND sql IS NOT NULL "
                    "AND name NOT LIKE 'sqlite_%'"
                ).all():
                    conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')
                # virtual tables next: dropping one drops its shadow tables with it
                for (name,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_schema WHERE type='table' AND sql LIKE 'CREATE VIRTUAL%'"
                ).all():
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
                rows = conn.exec_driver_sql(
                    "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "
                    "AND name NOT LIKE 'libsql_%' AND sql IS NOT NULL ORDER BY rowid DESC"
                ).all()  # newest first: children before parents (sqld may keep foreign keys on)
                for kind, name in rows:
                    if kind in ("view", "trigger"):
                        conn.exec_driver_sql(f'DROP {kind.upper()} IF EXISTS "{name}"')
                for kind, name in rows:
                    if kind == "table":
                        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
        finally:
            conn.info.pop(FOREIGN_KEYS_OFF, None)
            dbapi_connection(conn).execute("PRAGMA foreign_keys=ON")


@pytest.fixture(scope="session")
def sqld_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqldServer]:
    """One sqld per test session, on 127.0.0.1, with its own data directory."""
    with start_sqld(tmp_path_factory.mktemp("sqld") / "data") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a contract test runs on."""
    return str(request.param)


@pytest.fixture
def db_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DbConfig]:
    """An empty database on the requested backend."""
    if backend == "local":
        yield LocalDb(path=str(tmp_path / "codex.db"), source="test")
        return
    server: SqldServer = request.getfixturevalue("sqld_server")
    config = RemoteDb(url=server.url, token="", source="test")
    engine = make_engine(config)
    wipe(engine)
    try:
        yield config
    finally:
        wipe(engine)
        engine.dispose()


@pytest.fixture
def engine(db_config: DbConfig) -> Iterator[sa.Engine]:
    """A write engine on an empty database."""
    eng = make_engine(db_config)
    try:
        yield eng
    finally:
        eng.dispose()


def pytest_sessionstart(session: pytest.Session) -> None:
    """CI fails on a multi-head (or broken) chain with the same one line every ``codex db`` command prints."""
    from codex.errors import SchemaError
    from codex.migrate import head_revision

    try:
        head_revision()
    except SchemaError as exc:
        pytest.exit(f"codex: error: {exc.message}", returncode=2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag every test that uses the sqld backend with the ``sqld`` marker."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "sqld":
            item.add_marker(pytest.mark.sqld)


@pytest.fixture(autouse=True)
def _no_ambient_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a developer's database variables."""
    for name in list(os.environ):
        if name.startswith(("VOX_", "TURSO_")):
            monkeypatch.delenv(name, raising=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under CI, a failure is printed when it happens: were a later test stuck (and the run ended by
    the ``faulthandler_timeout`` watchdog), the summary at the end would never be printed."""
    report = yield
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if report.failed and os.environ.get("CI") and reporter is not None:
        reporter.write_line(f"\n=== FAILED {report.nodeid} ({report.when}) ===\n{report.longreprtext}")
    return report
