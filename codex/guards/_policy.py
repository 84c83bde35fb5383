"""The data-storage policy (``contracts/db/data-storage-policy.v1.yaml``): loaded, validated, typed.

Validation has two layers: the JSON Schema beside the policy (its shape), then the rules a schema
cannot state (an owner is not also a temporary exception, a deprecated variable points at a canonical
one, a file exception names a declared owner…). Problems come back as :class:`Finding` objects that
point at the policy's own lines, so ``codex ci policy-allowlist-parity`` can print them like any
other finding.

Entries under ``tiers.a_relational`` are :class:`Scope` objects: a dotted module or package name
(``codex.engine`` covers ``codex/engine.py`` and everything under ``codex/engine/``) or a path prefix
relative to the repository root (any entry with a ``/`` or a file suffix, e.g.
``contracts/db/baseline.sql``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from codex.errors import ConfigError
from codex.guards._scan import Finding

__all__ = [
    "ALLOWLIST_PATH",
    "POLICY_PATH",
    "POLICY_SCHEMA_PATH",
    "REPO_ROOT",
    "Deprecation",
    "FileException",
    "Satellite",
    "Scope",
    "StoragePolicy",
    "check_policy",
    "load_policy",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = "contracts/db/data-storage-policy.v1.yaml"
POLICY_SCHEMA_PATH = "contracts/db/data-storage-policy.v1.schema.json"
ALLOWLIST_PATH = "contracts/db/driver-import-allowlist.txt"

_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")
_FILE_SUFFIXES = (".py", ".pyi", ".sql", ".db", ".txt", ".yaml", ".yml", ".json", ".toml")

LinePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Scope:
    """A policy or allowlist entry, resolved to the repository paths it covers.

    Attributes:
        entry: The entry as written.
        prefixes: Relative paths it covers: the path itself and everything below it.
    """

    entry: str
    prefixes: tuple[str, ...]

    @classmethod
    def parse(cls, entry: str) -> Scope:
        """Resolve ``entry`` (a dotted name or a relative path prefix).

        Raises:
            ValueError: The entry is empty, absolute or climbs out of the repository.
        """
        text = entry.strip().replace("\\", "/").rstrip("/")
        if not text or text.startswith("/") or ".." in text.split("/"):
            raise ValueError(f"{entry!r} is not a dotted module name or a relative path")
        if "/" in text or text.endswith(_FILE_SUFFIXES) or not _DOTTED.match(text):
            return cls(entry, (text,))
        base = text.replace(".", "/")
        return cls(entry, (base, base + ".py"))

    def covers(self, rel: str) -> bool:
        """True when the relative path ``rel`` is this scope or lies below it."""
        return any(rel == p or rel.startswith(p + "/") for p in self.prefixes)

    def covers_scope(self, other: Scope) -> bool:
        """True when every file ``other`` can name is already covered by this scope."""
        return any(self.covers(p) for p in other.prefixes)

    def exists(self, root: Path) -> bool:
        """True when the module, package or path is present under ``root``."""
        return any((root / p).exists() for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class FileException:
    """A transitional satellite database file, with the owner, the milestone that retires it and its expiry."""

    path: str
    owner: str
    retired_by: str
    expiry: str


@dataclass(frozen=True, slots=True)
class Satellite:
    """A sanctioned satellite database (ADR 004): its owner module, its own file and its committed baseline."""

    owner: str
    path: str
    reason: str
    baseline: str | None = None


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A deprecated environment variable: the canonical one that replaces it, and when it goes."""

    replaced_by: str
    sunset_release: str


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """The parsed, validated policy (the parts the guards and tests use).

    Attributes:
        owners: Schema owners: the only places a table may be created or defined.
        allow_direct_access: Modules allowed to import a driver or build an engine themselves.
        temporary_exceptions: Transitional owners.
        temporary_file_exceptions: Transitional satellite files, each with an expiry.
        satellites: Sanctioned satellite databases.
        canonical_env: Canonical environment variables.
        canonical_env_prefixes: Variable families read through a settings model (``VOX_CODEX_``).
        data_dirs: ``DataDirs`` field → environment variable.
        deprecated_env: Deprecated variable → its replacement.
        driver_modules: Modules only the allowed scopes may import.
        engine_factories: Functions only the allowed scopes may call (``create_engine``).
        allowlist_path: The txt allowlist, relative to the root.
        ignored_paths: Extra paths no guard scans.
        lines: Key path in the YAML → 1-based line, for findings about the policy itself.
    """

    owners: tuple[Scope, ...]
    allow_direct_access: tuple[Scope, ...]
    temporary_exceptions: tuple[Scope, ...]
    temporary_file_exceptions: tuple[FileException, ...]
    satellites: tuple[Satellite, ...]
    canonical_env: tuple[str, ...]
    canonical_env_prefixes: tuple[str, ...]
    data_dirs: Mapping[str, str]
    deprecated_env: Mapping[str, Deprecation]
    driver_modules: tuple[str, ...]
    engine_factories: tuple[str, ...]
    allowlist_path: str
    ignored_paths: tuple[str, ...]
    lines: Mapping[LinePath, int]

    @property
    def satellite_baselines(self) -> tuple[Scope, ...]:
        """The satellites' committed baseline files (generated schema owners)."""
        return tuple(Scope.parse(s.baseline) for s in self.satellites if s.baseline)

    @property
    def schema_scopes(self) -> tuple[Scope, ...]:
        """Where tables may live: ``owners``, ``temporary_exceptions`` and the satellites' baselines."""
        return self.owners + self.temporary_exceptions + self.satellite_baselines

    @property
    def driver_scopes(self) -> tuple[Scope, ...]:
        """Who may import a driver: ``owners``, ``allow_direct_access`` and ``temporary_exceptions`` (as upstream)."""
        seen: dict[str, Scope] = {}
        for scope in self.owners + self.allow_direct_access + self.temporary_exceptions:
            seen.setdefault(scope.entry, scope)
        return tuple(seen.values())

    def line(self, *path: str | int) -> int:
        """The line of the key path in the policy file (its nearest known ancestor; 1 if none)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def _line_map(text: str) -> dict[LinePath, int]:
    """Key path → 1-based line, from the YAML node tree (a mapping entry maps to its key's line)."""
    out: dict[LinePath, int] = {}

    def walk(node: yaml.Node, path: LinePath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                out[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                out[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return out


def _schema_findings(doc: Any, root: Path, lines: Mapping[LinePath, int]) -> list[Finding]:
    # Imported here: only the policy checks need jsonschema, not every `codex` command.
    import jsonschema  # type: ignore[import-untyped]

    schema_file = root / POLICY_SCHEMA_PATH
    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except FileNotFoundError:
        return [Finding(POLICY_SCHEMA_PATH, 1, "the policy's JSON Schema is missing")]
    except (json.JSONDecodeError, jsonschema.SchemaError) as exc:
        return [Finding(POLICY_SCHEMA_PATH, getattr(exc, "lineno", 1), f"invalid JSON Schema: {exc}")]
    findings = []
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        path = tuple(error.absolute_path)
        where = "/".join(str(p) for p in path) or "(top level)"
        line = next((lines[path[:end]] for end in range(len(path), 0, -1) if path[:end] in lines), 1)
        findings.append(Finding(POLICY_PATH, line, f"{where}: {error.message}"))
    return findings


def _scopes(
    entries: Iterable[str], group: str, lines: Mapping[LinePath, int]
) -> tuple[list[Scope], list[Finding]]:
    scopes, findings = [], []
    for index, entry in enumerate(entries):
        try:
            scopes.append(Scope.parse(entry))
        except ValueError as exc:
            line = lines.get(("tiers", "a_relational", group, index), 1)
            findings.append(Finding(POLICY_PATH, line, f"tiers/a_relational/{group}: {exc}"))
    return scopes, findings


def _build(doc: Mapping[str, Any], lines: Mapping[LinePath, int]) -> tuple[StoragePolicy, list[Finding]]:
    rel = doc["tiers"]["a_relational"]
    env = doc["env_vars"]
    py = doc["python_policy"]
    findings: list[Finding] = []
    groups = {}
    for group in ("owners", "allow_direct_access", "temporary_exceptions"):
        groups[group], bad = _scopes(rel[group], group, lines)
        findings += bad
    policy = StoragePolicy(
        owners=tuple(groups["owners"]),
        allow_direct_access=tuple(groups["allow_direct_access"]),
        temporary_exceptions=tuple(groups["temporary_exceptions"]),
        temporary_file_exceptions=tuple(FileException(**fe) for fe in rel["temporary_file_exceptions"]),
        satellites=tuple(
            Satellite(owner=s["owner"], path=s["path"], reason=s["reason"], baseline=s.get("baseline"))
            for s in rel.get("satellites", [])
        ),
        canonical_env=tuple(env["canonical"]),
        canonical_env_prefixes=tuple(env.get("canonical_prefixes", [])),
        data_dirs=MappingProxyType(dict(env["data_dirs"])),
        deprecated_env=MappingProxyType({name: Deprecation(**d) for name, d in env["deprecated"].items()}),
        driver_modules=tuple(py["driver_modules"]),
        engine_factories=tuple(py["engine_factories"]),
        allowlist_path=py.get("driver_import_allowlist", ALLOWLIST_PATH),
        ignored_paths=tuple(doc.get("ignored_paths", [])),
        lines=MappingProxyType(dict(lines)),
    )
    return policy, findings + _rule_findings(policy, doc)


def _rule_findings(policy: StoragePolicy, doc: Mapping[str, Any]) -> list[Finding]:
    """The rules a JSON Schema cannot state."""
    out: list[Finding] = []

    def bad(path: LinePath, message: str) -> None:
        out.append(Finding(POLICY_PATH, policy.line(*path), message))

    owners = {s.entry for s in policy.owners}
    temporary = {s.entry for s in policy.temporary_exceptions}
    for index, scope in enumerate(policy.temporary_exceptions):
        if scope.entry in owners:
            bad(
                ("tiers", "a_relational", "temporary_exceptions", index),
                f"{scope.entry} is an owner and a temporary exception",
            )
    for index, fe in enumerate(policy.temporary_file_exceptions):
        if fe.owner not in owners | temporary:
            bad(
                ("tiers", "a_relational", "temporary_file_exceptions", index, "owner"),
                f"file exception {fe.path}: owner {fe.owner} is neither an owner nor a temporary exception",
            )
    for index, sat in enumerate(policy.satellites):
        if sat.owner not in owners:
            bad(
                ("tiers", "a_relational", "satellites", index, "owner"),
                f"satellite {sat.path}: {sat.owner} is not an owner",
            )
    canonical = set(policy.canonical_env)
    for name, dep in policy.deprecated_env.items():
        if name in canonical:
            bad(("env_vars", "deprecated", name), f"{name} is both canonical and deprecated")
        if dep.replaced_by not in canonical:
            bad(
                ("env_vars", "deprecated", name),
                f"{name} is replaced by {dep.replaced_by}, which is not canonical",
            )
    for field, name in policy.data_dirs.items():
        if name not in canonical:
            bad(("env_vars", "data_dirs", field), f"data dir {field} uses {name}, which is not canonical")
    for tier, body in doc["tiers"].items():
        if isinstance(body, Mapping) and "root_env" in body and body["root_env"] not in canonical:
            bad(("tiers", tier, "root_env"), f"tier {tier}: root_env {body['root_env']} is not canonical")
    return out


def check_policy(root: Path | None = None) -> tuple[StoragePolicy | None, list[Finding]]:
    """Read and validate the policy under ``root``.

    Args:
        root: The repository root (default: this checkout).

    Returns:
        ``(policy, [])`` when the policy is valid, else ``(None, findings)`` pointing at its lines.
    """
    root = root or REPO_ROOT
    try:
        text = (root / POLICY_PATH).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Finding(POLICY_PATH, 1, "the data-storage policy is missing")]
    try:
        doc = yaml.safe_load(text)
        lines = _line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Finding(POLICY_PATH, mark.line + 1 if mark else 1, f"not valid YAML: {exc}")]
    findings = _schema_findings(doc, root, lines)
    if findings:
        return None, findings
    policy, findings = _build(doc, lines)
    return (None, findings) if findings else (policy, [])


def load_policy(root: Path | None = None) -> StoragePolicy:
    """The validated policy under ``root`` (default: this checkout).

    Raises:
        ConfigError: The policy is missing or invalid; ``details["findings"]`` lists every problem.

    Example:
        >>> "codex.engine" in {s.entry for s in load_policy().allow_direct_access}
        True
    """
    policy, findings = check_policy(root)
    if policy is None:
        raise ConfigError(
            f"invalid data-storage policy ({len(findings)} problem(s)): " + "; ".join(map(str, findings)),
            path=POLICY_PATH,
            findings=[str(f) for f in findings],
        )
    return policy
