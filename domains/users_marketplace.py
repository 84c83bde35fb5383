"""users_marketplace (fragment v3): users, preferences, learned behaviour and the artifact/agent marketplace.

v3 declares no foreign key at all: none of the user-id columns references ``users``.
"""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, bool_int, created_at, metadata, now_column

__all__ = [
    "TABLES",
    "agents",
    "artifact_reviews",
    "artifacts",
    "behavior_events",
    "learned_patterns",
    "user_preferences",
    "users",
]

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("avatar_url", sa.Text),
    sa.Column("role", sa.Text, nullable=False, server_default=sa.text("'user'")),
    created_at(),
)

user_preferences = sa.Table(
    "user_preferences",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    now_column("updated_at"),
    sa.Index("idx_user_preferences_user", "user_id"),
)

behavior_events = sa.Table(
    "behavior_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("context", sa.Text),
    sa.Column("metadata", sa.Text),
    created_at(),
    sa.Index("idx_behavior_user", "user_id"),
    sa.Index("idx_behavior_type", "event_type"),
    sqlite_autoincrement=True,
)

learned_patterns = sa.Table(
    "learned_patterns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("pattern_type", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("confidence", REAL, nullable=False),
    sa.Column("vcs_snapshot_id", sa.Text),
    created_at(),
    sa.Index("idx_learned_patterns_user", "user_id"),
    sa.Index("idx_learned_patterns_category", "user_id", "category"),
    sqlite_autoincrement=True,
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("artifact_type", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("author_id", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("tags", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'public'")),
    sa.Column("downloads", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("avg_rating", REAL, nullable=False, server_default=sa.text("0.0")),
    created_at(),
    sa.Index("idx_artifacts_type", "artifact_type"),
    sa.Index("idx_artifacts_name", "name"),
)

artifact_reviews = sa.Table(
    "artifact_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # No foreign key to artifacts, as upstream.
    sa.Column("artifact_id", sa.Text, nullable=False),
    sa.Column("reviewer_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("rating", sa.Integer),
    created_at(),
    sa.Index("idx_artifact_reviews_target", "artifact_id"),
    sqlite_autoincrement=True,
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("system_prompt", sa.Text),
    sa.Column("tools", sa.Text),
    sa.Column("model_config", sa.Text),
    sa.Column("owner_id", sa.Text),
    sa.Column("version", sa.Text, nullable=False),
    bool_int("is_public", 0),
    created_at(),
    sa.Index("idx_agents_name", "name"),
)

TABLES: tuple[sa.Table, ...] = (
    users,
    user_preferences,
    behavior_events,
    learned_patterns,
    artifacts,
    artifact_reviews,
    agents,
)
