"""The review's analyzers on real libSQL: pending revisions of a throwaway chain, databases with and
without offending rows, and no database at all (``--base``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb
from codex.engine import make_engine
from codex.guards.review import Finding, ReviewedOperation, SchemaReview
from codex.migrate import current_revision
from tests.guards._review_chain import TABLES, Chain, digest_files, make_chain, seed


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chain]:
    with make_chain(tmp_path, monkeypatch) as made:
        made.add(TABLES, doc="test tables")
        yield made


def pending(review: SchemaReview, revision: str) -> list[ReviewedOperation]:
    """The reviewed operations of one revision (model changes, i.e. the test tables, left out)."""
    return [op for op in review.operations if op.revision == revision]


def codes(op: ReviewedOperation) -> dict[str, Finding]:
    return {f.code: f for f in op.findings}


def by_detail(ops: list[ReviewedOperation], text: str) -> ReviewedOperation:
    found = [op for op in ops if text in op.detail]
    assert len(found) == 1, [op.detail for op in ops]
    return found[0]


# --- will-fail / data-dependent ------------------------------------------------------------------------

DATA_CHECKS = """
with op.batch_alter_table("widgets") as batch:
    batch.create_unique_constraint("uq_widgets_code", ["code"])
    batch.alter_column("name", existing_type=sa.Text(), nullable=False)
    batch.alter_column("qty", existing_type=sa.Text(), type_=sa.Integer())
    batch.create_check_constraint("ck_widgets_name_short", "length(name) <= 10")
    batch.create_foreign_key("fk_widgets_parent_id_gadgets", "gadgets", ["parent_id"], ["id"])
    batch.add_column(sa.Column("flag", sa.Integer(), nullable=False))
"""
Rows = dict[str, list[dict[str, Any]]]
GADGETS: list[dict[str, Any]] = [{"id": 1, "label": "g1"}]
OFFENDING: Rows = {
    "gadgets": GADGETS,
    "widgets": [
        {"id": 1, "name": "alpha", "code": "A", "note": "n1", "qty": "10", "parent_id": 1},
        {"id": 2, "name": "a very long name", "code": "A", "note": None, "qty": "x", "parent_id": 99},
        {"id": 3, "name": None, "code": "B", "note": "n3", "qty": "3", "parent_id": None},
    ],
}
PASSING: Rows = {
    "gadgets": GADGETS,
    "widgets": [
        {"id": 1, "name": "alpha", "code": "A", "note": "n1", "qty": "10", "parent_id": 1},
        {"id": 2, "name": "beta", "code": "B", "note": None, "qty": "20", "parent_id": None},
    ],
}
# detail fragment → (code of the data finding, offending rows in OFFENDING)
EXPECTED = {
    "`uq_widgets_code`": 2,
    "`name`: NOT NULL": 1,
    "`qty`: type TEXT → INTEGER": 1,
    "CHECK (length(name) <= 10)": 1,
    "`fk_widgets_parent_id_gadgets`": 1,
    "`flag` INTEGER NOT NULL": 3,
}


def test_will_fail_counts_the_offending_rows(chain: Chain) -> None:
    rev = chain.add(DATA_CHECKS)
    review = chain.review(chain.database(chain.tables, OFFENDING))
    ops = pending(review, rev)
    assert [op.op for op in ops] == [
        "create_unique_constraint",
        "alter_column",
        "alter_column",
        "create_check_constraint",
        "create_foreign_key",
        "add_column",
    ]
    for detail, rows in EXPECTED.items():
        found = codes(by_detail(ops, detail))
        assert (found["will-fail"].severity, found["will-fail"].rows) == ("error", rows), detail
        assert "data-dependent" not in found
    narrowed = codes(by_detail(ops, "`qty`"))["destructive"]
    assert (narrowed.severity, narrowed.rows) == ("error", 3)  # the values the type change converts
    assert "text values that do not convert to integer are lost" in narrowed.message
    assert review.status == "error" and review.exit_code == 2


def test_passing_rows_leave_warnings(chain: Chain) -> None:
    rev = chain.add(DATA_CHECKS)
    ops = pending(chain.review(chain.database(chain.tables, PASSING)), rev)
    for detail in EXPECTED:
        found = codes(by_detail(ops, detail))
        if detail.startswith("`flag`"):  # a NOT NULL column without default fails on any row
            assert (found["will-fail"].rows, found["will-fail"].severity) == (2, "error")
            continue
        assert "will-fail" not in found, detail
        assert (found["data-dependent"].severity, found["data-dependent"].rows) == ("warning", 0), detail
        assert "the inspected database's rows pass" in found["data-dependent"].message


def test_empty_table_passes_a_new_not_null_column(chain: Chain) -> None:
    rev = chain.add(DATA_CHECKS)
    ops = pending(chain.review(chain.database(chain.tables, {})), rev)
    flag = codes(by_detail(ops, "`flag`"))
    assert "will-fail" not in flag and flag["data-dependent"].rows == 0


def test_without_a_database_data_checks_are_warnings(chain: Chain) -> None:
    rev = chain.add(DATA_CHECKS)
    review = chain.review(base=chain.tables)
    assert review.mode == "base" and review.revisions == (rev,)
    ops = pending(review, rev)
    for detail in EXPECTED:
        found = codes(by_detail(ops, detail))
        assert "will-fail" not in found
        assert (found["data-dependent"].severity, found["data-dependent"].rows) == ("warning", None)
        assert "no database was inspected" in found["data-dependent"].message
    # the narrowing is destructive whatever the rows; the batch is a rebuild of unknown size
    assert codes(by_detail(ops, "`qty`"))["destructive"].rows is None
    assert {f.severity for op in ops for f in op.findings if f.code == "table-rebuild"} == {"info"}


def test_an_earlier_backfill_makes_a_count_a_warning(chain: Chain) -> None:
    rev = chain.add(
        """
        op.execute("UPDATE widgets SET name = 'unnamed' WHERE name IS NULL")
        with op.batch_alter_table("widgets") as batch:
            batch.alter_column("name", existing_type=sa.Text(), nullable=False)
        """
    )
    ops = pending(chain.review(chain.database(chain.tables, OFFENDING)), rev)
    assert [op.op for op in ops] == ["execute", "alter_column"]
    assert ops[0].sql == ["UPDATE widgets SET name = 'unnamed' WHERE name IS NULL"]
    found = codes(ops[1])
    assert "will-fail" not in found
    assert found["data-dependent"].rows == 1
    assert "an earlier pending statement changes the table's rows first" in found["data-dependent"].message


# --- destructive / backward-incompatible ------------------------------------------------------------------

DESTRUCTIVE = """
op.drop_table("legacy")
op.drop_index("uq_gadgets_label", table_name="gadgets")
with op.batch_alter_table("widgets") as batch:
    batch.drop_column("note")
    batch.alter_column("code", new_column_name="sku", existing_type=sa.Text())
