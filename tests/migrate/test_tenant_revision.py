"""Revision 0007 on data: tenant_id backfilled from the ownership side tables, names unique per tenant,
and the downgrade restoring the side tables — on a local file and on sqld."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from codex.errors import CodexError
from codex.migrate import downgrade, upgrade

# Rows as revision 0006 stored them: tenant "acme" owns conversation 2 (via codex_entity_owners), its
# message, tool call, topic link and version; topic 2 and session "s-acme"; change 2 via codex_change_owners.
SEED = (
    "INSERT INTO conversations (id, title) VALUES (1, 'mine'), (2, 'theirs')",
    "INSERT INTO conversation_messages (id, conversation_id, role, content_text) VALUES (10, 1, 'user', 'a'), "
    "(20, 2, 'user', 'b')",
    "INSERT INTO conversation_tool_calls (conversation_message_id, ordinal, tool_name) VALUES (20, 0, 'grep')",
    "INSERT INTO topics (id, slug) VALUES (1, 'general'), (2, 'acme-only')",
    "INSERT INTO conversation_topics (conversation_id, topic_id) VALUES (2, 2)",
    "INSERT INTO conversation_versions (conversation_id, version_index, label) VALUES (2, 0, 'v0')",
    "INSERT INTO research_sessions (session_key) VALUES ('s-default'), ('s-acme')",
    "INSERT INTO research_metrics (session_id, metric_type, metric_value) VALUES ('s-acme', 'recall', 0.5)",
    "INSERT INTO processing_runs (id, run_kind, scope_kind, scope_id) VALUES (1, 'k', 'tenant', 'acme'), "
    "(2, 'k', '', '')",
    "INSERT INTO processing_run_steps (processing_run_id, step_index, step_name) VALUES (1, 0, 'x')",
    "INSERT INTO codex_change_log (id, topic, change_kind) VALUES (1, 'conversations/1', 'insert'), "
    "(2, 'conversations/2', 'insert')",
    "INSERT INTO codex_change_owners (change_id, tenant) VALUES (2, 'acme')",
    "INSERT INTO codex_entity_owners (entity_kind, entity_id, tenant) VALUES ('conversation', '2', 'acme'), "
    "('topic', '2', 'acme'), ('research_session', 's-acme', 'acme')",
)


def tenants(conn: sa.Connection, table: str, key: str = "id") -> dict[object, str]:
    return {row[0]: row[1] for row in conn.exec_driver_sql(f"SELECT {key}, tenant_id FROM {table}")}


def test_backfill_unique_per_tenant_and_downgrade(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn, "0006")
    with engine.begin() as conn:
        for sql in SEED:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("DELETE FROM topics WHERE id = 1")  # the sequence must not go back to 2
    with engine.connect() as conn:
        upgrade(conn, "0007")
    with engine.connect() as conn:
        assert tenants(conn, "conversations") == {1: "default", 2: "acme"}
        assert tenants(conn, "conversation_messages") == {10: "default", 20: "acme"}
        assert set(tenants(conn, "conversation_tool_calls").values()) == {"acme"}
        assert tenants(conn, "topics") == {2: "acme"}
        assert tenants(conn, "conversation_topics", "topic_id") == {2: "acme"}
        assert set(tenants(conn, "conversation_versions").values()) == {"acme"}
        assert tenants(conn, "research_sessions", "session_key") == {"s-default": "default", "s-acme": "acme"}
        assert set(tenants(conn, "research_metrics").values()) == {"acme"}
        assert tenants(conn, "processing_runs") == {1: "acme", 2: "default"}
        assert set(tenants(conn, "processing_run_steps").values()) == {"acme"}
        assert tenants(conn, "codex_change_log") == {1: "default", 2: "acme"}
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        assert not {"codex_entity_owners", "codex_change_owners"} & names
    with engine.begin() as conn:
        # Names are unique per tenant: the same slug and key in another tenant is allowed, twice is not.
        conn.exec_driver_sql("INSERT INTO topics (slug, tenant_id) VALUES ('acme-only', 'default')")
        conn.exec_driver_sql(
            "INSERT INTO research_sessions (session_key, tenant_id) VALUES ('s-acme', 'beta')"
        )
        new_id = conn.exec_driver_sql("SELECT id FROM topics WHERE tenant_id = 'default'").scalar()
        assert new_id == 3  # AUTOINCREMENT kept its sequence through the rebuild
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO topics (slug, tenant_id) VALUES ('acme-only', 'acme')")
    # Downgrade refuses while two tenants share a slug (nothing applied), then works once they do not.
    with pytest.raises((CodexError, sa.exc.DBAPIError)), engine.connect() as conn:
        downgrade(conn, "0006")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0007"
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM topics WHERE tenant_id = 'default'")
        conn.exec_driver_sql("DELETE FROM research_sessions WHERE tenant_id = 'beta'")
    with engine.connect() as conn:
        downgrade(conn, "0006")
    with engine.connect() as conn:
        owners = set(conn.exec_driver_sql("SELECT entity_kind, entity_id, tenant FROM codex_entity_owners"))
        assert owners == {
            ("conversation", "2", "acme"),
            ("topic", "2", "acme"),
            ("research_session", "s-acme", "acme"),
        }
        assert list(conn.exec_driver_sql("SELECT change_id, tenant FROM codex_change_owners")) == [
            (2, "acme")
        ]
        columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(conversations)")]
        assert "tenant_id" not in columns
