"""The pure-Python Hrana driver (``codex.engine._hrana``) against a real sqld, and beside the libSQL
driver's remote client where both must agree."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator

import libsql_experimental
import pytest
import sqlalchemy as sa

from codex.config import RemoteDb
from codex.engine import _hrana, make_engine, translate_db_error
from codex.errors import Conflict, DatabaseUnavailable, InvalidInput
from tests.conftest import wipe
from tests.sqld import SqldServer, free_port

pytestmark = pytest.mark.sqld


@pytest.fixture
def url(sqld_server: SqldServer) -> Iterator[str]:
    """The session's sqld, emptied before and after."""
    engine = make_engine(RemoteDb(url=sqld_server.url, token="", source="test"))
    wipe(engine)
    try:
        yield sqld_server.url
    finally:
        wipe(engine)
        engine.dispose()


@pytest.fixture
def connect(url: str) -> Iterator[Callable[[], _hrana.Connection]]:
    """Opens Hrana connections to the emptied server; closes them after the test."""
    opened: list[_hrana.Connection] = []

    def make() -> _hrana.Connection:
        opened.append(_hrana.connect(url))
        return opened[-1]

    yield make
    for conn in opened:
        conn.close()


VALUES = [None, 0, -1, 2**62 + 7, -(2**63), 1.5, -0.25, "", "naïve ✓ \x00 nul", b"", b"\x00\xff\x10", True]


def test_values_round_trip_like_the_libsql_driver(url: str, connect: Callable[[], _hrana.Connection]) -> None:
    ours = connect()
    ours.execute("CREATE TABLE v (i INTEGER PRIMARY KEY, x)")
    ours.executemany("INSERT INTO v (x) VALUES (?)", [(v,) for v in VALUES])
    rows = ours.execute("SELECT x, typeof(x) FROM v ORDER BY i").fetchall()
    theirs = libsql_experimental.connect(url, isolation_level=None)
    assert rows == [tuple(r) for r in theirs.execute("SELECT x, typeof(x) FROM v ORDER BY i").fetchall()]
    assert [r[0] for r in rows] == [int(v) if isinstance(v, bool) else v for v in VALUES]
    assert ours.execute("SELECT ?", (math.nan,)).fetchone() == (None,)  # SQLite stores NaN as NULL
    cur = ours.execute("SELECT 1 AS a, 2 AS b")
    assert [d[0] for d in cur.description or ()] == ["a", "b"]
    assert ours.execute("INSERT INTO v (x) VALUES (1)").description is None


def test_unbindable_values_are_invalid_input(connect: Callable[[], _hrana.Connection]) -> None:
    conn = connect()
    for bad in (math.inf, "\ud800", object()):
        with pytest.raises(_hrana.Error) as info:
            conn.execute("SELECT ?", (bad,))
        assert isinstance(translate_db_error(info.value), InvalidInput)


class _Requests:
    """How many HTTP requests a connection sent since :func:`_count_requests`."""

    def __init__(self) -> None:
        self.sent = 0


def _count_requests(conn: _hrana.Connection) -> _Requests:
    count, post = _Requests(), conn._post

    def counting(body: bytes) -> tuple[int, bytes]:
        count.sent += 1
        return post(body)

    conn._post = counting  # type: ignore[method-assign]
    return count


def test_held_back_begin_costs_nothing_and_a_refused_begin_runs_nothing(
    connect: Callable[[], _hrana.Connection],
) -> None:
    conn = connect()
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    posts = _count_requests(conn)
    conn.execute("BEGIN IMMEDIATE")
    assert conn.in_transaction and posts.sent == 0
    conn.rollback()
    assert not conn.in_transaction and posts.sent == 0  # a transaction that ran nothing cost no request
    conn.execute("BEGIN DEFERRED")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.rollback()
    assert posts.sent == 1  # a deferred BEGIN went with the SELECT; its end waits for the next request
    conn.execute("BEGIN IMMEDIATE")  # takes the lock: sent alone, never batched with what follows
    conn.execute("INSERT INTO t (v) VALUES ('a')")
    conn.commit()
    assert posts.sent == 4
    # A BEGIN the server refuses: the statement sent with it must not run outside a transaction.
    conn.execute("BEGIN NONSENSE")
    with pytest.raises(_hrana.Error, match=r"syntax error|near"):
        conn.execute("INSERT INTO t (v) VALUES ('b')")
    assert not conn.in_transaction
    assert conn.execute("SELECT v FROM t").fetchall() == [("a",)]


