"""Schema manifest and identity: frozen fragments, baseline DDL, Keccak-256 digests, live-schema digests.

Public API:
    ``BASELINE_VERSION``, ``SCHEMA_FRAGMENTS``, ``baseline_sql()``, ``baseline_digest_hex()`` (the frozen,
    packaged baseline), the ``render_*`` functions (models → DDL, for satellites and rebaselining), and
    the live-schema helpers used by ``codex db verify`` and ``/ready``.
"""

from __future__ import annotations

from codex.schema._digest import DIGEST_ALGORITHM, DIGEST_ALGORITHM_VERSION, keccak256_hex
from codex.schema._fragments import (
    BASELINE_VERSION,
    MANIFEST_NAME,
    SCHEMA_FRAGMENTS,
    Fragment,
    baseline_dir,
    load_manifest,
)
from codex.schema._frozen import (
    baseline_digest_hex,
    baseline_sql,
    baseline_statements,
    baseline_table_names,
    fragment_digests,
    fragment_sql,
    fragment_statements,
    split_statements,
)
from codex.schema._render import (
    render_baseline_sql,
    render_baseline_statements,
    render_fragment_sql,
    render_fragment_statements,
)
from codex.schema.live import LiveSchema, SchemaDiff, diff_schemas, normalise_ddl, read_live_schema

__all__ = [
    "BASELINE_VERSION",
    "DIGEST_ALGORITHM",
    "DIGEST_ALGORITHM_VERSION",
    "MANIFEST_NAME",
    "SCHEMA_FRAGMENTS",
    "Fragment",
    "LiveSchema",
    "SchemaDiff",
    "baseline_digest_hex",
    "baseline_dir",
    "baseline_sql",
    "baseline_statements",
    "baseline_table_names",
    "diff_schemas",
    "fragment_digests",
    "fragment_sql",
    "fragment_statements",
    "keccak256_hex",
    "load_manifest",
    "normalise_ddl",
    "read_live_schema",
    "render_baseline_sql",
    "render_baseline_statements",
    "render_fragment_sql",
    "render_fragment_statements",
    "split_statements",
]
