"""Search vectors at the embedder's own dimension; the libSQL DiskANN index is dropped.

* ``search_chunk_vectors_384`` (a model): one ``F32_BLOB(384)`` per chunk, for 384-dimensional embedders
  (all-MiniLM-L6-v2 and its ONNX exports), beside ``search_chunk_vectors`` (256: the built-in hashing
  embedder). The corpus embedder picks the table (``domains.search_ingest.VECTOR_TABLES``); a real model
  is no longer random-projected to 256.
* ``search_embedder.normalised``: whether the embedder's vectors are L2-normalised (all current ones are).
* ``search_chunk_vectors_idx`` (raw DDL of revision 0003) is dropped. Measured on the search bench
  (``docs/search-vectors.md``): maintaining it held ingest to 96–192 chunks/s, its build took 119 s at
  10k chunks, and its recall@10 was 0.805 against exact cosine; an exact scan of an in-memory float32
  matrix (one BLAS product) answers in a few milliseconds at 100k with recall 1.0, and is rebuilt from
  these rows at start. Downgrade recreates and REINDEXes it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domains.search_ingest import F32Blob

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# schema_version and the migration ledger are written by Codex's migration environment after this
# revision runs (derived from the chain: see "schema_version" in the README); nothing to fill in here.

# Frozen copy of revision 0003's vector index (for the downgrade).
VECTOR_INDEX_DDL = (
    "CREATE INDEX search_chunk_vectors_idx ON search_chunk_vectors(libsql_vector_idx(embedding, "
    "'metric=cosine', 'compress_neighbors=float8', 'max_neighbors=64'))"
)


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS search_chunk_vectors_idx")
    op.create_table(
        "search_chunk_vectors_384",
        sa.Column("chunk_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("embedder", sa.Text(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", F32Blob(384), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["search_document_chunks.id"],
            name=op.f("fk_search_chunk_vectors_384_chunk_id_search_document_chunks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_search_chunk_vectors_384")),
    )
    with op.batch_alter_table("search_embedder", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("normalised", sa.Boolean(), server_default=sa.text("1"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("search_embedder", schema=None) as batch_op:
        batch_op.drop_column("normalised")
    op.drop_table("search_chunk_vectors_384")
    op.execute(VECTOR_INDEX_DDL)
    op.execute("REINDEX search_chunk_vectors_idx")  # sqld: fills an index created over existing rows
