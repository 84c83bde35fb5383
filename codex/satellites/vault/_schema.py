"""The secrets vault's schema: its own MetaData, fragment manifest, baseline DDL and Keccak-256 digest.

The vault is a sanctioned satellite store (ADR 004, status update 2026-05): its tables are not part of
the main Codex baseline (``domains`` / :data:`codex.schema.SCHEMA_FRAGMENTS`) and never live in the main
store's file. It therefore carries its own identity, computed exactly as the main store's is (the
renderer and the digest functions of :mod:`codex.schema` take ``metadata`` and ``fragments``):

* :data:`vault_metadata`, with its own naming convention (every constraint named, so that a later
  fragment can alter it in SQLite batch mode);
* :data:`VAULT_FRAGMENTS`, append-only like the main manifest (``contracts/db/vault/baseline-fragments.yaml``);
* :func:`vault_baseline_sql` / :func:`vault_baseline_digest_hex`, committed as
  ``contracts/db/vault/baseline.sql``.

Table names are the reference's (clavis_account_secrets, clavis_secret_versions, clavis_audit_log,
clavis_profile_overrides, clavis_agent_delegations); the columns are Codex's design. Values are never
stored in clear: ``ciphertext`` is AES-256-GCM output whose associated data binds it to its row's key
(see :mod:`codex.satellites.vault._crypto`). ``clavis_schema_version`` records the applied fragment and
the baseline digest.
"""

from __future__ import annotations

import sqlalchemy as sa

from codex.schema import (
    Fragment,
    keccak256_hex,
    render_baseline_sql,
    render_baseline_statements,
    render_fragment_sql,
)

__all__ = [
    "VAULT_BASELINE_VERSION",
    "VAULT_FRAGMENTS",
    "VAULT_NAMING_CONVENTION",
    "VAULT_TABLES",
    "clavis_account_secrets",
    "clavis_agent_delegations",
    "clavis_audit_log",
    "clavis_profile_overrides",
    "clavis_schema_version",
    "clavis_secret_versions",
    "vault_baseline_digest_hex",
    "vault_baseline_sql",
    "vault_baseline_statements",
    "vault_fragment_digests",
    "vault_metadata",
]

VAULT_NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""The vault's own naming convention (a separate object from the main store's ``domains`` convention)."""

vault_metadata = sa.MetaData(naming_convention=VAULT_NAMING_CONVENTION)
"""The vault's MetaData: holds the clavis_* tables only; never shared with ``domains``."""

_NOW = sa.text("(datetime('now'))")
_SECRET_FK = ("account_id", "secret_id")
_SECRET_REF = ("clavis_account_secrets.account_id", "clavis_account_secrets.secret_id")


def _key_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("secret_id", sa.Text, primary_key=True),
    ]


clavis_schema_version = sa.Table(
    "clavis_schema_version",
    vault_metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Text, nullable=False, server_default=_NOW),
)

clavis_account_secrets = sa.Table(
    "clavis_account_secrets",
    vault_metadata,
    *_key_columns(),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("rotation_epoch", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at_ms", sa.Integer, nullable=False),
    sa.Column("rotated_at_ms", sa.Integer, nullable=True),
    sa.CheckConstraint("current_version >= 1", name="current_version_positive"),
)

clavis_secret_versions = sa.Table(
    "clavis_secret_versions",
    vault_metadata,
    *_key_columns(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("cipher", sa.Text, nullable=False, server_default=sa.text("'AES-256-GCM'")),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(_SECRET_FK, _SECRET_REF, ondelete="CASCADE"),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    sa.CheckConstraint("length(nonce) = 12", name="nonce_length"),
    sa.CheckConstraint("operation IN ('put', 'rotate')", name="operation"),
)

clavis_profile_overrides = sa.Table(
    "clavis_profile_overrides",
    vault_metadata,
    *_key_columns(),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("cipher", sa.Text, nullable=False, server_default=sa.text("'AES-256-GCM'")),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at_ms", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(_SECRET_FK, _SECRET_REF, ondelete="CASCADE"),
    sa.CheckConstraint("revision >= 1", name="revision_positive"),
    sa.CheckConstraint("length(nonce) = 12", name="nonce_length"),
)

clavis_agent_delegations = sa.Table(
    "clavis_agent_delegations",
    vault_metadata,
    sa.Column("delegation_id", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("secret_id", sa.Text, nullable=False),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False, server_default=sa.text("'read'")),
    sa.Column("issued_by", sa.Text, nullable=False),
    sa.Column("issued_at_ms", sa.Integer, nullable=False),
    sa.Column("expires_at_ms", sa.Integer, nullable=True),
    sa.Column("revoked_at_ms", sa.Integer, nullable=True),
    sa.ForeignKeyConstraint(_SECRET_FK, _SECRET_REF, ondelete="CASCADE"),
    sa.CheckConstraint("scope IN ('read')", name="scope"),
    sa.Index("idx_clavis_agent_delegations_secret", "account_id", "secret_id", "agent_id"),
)

clavis_audit_log = sa.Table(
    "clavis_audit_log",
    vault_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at_ms", sa.Integer, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("secret_id", sa.Text, nullable=True),
    sa.Column("profile", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("created_at", sa.Text, nullable=False, server_default=_NOW),
    sa.CheckConstraint(
        "action IN ('init', 'put', 'get', 'list', 'history', 'delete', 'rotate', 'rekey', 'override', "
        "'clear_override', 'delegate', 'revoke')",
        name="action",
    ),
    sa.CheckConstraint("outcome IN ('ok', 'not_found', 'denied', 'error')", name="outcome"),
    sa.Index("idx_clavis_audit_log_secret", "account_id", "secret_id", "id"),
    sqlite_autoincrement=True,
)

VAULT_TABLES: tuple[sa.Table, ...] = (
    clavis_schema_version,
    clavis_account_secrets,
    clavis_secret_versions,
    clavis_profile_overrides,
    clavis_agent_delegations,
    clavis_audit_log,
)
"""Every vault table, parents before children."""

VAULT_BASELINE_VERSION = 1
"""The version the vault's ``clavis_schema_version`` records for this baseline."""

VAULT_FRAGMENTS: tuple[Fragment, ...] = (
    Fragment(1, "clavis secrets vault", tables=tuple(t.name for t in VAULT_TABLES)),
)
"""The vault's append-only fragment manifest (v1)."""


def vault_baseline_sql() -> str:
    """The vault's baseline DDL (rendered from its ``Table`` objects, like the main baseline)."""
    return render_baseline_sql(metadata=vault_metadata, fragments=VAULT_FRAGMENTS)


def vault_baseline_statements() -> tuple[str, ...]:
    """The vault's baseline statements, one per item, ready for ``exec_driver_sql``."""
    return render_baseline_statements(metadata=vault_metadata, fragments=VAULT_FRAGMENTS)


def vault_baseline_digest_hex() -> str:
    """Keccak-256 (``0x…``) of :func:`vault_baseline_sql`: the vault schema's identity."""
    return keccak256_hex(vault_baseline_sql())


def vault_fragment_digests() -> dict[str, str]:
    """``{"v1": "0x…"}``: the digest of each vault fragment."""
    return {
        f.label: keccak256_hex(render_fragment_sql(f, metadata=vault_metadata, fragments=VAULT_FRAGMENTS))
        for f in VAULT_FRAGMENTS
    }
