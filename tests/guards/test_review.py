"""``codex db review``: modes, model changes no revision carries, outputs, exit codes and the CLI.

The analyzers themselves are exercised against throwaway revisions in ``test_review_analyzers.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from typer.testing import CliRunner

from codex.cli import app
from codex.config import LocalDb
from codex.errors import ConfigError, SchemaError
from codex.guards.review import (
    CODES,
    MARKER,
    Finding,
    ReviewedOperation,
    SchemaReview,
    fits,
    load_metadata,
    narrowing,
    open_inspected,
    render_github,
    render_markdown,
    review_schema,
)
from codex.guards.review._review import resolve_base
from codex.migrate import head_revision, pending_revisions
from tests.guards._review_chain import seed

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

# A copy of the models with destructive edits: table user_preferences dropped; on users: avatar_url
# dropped, display_name narrowed to VARCHAR(40), email made NOT NULL, nickname added NOT NULL without a
# server default, age added NOT NULL with one (safe).
DESTRUCTIVE = textwrap.dedent(
    """
    import sqlalchemy as sa

    from domains import metadata as models

    metadata = sa.MetaData(naming_convention=models.naming_convention)
    for table in models.sorted_tables:
        if table.name == "user_preferences":
            continue
        if table.name != "users":
            table.to_metadata(metadata)
            continue
        columns = [c._copy() for c in table.columns if c.name != "avatar_url"]
        for column in columns:
            if column.name == "display_name":
                column.type = sa.String(40)
            if column.name == "email":
                column.nullable = False
        sa.Table(
            "users",
            metadata,
            *columns,
            sa.Column("nickname", sa.Text, nullable=False),
            sa.Column("age", sa.Integer, nullable=False, server_default="0"),
        )
    """
)

# Additive edits only: a nullable column, a new table with an index.
SAFE = textwrap.dedent(
    """
    import sqlalchemy as sa

    from domains import metadata as models

    metadata = sa.MetaData(naming_convention=models.naming_convention)
    for table in models.sorted_tables:
        copy = table.to_metadata(metadata)
        if table.name == "users":
            copy.append_column(sa.Column("bio", sa.Text, nullable=True))
    badges = sa.Table(
        "badges",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
    )
    sa.Index("idx_badges_label", badges.c.label)
    """
)

USERS: list[dict[str, Any]] = [
    {"id": "u1", "display_name": "Ada", "email": "ada@example.org", "avatar_url": "https://a/1.png"},
    {"id": "u2", "display_name": "A display name longer than forty characters", "email": None},
    {"id": "u3", "display_name": "Cy", "email": None, "avatar_url": "https://a/3.png"},
]


def write_module(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def summary(review: Any) -> list[tuple[str | None, str, str | None, str | None, list[str]]]:
    return [
        (
            op.revision,
            op.op,
            op.table,
            op.column,
            sorted(f"{f.code}:{f.severity}:{f.rows}" for f in op.findings),
        )
        for op in review.operations
    ]


# --- modes -------------------------------------------------------------------------------------------------


def test_real_models_and_chain_are_clean() -> None:
    for review in (review_schema(), review_schema(base="head")):
        assert (review.status, review.exit_code, review.operations, review.revisions) == ("clean", 0, (), ())
        text = render_markdown(review)
        assert text.startswith(MARKER + "\n## Codex schema review\n")
        assert "**Status: clean** (exit 0): 0 operation(s)" in text
        assert "None: nothing is pending and the models agree with the migrations." in text


def test_base_reviews_the_revisions_after_it() -> None:
    after = tuple(pending_revisions("0002", head_revision()))  # 0003 … head: the chain may grow
    review = review_schema(base="0002")
    assert after[:2] == ("0003", "0004") and (review.mode, review.start, review.revisions) == (
        "base",
        "0002",
        after,
    )
    assert {op.revision for op in review.operations} == set(after)
    # No error: 0007's rebuilds and side-table drops are acknowledged in the revision (info); its renames
    # and per-tenant unique indexes stay warnings (old servers and existing duplicates would notice).
    assert review.status == "warning" and review.exit_code == 1
    warned = {op.revision for op in review.operations for f in op.findings if f.severity == "warning"}
    assert warned == {"0007"}
    acknowledged = [
        f for op in review.operations for f in op.findings if "Acknowledged by revision" in f.message
    ]
    assert acknowledged and all(f.severity == "info" and f.code == "destructive" for f in acknowledged)
    base = review_schema(base="base")  # the frozen baseline is applied first, not reviewed op by op
    assert base.revisions == ("0002", *after) and base.start is None
    assert any("frozen baseline `0001`" in note for note in base.notes)


def test_unknown_base_and_bad_options_are_one_line() -> None:
    with pytest.raises(SchemaError, match=r"^--base nope: no such revision in the chain; known: base, 0001"):
        resolve_base("nope")
    assert (
        resolve_base("0003") == "0003"
        and resolve_base("head") == head_revision()
        and resolve_base("base") is None
    )
    with pytest.raises(ConfigError, match="not both"):
        review_schema(base="head", connection=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--rebuild-warn-rows must be 0 or more"):
        review_schema(rebuild_warn_rows=-1)


# --- model changes no revision carries ----------------------------------------------------------------------


def test_model_changes_without_a_database(tmp_path: Path) -> None:
    metadata = load_metadata(str(write_module(tmp_path, "destructive_models", DESTRUCTIVE)))
    review = review_schema(metadata, source="destructive_models")
    assert review.mode == "models" and review.revisions == ()
    rebuild = "table-rebuild:info:None"
    assert summary(review) == [
        (None, "drop_index", "user_preferences", None, []),
        (
            None,
            "drop_table",
            "user_preferences",
            None,
            ["backward-incompatible:warning:None", "destructive:error:None"],
        ),
        (None, "add_column", "users", "nickname", ["data-dependent:warning:None", rebuild]),
        (None, "add_column", "users", "age", [rebuild]),
        (
            None,
            "alter_column",
            "users",
            "display_name",
            ["data-dependent:warning:None", "destructive:error:None", rebuild],
        ),
        (None, "alter_column", "users", "email", ["data-dependent:warning:None", rebuild]),
        (
            None,
            "drop_column",
            "users",
            "avatar_url",
            ["backward-incompatible:warning:None", "destructive:error:None", rebuild],
        ),
    ]
    ops = review.operations
    assert ops[0].sql == ["DROP INDEX idx_user_preferences_user"] and ops[1].sql == [
        "DROP TABLE user_preferences"
    ]
    users = ops[2].sql  # one move-and-copy batch for users, shared by its five operations
    assert all(op.sql is users for op in ops[2:]) and users[0].startswith("CREATE TABLE _alembic_tmp_users")
    assert "display_name VARCHAR(40) NOT NULL" in users[0] and "avatar_url" not in users[0]
    assert (review.status, review.exit_code) == ("error", 2)
    text = render_markdown(review)
    assert "| 5 | *model change* | alter_column | `users` | `display_name`: type TEXT → VARCHAR(40) |" in text
    assert (
        f"Only model changes no revision carries (models `destructive_models`, head `{head_revision()}`)."
        in text
    )


def test_model_changes_are_counted_on_an_inspected_database(tmp_path: Path) -> None:
    config = LocalDb(path=str(tmp_path / "codex.db"), source="test")
    seed(config, "head", {"users": USERS})
    metadata = load_metadata(str(write_module(tmp_path, "destructive_models_db", DESTRUCTIVE)))
    with open_inspected(config) as conn:
        review = review_schema(metadata, connection=conn, database="test db")
    assert (review.mode, review.start, review.revisions) == ("database", head_revision(), ())
    found = {(op.column, f.code): f.rows for op in review.operations for f in op.findings}
    assert found[("nickname", "will-fail")] == 3  # three rows get no value for the NOT NULL column
    assert found[("email", "will-fail")] == 2  # two NULL emails
    assert found[("display_name", "will-fail")] == 1  # one name longer than 40
    assert found[("display_name", "destructive")] == 3
    assert found[("avatar_url", "destructive")] == 2  # the values the dropped column holds
    assert found[("age", "table-rebuild")] == 3  # the users rebuild copies three rows


def test_safe_model_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(tmp_path, "codex_review_safe_models", SAFE)
    monkeypatch.syspath_prepend(str(tmp_path))
    review = review_schema(load_metadata("codex_review_safe_models"), source="codex_review_safe_models")
    assert summary(review) == [
        (None, "create_table", "badges", None, []),
        (None, "create_index", "badges", "label", []),
        (None, "add_column", "users", "bio", []),
    ]
    assert review.operations[2].sql == ["ALTER TABLE users ADD COLUMN bio TEXT"]
    assert (review.status, review.exit_code) == ("safe", 1)
    assert "codex db revision --autogenerate" in render_markdown(review)


# --- types -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "narrowed"),
    [
        (sa.Text(), sa.String(40), True),
        (sa.String(80), sa.String(40), True),
        (sa.String(40), sa.String(80), False),
        (sa.String(40), sa.Text(), False),
        (sa.REAL(), sa.Integer(), True),
        (sa.Float(), sa.Integer(), True),
        (sa.Integer(), sa.Float(), False),
        (sa.Integer(), sa.BigInteger(), False),
        (sa.BigInteger(), sa.Integer(), True),
        (sa.Integer(), sa.Boolean(), True),
        (sa.Text(), sa.Integer(), True),
        (sa.Integer(), sa.Text(), False),
        (sa.LargeBinary(), sa.Text(), True),
        (sa.Text(), sa.LargeBinary(), False),
        (sa.Numeric(10, 2), sa.Numeric(8, 2), True),
        (sa.Numeric(10, 4), sa.Numeric(10, 2), True),
        (sa.Numeric(8, 2), sa.Numeric(10, 2), False),
        (sa.Float(), sa.Numeric(10, 2), True),
        (sa.DateTime(), sa.Date(), True),
        (sa.Date(), sa.DateTime(), False),
        (sa.Text(), sa.DateTime(), True),
        (sa.types.NullType(), sa.Integer(), False),  # unknown: not guessed
    ],
)
def test_type_narrowing(old: sa.types.TypeEngine[Any], new: sa.types.TypeEngine[Any], narrowed: bool) -> None:
    assert (narrowing(old, new) is not None) == narrowed


def test_narrowing_names_both_types() -> None:
    why = narrowing(sqlite.REAL(), sa.Integer())
    assert why is not None and why.startswith("REAL → INTEGER") and "real values" in why


@pytest.mark.parametrize(
    ("value", "new", "fit"),
    [
        ("12", sa.Integer(), True),
        (" -7 ", sa.Integer(), True),
        (2.0, sa.Integer(), True),
        (2.5, sa.Integer(), False),
        ("12a", sa.Integer(), False),
        (1 << 40, sa.Integer(), False),
        (1 << 40, sa.BigInteger(), True),
        (2, sa.Boolean(), False),
        (1, sa.Boolean(), True),
        ("abcdef", sa.String(3), False),
        ("abc", sa.String(3), True),
        (b"\xff", sa.Text(), False),
        (b"ok", sa.Text(), True),
        (b"ok", sa.Integer(), False),
        ("3.14159", sa.Numeric(10, 2), False),
        ("3.14", sa.Numeric(10, 2), True),
        (123456.0, sa.Numeric(5, 2), False),
        ("2024-05-01 10:00:00", sa.Date(), False),
        ("2024-05-01 00:00:00", sa.Date(), True),
        ("2024-05-01", sa.DateTime(), True),
        ("soon", sa.DateTime(), False),
        (None, sa.Integer(), True),
        ("anything", sa.LargeBinary(), True),
    ],
)
def test_values_that_fit_a_new_type(value: object, new: sa.types.TypeEngine[Any], fit: bool) -> None:
    assert fits(value, new) is fit


def test_load_metadata_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot import the metadata module 'no_such_module_xyz'"):
        load_metadata("no_such_module_xyz")
    with pytest.raises(ConfigError, match="has no `metadata`"):
        load_metadata(str(write_module(tmp_path, "empty_models", "x = 1\n")))


# --- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The configured database is a local file that does not exist."""
    path = tmp_path / "absent" / "codex.db"
    monkeypatch.setenv("VOX_DB_PATH", str(path))
    return path


