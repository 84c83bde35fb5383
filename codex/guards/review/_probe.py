"""The inspected database: opened read-only, asked only ``SELECT`` counts, followed through renames.

The review never runs a migration statement against the configured database. It opens it with the
read role (``BEGIN DEFERRED``), without switching a local file to WAL, with ``PRAGMA query_only`` on a
local file, and runs ``SELECT count(*) …`` queries built by this module: the rows a dropped column
holds, the NULLs a new ``NOT NULL`` meets, the duplicates a new ``UNIQUE`` meets, the rows a new
``CHECK`` or foreign key rejects, the values a narrowed type cannot hold.

A pending revision runs after the ones before it, so :class:`Probe` keeps their lineage: a table
renamed by an earlier operation is counted under its old name, a table or column created by one is
known to be empty (or unknown once a statement wrote rows into it), and a table whose rows an earlier
statement changed (``UPDATE``, ``INSERT``, ``DELETE``) is marked *stale*: its count describes the
database before that statement, so a failure predicted from it is only a warning.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from codex.config import DbConfig
from codex.engine import READ_ONLY, make_engine
from codex.guards.review._types import fits, max_text_length

__all__ = ["Probe", "database_present", "describe_database", "dml_target", "open_inspected", "quote"]

_DML = re.compile(
    r"^\s*(?:with\b.*?\)\s*)?(?:update(?:\s+or\s+\w+)?|insert(?:\s+or\s+\w+)?\s+into|replace\s+into|"
    r"delete\s+from)\s+[\"`\[]?(?P<name>[A-Za-z_][\w$]*)",
    re.IGNORECASE | re.DOTALL,
)


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def dml_target(statement: str) -> str | None:
    """The table an ``INSERT`` / ``UPDATE`` / ``DELETE`` / ``REPLACE`` writes (None for anything else)."""
    match = _DML.match(statement)
    return match.group("name") if match else None


def database_present(config: DbConfig) -> bool:
    """Whether there is a database to inspect: a remote one, or a local file that exists."""
    if config.mode == "memory":
        return False
    if config.mode == "remote":
        return True
    return config.path != ":memory:" and Path(config.path).expanduser().is_file()


def describe_database(config: DbConfig) -> str:
    """``local /path/codex.db`` or ``remote https://host`` (never the token)."""
    if config.mode == "memory":
        return config.mode
    where = config.url if config.mode == "remote" else config.path
    return f"{config.mode} {where}"


@contextlib.contextmanager
def open_inspected(config: DbConfig) -> Iterator[sa.Connection]:
    """A read-only connection to the database a review inspects (nothing is written, not even WAL mode).

    Raises:
        DatabaseUnavailable: The database cannot be opened.
    """
    engine = make_engine(config, role="read", wal=False, create_dirs=False)
    if config.mode == "local":

        @sa.event.listens_for(engine, "connect")
        def _query_only(dbapi_conn: Any, conn_rec: Any) -> None:
            dbapi_conn.execute("PRAGMA query_only=1")

    try:
        with engine.connect() as conn:
            ro = conn.execution_options(**READ_ONLY)
            try:
                yield ro
            finally:
                if ro.in_transaction():
                    ro.rollback()
    finally:
        engine.dispose()


