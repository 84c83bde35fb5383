"""conversation_graph (fragment v17): research sessions, conversation versions and the lineage graph."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, created_at, metadata, now_column, tenant_column, tenant_owned

__all__ = [
    "TABLES",
    "conversation_edges",
    "conversation_versions",
    "research_sessions",
    "topic_evolution_events",
]

research_sessions = sa.Table(
    "research_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_key", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
    sa.Column("repository_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("config_json", sa.Text),
    sa.Column("summary_json", sa.Text),
    created_at(),
    now_column("updated_at"),
    sa.Index("idx_research_sessions_repo_created", "repository_id", "created_at"),
    tenant_column(),
    sa.Index("idx_research_sessions_status", "status"),
    sa.Index("uq_research_sessions_tenant_key", "tenant_id", "session_key", unique=True),
    sa.Index("idx_research_sessions_tenant_created", "tenant_id", "created_at", "id"),
    sqlite_autoincrement=True,
)

conversation_versions = sa.Table(
    "conversation_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version_index", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("snapshot_json", sa.Text),
    created_at(),
    sa.UniqueConstraint("conversation_id", "version_index"),
    sa.Index("idx_conversation_versions_conv", "conversation_id"),
    sqlite_autoincrement=True,
)

# No UNIQUE on the (from, to) pair: duplicate edges are allowed; only self-loops are rejected.
conversation_edges = sa.Table(
    "conversation_edges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "from_conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "to_conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("edge_kind", sa.Text, nullable=False, server_default=sa.text("'related'")),
    sa.Column("weight", REAL, nullable=False, server_default=sa.text("1.0")),
    sa.Column("metadata_json", sa.Text),
    created_at(),
    sa.CheckConstraint("from_conversation_id != to_conversation_id", name="no_self_loop"),
    sa.Index("idx_conversation_edges_from", "from_conversation_id"),
    sa.Index("idx_conversation_edges_to", "to_conversation_id"),
    sqlite_autoincrement=True,
)

topic_evolution_events = sa.Table(
    "topic_evolution_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("topic_id", sa.Integer, sa.ForeignKey("topics.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_kind", sa.Text, nullable=False),
    sa.Column("prior_label", sa.Text),
    sa.Column("new_label", sa.Text),
    sa.Column("detail_json", sa.Text),
    created_at(),
    sa.Index("idx_topic_evolution_topic_created", "topic_id", "created_at"),
    sqlite_autoincrement=True,
)

# Revision 0007: session keys are unique per tenant (the unique index leads with tenant_id).
tenant_owned(research_sessions, index=False)
tenant_owned(conversation_versions, conversation_edges, topic_evolution_events)

TABLES: tuple[sa.Table, ...] = (
    research_sessions,
    conversation_versions,
    conversation_edges,
    topic_evolution_events,
)
