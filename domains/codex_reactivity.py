"""codex_reactivity (fragments v8 + v9): Convex-style hooks: lineage, change log, subscriptions, snapshots."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata, now_column, tenant_owned

__all__ = [
    "TABLES",
    "codex_change_log",
    "codex_projection_versions",
    "codex_query_snapshots",
    "codex_schema_lineage",
    "codex_subscriptions",
]

codex_schema_lineage = sa.Table(
    "codex_schema_lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("baseline_id", sa.Text, nullable=False),
    sa.Column("schema_digest", sa.Text, nullable=False),
    sa.Column("provenance", sa.Text),
    created_at(),
    # Created by fragment v9, not v8; the fragment manifest records that.
    sa.Index("idx_codex_schema_lineage_baseline", "baseline_id"),
    sqlite_autoincrement=True,
)

codex_change_log = sa.Table(
    "codex_change_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("entity_kind", sa.Text),
    sa.Column("entity_id", sa.Text),
    sa.Column("change_kind", sa.Text, nullable=False),
    sa.Column("payload_json", sa.Text),
    created_at(),
    sa.Index("idx_codex_change_log_topic", "topic"),
    sa.Index("idx_codex_change_log_created", "created_at"),
    sqlite_autoincrement=True,
)

codex_subscriptions = sa.Table(
    "codex_subscriptions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("filter_json", sa.Text),
    sa.Column("client_hint", sa.Text),
    created_at(),
    sa.Index("idx_codex_subscriptions_topic", "topic"),
)

codex_query_snapshots = sa.Table(
    "codex_query_snapshots",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("query_name", sa.Text, nullable=False),
    sa.Column("snapshot_json", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_codex_query_snapshots_name", "query_name"),
)

codex_projection_versions = sa.Table(
    "codex_projection_versions",
    metadata,
    sa.Column("projection_name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    now_column("updated_at"),
)

# Revision 0007: change rows, subscriptions, query snapshots and projection versions carry their tenant.
tenant_owned(codex_change_log, codex_subscriptions, codex_query_snapshots, codex_projection_versions)

TABLES: tuple[sa.Table, ...] = (
    codex_schema_lineage,
    codex_change_log,
    codex_subscriptions,
    codex_query_snapshots,
    codex_projection_versions,
)
