"""What a review finds: findings, reviewed operations, the review itself, its status and exit code.

A :class:`SchemaReview` holds every operation a deploy would run (each pending revision's operations,
then the model changes no revision carries), each with the SQL it runs and the analyzers' findings.
Its :attr:`~SchemaReview.status` and :attr:`~SchemaReview.exit_code` follow from the findings:

=========  ====  ==============================================================
status     exit  meaning
=========  ====  ==============================================================
clean      0     nothing pending
safe       1     operations pending; no finding above ``info``
warning    1     operations pending; at least one ``warning`` finding
error      2     at least one ``error`` finding
=========  ====  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BACKWARD_INCOMPATIBLE",
    "BASELINE_EDITED",
    "CODES",
    "DATA_DEPENDENT",
    "DESTRUCTIVE",
    "MARKER",
    "MIGRATION_ERROR",
    "TABLE_REBUILD",
    "WILL_FAIL",
    "Finding",
    "Mode",
    "ReviewedOperation",
    "SchemaReview",
    "Severity",
    "Status",
]

MARKER = "<!-- codex-schema-review -->"
"""First line of the Markdown report, so a PR workflow can find and update its own comment."""

Severity = Literal["error", "warning", "info"]
Status = Literal["clean", "safe", "warning", "error"]
Mode = Literal["database", "base", "models"]

DESTRUCTIVE = "destructive"
WILL_FAIL = "will-fail"
DATA_DEPENDENT = "data-dependent"
TABLE_REBUILD = "table-rebuild"
BACKWARD_INCOMPATIBLE = "backward-incompatible"
MIGRATION_ERROR = "migration-error"
BASELINE_EDITED = "baseline-edited"

CODES: Mapping[str, str] = {
    DESTRUCTIVE: "a dropped table or column, a narrowed type, a dropped unique index or constraint",
    WILL_FAIL: "the inspected database's rows make the statement fail (counted read-only)",
    DATA_DEPENDENT: "the statement fails on rows that violate it; none inspected, or the inspected rows pass",
    TABLE_REBUILD: "Alembic batch mode rebuilds the table by move and copy",
    BACKWARD_INCOMPATIBLE: "code deployed before the migration still reads what it drops or renames",
    MIGRATION_ERROR: "the operation fails on a database with this schema, whatever its rows",
    BASELINE_EDITED: "a frozen baseline fragment no longer has its pinned digest",
}
"""Every finding code and what it means (documented in ``docs/pr-schema-review.md``)."""

_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "error": 2}
_EXIT: Mapping[Status, int] = {"clean": 0, "safe": 1, "warning": 1, "error": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One analyzer's verdict on one operation.

    Attributes:
        code: One of :data:`CODES`.
        severity: ``error``, ``warning`` or ``info``.
        message: A sentence a reviewer can act on.
        rows: The rows concerned, counted on the inspected database; None when none was inspected
            or the count was not possible.
    """

    code: str
    severity: Severity
    message: str
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """``{"code", "severity", "message", "rows"}``."""
        return {"code": self.code, "severity": self.severity, "message": self.message, "rows": self.rows}


@dataclass(slots=True)
class ReviewedOperation:
    """One operation a deploy would run, with its SQL and findings.

    Attributes:
        revision: The revision that carries it, or None for a model change no revision carries.
        op: Alembic's operation name (``add_column``, ``create_index``, ``execute``…).
        table: The table it touches (None when unknown).
        column: The column it touches (None for a table-level operation).
        detail: A short description for the Markdown report.
        sql: The statements it runs (a batch's statements are shared by the batch's operations).
        findings: What the analyzers found.
        batch: The batch (``with batch_alter_table``) it ran in, numbered from 1; None outside one.
    """

    revision: str | None
    op: str
    table: str | None
    column: str | None = None
    detail: str = ""
    sql: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    batch: int | None = None

    @property
    def worst(self) -> Severity | None:
        """The highest severity among the findings (None without findings)."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=_RANK.__getitem__)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``revision``, ``table``, ``column``, ``op``, ``sql``, ``findings``."""
        return {
            "revision": self.revision,
            "table": self.table,
            "column": self.column,
            "op": self.op,
            "sql": list(self.sql),
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class SchemaReview:
    """The result of :func:`codex.guards.review.review_schema`.

    Attributes:
        source: Where the models came from (a module name).
        head: The chain's head revision.
        start: The revision the review starts from: the inspected database's, ``--base``, or the head
            when only model changes are reviewed (None: the database records no revision).
        mode: ``database`` (a database was inspected), ``base`` (``--base REV``) or ``models`` (no
            database: only model changes no revision carries).
        database: A printable description of the inspected database (None in the other modes).
        revisions: The pending revisions the review ran, oldest first.
        operations: Every reviewed operation, in the order a deploy runs them.
        notes: What the reader should know about the review's limits (one sentence each).
        rebuild_warn_rows: The row count above which a table rebuild is a warning.
    """

    source: str
    head: str
    start: str | None
    mode: Mode
    database: str | None
    revisions: tuple[str, ...]
    operations: tuple[ReviewedOperation, ...]
    notes: tuple[str, ...] = ()
    rebuild_warn_rows: int = 100_000

    @property
    def findings(self) -> list[tuple[ReviewedOperation, Finding]]:
        """Every finding with its operation, in operation order."""
        return [(op, f) for op in self.operations for f in op.findings]

    @property
    def status(self) -> Status:
        """``clean``, ``safe``, ``warning`` or ``error`` (see the module docstring)."""
        if not self.operations:
            return "clean"
        severities = {f.severity for _, f in self.findings}
        if "error" in severities:
            return "error"
        return "warning" if "warning" in severities else "safe"

    @property
    def exit_code(self) -> int:
        """0 clean, 1 pending without error, 2 any error finding."""
        return _EXIT[self.status]

    def counts(self) -> dict[str, int]:
        """How many findings of each severity."""
        out = {"error": 0, "warning": 0, "info": 0}
        for _, finding in self.findings:
            out[finding.severity] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON document ``codex db review --format json`` prints."""
        return {
            "status": self.status,
            "exit": self.exit_code,
            "operations": [op.as_dict() for op in self.operations],
            "reviewed": {
                "mode": self.mode,
                "start": self.start,
                "head": self.head,
                "revisions": list(self.revisions),
                "database": self.database,
                "models": self.source,
            },
            "notes": list(self.notes),
        }
