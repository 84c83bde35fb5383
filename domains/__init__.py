"""Codex's schema as code: the 18 domains (plus bookkeeping) as SQLAlchemy Core tables on one MetaData.

``DOMAINS`` is the public, ordered membership map: domain name → the tuple of its tables. The
domain order follows the fragment in which each domain first appears (``codex.schema``).
This package imports SQLAlchemy only; it never imports ``codex``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import sqlalchemy as sa

from domains import (
    codex_reactivity,
    context_memory,
    conversation_graph,
    core_cas,
    docs_knowledge,
    embeddings,
    migration_ledger,
    ops_training,
    packages,
    processing_audit,
    routing_calibration,
    schema_version,
    search_ingest,
    skills,
    tenancy,
    tool_calls,
    topics,
    usage_governance,
    user_chat,
    users_marketplace,
    workflows,
)
from domains._meta import NAMING_CONVENTION, metadata

__all__ = ["DOMAINS", "DOMAIN_NAMES", "NAMING_CONVENTION", "domain_of", "metadata"]

DOMAINS: Mapping[str, tuple[sa.Table, ...]] = MappingProxyType(
    {
        "core_cas": core_cas.TABLES,
        "packages": packages.TABLES,
        "workflows": workflows.TABLES,
        "context_memory": context_memory.TABLES,
        "skills": skills.TABLES,
        "docs_knowledge": docs_knowledge.TABLES,
        "embeddings": embeddings.TABLES,
        "ops_training": ops_training.TABLES,
        "users_marketplace": users_marketplace.TABLES,
        "user_chat": user_chat.TABLES,
        "tool_calls": tool_calls.TABLES,
        "usage_governance": usage_governance.TABLES,
        "topics": topics.TABLES,
        "routing_calibration": routing_calibration.TABLES,
        "search_ingest": search_ingest.TABLES,
        "codex_reactivity": codex_reactivity.TABLES,
        "processing_audit": processing_audit.TABLES,
        "conversation_graph": conversation_graph.TABLES,
        "bookkeeping": schema_version.TABLES + migration_ledger.TABLES + tenancy.TABLES,
    }
)
"""Domain name → its tables. The first 18 entries are the schema domains; ``bookkeeping``
holds ``schema_version`` and the tables the forward revisions add for Codex's own use."""

DOMAIN_NAMES: tuple[str, ...] = tuple(name for name in DOMAINS if name != "bookkeeping")
"""The 18 schema domains, in order."""


def domain_of(table_name: str) -> str:
    """The domain a table belongs to.

    Raises:
        KeyError: No domain owns ``table_name``.
    """
    for name, tables in DOMAINS.items():
        if any(t.name == table_name for t in tables):
            return name
    raise KeyError(table_name)
