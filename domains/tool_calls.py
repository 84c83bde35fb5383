"""tool_calls (fragment v12): tool invocations tied to assistant messages, one ordinal per call in a turn."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, tenant_owned

__all__ = ["TABLES", "conversation_tool_calls"]

conversation_tool_calls = sa.Table(
    "conversation_tool_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_message_id",
        sa.Integer,
        sa.ForeignKey("conversation_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("ordinal", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("tool_name", sa.Text, nullable=False),
    sa.Column("arguments_json", sa.Text, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("result_json", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("error_text", sa.Text),
    sa.Column("started_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("finished_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    created_at(),
    sa.Index("idx_conversation_tool_calls_msg_ord", "conversation_message_id", "ordinal", unique=True),
    sa.Index("idx_conversation_tool_calls_tool", "tool_name"),
    sa.Index("idx_conversation_tool_calls_status", "status"),
    sqlite_autoincrement=True,
)

tenant_owned(conversation_tool_calls)  # revision 0007

TABLES: tuple[sa.Table, ...] = (conversation_tool_calls,)
