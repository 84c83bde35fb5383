"""workflows: the durable execution log, scheduled functions and the component registry.

Scheduling times (``scheduled.run_at``) are TEXT ``YYYY-MM-DD HH:MM:SS`` in UTC, the shape of
SQLite's ``datetime('now')``, so "due" is a plain string comparison. Inputs may be that text, any
ISO-8601 text, or a ``datetime``; they are normalised to UTC at one-second resolution (naive values
are taken as UTC). ``cron_expr`` is stored for the scheduler; this repository does not interpret it.

Claiming is atomic: :meth:`WorkflowRepository.claim_due` is one ``UPDATE … WHERE id IN (SELECT …
LIMIT ?) RETURNING …`` run in the caller's write transaction (``BEGIN IMMEDIATE``), so two workers
never receive the same job.

Change log: workflows is not a live domain; this repository emits no change-log rows.

Example:
    Schedule a stored function, then, in a worker, claim what is due, run it and mark it done:

    >>> from codex.repositories import CasRepository
    >>> with store.begin() as conn:
    ...     function = CasRepository(conn).store("function", b"def send_invoice(number): ...")
    ...     job_id = WorkflowRepository(conn).schedule(function, b'{"number": 42}', "2026-05-01 10:00:00")
    >>> def run(job):
    ...     print(f"job {job.id}: {job.status}, args {job.args!r}")
    >>> with store.begin() as conn:
    ...     jobs = WorkflowRepository(conn).claim_due(limit=10)
    >>> for job in jobs:
    ...     run(job)
    ...     with store.begin() as conn:
    ...         WorkflowRepository(conn).complete(job.id)
    job 1: running, args b'{"number": 42}'
    >>> with store.begin() as conn:
    ...     WorkflowRepository(conn).get_scheduled(job_id).status
    'completed'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, row_as, rows_as
from codex.repositories.gateway import TableGateway
from domains.workflows import components, execution_log, scheduled

__all__ = [
    "SCHEDULE_STATUSES",
    "ComponentRow",
    "ExecutionRow",
    "ScheduledRow",
    "WorkflowRepository",
    "utc_text",
]

_Blob = bytes | bytearray | memoryview

SCHEDULE_STATUSES = ("pending", "running", "completed", "failed")
"""The lifecycle of a scheduled row: pending → running (claimed) → completed | failed."""

_LOG = sa.insert(execution_log).returning(execution_log.c.id)
_SCHEDULE = sa.insert(scheduled).returning(scheduled.c.id)
_register = sqlite_insert(components)
_REGISTER = _register.on_conflict_do_update(
    index_elements=[components.c.name],
    set_={c: _register.excluded[c] for c in ("namespace", "schema_hash", "description", "version")},
)

_DUE_WHERE = (scheduled.c.status == "pending", scheduled.c.run_at <= sa.bindparam("now"))
_DUE_ORDER = (scheduled.c.run_at, scheduled.c.id)
# One statement: the subquery picks the oldest due ids, the UPDATE flips them to 'running' and
# RETURNING hands them out; under the write lock no other worker can pick the same ids.
_CLAIM = (
    sa.update(scheduled)
    .where(
        scheduled.c.id.in_(
            sa.select(scheduled.c.id)
            .where(*_DUE_WHERE)
            .order_by(*_DUE_ORDER)
            .limit(sa.bindparam("lim"))
            .scalar_subquery()
        )
    )
    .values(status="running")
    .returning(*scheduled.c)
)
_SET_STATUS = (
    sa.update(scheduled).where(scheduled.c.id == sa.bindparam("sid")).values(status=sa.bindparam("st"))
)


def utc_text(when: datetime | str | None = None) -> str:
    """Normalise a time to the stored ``YYYY-MM-DD HH:MM:SS`` UTC text.

    Args:
        when: A ``datetime`` (naive = UTC), ISO-8601 text (``2026-05-01T12:00:00+02:00``,
            ``2026-05-01 10:00:00``…), or None for now.

    Returns:
        The text, at one-second resolution.

    Raises:
        InvalidInput: Text that is not an ISO-8601 time, or another type.

    Example:
        >>> utc_text("2026-05-01T12:30:00+02:00")
        '2026-05-01 10:30:00'
    """
    if when is None:
        when = datetime.now(UTC)
    elif isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip())
        except ValueError as exc:
            raise InvalidInput(f"not an ISO-8601 time: {when!r}", field="run_at") from exc
    elif not isinstance(when, datetime):
        raise InvalidInput(
            f"a time must be a datetime or ISO text, not {type(when).__name__}", field="run_at"
        )
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.replace(microsecond=0, tzinfo=None).isoformat(sep=" ")


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One entry of the durable execution log."""

    id: int
    workflow_id: str
    activity_name: str
    status: str
    attempt: int
    input: bytes | None
    output: bytes | None
    error: str | None
    options: str | None
    created_at: str
    updated_at: str

    parsed_options = json_property("options", "The options, parsed from their JSON text.")


