"""``codex ci import-guard``: only the allowed modules touch a database driver (upstream's turso-import-guard).

Outside the allowed modules, a ``.py`` file may not:

* import a driver module of the policy (``python_policy.driver_modules``: ``libsql_experimental``,
  ``libsql``, ``sqlite3``, ``aiolibsql``, ``libsql_client``, or a submodule), with ``import``,
  ``from … import`` or ``importlib.import_module("…")`` / ``__import__("…")`` of a literal name;
* call an engine factory (``python_policy.engine_factories``: ``create_engine(…)``,
  ``sa.create_engine(…)``, …): engines come from :func:`codex.engine.make_engine`, which applies the
  driver fixes.

Imports are found with :mod:`ast`, so a mention in a docstring or comment is not an import. The allowed
modules are the policy's ``owners``, ``allow_direct_access`` and ``temporary_exceptions`` (owners count
as allowed importers, as upstream) plus the entries of the txt allowlist.
"""

from __future__ import annotations

import ast
from pathlib import Path

from codex.guards._policy import POLICY_PATH, REPO_ROOT, StoragePolicy, load_policy
from codex.guards._scan import Finding, iter_sources, parse_python
from codex.guards.allowlist import allowlist_scopes

__all__ = ["check_driver_imports"]

_DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


def _is_driver(name: str, drivers: tuple[str, ...]) -> bool:
    return any(name == d or name.startswith(d + ".") for d in drivers)


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _violations(tree: ast.Module, policy: StoragePolicy) -> list[tuple[int, str]]:
    drivers = policy.driver_modules
    out: list[tuple[int, str]] = []

    def imported(line: int, name: str) -> None:
        out.append((line, f"imports the database driver {name!r}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_driver(alias.name, drivers):
                    imported(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and _is_driver(node.module, drivers):
                imported(node.lineno, node.module)
        elif isinstance(node, ast.Call):
            callee = _callee(node.func)
            if callee in policy.engine_factories:
                out.append((node.lineno, f"calls {ast.unparse(node.func)}() directly"))
            elif callee in _DYNAMIC_IMPORTS and node.args:
                first = node.args[0]
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and _is_driver(first.value, drivers)
                ):
                    imported(node.lineno, first.value)
    return out


def check_driver_imports(root: Path | None = None, *, policy: StoragePolicy | None = None) -> list[Finding]:
    """Find driver imports and direct engine construction outside the allowed modules.

    Args:
        root: The repository (or fixture tree) to scan; default: this checkout.
        policy: The policy to apply; default: the one under ``root``.

    Returns:
        One :class:`Finding` per import or call, by path and line.

    Raises:
        ConfigError: The policy is missing or invalid.

    Example:
        >>> check_driver_imports()
        []
    """
    root = root or REPO_ROOT
    policy = policy or load_policy(root)
    allowed = policy.driver_scopes + allowlist_scopes(root, policy)
    findings: list[Finding] = []
    for source in iter_sources(root, (".py",), ignored=policy.ignored_paths):
        if any(scope.covers(source.rel) for scope in allowed):
            continue
        tree = parse_python(source)
        if isinstance(tree, Finding):
            findings.append(tree)
            continue
        for line, what in _violations(tree, policy):
            findings.append(
                Finding(
                    source.rel,
                    line,
                    f"{source.module} {what}; only codex.engine and the modules the policy allows may "
                    f"(use codex.engine.make_engine, or declare the module in {POLICY_PATH})",
                )
            )
    return sorted(findings, key=lambda f: (f.path, f.line))
