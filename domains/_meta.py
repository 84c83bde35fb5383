"""The one shared ``MetaData`` and the small column helpers every domain module uses.

Every table of every domain lives on :data:`metadata`. Its naming convention names every
constraint the reference leaves anonymous, because Alembic's SQLite batch mode cannot alter an
unnamed constraint (alembic ``docs/build/naming.rst``). Index names are always given explicitly,
copied from the reference (``schema-v1-v17.md``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = [
    "DEFAULT_TENANT",
    "NAMING_CONVENTION",
    "NOW",
    "REAL",
    "TENANT_COLUMN",
    "bool_int",
    "created_at",
    "is_tenant_owned",
    "metadata",
    "now_column",
    "tenant_column",
    "tenant_owned",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
"""The shared MetaData of the main Codex store."""

NOW = sa.text("(datetime('now'))")
"""SQLite's UTC ``YYYY-MM-DD HH:MM:SS``: the upstream default of every timestamp column."""

REAL = sa.REAL
"""``REAL`` as upstream declares it (``sa.Float`` would render ``FLOAT``)."""


def now_column(name: str, **kw: Any) -> sa.Column[str]:
    """A ``TEXT NOT NULL DEFAULT (datetime('now'))`` timestamp column."""
    return sa.Column(name, sa.Text, nullable=False, server_default=NOW, **kw)


def created_at() -> sa.Column[str]:
    """The ubiquitous ``created_at TEXT NOT NULL DEFAULT (datetime('now'))``."""
    return now_column("created_at")


def bool_int(name: str, default: int = 0) -> sa.Column[int]:
    """A boolean stored as ``INTEGER NOT NULL DEFAULT 0|1``, as upstream stores booleans."""
    return sa.Column(name, sa.Integer, nullable=False, server_default=sa.text(str(default)))


TENANT_COLUMN = "tenant_id"
"""The column that makes a row a tenant's: every tenant-owned table has it (see :func:`tenant_owned`)."""

DEFAULT_TENANT = "default"
"""The tenant of rows written without one (library and CLI use): an ordinary tenant, not an operator."""


def tenant_column() -> sa.Column[str]:
    """``tenant_id TEXT NOT NULL DEFAULT 'default'``: the owning tenant of a row.

    Added by a revision (``ALTER TABLE … ADD COLUMN``), so it is the last column of its table; declare it
    last, or let :func:`tenant_owned` append it.
    """
    return sa.Column(TENANT_COLUMN, sa.Text, nullable=False, server_default=sa.text(f"'{DEFAULT_TENANT}'"))


def tenant_owned(*tables: sa.Table, index: bool = True) -> None:
    """Mark ``tables`` as tenant-owned: append :func:`tenant_column` (unless declared) and its index.

    The repository gateway (``codex.repositories.gateway``) applies the tenant scope in SQL to every
    statement on a tenant-owned table; a table not marked is shared (library or operator data) and a
    tenant-bound gateway refuses it.

    Args:
        tables: The tables.
        index: Add ``idx_<table>_tenant`` on the column (False when a unique index on
            ``(tenant_id, …)`` already leads with it).
    """
    for table in tables:
        if TENANT_COLUMN not in table.c:
            table.append_column(tenant_column())
        if index:
            sa.Index(f"idx_{table.name}_tenant", table.c[TENANT_COLUMN])
        table.info["tenant_owned"] = True


def is_tenant_owned(table: sa.Table) -> bool:
    """True when ``table`` carries a tenant (marked with :func:`tenant_owned`)."""
    return bool(table.info.get("tenant_owned"))
