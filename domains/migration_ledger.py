"""codex_migration_ledger (forward revision 0002): one row per applied Alembic step.

Written by ``migrations/env.py`` for every upgrade and downgrade step (and for the baseline's
adoption of an existing database): what ran, from where to where, the live schema digest before and
after, when, how long, on which host by whom, and the error text of a failed attempt. Not part of the
v1–v17 baseline: it is created by the first forward revision.
"""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import metadata

__all__ = ["TABLES", "codex_migration_ledger"]

codex_migration_ledger = sa.Table(
    "codex_migration_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Text, nullable=False),
    sa.Column("from_revision", sa.Text),
    sa.Column("to_revision", sa.Text),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("schema_version", sa.Integer),
    sa.Column("digest_before", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("digest_after", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("host", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("operator", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("error_text", sa.Text),
    sa.CheckConstraint("direction IN ('upgrade', 'downgrade', 'adopt')", name="direction"),
    sa.Index("idx_codex_migration_ledger_revision", "revision"),
    sqlite_autoincrement=True,
)

TABLES: tuple[sa.Table, ...] = (codex_migration_ledger,)
