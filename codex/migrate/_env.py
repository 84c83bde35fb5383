"""What ``codex/migrations/env.py`` runs: Alembic runs with the ledger, ``schema_version`` and FK handling.

* **Online runs** (upgrade, downgrade, stamp) use the connection Codex passes in, or the configured
  database. Foreign keys are turned OFF on the raw DBAPI connection **before** the transaction begins
  (SQLite ignores the pragma inside one), so a batch rebuild of a parent table never cascades;
  ``PRAGMA foreign_key_check`` runs before commit (only violations the run adds fail it), and the
  pragma is restored afterwards.
* **Revision and check runs** (``revision --autogenerate``, ``check``) never touch a configured
  database: the models are compared with the chain run on a scratch in-memory database at head.
* After every step the environment writes ``schema_version`` (derived from the chain, see
  :mod:`codex.migrate._chain`) and the applied-revision ledger row; revisions do neither by hand.
* Revisions folded into the baseline by ``codex db rebaseline`` skip their bodies on a database that
  was built from that baseline.
* **Offline runs** (``--sql``) print the script and touch no database (a dialect-only URL, nothing is
  connected or read): ``PRAGMA foreign_keys=OFF`` before ``BEGIN``, the steps, the ``schema_version``
  rows and the ledger rows (:class:`~codex.migrate._ledger.OfflineLedger`, with the chain's expected
  digests), ``COMMIT``, then ``PRAGMA foreign_keys=ON``. The foreign-key check of online runs has no
  offline counterpart; a batch "move and copy" needs a live table to reflect and fails in ``--sql``
  mode (Alembic's own limit) unless the revision passes ``copy_from``.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic import context as alembic_context
from alembic import op as alembic_op
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

import codex.migrate._hooks  # noqa: F401  (registers the codex_ruff post-write hook)
from codex.config import MemoryDb, environ_with_file, resolve_db_config
from codex.engine import FOREIGN_KEYS_OFF, dbapi_connection, make_engine, translate_db_error
from codex.errors import CodexError, SchemaError
from codex.migrate._chain import chain_errors, folded, head_schema_version_of, schema_version_of
from codex.migrate._ledger import LedgerRecorder, OfflineLedger
from codex.migrate._versions import read_schema_version
from codex.schema import LiveSchema, read_live_schema
from domains import metadata

__all__ = ["configure_kw", "include_name", "run_env"]

log = logging.getLogger("codex.migrate")

_INTERNAL_SUFFIXES = ("_shadow",)
_INTERNAL_PREFIXES = ("sqlite_", "libsql_")
_STARTED_FROM_BASE = "codex_started_from_base"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate filter: skip libSQL/SQLite internals and FTS / vector-index shadow objects."""
    if name is None:
        return True
    if name.startswith(_INTERNAL_PREFIXES) or name.endswith(_INTERNAL_SUFFIXES):
        return False
    return not (type_ == "table" and "_fts" in name)


def configure_kw() -> dict[str, Any]:
    """The options every Codex run passes to ``context.configure`` (and review's comparison uses)."""
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


# --- batch rebuilds keep AUTOINCREMENT ---------------------------------------------------------------------


@sa.event.listens_for(sa.Table, "column_reflect")
def _keep_autoincrement(inspector: Any, table: sa.Table, column_info: Any) -> None:
    """Reflection does not report ``AUTOINCREMENT``; a batch rebuild (move and copy) of a reflected table
    would silently drop it. Mark the reflected table so the rebuilt one keeps it."""
    if "codex_autoincrement_checked" in table.info or inspector.bind is None:
        return
    table.info["codex_autoincrement_checked"] = True
    if inspector.bind.dialect.name != "sqlite":
        return
    with inspector._operation_context() as conn:
        row = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (table.name,)
        ).first()
    if row is not None and "AUTOINCREMENT" in str(row[0]).upper():
        table.dialect_kwargs["sqlite_autoincrement"] = True


# --- schema_version and folded revisions ----------------------------------------------------------------


