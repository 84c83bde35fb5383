"""Where the secrets vault lives, and its key: pure functions of an environment mapping.

Vault location (first match wins; each value is trimmed and skipped when empty; reference:
``semantics.md`` §4, upstream ``crates/vox-secrets/src/backend/vox_vault.rs``):

1. ``VOX_SECRETS_VAULT_PATH``: a local file (a ``file:`` URL is accepted too; backslashes become ``/``).
2. ``VOX_SECRETS_VAULT_URL``: ``file:…`` (a local file) or a ``libsql://`` / ``https://`` / ``http://`` /
   ``wss://`` / ``ws://`` server URL.
3. Only while compatibility aliases are allowed: ``VOX_TURSO_URL``, then ``TURSO_URL`` (a deprecation
   warning is logged).
4. The default file ``.vox/clavis_vault.db`` (relative to the working directory).

Token (remote vaults only): ``VOX_SECRETS_VAULT_TOKEN``, then (same gating) ``VOX_TURSO_TOKEN``, then
``TURSO_AUTH_TOKEN``, else none. As upstream, the token is resolved on its own chain, not paired with the
URL's variable.

Compatibility aliases are switched off by ``VOX_SECRETS_HARD_CUT`` (``1``/``true``/``yes``/``on``) or by
``VOX_SECRETS_CUTOVER_PHASE`` / ``VOX_SECRETS_MIGRATION_PHASE`` set to ``enforce`` or ``decommission``.

The encryption key comes from ``VOX_SECRETS_VAULT_KEY`` only (never a file, never the config file): 32
bytes written as 64 hex digits or as base64 (standard or URL-safe alphabet, padding optional).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from codex.config import DbConfig, LocalDb, RemoteDb
from codex.errors import ConfigError

__all__ = [
    "DEFAULT_VAULT_PATH",
    "VaultKey",
    "compat_aliases_allowed",
    "load_vault_key",
    "resolve_vault_config",
]

log = logging.getLogger("codex.satellites.vault")

DEFAULT_VAULT_PATH = ".vox/clavis_vault.db"
"""The vault's default file (reference: ``file:.vox/clavis_vault.db``)."""

KEY_VARIABLE = "VOX_SECRETS_VAULT_KEY"
_TRUTHY = frozenset({"1", "true", "yes", "on"})
_CUTOFF_PHASES = frozenset({"enforce", "decommission"})
_REMOTE_SCHEMES = frozenset({"libsql", "http", "https", "ws", "wss"})
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def compat_aliases_allowed(environ: Mapping[str, str]) -> bool:
    """False when ``VOX_SECRETS_HARD_CUT`` is truthy or a cutover phase is ``enforce``/``decommission``."""
    if (_get(environ, "VOX_SECRETS_HARD_CUT") or "").lower() in _TRUTHY:
        return False
    return not any(
        (_get(environ, name) or "").lower() in _CUTOFF_PHASES
        for name in ("VOX_SECRETS_CUTOVER_PHASE", "VOX_SECRETS_MIGRATION_PHASE")
    )


def _file_path(value: str) -> str:
    """The local path of a ``file:`` URL or a plain path (backslashes become ``/``)."""
    value = value.replace("\\", "/")
    if not value.lower().startswith("file:"):
        return value
    parts = urlsplit(value)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"file: URL {value!r} names a host; use a local path", value=value)
    if not parts.path:
        raise ConfigError(f"file: URL {value!r} has no path", value=value)
    return parts.path


def _token(environ: Mapping[str, str], aliases: bool) -> str:
    names = (
        ("VOX_SECRETS_VAULT_TOKEN", "VOX_TURSO_TOKEN", "TURSO_AUTH_TOKEN")
        if aliases
        else ("VOX_SECRETS_VAULT_TOKEN",)
    )
    for name in names:
        value = _get(environ, name)
        if value is not None:
            return value
    return ""


def _from_value(value: str, variable: str, environ: Mapping[str, str], aliases: bool) -> DbConfig:
    if value.lower().startswith("file:") or "://" not in value:
        return LocalDb(_file_path(value), source=variable)
    parts = urlsplit(value)
    if parts.scheme.lower() not in _REMOTE_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"{variable} must be a file: URL or a libsql://, https://, http://, wss:// or ws:// URL with a "
            f"host, got {value!r}",
            variable=variable,
        )
    if "authtoken" in parts.query.lower() or parts.password:
        raise ConfigError(
            f"{variable} carries credentials; put the token in VOX_SECRETS_VAULT_TOKEN (environment only)",
            variable=variable,
        )
    return RemoteDb(value, _token(environ, aliases), source=variable)


