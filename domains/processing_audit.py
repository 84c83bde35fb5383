"""processing_audit (fragment v16): durable processing-run tracking, run steps and the audit trail."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column, tenant_owned

__all__ = ["TABLES", "audit_log", "processing_run_steps", "processing_runs"]

processing_runs = sa.Table(
    "processing_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'queued'")),
    sa.Column("scope_kind", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("scope_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("correlation_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("payload_json", sa.Text),
    sa.Column("error_text", sa.Text),
    created_at(),
    now_column("updated_at"),
    sa.Column("started_at", sa.Text),
    sa.Column("completed_at", sa.Text),
    sa.Index("idx_processing_runs_status_created", "status", "created_at"),
    sa.Index("idx_processing_runs_scope", "scope_kind", "scope_id"),
    sa.Index("idx_processing_runs_kind", "run_kind"),
    sqlite_autoincrement=True,
)

processing_run_steps = sa.Table(
    "processing_run_steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "processing_run_id",
        sa.Integer,
        sa.ForeignKey("processing_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("step_name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("detail_json", sa.Text),
    sa.Column("started_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("finished_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    created_at(),
    sa.UniqueConstraint("processing_run_id", "step_index"),
    sa.Index("idx_processing_run_steps_run", "processing_run_id"),
    sqlite_autoincrement=True,
)

# Append-only by convention.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("resource_kind", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("resource_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("scope_kind", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("scope_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("payload_json", sa.Text),
    created_at(),
    sa.Index("idx_audit_log_scope_created", "scope_kind", "scope_id", "created_at"),
    sa.Index("idx_audit_log_resource_created", "resource_kind", "resource_id", "created_at"),
    sqlite_autoincrement=True,
)

# Revision 0007; the tenant indexes of runs and audit rows also serve their list order (newest first).
tenant_owned(processing_runs, audit_log, index=False)
sa.Index(
    "idx_processing_runs_tenant_created",
    processing_runs.c.tenant_id,
    processing_runs.c.created_at,
    processing_runs.c.id,
)
sa.Index("idx_audit_log_tenant_created", audit_log.c.tenant_id, audit_log.c.created_at, audit_log.c.id)
tenant_owned(processing_run_steps)

TABLES: tuple[sa.Table, ...] = (processing_runs, processing_run_steps, audit_log)
