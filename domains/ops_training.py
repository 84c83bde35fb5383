"""ops_training (fragment v3): RLHF interactions and feedback, research metrics, evals and typed streams."""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import REAL, created_at, metadata, tenant_owned

__all__ = [
    "TABLES",
    "eval_runs",
    "llm_feedback",
    "llm_interactions",
    "populi_reviews",
    "research_metrics",
    "typed_stream_events",
]

llm_interactions = sa.Table(
    "llm_interactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("token_count", sa.Integer),
    created_at(),
    sa.Index("idx_llm_interactions_session", "session_id"),
    sqlite_autoincrement=True,
)

llm_feedback = sa.Table(
    "llm_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # No foreign key to llm_interactions, as upstream.
    sa.Column("interaction_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Text),
    sa.Column("rating", sa.Integer),
    sa.Column("feedback_type", sa.Text, nullable=False),
    sa.Column("correction_text", sa.Text),
    sa.Column("preferred_response", sa.Text),
    created_at(),
    sa.Index("idx_llm_feedback_interaction", "interaction_id"),
    sqlite_autoincrement=True,
)

research_metrics = sa.Table(
    "research_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("metric_type", sa.Text, nullable=False),
    sa.Column("metric_value", REAL),
    sa.Column("metadata_json", sa.Text),
    created_at(),
    sa.Index("idx_research_metrics_session", "session_id", "metric_type"),
    sqlite_autoincrement=True,
)

eval_runs = sa.Table(
    "eval_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False, unique=True),
    sa.Column("model_path", sa.Text),
    sa.Column("format_validity", REAL),
    sa.Column("safety_rejection_rate", REAL),
    sa.Column("quality_proxy", REAL),
    sa.Column("metadata_json", sa.Text),
    created_at(),
    sqlite_autoincrement=True,
)

typed_stream_events = sa.Table(
    "typed_stream_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("stream_id", sa.Text, nullable=False),
    sa.Column("payload_json", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_typed_stream_events_stream", "stream_id"),
    sqlite_autoincrement=True,
)

populi_reviews = sa.Table(
    "populi_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target_id", sa.Text, nullable=False),
    sa.Column("review_kind", sa.Text, nullable=False),
    sa.Column("payload_json", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_populi_reviews_target", "target_id"),
    sqlite_autoincrement=True,
)

tenant_owned(research_metrics)  # revision 0007: a research session's metrics are its tenant's

TABLES: tuple[sa.Table, ...] = (
    llm_interactions,
    llm_feedback,
    research_metrics,
    eval_runs,
    typed_stream_events,
    populi_reviews,
)
