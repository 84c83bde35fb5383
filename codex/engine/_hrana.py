"""A DBAPI driver for a remote libSQL primary (sqld, Turso): Hrana 3 over HTTP, in pure Python.

Why not the libSQL driver's remote client: it holds the GIL while it waits on the network
(``docs/libsql-driver.md``), so every thread of the process stalls for each round trip, and one
process runs one statement at a time whatever its thread count. This client waits in the socket layer,
which releases the GIL: the threads of one process overlap their round trips.

What it speaks (``POST /v3/pipeline``): a DBAPI connection is one HTTP keep-alive connection and one
Hrana *stream* (its ``baton`` travels with each request), kept from one transaction to the next while
it is used: a new stream costs sqld a new SQLite connection (:meth:`Connection._pipeline`). Round trips
are saved where that changes nothing:

* ``BEGIN …`` is held back until the transaction's first statement; a transaction that ran no
  statement costs no round trip. A deferred BEGIN followed by a read goes with it, as one Hrana
  *batch* whose second step runs only if the BEGIN succeeded. A BEGIN that takes the write lock
  (``IMMEDIATE``) goes alone, and is retried while sqld answers "database is locked" at once
  (:meth:`Connection._open`);
* ``ROLLBACK`` with no transaction open (a pool's reset) sends nothing;
* the end of a transaction that only read (a deferred ``BEGIN`` and ``SELECT``s) is held back and goes
  first in the stream's next request: a read costs no round trip to end it. Until then the server
  keeps that reader's snapshot open, which holds nothing but the checkpoint's progress past it; a
  stream let go idle (:data:`STREAM_IDLE`) ends it with the stream;
* each request asks the server whether the stream is still in a transaction (``get_autocommit``), so
  :meth:`Connection.rollback` after the server ended a transaction itself is a no-op, not an error.

Errors are :class:`Error` (a ``ValueError``, as the libSQL driver raises) whose message carries the
server's message and code (``SQLITE_CONSTRAINT_UNIQUE``, ``STREAM_EXPIRED``…), so
:mod:`codex.engine._errors` classifies both drivers' errors the same way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from codex.engine._http1 import ConnectFailed, HttpConnection, NoAnswer, NotSent

__all__ = [
    "Connection",
    "Cursor",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "OperationalError",
    "connect",
]

apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"

_BEGIN = re.compile(r"\s*BEGIN\b", re.IGNORECASE)
_TAKES_LOCK = re.compile(r"\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)
_READ = re.compile(r"\s*(SELECT|VALUES|EXPLAIN)\b", re.IGNORECASE)
_SAVEPOINT = re.compile(r"\s*(SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b", re.IGNORECASE)
_AUTOCOMMIT = {"type": "get_autocommit"}
_ROLLBACK = {"type": "execute", "stmt": {"sql": "ROLLBACK", "want_rows": False}}
STREAM_IDLE = 5.0
"""Seconds a stream may sit idle between transactions before it is let go (sqld expires it after 10)."""


class Error(ValueError):
    """Any error of this driver (a ``ValueError``, like the libSQL driver's, for one error mapping)."""


class InterfaceError(Error):
    """The driver was misused (a closed connection)."""


class DatabaseError(Error):
    """The server refused a statement."""


class OperationalError(DatabaseError):
    """The server could not be reached, or ended the stream or the transaction."""


class IntegrityError(DatabaseError):
    """A constraint failed."""


def _value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool | int):
        return {"type": "integer", "value": str(int(value))}
    if isinstance(value, float):
        if math.isnan(value):  # SQLite stores a NaN as NULL
            return {"type": "null"}
        if math.isinf(value):
            raise Error("Unsupported parameter type: an infinite float cannot be sent to the server")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Error("Unsupported parameter type: a string that is not valid Unicode") from None
        return {"type": "text", "value": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "blob", "base64": base64.b64encode(bytes(value)).decode("ascii").rstrip("=")}
    raise Error(f"Unsupported parameter type: {type(value).__name__}")


def _decode(cell: dict[str, Any]) -> Any:
    kind = cell["type"]
    if kind == "integer":
        return int(cell["value"])
    if kind == "text":
        return cell["value"]
    if kind == "float":
        return float(cell["value"])
    if kind == "blob":
        data = cell["base64"]
        return base64.b64decode(data + "=" * (-len(data) % 4))
    return None


def _stmt(sql: str, params: Sequence[Any] | None) -> dict[str, Any]:
    if params is not None and not isinstance(params, tuple | list):
        raise Error(f"Unsupported parameter container: {type(params).__name__} (use a tuple)")
    return {"sql": sql, "args": [_value(v) for v in params or ()], "want_rows": True}


