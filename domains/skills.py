"""skills (fragment v3): published skill manifests with CAS-backed content."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import metadata, now_column

__all__ = ["TABLES", "skill_manifests"]

skill_manifests = sa.Table(
    "skill_manifests",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("manifest_json", sa.Text, nullable=False),
    sa.Column("skill_md", sa.Text, nullable=False),
    now_column("published_at"),
    sa.Index("idx_skill_manifests_id", "id"),
)

TABLES: tuple[sa.Table, ...] = (skill_manifests,)
