"""Recording what a deploy runs: every Alembic operation, the SQL it executes, and its batch.

The pending revisions (and then the model changes no revision carries) run on a **scratch in-memory
database** that holds the inspected database's schema, never on the inspected database. While they
run, three hooks record them (installed for the run only, under Alembic's process-wide lock):

* ``AbstractOperations.invoke`` (every ``op.*`` call, batch or not, goes through it): the operation
  object, named the way Alembic names it (``add_column``, ``create_index``, ``execute``…), analyzed
  just before it runs (see :mod:`codex.guards.review._analyze`);
* ``BatchOperationsImpl.flush`` (the end of a ``with op.batch_alter_table(...)`` block, where a
  batch's SQL actually runs): an ALTER-in-place batch runs entry by entry, so each statement is
  attributed to its own operation; a batch Alembic executes by **move and copy** (a new
  ``_alembic_tmp_<table>``, ``INSERT INTO … SELECT``, ``DROP``, ``RENAME``) shares its statements
  among the batch's operations, each of which gets a ``table-rebuild`` finding;
* ``MigrationStep.upgrade_from_script`` (each revision's ``upgrade()``): the revision the statements
  belong to. SQL a revision body runs itself (``op.get_bind().exec_driver_sql``) becomes an
  ``execute`` operation of its own.

A ``before_cursor_execute`` listener on the scratch engine collects the statements; reads
(``SELECT``, ``PRAGMA``) and transaction control are left out. Statements outside a revision body
(``alembic_version``, ``schema_version``, the ledger) are bookkeeping and are not reviewed.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.operations.base import AbstractOperations
from alembic.operations.batch import BatchOperationsImpl
from alembic.runtime.migration import MigrationContext, MigrationStep

from codex.engine import FOREIGN_KEYS_OFF
from codex.guards.review._analyze import (
    Scratch,
    analyze,
    analyze_sql,
    describe,
    describe_sql,
    follow,
    follow_sql,
)
from codex.guards.review._probe import Probe
from codex.guards.review._report import MIGRATION_ERROR, TABLE_REBUILD, Finding, ReviewedOperation, Severity
from codex.migrate._alembic import ALEMBIC_LOCK

__all__ = ["Recorder", "recording", "run_model_changes"]

_READS = frozenset(
    {"SELECT", "PRAGMA", "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "EXPLAIN"}
)
_WRITES = re.compile(r"\b(?:insert|update|delete|replace)\b", re.IGNORECASE)
_TMP = "_alembic_tmp_"

_active: Recorder | None = None


def _is_write(statement: str) -> bool:
    words = statement.split(None, 1)
    if not words:
        return False
    first = words[0].upper()
    if first == "WITH":
        return _WRITES.search(statement) is not None
    return first not in _READS


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Recorder:
    """Collects the reviewed operations of one review.

    Args:
        probe: The inspected database (counts and lineage).
        rebuild_warn_rows: Above this many rows a table rebuild is a warning (info otherwise).
    """

    def __init__(self, probe: Probe, rebuild_warn_rows: int) -> None:
        self.probe = probe
        self.rebuild_warn_rows = rebuild_warn_rows
        self.operations: list[ReviewedOperation] = []
        self.revisions: list[str] = []
        self.revision: str | None = None
        self.active = False
        self.failed_revision: str | None = None
        self._depth = 0
        self._targets: list[ReviewedOperation] | None = None
        self._last: ReviewedOperation | None = None
        self._batches: dict[int, tuple[BatchOperationsImpl, list[ReviewedOperation | None], int]] = {}
        self._batch_count = 0
        self.acknowledged: dict[str, dict[str, str]] = {}
        """Per revision: finding code → the reason its revision gives (``review_acknowledged``)."""

    # --- statements ---------------------------------------------------------------------------------------

    def on_statement(
        self, conn: sa.Connection, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        """``before_cursor_execute`` listener of the scratch engine."""
        if not self.active or not _is_write(statement):
            return
        text = statement.strip()
        if self._targets:
            self._targets[0].sql.append(text)  # a move-and-copy batch's operations share one list
            return
        if self._depth:
            return
        described = describe_sql(text)  # SQL the revision body runs itself
        entry = self._add(described.op, described.table, described.column, described.detail)
        entry.sql.append(text)
        entry.findings += analyze_sql(text, Scratch(None), self.probe)
        follow_sql(text, self.probe)

    def _add(self, op: str, table: str | None, column: str | None, detail: str) -> ReviewedOperation:
        entry = ReviewedOperation(self.revision, op, table, column, detail)
        self.operations.append(entry)
        self._last = entry
        return entry

    # --- hooks ------------------------------------------------------------------------------------------

    def invoke(self, ops_obj: AbstractOperations, operation: Any, original: Callable[..., Any]) -> Any:
        """Record and analyze one operation, then run it."""
        scratch = Scratch(ops_obj.get_bind())
        described = describe(operation, scratch)
        entry = self._add(described.op, described.table, described.column, described.detail)
        entry.findings += analyze(operation, scratch, self.probe)
        follow(operation, self.probe)
        impl = ops_obj.impl
        self._depth += 1
        if isinstance(impl, BatchOperationsImpl):  # queued: its SQL runs at the end of the block
            before = len(impl.batch)
            try:
                return original(ops_obj, operation)
            finally:
                self._depth -= 1
                _, owners, number = self._batch(impl)
                owners.extend([None] * (before - len(owners)))
                owners.extend([entry] * (len(impl.batch) - before))
                entry.batch = number
        saved, self._targets = self._targets, [entry]
        try:
            return original(ops_obj, operation)
        finally:
            self._depth -= 1
            self._targets = saved

    def _batch(
        self, impl: BatchOperationsImpl
    ) -> tuple[BatchOperationsImpl, list[ReviewedOperation | None], int]:
        if id(impl) not in self._batches:
            self._batch_count += 1
            self._batches[id(impl)] = (impl, [], self._batch_count)
        return self._batches[id(impl)]

    def flush(self, impl: BatchOperationsImpl, original: Callable[[BatchOperationsImpl], None]) -> None:
        """Run a batch, attributing its statements (per entry in place, shared for a move and copy)."""
        _, known, number = self._batch(impl)
        self._batches.pop(id(impl), None)
        owners: list[ReviewedOperation] = []
        for index, (name, _args, _kw) in enumerate(impl.batch):
            owner = known[index] if index < len(known) else None
            if owner is None:
                owner = self._add(name, impl.table_name, None, "batch entry")
                owner.batch = number
            owners.append(owner)
        if not owners:
            original(impl)
            return
        saved = self._targets
        try:
            if impl._should_recreate():
                self._rebuild(impl, owners, original)
                return
            items = impl.batch
            try:
                for item, owner in zip(items, owners, strict=True):
                    impl.batch, self._targets, self._last = [item], [owner], owner
                    original(impl)
            finally:
                impl.batch = items
        finally:
            self._targets = saved

    def _rebuild(
        self,
        impl: BatchOperationsImpl,
        owners: list[ReviewedOperation],
        original: Callable[[BatchOperationsImpl], None],
    ) -> None:
        shared: list[str] = []
        for owner in owners:
            shared.extend(s for s in owner.sql if s not in shared)
            owner.sql = shared
        self._targets, self._last = [owners[0]], owners[0]
        original(impl)
        if not any(_TMP in statement for statement in shared):
            return
        table = str(impl.table_name)
        rows = self.probe.rows(table)
        severity: Severity = "warning" if rows is not None and rows > self.rebuild_warn_rows else "info"
        counted = (
            f"{rows} row(s) are copied"
            if rows is not None
            else "row count unknown (no database inspected)"
            if not self.probe.inspected
            else "row count unknown"
        )
        finding = Finding(
            TABLE_REBUILD,
            severity,
            f"Alembic batch mode rebuilds `{table}` by move and copy (a new `{_TMP}{table}`, INSERT … SELECT "
            f"of every row, DROP, RENAME): {counted} while the deploy holds the write lock"
            + (f" (more than {self.rebuild_warn_rows})" if severity == "warning" else ""),
            rows,
        )
        for owner in dict((id(o), o) for o in owners).values():
            owner.findings.append(finding)

    def acknowledge(self, revision: str, module: Any) -> None:
        """Note the findings a revision acknowledges: its module-level ``review_acknowledged``.

        ``review_acknowledged = {"destructive": "the rows moved to tenant_id first"}`` turns that revision's
        ``destructive`` findings into ``info`` findings that carry the reason (like a linter's inline
        ``noqa`` with a justification): the reviewer still sees every operation, the gate no longer fails.
        """
        given = getattr(module, "review_acknowledged", None)
        if isinstance(given, dict):
            self.acknowledged[revision] = {str(k): str(v) for k, v in given.items()}

    def apply_acknowledgements(self) -> None:
        """Downgrade the acknowledged findings of each revision to ``info``, with its reason."""
        for entry in self.operations:
            reasons = self.acknowledged.get(entry.revision or "", {})
            entry.findings = [
                Finding(
                    f.code,
                    "info",
                    f"{f.message} Acknowledged by revision {entry.revision}: {reasons[f.code]}",
                    f.rows,
                )
                if f.code in reasons and f.severity != "info"
                else f
                for f in entry.findings
            ]

    def body(self, revision: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a revision's ``upgrade()`` so its statements are attributed to it."""

        @functools.wraps(fn)
        def upgrade(**kw: Any) -> Any:
            self.revision, self.active = revision, True
            self.revisions.append(revision)
            try:
                return fn(**kw)
            except BaseException:
                self.failed_revision = revision
                raise
            finally:
                self.revision, self.active = None, False

        return upgrade

    # --- failures -----------------------------------------------------------------------------------------

    def fail(self, exc: BaseException, revision: str | None) -> None:
        """Attach a ``migration-error`` finding to the operation that failed (or to its revision)."""
        entry = self._last if self._last is not None and self._last.revision == revision else None
        if entry is None:
            entry = ReviewedOperation(revision, "execute", None, None, "the revision's upgrade()")
            self.operations.append(entry)
        where = f"revision {revision}" if revision else "the model change"
        entry.findings.append(
            Finding(
                MIGRATION_ERROR,
                "error",
                f"{where} fails on a database with this schema (run on an empty scratch copy): {_first_line(exc)}",
            )
        )


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Install the three hooks for ``recorder`` (process-wide, under Alembic's lock) and remove them."""
    global _active
    invoke_orig = AbstractOperations.invoke
    flush_orig = BatchOperationsImpl.flush
    step_orig = MigrationStep.__dict__["upgrade_from_script"]

    def invoke(self: AbstractOperations, operation: Any) -> Any:
        rec = _active
        if rec is None or not rec.active or rec._depth:
            return invoke_orig(self, operation)
        return rec.invoke(self, operation, invoke_orig)

    def flush(self: BatchOperationsImpl) -> None:
        rec = _active
        if rec is None or not rec.active:
            flush_orig(self)
            return
        rec.flush(self, flush_orig)

    def upgrade_from_script(cls: type[MigrationStep], revision_map: Any, script: Any) -> Any:
        step = step_orig.__func__(cls, revision_map, script)
        if _active is not None:
            _active.acknowledge(script.revision, script.module)
            step.migration_fn = _active.body(script.revision, step.migration_fn)
        return step

    with ALEMBIC_LOCK:
        _active = recorder
        AbstractOperations.invoke = invoke  # type: ignore[method-assign]
        BatchOperationsImpl.flush = flush  # type: ignore[method-assign]
        MigrationStep.upgrade_from_script = classmethod(upgrade_from_script)  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            AbstractOperations.invoke = invoke_orig  # type: ignore[method-assign]
            BatchOperationsImpl.flush = flush_orig  # type: ignore[method-assign]
            MigrationStep.upgrade_from_script = step_orig  # type: ignore[method-assign]
            _active = None


def run_model_changes(
    conn: sa.Connection, context: MigrationContext, upgrade_ops: alembic_ops.UpgradeOps, recorder: Recorder
) -> None:
    """Run autogenerate's operations on the scratch database at head, the way a batch-rendered
    revision would (``with batch_alter_table`` per table), recording them with ``revision`` None.

    Each table's group runs in a savepoint: one that fails gets a ``migration-error`` finding and the
    next group still runs. The whole run is rolled back (the scratch database is thrown away anyway).
    """
    if conn.in_transaction():
        conn.rollback()
    conn.info[FOREIGN_KEYS_OFF] = True  # as in a migration run: a rebuild must not cascade
    operations = Operations(context)
    try:
        with recording(recorder), conn.begin() as transaction:
            recorder.active, recorder.revision = True, None
            for group in upgrade_ops.ops:
                savepoint = conn.begin_nested()
                try:
                    if isinstance(group, alembic_ops.ModifyTableOps):
                        with operations.batch_alter_table(group.table_name, schema=group.schema) as batch:
                            for sub in group.ops:
                                batch.invoke(sub)
                    else:
                        operations.invoke(group)
                    savepoint.commit()
                except Exception as exc:  # a failure is a finding: the revision would fail the same way
                    savepoint.rollback()
                    recorder.fail(exc, None)
            recorder.active = False
            transaction.rollback()
    finally:
        conn.info.pop(FOREIGN_KEYS_OFF, None)
