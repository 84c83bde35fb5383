"""The engine's fixes for the libSQL driver's defects, on a local file and on sqld."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from codex.config import LocalDb, RemoteDb
from codex.engine import READ_ONLY, make_engine, translate_db_error
from codex.errors import Conflict, DatabaseUnavailable
from tests.sqld import SqldServer


def test_wide_integers_round_trip_exactly(engine: sa.Engine) -> None:
    values = [2**31 - 1, 2**31, 2**40, 2**53 + 1, 2**62 + 7, -(2**63)]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE wide (i INTEGER, t TEXT)")
        conn.execute(sa.text("INSERT INTO wide VALUES (:i, :t)"), [{"i": v, "t": v} for v in values])
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT i, typeof(i), t FROM wide ORDER BY rowid").all()
        assert [r[0] for r in rows] == values and {r[1] for r in rows} == {"integer"}
        assert [r[2] for r in rows] == [str(v) for v in values]
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM wide WHERE i = ?", (2**53 + 1,)).scalar() == 1


def test_large_binary_works(engine: sa.Engine) -> None:
    table = sa.Table("blobs", sa.MetaData(), sa.Column("b", sa.LargeBinary))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), {"b": b"\x00\xff\xfe"})
        assert conn.execute(sa.select(table.c.b)).scalar() == b"\x00\xff\xfe"


def test_constraint_errors_become_conflicts_with_their_table(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)")
        conn.exec_driver_sql("INSERT INTO u (email) VALUES ('a@x')")
    with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO u (email) VALUES ('a@x')")
    err = translate_db_error(info.value)
    assert isinstance(err, Conflict)
    assert (err.details["constraint"], err.details["table"], err.details["columns"]) == (
        "unique",
        "u",
        ["email"],
    )


def test_foreign_keys_are_enforced(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE c (p INTEGER REFERENCES p(id))")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO c VALUES (42)")


def test_local_pragmas(tmp_path: object) -> None:
    eng = make_engine(LocalDb(path=f"{tmp_path}/p.db"), busy_timeout_ms=1234)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def test_read_only_connections_do_not_take_the_write_lock(tmp_path: object) -> None:
    config = LocalDb(path=f"{tmp_path}/r.db")
    writer = make_engine(config, busy_timeout_ms=200)
    reader = make_engine(config, role="read", busy_timeout_ms=200)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    with reader.connect() as rconn:
        rconn = rconn.execution_options(**READ_ONLY)
        with rconn.begin():
            rconn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar()
            with writer.begin() as wconn:  # would time out if the read had BEGIN IMMEDIATE
                wconn.exec_driver_sql("INSERT INTO t VALUES (1)")
    writer.dispose()
    reader.dispose()


def test_unreachable_server_is_database_unavailable() -> None:
    eng = make_engine(RemoteDb(url="http://127.0.0.1:9", token="x"))
    with pytest.raises((DatabaseUnavailable, sa.exc.OperationalError)), eng.connect() as conn:
        conn.exec_driver_sql("SELECT 1").scalar()
    eng.dispose()


def test_a_transaction_sqld_ended_keeps_the_callers_error(sqld_server: SqldServer) -> None:
    """sqld ends a transaction that holds the write lock for ~5 s while another writer waits; the
    ROLLBACK on leaving ``begin()`` then fails server-side, and must not replace the caller's error."""
    eng = make_engine(RemoteDb(url=sqld_server.url, token=""))
    try:
        with eng.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE ended (x INTEGER)")
        other = threading.Thread(target=_insert, args=(eng, 2))
        with pytest.raises(RuntimeError, match="the caller's error"), eng.begin() as conn:
            conn.exec_driver_sql("INSERT INTO ended VALUES (1)")
            other.start()
            other.join(timeout=30)  # it gets the lock only once sqld has ended this transaction
            assert not other.is_alive()
            raise RuntimeError("the caller's error")
        with eng.connect() as conn:  # nothing of ours committed, the other writer did, the pool is sound
            assert conn.exec_driver_sql("SELECT x FROM ended").scalars().all() == [2]
    finally:
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS ended")
        eng.dispose()


def _insert(engine: sa.Engine, value: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO ended VALUES (?)", (value,))
