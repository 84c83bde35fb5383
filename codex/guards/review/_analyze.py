"""The analyzers: what each Alembic operation risks, judged before it runs, with read-only counts.

Every operation a deploy runs goes through :func:`analyze` just before it runs on the scratch
database (so the scratch still holds the schema it applies to: the type a column had, whether the
index being dropped was unique). The findings, by code:

* ``destructive`` (error): a dropped table (rows: its rows) or column (rows: the rows holding a value),
  a narrowed type (:func:`~codex.guards.review._types.narrowing`; rows: the values it converts), a
  dropped unique index or unique constraint.
* ``will-fail`` (error): a ``UNIQUE`` index or constraint over duplicates, ``NOT NULL`` over NULLs, a
  new ``NOT NULL`` column without a server default on a table with rows, a ``CHECK`` or foreign key
  the rows violate, a narrowed type the values do not fit. Rows: the offending rows, counted on the
  inspected database.
* ``data-dependent`` (warning): the same changes when no database is inspected, when the inspected
  rows pass, or when an earlier pending statement changes the table's rows first.
* ``backward-incompatible`` (warning): a dropped or renamed table, a dropped or renamed column: code
  deployed before the migration still reads it.

``table-rebuild`` is decided when a batch runs (see :mod:`codex.guards.review._record`). Tables a
pending operation creates hold no rows until a statement writes into them: dropping, narrowing or
constraining them is not reported.

Hand-written SQL (``op.execute``) is read with a few patterns: ``DROP TABLE``, ``ALTER TABLE … DROP
COLUMN`` / ``RENAME``, ``CREATE UNIQUE INDEX`` over plain columns, ``DROP INDEX``; its writes mark the
table stale.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import sqlite

from codex.guards.review._probe import Probe, dml_target, quote
from codex.guards.review._report import (
    BACKWARD_INCOMPATIBLE,
    DATA_DEPENDENT,
    DESTRUCTIVE,
    WILL_FAIL,
    Finding,
)
from codex.guards.review._types import narrowing, render_type

__all__ = [
    "Described",
    "Scratch",
    "analyze",
    "analyze_sql",
    "describe",
    "describe_sql",
    "follow",
    "follow_sql",
    "op_name",
]

_NAMES: dict[type[Any], str] = {
    ops.CreateTableOp: "create_table",
    ops.DropTableOp: "drop_table",
    ops.RenameTableOp: "rename_table",
    ops.AddColumnOp: "add_column",
    ops.DropColumnOp: "drop_column",
    ops.AlterColumnOp: "alter_column",
    ops.CreateIndexOp: "create_index",
    ops.DropIndexOp: "drop_index",
    ops.CreateUniqueConstraintOp: "create_unique_constraint",
    ops.CreateForeignKeyOp: "create_foreign_key",
    ops.CreateCheckConstraintOp: "create_check_constraint",
    ops.CreatePrimaryKeyOp: "create_primary_key",
    ops.DropConstraintOp: "drop_constraint",
    ops.ExecuteSQLOp: "execute",
    ops.BulkInsertOp: "bulk_insert",
    ops.CreateTableCommentOp: "create_table_comment",
    ops.DropTableCommentOp: "drop_table_comment",
}
_KNOWN_WARNINGS = ("Skipped unsupported reflection of expression-based index", "Did not recognize type")

_ID = r"[\"`\[]?([A-Za-z_][\w$]*)[\"`\]]?"
_SQL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for kind, pattern in (
        ("drop_table", rf"^\s*drop\s+table\s+(?:if\s+exists\s+)?{_ID}"),
        ("rename_column", rf"^\s*alter\s+table\s+{_ID}\s+rename\s+(?:column\s+)?(?!to\b){_ID}\s+to\s+{_ID}"),
        ("rename_table", rf"^\s*alter\s+table\s+{_ID}\s+rename\s+to\s+{_ID}"),
        ("drop_column", rf"^\s*alter\s+table\s+{_ID}\s+drop\s+(?:column\s+)?{_ID}"),
        ("add_column", rf"^\s*alter\s+table\s+{_ID}\s+add\s+(?:column\s+)?{_ID}"),
        (
            "create_table",
            rf"^\s*create\s+(?:temp(?:orary)?\s+|virtual\s+)?table\s+(?:if\s+not\s+exists\s+)?{_ID}",
        ),
        (
            "create_unique_index",
            rf"^\s*create\s+unique\s+index\s+(?:if\s+not\s+exists\s+)?{_ID}\s+on\s+{_ID}\s*\(([^)]*)\)(.*)$",
        ),
        ("create_index", rf"^\s*create\s+index\s+(?:if\s+not\s+exists\s+)?{_ID}\s+on\s+{_ID}"),
        ("drop_index", rf"^\s*drop\s+index\s+(?:if\s+exists\s+)?{_ID}"),
    )
)
_PLAIN_COLUMN = re.compile(rf"^\s*{_ID}(?:\s+collate\s+\w+)?(?:\s+(?:asc|desc))?\s*$", re.IGNORECASE)


def op_name(operation: Any) -> str:
    """Alembic's name for an operation object (``AddColumnOp`` → ``add_column``)."""
    for cls in type(operation).__mro__:
        if cls in _NAMES:
            return _NAMES[cls]
    name = type(operation).__name__.removesuffix("Op")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class Described:
    """An operation's name, table, column and a short description."""

    op: str
    table: str | None
    column: str | None
    detail: str


