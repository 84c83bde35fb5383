"""Repository guards: the data-storage policy and the checks CI runs against it, plus the PR schema review.

Each guard is a function returning :class:`Finding` objects (``path:line: message``); ``codex ci …``
prints them and exits 1 on any error:

* :func:`check_schema_coverage` (``codex ci db-schema-coverage``): tables live in schema owners;
* :func:`check_allowlist_parity` (``codex ci policy-allowlist-parity``): the policy validates and the
  txt allowlist neither repeats it nor names what does not exist;
* :func:`check_driver_imports` (``codex ci import-guard``): only the allowed modules import a driver
  or call ``create_engine``.

:func:`codex.guards.review.review_schema` (``codex db review``) reviews what a deploy would run (pending
revisions and model changes no revision carries) with analyzers that count the affected rows (imported
on its own: it needs the engine and Alembic, the guards do not). The policy lives in ``contracts/db/data-storage-policy.v1.yaml``.

Example:
    >>> from codex.guards import check_driver_imports
    >>> for finding in check_driver_imports():
    ...     print(finding)
"""

from __future__ import annotations

from codex.guards._policy import (
    ALLOWLIST_PATH,
    POLICY_PATH,
    POLICY_SCHEMA_PATH,
    REPO_ROOT,
    Deprecation,
    FileException,
    Satellite,
    Scope,
    StoragePolicy,
    check_policy,
    load_policy,
)
from codex.guards._scan import SKIP_DIRS, Finding, iter_sources
from codex.guards.allowlist import check_allowlist_parity, read_allowlist
from codex.guards.coverage import check_schema_coverage
from codex.guards.import_guard import check_driver_imports

__all__ = [
    "ALLOWLIST_PATH",
    "POLICY_PATH",
    "POLICY_SCHEMA_PATH",
    "REPO_ROOT",
    "SKIP_DIRS",
    "Deprecation",
    "FileException",
    "Finding",
    "Satellite",
    "Scope",
    "StoragePolicy",
    "check_allowlist_parity",
    "check_driver_imports",
    "check_policy",
    "check_schema_coverage",
    "iter_sources",
    "load_policy",
    "read_allowlist",
]