def resolve_vault_config(environ: Mapping[str, str]) -> DbConfig:
    """Resolve the vault's own database configuration (pure; see the module doc for the order).

    Args:
        environ: The environment, e.g. ``os.environ``.

    Returns:
        A :class:`~codex.config.DbConfig` for the vault alone (``local`` or ``remote``); ``source``
        names the variable it came from, or ``"default"``.

    Raises:
        ConfigError: A malformed URL, or a URL that carries credentials.

    Example:
        >>> resolve_vault_config({}).describe()["path"]
        '.vox/clavis_vault.db'
    """
    aliases = compat_aliases_allowed(environ)
    path = _get(environ, "VOX_SECRETS_VAULT_PATH")
    if path is not None:
        return LocalDb(_file_path(path), source="VOX_SECRETS_VAULT_PATH")
    url = _get(environ, "VOX_SECRETS_VAULT_URL")
    if url is not None:
        return _from_value(url, "VOX_SECRETS_VAULT_URL", environ, aliases)
    if aliases:
        for name in ("VOX_TURSO_URL", "TURSO_URL"):
            alias = _get(environ, name)
            if alias is not None:
                log.warning(
                    "%s is a deprecated location for the secrets vault; set VOX_SECRETS_VAULT_URL", name
                )
                return _from_value(alias, name, environ, aliases)
    return LocalDb(DEFAULT_VAULT_PATH, source="default")


@dataclass(frozen=True, slots=True)
class VaultKey:
    """The 32-byte AES-256-GCM key of the vault (its bytes never appear in ``repr``).

    Attributes:
        material: The raw key.
        key_id: A public fingerprint stored beside each ciphertext (``sha256:`` + 16 hex digits of a
            domain-separated SHA-256), so a value encrypted under another key is recognised as such.
    """

    material: bytes = field(repr=False)
    key_id: str = ""

    def __post_init__(self) -> None:
        if len(self.material) != 32:
            raise ConfigError(
                f"the vault key must be 32 bytes (AES-256), got {len(self.material)}", variable=KEY_VARIABLE
            )
        if not self.key_id:
            digest = hashlib.sha256(b"clavis-key-id/v1\0" + self.material).hexdigest()
            object.__setattr__(self, "key_id", "sha256:" + digest[:16])

    @classmethod
    def parse(cls, text: str) -> VaultKey:
        """Decode a key written as 64 hex digits or as base64 (standard or URL-safe, padding optional).

        Raises:
            ConfigError: The text is neither, or does not decode to exactly 32 bytes.
        """
        text = text.strip()
        if _HEX_KEY.fullmatch(text):
            return cls(bytes.fromhex(text))
        if _HEX_DIGITS.fullmatch(text) and len(text) % 2 == 0 and len(text) not in (42, 43, 44):
            raise ConfigError(  # hex digits only, but not 64 of them: a short (or long) hex key
                f"{KEY_VARIABLE} is {len(text) // 2} bytes of hex; the vault needs a 32-byte key "
                "(64 hex digits or 44 base64 characters; `codex vault keygen` prints one)",
                variable=KEY_VARIABLE,
            )
        standard = text.replace("-", "+").replace("_", "/")  # accept the URL-safe alphabet too
        try:
            raw: bytes | None = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = None
        if raw is not None:
            if len(raw) != 32:
                raise ConfigError(
                    f"{KEY_VARIABLE} decodes to {len(raw)} bytes; the vault needs a 32-byte key "
                    "(64 hex digits or 44 base64 characters; `codex vault keygen` prints one)",
                    variable=KEY_VARIABLE,
                )
            return cls(raw)
        raise ConfigError(
            f"{KEY_VARIABLE} is neither 64 hex digits nor base64; `codex vault keygen` prints a valid key",
            variable=KEY_VARIABLE,
        )


def load_vault_key(environ: Mapping[str, str]) -> VaultKey:
    """The vault key from ``VOX_SECRETS_VAULT_KEY`` (environment only).

    Raises:
        ConfigError: The variable is missing or empty, malformed, or not 32 bytes.
    """
    text = _get(environ, KEY_VARIABLE)
    if text is None:
        raise ConfigError(
            f"{KEY_VARIABLE} is not set: the secrets vault encrypts every value with a 32-byte key taken "
            "from the environment only (64 hex digits or base64; `codex vault keygen` prints a new one)",
            variable=KEY_VARIABLE,
        )
    return VaultKey.parse(text)
