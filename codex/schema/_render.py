"""Render the baseline DDL from the ``Table`` objects, fragment by fragment.

Every statement comes from SQLAlchemy's SQLite DDL compiler (``CreateTable`` / ``CreateIndex`` with
``if_not_exists=True``); nothing here is a hand-written SQL string. Each statement ends with ``;`` so
that the baseline text also runs as a script in any SQLite shell.

The main store's baseline is **not** rendered at run time: its fragments were rendered once and frozen
(:mod:`codex.schema._frozen`); ``codex db rebaseline`` and the freezing test use this renderer, and a
sanctioned satellite store (the secrets vault) renders its own ``metadata`` and ``fragments`` here.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from codex.errors import SchemaError
from codex.schema._fragments import Fragment

__all__ = [
    "render_baseline_sql",
    "render_baseline_statements",
    "render_fragment_sql",
    "render_fragment_statements",
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


def render_fragment_statements(
    fragment: Fragment, *, metadata: sa.MetaData, fragments: Fragments
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


def render_fragment_sql(fragment: Fragment, *, metadata: sa.MetaData, fragments: Fragments) -> str:
    """One fragment's DDL text, trimmed (the empty string for v4, v5 and v7 of the main store)."""
    return "\n".join(render_fragment_statements(fragment, metadata=metadata, fragments=fragments)).strip()


@functools.cache
def render_baseline_sql(*, metadata: sa.MetaData, fragments: Fragments) -> str:
    """The baseline DDL: every non-empty fragment, trimmed, joined with one blank line.

    Args:
        metadata: The store's ``MetaData`` .
        fragments: The store's fragment manifest .

    Example:
        >>> from domains import metadata
        >>> from codex.schema import SCHEMA_FRAGMENTS
        >>> render_baseline_sql(metadata=metadata, fragments=SCHEMA_FRAGMENTS[:1]).startswith("CREATE TABLE")
        True
    """
    parts = (render_fragment_sql(f, metadata=metadata, fragments=fragments) for f in fragments)
    return "\n\n".join(sql for sql in parts if sql)


@functools.cache
def render_baseline_statements(*, metadata: sa.MetaData, fragments: Fragments) -> tuple[str, ...]:
    """Every baseline statement in order, one per item, ready for ``exec_driver_sql``."""
    return tuple(
        stmt
        for fragment in fragments
        for stmt in render_fragment_statements(fragment, metadata=metadata, fragments=fragments)
    )
