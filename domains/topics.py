"""topics (fragment v14): topic tagging of conversation threads and of single messages."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, created_at, metadata, tenant_column, tenant_owned

__all__ = ["TABLES", "conversation_message_topics", "conversation_topics", "topics"]

topics = sa.Table(
    "topics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=sa.text("''")),
    created_at(),
    tenant_column(),
    sa.Index("idx_topics_label", "label"),
    sa.Index("uq_topics_tenant_slug", "tenant_id", "slug", unique=True),
    sqlite_autoincrement=True,
)

conversation_topics = sa.Table(
    "conversation_topics",
    metadata,
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("topic_id", sa.Integer, sa.ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("weight", REAL, nullable=False, server_default=sa.text("1.0")),
    sa.Index("idx_conversation_topics_topic", "topic_id"),
)

conversation_message_topics = sa.Table(
    "conversation_message_topics",
    metadata,
    sa.Column(
        "conversation_message_id",
        sa.Integer,
        sa.ForeignKey("conversation_messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("topic_id", sa.Integer, sa.ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("idx_conversation_message_topics_topic", "topic_id"),
)

# Revision 0007: slugs are unique per tenant (the unique index leads with tenant_id).
tenant_owned(topics, index=False)
tenant_owned(conversation_topics, conversation_message_topics)

TABLES: tuple[sa.Table, ...] = (topics, conversation_topics, conversation_message_topics)
