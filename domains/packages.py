"""packages (fragments v2 + v4): the package registry, its dependency edges and the yank flag."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import bool_int, metadata, now_column

__all__ = ["TABLES", "package_deps", "packages"]

packages = sa.Table(
    "packages",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("hash", sa.Text, sa.ForeignKey("objects.hash"), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("license", sa.Text),
    now_column("published_at"),
    # Added by fragment v4 (``ALTER TABLE packages ADD COLUMN yanked``); folded into the table here.
    bool_int("yanked", 0),
    sa.Index("idx_packages_hash", "hash"),
)

package_deps = sa.Table(
    "package_deps",
    metadata,
    sa.Column("package_name", sa.Text, primary_key=True),
    sa.Column("package_version", sa.Text, primary_key=True),
    sa.Column("dep_name", sa.Text, primary_key=True),
    sa.Column("dep_version_req", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(
        ["package_name", "package_version"],
        ["packages.name", "packages.version"],
    ),
)

TABLES: tuple[sa.Table, ...] = (packages, package_deps)
