"""core_cas (fragments v1 + v2): content-addressed blobs, name bindings, causal links, metadata."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column

__all__ = ["TABLES", "causal", "names", "object_metadata", "objects"]

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("hash", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    created_at(),
)

names = sa.Table(
    "names",
    metadata,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("hash", sa.Text, sa.ForeignKey("objects.hash"), nullable=False),
    now_column("updated_at"),
    sa.Index("idx_names_hash", "hash"),
)

causal = sa.Table(
    "causal",
    metadata,
    sa.Column("hash", sa.Text, sa.ForeignKey("objects.hash"), primary_key=True),
    sa.Column("parent_hash", sa.Text, sa.ForeignKey("objects.hash"), primary_key=True),
    sa.Index("idx_causal_parent", "parent_hash"),
)

# Named ``object_metadata`` in Python because ``metadata`` is the shared MetaData; the table is ``metadata``.
object_metadata = sa.Table(
    "metadata",
    metadata,
    sa.Column("hash", sa.Text, sa.ForeignKey("objects.hash"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("idx_metadata_hash", "hash"),
)

TABLES: tuple[sa.Table, ...] = (objects, names, causal, object_metadata)
