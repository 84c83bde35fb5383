"""Build a legacy database (a multi-row schema_version chain, rows in every exported table) and snapshot it.

Every foreign key resolves (a reference takes its parent's generated key). Values are generated from
each column's type so that every exported table gets rows with unicode text,
NULLs, BLOBs with non-UTF-8 bytes, integers beyond 32 and 53 bits, reals, JSON text, a text value that
starts with ``base64:`` and (optionally) a ~1 MB text. Rows are written through the driver with foreign
keys off (legacy files hold dangling references); large integers are bound through ``CAST(? AS
INTEGER)`` because the driver binds Python ints beyond 32 bits as REAL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from codex.config import DbConfig
from codex.engine import FOREIGN_KEYS_OFF, make_engine
from codex.legacy import LEGACY_EXPORT_TABLES
from codex.schema import baseline_statements
from domains import metadata
from domains._meta import TENANT_COLUMN

__all__ = ["LARGE_TEXT", "build_legacy", "insert_rows", "snapshot", "table_rows"]

LARGE_TEXT = ("large ✓ ünïcødé 𝄞 " * 55_000)[:1_000_000]
_I32 = 2**31


def _text(table: str, column: str, i: int) -> str:
    variants = (
        f"héllo wörld ✓ 𝄞 «{table}.{column}» line\nbreak \"quoted\" 'single' \\ tab\t #{i}",
        f"{table}-{column}-{i}",
        f"base64:not-a-blob-{i}",
        f'{{"k": [1, 2.5, null, "{i}"], "nested": {{"u": "ü"}}}}',
        f"  spaces  {i}  ",
    )
    return variants[i % len(variants)]


def _blob(i: int) -> bytes:
    variants = (
        bytes([0xFF, 0xFE, 0x00, 0x80, 0xC3, i % 256]),
        b"",
        bytes(range(256)) * 4,
        b"plain ascii bytes",
    )
    return variants[i % len(variants)] + i.to_bytes(4, "big")


def _integer(i: int) -> int:
    return (i + 1, 2**40 + i, -(i + 7), 2**62 + i)[i % 4]


def _real(i: int) -> float:
    return (i + 0.5, 1e-300 * (i + 1), -1.25e10 - i, 3.0 + i)[i % 4]


def _value(table: sa.Table, column: sa.Column[Any], i: int, n: int) -> Any:
    pk = [c.name for c in table.primary_key.columns]
    if column.name in pk and len(pk) == 1 and isinstance(column.type, sa.Integer):
        return i + 1
    if column.name == "to_conversation_id":  # CHECK from != to (needs n >= 2)
        return (i + 1) % n + 1
    if column.foreign_keys:  # the parent's generated key of row i % n: every reference resolves
        if column.nullable and i % 3 == 2:
            return None
        parent = next(iter(column.foreign_keys)).column
        return _value(parent.table, parent, i % n, n)
    if column.nullable and i % 3 == 2 and column.name not in pk:
        return None
    if isinstance(column.type, sa.LargeBinary):
        return _blob(i)
    if isinstance(column.type, sa.Integer):
        return _integer(i) if column.name not in pk else i + 1
    if isinstance(column.type, (sa.Float, sa.REAL, sa.Numeric)):
        return _real(i)
    if column.name in pk:
        return f"{table.name}-{column.name}-{i} ✓"
    return _text(table.name, column.name, i)


ADDED_BY_REVISIONS = {"search_documents.metadata_json"}
"""Columns of baseline tables that revisions added (besides every tenant-owned table's ``tenant_id``)."""


def _added(table: str, column: str) -> bool:
    return column == TENANT_COLUMN or f"{table}.{column}" in ADDED_BY_REVISIONS


def table_rows(name: str, n: int, *, large: bool = False) -> list[dict[str, Any]]:
    """``n`` generated rows for one table (the first row of ``memories`` gets the large text)."""
    table = metadata.tables[name]
    # An upstream (legacy) database has the baseline's columns, not those later revisions added.
    columns = [c for c in table.columns if not _added(table.name, c.name)]
    rows = [{c.name: _value(table, c, i, n) for c in columns} for i in range(n)]
    if large and name == "memories":
        rows[0]["content"] = LARGE_TEXT
    return rows


def _bind(value: Any) -> tuple[str, Any]:
    if isinstance(value, int) and not isinstance(value, bool) and not -_I32 <= value < _I32:
        return "CAST(? AS INTEGER)", str(value)
    return "?", value


def insert_rows(conn: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows with exact integers, through the DBAPI connection of ``conn``'s transaction."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    for row in rows:
        bound = [_bind(v) for v in row.values()]
        sql = f'INSERT INTO "{table}" ({", ".join(row)}) VALUES ({", ".join(mark for mark, _ in bound)})'
        dbapi.execute(sql, tuple(v for _, v in bound))


def build_legacy(
    config: DbConfig, n: int, *, large: bool = False, chain: tuple[int, ...] = (1, 2, 3)
) -> None:
    """A legacy database: the baseline, a ``schema_version`` chain, ``n`` rows in every exported table."""
    engine = make_engine(config)
    try:
        with engine.connect() as conn:
            conn.info[FOREIGN_KEYS_OFF] = True
            with conn.begin():
                for statement in baseline_statements():
                    conn.exec_driver_sql(statement)
                for version in chain:
                    conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (?)", (version,))
                for table in LEGACY_EXPORT_TABLES:
                    insert_rows(conn, table, table_rows(table, n, large=large))
            conn.info.pop(FOREIGN_KEYS_OFF, None)
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        engine.dispose()


def snapshot(
    engine: sa.Engine, tables: tuple[str, ...] = LEGACY_EXPORT_TABLES
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, with each value's SQLite ``typeof``, ordered by primary key."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in tables:
            table = metadata.tables[name]
            cols = [c.name for c in table.columns if not _added(name, c.name)]  # legacy rows have none
            order = ", ".join(c.name for c in table.primary_key.columns)
            select = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
            out[name] = [
                tuple(r) for r in conn.exec_driver_sql(f'SELECT {select} FROM "{name}" ORDER BY {order}')
            ]
    return out
