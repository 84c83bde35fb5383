"""The 18 domains: membership, every table of the reference, index names, no gamification."""

from __future__ import annotations

import sqlalchemy as sa

from codex.schema import baseline_table_names
from domains import DOMAIN_NAMES, DOMAINS, domain_of, metadata
from domains._meta import TENANT_COLUMN

EXPECTED_DOMAINS = (
    "core_cas",
    "packages",
    "workflows",
    "context_memory",
    "skills",
    "docs_knowledge",
    "embeddings",
    "ops_training",
    "users_marketplace",
    "user_chat",
    "tool_calls",
    "usage_governance",
    "topics",
    "routing_calibration",
    "search_ingest",
    "codex_reactivity",
    "processing_audit",
    "conversation_graph",
)


def test_eighteen_domains_in_order() -> None:
    assert DOMAIN_NAMES == EXPECTED_DOMAINS


def test_every_baseline_table_belongs_to_exactly_one_domain() -> None:
    names = [t.name for tables in DOMAINS.values() for t in tables]
    assert len(names) == len(set(names))
    assert set(baseline_table_names()) <= set(names)
    assert len(baseline_table_names()) == 61
    assert all(t.metadata is metadata for tables in DOMAINS.values() for t in tables)


def test_no_gamification_tables() -> None:
    assert not [n for n in metadata.tables if n.startswith("gamify")]


def test_reference_counts() -> None:
    """The reference's counts, on the baseline tables as the models declare them minus what revision 0007
    added to them (``tenant_id``, the indexes that lead with it, ``search_documents.metadata_json``)."""
    baseline = [metadata.tables[n] for n in baseline_table_names()]
    added = {TENANT_COLUMN, "search_documents.metadata_json"}  # by revision 0007
    assert sum(1 for t in baseline for c in t.columns if not {c.name, f"{t.name}.{c.name}"} & added) == 387
    named = [ix for t in baseline for ix in t.indexes if TENANT_COLUMN not in ix.columns]
    assert len(named) == 77  # 82 upstream minus the 5 gamify indexes
    assert sum(1 for ix in named if ix.unique) == 2
    assert sum(1 for t in baseline if t.dialect_options["sqlite"]["autoincrement"]) == 36
    fks = [fk for t in baseline for fk in t.foreign_key_constraints]
    assert len(fks) == 21
    checks = [c for t in baseline for c in t.constraints if isinstance(c, sa.CheckConstraint)]
    assert [c.name for c in checks] == ["ck_conversation_edges_no_self_loop"]


def test_domain_of() -> None:
    assert domain_of("conversation_tool_calls") == "tool_calls"
    assert domain_of("schema_version") == "bookkeeping"
