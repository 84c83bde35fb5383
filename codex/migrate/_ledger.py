"""The applied-revision ledger, written by ``migrations/env.py`` around every Alembic run.

Each step's row (revision, from, to, direction, schema_version, live digest before and after, start,
finish, duration, host, operator) is buffered and written **inside the migration transaction** once the
ledger table exists, so a run that commits leaves its rows and a run that rolls back leaves none. A
failed run is recorded afterwards, in its own transaction, with its error text (when the ledger table
exists at that point). Steps taken before the table exists (the baseline of an empty database) are
written as soon as the revision that creates it has run.

:func:`read_ledger` reads it back, newest first (``codex db verify`` and the console's overview).

An offline (``--sql``) run reads nothing, so :class:`OfflineLedger` prints the same rows as INSERT
statements into the script: the digests are the chain's expected schema digests at each revision
(computed on scratch databases), the times are the moment the script runs, ``duration_ms`` is 0, and
``host`` / ``operator`` name who generated the script (``host`` ends with `` (--sql)``).
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from codex.migrate._chain import head_schema_version_of
from codex.migrate._versions import has_table, read_schema_version
from codex.schema import BASELINE_VERSION, LiveSchema, read_live_schema
from domains.migration_ledger import codex_migration_ledger

__all__ = ["LEDGER_TABLE", "LedgerEntry", "LedgerRecorder", "OfflineLedger", "read_ledger"]

LEDGER_TABLE = codex_migration_ledger.name

_NOW_SQL = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
"""SQLite's ``now`` in the format :func:`_now` writes (UTC, milliseconds)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger row: an applied (or failed) migration step."""

    id: int
    revision: str
    from_revision: str | None
    to_revision: str | None
    direction: str
    schema_version: int | None
    digest_before: str
    digest_after: str
    started_at: str
    finished_at: str | None
    duration_ms: int
    host: str
    operator: str
    error_text: str | None


def read_ledger(conn: sa.Connection, *, limit: int = 200) -> list[LedgerEntry]:
    """The ledger's newest ``limit`` rows, newest first; none when the database has no ledger (yet).

    Args:
        conn: A connection (a read is enough).
        limit: How many rows at most.

    Returns:
        The rows as :class:`LedgerEntry`, newest first.
    """
    if not has_table(conn, LEDGER_TABLE):
        return []
    t = codex_migration_ledger
    stmt = sa.select(*(t.c[f.name] for f in fields(LedgerEntry))).order_by(t.c.id.desc()).limit(limit)
    return [LedgerEntry(**row._mapping) for row in conn.execute(stmt)]


