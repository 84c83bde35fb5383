"""Applied-revision ledger: one row per Alembic step (revision, from/to, digests, times, host, error).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "codex_migration_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Text(), nullable=False),
        sa.Column("from_revision", sa.Text(), nullable=True),
        sa.Column("to_revision", sa.Text(), nullable=True),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=True),
        sa.Column("digest_before", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("digest_after", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("host", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("operator", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("error_text", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "direction IN ('upgrade', 'downgrade', 'adopt')", name=op.f("ck_codex_migration_ledger_direction")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codex_migration_ledger")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("codex_migration_ledger", schema=None) as batch_op:
        batch_op.create_index("idx_codex_migration_ledger_revision", ["revision"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("codex_migration_ledger", schema=None) as batch_op:
        batch_op.drop_index("idx_codex_migration_ledger_revision")
    op.drop_table("codex_migration_ledger")
