"""Tenancy and access (forward revision 0004): API tokens, and tenant ownership kept beside upstream rows.

Upstream tables keep their shape; ownership lives in side tables:

* ``codex_access_tokens``: bearer tokens, stored as SHA-256 hashes, each bound to one tenant and scopes.
* ``codex_change_owners``: the tenant of a change-log row (no row = tenant ``default``).
* ``codex_entity_owners``: the tenant of an entity created through the API (conversation, topic, run…;
  no row = tenant ``default``).
* ``codex_idempotency_keys`` (a later revision): the response of a mutation sent with an
  ``Idempotency-Key`` header, written in the mutation's transaction, so a retried request is applied once.
"""

from __future__ import annotations

import sqlalchemy as sa

from domains._meta import created_at, metadata

__all__ = [
    "TABLES",
    "codex_access_tokens",
    "codex_change_owners",
    "codex_entity_owners",
    "codex_idempotency_keys",
]

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

codex_change_owners = sa.Table(
    "codex_change_owners",
    metadata,
    sa.Column(
        "change_id", sa.Integer, sa.ForeignKey("codex_change_log.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Index("idx_codex_change_owners_tenant", "tenant", "change_id"),
)

codex_entity_owners = sa.Table(
    "codex_entity_owners",
    metadata,
    sa.Column("entity_kind", sa.Text, primary_key=True),
    sa.Column("entity_id", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),
    created_at(),
    sa.Index("idx_codex_entity_owners_tenant", "tenant", "entity_kind"),
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

TABLES: tuple[sa.Table, ...] = (
    codex_access_tokens,
    codex_change_owners,
    codex_entity_owners,
    codex_idempotency_keys,
)