def _version_writer(script: ScriptDirectory) -> Callable[..., None]:
    """An ``on_version_apply`` hook that records the chain-derived ``schema_version`` after each step."""

    def write(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        target = head_schema_version_of(script, tuple(heads))
        if not step.is_upgrade:
            if not heads:
                return  # back at base: the baseline's downgrade dropped schema_version itself
            ctx.execute(f"DELETE FROM schema_version WHERE version > {target:d}")
        ctx.execute(
            f"INSERT INTO schema_version (version) SELECT {target:d} "
            f"WHERE (SELECT COALESCE(MAX(version), 0) FROM schema_version) < {target:d}"
        )

    return write


def _after_step(*hooks: Callable[..., None]) -> Callable[..., None]:
    """One ``on_version_apply`` callback that runs ``hooks`` in order."""

    def run(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        for hook in hooks:
            hook(ctx=ctx, step=step, heads=heads, run_args=run_args)

    return run


def _skip_when_baselined(fn: Callable[[], None], version: int, revision: str) -> Callable[[], None]:
    @functools.wraps(fn)
    def upgrade() -> None:
        from alembic import op

        migration = op.get_context()
        if migration.as_sql:
            skip = bool(migration.config and migration.config.attributes.get(_STARTED_FROM_BASE))
        else:
            skip = read_schema_version(op.get_bind()) >= version
        if skip:
            log.info("revision %s is folded into the baseline: its schema is already there", revision)
            return
        fn()

    upgrade.__dict__["codex_folded"] = True
    return upgrade


def _guard_folded(script: ScriptDirectory) -> None:
    for sc in script.walk_revisions():
        module = sc.module
        body = getattr(module, "upgrade", None)
        if body is not None and folded(script, sc) and not getattr(body, "codex_folded", False):
            guarded = _skip_when_baselined(body, schema_version_of(script, sc.revision), sc.revision)
            module.__dict__["upgrade"] = guarded


# --- runs -------------------------------------------------------------------------------------------------


def _run_online(conn: sa.Connection, ctx: EnvironmentContext) -> None:
    with warnings.catch_warnings():
        # libSQL vector indexes are expression indexes: reflection skips them (they are not models).
        warnings.filterwarnings(
            "ignore",
            message="Skipped unsupported reflection of expression-based index",
            category=sa.exc.SAWarning,
        )
        _run_online_inner(conn, ctx)


def _run_online_inner(conn: sa.Connection, ctx: EnvironmentContext) -> None:
    conn.info[FOREIGN_KEYS_OFF] = True  # the engine begins the run's transaction with FKs off
    recorder = LedgerRecorder(conn)
    target = _target(ctx)
    script: ScriptDirectory = ctx.script
    _guard_folded(script)
    try:
        ctx.configure(
            connection=conn,
            on_version_apply=_after_step(_version_writer(script), recorder.on_step),
            **configure_kw(),
        )
        try:
            with ctx.begin_transaction():
                migration = ctx.get_context()
                recorder.start(tuple(migration.get_current_heads()))
                # Only violations the run adds are fatal: data imported from legacy files may already
                # hold dangling references, which a migration must not turn into a dead end.
                before = _fk_violations(conn)
                _run_tracking_steps(ctx, migration)
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


def _run_tracking_steps(ctx: EnvironmentContext, migration: Any) -> None:
    """``run_migrations``, turning a failure inside a revision into one line that names the step."""
    steps = migration._migrations_fn  # Alembic's step generator: note each step before it runs
    running: list[Any] = []

    def tracking(heads: Any, mctx: Any) -> Any:
        for step in steps(heads, mctx):
            running[:] = [step]
            yield step

    migration._migrations_fn = tracking
    try:
        ctx.run_migrations()
    except CodexError:
        raise
    except Exception as exc:
        if not running:
            raise
        if isinstance(exc, sa.exc.SQLAlchemyError):
            detail = translate_db_error(exc).message
        else:
            detail = f"{type(exc).__name__}: {exc}"
        raise SchemaError(
            f"{running[0].short_log.split(',')[0]} failed, the whole run was rolled back: {detail}",
            revision=str(running[0].short_log),
        ) from exc


def _target(ctx: EnvironmentContext) -> str:
    """The run's destination revision ("check"/"autogenerate" runs have none)."""
    try:
        return str(ctx.get_revision_argument())
    except KeyError:
        return "autogenerate"


def _drop_empty_autogenerate(context: Any, revision: Any, directives: list[Any]) -> None:
    """With ``codex db revision --autogenerate``, no change means no file."""
    if not context.config.attributes.get("codex_skip_empty_autogenerate"):
        return
    script = directives[0] if directives else None
    if script is not None and all(ops.is_empty() for ops in script.upgrade_ops_list):
        directives[:] = []


def _run_against_scratch_head(ctx: EnvironmentContext) -> None:
    """Revision / check runs: compare the models with the chain on a scratch in-memory database."""
    from codex.migrate._alembic import upgrade

    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            try:
                upgrade(conn, "head")
            finally:
                ctx._install_proxy()  # the nested run removed Alembic's module-level proxy to ``ctx``
            with warnings.catch_warnings():
                for message in ("Skipped unsupported reflection", "Did not recognize type"):
                    warnings.filterwarnings("ignore", message=message, category=sa.exc.SAWarning)
                ctx.configure(
                    connection=conn, process_revision_directives=_drop_empty_autogenerate, **configure_kw()
                )
                with ctx.begin_transaction():
                    ctx.run_migrations()
            if conn.in_transaction():
                conn.rollback()
    finally:
        engine.dispose()


# --- offline (--sql) runs ---------------------------------------------------------------------------------

_OFFLINE_URL = "sqlite://"
"""Offline runs need a dialect to render SQL, never a database: nothing is connected or created."""


@contextmanager
def _nested_alembic_run() -> Iterator[None]:
    """Run another Alembic command from inside this one.

    Alembic's ``context`` and ``op`` proxies are module-global: a nested run removes the outer run's,
    so they are put back afterwards. The nested run's log lines are kept out of the outer run's.
    """
    outer_ctx = getattr(alembic_context, "_proxy", None)
    outer_op = getattr(alembic_op, "_proxy", None)
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(level)
        for proxy in (outer_ctx, outer_op):
            if proxy is not None:
                proxy._install_proxy()


@functools.cache
def _schema_after(location: str, heads: tuple[str, ...]) -> LiveSchema:
    """The schema of a scratch in-memory database upgraded to ``heads`` with the chain at ``location``."""
    from codex.migrate._alembic import ALEMBIC_LOCK, alembic_config

    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            for head in heads:
                cfg = alembic_config(conn)
                cfg.set_main_option("script_location", location)
                with ALEMBIC_LOCK, chain_errors():
                    command.upgrade(cfg, head)
            return read_live_schema(conn)
    finally:
        engine.dispose()


def _expected_schemas(location: str) -> Callable[[tuple[str, ...]], LiveSchema]:
    def expected(heads: tuple[str, ...]) -> LiveSchema:
        with _nested_alembic_run():
            return _schema_after(location, tuple(sorted(heads)))

    return expected


def _run_offline(ctx: EnvironmentContext) -> None:
    """``--sql``: print the run as one script (foreign keys off, one transaction), touching no database."""
    script: ScriptDirectory = ctx.script
    _guard_folded(script)
    ledger = OfflineLedger(script=script, expected=_expected_schemas(script.dir))
    ctx.configure(
        url=_OFFLINE_URL,
        literal_binds=True,
        on_version_apply=_after_step(_version_writer(script), ledger.on_step),
        **configure_kw(),
    )
    migration = ctx.get_context()
    start = tuple(migration.get_current_heads())
    ctx.config.attributes[_STARTED_FROM_BASE] = not start  # folded revisions: see _skip_when_baselined
    ledger.start(start)
    destination = ctx.get_revision_argument()
    if not isinstance(destination, str):
        destination = ",".join(destination or ()) or "base"
    out = migration.impl.static_output
    out(
        f"-- Codex migration script, generated offline (--sql) for {','.join(start) or 'base'} -> "
        f"{destination}: nothing was read from a database.\n"
        "-- Run it whole on a database at the start revision. It ends the transaction it begins: if a\n"
        "-- statement fails, roll back (libsql_experimental's executescript stops at an error silently)."
    )
    out("PRAGMA foreign_keys=OFF;")  # before BEGIN: SQLite ignores the pragma inside a transaction
    with ctx.begin_transaction():
        ctx.run_migrations()
    out("PRAGMA foreign_keys=ON;")


def run_env() -> None:
    """Entry point for ``codex/migrations/env.py``."""
    ctx: EnvironmentContext = alembic_context._proxy  # type: ignore[attr-defined]
    if ctx.is_offline_mode():
        _run_offline(ctx)
        return
    given = ctx.config.attributes.get("connection")
    if given is not None:
        _run_online(given, ctx)
        return
    if "revision_context" in ctx.context_opts:
        _run_against_scratch_head(ctx)
        return
    engine = make_engine(resolve_db_config(environ_with_file(os.environ)))
    try:
        with engine.connect() as conn:
            _run_online(conn, ctx)
    finally:
        engine.dispose()
