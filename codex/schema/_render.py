"""Render the baseline DDL from the ``Table`` objects, fragment by fragment.

Every statement comes from SQLAlchemy's SQLite DDL compiler (``CreateTable`` / ``CreateIndex`` with
``if_not_exists=True``); nothing here is a hand-written SQL string. Each statement ends with ``;`` so
that the baseline text also runs as a script in any SQLite shell.

Every function renders the main store by default (the ``domains`` MetaData and
:data:`~codex.schema.SCHEMA_FRAGMENTS`); a sanctioned satellite store (the secrets vault) passes its own
``metadata`` and ``fragments`` and so gets its own baseline text and digest.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from codex.errors import SchemaError
from codex.schema._fragments import SCHEMA_FRAGMENTS, Fragment
from domains import metadata as _MAIN_METADATA

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


Fragments = tuple[Fragment, ...]


def _table(name: str, metadata: sa.MetaData) -> sa.Table:
    try:
        return metadata.tables[name]
    except KeyError:
        raise SchemaError(
            f"fragment names table {name!r}, which no domain module defines", table=name
        ) from None


@functools.cache
def _claimed_indexes(fragments: Fragments) -> frozenset[str]:
    """Indexes that a fragment adds on an earlier fragment's table (rendered there, not with the table)."""
    return frozenset(ix for fragment in fragments for ix in fragment.indexes)


def _index(name: str, metadata: sa.MetaData) -> sa.Index:
    for table in metadata.tables.values():
        for index in table.indexes:
            if index.name == name:
                return index
    raise SchemaError(f"fragment names index {name!r}, which no domain table declares", index=name)


def fragment_statements(
    fragment: Fragment, *, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS
) -> tuple[str, ...]:
    """The DDL statements of one fragment, in order.

    Each table is followed by its own indexes (sorted by name), except indexes that a later
    fragment claims; then come the fragment's own ``indexes`` on earlier tables.

    Args:
        fragment: The fragment to render.
        metadata: The ``MetaData`` holding its tables (the main store's by default; a satellite
            store passes its own).
        fragments: The whole manifest the fragment belongs to (to know which indexes are claimed).
    """
    out: list[str] = []
    claimed = _claimed_indexes(tuple(fragments))
    for name in fragment.tables:
        table = _table(name, metadata)
        out.append(_compile(CreateTable(table, if_not_exists=True)))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            if index.name not in claimed:
                out.append(_compile(CreateIndex(index, if_not_exists=True)))
    out.extend(_compile(CreateIndex(_index(name, metadata), if_not_exists=True)) for name in fragment.indexes)
    return tuple(out)


def fragment_sql(
    fragment: Fragment, *, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS
) -> str:
    """One fragment's DDL text, trimmed (the empty string for v4, v5 and v7 of the main store)."""
    return "\n".join(fragment_statements(fragment, metadata=metadata, fragments=fragments)).strip()


@functools.cache
def baseline_sql(*, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS) -> str:
    """The baseline DDL: every non-empty fragment, trimmed, joined with one blank line.

    Args:
        metadata: The store's ``MetaData`` (default: the main Codex store's, from ``domains``).
        fragments: The store's fragment manifest (default: :data:`SCHEMA_FRAGMENTS`).

    Example:
        >>> from codex.schema import baseline_sql
        >>> baseline_sql().startswith("CREATE TABLE IF NOT EXISTS objects")
        True
    """
    parts = (fragment_sql(f, metadata=metadata, fragments=fragments) for f in fragments)
    return "\n\n".join(sql for sql in parts if sql)


@functools.cache
def baseline_statements(
    *, metadata: sa.MetaData = _MAIN_METADATA, fragments: Fragments = SCHEMA_FRAGMENTS
) -> tuple[str, ...]:
    """Every baseline statement in order, one per item, ready for ``exec_driver_sql``."""
    return tuple(
        stmt
        for fragment in fragments
        for stmt in fragment_statements(fragment, metadata=metadata, fragments=fragments)
    )


def baseline_table_names(*, fragments: Fragments = SCHEMA_FRAGMENTS) -> tuple[str, ...]:
    """The tables the baseline creates, in creation order."""
    return tuple(name for fragment in fragments for name in fragment.tables)
