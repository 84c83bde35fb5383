"""Tenancy as a property of the rows: ``tenant_id`` on every tenant-owned table; names unique per tenant.

* ``tenant_id TEXT NOT NULL DEFAULT 'default'`` (+ ``idx_<table>_tenant``) on the tables a tenant reaches
  through the API: conversations, their messages, tool calls and topic links, topics, research sessions
  and metrics, conversation versions and edges, topic evolution events, processing runs and steps, the
  audit log, the change log, subscriptions, query snapshots and projection versions
  (``domains._meta.tenant_owned``). Plain ``ALTER TABLE … ADD COLUMN`` (a constant default): no rebuild.
  Lists ordered by time get ``(tenant_id, <time>, id)`` instead, so a tenant's page stays an index walk.
* ``topics.slug`` and ``research_sessions.session_key`` become unique per tenant
  (``uq_topics_tenant_slug``, ``uq_research_sessions_tenant_key``): both tables are rebuilt with literal
  SQL (so ``--sql`` renders it), keeping ids, rows, indexes and the AUTOINCREMENT sequence.
* ``search_documents.metadata_json``: a document's JSON metadata (``POST /api/search/documents``).
* Backfill from the side tables of revision 0004 — ``codex_entity_owners`` (conversations, topics,
  research sessions) and ``codex_change_owners`` (change rows) — then children from their parents
  (messages, tool calls, links, versions, edges, evolution events, metrics), processing runs and audit
  rows from their ``scope_kind = 'tenant'`` scope; then both side tables are dropped. Query snapshots and
  projection versions (derived, keyed by ``<tenant>:<name>`` without parameters) are cleared: the next read
  records them under (tenant, query, canonical parameters).

Downgrade recreates the side tables from the non-default ``tenant_id`` values and drops the columns; it
fails (IntegrityError, nothing applied) when two tenants hold the same topic slug or session key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# schema_version and the migration ledger are written by Codex's migration environment after this
# revision runs (derived from the chain: see "schema_version" in the README); nothing to fill in here.

review_acknowledged = {
    "destructive": "topics and research_sessions are rebuilt (every row copied first, ids and the "
    "AUTOINCREMENT sequence kept); codex_entity_owners and codex_change_owners are dropped only after their "
    "rows were moved into tenant_id (the downgrade rebuilds them from it)",
}
"""Findings of ``codex db review`` this revision accepts, with the reason (shown as info)."""

ADDED = (
    "conversations",
    "conversation_messages",
    "conversation_tool_calls",
    "conversation_topics",
    "conversation_message_topics",
    "conversation_versions",
    "conversation_edges",
    "topic_evolution_events",
    "research_metrics",
    "processing_runs",
    "processing_run_steps",
    "audit_log",
    "codex_change_log",
    "codex_subscriptions",
    "codex_query_snapshots",
    "codex_projection_versions",
)
"""Tables that get the column by ``ALTER TABLE … ADD COLUMN`` (and ``idx_<table>_tenant``)."""

ORDERED = {
    "conversations": ("idx_conversations_tenant_updated", ["tenant_id", "updated_at", "id"]),
    "processing_runs": ("idx_processing_runs_tenant_created", ["tenant_id", "created_at", "id"]),
    "audit_log": ("idx_audit_log_tenant_created", ["tenant_id", "created_at", "id"]),
}
"""Tables whose tenant index also serves their list order (newest first): one tenant's page is an index
walk even when the planner has statistics (``ANALYZE``) that would otherwise favour walking the global
time index through every other tenant's newer rows."""

# Frozen DDL (revision 0006 → 0007). Columns in their stored order; tenant_id last.
TOPICS_NEW = """CREATE TABLE _codex_new_topics (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	slug TEXT NOT NULL,
	label TEXT DEFAULT '' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	tenant_id TEXT DEFAULT 'default' NOT NULL
)"""
TOPICS_OLD = """CREATE TABLE _codex_new_topics (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	slug TEXT NOT NULL,
	label TEXT DEFAULT '' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_topics_slug UNIQUE (slug)
)"""
TOPICS_COLUMNS = "id, slug, label, created_at"
TOPICS_INDEXES_NEW = (
    "CREATE INDEX idx_topics_label ON topics (label)",
    "CREATE UNIQUE INDEX uq_topics_tenant_slug ON topics (tenant_id, slug)",
)
TOPICS_INDEXES_OLD = ("CREATE INDEX idx_topics_label ON topics (label)",)

