"""The three CI guards, on the real repository (they must pass) and on fixture trees (they must fail)."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from typer.testing import CliRunner

from codex.cli import app
from codex.guards import (
    ALLOWLIST_PATH,
    POLICY_PATH,
    REPO_ROOT,
    Finding,
    check_allowlist_parity,
    check_driver_imports,
    check_schema_coverage,
)
from tests.guards.conftest import MakeTree, real_policy

runner = CliRunner()

# The SQL keyword pair is assembled here so that this file reads like any other to a grep.
CREATE = "CREATE " + "TABLE"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def where(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.path, f.line) for f in findings]


# --- the real repository --------------------------------------------------------------------------------


def test_real_repository_schema_coverage() -> None:
    assert [str(f) for f in check_schema_coverage()] == []


def test_real_repository_allowlist_parity() -> None:
    assert [str(f) for f in errors(check_allowlist_parity())] == []


def test_real_repository_import_guard() -> None:
    assert [str(f) for f in check_driver_imports()] == []


def test_guard_sources_do_not_match_their_own_patterns(make_tree: MakeTree) -> None:
    """Copied into a module that owns nothing, the guards' own sources raise no finding."""
    files = {f"codex/copied/{p.name}": p.read_text() for p in (REPO_ROOT / "codex" / "guards").glob("*.py")}
    files["codex/copied/ci.py"] = (REPO_ROOT / "codex" / "cli" / "ci.py").read_text()
    root = make_tree(files)
    assert check_schema_coverage(root) == []
    assert check_driver_imports(root) == []


# --- db-schema-coverage ---------------------------------------------------------------------------------


