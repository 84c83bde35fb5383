"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codex.migrate import record_schema_version, remove_schema_version
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# schema_version recorded at this revision: the previous revision's value + 1 (see README, "schema_version").
codex_schema_version: int = 0  # TODO: set to the previous revision's codex_schema_version + 1


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    record_schema_version(op.get_bind(), codex_schema_version)


def downgrade() -> None:
    remove_schema_version(op.get_bind(), codex_schema_version)
    ${downgrades if downgrades else "pass"}
