"""The fragment manifest: the ordered, append-only list of baseline fragments v1…v17.

A fragment names what it adds; the DDL itself is rendered from the ``Table`` objects in
``domains/`` (see :mod:`codex.schema._render`). Append-only is enforced by
``contracts/db/baseline-fragments.yaml`` and its tests: editing an existing fragment changes its
digest and fails the suite; only appending a new fragment is allowed.

Two decisions recorded here (and in the README):

* **v4** upstream is ``ALTER TABLE packages ADD COLUMN yanked …``. Codex folds the column into the
  ``packages`` table of v2 (as upstream's later domain era did), because an ``ALTER`` is not
  idempotent and cannot be expressed as ``CREATE … IF NOT EXISTS``. The fragment stays in the list,
  naming the column it historically added, and renders to nothing.
* **v5** upstream creates the four ``gamify_*`` tables. The design document drops gamification from
  the default baseline, so Codex does not create them; the fragment stays (renders to nothing) so
  that the numbering keeps its meaning. **v7** is empty upstream and here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BASELINE_VERSION", "SCHEMA_FRAGMENTS", "Fragment"]

BASELINE_VERSION = 1
"""The ``schema_version`` a fresh baseline database records (upstream v1–v17 era value)."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One historical slice of the baseline.

    Attributes:
        version: The fragment number (1-based, contiguous).
        title: What the fragment is about.
        tables: Tables it creates, in creation order; each is followed by its own indexes.
        indexes: Indexes it adds on tables of earlier fragments (v9).
        columns: ``table.column`` additions folded into their table's ``CREATE`` (v4).
        dropped: Upstream objects of this fragment that Codex deliberately does not create (v5).
    """

    version: int
    title: str
    tables: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``"v<N>"``."""
        return f"v{self.version}"


SCHEMA_FRAGMENTS: tuple[Fragment, ...] = (
    Fragment(1, "core_cas: objects, names, causal", tables=("objects", "names", "causal")),
    Fragment(
        2,
        "bookkeeping, CAS metadata, packages, workflows",
        tables=(
            "schema_version",
            "metadata",
            "packages",
            "package_deps",
            "execution_log",
            "scheduled",
            "components",
        ),
    ),
    Fragment(
        3,
        "users, memory, knowledge, embeddings, training ops, marketplace, skills",
        tables=(
            "users",
            "user_preferences",
            "memories",
            "knowledge_nodes",
            "knowledge_edges",
            "embeddings",
            "behavior_events",
            "learned_patterns",
            "llm_interactions",
            "llm_feedback",
            "snippets",
            "artifacts",
            "artifact_reviews",
            "agents",
            "skill_manifests",
            "db_snapshots",
            "research_metrics",
            "eval_runs",
            "builder_sessions",
            "session_turns",
            "typed_stream_events",
            "populi_reviews",
        ),
    ),
    Fragment(4, "packages.yanked (folded into the v2 packages table)", columns=("packages.yanked",)),
    Fragment(
        5,
        "gamification (dropped from the Codex baseline by the design document)",
        dropped=("gamify_profiles", "gamify_companions", "gamify_quests", "gamify_battles"),
    ),
    Fragment(
        6,
        "agent telemetry",
        tables=("agent_sessions", "agent_events", "cost_records", "a2a_messages", "agent_metrics"),
    ),
    Fragment(7, "empty (no-op)"),
    Fragment(
        8,
        "codex reactivity and schema lineage",
        tables=(
            "codex_schema_lineage",
            "codex_change_log",
            "codex_subscriptions",
            "codex_query_snapshots",
            "codex_projection_versions",
        ),
    ),
    Fragment(9, "schema lineage index", indexes=("idx_codex_schema_lineage_baseline",)),
    Fragment(10, "routing calibration", tables=("agent_reliability",)),
    Fragment(11, "user chat", tables=("conversations", "conversation_messages")),
    Fragment(12, "tool calls", tables=("conversation_tool_calls",)),
    Fragment(13, "usage governance", tables=("usage_limit_definitions", "usage_counter_snapshots")),
    Fragment(14, "topics", tables=("topics", "conversation_topics", "conversation_message_topics")),
    Fragment(
        15, "search ingest", tables=("search_documents", "search_document_chunks", "search_indexing_jobs")
    ),
    Fragment(16, "processing and audit", tables=("processing_runs", "processing_run_steps", "audit_log")),
    Fragment(
        17,
        "conversation graph",
        tables=("research_sessions", "conversation_versions", "conversation_edges", "topic_evolution_events"),
    ),
)