class Scratch:
    """Read-only lookups on the scratch database, before an operation runs on it."""

    def __init__(self, conn: sa.Connection | None) -> None:
        self.conn = conn

    def _inspector(self) -> sa.Inspector | None:
        return sa.inspect(self.conn) if self.conn is not None else None

    def column(self, table: str, column: str) -> dict[str, Any] | None:
        """The reflected column (``type``, ``nullable``…), or None."""
        inspector = self._inspector()
        if inspector is None:
            return None
        with warnings.catch_warnings():
            for message in _KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=sa.exc.SAWarning)
            try:
                columns = inspector.get_columns(table)
            except sa.exc.NoSuchTableError:
                return None
        return next((dict(c) for c in columns if c["name"] == column), None)

    def index(self, name: str) -> tuple[str, bool, list[str]] | None:
        """(table, unique, columns) of an index, or None."""
        if self.conn is None:
            return None
        row = self.conn.exec_driver_sql(
            "SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = ?", (name,)
        ).first()
        if row is None:
            return None
        table = str(row[0])
        unique = self.conn.exec_driver_sql(
            'SELECT "unique" FROM pragma_index_list(?) WHERE name = ?', (table, name)
        ).scalar()
        cols = [
            str(r[0]) for r in self.conn.exec_driver_sql("SELECT name FROM pragma_index_info(?)", (name,))
        ]
        return table, bool(unique), cols

    def unique_constraint(self, table: str, name: str) -> list[str] | None:
        """The columns of a named unique constraint of ``table``, or None."""
        inspector = self._inspector()
        if inspector is None:
            return None
        try:
            found = inspector.get_unique_constraints(table)
        except sa.exc.NoSuchTableError:
            return None
        return next((list(c["column_names"]) for c in found if c.get("name") == name), None)


# --- describing -----------------------------------------------------------------------------------------


def _cols(items: Any) -> list[str | None]:
    """Plain column names of an index / constraint (None for an expression)."""
    out: list[str | None] = []
    for item in items or ():
        if isinstance(item, str):
            match = _PLAIN_COLUMN.match(item)
            out.append(match.group(1) if match else None)
        else:
            out.append(getattr(item, "name", None) if isinstance(item, sa.Column) else None)
    return out


def _sql_text(clause: Any) -> str:
    if isinstance(clause, str):
        return clause
    try:
        return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    except Exception:
        return str(clause)


def _column_spec(col: sa.Column[Any]) -> str:
    parts = [f"`{col.name}` {render_type(col.type)}", "NULL" if col.nullable else "NOT NULL"]
    if col.server_default is not None:
        arg = getattr(col.server_default, "arg", col.server_default)
        parts.append(f"DEFAULT {getattr(arg, 'text', arg)}")
    return " ".join(parts)


