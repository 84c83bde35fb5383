"""The applied-revision ledger, written by ``migrations/env.py`` around every Alembic run.

Each step's row (revision, from, to, direction, schema_version, live digest before and after, start,
finish, duration, host, operator) is buffered and written **inside the migration transaction** once the
ledger table exists, so a run that commits leaves its rows and a run that rolls back leaves none. A
failed run is recorded afterwards, in its own transaction, with its error text (when the ledger table
exists at that point). Steps taken before the table exists (the baseline of an empty database) are
written as soon as the revision that creates it has run.
"""

from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from codex.migrate._versions import has_table, read_schema_version
from codex.schema import read_live_schema

__all__ = ["LEDGER_TABLE", "LedgerRecorder"]

LEDGER_TABLE = "codex_migration_ledger"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


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