def test_a_read_only_transaction_ends_with_the_next_request(
    connect: Callable[[], _hrana.Connection],
) -> None:
    reader, writer = connect(), connect()
    reader.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    posts = _count_requests(reader)
    for end in (reader.commit, reader.rollback):
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
        end()
        assert not reader.in_transaction
    assert posts.sent == 2  # one request per read; the first one's end went with the second
    for _ in range(2):  # the server still holds the reader's snapshot: writers go on
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO t DEFAULT VALUES")
        writer.commit()
    # The held end goes first: the reader's next statement sees every commit since, not its old snapshot.
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert posts.sent == 3 and not reader.in_transaction
    # A transaction that wrote is rolled back at once, in its own request.
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t")
    reader.execute("INSERT INTO t DEFAULT VALUES")
    reader.rollback()
    assert posts.sent == 6
    assert writer.execute("SELECT count(*) FROM t").fetchone() == (2,)
    # A stream let go while its end was held: the end goes with it (the server expires the stream).
    reader.execute("BEGIN")
    reader.execute("SELECT 1")
    reader.commit()
    reader._baton = None
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_savepoints_go_with_the_next_statement_and_keep_their_meaning(
    connect: Callable[[], _hrana.Connection],
) -> None:
    conn = connect()
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    posts = _count_requests(conn)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("SAVEPOINT one")
    conn.execute("INSERT INTO t (v) VALUES ('a')")  # BEGIN alone, then SAVEPOINT + INSERT
    conn.execute("RELEASE SAVEPOINT one")
    conn.execute("SAVEPOINT two")
    with pytest.raises(_hrana.IntegrityError):
        conn.execute("INSERT INTO t (v) VALUES ('a')")  # RELEASE + SAVEPOINT + INSERT (refused)
    conn.execute("INSERT INTO t (v) VALUES ('b')")  # the transaction goes on
    conn.execute("ROLLBACK TO SAVEPOINT two")
    conn.execute("SAVEPOINT three")
    conn.execute("INSERT INTO t (v) VALUES ('c')")
    conn.execute("RELEASE SAVEPOINT three")
    conn.commit()  # RELEASE + COMMIT
    assert posts.sent == 6 and not conn.in_transaction
    assert conn.execute("SELECT v FROM t ORDER BY v").fetchall() == [("a",), ("c",)]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t (v) VALUES ('d')")
    conn.execute("RELEASE SAVEPOINT nosuch")
    with pytest.raises(_hrana.DatabaseError, match="no such savepoint"):
        conn.commit()  # a refused step: the COMMIT did not run, the transaction is still open
    assert conn.in_transaction
    conn.rollback()
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_transactions_commit_roll_back_and_see_their_own_writes(
    connect: Callable[[], _hrana.Connection],
) -> None:
    conn, other = connect(), connect()
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute("INSERT INTO t (v) VALUES ('a')")
    assert (cur.lastrowid, cur.rowcount) == (1, 1)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)  # not committed yet
    conn.rollback()
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.execute("BEGIN")
    assert conn.executemany("INSERT INTO t (v) VALUES (?)", [("x",), ("y",)]).rowcount == 2
    conn.commit()
    assert other.execute("SELECT v FROM t ORDER BY id").fetchall() == [("x",), ("y",)]
    # executemany stops at the first failing row, and the error is the constraint's
    conn.execute("BEGIN")
    with pytest.raises(_hrana.IntegrityError) as info:
        conn.executemany("INSERT INTO t (v) VALUES (?)", [("z",), ("x",), ("w",)])
    err = translate_db_error(info.value)
    assert isinstance(err, Conflict) and err.details["table"] == "t"
    conn.rollback()
    assert other.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_script_keeps_its_pragma_and_transaction_on_one_stream(
    connect: Callable[[], _hrana.Connection],
) -> None:
    conn = connect()
    conn.executescript("PRAGMA foreign_keys=OFF; BEGIN IMMEDIATE;")
    assert conn.in_transaction
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
    conn.rollback()
    # The stream outlives the transaction, so its pragma does too, as on a SQLite connection.
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)
    conn.execute("PRAGMA foreign_keys=ON")
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert connect().execute("PRAGMA foreign_keys").fetchone() == (1,)  # another stream: sqld's default


