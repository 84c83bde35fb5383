"""The schema as the models describe it, and how a live database drifts from it (``/api/admin/*``).

* :func:`describe_schema` builds the ``GET /api/admin/schema`` payload: the domains of ``domains/``
  (and bookkeeping) → tables → columns, keys, foreign keys with ``ON DELETE``, indexes and the fragment
  or revision that created each table; :func:`row_counts` adds the row counts (all tenants).
* :func:`schema_drift` details what ``/ready`` found: missing / extra / changed tables (with their
  columns and table constraints, split by :func:`table_parts`), indexes, views and triggers.

The route adapters live in :mod:`codex.api.routes_admin`.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects import sqlite

from codex.migrate import expected_head_schema, script_directory, user_tables
from codex.schema import SCHEMA_FRAGMENTS, diff_schemas, read_live_schema
from codex.store import Store
from domains import DOMAINS

__all__ = [
    "ColumnDrift",
    "ColumnInfo",
    "DomainInfo",
    "Drift",
    "ForeignKeyInfo",
    "IndexInfo",
    "SchemaResponse",
    "TableDrift",
    "TableInfo",
    "describe_schema",
    "row_counts",
    "schema_drift",
    "table_parts",
]

_DIALECT = sqlite.dialect()
_CREATE_TABLE = re.compile(r"create_table\(\s*['\"]([A-Za-z0-9_]+)['\"]")


# -- response models --------------------------------------------------------------------------------
class ColumnDrift(BaseModel):
    """How one column differs from head."""

    column: str
    expected: str = Field(description="The column definition at head (type, NOT NULL, DEFAULT…).")
    live: str = Field(description="The column definition in the database.")


class TableDrift(BaseModel):
    """A table whose definition differs from head."""

    table: str
    missing_columns: list[str]
    extra_columns: list[str]
    changed_columns: list[ColumnDrift]
    missing_constraints: list[str]
    extra_constraints: list[str]


class Drift(BaseModel):
    """Everything that differs between the database and the code's head (empty when ready)."""

    missing_tables: list[str]
    extra_tables: list[str]
    missing_indexes: list[str]
    extra_indexes: list[str]
    changed_indexes: list[str]
    tables: list[TableDrift]
    other: list[str] = Field(description="Views and triggers that are missing, extra or changed.")


class ColumnInfo(BaseModel):
    name: str
    type: str
    nullable: bool
    default: str | None
    primary_key: bool


class ForeignKeyInfo(BaseModel):
    name: str | None
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    ondelete: str | None = Field(description="The ON DELETE action (None: NO ACTION).")
    ref_domain: str | None = Field(description="The domain of the referenced table.")


class IndexInfo(BaseModel):
    name: str
    columns: list[str]
    unique: bool


class TableInfo(BaseModel):
    name: str
    created_by: str = Field(description="`v<N>: <title>` (baseline fragment) or `revision <id>: <title>`.")
    columns: list[ColumnInfo]
    primary_key: list[str]
    unique: list[list[str]]
    foreign_keys: list[ForeignKeyInfo]
    indexes: list[IndexInfo]
    row_count: int | None = Field(description="Rows in the table (all tenants; admin scope only).")


class DomainInfo(BaseModel):
    name: str
    schema_domain: bool = Field(description="One of the 18 schema domains (False: bookkeeping).")
    tables: list[TableInfo]


class SchemaResponse(BaseModel):
    """The schema as the models describe it."""

    domains: list[DomainInfo]
    row_counts: Literal["shown", "operator scope required"]


