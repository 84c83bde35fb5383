"""Applying the baseline: to an empty database, or adopting a database that already matches it.

Used by Alembic revision 0001 and by :func:`codex.migrate.bootstrap` (open-time baseline). In an
offline (``--sql``) run the baseline statements are printed into the script verbatim, and nothing is
read: the script assumes an empty database (there is no adopt check offline).
"""

from __future__ import annotations

import functools
import logging

import sqlalchemy as sa

from codex.config import MemoryDb
from codex.engine import make_engine, raw_connection, translate_db_error
from codex.errors import SchemaError
from codex.migrate._versions import offline_context, record_schema_version, user_tables, write_sql
from codex.schema import (
    BASELINE_VERSION,
    LiveSchema,
    baseline_statements,
    baseline_table_names,
    diff_schemas,
    read_live_schema,
)

__all__ = ["apply_baseline", "apply_baseline_or_adopt", "baseline_schema", "drop_baseline"]

log = logging.getLogger("codex.migrate")


def apply_baseline(conn: sa.Connection) -> None:
    """Run every baseline statement (one per call: libSQL runs one statement at a time) and record
    ``schema_version = BASELINE_VERSION``. The caller owns the transaction.

    Offline (``conn`` is Alembic's ``--sql`` stand-in), the statements are printed into the script.
    """
    migration = offline_context(conn)
    if migration is not None:
        for statement in baseline_statements():
            write_sql(migration, statement)
    else:
        # ~140 DDL statements on an empty database: straight to the DBAPI cursor, in the caller's
        # transaction (SQLAlchemy's per-statement overhead was a third of P5's `upgrade head`)
        raw = raw_connection(conn)
        try:
            for statement in baseline_statements():
                raw.execute(statement)
        except ValueError as exc:  # the driver's bare error
            raise translate_db_error(exc) from exc
    record_schema_version(conn, BASELINE_VERSION)


@functools.cache
def baseline_schema() -> LiveSchema:
    """The normalised schema of a database holding exactly the baseline (built in memory, cached)."""
    engine = make_engine(MemoryDb())
    try:
        with engine.begin() as conn:
            apply_baseline(conn)
            return read_live_schema(conn)
    finally:
        engine.dispose()


def apply_baseline_or_adopt(conn: sa.Connection) -> str:
    """Baseline revision body: create the baseline on an empty database, or adopt a matching one.

    Offline (``--sql``), the database cannot be read: the baseline statements are printed for an
    empty database and ``"created"`` is returned.

    Returns:
        ``"created"`` or ``"adopted"``.

    Raises:
        SchemaError: The database is not empty and its live schema differs from the baseline (the
            message lists what differs; nothing is changed).
    """
    if offline_context(conn) is not None or not user_tables(conn):
        apply_baseline(conn)
        return "created"
    expected, live = baseline_schema(), read_live_schema(conn)
    if live.digest() != expected.digest():
        diff = diff_schemas(expected, live)
        raise SchemaError(
            "refusing to apply the baseline to a non-empty database whose schema is not the baseline "
            f"(live digest {live.digest()}, baseline {expected.digest()}; missing {list(diff.missing)[:8]}, "
            f"extra {list(diff.extra)[:8]}, changed {list(diff.changed)[:8]}). Use an empty database, or "
            "`codex legacy export/import` to move the data.",
            live_digest=live.digest(),
            expected_digest=expected.digest(),
            diff=diff.as_dict(),
        )
    record_schema_version(conn, BASELINE_VERSION)
    conn.info["codex_adopted"] = True
    log.warning("the database already holds the baseline schema (digest %s): adopted it", live.digest())
    return "adopted"


def drop_baseline(conn: sa.Connection) -> None:
    """Baseline revision downgrade: drop every baseline table (children first; offline: print the drops)."""
    migration = offline_context(conn)
    for name in reversed(baseline_table_names()):
        statement = f'DROP TABLE IF EXISTS "{name}"'
        if migration is not None:
            write_sql(migration, statement)
        else:
            conn.exec_driver_sql(statement)
