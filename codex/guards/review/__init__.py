"""``codex db review``: what a deploy would do to the schema, operation by operation, with findings.

The review runs what a deploy would run (the revisions the inspected database has not applied, or
with ``--base REV`` the revisions after REV, then the model changes no revision carries) on a scratch
in-memory libSQL database that holds the starting schema, recording each Alembic operation and the
SQL it executes. Analyzers judge every operation on every table: ``destructive``, ``will-fail``,
``data-dependent``, ``table-rebuild``, ``backward-incompatible`` (and ``migration-error``,
``baseline-edited``), with row counts taken read-only from the inspected database. The result
renders as Markdown (a PR comment), JSON, or GitHub Actions annotations; its exit code is 0 (nothing
pending), 1 (pending, no error) or 2 (an error finding). See ``docs/pr-schema-review.md``.

Modules, one concept each: :mod:`._types` (type narrowing and value fit), :mod:`._report` (findings,
operations, status), :mod:`._probe` (the read-only inspected database and the lineage of pending
changes), :mod:`._analyze` (the analyzers), :mod:`._record` (running and recording on the scratch
database), :mod:`._review` (the three modes), :mod:`._render` (the outputs).

Example:
    >>> from codex.guards.review import review_schema
    >>> review_schema(base="head").status
    'clean'
"""

from __future__ import annotations

from codex.guards.review._probe import Probe, database_present, describe_database, open_inspected
from codex.guards.review._render import FORMATS, render, render_github, render_json, render_markdown
from codex.guards.review._report import (
    CODES,
    MARKER,
    Finding,
    ReviewedOperation,
    SchemaReview,
    Severity,
    Status,
)
from codex.guards.review._review import load_metadata, resolve_base, review_schema
from codex.guards.review._types import fits, narrowing

__all__ = [
    "CODES",
    "FORMATS",
    "MARKER",
    "Finding",
    "Probe",
    "ReviewedOperation",
    "SchemaReview",
    "Severity",
    "Status",
    "database_present",
    "describe_database",
    "fits",
    "load_metadata",
    "narrowing",
    "open_inspected",
    "render",
    "render_github",
    "render_json",
    "render_markdown",
    "resolve_base",
    "review_schema",
]