# -- readiness drift ------------------------------------------------------------------------------------
_TABLE_CONSTRAINT = ("CONSTRAINT ", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN KEY")


def _split_top_level(body: str) -> list[str]:
    parts: list[str] = []
    depth, quote = 0, ""
    current: list[str] = []
    for ch in body:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if current:
        parts.append("".join(current).strip())
    return [p for p in parts if p]


def table_parts(ddl: str) -> tuple[dict[str, str], list[str]]:
    """Columns (name → definition) and table constraints of a normalised ``CREATE TABLE`` statement."""
    open_at, close_at = ddl.find("("), ddl.rfind(")")
    if open_at < 0 or close_at <= open_at:
        return {}, []
    columns: dict[str, str] = {}
    constraints: list[str] = []
    for part in _split_top_level(ddl[open_at + 1 : close_at]):
        if part.upper().startswith(_TABLE_CONSTRAINT):
            constraints.append(part)
            continue
        name, _, definition = part.partition(" ")
        columns[name.strip('"`[]')] = definition.strip() or "(no type)"
    return columns, constraints


def schema_drift(conn: sa.Connection) -> Drift:
    """Everything that differs between the database on ``conn`` and the code's head."""
    expected, live = expected_head_schema(), read_live_schema(conn)
    diff = diff_schemas(expected, live)
    buckets: dict[str, dict[str, list[str]]] = {}
    for what, keys in (("missing", diff.missing), ("extra", diff.extra), ("changed", diff.changed)):
        for key in keys:
            kind, _, name = key.partition(":")
            buckets.setdefault(kind, {}).setdefault(what, []).append(name)
    tables = buckets.get("table", {})
    indexes = buckets.get("index", {})
    changed_tables: list[TableDrift] = []
    for name in tables.get("changed", []):
        want, want_constraints = table_parts(expected.objects[("table", name)])
        got, got_constraints = table_parts(live.objects[("table", name)])
        changed_tables.append(
            TableDrift(
                table=name,
                missing_columns=[c for c in want if c not in got],
                extra_columns=[c for c in got if c not in want],
                changed_columns=[
                    ColumnDrift(column=c, expected=want[c], live=got[c])
                    for c in want
                    if c in got and want[c] != got[c]
                ],
                missing_constraints=[c for c in want_constraints if c not in got_constraints],
                extra_constraints=[c for c in got_constraints if c not in want_constraints],
            )
        )
    other = [
        f"{what} {kind}:{name}"
        for kind, found in buckets.items()
        if kind not in ("table", "index")
        for what, names in found.items()
        for name in names
    ]
    return Drift(
        missing_tables=tables.get("missing", []),
        extra_tables=tables.get("extra", []),
        missing_indexes=indexes.get("missing", []),
        extra_indexes=indexes.get("extra", []),
        changed_indexes=indexes.get("changed", []),
        tables=changed_tables,
        other=other,
    )


# -- schema description -------------------------------------------------------------------------------
@functools.cache
def _created_by() -> dict[str, str]:
    """Table → the fragment (``v3: …``) or forward revision (``revision 0004: …``) that creates it."""
    origin = {t: f"{f.label}: {f.title}" for f in SCHEMA_FRAGMENTS for t in f.tables}
    for rev in script_directory().walk_revisions():
        if not rev.path:
            continue
        try:
            with open(rev.path, encoding="utf-8") as fh:
                source = fh.read()
        except OSError:
            continue
        title = (rev.doc or "").strip().splitlines()[0] if rev.doc else ""
        for name in _CREATE_TABLE.findall(source):
            origin.setdefault(name, f"revision {rev.revision}: {title}".rstrip(": "))
    return origin


def _type_text(column: sa.Column[Any]) -> str:
    try:
        return str(column.type.compile(dialect=_DIALECT))
    except Exception:  # a custom type the SQLite compiler does not know
        return type(column.type).__name__.upper()


def _default_text(column: sa.Column[Any]) -> str | None:
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    return str(getattr(arg, "text", arg)) if arg is not None else str(default)


def _table_domain() -> dict[str, str]:
    return {t.name: d for d, tables in DOMAINS.items() for t in tables}


def _describe_table(table: sa.Table, domain_of: dict[str, str], count: int | None) -> TableInfo:
    origin = _created_by().get(table.name, "model only (no creating revision found)")
    return TableInfo(
        name=table.name,
        created_by=origin,
        columns=[
            ColumnInfo(
                name=c.name,
                type=_type_text(c),
                nullable=bool(c.nullable),
                default=_default_text(c),
                primary_key=bool(c.primary_key),
            )
            for c in table.columns
        ],
        primary_key=[c.name for c in table.primary_key.columns],
        unique=[
            [c.name for c in con.columns]
            for con in table.constraints
            if isinstance(con, sa.UniqueConstraint) and not isinstance(con, sa.PrimaryKeyConstraint)
        ],
        foreign_keys=[
            ForeignKeyInfo(
                name=str(fk.name) if fk.name else None,
                columns=[c.name for c in fk.columns],
                ref_table=fk.referred_table.name,
                ref_columns=[e.column.name for e in fk.elements],
                ondelete=fk.ondelete,
                ref_domain=domain_of.get(fk.referred_table.name),
            )
            for fk in sorted(table.foreign_key_constraints, key=lambda k: [c.name for c in k.columns])
        ],
        indexes=[
            IndexInfo(
                name=str(ix.name),
                columns=[getattr(e, "name", None) or str(e) for e in ix.expressions],
                unique=bool(ix.unique),
            )
            for ix in sorted(table.indexes, key=lambda i: str(i.name))
        ],
        row_count=count,
    )


def row_counts(store: Store) -> dict[str, int]:
    """Rows in every model table present in the database (all tenants: for the ``admin`` scope)."""
    counts: dict[str, int] = {}
    with store.connect() as conn:
        present = user_tables(conn)
        for tables in DOMAINS.values():
            for t in tables:
                if t.name in present:
                    counts[t.name] = int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
    return counts


def describe_schema(counts: dict[str, int] | None) -> SchemaResponse:
    """The domains → tables description (``counts`` None: row counts withheld)."""
    domain_of = _table_domain()
    return SchemaResponse(
        domains=[
            DomainInfo(
                name=name,
                schema_domain=name != "bookkeeping",
                tables=[
                    _describe_table(t, domain_of, None if counts is None else counts.get(t.name))
                    for t in tables
                ],
            )
            for name, tables in DOMAINS.items()
        ],
        row_counts="operator scope required" if counts is None else "shown",
    )
