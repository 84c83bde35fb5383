"""The Alembic chain on a local file and on sqld: upgrade, downgrade, check, adopt, refuse, ledger."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import sqlalchemy as sa

from codex.config import MemoryDb
from codex.engine import make_engine
from codex.errors import SchemaError
from codex.migrate import (
    LEDGER_TABLE,
    apply_baseline,
    bootstrap,
    check_models,
    current_revision,
    downgrade,
    expected_head_schema,
    head_revision,
    head_schema_version,
    ledger_head,
    read_ledger,
    read_schema_version,
    schema_at,
    schema_version_of,
    script_directory,
    upgrade,
    user_tables,
    verify_database,
)
from codex.schema import BASELINE_VERSION, read_live_schema
from domains import DOMAINS, metadata


def _ledger(conn: sa.Connection) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in conn.exec_driver_sql(f"SELECT revision, direction FROM {LEDGER_TABLE} ORDER BY id")
    ]


def test_exactly_one_head_and_schema_versions_derived_from_the_chain() -> None:
    script = script_directory()
    assert len(script.get_heads()) == 1
    chain = list(reversed(list(script.walk_revisions())))
    version = {rev.revision: schema_version_of(script, rev.revision) for rev in chain}
    for rev in chain:  # 1 for the base; more than every parent (a linear chain counts 1, 2, 3, …)
        parents = [version[down] for down in rev._all_down_revisions]
        assert version[rev.revision] == 1 if not parents else version[rev.revision] > max(parents)
    assert head_schema_version() == len(chain) >= BASELINE_VERSION
    assert not any(hasattr(rev.module, "codex_schema_version") for rev in chain)  # nothing by hand


def test_upgrade_head_creates_every_domain_table_and_index(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "head")
    with engine.connect() as conn:
        live = read_live_schema(conn)
        for domain, tables in DOMAINS.items():
            for table in tables:
                assert table.name in live.tables, (domain, table.name)
                for index in table.indexes:
                    assert index.name in live.indexes, (table.name, index.name)
        assert read_schema_version(conn) == head_schema_version()
        assert current_revision(conn) == head_revision()
        report = verify_database(conn)
        assert report.ok, report.problems
        assert report.live_digest == expected_head_schema().digest()
        assert [d for _, d in _ledger(conn)] == ["upgrade"] * len(list(script_directory().walk_revisions()))
        assert check_models(conn) == []


def test_read_ledger_is_the_ledger_newest_first(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert read_ledger(conn) == [] and ledger_head(conn) is None  # no ledger table yet
        conn.rollback()  # end the read transaction: migrations manage their own
        upgrade(conn, "head")
    with engine.connect() as conn:
        entries = read_ledger(conn)
        assert [(e.revision, e.direction) for e in entries] == _ledger(conn)[::-1]
        assert [e.id for e in read_ledger(conn, limit=2)] == [e.id for e in entries[:2]]
        newest = entries[0]
        assert newest.revision == head_revision() and newest.host and newest.error_text is None
        assert ledger_head(conn) == {k: v for k, v in asdict(newest).items() if k != "id"}


def test_downgrade_base_then_upgrade_again(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "head")
        downgrade(conn, "base")
    with engine.connect() as conn:
        assert user_tables(conn) == []
        assert current_revision(conn) is None
        conn.rollback()  # end the read transaction: migrations manage their own
        upgrade(conn, "head")
    with engine.connect() as conn:
        assert verify_database(conn).ok


def test_downgrade_one_step_keeps_schema_version_meaningful(engine: sa.Engine) -> None:
    head = script_directory().get_revision(head_revision())
    assert head is not None
    with engine.connect() as conn:
        upgrade(conn, "head")
        if len(head._all_down_revisions) > 1:  # a merge head: "-1" is ambiguous, the error says so
            with pytest.raises(SchemaError, match="ambiguous at a merge"):
                downgrade(conn, "-1")
            downgrade(conn, head._all_down_revisions[0])
        else:
            downgrade(conn, "-1")
        parents = [schema_version_of(script_directory(), r) for r in head._all_down_revisions]
        assert read_schema_version(conn) == (head_schema_version() - 1 if len(parents) == 1 else max(parents))
        report = verify_database(conn)
        assert not report.ok and report.revision != report.head_revision
        conn.rollback()
        upgrade(conn, "head")
        assert read_schema_version(conn) == head_schema_version()


def test_baseline_revision_adopts_a_matching_database(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        apply_baseline(conn)
    with engine.connect() as conn:
        upgrade(conn, "head")
    with engine.connect() as conn:
        assert verify_database(conn).ok
        assert _ledger(conn)[0] == ("0001", "adopt")


def test_baseline_revision_refuses_a_foreign_non_empty_database(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id TEXT PRIMARY KEY, nickname TEXT)")
    with engine.connect() as conn, pytest.raises(SchemaError, match="not the baseline"):
        upgrade(conn, "head")
    with engine.connect() as conn:
        assert user_tables(conn) == ["users"]
        assert current_revision(conn) is None


def test_bootstrap_baselines_only_an_empty_database(engine: sa.Engine) -> None:
    assert bootstrap(engine) == BASELINE_VERSION
    assert bootstrap(engine) == BASELINE_VERSION  # idempotent: DDL is not re-run
    with engine.connect() as conn:
        assert read_schema_version(conn) == BASELINE_VERSION


def test_bootstrap_refuses_a_legacy_chain_with_the_remedy(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (1), (2), (3)")
    with pytest.raises(SchemaError, match="legacy export") as info:
        bootstrap(engine)
    assert info.value.details["schema_version"] == 3


def test_ahead_of_code_is_refused(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "head")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (?)", (head_schema_version() + 5,))
    with pytest.raises(SchemaError, match="ahead of this code"):
        bootstrap(engine)


def test_hand_added_column_is_drift(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "head")
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE conversations ADD COLUMN mood TEXT")
    with engine.connect() as conn:
        report = verify_database(conn)
    assert not report.ok
    assert report.diff["changed"] == ["table:conversations"]
    assert report.live_digest != report.expected_digest


def test_failed_step_rolls_back_the_whole_run_and_is_recorded(engine: sa.Engine) -> None:
    # the newest revision that creates a table (whatever revisions a team added after it)
    script = script_directory()
    for sc in script.walk_revisions():
        if len(sc._all_down_revisions) == 1:
            parent = sc._all_down_revisions[0]
            new_tables = sorted(schema_at(sc.revision).tables - schema_at(parent).tables)
            if new_tables:
                break
    with engine.connect() as conn:
        upgrade(conn, "head")
        downgrade(conn, parent)
        previous = current_revision(conn)
        ledger_rows = len(_ledger(conn)) if LEDGER_TABLE in user_tables(conn) else None
    assert new_tables, "some revision should create at least one table"
    with engine.begin() as conn:  # sabotage: an object the head revision will try to create
        conn.exec_driver_sql(f'CREATE TABLE "{new_tables[0]}" (x INTEGER)')
    with engine.connect() as conn:
        before = read_live_schema(conn).digest()
        conn.rollback()
        with pytest.raises(Exception, match="already exists"):
            upgrade(conn, "head")
    with engine.connect() as conn:
        assert current_revision(conn) == previous
        assert read_live_schema(conn).digest() == before
        if ledger_rows is not None:
            rows = conn.exec_driver_sql(f"SELECT error_text FROM {LEDGER_TABLE} ORDER BY id").all()
            assert len(rows) == ledger_rows + 1 and "already exists" in rows[-1][0]


def test_empty_to_head_equals_the_models() -> None:
    """The gate autogenerate-reviewed PRs rely on: migrations reproduce the models exactly."""
    from_models = make_engine(MemoryDb())
    with from_models.begin() as conn:
        metadata.create_all(conn)
        models = read_live_schema(conn)
    from_models.dispose()
    migrated = expected_head_schema()
    assert models.objects.keys() - migrated.objects.keys() == set(), (
        "tables/indexes in the models but not in migrations"
    )
    assert migrated.tables - models.tables <= {
        t for t in migrated.tables if "_fts" in t or t.endswith("_shadow")
    }
    for key in models.objects.keys() & migrated.objects.keys():
        assert models.objects[key] == migrated.objects[key], key


def test_existing_dangling_references_do_not_block_later_migrations(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "0001")
    with engine.connect() as conn:  # a legacy import may keep rows whose parents are gone
        conn.info["codex_foreign_keys_off"] = True
        with conn.begin():
            conn.exec_driver_sql("INSERT INTO names (namespace, name, hash) VALUES ('ns', 'n', 'MISSING')")
        conn.info.pop("codex_foreign_keys_off")
    with engine.connect() as conn:
        upgrade(conn, "head")
        assert current_revision(conn) == head_revision()
