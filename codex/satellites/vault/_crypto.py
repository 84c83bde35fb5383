"""AES-256-GCM for vault values, with associated data that binds each ciphertext to its row.

The associated data (AAD) is a length-prefixed encoding of ``("clavis/v1", kind, account, name,
profile, version)``. GCM authenticates it with the ciphertext, so a ciphertext copied into another row
(another account, secret name, version or profile) no longer authenticates and decryption fails with
:class:`SecretIntegrityError` instead of returning the wrong secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codex.errors import CodexError
from codex.satellites.vault._config import VaultKey

__all__ = [
    "CIPHER",
    "NONCE_BYTES",
    "Sealed",
    "SecretIntegrityError",
    "associated_data",
    "open_sealed",
    "seal",
]

CIPHER = "AES-256-GCM"
NONCE_BYTES = 12
_AAD_LABEL = "clavis/v1"


class SecretIntegrityError(CodexError):
    """A stored ciphertext does not authenticate: it was tampered with, moved to another row, or was
    written under another key."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted value, as stored: ciphertext (with the GCM tag), nonce and key fingerprint."""

    ciphertext: bytes = b""
    nonce: bytes = b""
    key_id: str = ""


def associated_data(kind: str, account: str, name: str, version: int, profile: str | None = None) -> bytes:
    """The AAD for one stored value: every part length-prefixed, so no two tuples encode alike.

    Args:
        kind: ``"secret"`` (a version row) or ``"override"`` (a profile override row).
        account: The account id.
        name: The secret name.
        version: The version (or the override's revision).
        profile: The profile of an override (None for a version row).
    """
    parts = (_AAD_LABEL, kind, account, name, profile or "", str(int(version)))
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def seal(key: VaultKey, plaintext: bytes, aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` under ``key`` with a fresh random 96-bit nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return Sealed(AESGCM(key.material).encrypt(nonce, plaintext, aad), nonce, key.key_id)


def open_sealed(key: VaultKey, sealed: Sealed, aad: bytes, *, what: str) -> bytes:
    """Decrypt and authenticate one stored value.

    Args:
        key: The vault key.
        sealed: The stored ciphertext, nonce and key fingerprint.
        aad: The associated data the row's key columns give.
        what: A description for the error message (never the value).

    Raises:
        SecretIntegrityError: The value was written under another key, or it does not authenticate.
    """
    if sealed.key_id != key.key_id:
        raise SecretIntegrityError(
            f"{what} was encrypted under key {sealed.key_id}, but VOX_SECRETS_VAULT_KEY is {key.key_id}",
            stored_key_id=sealed.key_id,
            key_id=key.key_id,
        )
    try:
        return AESGCM(key.material).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        raise SecretIntegrityError(
            f"{what} does not authenticate: the row was altered or copied from another secret, version or "
            "account",
            key_id=key.key_id,
        ) from None