def test_create_table_outside_an_owner_fails(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/cache.py": f'"""Cache."""\n\nDDL = "{CREATE} IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)"\n',
            "codex/lower.py": f'# {CREATE} commented (a comment line is skipped)\nx = "create temp table scratch(a)"\n',
            "codex/virtual.py": 'NAME = "t"\nDDL = f"CREATE VIRTUAL TABLE {NAME} USING fts5(body)"\n',
            "scripts/seed.sql": f"-- {CREATE} in a comment\n{CREATE} seeds (id INTEGER);\n",
            "domains/ok.py": f'DDL = "{CREATE} allowed (a)"\n',
            "codex/migrations/versions/0009_x.py": f'op.execute("{CREATE} allowed_too (a)")\n',
        }
    )
    findings = check_schema_coverage(root)
    assert where(findings) == [
        ("codex/cache.py", 3),
        ("codex/lower.py", 2),
        ("codex/virtual.py", 2),
        ("scripts/seed.sql", 2),
    ]
    assert "'kv'" in findings[0].message and "codex.cache" in findings[0].message
    assert "'scratch'" in findings[1].message and "'{NAME}'" in findings[2].message
    assert "'seeds'" in findings[3].message and POLICY_PATH in findings[3].message


def test_table_outside_domains_fails(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/extra.py": (
                "import sqlalchemy as sa\nfrom sqlalchemy import MetaData, Table, Column, Text\n\n"
                "md = MetaData()\n"
                "a = sa.Table('side_a', md, sa.Column('x', sa.Text))\n"
                "b = Table(\n    'side_b', md, Column('y', Text)\n)\n"
                "c = sa.Table('reflected', md, autoload_with=None)  # reflection, not a definition\n"
            ),
            "domains/more.py": "import sqlalchemy as sa\nt = sa.Table('fine', sa.MetaData())\n",
        }
    )
    findings = check_schema_coverage(root)
    assert where(findings) == [("codex/extra.py", 5), ("codex/extra.py", 6)]
    assert "Table 'side_a' defined in codex.extra" in findings[0].message
    assert "Table 'side_b'" in findings[1].message


def test_temporary_exception_and_satellite_baseline_may_hold_tables(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/satellites/package_store.py": f'DDL = "{CREATE} local_packages (name TEXT)"\n',
            "contracts/db/vault/baseline.sql": f"{CREATE} IF NOT EXISTS clavis_audit_log (id INTEGER);\n",
            "contracts/db/other.sql": f"{CREATE} IF NOT EXISTS stray (id INTEGER);\n",
        }
    )
    assert where(check_schema_coverage(root)) == [("contracts/db/other.sql", 1)]


@pytest.mark.parametrize(
    "skipped", ["tests", "bench", ".venv", "build", "codex.egg-info", "__pycache__", "node_modules", ".git"]
)
def test_skipped_directories_are_not_scanned(make_tree: MakeTree, skipped: str) -> None:
    bad = f'import sqlite3\nimport sqlalchemy as sa\nsa.Table("x", None)\nDDL = "{CREATE} x (a)"\n'
    root = make_tree({f"{skipped}/mod.py": bad, f"codex/sub/{skipped}/mod.py": bad})
    assert check_schema_coverage(root) == []
    assert check_driver_imports(root) == []
    root_bad = make_tree({"codex/sub/not_skipped/mod.py": bad})
    assert len(check_schema_coverage(root_bad)) == 2 and len(check_driver_imports(root_bad)) == 1


def test_policy_ignored_paths_are_not_scanned(make_tree: MakeTree) -> None:
    root = make_tree({".cache/tool/x.py": "import sqlite3\n", "test-artifacts/y.sql": f"{CREATE} z (a);\n"})
    assert check_driver_imports(root) == [] and check_schema_coverage(root) == []


def test_unparsable_python_is_a_finding(make_tree: MakeTree) -> None:
    root = make_tree({"codex/broken.py": "def f(:\n    pass\n"})
    for findings in (check_schema_coverage(root), check_driver_imports(root)):
        assert where(findings) == [("codex/broken.py", 1)] and "cannot be parsed" in findings[0].message


# --- import-guard ---------------------------------------------------------------------------------------


def test_stray_driver_imports_fail(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/stray.py": '"""Mentions import sqlite3 in a docstring: not an import."""\n\nimport os\nimport sqlite3\n',
            "codex/stray2.py": (
                "from libsql_experimental import connect\n"
                "import sqlite3.dbapi2 as legacy\n"
                "import importlib\n"
                "drv = importlib.import_module('libsql_client')\n"
                "other = __import__('aiolibsql')\n"
                "fine = importlib.import_module('json')\n"
                "from codex.engine import make_engine  # fine\n"
            ),
            "codex/sub/__init__.py": "def f():\n    import libsql\n    return libsql\n",
        }
    )
    findings = check_driver_imports(root)
    assert where(findings) == [
        ("codex/stray.py", 4),
        ("codex/stray2.py", 1),
        ("codex/stray2.py", 2),
        ("codex/stray2.py", 4),
        ("codex/stray2.py", 5),
        ("codex/sub/__init__.py", 2),
    ]
    assert "codex.stray imports the database driver 'sqlite3'" in findings[0].message
    assert "'libsql_experimental'" in findings[1].message and "'sqlite3.dbapi2'" in findings[2].message
    assert "codex.sub imports the database driver 'libsql'" in findings[5].message


def test_direct_create_engine_fails(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/engines.py": (
                "import sqlalchemy as sa\nfrom sqlalchemy import create_engine\n\n"
                "a = sa.create_engine('sqlite+libsql://')\n"
                "b = create_engine('sqlite://')\n"
                "# create_engine( in a comment is not a call\n"
            )
        }
    )
    findings = check_driver_imports(root)
    assert where(findings) == [("codex/engines.py", 4), ("codex/engines.py", 5)]
    assert "calls sa.create_engine() directly" in findings[0].message
    assert "calls create_engine() directly" in findings[1].message and "make_engine" in findings[1].message


def test_owners_direct_access_and_allowlist_may_import(make_tree: MakeTree) -> None:
    driver = "import libsql_experimental\nimport sqlalchemy as sa\ne = sa.create_engine('x')\n"
    files = {
        "codex/engine/_factory.py": driver,  # allow_direct_access
        "codex/satellites/vault/_store.py": driver,  # owner
        "codex/satellites/package_store.py": driver,  # temporary exception
        "scripts/inspect_db.py": driver,  # the txt allowlist
        "codex/tools/export.py": driver,  # the txt allowlist, dotted
        "codex/tools/other.py": driver,  # nothing allows this one
        ALLOWLIST_PATH: "# comment\n\nscripts/inspect_db.py\ncodex.tools.export  # reads old files\n",
    }
    root = make_tree(files)
    assert [f.path for f in check_driver_imports(root)] == ["codex/tools/other.py"] * 2
    assert errors(check_allowlist_parity(root)) == []


# --- policy-allowlist-parity ----------------------------------------------------------------------------


def test_stale_and_redundant_allowlist_entries_fail(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "scripts/inspect_db.py": "",
            ALLOWLIST_PATH: (
                "# header\n"
                "scripts/inspect_db.py\n"
                "codex.gone_module\n"
                "codex.engine._factory\n"
                "domains\n"
                "scripts/inspect_db.py\n"
                "../escape\n"
            ),
            "codex/engine/_factory.py": "",
        }
    )
    found = errors(check_allowlist_parity(root))
    assert where(found) == [(ALLOWLIST_PATH, n) for n in (3, 4, 5, 6, 7)]
    assert "stale entry: codex.gone_module does not exist" in found[0].message
    assert (
        "redundant entry: codex.engine._factory is already allowed by the policy entry codex.engine"
        in found[1].message
    )
    assert "redundant entry: domains is already allowed by the policy entry domains" in found[2].message
    assert "listed twice (first on line 2)" in found[3].message
    assert "not a dotted module name or a relative path" in found[4].message


def test_declared_but_absent_is_a_warning_and_a_missing_owner_an_error(make_tree: MakeTree) -> None:
    root = make_tree()
    findings = check_allowlist_parity(root)
    assert errors(findings) == []
    warnings = [f.message for f in findings if f.severity == "warning"]
    assert warnings == [
        "temporary_exceptions entry codex.satellites.package_store is declared but absent from the repository",
        "satellite baseline contracts/db/vault/baseline.sql (codex.satellites.vault) is declared but absent from the repository",
    ]
    shutil.rmtree(root / "codex" / "satellites" / "vault")
    found = errors(check_allowlist_parity(root))
    assert [f.message for f in found] == ["owner codex.satellites.vault does not exist in the repository"]
    policy_lines = (root / POLICY_PATH).read_text().splitlines()
    assert "- codex.satellites.vault" in policy_lines[found[0].line - 1]


def test_expired_temporary_file_exception_fails(make_tree: MakeTree) -> None:
    root = make_tree()
    assert errors(check_allowlist_parity(root, today=dt.date(2027, 6, 30))) == []
    found = errors(check_allowlist_parity(root, today=dt.date(2027, 7, 1)))
    assert (
        len(found) == 1 and "expired at the end of 2027-Q2" in found[0].message and "M-67" in found[0].message
    )
    doc = real_policy()
    doc["tiers"]["a_relational"]["temporary_file_exceptions"][0]["expiry"] = "2026-Q4"
    root = make_tree(policy=doc)
    assert errors(check_allowlist_parity(root, today=dt.date(2026, 12, 31))) == []
    assert len(errors(check_allowlist_parity(root, today=dt.date(2027, 1, 1)))) == 1


def test_invalid_policy_fails_parity(make_tree: MakeTree) -> None:
    doc = real_policy()
    del doc["tiers"]["a_relational"]["owners"]
    found = check_allowlist_parity(make_tree(policy=doc))
    assert len(found) == 1 and found[0].path == POLICY_PATH
    assert "'owners' is a required property" in found[0].message


# --- the CLI --------------------------------------------------------------------------------------------


def test_cli_passes_on_the_real_repository() -> None:
    for command in ("policy-allowlist-parity", "import-guard"):
        result = runner.invoke(app, ["ci", command])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"{command}: OK")


def test_cli_reports_findings_and_exits_1(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "codex/stray.py": "import sqlite3\n",
            "codex/ddl.py": f'X = "{CREATE} t (a)"\n',
            ALLOWLIST_PATH: "codex.gone\n",
        }
    )
    cases = {
        "import-guard": "codex/stray.py:1: codex.stray imports the database driver 'sqlite3'",
        "db-schema-coverage": "codex/ddl.py:1: SQL creates table 't' in codex.ddl",
        "policy-allowlist-parity": f"{ALLOWLIST_PATH}:1: stale entry: codex.gone does not exist",
    }
    for command, line in cases.items():
        result = runner.invoke(app, ["ci", command, "--root", str(root)])
        assert result.exit_code == 1, result.output
        assert result.stdout.splitlines()[0].startswith(line), result.stdout
        assert "1 finding(s)" in result.stderr


def test_cli_ok_summary_and_warnings(make_tree: MakeTree) -> None:
    root = make_tree()
    result = runner.invoke(app, ["ci", "policy-allowlist-parity", "--root", str(root)])
    assert result.exit_code == 0
    assert result.stdout == "policy-allowlist-parity: OK (2 warning(s))\n"
    assert f"{POLICY_PATH}:" in result.stderr and "warning: temporary_exceptions entry" in result.stderr
    result = runner.invoke(app, ["ci", "db-schema-coverage", "--root", str(root)])
    assert result.exit_code == 0 and result.stdout.startswith("db-schema-coverage: OK")


def test_cli_invalid_policy_is_an_error_for_the_scanners(make_tree: MakeTree) -> None:
    root = make_tree(policy_text="version: 1\n")
    result = runner.invoke(app, ["ci", "import-guard", "--root", str(root)])
    assert result.exit_code == 2
    assert "codex: error: invalid data-storage policy" in result.stderr
    result = runner.invoke(app, ["ci", "policy-allowlist-parity", "--root", str(root)])
    assert result.exit_code == 1 and result.stdout.startswith(f"{POLICY_PATH}:1: (top level):")
