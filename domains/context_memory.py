"""context_memory (fragments v3 + v6): memories, builder sessions, snapshots and agent telemetry.

``db_snapshots`` (v3) is outside the design document's domain list; it lives here because it holds
the orchestrator's undo/redo snapshots of context memory.
"""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, bool_int, created_at, metadata, now_column

__all__ = [
    "TABLES",
    "a2a_messages",
    "agent_events",
    "agent_metrics",
    "agent_sessions",
    "builder_sessions",
    "cost_records",
    "db_snapshots",
    "memories",
    "session_turns",
]

# --- v3 -------------------------------------------------------------------------------------------

memories = sa.Table(
    "memories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("memory_type", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text),
    sa.Column("importance", REAL, nullable=False, server_default=sa.text("1.0")),
    sa.Column("vcs_snapshot_id", sa.Text),
    created_at(),
    sa.Index("idx_memories_agent", "agent_id"),
    sa.Index("idx_memories_type", "memory_type"),
    sa.Index("idx_memories_created", "created_at"),
    sqlite_autoincrement=True,
)

db_snapshots = sa.Table(
    "db_snapshots",
    metadata,
    # INTEGER PRIMARY KEY without AUTOINCREMENT.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    created_at(),
)

builder_sessions = sa.Table(
    "builder_sessions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("payload_json", sa.Text, nullable=False),
    created_at(),
)

session_turns = sa.Table(
    "session_turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("payload_json", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_session_turns_session", "session_id"),
    sqlite_autoincrement=True,
)

# --- v6 -------------------------------------------------------------------------------------------

agent_sessions = sa.Table(
    "agent_sessions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("agent_name", sa.Text),
    now_column("started_at"),
    sa.Column("ended_at", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
    sa.Column("task_snapshot", sa.Text),
    sa.Column("context_summary", sa.Text),
    sa.Index("idx_agent_sessions_agent", "agent_id"),
    sa.Index("idx_agent_sessions_status", "status"),
)

agent_events = sa.Table(
    "agent_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", sa.Text),
    now_column("timestamp"),
    sa.Index("idx_agent_events_agent", "agent_id"),
    sa.Index("idx_agent_events_type", "event_type"),
    sa.Index("idx_agent_events_ts", "timestamp"),
    sqlite_autoincrement=True,
)

cost_records = sa.Table(
    "cost_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("cost_usd", REAL, nullable=False, server_default=sa.text("0.0")),
    now_column("timestamp"),
    sa.Index("idx_cost_records_agent", "agent_id"),
    sa.Index("idx_cost_records_session", "session_id"),
    sa.Index("idx_cost_records_ts", "timestamp"),
    sqlite_autoincrement=True,
)

a2a_messages = sa.Table(
    "a2a_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("receiver", sa.Text),
    sa.Column("msg_type", sa.Text, nullable=False),
    sa.Column("payload", sa.Text),
    sa.Column("correlation_id", sa.Text),
    bool_int("acknowledged", 0),
    now_column("timestamp"),
    sa.Index("idx_a2a_messages_sender", "sender"),
    sa.Index("idx_a2a_messages_receiver", "receiver"),
    sa.Index("idx_a2a_messages_type", "msg_type"),
    sqlite_autoincrement=True,
)

agent_metrics = sa.Table(
    "agent_metrics",
    metadata,
    sa.Column("agent_id", sa.Text, primary_key=True),
    sa.Column("metric_name", sa.Text, primary_key=True),
    sa.Column("metric_value", REAL, nullable=False, server_default=sa.text("0.0")),
    sa.Column("period", sa.Text, primary_key=True, server_default=sa.text("'session'")),
    now_column("timestamp"),
)

TABLES: tuple[sa.Table, ...] = (
    memories,
    db_snapshots,
    builder_sessions,
    session_turns,
    agent_sessions,
    agent_events,
    cost_records,
    a2a_messages,
    agent_metrics,
)