def _alter_detail(op: ops.AlterColumnOp) -> str:
    parts = []
    if op.modify_type is not None:
        old = render_type(op.existing_type) if op.existing_type is not None else "?"
        parts.append(f"type {old} → {render_type(op.modify_type)}")
    if op.modify_nullable is not None:
        parts.append("NULL" if op.modify_nullable else "NOT NULL")
    if op.modify_server_default is not False:
        parts.append(f"server default → {_sql_text(getattr(op.modify_server_default, 'arg', None))}")
    if op.modify_name:
        parts.append(f"rename to `{op.modify_name}`")
    return f"`{op.column_name}`: " + ("; ".join(parts) or "no change")


def describe(operation: Any, scratch: Scratch) -> Described:
    """Name, table, column and detail of an Alembic operation object."""
    name = op_name(operation)
    table = getattr(operation, "table_name", None) or getattr(operation, "source_table", None)
    column: str | None = None
    detail = ""
    if isinstance(operation, ops.CreateTableOp):
        names = [c.name for c in operation.columns if isinstance(c, sa.Column)]
        detail = f"{len(names)} column(s): {', '.join(names)}"
    elif isinstance(operation, ops.DropTableOp):
        detail = "the table and its rows"
    elif isinstance(operation, ops.RenameTableOp):
        detail = f"rename to `{operation.new_table_name}`"
    elif isinstance(operation, ops.AddColumnOp):
        column, detail = operation.column.name, _column_spec(operation.column)
    elif isinstance(operation, ops.DropColumnOp):
        column, detail = operation.column_name, f"`{operation.column_name}`"
    elif isinstance(operation, ops.AlterColumnOp):
        column, detail = operation.column_name, _alter_detail(operation)
    elif isinstance(operation, ops.CreateIndexOp):
        cols = _cols(operation.columns)
        column = cols[0] if len(cols) == 1 else None
        shown = ", ".join(c or "<expr>" for c in cols)
        detail = f"`{operation.index_name}` ({shown}){' unique' if operation.unique else ''}"
    elif isinstance(operation, ops.DropIndexOp):
        found = scratch.index(operation.index_name)
        table = table or (found[0] if found else None)
        detail = f"`{operation.index_name}`{' (unique)' if found and found[1] else ''}"
    elif isinstance(operation, ops.CreateForeignKeyOp):
        detail = (
            f"`{operation.constraint_name}` ({', '.join(operation.local_cols)}) → "
            f"`{operation.referent_table}` ({', '.join(operation.remote_cols)})"
        )
    elif isinstance(operation, ops.CreateCheckConstraintOp):
        detail = f"`{operation.constraint_name}` CHECK ({_sql_text(operation.condition)})"
    elif isinstance(operation, ops.AddConstraintOp):
        constraint = getattr(operation, "constraint_name", None)
        detail = f"`{constraint}` ({', '.join(getattr(operation, 'columns', ()) or ())})"
    elif isinstance(operation, ops.DropConstraintOp):
        detail = f"`{operation.constraint_name}` ({operation.constraint_type or 'constraint'})"
    elif isinstance(operation, ops.ExecuteSQLOp):
        return describe_sql(_sql_text(operation.sqltext))
    elif isinstance(operation, ops.BulkInsertOp):
        table, detail = operation.table.name, f"{len(operation.rows)} row(s)"
    return Described(name, table, column, detail)


def describe_sql(statement: str) -> Described:
    """An ``execute`` operation: the table the statement names (when a pattern knows it) and its start."""
    table: str | None = dml_target(statement)
    column: str | None = None
    for kind, pattern in _SQL_PATTERNS:
        match = pattern.match(statement)
        if match:
            groups = match.groups()
            table = groups[1] if kind in ("create_unique_index", "create_index") else groups[0]
            column = groups[1] if kind in ("rename_column", "drop_column", "add_column") else None
            break
    text = " ".join(statement.split())
    return Described("execute", table, column, text[:100] + ("…" if len(text) > 100 else ""))