@dataclass(frozen=True, slots=True)
class ScheduledRow:
    """One scheduled function call."""

    id: int
    function_hash: str
    args: bytes | None
    run_at: str
    cron_expr: str | None
    status: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ComponentRow:
    """One registered component."""

    name: str
    namespace: str
    schema_hash: str | None
    description: str | None
    version: str
    created_at: str


def _blob(value: _Blob | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise InvalidInput(f"{what} must be bytes, not {type(value).__name__}", field=what)


def _require(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", field=what)
    return value


def _is_bytes(value: object) -> bool:
    return value is None or type(value) is bytes


def _as_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _execution(row: ExecutionRow | sa.Row[Any]) -> ExecutionRow:
    """An :class:`ExecutionRow` whose BLOBs are ``bytes`` (a driver may hand out another buffer type)."""
    entry = row if isinstance(row, ExecutionRow) else row_as(ExecutionRow, row)
    if _is_bytes(entry.input) and _is_bytes(entry.output):
        return entry
    return dataclasses.replace(entry, input=_as_bytes(entry.input), output=_as_bytes(entry.output))


def _scheduled(row: ScheduledRow | sa.Row[Any]) -> ScheduledRow:
    """A :class:`ScheduledRow` whose ``args`` BLOB is ``bytes``."""
    entry = row if isinstance(row, ScheduledRow) else row_as(ScheduledRow, row)
    return entry if _is_bytes(entry.args) else dataclasses.replace(entry, args=_as_bytes(entry.args))


class WorkflowRepository(Repository):
    """Execution log, scheduler queue and component registry."""

    @property
    def _log(self) -> TableGateway[ExecutionRow]:
        return self._gateway(execution_log, ExecutionRow)

    @property
    def _queue(self) -> TableGateway[ScheduledRow]:
        return self._gateway(scheduled, ScheduledRow)

    @property
    def _components(self) -> TableGateway[ComponentRow]:
        return self._gateway(components, ComponentRow)

    # -- execution log ------------------------------------------------------------------------
    def log_execution(
        self,
        workflow_id: str,
        activity_name: str,
        status: str,
        *,
        attempt: int = 1,
        input: _Blob | None = None,
        output: _Blob | None = None,
        error: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one entry to the execution log.

        Args:
            workflow_id: The workflow run the entry belongs to.
            activity_name: The activity (step) that ran.
            status: Its status (free text, e.g. ``started``, ``completed``, ``failed``).
            attempt: The attempt number, from 1.
            input: The activity's serialised input.
            output: Its serialised output.
            error: The error text of a failed attempt.
            options: Activity options, stored as JSON text.

        Returns:
            The new entry's id.

        Raises:
            InvalidInput: Empty ids or status, ``attempt`` < 1, non-bytes payloads, options not JSON.
        """
        self._writable()
        _require(workflow_id, "workflow_id")
        _require(activity_name, "activity_name")
        _require(status, "status")
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise InvalidInput(f"attempt must be an integer >= 1; got {attempt!r}", field="attempt")
        params = {
            "workflow_id": workflow_id,
            "activity_name": activity_name,
            "status": status,
            "attempt": attempt,
            "input": _blob(input, "input"),
            "output": _blob(output, "output"),
            "error": error,
            "options": dump_json(None if options is None else dict(options)),
        }
        return int(self._execute(_LOG, params).scalar_one())

    def history(self, workflow_id: str) -> list[ExecutionRow]:
        """Every log entry of a workflow, in the order they were appended (by id).

        Args:
            workflow_id: The workflow run.

        Returns:
            The entries (empty for an unknown workflow).
        """
        stmt = self._log.select(execution_log.c.workflow_id == workflow_id).order_by(execution_log.c.id)
        return [_execution(r) for r in self._execute(stmt)]

    def get_execution(self, id: int) -> ExecutionRow:
        """One log entry.

        Args:
            id: The entry's id.

        Returns:
            The :class:`ExecutionRow`.

        Raises:
            NotFound: No entry has this id.
        """
        row = self._log.find(id)
        if row is None:
            raise NotFound(f"execution log entry {id} not found", id=id)
        return _execution(row)

    # -- scheduler ----------------------------------------------------------------------------
    def schedule(
        self,
        function_hash: str,
        args: _Blob | None,
        run_at: datetime | str,
        *,
        cron_expr: str | None = None,
    ) -> int:
        """Schedule a call of a stored function, status ``pending``.

        Args:
            function_hash: The CAS hash of the function (must be a stored object).
            args: The serialised arguments, or None.
            run_at: When it becomes due (see :func:`utc_text`).
            cron_expr: A recurrence for the scheduler, stored as given.

        Returns:
            The scheduled row's id.

        Raises:
            InvalidInput: ``run_at`` is not a time, or ``args`` is not bytes.
            Conflict: ``function_hash`` names no stored object (foreign key).
        """
        self._writable()
        params = {
            "function_hash": function_hash,
            "args": _blob(args, "args"),
            "run_at": utc_text(run_at),
            "cron_expr": cron_expr,
        }
        return int(self._execute(_SCHEDULE, params).scalar_one())

    def get_scheduled(self, id: int) -> ScheduledRow:
        """One scheduled row.

        Args:
            id: Its id.

        Returns:
            The :class:`ScheduledRow`.

        Raises:
            NotFound: No scheduled row has this id.
        """
        row = self._queue.find(id)
        if row is None:
            raise NotFound(f"scheduled function {id} not found", id=id)
        return _scheduled(row)

    def list_scheduled(self, *, status: str | None = None, limit: int = 1000) -> list[ScheduledRow]:
        """Scheduled rows, by run_at then id.

        Args:
            status: Only rows in this status (one of :data:`SCHEDULE_STATUSES`).
            limit: At most this many (clamped to 1..10000).

        Returns:
            The rows.

        Raises:
            InvalidInput: Unknown status.
        """
        stmt = self._queue.select(*self._status_is(status)).order_by(*_DUE_ORDER).limit(clamp_limit(limit))
        return [_scheduled(r) for r in self._execute(stmt)]

    def count_scheduled(self, *, status: str | None = None) -> int:
        """Number of scheduled rows.

        Args:
            status: Only rows in this status (one of :data:`SCHEDULE_STATUSES`).

        Returns:
            The count.

        Raises:
            InvalidInput: Unknown status.
        """
        return self._queue.count(*self._status_is(status))

    def due(self, now: datetime | str | None = None) -> list[ScheduledRow]:
        """Pending rows with ``run_at <= now``, oldest first (run_at, then id). Reads only.

        Args:
            now: The reference time (see :func:`utc_text`); None for the current time.

        Returns:
            The due rows.
        """
        stmt = self._queue.select(*_DUE_WHERE).order_by(*_DUE_ORDER)
        return [_scheduled(r) for r in self._execute(stmt, {"now": utc_text(now)})]

    def claim_due(self, now: datetime | str | None = None, *, limit: int = 1) -> list[ScheduledRow]:
        """Atomically take up to ``limit`` due rows: they become ``running`` and are returned.

        One ``UPDATE … RETURNING`` in the caller's write transaction: two workers never claim the
        same row. Commit the transaction to make the claim visible.

        Args:
            now: The reference time (see :func:`utc_text`); None for the current time.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The claimed rows (status ``running``), oldest first; empty when nothing is due.

        Raises:
            InvalidInput: A read-only connection.
        """
        self._writable()
        result = self._execute(_CLAIM, {"now": utc_text(now), "lim": clamp_limit(limit)})
        rows = [_scheduled(r) for r in result]
        rows.sort(key=lambda r: (r.run_at, r.id))  # RETURNING order is unspecified
        return rows

    def _status_is(self, status: str | None) -> list[sa.ColumnElement[bool]]:
        if status is None:
            return []
        return [scheduled.c.status == self._check_vocab(status, SCHEDULE_STATUSES, "status")]

    def _set_status(self, id: int, status: str) -> None:
        self._writable()
        if self._execute(_SET_STATUS, {"sid": id, "st": status}).rowcount == 0:
            raise NotFound(f"scheduled function {id} not found", id=id)

    def complete(self, id: int) -> None:
        """Mark a scheduled row ``completed``.

        Args:
            id: Its id.

        Raises:
            NotFound: No scheduled row has this id.
        """
        self._set_status(id, "completed")

    def fail(self, id: int) -> None:
        """Mark a scheduled row ``failed``.

        Args:
            id: Its id.

        Raises:
            NotFound: No scheduled row has this id.
        """
        self._set_status(id, "failed")

    # -- components ---------------------------------------------------------------------------
    def register_component(
        self,
        name: str,
        namespace: str,
        *,
        schema_hash: str | None = None,
        description: str | None = None,
        version: str = "0.1.0",
    ) -> ComponentRow:
        """Register a component, or overwrite its registration (upsert on name).

        Args:
            name: The component's unique name.
            namespace: Its namespace.
            schema_hash: The CAS hash of its schema.
            description: Free text.
            version: Its version.

        Returns:
            The stored :class:`ComponentRow`.

        Raises:
            InvalidInput: Empty name, namespace or version.
            Conflict: ``schema_hash`` names no stored object (foreign key).
        """
        self._writable()
        _require(name, "name")
        _require(namespace, "namespace")
        _require(version, "version")
        self._execute(
            _REGISTER,
            {
                "name": name,
                "namespace": namespace,
                "schema_hash": schema_hash,
                "description": description,
                "version": version,
            },
        )
        return self.get_component(name)

    def get_component(self, name: str) -> ComponentRow:
        """One component.

        Args:
            name: Its name.

        Returns:
            The :class:`ComponentRow`.

        Raises:
            NotFound: No component has this name.
        """
        row = self._components.find(name)
        if row is None:
            raise NotFound(f"component {name} not found", name=name)
        return row

    def list_components(self, namespace: str) -> list[ComponentRow]:
        """The components of a namespace, sorted by name.

        Args:
            namespace: The namespace.

        Returns:
            The components.
        """
        stmt = self._components.select(components.c.namespace == namespace).order_by(components.c.name)
        return rows_as(ComponentRow, self._execute(stmt))