def test_cli_formats_and_exit_codes(tmp_path: Path, no_db: Path) -> None:
    result = runner.invoke(app, ["db", "review"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(MARKER + "\n") and "**Status: clean**" in result.stdout
    assert f"No database at local {no_db} and no `--base`" in result.stdout
    assert not no_db.exists() and not no_db.parent.exists()  # nothing created

    module = str(write_module(tmp_path, "cli_destructive_models", DESTRUCTIVE))
    out = tmp_path / "review.json"
    result = runner.invoke(
        app, ["db", "review", "--metadata-module", module, "--format", "json", "--output", str(out)]
    )
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert out.read_text() == result.stdout
    assert (doc["status"], doc["exit"]) == ("error", 2)
    for op in doc["operations"]:
        assert list(op) == ["revision", "table", "column", "op", "sql", "findings"]
        assert op["revision"] is None and op["sql"]
        for finding in op["findings"]:
            assert list(finding) == ["code", "severity", "message", "rows"]
            assert finding["code"] in CODES and finding["severity"] in ("error", "warning", "info")

    result = runner.invoke(app, ["db", "review", "--metadata-module", module, "--format", "github"])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert all(line.startswith(("::error title=", "::warning title=", "::notice title=")) for line in lines)
    assert (
        "::error title=destructive users.avatar_url (model change)::drops column `users.avatar_url`"
        in result.stdout
    )
    assert lines[-1].startswith("::notice title=codex db review::status error (exit 2)")

    module = str(write_module(tmp_path, "cli_safe_models", SAFE))
    result = runner.invoke(app, ["db", "review", "--metadata-module", module, "--format", "markdown"])
    assert result.exit_code == 1 and "**Status: safe** (exit 1)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "codex: error: --format must be one of markdown, json, github (got 'xml')"),
        (["--base", "nope"], "codex: error: --base nope: no such revision in the chain; known: base, 0001"),
        (["--rebuild-warn-rows", "-5"], "codex: error: --rebuild-warn-rows must be 0 or more (got -5)"),
        (["--metadata-module", "no_such_module_xyz"], "codex: error: cannot import the metadata module"),
    ],
)
def test_cli_bad_input_is_one_line(no_db: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["db", "review", *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_cli_reviews_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = LocalDb(path=str(tmp_path / "codex.db"), source="test")
    seed(config, "0002", {})
    monkeypatch.setenv("VOX_DB_PATH", str(config.path))
    result = runner.invoke(app, ["db", "review", "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["reviewed"]["mode"] == "database" and doc["reviewed"]["start"] == "0002"
    after = pending_revisions("0002", head_revision())
    assert doc["reviewed"]["revisions"] == after
    assert {op["revision"] for op in doc["operations"]} == set(after)
    result = runner.invoke(
        app, ["db", "review", "--base", head_revision(), "--format", "json"]
    )  # no database
    assert result.exit_code == 0 and json.loads(result.stdout)["reviewed"]["database"] is None


def test_github_annotations_escape_their_text() -> None:
    op = ReviewedOperation("0009", "execute", "t:1", "a,b", "x")
    op.findings.append(Finding("destructive", "error", "100% lost\nreally", 4))
    review = SchemaReview("domains", "0009", "0008", "base", None, ("0009",), (op,))
    first, last = render_github(review).splitlines()
    assert first == "::error title=destructive t%3A1.a%2Cb (0009)::100%25 lost%0Areally [rows: 4]"
    assert last.startswith(
        "::notice title=codex db review::status error (exit 2): 1 operation(s), 1 error(s)"
    )


def test_the_project_chain_reviews_clean_of_errors(tmp_path: Path) -> None:
    """The repository's own chain after the baseline, through the installed CLI, from the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_", "CODEX_MIGRATIONS"))}
    env["VOX_DB_PATH"] = str(tmp_path / "unused.db")
    proc = subprocess.run(
        [sys.executable, "-m", "codex.cli", "db", "review", "--base", "0001", "--format", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    errors = [
        (op["revision"], op["op"], f)
        for op in doc["operations"]
        for f in op["findings"]
        if f["severity"] == "error"
    ]
    assert errors == []
    assert doc["exit"] == proc.returncode and doc["reviewed"]["revisions"][:3] == ["0002", "0003", "0004"]
    assert all(op["sql"] for op in doc["operations"])


def test_the_documented_workflow_runs_the_review_against_the_merge_base() -> None:
    import yaml

    doc = yaml.safe_load((REPO / "docs" / "github-actions" / "schema-review.yml").read_text(encoding="utf-8"))
    steps = {step.get("name"): step for step in doc["jobs"]["schema-review"]["steps"]}
    assert "git merge-base" in steps["Chain head at the merge base"]["run"]
    review = steps["Review the schema change"]["run"]
    assert 'codex db review --base "$BASE_REVISION" --output schema-review.md' in review
    assert MARKER in steps["Post or update the PR comment"]["with"]["script"]
    assert steps["Fail on an error finding"]["if"] == "steps.review.outputs.code == '2'"
    text = (REPO / "docs" / "pr-schema-review.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in text for code in CODES)  # every finding code is documented
