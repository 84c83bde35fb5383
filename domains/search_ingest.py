"""search_ingest (fragment v15, plus forward revision 0003): the search corpus and its ingest queue.

The three baseline tables (v15) hold documents, their chunk text and the indexing-job queue. Revision
0003 adds three side tables, so that the baseline tables stay exactly as upstream defines them and
stay readable by any SQLite client:

* ``search_chunk_vectors`` (``F32_BLOB(256)``) and ``search_chunk_vectors_384`` (``F32_BLOB(384)``): one
  embedding per chunk, cascading with the chunk, in the table of the corpus embedder's own dimension
  (:data:`VECTOR_TABLES`; revision 0005). Another dimension is another table, added by a revision.
  Vector search runs over an in-memory matrix loaded from these rows (``codex.search._vectors``); the
  libSQL DiskANN index of revision 0003 was dropped by revision 0005.
* ``search_embedder``: the single row naming the embedder of the corpus (name, dimension, whether its
  vectors are L2-normalised).
* ``search_job_leases``: lease, attempts and back-off bookkeeping of each indexing job.

The FTS5 table ``search_chunks_fts`` (external content over ``search_document_chunks``) is also raw
DDL in the migration; Alembic's ``include_name`` filter skips it and every shadow table.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import base as sqlite_base
from sqlalchemy.types import UserDefinedType

from domains._meta import created_at, metadata, now_column

__all__ = [
    "TABLES",
    "VECTOR_DIM",
    "VECTOR_TABLES",
    "F32Blob",
    "search_chunk_vectors",
    "search_chunk_vectors_384",
    "search_document_chunks",
    "search_documents",
    "search_embedder",
    "search_indexing_jobs",
    "search_job_leases",
]

VECTOR_DIM = 256
"""Dimension of the built-in embedder and of the first vector table, ``search_chunk_vectors``."""


class F32Blob(UserDefinedType[bytes]):
    """libSQL's ``F32_BLOB(n)`` vector column: ``n`` little-endian float32 values in a BLOB.

    SQLite's reflector does not know the type (it reflects as ``NullType``, with a warning, and
    Alembic does not compare it); declaring it here keeps the DDL of models and migrations equal.
    """

    cache_ok = True

    def __init__(self, dim: int = VECTOR_DIM) -> None:
        self.dim = int(dim)

    def get_col_spec(self, **kw: Any) -> str:
        return f"F32_BLOB({self.dim})"


# Teach SQLite reflection the type (``F32_BLOB(256)`` would otherwise reflect as ``NullType`` with a
# "could not instantiate" warning), so that ``alembic check`` compares it like any other column type.
sqlite_base.ischema_names.setdefault("F32_BLOB", F32Blob)


search_documents = sa.Table(
    "search_documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_uri", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("mime_type", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("content_hash", sa.Text, nullable=False, server_default=sa.text("''")),
    now_column("ingested_at"),
    sa.Column("metadata_json", sa.Text),  # revision 0007: the document's JSON metadata, as given
    # source_uri is unique through this named index, not through a column constraint.
    sa.Index("idx_search_documents_uri", "source_uri", unique=True),
    sa.Index("idx_search_documents_hash", "content_hash"),
    sqlite_autoincrement=True,
)

search_document_chunks = sa.Table(
    "search_document_chunks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "document_id",
        sa.Integer,
        sa.ForeignKey("search_documents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("chunk_index", sa.Integer, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("embedding_ref", sa.Text),
    created_at(),
    sa.UniqueConstraint("document_id", "chunk_index"),
    sa.Index("idx_search_chunks_doc", "document_id"),
    sqlite_autoincrement=True,
)

search_indexing_jobs = sa.Table(
    "search_indexing_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_kind", sa.Text, nullable=False),
    sa.Column("target_uri", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'queued'")),
    sa.Column("detail_json", sa.Text),
    sa.Column("error_text", sa.Text),
    created_at(),
    now_column("updated_at"),
    sa.Index("idx_search_jobs_status", "status"),
    sqlite_autoincrement=True,
)

# -- revision 0003 ---------------------------------------------------------------------------------


def _vector_table(name: str, dim: int) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        # An INTEGER PRIMARY KEY is the rowid.
        sa.Column("chunk_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("embedder", sa.Text, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", F32Blob(dim), nullable=False),
        sa.ForeignKeyConstraint(["chunk_id"], ["search_document_chunks.id"], ondelete="CASCADE"),
    )


search_chunk_vectors = _vector_table("search_chunk_vectors", 256)
search_chunk_vectors_384 = _vector_table("search_chunk_vectors_384", 384)  # revision 0005

VECTOR_TABLES: dict[int, sa.Table] = {256: search_chunk_vectors, 384: search_chunk_vectors_384}
"""The vector table of each supported embedder dimension (a new dimension needs a revision)."""

search_embedder = sa.Table(
    "search_embedder",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    created_at(),
    now_column("updated_at"),
    # revision 0005: whether the embedder's vectors are L2-normalised (cosine = dot product)
    sa.Column("normalised", sa.Boolean, nullable=False, server_default=sa.text("1")),
    sa.CheckConstraint("id = 1", name="single_row"),
)

search_job_leases = sa.Table(
    "search_job_leases",
    metadata,
    sa.Column("job_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default=sa.text("5")),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until_ms", sa.Integer),
    sa.Column("next_run_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.ForeignKeyConstraint(["job_id"], ["search_indexing_jobs.id"], ondelete="CASCADE"),
    sa.CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
    sa.Index("idx_search_job_leases_next_run", "next_run_at_ms"),
)

TABLES: tuple[sa.Table, ...] = (
    search_documents,
    search_document_chunks,
    search_indexing_jobs,
    search_chunk_vectors,
    search_embedder,
    search_job_leases,
    search_chunk_vectors_384,
)
