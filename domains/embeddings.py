"""embeddings (fragment v3): vector metadata; vectors are little-endian float32 BLOBs."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata

__all__ = ["TABLES", "embeddings"]

embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_type", sa.Text),
    sa.Column("source_id", sa.Text, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("metadata", sa.Text),
    created_at(),
    sa.Index("idx_embeddings_source", "source_type", "source_id"),
    sqlite_autoincrement=True,
)

TABLES: tuple[sa.Table, ...] = (embeddings,)
