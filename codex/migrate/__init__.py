"""Migrations: the open-time baseline, the Alembic chain driven in-process, the ledger, and verify."""

from __future__ import annotations

import sqlalchemy as sa

from codex.migrate._alembic import (
    alembic_config,
    check_models,
    current_revision,
    downgrade,
    head_revision,
    head_schema_version,
    migrations_dir,
    script_directory,
    upgrade,
)
from codex.migrate._baseline import apply_baseline, apply_baseline_or_adopt, baseline_schema, drop_baseline
from codex.migrate._expected import expected_head_schema
from codex.migrate._ledger import LEDGER_TABLE
from codex.migrate._verify import VerifyReport, ledger_head, verify_database
from codex.migrate._versions import (
    LEGACY_REMEDY,
    check_not_ahead,
    read_schema_version,
    record_schema_version,
    remove_schema_version,
    user_tables,
)

__all__ = [
    "LEDGER_TABLE",
    "LEGACY_REMEDY",
    "VerifyReport",
    "alembic_config",
    "apply_baseline",
    "apply_baseline_or_adopt",
    "baseline_schema",
    "bootstrap",
    "check_models",
    "check_not_ahead",
    "current_revision",
    "downgrade",
    "drop_baseline",
    "expected_head_schema",
    "head_revision",
    "head_schema_version",
    "ledger_head",
    "migrations_dir",
    "read_schema_version",
    "record_schema_version",
    "remove_schema_version",
    "script_directory",
    "upgrade",
    "user_tables",
    "verify_database",
]


def bootstrap(engine: sa.Engine) -> int:
    """Open-time schema handling: baseline an empty database, refuse one that is ahead.

    An empty database gets the baseline and ``schema_version = BASELINE_VERSION`` in one transaction;
    any other database is left as it is (``alembic upgrade head`` / ``codex db upgrade`` moves it
    forward).

    Returns:
        The database's ``schema_version`` after the call.

    Raises:
        SchemaError: The database is ahead of the code or carries a legacy chain (with the remedy).
    """
    with engine.begin() as conn:
        current = check_not_ahead(conn, head_schema_version())
        if current == 0 and not user_tables(conn):
            apply_baseline(conn)
            return read_schema_version(conn)
        return current