# --- findings -------------------------------------------------------------------------------------------


def _data_check(probe: Probe, table: str, count: int | None, *, fails: str, when: str) -> list[Finding]:
    """``will-fail`` / ``data-dependent`` for a change the rows can break.

    Args:
        fails: What fails, e.g. "NOT NULL on `t.c`".
        when: What the offending rows are, e.g. "hold NULL".
    """
    if probe.is_new(table):
        return []
    stale = probe.stale(table)
    if count is None:
        why = (
            "the inspected database's rows could not be counted for it"
            if probe.inspected
            else "no database was inspected"
        )
        return [Finding(DATA_DEPENDENT, "warning", f"{fails} fails if rows {when} ({why})")]
    if count and not stale:
        return [
            Finding(
                WILL_FAIL, "error", f"{fails} fails: {count} row(s) of the inspected database {when}", count
            )
        ]
    if count:
        return [
            Finding(
                DATA_DEPENDENT,
                "warning",
                f"{fails} fails if rows {when}: {count} row(s) of the inspected database do, but an earlier "
                f"pending statement changes the table's rows first (`{stale}`)",
                count,
            )
        ]
    return [
        Finding(
            DATA_DEPENDENT,
            "warning",
            f"{fails} fails if rows {when}; the inspected database's rows pass"
            + (f" (before the earlier pending statement `{stale}`)" if stale else ""),
            0,
        )
    ]


def _unique(probe: Probe, table: str, columns: list[str | None], what: str) -> list[Finding]:
    names = [c for c in columns if c]
    count = probe.duplicates(table, names) if len(names) == len(columns) else None
    shown = ", ".join(c or "<expr>" for c in columns)
    return _data_check(
        probe,
        table,
        count,
        fails=f"{what} over `{table}` ({shown})",
        when="share those values with another row",
    )


def _before(probe: Probe, table: str) -> str:
    stale = probe.stale(table)
    return f" (rows counted before the earlier pending statement `{stale}`)" if stale else ""


def _dropped_table(probe: Probe, table: str) -> list[Finding]:
    if probe.is_new(table):
        return []
    rows = probe.rows(table)
    return [
        Finding(
            DESTRUCTIVE, "error", f"drops table `{table}` and every row in it{_before(probe, table)}", rows
        ),
        Finding(
            BACKWARD_INCOMPATIBLE,
            "warning",
            f"code deployed before this migration still reads table `{table}`: stop using it in a release "
            "before the one that drops it",
        ),
    ]


def _dropped_column(probe: Probe, table: str, column: str) -> list[Finding]:
    if probe.is_new(table):
        return []
    rows = probe.non_null(table, column)
    return [
        Finding(
            DESTRUCTIVE,
            "error",
            f"drops column `{table}.{column}`: the values it holds are lost{_before(probe, table)}",
            rows,
        ),
        Finding(
            BACKWARD_INCOMPATIBLE,
            "warning",
            f"code deployed before this migration still reads `{table}.{column}`: stop using it in a release "
            "before the one that drops it",
        ),
    ]


def _renamed(probe: Probe, what: str, old: str, new: str, table: str) -> list[Finding]:
    if probe.is_new(table):
        return []
    return [
        Finding(
            BACKWARD_INCOMPATIBLE,
            "warning",
            f"renames {what} `{old}` to `{new}`: code deployed before this migration still uses the old name "
            "(add the new one, copy, switch the code, then drop the old one)",
        )
    ]


def _dropped_unique(probe: Probe, table: str | None, what: str, columns: list[str]) -> list[Finding]:
    if table is not None and probe.is_new(table):
        return []
    return [
        Finding(
            DESTRUCTIVE,
            "error",
            f"drops {what} on `{table}` ({', '.join(columns)}): duplicates become possible and code that "
            "relies on the uniqueness (upserts, lookups) breaks",
        )
    ]


