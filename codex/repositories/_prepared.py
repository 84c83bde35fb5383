"""Core statements compiled once for the repository gateway's DBAPI fast path.

Every statement is written in SQLAlchemy Core. The handful on the hottest paths (a mutation's usage
charge and change-log row, the reactivity bookkeeping, the search queue's claim) run hundreds of times a
second, where ``Connection.execute`` costs 100-200 µs of CPU per statement in execution setup, events and
result buffering. :func:`prepare` compiles such a statement once, at import, to its ``qmark`` SQL and the
order of its parameters; :meth:`codex.repositories._base.Repository._run` then binds a parameter dict
and runs it on the DBAPI connection, inside the caller's transaction. The SQL is the one SQLAlchemy
renders; nothing is written by hand.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.engine import dbapi_connection, safe_params, translate_db_error

__all__ = ["Prepared", "Ran", "execute_prepared", "prepare", "run_prepared", "run_prepared_many"]

_DIALECT = sqlite.dialect(paramstyle="qmark")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A Core statement with its compiled SQL and the order of its parameters.

    Attributes:
        statement: The Core statement (what :meth:`Repository._execute` would run).
        sql: Its SQL for the SQLite dialect, ``?`` placeholders.
        names: The bound parameter of each placeholder, in order.
        constants: The values bound in the statement itself (literals in expressions).
        processors: The bind processors of typed parameters (e.g. dates), by name.
    """

    statement: sa.Executable
    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    returns_rows: bool = True
    """False for a statement that returns no rows (no ``RETURNING``): its cursor is not read."""
    plain: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
    """For a statement whose every parameter is given by name, unprocessed: the values in order."""

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for ``params`` (by name; constants fill the rest).

        Raises:
            KeyError: A parameter the statement needs is missing from ``params``.
        """
        if self.plain is not None:
            return self.plain(params)
        values = []
        for name in self.names:
            value = params[name] if name in params else self.constants[name]
            processor = self.processors.get(name)
            values.append(value if processor is None else processor(value))
        return tuple(values)

    def bind_many(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """:meth:`bind` for each row of an ``executemany``."""
        return [self.bind(row) for row in rows]


class Ran(NamedTuple):
    """What a prepared statement returned, read in full while its errors could still be translated
    (libSQL reports a constraint failure of ``INSERT … RETURNING`` when the row is fetched)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    rowcount: int
    lastrowid: int | None

    def fetchone(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every row."""
        return self.rows

    @classmethod
    def of(cls, cursor: Any, returns_rows: bool = True) -> Ran:
        """Read a DBAPI cursor that has just run a statement (its rows only when it ``returns_rows``)."""
        description = (cursor.description or ()) if returns_rows else ()
        rows = [tuple(r) for r in cursor.fetchall()] if description else []
        rowcount = cursor.rowcount
        return cls(
            tuple(d[0] for d in description), rows, -1 if rowcount is None else rowcount, cursor.lastrowid
        )


def prepare(statement: sa.Executable) -> Prepared:
    """Compile ``statement`` once for the fast path.

    Raises:
        ValueError: The statement needs SQLAlchemy at execution time: an expanding ``IN`` parameter or a
            parameter rendered into the SQL per execution. Run such a statement with ``_execute``.

    Example:
        >>> t = sa.table("t", sa.column("a"), sa.column("b"))
        >>> p = prepare(sa.select(t.c.a).where(t.c.b == sa.bindparam("b"), t.c.a > 5))
        >>> p.sql.replace("\\n", "")
        'SELECT t.a FROM t WHERE t.b = ? AND t.a > ?'
        >>> p.bind({"b": "x"})
        ('x', 5)
    """
    compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    binds: dict[str, sa.BindParameter[Any]] = compiled.binds
    if any(b.expanding for b in binds.values()) or compiled.literal_execute_params:
        raise ValueError("an expanding or literal-execute parameter cannot be prepared; use _execute")
    names = tuple(compiled.positiontup or ())
    used = {n: binds[n] for n in names}
    constants = {n: b.effective_value for n, b in used.items() if not b.required and b.callable is None}
    processors = {
        n: proc for n, b in used.items() if (proc := b.type.dialect_impl(_DIALECT).bind_processor(_DIALECT))
    }
    plain = None
    if not constants and not processors:
        if len(names) == 1:
            only = names[0]
            plain = lambda params: (params[only],)  # noqa: E731
        elif names:
            plain = operator.itemgetter(*names)
    returns_rows = bool(getattr(statement, "is_select", False) or compiled.effective_returning)
    return Prepared(statement, str(compiled), names, constants, processors, returns_rows, plain)


def _dbapi(conn: sa.Connection) -> Any:
    if not conn.in_transaction():
        conn.begin()  # what the first ``execute`` would do (autobegin)
    return dbapi_connection(conn)


def execute_prepared(conn: sa.Connection, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Any:
    """Run ``prepared`` on ``conn``'s DBAPI connection, in its transaction (begun if need be), and return
    the DBAPI cursor. For a statement without rows: the change-log append, the hottest statement, reads
    only ``lastrowid``. Anything that fetches rows goes through :func:`run_prepared`.

    Raises:
        CodexError: The driver's error, translated (:func:`codex.engine.translate_db_error`).
    """
    dbapi_conn = _dbapi(conn)
    try:
        return dbapi_conn.execute(prepared.sql, safe_params(prepared.bind(params or {})))
    except ValueError as exc:
        raise translate_db_error(exc) from exc


def run_prepared(conn: sa.Connection, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Ran:
    """Run ``prepared`` on ``conn``'s DBAPI connection, in its transaction (begun if need be).

    Returns:
        Its rows (read in full, so that a failure while fetching is translated too), ``rowcount`` and
        ``lastrowid``.

    Raises:
        CodexError: The driver's error, translated (:func:`codex.engine.translate_db_error`).
    """
    cursor = execute_prepared(conn, prepared, params)
    try:
        return Ran.of(cursor, prepared.returns_rows)
    except ValueError as exc:
        raise translate_db_error(exc) from exc


def run_prepared_many(conn: sa.Connection, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`run_prepared` as one ``executemany`` over ``rows``."""
    dbapi_conn = _dbapi(conn)
    try:
        dbapi_conn.executemany(prepared.sql, [safe_params(r) for r in prepared.bind_many(rows)])
    except ValueError as exc:
        raise translate_db_error(exc) from exc
