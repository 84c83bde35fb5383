"""``codex ci db-schema-coverage``: every table lives in a schema owner of the storage policy.

Two kinds of table are looked for, in every scanned file (see :mod:`codex.guards._scan` for the skip
list):

* SQL that creates a table (``.py`` and ``.sql`` files; a case-insensitive regular expression, one
  line at a time, as upstream's check does; comment lines are skipped). Temporary and virtual tables
  count too, and so does a name built at run time.
* A SQLAlchemy ``Table(...)`` or ``sa.Table(...)`` call (``.py`` files, found with :mod:`ast`); a call
  with ``autoload_with=`` reflects an existing table rather than defining one and is not counted.

A hit is fine when its file lies in ``tiers.a_relational.owners`` or ``temporary_exceptions`` (the
generated ``contracts/db/baseline.sql`` is an owner). The patterns below are split so that this module
does not match itself.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from codex.guards._policy import POLICY_PATH, REPO_ROOT, StoragePolicy, load_policy
from codex.guards._scan import Finding, SourceFile, iter_sources, parse_python

__all__ = ["check_schema_coverage"]

_CREATE_TABLE = re.compile(
    r"\bcreate"
    r"\s+(?:temp(?:orary)?\s+|virtual\s+)?table"
    r"\s+(?:if\s+not\s+exists\s+)?(?P<name>[^\s(;,]+)",
    re.IGNORECASE,
)
_KEYWORDS = frozenset({"IF", "NOT", "EXISTS", "TABLE", "AS"})
_COMMENT = {".py": "#", ".sql": "--"}


def _sql_hits(source: SourceFile) -> list[tuple[int, str]]:
    comment = _COMMENT[Path(source.rel).suffix]
    hits = []
    for number, line in enumerate(source.text().splitlines(), start=1):
        if line.lstrip().startswith(comment):
            continue
        for match in _CREATE_TABLE.finditer(line):
            name = match.group("name").strip("\"'`[]")
            if name.upper() not in _KEYWORDS:
                hits.append((number, name or "?"))
    return hits


def _table_calls(tree: ast.Module) -> list[tuple[int, str]]:
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        named = (isinstance(func, ast.Name) and func.id == "Table") or (
            isinstance(func, ast.Attribute) and func.attr == "Table"
        )
        if not named or any(kw.arg == "autoload_with" for kw in node.keywords):
            continue
        first = node.args[0] if node.args else None
        name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "?"
        hits.append((node.lineno, name))
    return hits


def check_schema_coverage(root: Path | None = None, *, policy: StoragePolicy | None = None) -> list[Finding]:
    """Find tables created or defined outside the policy's schema owners.

    Args:
        root: The repository (or fixture tree) to scan; default: this checkout.
        policy: The policy to apply; default: the one under ``root``.

    Returns:
        One :class:`Finding` per table outside ``owners`` ∪ ``temporary_exceptions``, by path and line.

    Raises:
        ConfigError: The policy is missing or invalid.

    Example:
        >>> check_schema_coverage()
        []
    """
    root = root or REPO_ROOT
    policy = policy or load_policy(root)
    allowed = policy.schema_scopes
    owners = ", ".join(s.entry for s in policy.owners)
    findings: list[Finding] = []
    for source in iter_sources(root, (".py", ".sql"), ignored=policy.ignored_paths):
        if any(scope.covers(source.rel) for scope in allowed):
            continue
        where = source.module if source.rel.endswith(".py") else source.rel
        for line, name in _sql_hits(source):
            findings.append(
                Finding(
                    source.rel,
                    line,
                    f"SQL creates table {name!r} in {where}, outside the schema owners ({owners}); define it in "
                    f"domains/ with a migration, or declare the owner in {POLICY_PATH}",
                )
            )
        if source.rel.endswith(".py"):
            tree = parse_python(source)
            if isinstance(tree, Finding):
                findings.append(tree)
                continue
            for line, name in _table_calls(tree):
                findings.append(
                    Finding(
                        source.rel,
                        line,
                        f"Table {name!r} defined in {where}, outside the schema owners ({owners}); define it in "
                        f"domains/ with a migration, or declare the owner in {POLICY_PATH}",
                    )
                )
    return sorted(findings, key=lambda f: (f.path, f.line))