class Probe:
    """Read-only counts on the inspected database, following the pending operations' lineage.

    Every count returns None when it cannot be known: no database is inspected, the object is new
    and rows were written into it, or the query failed (a condition naming a column the database
    does not have yet, say). An object created by a pending operation and never written is empty.

    Args:
        conn: The inspected database (read-only), or None when none is inspected (``--base``).
    """

    def __init__(self, conn: sa.Connection | None) -> None:
        self.conn = conn
        self._aliases: dict[str, str] = {}  # a pending name → the name on the inspected database
        self._columns: dict[tuple[str, str], str] = {}
        self._new_tables: set[str] = set()
        self._new_columns: set[tuple[str, str]] = set()
        self._stale: dict[str, str] = {}  # table (pending name) → the statement that changed its rows
        self._real_columns: dict[str, set[str] | None] = {}

    @property
    def inspected(self) -> bool:
        """Whether a database is inspected (counts are possible)."""
        return self.conn is not None

    # --- lineage ----------------------------------------------------------------------------------------

    def created_table(self, table: str) -> None:
        """A pending operation creates ``table`` (empty until a statement writes into it)."""
        self._new_tables.add(table)
        self._aliases.pop(table, None)
        self._stale.pop(table, None)

    def dropped_table(self, table: str) -> None:
        """A pending operation drops ``table``: a later table of that name is a new one."""
        self._new_tables.discard(table)
        self._aliases[table] = ""  # "" = exists nowhere on the inspected database

    def renamed_table(self, old: str, new: str) -> None:
        """A pending operation renames ``old`` to ``new``."""
        if old in self._new_tables:
            self._new_tables.discard(old)
            self._new_tables.add(new)
        else:
            self._aliases[new] = self._aliases.get(old, old)
        if old in self._stale:
            self._stale[new] = self._stale.pop(old)
        for (table, col), source in list(self._columns.items()):
            if table == old:
                self._columns[(new, col)] = source
        self._new_columns |= {(new, c) for t, c in self._new_columns if t == old}

    def added_column(self, table: str, column: str) -> None:
        """A pending operation adds ``table.column``."""
        self._new_columns.add((table, column))

    def renamed_column(self, table: str, old: str, new: str) -> None:
        """A pending operation renames ``table.old`` to ``table.new``."""
        if (table, old) in self._new_columns:
            self._new_columns.add((table, new))
        else:
            self._columns[(table, new)] = self._columns.get((table, old), old)

    def wrote(self, table: str, statement: str) -> None:
        """A pending statement changes the rows of ``table``."""
        self._stale.setdefault(table, " ".join(statement.split())[:80])

    def stale(self, table: str | None) -> str | None:
        """The earlier pending statement that changed ``table``'s rows, if any."""
        return self._stale.get(table) if table else None

    def is_new(self, table: str | None) -> bool:
        """Whether ``table`` is created by a pending operation and no statement wrote into it."""
        return table is not None and table in self._new_tables and table not in self._stale

    def _source_table(self, table: str) -> str | None:
        name = self._aliases.get(table, table)
        if not name or table in self._new_tables or self.conn is None:
            return None
        return name if self._real_column_set(name) is not None else None

    def _real_column_set(self, table: str) -> set[str] | None:
        if table not in self._real_columns:
            assert self.conn is not None
            rows = self._select("SELECT name FROM pragma_table_info(?)", (table,))
            self._real_columns[table] = {str(r[0]) for r in rows} if rows else None
        return self._real_columns[table]

    def _source_column(self, table: str, column: str) -> tuple[str, str] | None:
        source = self._source_table(table)
        if source is None or (table, column) in self._new_columns:
            return None
        name = self._columns.get((table, column), column)
        return (source, name) if name in (self._real_column_set(source) or set()) else None

    # --- queries ------------------------------------------------------------------------------------------

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any] | None:
        assert self.conn is not None
        assert sql.lstrip().upper().startswith("SELECT"), sql
        try:
            return list(self.conn.exec_driver_sql(sql, tuple(params)).all())
        except sa.exc.DBAPIError:
            return None
        finally:
            if self.conn.in_transaction():
                self.conn.rollback()

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        rows = self._select(sql, params)
        return int(rows[0][0] or 0) if rows else None

    def _empty(self, table: str) -> int | None:
        """0 for a new, unwritten table; None when nothing can be counted."""
        return 0 if self.is_new(table) else None

    def rows(self, table: str) -> int | None:
        """How many rows ``table`` holds."""
        source = self._source_table(table)
        if source is None:
            return self._empty(table)
        return self._count(f"SELECT count(*) FROM {quote(source)}")

    def non_null(self, table: str, column: str) -> int | None:
        """How many rows hold a value in ``table.column``."""
        found = self._source_column(table, column)
        if found is None:
            return self._empty(table)
        source, col = found
        return self._count(f"SELECT count({quote(col)}) FROM {quote(source)}")

    def nulls(self, table: str, column: str) -> int | None:
        """How many rows hold NULL in ``table.column``."""
        found = self._source_column(table, column)
        if found is None:
            return self._empty(table)
        source, col = found
        return self._count(f"SELECT count(*) FROM {quote(source)} WHERE {quote(col)} IS NULL")

    def duplicates(self, table: str, columns: Sequence[str]) -> int | None:
        """How many rows share their (non-NULL) values of ``columns`` with another row."""
        found = [self._source_column(table, c) for c in columns]
        if not columns or any(f is None for f in found):
            return self._empty(table)
        source = found[0][0]  # type: ignore[index]
        cols = ", ".join(quote(f[1]) for f in found if f is not None)
        not_null = " AND ".join(f"{quote(f[1])} IS NOT NULL" for f in found if f is not None)
        return self._count(
            f"SELECT COALESCE(SUM(n), 0) FROM (SELECT count(*) AS n FROM {quote(source)} "
            f"WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1)"
        )

    def violations(self, table: str, condition: str) -> int | None:
        """How many rows a ``CHECK (condition)`` rejects (a NULL result passes, as in SQLite)."""
        source = self._source_table(table)
        if source is None:
            return self._empty(table)
        return self._count(f"SELECT count(*) FROM {quote(source)} WHERE NOT ({condition})")

    def orphans(
        self, table: str, columns: Sequence[str], parent: str, parent_columns: Sequence[str]
    ) -> int | None:
        """How many rows reference a ``parent`` row that does not exist (all-NULL references pass)."""
        found = [self._source_column(table, c) for c in columns]
        if not columns or any(f is None for f in found):
            return self._empty(table)
        child = found[0][0]  # type: ignore[index]
        parent_source = self._source_table(parent)
        parent_cols = [self._columns.get((parent, c), c) for c in parent_columns]
        local = [quote(f[1]) for f in found if f is not None]
        filled = " AND ".join(f"c.{c} IS NOT NULL" for c in local)
        if parent_source is None:  # a new, empty parent: every filled reference dangles
            return (
                self._count(f"SELECT count(*) FROM {quote(child)} AS c WHERE {filled}")
                if self.is_new(parent)
                else None
            )
        match = " AND ".join(f"p.{quote(pc)} = c.{lc}" for pc, lc in zip(parent_cols, local, strict=True))
        return self._count(
            f"SELECT count(*) FROM {quote(child)} AS c WHERE {filled} AND NOT EXISTS "
            f"(SELECT 1 FROM {quote(parent_source)} AS p WHERE {match})"
        )

    def misfits(self, table: str, column: str, new_type: Any) -> int | None:
        """How many values of ``table.column`` do not convert to ``new_type`` without loss."""
        found = self._source_column(table, column)
        if found is None:
            return self._empty(table)
        source, col = found
        bound = max_text_length(new_type)
        if bound is not None:
            return self._count(
                f"SELECT count(*) FROM {quote(source)} WHERE length({quote(col)}) > ?", (bound,)
            )
        assert self.conn is not None
        sql = f"SELECT {quote(col)} FROM {quote(source)} WHERE {quote(col)} IS NOT NULL"
        try:
            result = self.conn.exec_driver_sql(sql)
            return sum(1 for (value,) in result if not fits(value, new_type))
        except sa.exc.DBAPIError:
            return None
        finally:
            if self.conn.in_transaction():
                self.conn.rollback()
