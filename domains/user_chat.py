"""user_chat (fragment v11): human-facing chat threads and their messages."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column, tenant_owned

__all__ = ["TABLES", "conversation_messages", "conversations"]

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
    created_at(),
    now_column("updated_at"),
    sa.Index("idx_conversations_user", "user_id"),
    sa.Index("idx_conversations_updated", "updated_at"),
    sqlite_autoincrement=True,
)

conversation_messages = sa.Table(
    "conversation_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("content_text", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("payload_json", sa.Text),
    created_at(),
    sa.Index("idx_conversation_messages_conv", "conversation_id"),
    sa.Index("idx_conversation_messages_created", "conversation_id", "created_at"),
    sqlite_autoincrement=True,
)

# Revision 0007; the tenant index of conversations also serves their list order (newest first).
tenant_owned(conversations, index=False)
sa.Index(
    "idx_conversations_tenant_updated",
    conversations.c.tenant_id,
    conversations.c.updated_at,
    conversations.c.id,
)
tenant_owned(conversation_messages)

TABLES: tuple[sa.Table, ...] = (conversations, conversation_messages)
