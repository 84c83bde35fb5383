"""``codex db review``: pending operations, the destructive-change lint, verdicts and exit codes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects import sqlite
from typer.testing import CliRunner

from codex.cli import app
from codex.errors import ConfigError
from codex.guards.review import FRAGMENTS_PATH, MARKER, load_metadata, narrowing, review_schema
from codex.schema import fragment_digests

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


def write_module(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def test_real_models_are_clean() -> None:
    review = review_schema()
    assert (review.verdict, review.exit_code, review.operations, review.lints) == ("clean", 0, (), ())
    text = review.markdown()
    assert text.startswith(MARKER + "\n## Codex schema review\n")
    assert "**Verdict: clean** (0 pending operation(s), 0 destructive finding(s))" in text
    assert "None: the models and the migrations agree." in text and "No destructive changes found." in text
    assert "Models `domains`" in text


def test_destructive_changes_are_linted(tmp_path: Path) -> None:
    metadata = load_metadata(str(write_module(tmp_path, "destructive_models", DESTRUCTIVE)))
    review = review_schema(metadata, source="destructive_models")
    ops = {(op.kind, op.table) for op in review.operations}
    assert {
        ("remove_table", "user_preferences"),
        ("remove_index", "user_preferences"),
        ("remove_column", "users"),
        ("add_column", "users"),
        ("modify_type", "users"),
        ("modify_nullable", "users"),
    } == ops
    lints = sorted((lint.rule, lint.table, lint.detail.split(":")[0]) for lint in review.lints)
    assert lints == [
        ("NOT NULL added", "users", "`email`"),
        ("NOT NULL column without server default", "users", "`nickname`"),
        ("dropped column", "users", "`avatar_url`"),
        ("dropped table", "user_preferences", "every row of the table is lost"),
        ("narrowed type", "users", "`display_name`"),
    ]
    assert (review.verdict, review.exit_code) == ("DESTRUCTIVE changes", 2)
    text = review.markdown()
    assert "**Verdict: DESTRUCTIVE changes** (7 pending operation(s), 5 destructive finding(s))" in text
    assert "| add column | `users` | `age` INTEGER NOT NULL DEFAULT 0 |" in text
    assert "| add column | `users` | `nickname` TEXT NOT NULL |" in text
    assert "| modify type | `users` | `display_name`: TEXT → VARCHAR(40) |" in text
    assert "| **dropped column** | `users` | `avatar_url`: the column's data is lost |" in text
    assert "### DESTRUCTIVE CHANGE LINT" in text and "Models `destructive_models`" in text


def test_safe_changes_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(tmp_path, "codex_review_safe_models", SAFE)
    monkeypatch.syspath_prepend(str(tmp_path))
    review = review_schema(load_metadata("codex_review_safe_models"), source="codex_review_safe_models")
    assert sorted((op.kind, op.table) for op in review.operations) == [
        ("add_column", "users"),
        ("add_index", "badges"),
        ("add_table", "badges"),
    ]
    assert review.lints == ()
    assert (review.verdict, review.exit_code) == ("safe changes pending", 1)
    assert "| add column | `users` | `bio` TEXT NULL |" in review.markdown()
    assert "alembic revision --autogenerate" in review.markdown()


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
def test_type_narrowing(
    old: sa.types.TypeEngine[object], new: sa.types.TypeEngine[object], narrowed: bool
) -> None:
    assert (narrowing(old, new) is not None) == narrowed


def test_narrowing_names_both_types() -> None:
    why = narrowing(sqlite.REAL(), sa.Integer())
    assert why is not None and why.startswith("REAL → INTEGER") and "real values" in why


def test_fragment_edits_are_destructive(tmp_path: Path) -> None:
    doc = yaml.safe_load(FRAGMENTS_PATH.read_text())
    doc["fragments"][1]["digest"] = "0x" + "00" * 32
    edited = tmp_path / "fragments.yaml"
    edited.write_text(yaml.safe_dump(doc))
    review = review_schema(fragments_file=edited)
    assert [(lint.rule, lint.detail.split(" ")[0]) for lint in review.lints] == [
        ("baseline fragment edited", "v2")
    ]
    assert review.operations == () and review.exit_code == 2
    assert "| **baseline fragment edited** | — | v2 (bookkeeping" in review.markdown()

    current = fragment_digests()
    del current["v3"]
    review = review_schema(current_fragments=current)
    assert [(lint.rule, lint.detail.split(" ")[0]) for lint in review.lints] == [
        ("baseline fragment removed", "v3")
    ]


def test_new_fragment_is_a_pending_operation(tmp_path: Path) -> None:
    doc = yaml.safe_load(FRAGMENTS_PATH.read_text())
    last = doc["fragments"].pop()
    trimmed = tmp_path / "fragments.yaml"
    trimmed.write_text(yaml.safe_dump(doc))
    review = review_schema(fragments_file=trimmed)
    assert [(op.kind, op.detail.split(" ")[0]) for op in review.operations] == [
        ("add_fragment", f"v{last['version']}")
    ]
    assert review.lints == () and review.exit_code == 1


def test_load_metadata_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot import the metadata module 'no_such_module_xyz'"):
        load_metadata("no_such_module_xyz")
    with pytest.raises(ConfigError, match="has no `metadata`"):
        load_metadata(str(write_module(tmp_path, "empty_models", "x = 1\n")))


def test_cli_review_exit_codes_and_output(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "review"])
    assert result.exit_code == 0, result.output
    assert "**Verdict: clean**" in result.stdout

    out = tmp_path / "review.md"
    module = write_module(tmp_path, "cli_destructive_models", DESTRUCTIVE)
    result = runner.invoke(app, ["db", "review", "--metadata-module", str(module), "--output", str(out)])
    assert result.exit_code == 2, result.output
    assert out.read_text() == result.stdout
    assert "**Verdict: DESTRUCTIVE changes**" in result.stdout

    module = write_module(tmp_path, "cli_safe_models", SAFE)
    result = runner.invoke(app, ["db", "review", "--metadata-module", str(module)])
    assert result.exit_code == 1 and "**Verdict: safe changes pending**" in result.stdout

    result = runner.invoke(app, ["db", "review", "--metadata-module", "no_such_module_xyz"])
    assert result.exit_code == 2 and "codex: error: cannot import the metadata module" in result.stderr
    result = runner.invoke(app, ["db", "review", "--fragments", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "codex: error: no baseline fragment contract" in result.stderr
