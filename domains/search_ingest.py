"""search_ingest (fragment v15): search corpus documents, their chunk text and the ingest job queue."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column

__all__ = ["TABLES", "search_document_chunks", "search_documents", "search_indexing_jobs"]

search_documents = sa.Table(
    "search_documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_uri", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("mime_type", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("content_hash", sa.Text, nullable=False, server_default=sa.text("''")),
    now_column("ingested_at"),
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

TABLES: tuple[sa.Table, ...] = (search_documents, search_document_chunks, search_indexing_jobs)
