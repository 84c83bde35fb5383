"""``codex legacy export``: read a database WITHOUT migrating it and write the legacy JSONL.

The source may be a legacy database (a multi-row ``schema_version`` chain, ``MAX(version)`` above the
baseline) or any Codex database; it is opened with :func:`open_legacy_engine`, which never migrates,
never switches the journal mode (``make_engine(config, wal=False)``) and refuses a local path that does
not exist instead of creating an empty database (upstream's ``connect_legacy_export_only``). The whole
export reads inside one ``BEGIN DEFERRED`` transaction: one consistent snapshot, no write lock.

Rows come table by table in :data:`LEGACY_EXPORT_TABLES` order, each table in the database's natural
order; a table that does not exist (no columns) or whose ``SELECT`` fails is skipped and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa

from codex.config import DbConfig
from codex.engine import READ_ONLY, make_engine, raw_connection, translate_db_error
from codex.errors import ConfigError
from codex.legacy._format import LEGACY_EXPORT_TABLES, encode_row

__all__ = [
    "ExportReport",
    "count_rows",
    "export_database",
    "export_legacy",
    "iter_export_lines",
    "open_legacy_engine",
    "read_snapshot",
    "table_columns",
]

_FETCH = 2000


def open_legacy_engine(config: DbConfig) -> sa.Engine:
    """An engine on ``config`` that never migrates and never changes the file.

    Raises:
        ConfigError: An in-memory or embedded-replica configuration (nothing to export from / the
            replica's local file would be synced), or a local path that does not exist.
    """
    if config.mode == "memory":
        raise ConfigError("legacy export/verify needs a database file or server, not :memory:", mode="memory")
    if config.mode == "replica":
        raise ConfigError(
            "legacy export/verify does not open embedded replicas; export the primary (VOX_DB_URL without "
            "VOX_DB_PATH) or the local file (VOX_DB_PATH alone)",
            mode="replica",
        )
    if config.mode == "local":
        path = Path(str(config.path)).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"no database file at {path}: refusing to create an empty one (check VOX_DB_PATH)",
                path=str(path),
            )
    return make_engine(config, role="read", wal=False, create_dirs=False)


@contextmanager
def read_snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read connection inside one ``BEGIN DEFERRED`` transaction (a consistent snapshot)."""
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(**READ_ONLY)
            with conn.begin():
                yield conn
    except sa.exc.DBAPIError as exc:
        raise translate_db_error(exc) from exc


def table_columns(conn: sa.Connection, table: str) -> list[str]:
    """The table's columns in ``PRAGMA table_info`` order (empty when the table does not exist)."""
    rows = conn.exec_driver_sql(f'PRAGMA table_info("{table}")').all()
    return [str(r[1]) for r in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_rows(conn: sa.Connection, tables: Sequence[str] = LEGACY_EXPORT_TABLES) -> dict[str, int]:
    """Rows per existing table (for a progress total); missing tables are left out."""
    out: dict[str, int] = {}
    for table in tables:
        if table_columns(conn, table):
            try:
                out[table] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {_quote(table)}").scalar() or 0)
            except sa.exc.DBAPIError:
                continue
    return out


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes:
        rows: Rows written per table, in export order (tables with zero rows included).
        skipped: Tables not exported, with the reason (missing, or the SELECT failed).
    """

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows written."""
        return sum(self.rows.values())


def iter_export_lines(
    conn: sa.Connection, *, tables: Sequence[str] = LEGACY_EXPORT_TABLES, report: ExportReport | None = None
) -> Iterator[tuple[str, str]]:
    """Yield ``(table, jsonl_line)`` for every row of every table, in export order.

    Args:
        conn: A connection inside a transaction (see :func:`read_snapshot`).
        tables: The tables, in order.
        report: Filled in as the rows go by (counts and skipped tables).
    """
    report = report if report is not None else ExportReport()
    dbapi = raw_connection(conn)
    for table in tables:
        columns = table_columns(conn, table)
        if not columns:
            report.skipped[table] = "no such table"
            continue
        sql = f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_quote(table)}"
        try:
            cursor = dbapi.execute(sql)
        except ValueError as exc:
            report.skipped[table] = f"SELECT failed: {exc}"
            continue
        report.rows[table] = 0
        while True:
            batch: list[Any] = cursor.fetchmany(_FETCH)
            if not batch:
                break
            for values in batch:
                report.rows[table] += 1
                yield table, encode_row(table, columns, values)


def export_legacy(
    conn: sa.Connection,
    out: TextIO,
    *,
    tables: Sequence[str] = LEGACY_EXPORT_TABLES,
    on_rows: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Write every row of ``tables`` to ``out`` as legacy JSONL.

    Args:
        conn: A connection inside a transaction (see :func:`read_snapshot`).
        out: A text stream (UTF-8), one line per row.
        tables: The tables, in order (default :data:`LEGACY_EXPORT_TABLES`).
        on_rows: Progress callback ``(table, rows_just_written)``, called every few hundred rows.

    Returns:
        Per-table counts and the skipped tables.
    """
    report = ExportReport()
    pending, current = 0, ""
    for table, line in iter_export_lines(conn, tables=tables, report=report):
        if on_rows is not None and table != current and pending:
            on_rows(current, pending)
            pending = 0
        current = table
        out.write(line)
        out.write("\n")
        pending += 1
        if on_rows is not None and pending >= 500:
            on_rows(table, pending)
            pending = 0
    if on_rows is not None and pending:
        on_rows(current, pending)
    return report


def export_database(
    config: DbConfig,
    path: str | Path,
    *,
    tables: Sequence[str] = LEGACY_EXPORT_TABLES,
    on_total: Callable[[dict[str, int]], None] | None = None,
    on_rows: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Export the database at ``config`` (not migrated) to the JSONL file ``path``.

    Args:
        config: The source database.
        path: The output file (created or truncated; written as UTF-8 with ``\\n`` line ends).
        tables: The tables, in order.
        on_total: Called once with the row count of every existing table, before writing.
        on_rows: Progress callback ``(table, rows_just_written)``.

    Returns:
        Per-table counts and the skipped tables.

    Raises:
        ConfigError: The source cannot be opened for export (see :func:`open_legacy_engine`).

    Example:
        >>> export_database(LocalDb(path="old.db"), "rows.jsonl").total  # doctest: +SKIP
        1234
    """
    engine = open_legacy_engine(config)
    try:
        with read_snapshot(engine) as conn:
            if on_total is not None:
                on_total(count_rows(conn, tables))
            with open(path, "w", encoding="utf-8", newline="\n") as out:
                return export_legacy(conn, out, tables=tables, on_rows=on_rows)
    finally:
        engine.dispose()
