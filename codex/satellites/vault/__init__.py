"""The secrets vault (``clavis``): a sanctioned satellite store with its own file, schema and engine.

Upstream's ADR 004 (status update 2026-05) lists ``.vox/clavis_vault.db`` as a sanctioned satellite:
secrets must never share a process-level connection with user-data Codex. Here that means: its own
``MetaData`` and fragment manifest (:mod:`._schema`), its own baseline and Keccak-256 digest (committed as
``contracts/db/vault/``), its own location resolved from ``VOX_SECRETS_VAULT_*`` (:mod:`._config`), and
its own engine (:func:`open_vault`). Values are encrypted with AES-256-GCM under a key from the
environment only (``VOX_SECRETS_VAULT_KEY``), bound to their row by the associated data.

Example::

    vault = open_vault()                       # .vox/clavis_vault.db unless configured
    with vault.session(actor="cli:alice") as secrets:
        secrets.put("OPENAI_API_KEY", "sk-…")
    with vault.session(actor="cli:alice") as secrets:
        value = secrets.get("OPENAI_API_KEY").text
"""

from __future__ import annotations

from codex.satellites.vault._config import (
    DEFAULT_VAULT_PATH,
    VaultKey,
    compat_aliases_allowed,
    load_vault_key,
    resolve_vault_config,
)
from codex.satellites.vault._crypto import CIPHER, SecretIntegrityError, associated_data
from codex.satellites.vault._schema import (
    VAULT_BASELINE_VERSION,
    VAULT_FRAGMENTS,
    VAULT_NAMING_CONVENTION,
    VAULT_TABLES,
    vault_baseline_digest_hex,
    vault_baseline_sql,
    vault_baseline_statements,
    vault_fragment_digests,
    vault_metadata,
)
from codex.satellites.vault._store import SecretsVault, VaultStatus, open_vault
from codex.satellites.vault.repository import (
    AccessDenied,
    AuditRow,
    DelegationRow,
    SecretInfo,
    SecretValue,
    SecretVersionInfo,
    VaultRepository,
)

__all__ = [
    "CIPHER",
    "DEFAULT_VAULT_PATH",
    "VAULT_BASELINE_VERSION",
    "VAULT_FRAGMENTS",
    "VAULT_NAMING_CONVENTION",
    "VAULT_TABLES",
    "AccessDenied",
    "AuditRow",
    "DelegationRow",
    "SecretInfo",
    "SecretIntegrityError",
    "SecretValue",
    "SecretVersionInfo",
    "SecretsVault",
    "VaultKey",
    "VaultRepository",
    "VaultStatus",
    "associated_data",
    "compat_aliases_allowed",
    "load_vault_key",
    "open_vault",
    "resolve_vault_config",
    "vault_baseline_digest_hex",
    "vault_baseline_sql",
    "vault_baseline_statements",
    "vault_fragment_digests",
    "vault_metadata",
]
