"""What every repository shares: the connection, error translation, row mapping, JSON, clocks.

Repositories are small typed classes over Core tables. They take a ``Connection`` (the caller owns
the transaction), return frozen dataclass rows, never commit, and translate driver errors here,
once. Mutations of live domains append their change-log row through :meth:`Repository._change`,
in the same transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

import sqlalchemy as sa

from codex.engine import translate_db_error
from codex.errors import InvalidInput, NotFound
from codex.repositories._prepared import Prepared, Ran, prepare, run_prepared, run_prepared_many
from codex.repositories._rows import row_as, rows_as
from codex.repositories._topics import append_change
from codex.repositories.gateway import OPERATOR, Scope, TableGateway, scope_of
from domains._meta import DEFAULT_TENANT, TENANT_COLUMN, is_tenant_owned

__all__ = [
    "Prepared",
    "Repository",
    "check_name",
    "clamp_limit",
    "dump_json",
    "escape_like",
    "insert_next_index",
    "json_property",
    "like_contains",
    "load_json",
    "now_ms",
    "prepare",
    "row_as",
    "rows_as",
    "sql_timestamp",
    "text_literals",
]

T = TypeVar("T")


def now_ms() -> int:
    """Unix time in milliseconds (the ``*_at_ms`` columns)."""
    return time.time_ns() // 1_000_000


def dump_json(value: Any) -> str | None:
    """Serialise a JSON value to compact text (None stays NULL).

    Raises:
        InvalidInput: The value is not JSON: not serialisable, or a NaN / infinite number (JSON has
            none; a stored one would break every later reader of the row).
    """
    if value is None:
        return None
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"value is not JSON-serialisable: {exc}") from exc


def _no_constant(name: str) -> None:
    return None


def load_json(text: str | None) -> Any:
    """Parse stored JSON text; None and unparsable text come back as None and the raw text.

    ``NaN`` / ``Infinity`` written by earlier versions (which accepted them) read back as None, so
    that such a row can still be served as JSON.
    """
    if text is None:
        return None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def json_property(column: str, doc: str) -> property:
    """A read-only property that parses the JSON text of a row's ``column`` attribute with :func:`load_json`.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True, slots=True)
        ... class EventRow:
        ...     payload_json: str | None
        ...     payload = json_property("payload_json", "The event payload, parsed.")
        >>> EventRow('{"kind": "click", "x": 3}').payload
        {'kind': 'click', 'x': 3}
        >>> EventRow(None).payload is None
        True
    """

    def parsed(row: Any) -> Any:
        return load_json(getattr(row, column))

    return property(parsed, doc=doc)


def escape_like(text: str) -> str:
    """``text`` with ``\\``, ``%`` and ``_`` escaped for ``LIKE … ESCAPE '\\'`` (they match themselves)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_contains(text: str) -> str:
    """A ``LIKE … ESCAPE '\\'`` pattern matching ``text`` anywhere (its ``\\``, ``%`` and ``_`` literal)."""
    return f"%{escape_like(text)}%"


