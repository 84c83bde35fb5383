"""Revision 0003 on both backends: the raw DDL, alembic check, and a downgrade/upgrade over existing rows."""

from __future__ import annotations

import sqlalchemy as sa

from codex.migrate import check_models, downgrade, schema_version_of, script_directory, upgrade
from codex.schema import normalise_ddl
from codex.search import SearchIndex, SearchRepository, ingest, search
from codex.search._index import VECTOR_INDEX_DDL
from codex.store import Store
from domains.search_ingest import TABLES, search_chunk_vectors


def _sql(conn: sa.Connection, name: str) -> str:
    return str(conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE name = ?", (name,)).scalar_one())


def test_live_ddl_is_the_documented_ddl(store: Store) -> None:
    module = script_directory().get_revision("0003").module
    assert module.VECTOR_INDEX_DDL == VECTOR_INDEX_DDL  # reindex recreates the index with the same DDL
    assert schema_version_of(script_directory(), "0003") == 3 and module.down_revision == "0002"
    with store.connect() as conn:
        assert normalise_ddl(_sql(conn, "search_chunks_fts")) == normalise_ddl(module.FTS_DDL)
        assert normalise_ddl(_sql(conn, "search_chunk_vectors_idx")) == normalise_ddl(VECTOR_INDEX_DDL)
        assert "embedding f32_blob(256)not null" in normalise_ddl(_sql(conn, "search_chunk_vectors"))
    assert [t.name for t in TABLES][3:] == ["search_chunk_vectors", "search_embedder", "search_job_leases"]
    assert str(search_chunk_vectors.c.embedding.type.compile()) == "F32_BLOB(256)"


def test_models_and_migrations_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        assert check_models(conn) == []


def test_downgrade_and_upgrade_over_existing_rows(store: Store) -> None:
    with store.begin() as conn:
        ingest(conn, "docs/a", "Zetaword appears in this document about migrations. " * 10, "text/plain")
    try:
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
        assert (sizes.fts_rows, sizes.vectors, sizes.vector_index) == (chunks, 0, True)  # FTS rebuilt
        assert SearchIndex(conn).fts_integrity_ok()
        assert search(conn, "zetaword", mode="fts")[0].source_uri == "docs/a"
        SearchRepository(conn).delete_by_uri("docs/a")  # vectors gone with the table: re-ingest
        ingest(conn, "docs/a", "Zetaword appears in this document about migrations. " * 10, "text/plain")
    with store.connect() as conn:
        assert search(conn, "zetaword", mode="vector")[0].source_uri == "docs/a"
        assert SearchIndex(conn).sizes().vector_index_rows == 1
