"""Schema manifest and identity: fragments, baseline DDL, Keccak-256 digests, live-schema digests.

Public API:
    ``BASELINE_VERSION``, ``SCHEMA_FRAGMENTS``, ``baseline_sql()``, ``baseline_digest_hex()``, and the
    live-schema helpers used by ``codex db verify`` and ``/ready``.
"""

from __future__ import annotations

from codex.schema._digest import (
    DIGEST_ALGORITHM,
    DIGEST_ALGORITHM_VERSION,
    baseline_digest_hex,
    fragment_digests,
    keccak256_hex,
)
from codex.schema._fragments import BASELINE_VERSION, SCHEMA_FRAGMENTS, Fragment
from codex.schema._render import (
    baseline_sql,
    baseline_statements,
    baseline_table_names,
    fragment_sql,
    fragment_statements,
)
from codex.schema.live import LiveSchema, SchemaDiff, diff_schemas, normalise_ddl, read_live_schema

__all__ = [
    "BASELINE_VERSION",
    "DIGEST_ALGORITHM",
    "DIGEST_ALGORITHM_VERSION",
    "SCHEMA_FRAGMENTS",
    "Fragment",
    "LiveSchema",
    "SchemaDiff",
    "baseline_digest_hex",
    "baseline_sql",
    "baseline_statements",
    "baseline_table_names",
    "diff_schemas",
    "fragment_digests",
    "fragment_sql",
    "fragment_statements",
    "keccak256_hex",
    "normalise_ddl",
    "read_live_schema",
]
