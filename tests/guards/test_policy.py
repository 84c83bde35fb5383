"""The data-storage policy: its JSON Schema, its cross-field rules, and its agreement with codex.config."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from codex.config import DataDirs, resolve_data_dirs, resolve_db_config
from codex.contracts import CONTRACT_FILES
from codex.errors import ConfigError
from codex.guards import (
    POLICY_PATH,
    POLICY_SCHEMA_PATH,
    REPO_ROOT,
    Scope,
    check_policy,
    load_policy,
)
from tests.guards.conftest import MakeTree, real_policy


def schema() -> dict[str, Any]:
    return dict(json.loads((REPO_ROOT / POLICY_SCHEMA_PATH).read_text(encoding="utf-8")))


def schema_errors(doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema())
    return sorted("/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(doc))


# --- shape ----------------------------------------------------------------------------------------------


def test_policy_validates_against_its_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    doc = real_policy()
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)
    assert (doc["version"], doc["x-vox-version"]) == (1, 1)
    assert doc["tiers"]["a_relational"]["store"] == "libsql"


def test_policy_has_the_reference_groups() -> None:
    doc = real_policy()
    for key in ("tiers", "env_vars", "python_policy", "repo_hygiene", "contract_policy"):
        assert key in doc, key
    assert set(doc["tiers"]) == {"a_relational", "b_spool", "c_cas", "d_cache"}
    rel = doc["tiers"]["a_relational"]
    assert "codex.engine" in rel["allow_direct_access"]
    assert {"domains", "codex/migrations", "contracts/db/baseline.sql", "codex.satellites.vault"} <= set(
        rel["owners"]
    )
    assert rel["temporary_exceptions"] == ["codex.satellites.package_store"]
    assert rel["temporary_file_exceptions"] == [
        {
            "path": ".vox_modules/local_store.db",
            "owner": "codex.satellites.package_store",
            "retired_by": "M-67",
            "expiry": "2027-Q2",
        }
    ]
    assert [(s["owner"], s["path"]) for s in rel["satellites"]] == [
        ("codex.satellites.vault", ".vox/clavis_vault.db")
    ]


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("python_policy"), ": 'python_policy' is a required property"),
        (lambda d: d.update(version=2), "version: 1 was expected"),
        (lambda d: d["tiers"]["a_relational"].update(store="postgres"), "tiers/a_relational/store"),
        (lambda d: d["tiers"]["a_relational"]["owners"].append("../outside"), "tiers/a_relational/owners/"),
        (
            lambda d: d["tiers"]["a_relational"]["temporary_file_exceptions"][0].update(expiry="2027-06"),
            "expiry",
        ),
        (lambda d: d["env_vars"]["deprecated"]["TURSO_URL"].pop("replaced_by"), "TURSO_URL"),
        (lambda d: d["env_vars"]["canonical"].append("vox_lower"), "env_vars/canonical/"),
        (lambda d: d.update(surprise=True), "Additional properties are not allowed"),
    ],
)
def test_schema_rejects_broken_policies(edit: Any, where: str) -> None:
    doc = real_policy()
    edit(doc)
    errors = schema_errors(doc)
    assert errors, "the schema accepted a broken policy"
    assert any(where in e for e in errors), errors


# --- loading --------------------------------------------------------------------------------------------


def test_load_policy_resolves_scopes() -> None:
    policy = load_policy()
    driver = {s.entry for s in policy.driver_scopes}
    assert {"codex.engine", "domains", "codex/migrations", "codex.satellites.package_store"} <= driver
    assert [s.entry for s in policy.satellite_baselines] == ["contracts/db/vault/baseline.sql"]
    assert "codex.engine" not in {s.entry for s in policy.schema_scopes}
    assert policy.driver_modules == ("libsql_experimental", "libsql", "sqlite3", "aiolibsql", "libsql_client")
    assert "create_engine" in policy.engine_factories
    assert policy.allowlist_path == "contracts/db/driver-import-allowlist.txt"
    text = (REPO_ROOT / POLICY_PATH).read_text(encoding="utf-8").splitlines()
    assert text[policy.line("tiers", "a_relational", "owners", 0) - 1].strip().startswith("- domains")
    assert text[policy.line("env_vars", "deprecated", "TURSO_URL") - 1].strip().startswith("TURSO_URL:")


def test_scope_forms() -> None:
    engine = Scope.parse("codex.engine")
    assert engine.prefixes == ("codex/engine", "codex/engine.py")
    assert engine.covers("codex/engine/_factory.py") and engine.covers("codex/engine.py")
    assert not engine.covers("codex/engine_extra.py") and not engine.covers("codex/enginex/a.py")
    assert engine.covers_scope(Scope.parse("codex.engine._factory"))
    assert not Scope.parse("codex.engine._factory").covers_scope(engine)
    sql = Scope.parse("contracts/db/baseline.sql")
    assert sql.prefixes == ("contracts/db/baseline.sql",) and sql.covers("contracts/db/baseline.sql")
    assert Scope.parse("scripts/tools/").prefixes == ("scripts/tools",)
    for bad in ("", "/abs/path", "a/../b", ".."):
        with pytest.raises(ValueError):
            Scope.parse(bad)


def test_invalid_policy_findings_point_at_lines(make_tree: MakeTree) -> None:
    text = (REPO_ROOT / POLICY_PATH).read_text(encoding="utf-8")
    broken = text.replace("expiry: 2027-Q2", "expiry: someday", 1)
    root = make_tree(policy_text=broken)
    policy, findings = check_policy(root)
    assert policy is None
    line = next(n for n, t in enumerate(broken.splitlines(), start=1) if "expiry: someday" in t)
    assert [(f.path, f.line) for f in findings] == [(POLICY_PATH, line)]
    assert "expiry" in findings[0].message and "does not match" in findings[0].message
    with pytest.raises(ConfigError, match="invalid data-storage policy") as info:
        load_policy(root)
    assert info.value.details["findings"] == [str(findings[0])]


def test_yaml_syntax_error_is_a_finding(make_tree: MakeTree) -> None:
    root = make_tree(policy_text="version: 1\ntiers: [unclosed\n")
    policy, findings = check_policy(root)
    assert policy is None and len(findings) == 1
    assert (
        findings[0].path == POLICY_PATH and findings[0].line >= 2 and "not valid YAML" in findings[0].message
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["tiers"]["a_relational"]["owners"].append("codex.satellites.package_store"),
            "codex.satellites.package_store is an owner and a temporary exception",
        ),
        (
            lambda d: d["env_vars"]["deprecated"]["TURSO_URL"].update(replaced_by="VOX_NOWHERE"),
            "TURSO_URL is replaced by VOX_NOWHERE, which is not canonical",
        ),
        (
            lambda d: d["env_vars"]["deprecated"].update(
                VOX_DB_URL={"replaced_by": "VOX_DB_URL", "sunset_release": "1.0"}
            ),
            "VOX_DB_URL is both canonical and deprecated",
        ),
        (
            lambda d: d["tiers"]["a_relational"]["temporary_file_exceptions"][0].update(owner="codex.other"),
            "owner codex.other is neither an owner nor a temporary exception",
        ),
        (
            lambda d: d["tiers"]["a_relational"]["satellites"][0].update(owner="codex.engine"),
            "codex.engine is not an owner",
        ),
        (
            lambda d: d["tiers"]["d_cache"].update(root_env="VOX_ELSEWHERE"),
            "root_env VOX_ELSEWHERE is not canonical",
        ),
    ],
)
def test_cross_field_rules(make_tree: MakeTree, edit: Any, message: str) -> None:
    doc = real_policy()
    edit(doc)
    assert schema_errors(doc) == []  # the schema cannot see these
    policy, findings = check_policy(make_tree(policy=doc))
    assert policy is None
    assert len(findings) == 1 and message in findings[0].message, findings
    assert findings[0].path == POLICY_PATH and findings[0].line > 1


# --- agreement with codex.config and codex.contracts ----------------------------------------------------


def test_data_dirs_are_the_ones_resolve_data_dirs_resolves() -> None:
    policy = load_policy()
    assert set(policy.data_dirs) == {f.name for f in dataclasses.fields(DataDirs)}
    base = {"HOME": "/home/u"}
    defaults = resolve_data_dirs(base, platform="linux")
    for field, variable in policy.data_dirs.items():
        resolved = resolve_data_dirs({**base, variable: f"/explicit/{variable}"}, platform="linux")
        assert getattr(resolved, field) == Path(f"/explicit/{variable}"), (field, variable)
        assert getattr(defaults, field) != Path(f"/explicit/{variable}")
    # and no other *_DIR variable steers them: the source names exactly these (plus the deprecated spool name)
    import codex.config._db as db_source
    import codex.config._dirs as dirs_source

    source = Path(dirs_source.__file__).read_text() + Path(db_source.__file__).read_text()
    named = set(re.findall(r"\bVOX_[A-Z_]+_DIR\b", source))
    assert named == set(policy.data_dirs.values()) | {"VOX_TELEMETRY_SPOOL_DIR"}
    assert all(v in policy.canonical_env for v in policy.data_dirs.values())


def test_deprecated_env_agrees_with_codex_config() -> None:
    policy = load_policy()
    from codex.config._db import _LEGACY_PAIRS

    legacy = {name for pair in _LEGACY_PAIRS for name in pair}
    assert set(policy.deprecated_env) == legacy | {"VOX_TELEMETRY_SPOOL_DIR"}
    for url_var, token_var in _LEGACY_PAIRS:
        assert policy.deprecated_env[url_var].replaced_by == "VOX_DB_URL"
        assert policy.deprecated_env[token_var].replaced_by == "VOX_DB_TOKEN"
        cfg = resolve_db_config(
            {url_var: "libsql://db.example.org", token_var: "tok", "HOME": "/h"}, platform="linux"
        )
        assert (cfg.mode, cfg.source, cfg.token) == ("remote", f"{url_var}+{token_var}", "tok")
    assert policy.deprecated_env["VOX_TELEMETRY_SPOOL_DIR"].replaced_by == "VOX_SPOOL_DIR"
    dirs = resolve_data_dirs({"HOME": "/h", "VOX_TELEMETRY_SPOOL_DIR": "/old/spool"}, platform="linux")
    assert dirs.spool == Path("/old/spool")
    both = {"HOME": "/h", "VOX_TELEMETRY_SPOOL_DIR": "/old/spool", "VOX_SPOOL_DIR": "/new/spool"}
    assert resolve_data_dirs(both, platform="linux").spool == Path("/new/spool")


def test_every_variable_codex_reads_is_declared() -> None:
    policy = load_policy()
    declared = set(policy.canonical_env) | set(policy.deprecated_env)
    named: dict[str, str] = {}
    for path in sorted((REPO_ROOT / "codex").rglob("*.py")):  # names in quotes or backticks, not identifiers
        for name in re.findall(
            r"[\"'`]((?:VOX|TURSO)_[A-Z0-9_]*[A-Z0-9])\b", path.read_text(encoding="utf-8")
        ):
            named.setdefault(name, str(path.relative_to(REPO_ROOT)))
    undeclared = {
        name: where
        for name, where in named.items()
        if name not in declared and not name.startswith(policy.canonical_env_prefixes)
    }
    assert undeclared == {}
    assert {"VOX_DB_URL", "VOX_DB_TOKEN", "VOX_DB_PATH", "VOX_CONFIG_FILE"} <= set(named)


def test_contract_policy_lists_the_generated_contracts() -> None:
    doc = real_policy()["contract_policy"]
    assert set(doc["generated_files"]) == set(CONTRACT_FILES)
    for rel in doc["generated_files"] + doc["hand_written_files"]:
        assert (REPO_ROOT / rel).is_file(), rel
    assert (
        yaml.safe_load((REPO_ROOT / POLICY_PATH).read_text())["python_policy"]["driver_import_allowlist"]
        in doc["hand_written_files"]
    )