@dataclass
class LedgerRecorder:
    """Collects one row per migration step and writes them into ``codex_migration_ledger``."""

    conn: sa.Connection
    host: str = field(default_factory=socket.gethostname)
    operator: str = field(default_factory=_operator)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _last_digest: str = ""
    _last_time: float = 0.0
    _last_stamp: str = ""
    _start_revisions: tuple[str, ...] = ()

    def start(self, current: tuple[str, ...]) -> None:
        """Note the schema digest and time before the first step."""
        self._last_digest = read_live_schema(self.conn).digest()
        self._last_time = time.perf_counter()
        self._last_stamp = _now()
        self._start_revisions = current

    def on_step(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic ``on_version_apply`` hook: buffer the step's row, then flush if the table exists."""
        digest = read_live_schema(self.conn).digest()
        elapsed = time.perf_counter()
        stamp = _now()
        adopted = bool(self.conn.info.pop("codex_adopted", False))
        self._pending.append(
            {
                "revision": step.up_revision_id or "",
                "from_revision": ",".join(step.source_revision_ids) or None,
                "to_revision": ",".join(step.destination_revision_ids) or None,
                "direction": "adopt" if adopted else ("upgrade" if step.is_upgrade else "downgrade"),
                "schema_version": read_schema_version(self.conn) or None,
                "digest_before": self._last_digest,
                "digest_after": digest,
                "started_at": self._last_stamp,
                "finished_at": stamp,
                "duration_ms": round((elapsed - self._last_time) * 1000),
                "host": self.host,
                "operator": self.operator,
            }
        )
        self._last_digest, self._last_time, self._last_stamp = digest, elapsed, stamp
        self.flush()

    def flush(self) -> None:
        """Write the buffered rows if the ledger table exists (same transaction as the migration)."""
        if not self._pending or not has_table(self.conn, LEDGER_TABLE):
            return
        self.conn.execute(
            sa.table(LEDGER_TABLE, *(sa.column(k) for k in self._pending[0])).insert(), self._pending
        )
        self._pending.clear()

    def record_failure(self, target: str, error: BaseException) -> None:
        """After a rolled-back run, write one row with the error text, in its own transaction."""
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            with self.conn.begin():
                if not has_table(self.conn, LEDGER_TABLE):
                    return
                self.conn.execute(
                    sa.table(
                        LEDGER_TABLE,
                        *(sa.column(c) for c in ("revision", "from_revision", "to_revision", "direction")),
                        *(sa.column(c) for c in ("digest_before", "digest_after", "started_at")),
                        *(
                            sa.column(c)
                            for c in ("finished_at", "duration_ms", "host", "operator", "error_text")
                        ),
                    ).insert(),
                    {
                        "revision": target,
                        "from_revision": ",".join(self._start_revisions) or None,
                        "to_revision": target,
                        "direction": "upgrade",
                        "digest_before": self._last_digest,
                        "digest_after": read_live_schema(self.conn).digest(),
                        "started_at": self._last_stamp or _now(),
                        "finished_at": _now(),
                        "duration_ms": round((time.perf_counter() - self._last_time) * 1000),
                        "host": self.host,
                        "operator": self.operator,
                        "error_text": f"{type(error).__name__}: {error}"[:4000],
                    },
                )
        except Exception:
            return


def _offline_host() -> str:
    return f"{socket.gethostname()} (--sql)"


@dataclass
class OfflineLedger:
    """The ledger of an offline (``--sql``) run: one ``INSERT`` per step, printed into the script.

    Args:
        script: The chain (``schema_version`` of each state is derived from it).
        expected: The expected schema of a state, given its Alembic heads (``()`` is base).
    """

    script: ScriptDirectory
    expected: Callable[[tuple[str, ...]], LiveSchema]
    host: str = field(default_factory=_offline_host)
    operator: str = field(default_factory=_operator)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _heads: tuple[str, ...] = ()
    _version: int = 0

    def start(self, current: tuple[str, ...]) -> None:
        """Note the state the script starts from (the range's FROM, or base)."""
        self._heads = tuple(sorted(current))
        self._version = head_schema_version_of(self.script, self._heads)

    def on_step(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        """Alembic ``on_version_apply`` hook: buffer the step's row, then print the buffered rows as soon
        as the ledger table exists at the step's destination."""
        after = tuple(sorted(heads))
        target = head_schema_version_of(self.script, after)
        if not step.is_upgrade:
            self._version = target  # the environment deleted the rows above the destination
        else:
            if step.is_migration and not step.source_revision_ids:
                self._version = max(self._version, BASELINE_VERSION)  # the baseline records its own row
            self._version = max(self._version, target)
        self._pending.append(
            {
                "revision": step.up_revision_id or "",
                "from_revision": ",".join(step.source_revision_ids) or None,
                "to_revision": ",".join(step.destination_revision_ids) or None,
                "direction": "upgrade" if step.is_upgrade else "downgrade",
                "schema_version": self._version or None,
                "digest_before": self.expected(self._heads).digest(),
                "digest_after": self.expected(after).digest(),
                "duration_ms": 0,
                "host": self.host,
                "operator": self.operator,
            }
        )
        self._heads = after
        if LEDGER_TABLE in self.expected(after).tables:
            for row in self._pending:
                ctx.execute(self._insert(row))
            self._pending.clear()

    @staticmethod
    def _insert(row: dict[str, Any]) -> sa.Insert:
        values: dict[str, Any] = {
            **row,
            "started_at": sa.literal_column(_NOW_SQL),
            "finished_at": sa.literal_column(_NOW_SQL),
        }
        columns = (sa.column(k, sa.Integer() if isinstance(v, int) else sa.Text()) for k, v in values.items())
        return sa.table(LEDGER_TABLE, *columns).insert().values(values)