def _alter(probe: Probe, scratch: Scratch, op: ops.AlterColumnOp) -> list[Finding]:
    table, column = op.table_name, op.column_name
    findings: list[Finding] = []
    current = scratch.column(table, column)
    if op.modify_type is not None:
        old = op.existing_type if op.existing_type is not None else (current or {}).get("type")
        why = narrowing(old, op.modify_type)
        if why and not probe.is_new(table):
            findings.append(
                Finding(
                    DESTRUCTIVE, "error", f"narrows `{table}.{column}`: {why}", probe.non_null(table, column)
                )
            )
            findings += _data_check(
                probe,
                table,
                probe.misfits(table, column, op.modify_type),
                fails=f"the type change of `{table}.{column}` to {render_type(op.modify_type)}",
                when="hold values that do not fit it",
            )
    if op.modify_nullable is False:
        was = (
            op.existing_nullable
            if op.existing_nullable is not None
            else (current or {}).get("nullable", True)
        )
        if was:
            findings += _data_check(
                probe,
                table,
                probe.nulls(table, column),
                fails=f"NOT NULL on `{table}.{column}`",
                when="hold NULL",
            )
    if op.modify_name:
        findings += _renamed(probe, "column", f"{table}.{column}", f"{table}.{op.modify_name}", table)
    return findings


def _add_column(probe: Probe, op: ops.AddColumnOp) -> list[Finding]:
    col = op.column
    if col.nullable or col.server_default is not None or col.primary_key or col.computed is not None:
        return []
    return _data_check(
        probe,
        op.table_name,
        probe.rows(op.table_name),
        fails=f"the new NOT NULL column `{op.table_name}.{col.name}` without a server default",
        when="exist (they get no value for it)",
    )


def _foreign_key(probe: Probe, op: ops.CreateForeignKeyOp) -> list[Finding]:
    table = op.source_table
    count = probe.orphans(table, op.local_cols, op.referent_table, op.remote_cols)
    return _data_check(
        probe,
        table,
        count,
        fails=f"FOREIGN KEY `{table}` ({', '.join(op.local_cols)}) → `{op.referent_table}`",
        when=f"reference a missing `{op.referent_table}` row (the run's foreign-key check rolls the deploy back)",
    )


def _drop_constraint(probe: Probe, scratch: Scratch, op: ops.DropConstraintOp) -> list[Finding]:
    kind = op.constraint_type
    name = str(op.constraint_name) if op.constraint_name else None
    columns = scratch.unique_constraint(op.table_name, name) if name else None
    reverse = op._reverse
    if kind is None and isinstance(reverse, ops.CreateUniqueConstraintOp):
        kind, columns = "unique", list(reverse.columns)
    if kind == "unique" or (kind is None and columns is not None):
        return _dropped_unique(
            probe, op.table_name, f"unique constraint `{op.constraint_name}`", columns or []
        )
    return []


def analyze(operation: Any, scratch: Scratch, probe: Probe) -> list[Finding]:
    """The findings for one Alembic operation object, judged before it runs."""
    if isinstance(operation, ops.DropTableOp):
        return _dropped_table(probe, operation.table_name)
    if isinstance(operation, ops.RenameTableOp):
        return _renamed(probe, "table", operation.table_name, operation.new_table_name, operation.table_name)
    if isinstance(operation, ops.DropColumnOp):
        return _dropped_column(probe, operation.table_name, operation.column_name)
    if isinstance(operation, ops.AlterColumnOp):
        return _alter(probe, scratch, operation)
    if isinstance(operation, ops.AddColumnOp):
        return _add_column(probe, operation)
    if isinstance(operation, ops.CreateIndexOp):
        if not operation.unique or operation.kw.get("sqlite_where") is not None:
            return (
                []
                if not operation.unique
                else _unique(probe, operation.table_name, [None], "partial UNIQUE index")
            )
        return _unique(
            probe, operation.table_name, _cols(operation.columns), f"UNIQUE index `{operation.index_name}`"
        )
    if isinstance(operation, (ops.CreateUniqueConstraintOp, ops.CreatePrimaryKeyOp)):
        what = "PRIMARY KEY" if isinstance(operation, ops.CreatePrimaryKeyOp) else "UNIQUE constraint"
        return _unique(
            probe, operation.table_name, _cols(operation.columns), f"{what} `{operation.constraint_name}`"
        )
    if isinstance(operation, ops.CreateCheckConstraintOp):
        condition = _sql_text(operation.condition)
        return _data_check(
            probe,
            operation.table_name,
            probe.violations(operation.table_name, condition),
            fails=f"CHECK ({condition}) on `{operation.table_name}`",
            when="violate it",
        )
    if isinstance(operation, ops.CreateForeignKeyOp):
        return _foreign_key(probe, operation)
    if isinstance(operation, ops.DropIndexOp):
        found = scratch.index(operation.index_name)
        if found and found[1]:
            return _dropped_unique(probe, found[0], f"unique index `{operation.index_name}`", found[2])
        return []
    if isinstance(operation, ops.DropConstraintOp):
        return _drop_constraint(probe, scratch, operation)
    if isinstance(operation, ops.ExecuteSQLOp):
        return analyze_sql(_sql_text(operation.sqltext), scratch, probe)
    return []