def sql_timestamp(moment: datetime) -> str:
    """``moment`` as SQLite's ``datetime('now')`` text, ``YYYY-MM-DD HH:MM:SS`` in UTC.

    An aware datetime is converted to UTC; a naive one is taken as UTC already. Fractions of a second
    are dropped.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def insert_next_index(table: sa.Table, index: str, parent: str, columns: Sequence[str]) -> sa.Insert:
    """An ``INSERT … SELECT`` that gives the new row the next ``index`` under its parent, in one statement.

    ``INSERT INTO t (index, columns…) SELECT COALESCE(MAX(index) + 1, 0), :columns… FROM t WHERE parent =
    :parent AND tenant_id = :tenant_id RETURNING *``: the read of the current maximum and the insert happen
    together under the caller's write transaction, so concurrent writers never get the same index. The
    parameters are the ``columns`` by name; they must include ``parent`` and ``tenant_id`` (the parent's
    tenant, over whose rows the maximum is taken).

    Example:
        >>> from domains.tool_calls import conversation_tool_calls as t
        >>> cols = ("conversation_message_id", "tool_name", "tenant_id")
        >>> "coalesce(max(" in str(insert_next_index(t, "ordinal", "conversation_message_id", cols))
        True
    """
    return (
        sa.insert(table)
        .from_select(
            [index, *columns],
            sa.select(
                sa.func.coalesce(sa.func.max(table.c[index]) + 1, 0),
                *(sa.bindparam(name, type_=table.c[name].type) for name in columns),
            ).where(
                table.c[parent] == sa.bindparam(parent),
                table.c[TENANT_COLUMN] == sa.bindparam(TENANT_COLUMN),
            ),
        )
        .returning(*table.c)
    )


def text_literals(*values: str) -> list[sa.ColumnElement[Any]]:
    """Constant SQL text literals, rendered inline (an ``IN`` list without expanding parameters per call).

    Only for constants of the code, never for input: the text is not escaped.
    """
    return [sa.literal_column(f"'{value}'") for value in values]


def check_name(value: str, what: str, maximum: int = 256) -> str:
    """``value`` when it is a non-empty string of at most ``maximum`` characters.

    Raises:
        InvalidInput: Otherwise (``field=what``).
    """
    if not isinstance(value, str) or not value or len(value) > maximum:
        raise InvalidInput(f"{what} must be a non-empty string of at most {maximum} characters", field=what)
    return value


def clamp_limit(limit: int, *, maximum: int = 10_000) -> int:
    """Clamp a listing limit to ``1..maximum``."""
    return max(1, min(int(limit), maximum))


class Repository:
    """Base class: wraps a ``Connection``; every statement goes through the translating helpers.

    Args:
        conn: A connection from ``store.begin()`` (writes) or ``store.connect()`` (reads).
        tenant: The tenant whose rows it may touch (a tenant id or a :class:`Scope`); by default the
            tenant bound to the transaction (``store.begin(tenant=…)``), else ``default``. The unscoped
            form is :meth:`unscoped` (operators and CLI only).
    """

    #: Topic prefix of the domain's change-log rows (documented per repository).
    topic_root: ClassVar[str] = ""

    def __init__(self, conn: sa.Connection, tenant: str | Scope | None = None) -> None:
        self.conn = conn
        self.scope = scope_of(conn, tenant)
        """Whose rows this repository may touch (see :mod:`codex.repositories.gateway`)."""

    @classmethod
    def unscoped(cls: type[Self], conn: sa.Connection) -> Self:
        """This repository over every tenant's rows: for operator and CLI code only, never a request's."""
        return cls(conn, OPERATOR)

    @property
    def tenant(self) -> str:
        """The tenant new rows get (``default`` in the unscoped operator form)."""
        return self.scope.tenant or DEFAULT_TENANT

    def _gateway(
        self,
        table: sa.Table,
        row_type: type[T],
        *,
        key: Sequence[str] | None = None,
        columns: Sequence[sa.ColumnElement[Any]] | None = None,
    ) -> TableGateway[T]:
        """The table gateway of ``table`` in this repository's scope (shared tables: unscoped)."""
        scope = self.scope if is_tenant_owned(table) else OPERATOR
        return TableGateway(self.conn, table, row_type, scope, key=key, columns=columns)

    def _in_scope(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """The tenant condition of ``table`` for a hand-built statement (``true()`` when unscoped)."""
        return self.scope.where(table) if is_tenant_owned(table) else sa.true()

    # -- statements ---------------------------------------------------------------------------
    def _execute(self, stmt: sa.Executable, params: Any = None) -> sa.CursorResult[Any]:
        try:
            result = self.conn.execute(stmt, params) if params is not None else self.conn.execute(stmt)
            if getattr(stmt, "_returning", None):
                # libSQL reports a constraint violation of ``INSERT … RETURNING`` when the row is
                # fetched, not when it executes: buffer the rows here so it is translated too.
                result = result.freeze()()  # type: ignore[assignment]
            return result
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def _run(self, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Ran:
        """Run a prepared Core statement on the DBAPI connection, in the caller's transaction (hot paths;
        :func:`codex.repositories._prepared.run_prepared`)."""
        return run_prepared(self.conn, prepared, params)

    def _run_many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`_run` as one ``executemany`` over ``rows``."""
        run_prepared_many(self.conn, prepared, rows)

    def _affect_one(self, stmt: sa.Executable, missing: str, params: Any = None) -> None:
        """Run an UPDATE/DELETE that must touch a row; raise ``NotFound(missing)`` when none matched."""
        if self._execute(stmt, params).rowcount == 0:
            raise NotFound(missing)

    def _writable(self) -> None:
        """Refuse a read-only connection (``store.connect()``): writes need ``store.begin()``."""
        if self.conn.get_execution_options().get("codex_read_only"):
            raise InvalidInput("this operation writes: use a connection from store.begin()")

    # -- results ------------------------------------------------------------------------------
    def _one(self, cls: type[T], stmt: sa.Executable, missing: str) -> T:
        row = self._execute(stmt).first()
        if row is None:
            raise NotFound(missing)
        return row_as(cls, row)

    def _one_or_none(self, cls: type[T], stmt: sa.Executable) -> T | None:
        row = self._execute(stmt).first()
        return None if row is None else row_as(cls, row)

    def _all(self, cls: type[T], stmt: sa.Executable) -> list[T]:
        return rows_as(cls, self._execute(stmt))

    # -- change log ---------------------------------------------------------------------------
    def _change(
        self,
        topic: str,
        change_kind: str,
        entity_kind: str | None = None,
        entity_id: object | None = None,
        payload: Any = None,
        *,
        tenant: str | None = None,
    ) -> int:
        """Append this mutation's change-log row in the caller's transaction (see :mod:`._topics`).

        Args:
            topic: The change's topic.
            change_kind: ``insert`` / ``update`` / ``delete`` (or another verb).
            entity_kind: What changed.
            entity_id: Its id.
            payload: Any JSON value.
            tenant: The tenant of the row written, when the unscoped operator form wrote a row of a tenant
                (its subscribers must see the change); a tenant-bound repository always logs its own.

        Returns:
            The change id (the cursor).
        """
        owner = tenant if tenant is not None and self.scope.is_operator else self.tenant
        return append_change(self.conn, topic, change_kind, entity_kind, entity_id, dump_json(payload), owner)

    def _tenant_of(self, table: sa.Table, row_id: int, what: str) -> str:
        """The tenant of a (parent) row in scope: the tenant of the rows written under it.

        Raises:
            NotFound: No such row in scope (``<what> <row_id> not found``).
        """
        stmt = sa.select(table.c[TENANT_COLUMN]).where(table.c.id == row_id, self._in_scope(table))
        tenant = self._execute(stmt).scalar()
        if tenant is None:
            raise NotFound(f"{what} {row_id} not found")
        return str(tenant)

    @staticmethod
    def _check_vocab(value: str, allowed: Iterable[str], what: str) -> str:
        allowed = tuple(allowed)
        if value not in allowed:
            raise InvalidInput(f"{what} must be one of {', '.join(allowed)}; got {value!r}", field=what)
        return value
