"""The table gateway: the generic statements every repository builds on, with the tenant scope in SQL.

A :class:`Scope` says whose rows a repository may touch: one tenant (the normal case: the HTTP layer
binds the caller's tenant to its transaction, library and CLI code get the tenant ``default``), or
nobody in particular — :meth:`Scope.unscoped_operator`, for operator and CLI code only, named so that a
reviewer sees it.

:class:`TableGateway` builds every statement of one table — ``get``, ``get_many``, ``list`` (keyset
pages), ``count``, ``insert`` / ``insert_many``, ``update``, ``delete`` — and on a tenant-owned table
(``domains._meta.tenant_owned``) puts ``tenant_id = :tenant`` into the WHERE clause of every one of them
and the tenant into every row it inserts. A row of another tenant is therefore not filtered out after
the fact: the database never returns it, and an update or delete of it matches nothing (``NotFound``,
exactly as for a missing row). A tenant-bound gateway on a shared table (one not marked tenant-owned) is
refused, so no tenant-bound repository can read shared rows by accident.

Statements are compiled once per (table, shape, scoped) and cached; ``insert_many`` runs ``executemany``
on the DBAPI connection with a cached SQL string (the fast path of bulk loads).

Example:
    >>> from domains.user_chat import conversations
    >>> Scope.for_tenant("acme").tenant
    'acme'
    >>> str(Scope.for_tenant("acme").where(conversations)).replace("\\n", " ")
    'conversations.tenant_id = :tenant_id_1'
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.engine import raw_connection, safe_params, translate_db_error
from codex.errors import InvalidInput, NotFound, TenantScopeError
from codex.repositories._rows import row_as
from domains._meta import DEFAULT_TENANT, TENANT_COLUMN, is_tenant_owned

__all__ = [
    "OPERATOR",
    "Page",
    "Scope",
    "TableGateway",
    "scope_of",
]

R = TypeVar("R")

_MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rows a repository may touch: one tenant, or (operators only) every tenant.

    Attributes:
        tenant: The tenant, or None for the unscoped operator form.
    """

    tenant: str | None

    @classmethod
    def for_tenant(cls, tenant: str) -> Scope:
        """The scope of one tenant.

        Raises:
            InvalidInput: ``tenant`` is not a valid tenant id (``[a-z0-9][a-z0-9_-]{0,62}``).
        """
        from codex.repositories.tenancy import validate_tenant

        return cls(validate_tenant(tenant))

    @classmethod
    def unscoped_operator(cls) -> Scope:
        """Every tenant's rows: for operator and CLI code only (never a tenant's request)."""
        return OPERATOR

    @property
    def is_operator(self) -> bool:
        """True for the unscoped operator form."""
        return self.tenant is None

    def where(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """The tenant condition on ``table`` (``true()`` when unscoped).

        Raises:
            TenantScopeError: A tenant scope on a table that is not tenant-owned.
        """
        if self.tenant is None:
            return sa.true()
        _require_owned(table)
        return table.c[TENANT_COLUMN] == self.tenant

    def insert_tenant(self, table: sa.Table) -> str:
        """The tenant a new row of ``table`` gets: the scope's, or ``default`` for the operator form."""
        _require_owned(table)
        return self.tenant if self.tenant is not None else DEFAULT_TENANT


OPERATOR = Scope(None)
"""The unscoped operator form (see :meth:`Scope.unscoped_operator`)."""


def _require_owned(table: sa.Table) -> None:
    if not is_tenant_owned(table):
        raise TenantScopeError(f"{table.name} is shared, not tenant-owned: use the unscoped operator form")


def scope_of(conn: sa.Connection, tenant: str | Scope | None = None) -> Scope:
    """The scope a repository on ``conn`` works in.

    An explicit ``tenant`` wins, but must agree with the tenant bound to the transaction
    (``store.begin(tenant=…)`` / ``store.connect(tenant=…)``); without one, the transaction's tenant, else
    the tenant ``default``.

    Raises:
        TenantScopeError: ``tenant`` differs from the transaction's tenant.
    """
    bound = conn.get_execution_options().get("codex_tenant")
    if isinstance(tenant, Scope):
        scope = tenant
    elif tenant is not None:
        scope = Scope.for_tenant(tenant)
    else:
        return Scope(bound) if bound else Scope(DEFAULT_TENANT)
    if bound and scope.tenant != bound:
        raise TenantScopeError(
            f"a repository of tenant {scope.tenant!r} on a transaction of tenant {bound!r}"
        )
    return scope


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One keyset page: the rows, and the key to pass as ``after`` for the next page (None at the end)."""

    items: list[R]
    next_after: Any | None


class TableGateway(Generic[R]):
    """Every generic statement of one table, built with the tenant scope in SQL.

    Args:
        conn: The caller's connection (the caller owns the transaction).
        table: The table.
        row_type: A frozen dataclass built from each returned row (extra columns are ignored).
        scope: Whose rows; a tenant scope needs a tenant-owned table.
        key: The key column(s) ``get`` / ``update`` / ``delete`` address (default: the primary key).
        columns: What every row-returning statement selects (default: every column of the table), for a
            row type whose fields rename or convert columns, e.g. ``(t.c.tools.label("tools_json"), …)``.
            Key and ``order_by`` columns keep their names.

    Raises:
        TenantScopeError: A tenant scope on a shared table.
    """

    def __init__(
        self,
        conn: sa.Connection,
        table: sa.Table,
        row_type: type[R],
        scope: Scope,
        *,
        key: Sequence[str] | None = None,
        columns: Sequence[sa.ColumnElement[Any]] | None = None,
    ) -> None:
        if scope.tenant is not None:
            _require_owned(table)
        self.conn, self.table, self.row_type, self.scope = conn, table, row_type, scope
        self.key = tuple(key) if key is not None else tuple(c.name for c in table.primary_key.columns)
        self.columns: tuple[sa.ColumnElement[Any], ...] = tuple(columns) if columns else tuple(table.c)
        self._params = {"_tenant": scope.tenant} if scope.tenant is not None else {}

    # -- reads --------------------------------------------------------------------------------
    def get(self, key: Any, *, missing: str | None = None) -> R:
        """The row with this key.

        Args:
            key: The key value (a tuple for a composite key).
            missing: The NotFound message (default: ``<table> <key> not found``).

        Raises:
            NotFound: No such row in scope (another tenant's row is not in scope).
        """
        row = self._first(self._get_statement(), self._key_params(key))
        if row is None:
            raise NotFound(missing or self._missing(key))
        return row

    def find(self, key: Any) -> R | None:
        """The row with this key, or None."""
        return self._first(self._get_statement(), self._key_params(key))

    def get_many(self, keys: Iterable[Any]) -> builtins.list[R]:
        """The rows with these keys that exist in scope, in the order asked (missing keys are skipped)."""
        wanted = list(keys)
        if not wanted:
            return []
        if len(self.key) != 1:
            return [row for row in (self.find(k) for k in wanted) if row is not None]
        column = self.table.c[self.key[0]]
        stmt = sa.select(*self.columns).where(column.in_(wanted), *self._scope())
        found = {getattr(row, self.key[0]): row for row in self._rows(stmt)}
        return [found[k] for k in wanted if k in found]

    def list(
        self,
        *where: sa.ColumnElement[bool],
        order_by: str | None = None,
        descending: bool = False,
        after: Any | None = None,
        limit: int = 50,
    ) -> Page[R]:
        """One keyset page of the rows in scope matching ``where``.

        Args:
            where: Extra conditions (ANDed with the tenant scope).
            order_by: A unique column to page by (default: the single-column key).
            descending: Newest (largest) first.
            after: The ``next_after`` of the previous page (rows strictly beyond it).
            limit: Page size, 1-10,000.
        """
        column = self.table.c[order_by or self._single_key()]
        size = max(1, min(int(limit), _MAX_PAGE))
        conditions = [*self._scope(), *where]
        if after is not None:
            conditions.append(column < after if descending else column > after)
        stmt = (
            sa.select(*self.columns)
            .where(*conditions)
            .order_by(column.desc() if descending else column)
            .limit(size + 1)
        )
        rows = self._rows(stmt)
        more = len(rows) > size
        items = rows[:size]
        return Page(items, getattr(items[-1], column.name) if more and items else None)

    def count(self, *where: sa.ColumnElement[bool]) -> int:
        """How many rows in scope match ``where``."""
        stmt = sa.select(sa.func.count()).select_from(self.table).where(*self._scope(), *where)
        return int(self._execute(stmt).scalar_one())

    def exists(self, key: Any) -> bool:
        """Whether a row with this key exists in scope (``SELECT 1 … LIMIT 1``: no column is read)."""
        stmt = sa.select(sa.literal(1)).where(*self._key_where(key), *self._scope()).limit(1)
        return self._execute(stmt).first() is not None

    def select(self, *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        """``SELECT * FROM table WHERE <scope> AND where…`` for a repository's own ordering and limits."""
        return sa.select(*self.columns).where(*self._scope(), *where)

    def where(self, *conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """``<scope> AND conditions…``: for a repository's hand-built UPDATE/DELETE/SELECT on this table."""
        return sa.and_(*self._scope(), *conditions) if self.scoped or conditions else sa.true()

    # -- writes -------------------------------------------------------------------------------
    def insert(self, values: Mapping[str, Any]) -> R:
        """Insert one row (its tenant is the scope's) and return it as stored.

        Raises:
            InvalidInput: ``values`` names another tenant.
            Conflict: A unique key (within the tenant) is taken.
        """
        stmt = sa.insert(self.table).values(self._owned(values)).returning(*self.columns)
        row = self._first(stmt, None)
        assert row is not None  # INSERT … RETURNING returns the row
        return row

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert many rows with one ``executemany`` (every row with the same keys); returns the count.

        Raises:
            InvalidInput: The rows do not all have the same keys, or one names another tenant.
        """
        if not rows:
            return 0
        owned = [self._owned(r) for r in rows]
        columns = tuple(owned[0])
        if any(tuple(r) != columns for r in owned):
            raise InvalidInput("insert_many needs the same keys in every row")
        sql = _insert_sql(self.table, columns)
        try:
            raw_connection(self.conn).executemany(sql, [safe_params(tuple(r.values())) for r in owned])
        except ValueError as exc:
            raise translate_db_error(exc) from exc
        return len(owned)

    def update(self, key: Any, values: Mapping[str, Any], *, missing: str | None = None) -> R:
        """Update the row with this key (in scope) and return it as stored (``missing``: as for :meth:`get`).

        Raises:
            NotFound: No such row in scope.
            InvalidInput: ``values`` would move the row to another tenant.
        """
        if TENANT_COLUMN in values and self.scope.tenant is not None:
            raise InvalidInput("a row cannot change tenant", field=TENANT_COLUMN)
        stmt = (
            sa.update(self.table)
            .where(*self._key_where(key), *self._scope())
            .values(dict(values))
            .returning(*self.columns)
        )
        row = self._first(stmt, None)
        if row is None:
            raise NotFound(missing or self._missing(key))
        return row

    def delete(self, key: Any, *, missing: str | None = None) -> R:
        """Delete the row with this key (in scope) and return it as it was (``missing``: as for :meth:`get`).

        Raises:
            NotFound: No such row in scope.
        """
        stmt = sa.delete(self.table).where(*self._key_where(key), *self._scope()).returning(*self.columns)
        row = self._first(stmt, None)
        if row is None:
            raise NotFound(missing or self._missing(key))
        return row

    def delete_where(self, *where: sa.ColumnElement[bool]) -> int:
        """Delete every row in scope matching ``where``; returns how many."""
        return int(self._execute(sa.delete(self.table).where(*self._scope(), *where)).rowcount)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def scoped(self) -> bool:
        """True when statements carry the tenant condition."""
        return self.scope.tenant is not None

    def _get_statement(self) -> sa.Select[Any]:
        return _statements(self.table, self.key, self.scoped, self.columns).get

    def _scope(self) -> builtins.list[sa.ColumnElement[bool]]:
        """The tenant condition as a list (empty when unscoped, so no ``WHERE 1 = 1``)."""
        return [self.scope.where(self.table)] if self.scoped else []

    def _missing(self, key: Any) -> str:
        return f"{_singular(self.table.name)} {_shown(key)} not found"

    def _single_key(self) -> str:
        if len(self.key) != 1:
            raise InvalidInput(f"{self.table.name} has a composite key: name the order_by column")
        return self.key[0]

    def _key_params(self, key: Any) -> dict[str, Any]:
        values = key if isinstance(key, tuple) and len(self.key) > 1 else (key,)
        if len(values) != len(self.key):
            raise InvalidInput(f"{self.table.name} is addressed by {', '.join(self.key)}")
        return {**{f"_k{i}": v for i, v in enumerate(values)}, **self._params}

    def _key_where(self, key: Any) -> builtins.list[sa.ColumnElement[bool]]:
        params = self._key_params(key)
        return [self.table.c[name] == params[f"_k{i}"] for i, name in enumerate(self.key)]

    def _owned(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(values)
        if not is_tenant_owned(self.table):
            return out
        given = out.get(TENANT_COLUMN)
        if self.scope.tenant is not None:
            if given is not None and given != self.scope.tenant:
                raise InvalidInput("a row cannot be written for another tenant", field=TENANT_COLUMN)
            out[TENANT_COLUMN] = self.scope.tenant
        elif given is None:
            out[TENANT_COLUMN] = DEFAULT_TENANT
        return out

    def _execute(self, stmt: sa.Executable, params: Mapping[str, Any] | None = None) -> sa.CursorResult[Any]:
        try:
            return self.conn.execute(stmt, params) if params else self.conn.execute(stmt)
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    def _first(self, stmt: sa.Executable, params: Mapping[str, Any] | None) -> R | None:
        try:
            result = self.conn.execute(stmt, params) if params else self.conn.execute(stmt)
            row = result.first()
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc
        return None if row is None else row_as(self.row_type, row)

    def _rows(self, stmt: sa.Executable) -> builtins.list[R]:
        try:
            rows = self.conn.execute(stmt).all()
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc
        return [row_as(self.row_type, r) for r in rows]


def _singular(name: str) -> str:
    """``conversations`` → ``conversation``, ``memories`` → ``memory``, ``audit_log`` → ``audit log``."""
    words = name.split("_")
    last = words[-1]
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def _shown(key: Any) -> str:
    return repr(key) if not isinstance(key, int) else str(key)


@dataclass(frozen=True, slots=True)
class _Statements:
    get: sa.Select[Any]


@functools.lru_cache(maxsize=1024)
def _statements(
    table: sa.Table, key: tuple[str, ...], scoped: bool, columns: tuple[sa.ColumnElement[Any], ...]
) -> _Statements:
    """The cached parameterised statements of one (table, key, scoped, columns) shape."""
    conditions = [table.c[name] == sa.bindparam(f"_k{i}") for i, name in enumerate(key)]
    if scoped:
        conditions.append(table.c[TENANT_COLUMN] == sa.bindparam("_tenant"))
    return _Statements(get=sa.select(*columns).where(*conditions))


@functools.cache
def _insert_sql(table: sa.Table, columns: tuple[str, ...]) -> str:
    """``INSERT INTO t (…) VALUES (?, …)`` for the DBAPI fast path (compiled once)."""
    stmt = sa.insert(table).values({c: sa.bindparam(c) for c in columns})
    return str(stmt.compile(dialect=sqlite.dialect(paramstyle="qmark")))