def analyze_sql(statement: str, scratch: Scratch, probe: Probe) -> list[Finding]:
    """The findings for one hand-written statement (``op.execute`` or a revision's own SQL)."""
    for kind, pattern in _SQL_PATTERNS:
        match = pattern.match(statement)
        if not match:
            continue
        g = match.groups()
        if kind == "drop_table":
            return _dropped_table(probe, g[0])
        if kind == "drop_column":
            return _dropped_column(probe, g[0], g[1])
        if kind == "rename_table":
            return _renamed(probe, "table", g[0], g[1], g[0])
        if kind == "rename_column":
            return _renamed(probe, "column", f"{g[0]}.{g[1]}", f"{g[0]}.{g[2]}", g[0])
        if kind == "create_unique_index":
            partial = re.search(r"\bwhere\b", g[3], re.IGNORECASE) is not None
            columns: list[str | None] = [None] if partial else [_cols([c])[0] for c in g[2].split(",")]
            return _unique(probe, g[1], columns, f"UNIQUE index `{g[0]}`")
        if kind == "drop_index":
            found = scratch.index(g[0])
            if found and found[1]:
                return _dropped_unique(probe, found[0], f"unique index `{g[0]}`", found[2])
        return []
    return []


def follow(operation: Any, probe: Probe) -> None:
    """Record what an operation does to the lineage (after it was analyzed)."""
    if isinstance(operation, ops.CreateTableOp):
        probe.created_table(operation.table_name)
    elif isinstance(operation, ops.DropTableOp):
        probe.dropped_table(operation.table_name)
    elif isinstance(operation, ops.RenameTableOp):
        probe.renamed_table(operation.table_name, operation.new_table_name)
    elif isinstance(operation, ops.AddColumnOp):
        probe.added_column(operation.table_name, operation.column.name)
    elif isinstance(operation, ops.AlterColumnOp) and operation.modify_name:
        probe.renamed_column(operation.table_name, operation.column_name, operation.modify_name)
    elif isinstance(operation, ops.BulkInsertOp):
        probe.wrote(operation.table.name, f"bulk_insert into {quote(operation.table.name)}")
    elif isinstance(operation, ops.ExecuteSQLOp):
        follow_sql(_sql_text(operation.sqltext), probe)


def follow_sql(statement: str, probe: Probe) -> None:
    """Record what a hand-written statement does to the lineage."""
    target = dml_target(statement)
    if target is not None and not target.startswith("_alembic_tmp_"):
        probe.wrote(target, statement)
        return
    for kind, pattern in _SQL_PATTERNS:
        match = pattern.match(statement)
        if not match:
            continue
        g = match.groups()
        if kind == "create_table":
            probe.created_table(g[0])
        elif kind == "drop_table":
            probe.dropped_table(g[0])
        elif kind == "rename_table":
            probe.renamed_table(g[0], g[1])
        elif kind == "rename_column":
            probe.renamed_column(g[0], g[1], g[2])
        elif kind == "add_column":
            probe.added_column(g[0], g[1])
        return