SESSIONS_COLUMNS = (
    "id, session_key, title, status, repository_id, config_json, summary_json, created_at, updated_at"
)
_SESSIONS_BODY = """	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_key TEXT NOT NULL,
	title TEXT DEFAULT '' NOT NULL,
	status TEXT DEFAULT 'active' NOT NULL,
	repository_id TEXT DEFAULT '' NOT NULL,
	config_json TEXT,
	summary_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL"""
SESSIONS_NEW = f"CREATE TABLE _codex_new_research_sessions (\n{_SESSIONS_BODY},\n\ttenant_id TEXT DEFAULT 'default' NOT NULL\n)"
SESSIONS_OLD = (
    f"CREATE TABLE _codex_new_research_sessions (\n{_SESSIONS_BODY},\n"
    "\tCONSTRAINT uq_research_sessions_session_key UNIQUE (session_key)\n)"
)
_SESSIONS_INDEXES = (
    "CREATE INDEX idx_research_sessions_repo_created ON research_sessions (repository_id, created_at)",
    "CREATE INDEX idx_research_sessions_status ON research_sessions (status)",
)
SESSIONS_INDEXES_NEW = (
    *_SESSIONS_INDEXES,
    "CREATE UNIQUE INDEX uq_research_sessions_tenant_key ON research_sessions (tenant_id, session_key)",
    "CREATE INDEX idx_research_sessions_tenant_created ON research_sessions (tenant_id, created_at, id)",
)

OWNERS_DDL = (
    """CREATE TABLE codex_change_owners (
	change_id INTEGER NOT NULL,
	tenant TEXT NOT NULL,
	CONSTRAINT pk_codex_change_owners PRIMARY KEY (change_id),
	CONSTRAINT fk_codex_change_owners_change_id_codex_change_log FOREIGN KEY(change_id) REFERENCES codex_change_log (id) ON DELETE CASCADE
)""",
    "CREATE INDEX idx_codex_change_owners_tenant ON codex_change_owners (tenant, change_id)",
    """CREATE TABLE codex_entity_owners (
	entity_kind TEXT NOT NULL,
	entity_id TEXT NOT NULL,
	tenant TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_codex_entity_owners PRIMARY KEY (entity_kind, entity_id)
)""",
    "CREATE INDEX idx_codex_entity_owners_tenant ON codex_entity_owners (tenant, entity_kind)",
)

BACKFILL = (
    # Roots, from the ownership rows of revision 0004 (no row = tenant 'default', the column default).
    """UPDATE conversations SET tenant_id = o.tenant FROM codex_entity_owners AS o
       WHERE o.entity_kind = 'conversation' AND o.entity_id = CAST(conversations.id AS TEXT)""",
    """UPDATE topics SET tenant_id = o.tenant FROM codex_entity_owners AS o
       WHERE o.entity_kind = 'topic' AND o.entity_id = CAST(topics.id AS TEXT)""",
    """UPDATE research_sessions SET tenant_id = o.tenant FROM codex_entity_owners AS o
       WHERE o.entity_kind = 'research_session' AND o.entity_id = research_sessions.session_key""",
    """UPDATE codex_change_log SET tenant_id = o.tenant FROM codex_change_owners AS o
       WHERE o.change_id = codex_change_log.id""",
    # Children take their parent's tenant.
    """UPDATE conversation_messages SET tenant_id = c.tenant_id FROM conversations AS c
       WHERE c.id = conversation_messages.conversation_id""",
    """UPDATE conversation_tool_calls SET tenant_id = m.tenant_id FROM conversation_messages AS m
       WHERE m.id = conversation_tool_calls.conversation_message_id""",
    """UPDATE conversation_topics SET tenant_id = c.tenant_id FROM conversations AS c
       WHERE c.id = conversation_topics.conversation_id""",
    """UPDATE conversation_message_topics SET tenant_id = m.tenant_id FROM conversation_messages AS m
       WHERE m.id = conversation_message_topics.conversation_message_id""",
    """UPDATE conversation_versions SET tenant_id = c.tenant_id FROM conversations AS c
       WHERE c.id = conversation_versions.conversation_id""",
    """UPDATE conversation_edges SET tenant_id = c.tenant_id FROM conversations AS c
       WHERE c.id = conversation_edges.from_conversation_id""",
    """UPDATE topic_evolution_events SET tenant_id = t.tenant_id FROM topics AS t
       WHERE t.id = topic_evolution_events.topic_id""",
    """UPDATE research_metrics SET tenant_id = s.tenant_id FROM research_sessions AS s
       WHERE s.session_key = research_metrics.session_id""",
    # Runs and audit rows written through the API carry scope ('tenant', <tenant>).
    """UPDATE processing_runs SET tenant_id = scope_id
       WHERE scope_kind = 'tenant' AND scope_id GLOB '[a-z0-9]*' AND length(scope_id) <= 63""",
    """UPDATE processing_run_steps SET tenant_id = r.tenant_id FROM processing_runs AS r
       WHERE r.id = processing_run_steps.processing_run_id""",
    """UPDATE audit_log SET tenant_id = scope_id
       WHERE scope_kind = 'tenant' AND scope_id GLOB '[a-z0-9]*' AND length(scope_id) <= 63""",
    # Query snapshots and projection versions are derived data keyed the old way ("<tenant>:<name>", no
    # parameters): dropped, and recorded again under (tenant, query, parameters) by the next read.
    "DELETE FROM codex_query_snapshots",
    "DELETE FROM codex_projection_versions",
)

