"""schema_version (fragment v2): the bookkeeping table of applied schema versions (outside the 18 domains)."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import metadata, now_column

__all__ = ["TABLES", "schema_version"]

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    now_column("applied_at"),
)

TABLES: tuple[sa.Table, ...] = (schema_version,)
