"""Render the baseline DDL from the ``Table`` objects, fragment by fragment.

Every statement comes from SQLAlchemy's SQLite DDL compiler (``CreateTable`` / ``CreateIndex`` with
``if_not_exists=True``); nothing here is a hand-written SQL string. Each statement ends with ``;`` so
that the baseline text also runs as a script in any SQLite shell.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from codex.errors import SchemaError
from codex.schema._fragments import SCHEMA_FRAGMENTS, Fragment
from domains import metadata

__all__ = [
    "baseline_sql",
    "baseline_statements",
    "baseline_table_names",
    "fragment_sql",
    "fragment_statements",
]

_DIALECT = sqlite.dialect()


def _compile(ddl: CreateTable | CreateIndex) -> str:
    text = str(ddl.compile(dialect=_DIALECT))
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(lines) + ";"


def _table(name: str) -> sa.Table:
    try:
        return metadata.tables[name]
    except KeyError:
        raise SchemaError(
            f"fragment names table {name!r}, which no domain module defines", table=name
        ) from None


@functools.cache
def _claimed_indexes() -> frozenset[str]:
    """Indexes that a fragment adds on an earlier fragment's table (rendered there, not with the table)."""
    return frozenset(ix for fragment in SCHEMA_FRAGMENTS for ix in fragment.indexes)


def _index(name: str) -> sa.Index:
    for table in metadata.tables.values():
        for index in table.indexes:
            if index.name == name:
                return index
    raise SchemaError(f"fragment names index {name!r}, which no domain table declares", index=name)


def fragment_statements(fragment: Fragment) -> tuple[str, ...]:
    """The DDL statements of one fragment, in order.

    Each table is followed by its own indexes (sorted by name), except indexes that a later
    fragment claims; then come the fragment's own ``indexes`` on earlier tables.
    """
    out: list[str] = []
    claimed = _claimed_indexes()
    for name in fragment.tables:
        table = _table(name)
        out.append(_compile(CreateTable(table, if_not_exists=True)))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            if index.name not in claimed:
                out.append(_compile(CreateIndex(index, if_not_exists=True)))
    out.extend(_compile(CreateIndex(_index(name), if_not_exists=True)) for name in fragment.indexes)
    return tuple(out)


def fragment_sql(fragment: Fragment) -> str:
    """One fragment's DDL text, trimmed (the empty string for v4, v5 and v7)."""
    return "\n".join(fragment_statements(fragment)).strip()


@functools.cache
def baseline_sql() -> str:
    """The baseline DDL: every non-empty fragment, trimmed, joined with one blank line.

    Example:
        >>> from codex.schema import baseline_sql
        >>> baseline_sql().startswith("CREATE TABLE IF NOT EXISTS objects")
        True
    """
    return "\n\n".join(sql for sql in (fragment_sql(f) for f in SCHEMA_FRAGMENTS) if sql)


@functools.cache
def baseline_statements() -> tuple[str, ...]:
    """Every baseline statement in order, one per item, ready for ``exec_driver_sql``."""
    return tuple(stmt for fragment in SCHEMA_FRAGMENTS for stmt in fragment_statements(fragment))


def baseline_table_names() -> tuple[str, ...]:
    """The tables the baseline creates, in creation order."""
    return tuple(name for fragment in SCHEMA_FRAGMENTS for name in fragment.tables)