OWNERS_BACK = (
    """INSERT INTO codex_entity_owners (entity_kind, entity_id, tenant)
       SELECT 'conversation', CAST(id AS TEXT), tenant_id FROM conversations WHERE tenant_id <> 'default'""",
    """INSERT INTO codex_entity_owners (entity_kind, entity_id, tenant)
       SELECT 'topic', CAST(id AS TEXT), tenant_id FROM topics WHERE tenant_id <> 'default'""",
    """INSERT INTO codex_entity_owners (entity_kind, entity_id, tenant)
       SELECT 'research_session', session_key, tenant_id FROM research_sessions WHERE tenant_id <> 'default'""",
    """INSERT INTO codex_change_owners (change_id, tenant)
       SELECT id, tenant_id FROM codex_change_log WHERE tenant_id <> 'default'""",
)


def _rebuild(table: str, create: str, columns: str, indexes: Sequence[str]) -> None:
    """Rebuild ``table`` from ``create`` (a ``_codex_new_<table>``), keeping rows, ids and the sequence."""
    new = f"_codex_new_{table}"
    op.execute(create)
    op.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {table}")
    op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{new}'")
    op.execute(
        f"INSERT INTO sqlite_sequence (name, seq) SELECT '{new}', seq FROM sqlite_sequence WHERE name = '{table}'"
    )
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {new} RENAME TO {table}")
    for ddl in indexes:
        op.execute(ddl)


def _tenant_column() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.Text(), server_default=sa.text("'default'"), nullable=False)


def upgrade() -> None:
    for table in ADDED:
        op.add_column(table, _tenant_column())
        name, columns = ORDERED.get(table, (f"idx_{table}_tenant", ["tenant_id"]))
        op.create_index(name, table, columns, unique=False)
    op.add_column("search_documents", sa.Column("metadata_json", sa.Text(), nullable=True))
    _rebuild("topics", TOPICS_NEW, TOPICS_COLUMNS, TOPICS_INDEXES_NEW)
    _rebuild("research_sessions", SESSIONS_NEW, SESSIONS_COLUMNS, SESSIONS_INDEXES_NEW)
    for statement in BACKFILL:
        op.execute(statement)
    op.drop_table("codex_change_owners")  # its index goes with it
    op.drop_table("codex_entity_owners")


def downgrade() -> None:
    for ddl in OWNERS_DDL:
        op.execute(ddl)
    for statement in OWNERS_BACK:
        op.execute(statement)
    _rebuild("research_sessions", SESSIONS_OLD, SESSIONS_COLUMNS, _SESSIONS_INDEXES)
    _rebuild("topics", TOPICS_OLD, TOPICS_COLUMNS, TOPICS_INDEXES_OLD)
    op.drop_column("search_documents", "metadata_json")
    for table in reversed(ADDED):
        op.drop_index(ORDERED.get(table, (f"idx_{table}_tenant",))[0], table_name=table)
        op.drop_column(table, "tenant_id")  # ALTER TABLE DROP COLUMN (SQLite >= 3.35)
