"""Tenancy and access (forward revisions 0004, 0006, 0007): API tokens and idempotency keys.

* ``codex_access_tokens``: bearer tokens, stored as SHA-256 hashes, each bound to one tenant and scopes.
* ``codex_idempotency_keys`` (revision 0006): the response of a mutation sent with an
  ``Idempotency-Key`` header, written in the mutation's transaction, so a retried request is applied once.

Which tenant owns a row is a property of the row itself: every tenant-owned table has a ``tenant_id``
column (``domains._meta.tenant_owned``; revision 0007 added them, backfilled them from the side tables
``codex_entity_owners`` / ``codex_change_owners`` of revision 0004 and dropped those).
"""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata

__all__ = ["TABLES", "codex_access_tokens", "codex_idempotency_keys"]

codex_access_tokens = sa.Table(
    "codex_access_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("token_prefix", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=sa.text("''")),
    created_at(),
    sa.Column("expires_at", sa.Text),
    sa.Column("revoked_at", sa.Text),
    sa.Column("last_used_at", sa.Text),
    sa.Index("idx_codex_access_tokens_tenant", "tenant"),
    sqlite_autoincrement=True,
)

codex_idempotency_keys = sa.Table(
    "codex_idempotency_keys",
    metadata,
    sa.Column("tenant", sa.Text, primary_key=True),
    sa.Column("idem_key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("response_json", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_codex_idempotency_keys_created", "created_at"),
)

TABLES: tuple[sa.Table, ...] = (codex_access_tokens, codex_idempotency_keys)
