"""What ``migrations/env.py`` runs: online and offline Alembic runs with the ledger and FK handling.

Foreign keys are turned OFF on the raw DBAPI connection **before** the transaction begins (SQLite
ignores the pragma inside one): a batch rebuild of a parent table would otherwise cascade-delete its
children. ``PRAGMA foreign_key_check`` runs before commit (only violations the run adds fail it), and the pragma is restored afterwards.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import sqlalchemy as sa
from alembic import context as alembic_context

from codex.config import environ_with_file, resolve_db_config
from codex.engine import FOREIGN_KEYS_OFF, dbapi_connection, make_engine
from codex.errors import SchemaError
from codex.migrate._ledger import LedgerRecorder
from domains import metadata

__all__ = ["include_name", "run_env"]

_INTERNAL_SUFFIXES = ("_shadow",)
_INTERNAL_PREFIXES = ("sqlite_", "libsql_")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate filter: skip libSQL/SQLite internals and FTS / vector-index shadow objects."""
    if name is None:
        return True
    if name.startswith(_INTERNAL_PREFIXES) or name.endswith(_INTERNAL_SUFFIXES):
        return False
    return not (type_ == "table" and "_fts" in name)


def _configure_kw() -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "render_as_batch": True,
        "transactional_ddl": True,  # SQLite DDL is transactional: one transaction per run
        "compare_type": True,
        "compare_server_default": True,
        "include_name": include_name,
    }


def _fk_violations(conn: sa.Connection) -> set[tuple[Any, ...]]:
    # (table, parent, fk index, count): rowids may change when a batch rebuild copies a table
    rows = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    counts: dict[tuple[Any, ...], int] = {}
    for table, _rowid, parent, fkid in rows:
        counts[(table, parent, fkid)] = counts.get((table, parent, fkid), 0) + 1
    return {(*key, n) for key, n in counts.items()}


def _run_online(conn: sa.Connection, ctx: Any) -> None:
    with warnings.catch_warnings():
        # libSQL vector indexes are expression indexes: reflection skips them (they are not models).
        warnings.filterwarnings(
            "ignore",
            message="Skipped unsupported reflection of expression-based index",
            category=sa.exc.SAWarning,
        )
        _run_online_inner(conn, ctx)


def _run_online_inner(conn: sa.Connection, ctx: Any) -> None:
    conn.info[FOREIGN_KEYS_OFF] = True  # the engine begins the run's transaction with FKs off
    recorder = LedgerRecorder(conn)
    target = _target(ctx)
    try:
        ctx.configure(connection=conn, on_version_apply=recorder.on_step, **_configure_kw())
        try:
            with ctx.begin_transaction():
                migration = ctx.get_context()
                recorder.start(tuple(migration.get_current_heads()))
                # Only violations the run adds are fatal: data imported from legacy files may already
                # hold dangling references, which a migration must not turn into a dead end.
                before = _fk_violations(conn)
                ctx.run_migrations()
                added = _fk_violations(conn) - before
                if added:
                    example = sorted(added, key=str)[0]
                    raise SchemaError(
                        f"migration left {len(added)} new dangling foreign key(s), e.g. {example}; rolled back",
                        violations=len(added),
                    )
                recorder.flush()
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                recorder.record_failure(str(target), exc)
            raise
    finally:
        conn.info.pop(FOREIGN_KEYS_OFF, None)
        if conn.in_transaction():
            conn.rollback()
        dbapi_connection(conn).execute("PRAGMA foreign_keys=ON")


def _target(ctx: Any) -> str:
    """The run's destination revision ("check"/"autogenerate" runs have none)."""
    try:
        return str(ctx.get_revision_argument())
    except KeyError:
        return "autogenerate"


def run_env() -> None:
    """Entry point for ``migrations/env.py``."""
    ctx = alembic_context
    if ctx.is_offline_mode():
        config = resolve_db_config(environ_with_file(os.environ))
        from codex.engine import engine_url

        ctx.configure(url=engine_url(config), literal_binds=True, **_configure_kw())
        with ctx.begin_transaction():
            ctx.run_migrations()
        return
    given = ctx.config.attributes.get("connection")
    if given is not None:
        _run_online(given, ctx)
        return
    engine = make_engine(resolve_db_config(environ_with_file(os.environ)))
    try:
        with engine.connect() as conn:
            _run_online(conn, ctx)
    finally:
        engine.dispose()
