"""Migrations: the open-time baseline, the Alembic chain driven in-process, the ledger, and verify."""

from __future__ import annotations

import sqlalchemy as sa

from codex.migrate._alembic import (
    alembic_config,
    alembic_ini_path,
    check_models,
    current_revision,
    downgrade,
    head_revision,
    head_schema_version,
    migrations_dir,
    require_known_revision,
    script_directory,
    upgrade,
)
from codex.migrate._baseline import apply_baseline, apply_baseline_or_adopt, baseline_schema, drop_baseline
from codex.migrate._chain import MultipleHeadsError, heads_line, schema_version_of
from codex.migrate._commands import (
    RevisionInfo,
    chain_heads,
    history,
    make_merge,
    make_revision,
    schema_at,
    stamp,
)
from codex.migrate._expected import expected_head_schema
from codex.migrate._ledger import LEDGER_TABLE, LedgerEntry, read_ledger
from codex.migrate._rebaseline import RebaselineResult, rebaseline
from codex.migrate._rehearse import (
    RebuiltTable,
    RehearsalFailure,
    RehearsalReport,
    RevisionRun,
    copy_database,
    pending_revisions,
    rehearse,
)
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
    "LedgerEntry",
    "MultipleHeadsError",
    "RebaselineResult",
    "RebuiltTable",
    "RehearsalFailure",
    "RehearsalReport",
    "RevisionInfo",
    "RevisionRun",
    "VerifyReport",
    "alembic_config",
    "alembic_ini_path",
    "apply_baseline",
    "apply_baseline_or_adopt",
    "baseline_schema",
    "bootstrap",
    "chain_heads",
    "check_models",
    "check_not_ahead",
    "copy_database",
    "current_revision",
    "downgrade",
    "drop_baseline",
    "expected_head_schema",
    "head_revision",
    "head_schema_version",
    "heads_line",
    "history",
    "ledger_head",
    "make_merge",
    "make_revision",
    "migrations_dir",
    "pending_revisions",
    "read_ledger",
    "read_schema_version",
    "rebaseline",
    "record_schema_version",
    "rehearse",
    "remove_schema_version",
    "require_known_revision",
    "schema_at",
    "schema_version_of",
    "script_directory",
    "stamp",
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
