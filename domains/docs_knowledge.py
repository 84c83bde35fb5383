"""docs_knowledge (fragment v3): the docs/RAG knowledge graph and code snippets."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, created_at, metadata

__all__ = ["TABLES", "knowledge_edges", "knowledge_nodes", "snippets"]

knowledge_nodes = sa.Table(
    "knowledge_nodes",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("content", sa.Text),
    sa.Column("node_type", sa.Text, nullable=False, server_default=sa.text("'concept'")),
    sa.Column("metadata", sa.Text),
    created_at(),
)

# No foreign key to knowledge_nodes, as upstream.
knowledge_edges = sa.Table(
    "knowledge_edges",
    metadata,
    sa.Column("src_id", sa.Text, primary_key=True),
    sa.Column("dst_id", sa.Text, primary_key=True),
    sa.Column("relation", sa.Text, primary_key=True),
    sa.Column("weight", REAL, nullable=False, server_default=sa.text("1.0")),
    created_at(),
    sa.Index("idx_knowledge_edges_src", "src_id"),
    sa.Index("idx_knowledge_edges_dst", "dst_id"),
)

snippets = sa.Table(
    "snippets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.Text),
    sa.Column("author_id", sa.Text),
    sa.Column("source_ref", sa.Text),
    sa.Column("embedding_ref", sa.Text),
    created_at(),
    sa.Index("idx_snippets_lang", "language"),
    sa.Index("idx_snippets_title", "title"),
    sqlite_autoincrement=True,
)

TABLES: tuple[sa.Table, ...] = (knowledge_nodes, knowledge_edges, snippets)
