"""usage_governance (fragment v13): usage-limit policy and counted usage per metric, scope and window."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import metadata, now_column

__all__ = ["TABLES", "usage_counter_snapshots", "usage_limit_definitions"]

usage_limit_definitions = sa.Table(
    "usage_limit_definitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("metric_key", sa.Text, nullable=False),
    sa.Column("scope_kind", sa.Text, nullable=False),
    sa.Column("scope_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("period_kind", sa.Text, nullable=False),
    sa.Column("limit_value", sa.Integer, nullable=False),
    sa.Column("enforcement", sa.Text, nullable=False, server_default=sa.text("'hard'")),
    now_column("updated_at"),
    sa.UniqueConstraint("metric_key", "scope_kind", "scope_id", "period_kind"),
    sa.Index("idx_usage_limit_defs_lookup", "metric_key", "scope_kind", "scope_id"),
    sqlite_autoincrement=True,
)

usage_counter_snapshots = sa.Table(
    "usage_counter_snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("metric_key", sa.Text, nullable=False),
    sa.Column("scope_kind", sa.Text, nullable=False),
    sa.Column("scope_id", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("period_start", sa.Text, nullable=False),
    sa.Column("amount", sa.Integer, nullable=False, server_default=sa.text("0")),
    now_column("updated_at"),
    sa.UniqueConstraint("metric_key", "scope_kind", "scope_id", "period_start"),
    # Same columns as the UNIQUE constraint, but not itself unique (as upstream).
    sa.Index("idx_usage_counters_lookup", "metric_key", "scope_kind", "scope_id", "period_start"),
    sqlite_autoincrement=True,
)

TABLES: tuple[sa.Table, ...] = (usage_limit_definitions, usage_counter_snapshots)