def _busy(err: dict[str, Any]) -> bool:
    return "SQLITE_BUSY" in str(err.get("code") or "") or "database is locked" in str(err.get("message"))


def _error(err: dict[str, Any]) -> Error:
    message = str(err.get("message", "unknown error"))
    code = str(err.get("code") or "")
    text = f"Hrana: `stream error: `{message}`{f' ({code})' if code else ''}`"
    if "CONSTRAINT" in code or "constraint failed" in message:
        return IntegrityError(text)
    return DatabaseError(text) if code.startswith("SQLITE") and "BUSY" not in code else OperationalError(text)


class Cursor:
    """A DBAPI cursor: the rows of the last statement, held in memory."""

    arraysize = 1

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self.description: tuple[tuple[str, None, None, None, None, None, None], ...] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0

    def _load(self, result: dict[str, Any] | None) -> None:
        self._rows, self._at = [], 0
        if result is None:  # a BEGIN held back, or nothing run
            self.description, self.rowcount = None, -1
            return
        cols = result.get("cols") or []
        self.description = (
            tuple((c.get("name") or "", None, None, None, None, None, None) for c in cols) or None
        )
        self._rows = [tuple(_decode(cell) for cell in row) for row in result.get("rows") or ()]
        self.rowcount = int(result.get("affected_row_count") or 0) if not cols else -1
        rowid = result.get("last_insert_rowid")
        if rowid is not None:
            self.lastrowid = int(rowid)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        """Run one statement."""
        self._load(self.connection._run(sql, parameters))
        return self

    def executemany(self, sql: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Cursor:
        """Run one statement per parameter set, in one request; it stops at the first error."""
        self._load(None)
        self.rowcount = self.connection._run_many(sql, seq_of_parameters)
        return self

    def executescript(self, script: str) -> Cursor:
        """Run several ``;``-separated statements without parameters, in one request."""
        self._load(None)
        self.connection.executescript(script)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        """Up to ``size`` (default :attr:`arraysize`) more rows."""
        n = self.arraysize if size is None else size
        rows = self._rows[self._at : self._at + n]
        self._at += len(rows)
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every remaining row."""
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        """Drop the rows."""
        self._rows, self._at = [], 0

    def setinputsizes(self, sizes: Any) -> None:
        """DBAPI no-op."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """DBAPI no-op."""


class Connection:
    """A DBAPI connection to a remote libSQL server (see the module docstring).

    Args:
        url: ``http://`` or ``https://`` URL of the server (``libsql://`` and ``wss://`` mean https,
            ``ws://`` means http).
        auth_token: Sent as ``Authorization: Bearer``; empty for a server without auth.
        timeout: Seconds a request may take (connecting, sending, waiting for the answer).
        busy_timeout: Seconds a held-back ``BEGIN`` is retried while the server answers "database is
            locked" (see :meth:`_batch`).
    """

    def __init__(
        self, url: str, *, auth_token: str = "", timeout: float = 30.0, busy_timeout: float = 5.0, **_: Any
    ) -> None:
        split = urlsplit(url)
        secure = split.scheme in ("https", "libsql", "wss")
        if not split.hostname:
            raise InterfaceError(f"not a server URL: {url!r}")
        self._secure, self._host = secure, split.hostname
        self._port = split.port or (443 if secure else 80)
        self._path = split.path.rstrip("/") + "/v3/pipeline"
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self._timeout, self._busy_timeout = timeout, busy_timeout
        self._http = HttpConnection(
            split.hostname, self._port, secure=secure, timeout=timeout, headers=headers
        )
        self._baton: str | None = None
        self._idle_at = 0.0
        self._stream_path: str | None = None
        self._in_txn = False
        self._begin: str | None = None
        self._held: list[str] = []
        self._wrote = False  # this transaction ran more than reads (or took the lock)
        self._ending: list[dict[str, Any]] = []  # a read-only transaction's end, for the next request
        self._closed = False
        self.isolation_level: str | None = None

    # -- the wire -------------------------------------------------------------------------------------
    def _post(self, body: bytes) -> tuple[int, bytes]:
        if self._closed:
            raise InterfaceError("Cannot operate on a closed database.")
        for attempt in (0, 1):
            try:
                return self._http.post(self._stream_path or self._path, body)
            except NotSent:  # an idle keep-alive socket the server closed: nothing was sent
                if attempt == 0:
                    continue
                raise OperationalError("http error: the connection to the server was lost") from None
            except NoAnswer:
                if attempt == 0 and not self._in_txn:
                    # The server closed an idle keep-alive socket as the request arrived: a request
                    # on a reused socket that got no answer at all was not run (HTTP/1.1 § 9.2.2).
                    continue
                raise OperationalError("http error: the server closed the connection") from None
            except ConnectFailed as exc:
                raise OperationalError(f"error trying to connect: {exc}") from None
            except TimeoutError:
                raise OperationalError(f"http error: no answer within {self._timeout:g} s") from None
            except OSError as exc:
                raise OperationalError(f"http error: {exc}") from None
        raise OperationalError("http error: the connection to the server was lost")  # pragma: no cover

    def _pipeline(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``requests`` on the connection's stream, with a ``get_autocommit`` to learn whether a
        transaction is still open; returns the results of ``requests``.

        The stream outlives its transactions: sqld opens a SQLite connection (and parses the schema)
        for every new stream, which cost ~1.1 ms of its CPU per request on the migrated schema, against
        ~0.3 ms on a kept one. A stream idle for :data:`STREAM_IDLE` seconds is let go before the server
        expires it (after 10 s); one the server expired or forgot anyway is replaced, and the request sent
        again, when no transaction was open on it: the server ran nothing of a request it refused so.
        """
        if not self._in_txn and self._baton is not None and time.monotonic() - self._idle_at > STREAM_IDLE:
            self._baton, self._stream_path = None, None  # the server expires it
        ending, self._ending = (self._ending, []) if self._baton is not None else ([], [])
        reused = not self._in_txn and self._baton is not None
        body = json.dumps({"baton": self._baton, "requests": [*ending, *requests, _AUTOCOMMIT]}).encode()
        try:
            status, raw = self._post(body)
        except Error:  # no answer: the stream's state is unknown, the server expires it
            self._baton, self._stream_path, self._in_txn = None, None, False
            raise
        if status != 200:
            self._baton, self._stream_path, self._in_txn = None, None, False
            text = raw.decode("utf-8", "replace")
            if status == 401:
                raise OperationalError(f"http error: 401 Unauthorized: {text}")
            try:
                detail = json.loads(text)
                message, code = detail.get("message", text), detail.get("code", "")
            except ValueError:
                message, code = text, ""
            if reused and status == 400 and (code == "STREAM_EXPIRED" or "invalid baton" in message):
                return self._pipeline(requests)  # on a new stream (the baton is gone now)
            raise OperationalError(f"Hrana: `stream error: `{message}` ({code or status})`")
        answer = json.loads(raw)
        results: list[dict[str, Any]] = answer["results"]
        self._baton = answer.get("baton")
        base = answer.get("base_url")
        self._stream_path = (base.rstrip("/") + "/v3/pipeline") if base else None
        last = results[-1]
        self._in_txn = last.get("type") == "ok" and not last["response"].get("is_autocommit", True)
        self._idle_at = time.monotonic()
        return results[len(ending) : len(ending) + len(requests)]

    def _close_stream(self) -> None:
        baton, self._baton, self._stream_path = self._baton, None, None
        self._ending = []  # closing the stream ends its transaction
        if baton is not None:
            with contextlib.suppress(Error):  # else the server expires the abandoned stream itself
                self._post(json.dumps({"baton": baton, "requests": [{"type": "close"}]}).encode())

    @staticmethod
    def _ok(result: dict[str, Any]) -> dict[str, Any]:
        if result.get("type") == "error":
            raise _error(result["error"])
        response: dict[str, Any] = result["response"]
        return response

    # -- statements -----------------------------------------------------------------------------------
    def _open(self) -> None:
        """Send the held-back BEGIN on its own, on a new stream.

        A BEGIN that takes the write lock (``IMMEDIATE``), or one followed by a write, is never
        batched with the statement after it: sqld stalled every stream now and then (1 run in 5 of
        16 processes x 50 transactions, until the clients' timeouts) when a batch had to wait for the
        lock. Alone, it waits like any statement. When the server answers "database is locked" at once
        (it does, now and then, where SQLite's busy handler would have waited), nothing ran: the BEGIN
        is sent again after a short sleep, in Python and without the GIL, until ``busy_timeout``.
        """
        begin, self._begin = self._begin, None
        assert begin is not None
        self._wrote = True
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.002
        while True:
            (result,) = self._pipeline([{"type": "execute", "stmt": {"sql": begin, "want_rows": False}}])
            if result.get("type") != "error" or not _busy(result["error"]) or time.monotonic() >= deadline:
                self._ok(result)
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _batch(self, steps: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Run ``steps`` (each conditioned on the previous one) as one batch on the stream; returns
        their results. What was held back goes first in the same batch: a deferred BEGIN followed by a
        read, and the savepoint statements (a lock-taking BEGIN is sent alone first, :meth:`_open`)."""
        begin = self._begin
        if begin is not None and (_TAKES_LOCK.match(begin) or not _READ.match(steps[0]["stmt"]["sql"])):
            self._open()
            begin = None
        self._begin = None
        held = [*([begin] if begin is not None else []), *self._held]
        self._held = []
        steps = [*({"stmt": {"sql": sql, "want_rows": False}} for sql in held), *steps]
        for i, step in enumerate(steps[1:], start=1):
            step["condition"] = {"type": "ok", "step": i - 1}
        (result,) = self._pipeline([{"type": "batch", "batch": {"steps": steps}}])
        batch = self._ok(result)["result"]
        for error in batch.get("step_errors") or ():
            if error is not None:
                raise _error(error)
        results: list[dict[str, Any] | None] = batch["step_results"]
        return results[len(held) :]

    def _run(self, sql: str, params: Sequence[Any] | None) -> dict[str, Any] | None:
        if _BEGIN.match(sql) and not self._in_txn and self._begin is None:
            self._begin, self._wrote = sql, False  # sent with the first statement of the transaction
            return None
        if self.in_transaction and not params and _SAVEPOINT.match(sql):
            self._held.append(sql)  # sent with the next statement, or the COMMIT
            return None
        stmt = _stmt(sql, params)
        if not _READ.match(sql):
            self._wrote = True
        if self._begin is not None or self._held:
            return self._batch([{"stmt": stmt}])[0]
        (result,) = self._pipeline([{"type": "execute", "stmt": stmt}])
        executed: dict[str, Any] = self._ok(result)["result"]
        return executed

    def _run_many(self, sql: str, seq: Sequence[Sequence[Any]]) -> int:
        self._wrote = True
        steps = [{"stmt": {**_stmt(sql, params), "want_rows": False}} for params in seq]
        if not steps:
            return 0
        return sum(int(r.get("affected_row_count") or 0) for r in self._batch(steps) if r)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        """Run one statement (the ``sqlite3`` shortcut)."""
        return Cursor(self).execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Cursor:
        """Run one statement per parameter set (the ``sqlite3`` shortcut)."""
        return Cursor(self).executemany(sql, seq_of_parameters)

    def executescript(self, script: str) -> None:
        """Run ``;``-separated statements in one request, on the connection's stream (a script that
        opens a transaction keeps it open, with the pragmas it set)."""
        if self._begin is not None or self._held:
            self._batch([{"stmt": {"sql": "SELECT 1", "want_rows": False}}])  # what was held back first
        self._wrote = True
        (result,) = self._pipeline([{"type": "sequence", "sql": script}])
        self._ok(result)

    def cursor(self) -> Cursor:
        """A new cursor."""
        return Cursor(self)

    # -- transactions ---------------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open (or held back, waiting for its first statement)."""
        return self._in_txn or self._begin is not None

    def _end(self, sql: str) -> None:
        self._begin = None
        held, self._held = self._held, []
        wrote, self._wrote = self._wrote, False
        if not self._in_txn:
            return
        if not wrote:
            # Only reads ran: COMMIT and ROLLBACK both just end it. Held back for the next request
            # (whatever the server answers to it then, the transaction is over).
            self._ending, self._in_txn = [_ROLLBACK], False
            return
        if sql == "COMMIT":
            # With the savepoint statements held back, in one batch; a refused COMMIT leaves the
            # transaction open (the server says so), for the caller's ROLLBACK.
            self._held = held
            self._batch([{"stmt": {"sql": sql, "want_rows": False}}])
            return
        (result,) = self._pipeline([{"type": "execute", "stmt": {"sql": sql, "want_rows": False}}])
        # A refused ROLLBACK means the server already ended the transaction (it timed it out, or a
        # statement failed hard): it is over either way, and raising would hide the error that led here.
        del result

    def commit(self) -> None:
        """Commit the open transaction (nothing to do when none is open)."""
        self._end("COMMIT")

    def rollback(self) -> None:
        """Roll the open transaction back (nothing to do when none is open, e.g. the server ended it)."""
        self._end("ROLLBACK")

    def close(self) -> None:
        """Roll back what is open and close the HTTP connection."""
        if self._closed:
            return
        try:
            with contextlib.suppress(Error):
                self._end("ROLLBACK")
            self._close_stream()
        finally:
            self._http.close()
            self._closed = True

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Python functions cannot run on a remote server: accepted and ignored (as the libSQL driver)."""


def connect(
    database: str, *, auth_token: str = "", timeout: float = 30.0, busy_timeout: float = 5.0, **kwargs: Any
) -> Connection:
    """Open a :class:`Connection` to ``database`` (a server URL); nothing is sent until the first
    statement."""
    return Connection(database, auth_token=auth_token, timeout=timeout, busy_timeout=busy_timeout, **kwargs)
