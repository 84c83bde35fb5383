"""Revisions 0003 and 0006 on both backends: the raw DDL, alembic check, downgrade/upgrade over rows."""

from __future__ import annotations

import sqlalchemy as sa

from codex.migrate import check_models, downgrade, schema_version_of, script_directory, upgrade
from codex.schema import normalise_ddl
from codex.search import SearchIndex, SearchRepository, ingest, search
from codex.store import Store
from domains.search_ingest import TABLES, VECTOR_TABLES, search_chunk_vectors, search_chunk_vectors_384


def _sql(conn: sa.Connection, name: str) -> str | None:
    found = conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE name = ?", (name,)).scalar()
    return None if found is None else str(found)


def test_live_ddl_is_the_documented_ddl(store: Store) -> None:
    module = script_directory().get_revision("0003").module
    assert schema_version_of(script_directory(), "0003") == 3 and module.down_revision == "0002"
    six = script_directory().get_revision("0006").module
    assert normalise_ddl(six.VECTOR_INDEX_DDL) == normalise_ddl(module.VECTOR_INDEX_DDL)
    with store.connect() as conn:
        assert normalise_ddl(_sql(conn, "search_chunks_fts") or "") == normalise_ddl(module.FTS_DDL)
        assert (
            _sql(conn, "search_chunk_vectors_idx") is None
        )  # dropped by 0006: vectors are searched in memory
        assert "embedding f32_blob(256)not null" in normalise_ddl(_sql(conn, "search_chunk_vectors") or "")
        assert "embedding f32_blob(384)not null" in normalise_ddl(
            _sql(conn, "search_chunk_vectors_384") or ""
        )
        assert "normalised boolean default 1 not null" in normalise_ddl(_sql(conn, "search_embedder") or "")
    assert [t.name for t in TABLES][3:] == [
        "search_chunk_vectors",
        "search_embedder",
        "search_job_leases",
        "search_chunk_vectors_384",
    ]
    assert str(search_chunk_vectors.c.embedding.type.compile()) == "F32_BLOB(256)"
    assert str(search_chunk_vectors_384.c.embedding.type.compile()) == "F32_BLOB(384)"
    assert {d: t.name for d, t in VECTOR_TABLES.items()} == {
        256: "search_chunk_vectors",
        384: "search_chunk_vectors_384",
    }


def test_models_and_migrations_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        assert check_models(conn) == []


def test_downgrade_and_upgrade_over_existing_rows(store: Store) -> None:
    with store.begin() as conn:
        ingest(conn, "docs/a", "Zetaword appears in this document about migrations. " * 10, "text/plain")
    try:
        with store.engine.connect() as conn:
            downgrade(conn, "0005")  # 0006 down: the DiskANN index comes back, filled over the rows
        with store.engine.connect() as conn:
            assert _sql(conn, "search_chunk_vectors_idx") is not None
            assert _sql(conn, "search_chunk_vectors_384") is None
            assert (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM vector_top_k('search_chunk_vectors_idx', "
                    "(SELECT embedding FROM search_chunk_vectors LIMIT 1), 5)"
                ).scalar_one()
                == 1
            )
        with store.engine.connect() as conn:
            downgrade(conn, "0002")
        with store.engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_schema")}
            assert not {"search_chunks_fts", "search_chunk_vectors", "search_job_leases"} & names
    finally:
        with store.engine.connect() as conn:
            upgrade(conn, "head")
    with store.begin() as conn:
        sizes = SearchIndex(conn).sizes()
        chunks = SearchRepository(conn).count_chunks()
        assert (sizes.fts_rows, sizes.vectors) == (chunks, 0)  # FTS rebuilt; vectors went with the table
        assert SearchIndex(conn).fts_integrity_ok()
        assert search(conn, "zetaword", mode="fts")[0].source_uri == "docs/a"
        SearchRepository(conn).delete_by_uri("docs/a")  # vectors gone with the table: re-ingest
        ingest(conn, "docs/a", "Zetaword appears in this document about migrations. " * 10, "text/plain")
    with store.connect() as conn:
        assert search(conn, "zetaword", mode="vector")[0].source_uri == "docs/a"
