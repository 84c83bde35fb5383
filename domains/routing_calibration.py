"""routing_calibration (fragment v10): Socrates-style per-agent routing reliability scores (ADR 005)."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, metadata

__all__ = ["TABLES", "agent_reliability"]

agent_reliability = sa.Table(
    "agent_reliability",
    metadata,
    sa.Column("agent_id", sa.Integer, primary_key=True),
    sa.Column("reliability", REAL, nullable=False, server_default=sa.text("0.5")),
    sa.Column("updated_at_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
)

TABLES: tuple[sa.Table, ...] = (agent_reliability,)
