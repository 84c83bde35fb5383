"""``codex db verify``: is the database exactly at head? One report, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from codex.migrate._alembic import current_revision, head_revision, head_schema_version
from codex.migrate._expected import expected_head_schema
from codex.migrate._ledger import read_ledger
from codex.migrate._versions import read_schema_version
from codex.schema import baseline_digest_hex, diff_schemas, read_live_schema

__all__ = ["VerifyReport", "ledger_head", "verify_database"]


@dataclass(frozen=True)
class VerifyReport:
    """The state of a database against the code's head."""

    ok: bool
    schema_version: int
    expected_schema_version: int
    revision: str | None
    head_revision: str
    baseline_digest: str
    expected_digest: str
    live_digest: str
    missing_tables: list[str]
    extra_tables: list[str]
    diff: dict[str, list[str]]
    ledger_head: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def ledger_head(conn: sa.Connection) -> dict[str, Any] | None:
    """The newest ledger row, or None when there is no ledger (yet)."""
    newest = read_ledger(conn, limit=1)
    if not newest:
        return None
    row = asdict(newest[0])
    del row["id"]
    return row


def verify_database(conn: sa.Connection) -> VerifyReport:
    """Compare the connected database with the code's head.

    ``ok`` is True only when the Alembic revision is the head, ``schema_version`` is the head's, and
    the live schema digest equals the expected one.
    """
    expected = expected_head_schema()
    live = read_live_schema(conn)
    diff = diff_schemas(expected, live)
    version, expected_version = read_schema_version(conn), head_schema_version()
    revision, head = current_revision(conn), head_revision()
    problems: list[str] = []
    if revision != head:
        problems.append(f"alembic revision is {revision!r}, head is {head!r}: run `codex db upgrade`")
    if version != expected_version:
        problems.append(f"schema_version is {version}, expected {expected_version}")
    if not diff.clean:
        problems.append(
            f"live schema differs from head: {len(diff.missing)} missing, {len(diff.extra)} extra, "
            f"{len(diff.changed)} changed object(s)"
        )
    return VerifyReport(
        ok=not problems,
        schema_version=version,
        expected_schema_version=expected_version,
        revision=revision,
        head_revision=head,
        baseline_digest=baseline_digest_hex(),
        expected_digest=expected.digest(),
        live_digest=live.digest(),
        missing_tables=sorted(expected.tables - live.tables),
        extra_tables=sorted(live.tables - expected.tables),
        diff=diff.as_dict(),
        ledger_head=ledger_head(conn),
        problems=problems,
    )
