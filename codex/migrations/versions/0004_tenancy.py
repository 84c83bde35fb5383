"""Tenancy and access: API tokens (hashed), change-log ownership, entity ownership.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "codex_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("token_prefix", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", sa.Text(), server_default=sa.text("(datetime('now'))"), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.Text(), nullable=True),
        sa.Column("last_used_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codex_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_codex_access_tokens_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("idx_codex_access_tokens_tenant", "codex_access_tokens", ["tenant"], unique=False)
    op.create_table(
        "codex_change_owners",
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["codex_change_log.id"],
            name=op.f("fk_codex_change_owners_change_id_codex_change_log"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_codex_change_owners")),
    )
    op.create_index(
        "idx_codex_change_owners_tenant", "codex_change_owners", ["tenant", "change_id"], unique=False
    )
    op.create_table(
        "codex_entity_owners",
        sa.Column("entity_kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), server_default=sa.text("(datetime('now'))"), nullable=False),
        sa.PrimaryKeyConstraint("entity_kind", "entity_id", name=op.f("pk_codex_entity_owners")),
    )
    op.create_index(
        "idx_codex_entity_owners_tenant", "codex_entity_owners", ["tenant", "entity_kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("idx_codex_entity_owners_tenant", table_name="codex_entity_owners")
    op.drop_table("codex_entity_owners")
    op.drop_index("idx_codex_change_owners_tenant", table_name="codex_change_owners")
    op.drop_table("codex_change_owners")
    op.drop_index("idx_codex_access_tokens_tenant", table_name="codex_access_tokens")
    op.drop_table("codex_access_tokens")
