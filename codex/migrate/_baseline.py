"""Applying the baseline: to an empty database, or adopting a database that already matches it.

Used by Alembic revision 0001 and by :func:`codex.migrate.bootstrap` (open-time baseline).
"""

from __future__ import annotations

import functools
import logging

import sqlalchemy as sa

from codex.config import DbConfig
from codex.engine import make_engine
from codex.errors import SchemaError
from codex.migrate._versions import record_schema_version, user_tables
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
    ``schema_version = BASELINE_VERSION``. The caller owns the transaction."""
    for statement in baseline_statements():
        conn.exec_driver_sql(statement)
    record_schema_version(conn, BASELINE_VERSION)


@functools.cache
def baseline_schema() -> LiveSchema:
    """The normalised schema of a database holding exactly the baseline (built in memory, cached)."""
    engine = make_engine(DbConfig("memory"))
    try:
        with engine.begin() as conn:
            apply_baseline(conn)
            return read_live_schema(conn)
    finally:
        engine.dispose()


def apply_baseline_or_adopt(conn: sa.Connection) -> str:
    """Baseline revision body: create the baseline on an empty database, or adopt a matching one.

    Returns:
        ``"created"`` or ``"adopted"``.

    Raises:
        SchemaError: The database is not empty and its live schema differs from the baseline (the
            message lists what differs; nothing is changed).
    """
    if not user_tables(conn):
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
    """Baseline revision downgrade: drop every baseline table (children first)."""
    for name in reversed(baseline_table_names()):
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