def test_the_stream_is_kept_between_transactions_and_replaced_when_gone(
    connect: Callable[[], _hrana.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect()
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA foreign_keys=OFF")  # lives as long as the stream's connection: the marker
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.rollback()  # nothing open: sends nothing
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)  # the same stream
    conn._baton = "forgotten"  # as after a server restart
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)  # sent again on a new stream
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    conn.execute("PRAGMA foreign_keys=OFF")
    monkeypatch.setattr(_hrana, "STREAM_IDLE", 0.0)  # every idle stream is let go before the next request
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_a_stream_the_server_expired_is_replaced(
    connect: Callable[[], _hrana.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_hrana, "STREAM_IDLE", 60.0)  # keep it past sqld's 10 s expiry
    conn = connect()
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    baton = conn._baton
    time.sleep(10.5)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")  # STREAM_EXPIRED, then the BEGIN goes on a new stream
    assert conn._baton not in (None, baton)
    conn.commit()
    assert connect().execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_threads_overlap_their_round_trips(connect: Callable[[], _hrana.Connection]) -> None:
    """The point of this driver: a thread waiting on the server does not hold the GIL."""
    conns = [connect() for _ in range(4)]
    for c in conns:
        c.execute("SELECT 1")
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    def work(c: _hrana.Connection) -> None:
        for _ in range(50):
            c.execute("SELECT 1").fetchall()

    spinner = threading.Thread(target=spin)
    spinner.start()
    workers = [threading.Thread(target=work, args=(c,)) for c in conns]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    spinner.join()
    assert ticks > 1000  # the pure-Python thread ran while the others waited on the network


def test_the_server_ending_a_transaction_is_not_an_error_on_rollback(
    connect: Callable[[], _hrana.Connection],
) -> None:
    holder, waiter = connect(), connect()
    holder.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t DEFAULT VALUES")
    waiter.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    waiter.execute("INSERT INTO t DEFAULT VALUES")  # sqld hands the lock over once holder times out
    assert time.monotonic() - started < 30
    waiter.commit()
    holder.rollback()  # sqld ended holder's transaction: rolling back is a no-op, not an error
    assert not holder.in_transaction
    assert holder.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_engine_errors_and_unreachable_server(url: str) -> None:
    engine = make_engine(RemoteDb(url=url, token="", source="test"), remote_driver="hrana")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)")
        conn.exec_driver_sql("INSERT INTO u (email) VALUES ('a@x')")
    with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO u (email) VALUES ('a@x')")
    assert isinstance(translate_db_error(info.value), Conflict)
    engine.dispose()
    dead = make_engine(RemoteDb(url=f"http://127.0.0.1:{free_port()}", token="", source="test"))
    with pytest.raises(DatabaseUnavailable, match="cannot open the remote database"), dead.connect():
        pass


def test_the_configured_driver_is_the_one_connected(url: str) -> None:
    for driver, kind in (("hrana", _hrana.Connection), ("libsql", libsql_experimental.Connection)):
        engine = make_engine(RemoteDb(url=url, token="", source="test", driver=driver))
        try:
            with engine.connect() as conn:
                assert isinstance(conn.connection.dbapi_connection, kind)
        finally:
            engine.dispose()
