"""``codex db review``: what a PR changes in the schema, as Markdown, with a destructive-change lint.

The models (``domains.metadata``, or any module exposing ``metadata``) are compared with the
migrations the way ``alembic check`` does: a scratch in-memory libSQL database is upgraded to head,
then :func:`alembic.autogenerate.compare_metadata` runs with the options of ``migrations/env.py``
(``compare_type``, ``compare_server_default``, the same ``include_name`` filter). Every pending
operation is listed with its table, and the lint flags the changes that lose data or fail on a
populated database:

* a dropped table or column;
* a narrowed type (text → bounded string or shorter string, real → integer, text → number, blob →
  anything, numeric precision or scale down, datetime → date, integer → boolean…);
* ``NOT NULL`` added to an existing column;
* a new ``NOT NULL`` column without a server default on an existing table (existing rows have no value);
* an edit to a frozen baseline fragment (its file no longer has the digest the manifest pins).

Every table is reviewed the same way, baseline tables included: the baseline is frozen, so a change to
any table in ``domains/`` shows up as the operations a revision has to carry.

Verdicts and exit codes: ``clean`` (0), ``safe changes pending`` (1), ``DESTRUCTIVE changes`` (2).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import sqlite

from codex.config import DbConfig
from codex.engine import make_engine
from codex.errors import ConfigError, SchemaError
from codex.migrate import head_revision, upgrade
from codex.migrate._env import include_name
from codex.schema import SCHEMA_FRAGMENTS, fragment_sql

__all__ = [
    "Lint",
    "Operation",
    "SchemaReview",
    "Verdict",
    "load_metadata",
    "narrowing",
    "review_schema",
]

MARKER = "<!-- codex-schema-review -->"
"""First line of the report, so a PR workflow can find and update its own comment."""

Verdict = Literal["clean", "safe changes pending", "DESTRUCTIVE changes"]
_EXIT: Mapping[Verdict, int] = {"clean": 0, "safe changes pending": 1, "DESTRUCTIVE changes": 2}
_KNOWN_WARNINGS = ("Skipped unsupported reflection of expression-based index", "Did not recognize type")


@dataclass(frozen=True, slots=True)
class Operation:
    """One pending schema operation (what the next revision has to do).

    Attributes:
        kind: Alembic's name for it: ``add_table``, ``remove_column``, ``modify_type``, …, or
            ``add_fragment`` for a baseline fragment not yet in the contracts.
        table: The table it touches (None for a fragment).
        detail: A short description (column, type, constraint…).
    """

    kind: str
    table: str | None
    detail: str

    @property
    def label(self) -> str:
        """``add_column`` → ``add column``."""
        return self.kind.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Lint:
    """One destructive change: the rule it breaks, the table, and why it matters."""

    rule: str
    table: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class SchemaReview:
    """The result of :func:`review_schema`.

    Attributes:
        source: Where the models came from (a module name).
        head: The migration head the scratch database was upgraded to.
        operations: The pending operations, in autogenerate's order.
        lints: The destructive changes among them (and fragment edits).
    """

    source: str
    head: str
    operations: tuple[Operation, ...]
    lints: tuple[Lint, ...]

    @property
    def verdict(self) -> Verdict:
        """``DESTRUCTIVE changes`` if any lint, else ``safe changes pending`` if any operation, else ``clean``."""
        if self.lints:
            return "DESTRUCTIVE changes"
        return "safe changes pending" if self.operations else "clean"

    @property
    def exit_code(self) -> int:
        """0 clean, 1 safe changes pending, 2 destructive."""
        return _EXIT[self.verdict]

    def markdown(self) -> str:
        """The report for a PR comment (GitHub-flavoured Markdown, ends with a newline)."""
        out = [
            MARKER,
            "## Codex schema review",
            "",
            f"**Verdict: {self.verdict}** ({len(self.operations)} pending operation(s), "
            f"{len(self.lints)} destructive finding(s))",
            "",
            f"Models `{self.source}` compared with the migrations at head `{self.head}` "
            "(a scratch in-memory libSQL database upgraded to head, then Alembic autogenerate).",
            "",
            "### Pending operations",
            "",
        ]
        if self.operations:
            out += ["| # | Operation | Table | Detail |", "|---:|---|---|---|"]
            for n, op in enumerate(self.operations, start=1):
                out.append(f"| {n} | {op.label} | {_code(op.table)} | {_cell(op.detail)} |")
        else:
            out.append("None: the models and the migrations agree.")
        out += ["", "### DESTRUCTIVE CHANGE LINT", ""]
        if self.lints:
            out += ["| Rule | Table | Why |", "|---|---|---|"]
            out += [
                f"| **{lint.rule}** | {_code(lint.table)} | {_cell(lint.detail)} |" for lint in self.lints
            ]
        else:
            out.append("No destructive changes found.")
        out += ["", "### What to do", "", _ADVICE[self.verdict], ""]
        return "\n".join(out)


_ADVICE: Mapping[Verdict, str] = {
    "clean": "Nothing: no revision is needed.",
    "safe changes pending": (
        'Write a revision that carries these operations (`alembic revision --autogenerate -m "…"`), review '
        "it, and commit it with the model change; `codex db check` passes once it is in."
    ),
    "DESTRUCTIVE changes": (
        "Each finding above loses data or fails on a populated database. Prefer an additive change "
        "(a new column or table, a copy-and-backfill revision, a server default), or get an explicit "
        "sign-off and describe the data migration in the PR. Baseline fragments are append-only: revert "
        "the edit and add a new fragment or a migration instead."
    ),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(name: str | None) -> str:
    return f"`{name}`" if name else "—"


def _type(type_: Any) -> str:
    try:
        return str(type_.compile(dialect=sqlite.dialect()))
    except Exception:  # a type the dialect cannot render (a reflected NullType, a custom type)
        return repr(type_)


def _default(value: Any) -> str:
    if value is None or value is False:
        return "none"
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def _column(col: sa.Column[Any]) -> str:
    parts = [f"`{col.name}` {_type(col.type)}", "NULL" if col.nullable else "NOT NULL"]
    if col.server_default is not None:
        parts.append(f"DEFAULT {_default(col.server_default)}")
    return " ".join(parts)


# --- type narrowing ------------------------------------------------------------------------------------

_INF = math.inf
# Rank of each storage family: a change to a lower rank loses values that do not convert.
_RANK = {"integer": 1, "real": 2, "temporal": 3, "text": 4, "blob": 5}


def _shape(t: Any) -> tuple[str, tuple[float, ...]] | None:
    """(family, capacity) of a type, or None when it is not a type the lint knows."""
    if isinstance(t, sa.LargeBinary):
        return "blob", (_INF,)
    if isinstance(t, sa.JSON):
        return "text", (_INF,)
    if isinstance(t, sa.String):
        return "text", (float(t.length) if t.length else _INF,)
    if isinstance(t, sa.DateTime):
        return "temporal", (2.0,)
    if isinstance(t, (sa.Date, sa.Time)):
        return "temporal", (1.0,)
    if isinstance(t, sa.Float):
        return "real", (_INF, _INF)
    if isinstance(t, sa.Numeric):
        return "real", (float(t.precision or _INF), float(t.scale if t.scale is not None else _INF))
    if isinstance(t, sa.Boolean):
        return "integer", (0.125,)
    if isinstance(t, sa.BigInteger):
        return "integer", (8.0,)
    if isinstance(t, sa.SmallInteger):
        return "integer", (2.0,)
    if isinstance(t, sa.Integer):
        return "integer", (4.0,)
    return None


def narrowing(old: Any, new: Any) -> str | None:
    """Why changing a column from ``old`` to ``new`` can lose data, or None when it cannot (or is unknown)."""
    before, after = _shape(old), _shape(new)
    if before is None or after is None:
        return None
    if _RANK[after[0]] < _RANK[before[0]]:
        return f"{_type(old)} → {_type(new)}: {before[0]} values that do not convert to {after[0]} are lost"
    if after[0] == before[0] and any(a < b for a, b in zip(after[1], before[1], strict=True)):
        return f"{_type(old)} → {_type(new)}: the new type holds less than the old one"
    return None


# --- diffs ----------------------------------------------------------------------------------------------


def _table_of(obj: Any) -> str | None:
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def _names(obj: Any) -> str:
    cols = getattr(obj, "columns", ())
    return ", ".join(c.name for c in cols)


def _one(diff: tuple[Any, ...]) -> tuple[Operation, list[Lint]]:
    kind = str(diff[0])
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        op = Operation(kind, table.name, f"{len(table.columns)} column(s): {', '.join(table.columns.keys())}")
        lints = (
            [Lint("dropped table", table.name, "every row of the table is lost")]
            if kind == "remove_table"
            else []
        )
        return op, lints
    if kind in ("add_column", "remove_column"):
        _, _, tname, col = diff
        op = Operation(kind, tname, _column(col))
        if kind == "remove_column":
            return op, [Lint("dropped column", tname, f"`{col.name}`: the column's data is lost")]
        if not col.nullable and col.server_default is None and not col.primary_key:
            return op, [
                Lint(
                    "NOT NULL column without server default",
                    tname,
                    f"`{col.name}`: existing rows have no value for it, so adding it fails on a populated "
                    "table; give it a server_default or make it nullable and backfill",
                )
            ]
        return op, []
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        unique = " (unique)" if index.unique else ""
        return Operation(kind, _table_of(index), f"`{index.name}` on ({_names(index)}){unique}"), []
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        cons = diff[1]
        detail = f"{type(cons).__name__} `{cons.name}` ({_names(cons)})"
        if isinstance(cons, sa.ForeignKeyConstraint):
            detail += f" → {cons.referred_table.name}"
        return Operation(kind, _table_of(cons), detail), []
    if kind in ("add_table_comment", "remove_table_comment"):
        return Operation(kind, diff[1].name, "table comment"), []
    return Operation(kind, None, _cell(repr(diff)[:200])), []


def _modify(diff: tuple[Any, ...]) -> tuple[Operation, list[Lint]]:
    kind, _, tname, cname, _, old, new = diff
    lints = []
    if kind == "modify_type":
        detail = f"`{cname}`: {_type(old)} → {_type(new)}"
        why = narrowing(old, new)
        if why:
            lints.append(Lint("narrowed type", tname, f"`{cname}`: {why}"))
    elif kind == "modify_nullable":
        detail = f"`{cname}`: {'NULL' if old else 'NOT NULL'} → {'NULL' if new else 'NOT NULL'}"
        if old and not new:
            lints.append(
                Lint(
                    "NOT NULL added",
                    tname,
                    f"`{cname}`: fails on existing NULLs; backfill them in the same revision",
                )
            )
    elif kind == "modify_default":
        detail = f"`{cname}`: server default {_default(old)} → {_default(new)}"
    else:
        detail = f"`{cname}`: {old!r} → {new!r}"
    return Operation(str(kind), str(tname), detail), lints


def _compare(metadata: sa.MetaData) -> tuple[str, list[Any]]:
    engine = make_engine(DbConfig("memory"))
    try:
        with engine.connect() as conn:
            upgrade(conn, "head")
            with warnings.catch_warnings():
                for message in _KNOWN_WARNINGS:  # libSQL objects the SQLite reflector does not understand
                    warnings.filterwarnings("ignore", message=message, category=sa.exc.SAWarning)
                context = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "compare_server_default": True,
                        "include_name": include_name,
                        "render_as_batch": True,
                    },
                )
                diffs = compare_metadata(context, metadata)
            if conn.in_transaction():
                conn.rollback()
    finally:
        engine.dispose()
    return head_revision(), diffs


def _fragments() -> list[Lint]:
    """A frozen baseline fragment whose file no longer matches the digest its manifest pins."""
    lints = []
    for fragment in SCHEMA_FRAGMENTS:
        try:
            fragment_sql(fragment)
        except SchemaError as exc:
            lints.append(Lint("baseline fragment edited", None, exc.message))
    return lints


def load_metadata(spec: str) -> sa.MetaData:
    """The ``metadata`` of a module named by dotted name, or by the path of a ``.py`` file.

    Raises:
        ConfigError: The module cannot be imported or has no ``metadata`` MetaData.
    """
    try:
        if spec.endswith(".py") and Path(spec).is_file():
            module_spec = importlib.util.spec_from_file_location(Path(spec).stem, spec)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {spec}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"cannot import the metadata module {spec!r}: {exc}", module=spec) from exc
    metadata = getattr(module, "metadata", None)
    if not isinstance(metadata, sa.MetaData):
        raise ConfigError(f"{spec!r} has no `metadata` (a sqlalchemy.MetaData)", module=spec)
    return metadata


def review_schema(
    metadata: sa.MetaData | None = None,
    *,
    source: str | None = None,
) -> SchemaReview:
    """Compare the models with the migrations and lint the result.

    Args:
        metadata: The models (default: ``domains.metadata``).
        source: How to name the models in the report (default: ``domains`` or ``custom metadata``).

    Returns:
        The :class:`SchemaReview`; ``.markdown()`` renders it, ``.exit_code`` is 0 / 1 / 2.

    Raises:
        SchemaError: The migration chain cannot be run, or the fragment contract is missing.

    Example:
        >>> review_schema().verdict
        'clean'
    """
    if metadata is None:
        from domains import metadata as domain_metadata

        metadata, source = domain_metadata, source or "domains"
    head, diffs = _compare(metadata)
    operations: list[Operation] = []
    lints: list[Lint] = []
    for diff in diffs:
        items: Sequence[tuple[Any, ...]] = diff if isinstance(diff, list) else [diff]
        for item in items:
            op, found = _modify(item) if str(item[0]).startswith("modify_") else _one(item)
            operations.append(op)
            lints += found
    return SchemaReview(
        source=source or "custom metadata",
        head=head,
        operations=tuple(operations),
        lints=(*lints, *_fragments()),
    )
