"""Search indexes: FTS5 over chunk text, chunk vectors with a libSQL vector index, embedder, job leases.

* ``search_chunks_fts``: an FTS5 table with **external content** (``content='search_document_chunks'``,
  ``content_rowid='id'``, porter + unicode61). No triggers: the search repository inserts
  ``(rowid, body_text)`` and deletes with FTS5's ``'delete'`` command and the old text, in the same
  transaction as the chunk write (libSQL's SQLite 3.42 predates contentless-delete; external content keeps
  ``snippet()``).
* ``search_chunk_vectors`` (a model): one ``F32_BLOB(256)`` per chunk, cascading with the chunk. Vectors
  live in a side table so that ``search_document_chunks`` stays readable and writable by stock SQLite
  clients (``docs/reference/libsql-runtime.md`` §13).
* ``search_chunk_vectors_idx``: ``libsql_vector_idx(embedding, 'metric=cosine', 'compress_neighbors=float8',
  'max_neighbors=64')``. The two extra settings are measured choices (10k chunks of the bench corpus,
  ``bench/bench_search.py``, recall@10 of ``vector_top_k`` candidates against brute-force cosine): libSQL's
  defaults (float32 neighbours) gave recall 0.67 with a 568 MB file and a 63 s build; float8 neighbours with
  at most 64 gave recall 0.79, 229 MB, 39 s (float8 with 32: 0.48; float16 with 32: 0.49). It is followed
  by ``REINDEX``: on sqld a vector index created over existing rows through the driver comes out empty until
  it is reindexed (``docs/reference/libsql-runtime.md`` §8.3); locally the REINDEX is a no-op rebuild.
* ``search_embedder`` and ``search_job_leases`` (models): the corpus embedder, and the lease / attempts /
  back-off of each indexing job, kept beside the baseline ``search_indexing_jobs`` table instead of
  altering it.

The FTS table, its shadow tables and the vector index cannot be models; ``include_name`` in
``codex.migrate._env`` skips ``*_fts*`` tables and ``*_shadow`` objects, and SQLite reflection skips the
expression index, so ``alembic check`` stays clean.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domains.search_ingest import F32Blob

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copies of the DDL (codex.search._index holds the live ones; a test compares them).
FTS_DDL = (
    "CREATE VIRTUAL TABLE search_chunks_fts USING fts5(body_text, content='search_document_chunks', "
    "content_rowid='id', tokenize='porter unicode61')"
)
VECTOR_INDEX_DDL = (
    "CREATE INDEX search_chunk_vectors_idx ON search_chunk_vectors(libsql_vector_idx(embedding, "
    "'metric=cosine', 'compress_neighbors=float8', 'max_neighbors=64'))"
)


def upgrade() -> None:
    op.create_table(
        "search_chunk_vectors",
        sa.Column("chunk_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("embedder", sa.Text(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", F32Blob(256), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_search_chunk_vectors")),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["search_document_chunks.id"],
            name=op.f("fk_search_chunk_vectors_chunk_id_search_document_chunks"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "search_embedder",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Text(), server_default=sa.text("(datetime('now'))"), nullable=False),
        sa.Column("updated_at", sa.Text(), server_default=sa.text("(datetime('now'))"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_embedder")),
        sa.CheckConstraint("id = 1", name=op.f("ck_search_embedder_single_row")),
    )
    op.create_table(
        "search_job_leases",
        sa.Column("job_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until_ms", sa.Integer(), nullable=True),
        sa.Column("next_run_at_ms", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_search_job_leases")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["search_indexing_jobs.id"],
            name=op.f("fk_search_job_leases_job_id_search_indexing_jobs"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_search_job_leases_max_attempts_positive")),
    )
    with op.batch_alter_table("search_job_leases", schema=None) as batch_op:
        batch_op.create_index("idx_search_job_leases_next_run", ["next_run_at_ms"], unique=False)
    op.execute(FTS_DDL)
    # Index rows that already exist (none on a fresh database; all of them after a downgrade/upgrade cycle).
    op.execute("INSERT INTO search_chunks_fts(search_chunks_fts) VALUES ('rebuild')")
    op.execute(VECTOR_INDEX_DDL)
    op.execute("REINDEX search_chunk_vectors_idx")  # sqld: fills an index created over existing rows
    # Existing baseline jobs get their lease row, so the queue can lease them.
    op.execute("INSERT INTO search_job_leases (job_id) SELECT id FROM search_indexing_jobs")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS search_chunk_vectors_idx")
    op.execute("DROP TABLE IF EXISTS search_chunks_fts")
    with op.batch_alter_table("search_job_leases", schema=None) as batch_op:
        batch_op.drop_index("idx_search_job_leases_next_run")
    op.drop_table("search_job_leases")
    op.drop_table("search_embedder")
    op.drop_table("search_chunk_vectors")
