"""``schema_version`` bookkeeping: the baseline row, forward rows, and the open-time guard.

Meaning of ``schema_version`` in Codex (documented in the README):

* The baseline records ``BASELINE_VERSION`` (1 for fragments v1…v17).
* Every revision's number is derived from the chain (:mod:`codex.migrate._chain`: the count of
  revisions in its ancestry, itself included) and written by the migration environment after each
  step; a downgrade removes the rows above its destination. ``MAX(version)`` always says how far along
  the chain a database is, and the head's value is the number of revisions in the chain.
* A database whose ``MAX(version)`` is above the code's head, or above the baseline **without** an
  ``alembic_version`` table (an upstream legacy chain), is refused with :class:`SchemaError`.

Offline (``--sql``) runs hand revisions a ``MockConnection`` that can neither read nor run anything:
:func:`offline_context` recognises it, and the writers here then print literal SQL into the script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine.mock import MockConnection

from codex.errors import SchemaError
from codex.schema import BASELINE_VERSION

if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext

__all__ = [
    "LEGACY_REMEDY",
    "check_not_ahead",
    "has_table",
    "offline_context",
    "read_schema_version",
    "record_schema_version",
    "remove_schema_version",
    "user_tables",
    "write_sql",
]

LEGACY_REMEDY = (
    "This database carries a legacy schema_version chain (or is newer than this code). To bring its data "
    "over: 1) `codex legacy export rows.jsonl` (reads without migrating); 2) point VOX_DB_PATH at a new "
    "file; 3) `codex db upgrade` on it; 4) `codex legacy import rows.jsonl`. If the database is simply "
    "newer than this code, upgrade Codex instead."
)


def offline_context(conn: object) -> MigrationContext | None:
    """The running Alembic migration context when ``conn`` is its offline (``--sql``) stand-in, else None.

    In offline mode ``op.get_bind()`` is a ``MockConnection``: statements go into the printed script
    through the migration context instead (see :func:`write_sql`), and nothing can be read.
    """
    if not isinstance(conn, MockConnection):
        return None
    from alembic import op

    return op.get_context()


def write_sql(migration: MigrationContext, statement: str) -> None:
    """Print one statement into an offline script, verbatim (no bind-parameter parsing), ending with ``;``."""
    text = statement.strip()
    migration.impl.static_output(text if text.endswith(";") else f"{text};")


def has_table(conn: sa.Connection, name: str) -> bool:
    """True when ``name`` is a table of the connected database."""
    row = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
    ).first()
    return row is not None


def user_tables(conn: sa.Connection) -> list[str]:
    """Tables other than SQLite/libSQL internals and ``alembic_version``."""
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "AND name NOT LIKE 'libsql\\_%' ESCAPE '\\' AND name <> 'alembic_version' ORDER BY name"
    ).all()
    return [str(r[0]) for r in rows]


def read_schema_version(conn: sa.Connection) -> int:
    """``MAX(schema_version.version)``, or 0 when the table is missing or empty."""
    if not has_table(conn, "schema_version"):
        return 0
    value = conn.exec_driver_sql("SELECT COALESCE(MAX(version), 0) FROM schema_version").scalar()
    return int(value or 0)


def record_schema_version(conn: sa.Connection, version: int) -> None:
    """Insert (or refresh) a ``schema_version`` row; used by the baseline (the environment writes the rest).

    Offline (``--sql``), the statement is printed with the version as a literal.
    """
    migration = offline_context(conn)
    if migration is not None:
        write_sql(
            migration,
            f"INSERT INTO schema_version (version) VALUES ({int(version):d}) "
            "ON CONFLICT(version) DO UPDATE SET applied_at = datetime('now')",
        )
        return
    conn.exec_driver_sql(
        "INSERT INTO schema_version (version) VALUES (?) "
        "ON CONFLICT(version) DO UPDATE SET applied_at = datetime('now')",
        (version,),
    )


def remove_schema_version(conn: sa.Connection, version: int) -> None:
    """Delete one ``schema_version`` row (offline: print the statement)."""
    migration = offline_context(conn)
    if migration is not None:
        write_sql(migration, f"DELETE FROM schema_version WHERE version = {int(version):d}")
        return
    conn.exec_driver_sql("DELETE FROM schema_version WHERE version = ?", (version,))


def check_not_ahead(conn: sa.Connection, head_version: int) -> int:
    """Refuse a database that is ahead of the code or carries an upstream legacy chain.

    Returns:
        The current ``schema_version`` (0 for an empty database).

    Raises:
        SchemaError: ``MAX(version) > head_version``, or ``> BASELINE_VERSION`` with no Alembic history.
    """
    current = read_schema_version(conn)
    if current > head_version or (current > BASELINE_VERSION and not has_table(conn, "alembic_version")):
        raise SchemaError(
            f"schema_version {current} is ahead of this code (head {head_version}, baseline "
            f"{BASELINE_VERSION}). {LEGACY_REMEDY}",
            schema_version=current,
            head_schema_version=head_version,
        )
    return current
