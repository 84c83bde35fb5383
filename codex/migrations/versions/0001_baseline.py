"""Baseline: the frozen fragments (v1…v17, plus any a rebaseline appended); schema_version = BASELINE_VERSION.

On an empty database it runs the packaged, digest-pinned baseline statements (never a rendering of
today's ``domains``, which is the schema at head) and records ``schema_version``. On a non-empty
database it adopts the database, like ``alembic stamp``, only when the live schema digest equals the
baseline's; otherwise it refuses with the differences.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from codex.migrate import apply_baseline_or_adopt, drop_baseline

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    apply_baseline_or_adopt(op.get_bind())  # logs a warning when it adopts


def downgrade() -> None:
    drop_baseline(op.get_bind())
