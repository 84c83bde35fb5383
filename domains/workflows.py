"""workflows (fragment v2): durable execution log, scheduled functions and the component registry."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column

__all__ = ["TABLES", "components", "execution_log", "scheduled"]

execution_log = sa.Table(
    "execution_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("workflow_id", sa.Text, nullable=False),
    sa.Column("activity_name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("input", sa.LargeBinary),
    sa.Column("output", sa.LargeBinary),
    sa.Column("error", sa.Text),
    sa.Column("options", sa.Text),
    created_at(),
    now_column("updated_at"),
    sa.Index("idx_exec_log_workflow", "workflow_id"),
    sa.Index("idx_exec_log_status", "status"),
    sqlite_autoincrement=True,
)

scheduled = sa.Table(
    "scheduled",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("function_hash", sa.Text, sa.ForeignKey("objects.hash"), nullable=False),
    sa.Column("args", sa.LargeBinary),
    sa.Column("run_at", sa.Text, nullable=False),
    sa.Column("cron_expr", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    created_at(),
    sa.Index("idx_scheduled_run_at", "run_at"),
    sa.Index("idx_scheduled_status", "status"),
    sqlite_autoincrement=True,
)

components = sa.Table(
    "components",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("namespace", sa.Text, nullable=False),
    sa.Column("schema_hash", sa.Text, sa.ForeignKey("objects.hash")),
    sa.Column("description", sa.Text),
    sa.Column("version", sa.Text, nullable=False, server_default=sa.text("'0.1.0'")),
    created_at(),
    sa.Index("idx_components_namespace", "namespace"),
)

TABLES: tuple[sa.Table, ...] = (execution_log, scheduled, components)
