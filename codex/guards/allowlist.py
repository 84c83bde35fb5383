"""``codex ci policy-allowlist-parity``: the policy is valid and the txt allowlist agrees with it.

Rules (upstream's ``vox ci policy-allowlist-parity``, for Python modules):

* the policy parses and validates (its JSON Schema, then the cross-field rules);
* every entry of the driver-import allowlist (``contracts/db/driver-import-allowlist.txt``: non-blank,
  non-``#`` lines) names a module or path that exists, appears once, and is not already covered by
  the policy's ``owners`` / ``allow_direct_access`` / ``temporary_exceptions`` (a redundant entry is
  an error: the policy is the one place to say it);
* every policy owner exists on disk (an error); an ``allow_direct_access`` or
  ``temporary_exceptions`` entry that does not exist is declared-but-absent, a warning only (a
  satellite being written or being retired), and so is a satellite's ``baseline`` not generated yet;
* a temporary file exception past its expiry quarter is an error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from codex.guards._policy import POLICY_PATH, REPO_ROOT, Scope, StoragePolicy, check_policy
from codex.guards._scan import Finding

__all__ = ["allowlist_scopes", "check_allowlist_parity", "read_allowlist"]


def read_allowlist(root: Path, rel: str) -> list[tuple[int, str]]:
    """The allowlist's entries with their line numbers (``#`` starts a comment; no file → no entries)."""
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            entries.append((number, line))
    return entries


def allowlist_scopes(root: Path, policy: StoragePolicy) -> tuple[Scope, ...]:
    """The valid allowlist entries as scopes (the parity check reports the invalid ones)."""
    scopes = []
    for _, entry in read_allowlist(root, policy.allowlist_path):
        try:
            scopes.append(Scope.parse(entry))
        except ValueError:
            continue
    return tuple(scopes)


def _quarter_end(expiry: str) -> dt.date:
    year, quarter = int(expiry[:4]), int(expiry[-1])
    first_of_next = dt.date(year + quarter // 4, quarter % 4 * 3 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def _allowlist_findings(root: Path, policy: StoragePolicy) -> list[Finding]:
    rel = policy.allowlist_path
    findings = []
    seen: dict[str, int] = {}
    for line, entry in read_allowlist(root, rel):
        try:
            scope = Scope.parse(entry)
        except ValueError as exc:
            findings.append(Finding(rel, line, str(exc)))
            continue
        if entry in seen:
            findings.append(Finding(rel, line, f"{entry} is listed twice (first on line {seen[entry]})"))
            continue
        seen[entry] = line
        if not scope.exists(root):
            findings.append(
                Finding(rel, line, f"stale entry: {entry} does not exist in the repository; remove it")
            )
        covering = next((s for s in policy.driver_scopes if s.covers_scope(scope)), None)
        if covering is not None:
            findings.append(
                Finding(
                    rel,
                    line,
                    f"redundant entry: {entry} is already allowed by the policy entry {covering.entry} "
                    f"({POLICY_PATH}); remove it here",
                )
            )
    return findings


def _policy_disk_findings(root: Path, policy: StoragePolicy, today: dt.date) -> list[Finding]:
    findings = []
    missing_owners = set()
    for index, scope in enumerate(policy.owners):
        if not scope.exists(root):
            missing_owners.add(scope.entry)
            line = policy.line("tiers", "a_relational", "owners", index)
            findings.append(
                Finding(POLICY_PATH, line, f"owner {scope.entry} does not exist in the repository")
            )
    for group in ("allow_direct_access", "temporary_exceptions"):
        scopes: tuple[Scope, ...] = getattr(policy, group)
        for index, scope in enumerate(scopes):
            if scope.entry not in missing_owners and not scope.exists(root):
                line = policy.line("tiers", "a_relational", group, index)
                message = f"{group} entry {scope.entry} is declared but absent from the repository"
                findings.append(Finding(POLICY_PATH, line, message, "warning"))
    for index, sat in enumerate(policy.satellites):
        if sat.baseline and not (root / sat.baseline).exists():
            line = policy.line("tiers", "a_relational", "satellites", index, "baseline")
            message = (
                f"satellite baseline {sat.baseline} ({sat.owner}) is declared but absent from the repository"
            )
            findings.append(Finding(POLICY_PATH, line, message, "warning"))
    for index, fe in enumerate(policy.temporary_file_exceptions):
        if today > _quarter_end(fe.expiry):
            line = policy.line("tiers", "a_relational", "temporary_file_exceptions", index, "expiry")
            findings.append(
                Finding(
                    POLICY_PATH,
                    line,
                    f"temporary file exception {fe.path} ({fe.owner}) expired at the end of {fe.expiry}; "
                    f"retire it ({fe.retired_by}) or extend it deliberately",
                )
            )
    return findings


def check_allowlist_parity(root: Path | None = None, *, today: dt.date | None = None) -> list[Finding]:
    """Check the policy and the driver-import allowlist against each other and against the tree.

    Args:
        root: The repository (or fixture tree); default: this checkout.
        today: The date expiries are compared with (default: today).

    Returns:
        Errors and warnings (``Finding.severity``), errors first within each file, by path and line.

    Example:
        >>> [f for f in check_allowlist_parity() if f.severity == "error"]
        []
    """
    root = root or REPO_ROOT
    policy, findings = check_policy(root)
    if policy is None:
        return findings
    findings = _allowlist_findings(root, policy) + _policy_disk_findings(
        root, policy, today or dt.date.today()
    )
    return sorted(findings, key=lambda f: (f.path, f.line))
