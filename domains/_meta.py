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
    "NAMING_CONVENTION",
    "NOW",
    "REAL",
    "bool_int",
    "created_at",
    "metadata",
    "now_column",
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