op.rename_table("gadgets", "gizmos")
op.execute("ALTER TABLE widgets DROP COLUMN qty")
"""


def test_destructive_and_backward_incompatible(chain: Chain) -> None:
    rev = chain.add(DESTRUCTIVE)
    rows = {**OFFENDING, "legacy": [{"id": n, "v": "x"} for n in range(5)]}
    ops = pending(chain.review(chain.database(chain.tables, rows)), rev)
    summary = [
        (op.op, op.table, op.column, sorted(f"{f.code}:{f.severity}:{f.rows}" for f in op.findings))
        for op in ops
    ]
    rebuild = "table-rebuild:info:3"
    assert summary == [
        ("drop_table", "legacy", None, ["backward-incompatible:warning:None", "destructive:error:5"]),
        ("drop_index", "gadgets", None, ["destructive:error:None"]),
        (
            "drop_column",
            "widgets",
            "note",
            ["backward-incompatible:warning:None", "destructive:error:2", rebuild],
        ),
        ("alter_column", "widgets", "code", ["backward-incompatible:warning:None", rebuild]),
        ("rename_table", "gadgets", None, ["backward-incompatible:warning:None"]),
        ("execute", "widgets", "qty", ["backward-incompatible:warning:None", "destructive:error:3"]),
    ]
    assert "unique index `uq_gadgets_label` on `gadgets` (label)" in ops[1].findings[0].message
    assert "renames column `widgets.code` to `widgets.sku`" in codes(ops[3])["backward-incompatible"].message


def test_sql_a_revision_runs_itself_is_reviewed(chain: Chain) -> None:
    rev = chain.add(
        """
        bind = op.get_bind()
        bind.exec_driver_sql("DELETE FROM legacy WHERE id > 2")
        bind.exec_driver_sql("DROP TABLE legacy")
        """
    )
    rows = {"legacy": [{"id": n, "v": "x"} for n in range(5)]}
    ops = pending(chain.review(chain.database(chain.tables, rows)), rev)
    assert [(op.op, op.table, op.sql) for op in ops] == [
        ("execute", "legacy", ["DELETE FROM legacy WHERE id > 2"]),
        ("execute", "legacy", ["DROP TABLE legacy"]),
    ]
    assert ops[0].findings == []
    dropped = codes(ops[1])["destructive"]
    assert (
        dropped.rows == 5
        and "counted before the earlier pending statement `DELETE FROM legacy" in dropped.message
    )


def test_a_table_created_by_a_pending_revision_is_not_destroyed(chain: Chain) -> None:
    rev = chain.add(
        """
        op.create_table("scratchpad", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("t", sa.Text()))
        op.create_index("uq_scratchpad_t", "scratchpad", ["t"], unique=True)
        op.drop_table("scratchpad")
        """
    )
    ops = pending(chain.review(base=chain.tables), rev)
    assert [(op.op, op.findings) for op in ops] == [
        ("create_table", []),
        ("create_index", []),
        ("drop_table", []),
    ]


# --- table-rebuild ----------------------------------------------------------------------------------------


def test_only_move_and_copy_is_a_rebuild(chain: Chain) -> None:
    rev = chain.add(
        """
        with op.batch_alter_table("widgets") as batch:
            batch.add_column(sa.Column("colour", sa.Text(), nullable=True))
            batch.create_index("idx_widgets_colour", ["colour"])
        with op.batch_alter_table("widgets") as batch:
            batch.alter_column("note", existing_type=sa.Text(), server_default="none")
        """
    )
    config = chain.database(chain.tables, OFFENDING)
    ops = pending(chain.review(config), rev)
    add, index, alter = ops
    assert (add.op, add.findings, add.sql) == (
        "add_column",
        [],
        ["ALTER TABLE widgets ADD COLUMN colour TEXT"],
    )
    assert (index.op, index.findings) == ("create_index", [])
    assert index.sql == ["CREATE INDEX idx_widgets_colour ON widgets (colour)"]
    (finding,) = alter.findings  # a new server default: nothing but the rebuild
    assert (finding.code, finding.severity, finding.rows) == ("table-rebuild", "info", 3)
    assert alter.sql[0].startswith("CREATE TABLE _alembic_tmp_widgets")
    assert any(s.startswith("INSERT INTO _alembic_tmp_widgets") and "SELECT" in s for s in alter.sql)
    assert "ALTER TABLE _alembic_tmp_widgets RENAME TO widgets" in alter.sql

    big = pending(chain.review(config, rebuild_warn_rows=2), rev)[2].findings[0]
    assert (big.code, big.severity, big.rows) == ("table-rebuild", "warning", 3)
    assert "more than 2" in big.message


# --- failures, read-only -------------------------------------------------------------------------------


def test_a_revision_that_fails_on_the_schema_is_a_migration_error(chain: Chain) -> None:
    rev = chain.add(
        """
        op.add_column("widgets", sa.Column("flag", sa.Integer(), nullable=False))
        op.create_index("idx_widgets_missing", "widgets", ["missing"])
        """
    )
    later = chain.add('op.create_index("idx_widgets_name", "widgets", ["name"])')
    review = chain.review(chain.database(chain.tables, PASSING))
    add, index = pending(review, rev)
    # SQLite adds a NOT NULL column without default to an empty table: the rows decide
    assert [(f.code, f.rows) for f in add.findings] == [("will-fail", 2)]
    assert add.sql == ["ALTER TABLE widgets ADD COLUMN flag INTEGER NOT NULL"]
    (error,) = index.findings
    assert (error.code, error.severity) == ("migration-error", "error")
    assert (
        f"revision {rev} fails on a database with this schema" in error.message and "missing" in error.message
    )
    assert pending(review, later) == [] and review.exit_code == 2
    assert any(f"Revision {rev} fails on the scratch database" in note for note in review.notes)


def test_the_inspected_database_is_only_read(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from codex.cli import app

    chain.add(DATA_CHECKS)
    chain.add(DESTRUCTIVE)
    config = chain.database(chain.tables, OFFENDING)
    path = Path(str(config.path))
    before = digest_files(path)
    monkeypatch.setenv("VOX_DB_PATH", str(path))
    result = CliRunner().invoke(app, ["db", "review", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert digest_files(path) == before
    engine = make_engine(LocalDb(path=str(path)), role="read", wal=False)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == chain.tables
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["local", "sqld"])
def test_counts_on_each_backend(chain: Chain, db_config: DbConfig) -> None:
    rev = chain.add(DATA_CHECKS)
    seed(db_config, chain.tables, OFFENDING)
    ops = pending(chain.review(db_config), rev)
    assert {detail: codes(by_detail(ops, detail))["will-fail"].rows for detail in EXPECTED} == EXPECTED
