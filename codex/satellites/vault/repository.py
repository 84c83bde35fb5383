"""The vault's repository: versioned, encrypted secrets with an audit row for every access.

Keys: ``(account_id, secret_id)`` names a secret (``secret_id`` is the secret's name); each write adds a
version ``1, 2, …`` to ``clavis_secret_versions``; ``clavis_account_secrets`` holds the current version.
A profile override (``clavis_profile_overrides``) replaces the value for one profile; an agent
delegation (``clavis_agent_delegations``) lets one agent read one secret until it expires or is revoked.

Every method appends a ``clavis_audit_log`` row in the caller's transaction (``put``, ``get``,
``list``, ``history``, ``delete``, ``rotate``, ``rekey``, ``override``, ``clear_override``,
``delegate``, ``revoke``). A refused or failed access raises an error that carries its audit entry
(``details["audit"]``); :meth:`SecretsVault.session <codex.satellites.vault.SecretsVault.session>`
records it in a transaction of its own, because the caller's transaction rolls back. Values are never
logged, audited or returned by listing methods.

The vault is not a live domain: it never writes the main store's change log (it cannot: it is another
database).
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from codex.errors import CodexError, ConfigError, InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, now_ms
from codex.satellites.vault._config import KEY_VARIABLE, VaultKey
from codex.satellites.vault._crypto import CIPHER, Sealed, associated_data, open_sealed, seal
from codex.satellites.vault._schema import (
    clavis_account_secrets,
    clavis_agent_delegations,
    clavis_audit_log,
    clavis_profile_overrides,
    clavis_secret_versions,
)

__all__ = [
    "AccessDenied",
    "AuditRow",
    "DelegationRow",
    "SecretInfo",
    "SecretValue",
    "SecretVersionInfo",
    "VaultRepository",
]

_A, _V, _P = clavis_account_secrets, clavis_secret_versions, clavis_profile_overrides
_D, _L = clavis_agent_delegations, clavis_audit_log
_MAX_NAME = 256


class AccessDenied(CodexError):
    """The caller may not read this secret (no active delegation for the agent)."""


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A secret's metadata (never its value)."""

    account_id: str
    secret_id: str
    current_version: int
    rotation_epoch: int
    created_by: str
    created_at_ms: int
    updated_by: str
    updated_at_ms: int
    rotated_at_ms: int | None


@dataclass(frozen=True, slots=True)
class SecretVersionInfo:
    """One stored version's metadata (never its ciphertext or value)."""

    account_id: str
    secret_id: str
    version: int
    cipher: str
    key_id: str
    operation: str
    created_by: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class SecretValue:
    """A decrypted value; ``repr`` never shows it.

    Attributes:
        version: The version read (for an override, the secret's current version).
        profile: The profile whose override supplied the value, or None.
        plaintext: The value's bytes.
    """

    account_id: str
    secret_id: str
    version: int
    profile: str | None
    plaintext: bytes = field(repr=False)

    @property
    def text(self) -> str:
        """The value decoded as UTF-8."""
        return self.plaintext.decode("utf-8")


@dataclass(frozen=True, slots=True)
class DelegationRow:
    """One agent delegation."""

    delegation_id: str
    account_id: str
    secret_id: str
    agent_id: str
    scope: str
    issued_by: str
    issued_at_ms: int
    expires_at_ms: int | None
    revoked_at_ms: int | None

    def active(self, at_ms: int | None = None) -> bool:
        """True when neither revoked nor expired at ``at_ms`` (default: now)."""
        at = now_ms() if at_ms is None else at_ms
        return self.revoked_at_ms is None and (self.expires_at_ms is None or at < self.expires_at_ms)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit entry."""

    id: int
    at_ms: int
    account_id: str
    secret_id: str | None
    profile: str | None
    version: int | None
    action: str
    outcome: str
    actor: str
    detail: str | None
    created_at: str


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME or value != value.strip():
        raise InvalidInput(
            f"{what} must be 1-{_MAX_NAME} characters without surrounding whitespace", field=what
        )
    return value


def _as_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidInput("a secret value must be str or bytes", field="value")


class VaultRepository(Repository):
    """Encrypted, versioned secrets of one account, with an audit trail.

    Args:
        conn: A connection inside a vault write transaction (``vault.session()`` gives one).
        key: The vault key; methods that encrypt or decrypt raise :class:`ConfigError` without it.
        account: The account whose secrets this repository reads and writes.
        actor: Who acts (recorded in the audit log and on versions), e.g. ``cli:alice``.
    """

    def __init__(
        self,
        conn: sa.Connection,
        *,
        key: VaultKey | None = None,
        account: str = "default",
        actor: str = "codex",
    ) -> None:
        super().__init__(conn)
        self.key = key
        self.account = _check_name(account, "account")
        self.actor = _check_name(actor, "actor")

    # -- helpers --------------------------------------------------------------------------------
    def _require_key(self) -> VaultKey:
        if self.key is None:
            raise ConfigError(
                f"{KEY_VARIABLE} is not set: reading or writing a secret value needs the vault key "
                "(64 hex digits or base64 of 32 bytes; `codex vault keygen` prints one)",
                variable=KEY_VARIABLE,
            )
        return self.key

    def _audit(
        self,
        action: str,
        *,
        secret_id: str | None = None,
        outcome: str = "ok",
        profile: str | None = None,
        version: int | None = None,
        detail: str | None = None,
    ) -> None:
        self._execute(
            sa.insert(_L).values(
                at_ms=now_ms(),
                account_id=self.account,
                secret_id=secret_id,
                profile=profile,
                version=version,
                action=action,
                outcome=outcome,
                actor=self.actor,
                detail=detail,
            )
        )

    def _refuse(
        self,
        error: type[CodexError],
        message: str,
        *,
        action: str,
        outcome: str,
        secret_id: str | None,
        profile: str | None = None,
        version: int | None = None,
    ) -> CodexError:
        """An error that carries its audit entry (recorded by the session after the rollback)."""
        audit = {
            "account_id": self.account,
            "actor": self.actor,
            "action": action,
            "outcome": outcome,
            "secret_id": secret_id,
            "profile": profile,
            "version": version,
            "detail": message[:500],
        }
        return error(message, secret=secret_id, account=self.account, audit=audit)

    def _info_or_none(self, name: str) -> SecretInfo | None:
        stmt = sa.select(_A).where(_A.c.account_id == self.account, _A.c.secret_id == name)
        return self._one_or_none(SecretInfo, stmt)

    def _info(self, name: str, action: str) -> SecretInfo:
        info = self._info_or_none(name)
        if info is None:
            raise self._refuse(
                NotFound,
                f"secret {name!r} does not exist in account {self.account!r}",
                action=action,
                outcome="not_found",
                secret_id=name,
            )
        return info

    def _sealed(self, row: Any) -> Sealed:
        return Sealed(bytes(row.ciphertext), bytes(row.nonce), str(row.key_id))

    def _decrypt(
        self, sealed: Sealed, aad: bytes, *, what: str, action: str, name: str, **audit: Any
    ) -> bytes:
        try:
            return open_sealed(self._require_key(), sealed, aad, what=what)
        except CodexError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise self._refuse(
                type(exc), exc.message, action=action, outcome="error", secret_id=name, **audit
            ) from None

    def _write_version(self, name: str, version: int, plaintext: bytes, operation: str, at: int) -> None:
        sealed = seal(self._require_key(), plaintext, associated_data("secret", self.account, name, version))
        self._execute(
            sa.insert(_V).values(
                account_id=self.account,
                secret_id=name,
                version=version,
                ciphertext=sealed.ciphertext,
                nonce=sealed.nonce,
                cipher=CIPHER,
                key_id=sealed.key_id,
                operation=operation,
                created_by=self.actor,
                created_at_ms=at,
            )
        )

    def _new_version(self, name: str, value: str | bytes, operation: str) -> SecretInfo:
        self._writable()
        _check_name(name, "name")
        plaintext = _as_bytes(value)
        self._require_key()
        at = now_ms()
        info = self._info_or_none(name)
        version = 1 if info is None else info.current_version + 1
        if info is None:
            self._execute(
                sa.insert(_A).values(
                    account_id=self.account,
                    secret_id=name,
                    current_version=version,
                    created_by=self.actor,
                    created_at_ms=at,
                    updated_by=self.actor,
                    updated_at_ms=at,
                )
            )
        else:
            values: dict[str, Any] = {
                "current_version": version,
                "updated_by": self.actor,
                "updated_at_ms": at,
            }
            if operation == "rotate":
                values.update(rotation_epoch=info.rotation_epoch + 1, rotated_at_ms=at)
            self._execute(
                sa.update(_A).where(_A.c.account_id == self.account, _A.c.secret_id == name).values(**values)
            )
        self._write_version(name, version, plaintext, operation, at)
        self._audit(operation, secret_id=name, version=version)
        return self._info(name, operation)

    # -- secrets ------------------------------------------------------------------------------
    def put(self, name: str, value: str | bytes) -> SecretInfo:
        """Store a new version of a secret (version 1 for a new secret).

        Args:
            name: The secret's name (1-256 characters).
            value: The value; str is stored as UTF-8.

        Returns:
            The secret's metadata, with the new ``current_version``.

        Raises:
            ConfigError: No vault key.
            InvalidInput: A bad name or value, or a read-only connection.
        """
        return self._new_version(name, value, "put")

    def get(
        self,
        name: str,
        *,
        version: int | None = None,
        profile: str | None = None,
        agent_id: str | None = None,
    ) -> SecretValue:
        """Decrypt a secret: its current version, a given version, or a profile's override.

        Args:
            name: The secret's name.
            version: A specific version (default: the current one). Not combined with ``profile``.
            profile: Read this profile's override when one exists (else the current version).
            agent_id: Read on behalf of an agent: needs an active delegation for it.

        Returns:
            The decrypted value.

        Raises:
            NotFound: No such secret or version.
            AccessDenied: ``agent_id`` has no active delegation for the secret.
            SecretIntegrityError: The stored row does not authenticate (altered, swapped, other key).
            ConfigError: No vault key.
        """
        self._writable()
        if version is not None and profile is not None:
            raise InvalidInput("pass either version or profile, not both", field="version")
        info = self._info(name, "get")
        if agent_id is not None:
            self._check_delegation(name, agent_id)
        if profile is not None:
            row = self._execute(
                sa.select(_P).where(
                    _P.c.account_id == self.account, _P.c.secret_id == name, _P.c.profile == profile
                )
            ).first()
            if row is not None:
                aad = associated_data("override", self.account, name, int(row.revision), profile)
                what = f"override {profile!r} of secret {name!r}"
                plaintext = self._decrypt(
                    self._sealed(row), aad, what=what, action="get", name=name, profile=profile
                )
                self._audit("get", secret_id=name, profile=profile, version=info.current_version)
                return SecretValue(self.account, name, info.current_version, profile, plaintext)
        wanted = info.current_version if version is None else int(version)
        row = self._execute(
            sa.select(_V).where(
                _V.c.account_id == self.account, _V.c.secret_id == name, _V.c.version == wanted
            )
        ).first()
        if row is None:
            raise self._refuse(
                NotFound,
                f"secret {name!r} has no version {wanted}",
                action="get",
                outcome="not_found",
                secret_id=name,
                version=wanted,
            )
        aad = associated_data("secret", self.account, name, wanted)
        what = f"version {wanted} of secret {name!r}"
        plaintext = self._decrypt(self._sealed(row), aad, what=what, action="get", name=name, version=wanted)
        self._audit(
            "get", secret_id=name, version=wanted, detail=None if agent_id is None else f"agent={agent_id}"
        )
        return SecretValue(self.account, name, wanted, None, plaintext)

    def list(self, *, prefix: str | None = None, limit: int = 1000) -> list[SecretInfo]:
        """The account's secrets (names and metadata, never values), by name.

        Args:
            prefix: Only names starting with it.
            limit: Clamped to 1..10000.
        """
        self._writable()
        stmt = sa.select(_A).where(_A.c.account_id == self.account)
        if prefix:
            stmt = stmt.where(sa.func.substr(_A.c.secret_id, 1, len(prefix)) == prefix)
        rows = self._all(SecretInfo, stmt.order_by(_A.c.secret_id).limit(clamp_limit(limit)))
        self._audit("list", detail=f"{len(rows)} secret(s)" + (f", prefix {prefix!r}" if prefix else ""))
        return rows

    def versions(self, name: str) -> builtins.list[SecretVersionInfo]:
        """Every stored version of a secret (metadata only), newest first.

        Raises:
            NotFound: No such secret.
        """
        self._writable()
        self._info(name, "history")
        stmt = (
            sa.select(*(c for c in _V.c if c.name not in ("ciphertext", "nonce")))
            .where(_V.c.account_id == self.account, _V.c.secret_id == name)
            .order_by(_V.c.version.desc())
        )
        rows = self._all(SecretVersionInfo, stmt)
        self._audit("history", secret_id=name, detail=f"{len(rows)} version(s)")
        return rows

    def delete(self, name: str) -> None:
        """Delete a secret with every version, override and delegation.

        Raises:
            NotFound: No such secret.
        """
        self._writable()
        info = self._info(name, "delete")
        self._execute(sa.delete(_A).where(_A.c.account_id == self.account, _A.c.secret_id == name))
        self._audit("delete", secret_id=name, version=info.current_version)

    def rotate(self, name: str, value: str | bytes, *, keep: int = 1) -> SecretInfo:
        """Replace a secret's value and drop all but the newest ``keep`` versions.

        Args:
            name: An existing secret.
            value: The new value.
            keep: How many versions to keep, the new one included (at least 1).

        Returns:
            The secret's metadata (``rotation_epoch`` incremented).

        Raises:
            NotFound: No such secret.
            InvalidInput: ``keep`` below 1.
        """
        if keep < 1:
            raise InvalidInput("keep must be at least 1", field="keep")
        self._info(name, "rotate")
        info = self._new_version(name, value, "rotate")
        self._execute(
            sa.delete(_V).where(
                _V.c.account_id == self.account,
                _V.c.secret_id == name,
                _V.c.version <= info.current_version - keep,
            )
        )
        return info

    def rekey(self, new_key: VaultKey) -> int:
        """Re-encrypt every stored value of the vault (every account) under ``new_key``.

        Run it in one transaction; afterwards set ``VOX_SECRETS_VAULT_KEY`` to the new key.

        Returns:
            The number of rows re-encrypted (versions plus overrides).

        Raises:
            SecretIntegrityError: A row does not decrypt under the current key (nothing is changed).
        """
        self._writable()
        key = self._require_key()
        count = 0
        for row in self._execute(sa.select(_V)).all():
            aad = associated_data("secret", row.account_id, row.secret_id, int(row.version))
            what = f"version {row.version} of secret {row.secret_id!r}"
            plaintext = self._decrypt(self._sealed(row), aad, what=what, action="rekey", name=row.secret_id)
            sealed = seal(new_key, plaintext, aad)
            self._execute(
                sa.update(_V)
                .where(
                    _V.c.account_id == row.account_id,
                    _V.c.secret_id == row.secret_id,
                    _V.c.version == row.version,
                )
                .values(ciphertext=sealed.ciphertext, nonce=sealed.nonce, key_id=sealed.key_id)
            )
            count += 1
        for row in self._execute(sa.select(_P)).all():
            aad = associated_data("override", row.account_id, row.secret_id, int(row.revision), row.profile)
            what = f"override {row.profile!r} of secret {row.secret_id!r}"
            plaintext = self._decrypt(self._sealed(row), aad, what=what, action="rekey", name=row.secret_id)
            sealed = seal(new_key, plaintext, aad)
            self._execute(
                sa.update(_P)
                .where(
                    _P.c.account_id == row.account_id,
                    _P.c.secret_id == row.secret_id,
                    _P.c.profile == row.profile,
                )
                .values(ciphertext=sealed.ciphertext, nonce=sealed.nonce, key_id=sealed.key_id)
            )
            count += 1
        self._audit("rekey", detail=f"{key.key_id} -> {new_key.key_id}: {count} row(s)")
        self.key = new_key
        return count

    # -- profile overrides --------------------------------------------------------------------
    def set_override(self, name: str, profile: str, value: str | bytes) -> int:
        """Set (or replace) one profile's value for an existing secret.

        Returns:
            The override's revision (1 for a new override).

        Raises:
            NotFound: No such secret.
        """
        self._writable()
        _check_name(profile, "profile")
        plaintext = _as_bytes(value)
        self._info(name, "override")
        current = self._execute(
            sa.select(_P.c.revision).where(
                _P.c.account_id == self.account, _P.c.secret_id == name, _P.c.profile == profile
            )
        ).scalar()
        revision = 1 if current is None else int(current) + 1
        sealed = seal(
            self._require_key(), plaintext, associated_data("override", self.account, name, revision, profile)
        )
        values = {
            "revision": revision,
            "ciphertext": sealed.ciphertext,
            "nonce": sealed.nonce,
            "cipher": CIPHER,
            "key_id": sealed.key_id,
            "updated_by": self.actor,
            "updated_at_ms": now_ms(),
        }
        self._execute(
            sa.insert(_P)
            .prefix_with("OR REPLACE")
            .values(account_id=self.account, secret_id=name, profile=profile, **values)
        )
        self._audit("override", secret_id=name, profile=profile, version=revision)
        return revision

    def clear_override(self, name: str, profile: str) -> None:
        """Remove one profile's override.

        Raises:
            NotFound: No such override.
        """
        self._writable()
        deleted = self._execute(
            sa.delete(_P).where(
                _P.c.account_id == self.account, _P.c.secret_id == name, _P.c.profile == profile
            )
        ).rowcount
        if not deleted:
            raise self._refuse(
                NotFound,
                f"secret {name!r} has no override for profile {profile!r}",
                action="clear_override",
                outcome="not_found",
                secret_id=name,
                profile=profile,
            )
        self._audit("clear_override", secret_id=name, profile=profile)

    # -- agent delegations --------------------------------------------------------------------
    def delegate(self, name: str, agent_id: str, *, ttl_ms: int | None = None) -> DelegationRow:
        """Let ``agent_id`` read a secret (``get(..., agent_id=…)``) until revoked or expired.

        Args:
            name: An existing secret.
            agent_id: The agent.
            ttl_ms: Lifetime in milliseconds (None: until revoked).

        Raises:
            NotFound: No such secret.
            InvalidInput: A non-positive ``ttl_ms``.
        """
        self._writable()
        _check_name(agent_id, "agent_id")
        if ttl_ms is not None and ttl_ms <= 0:
            raise InvalidInput("ttl_ms must be positive", field="ttl_ms")
        self._info(name, "delegate")
        at = now_ms()
        delegation_id = uuid.uuid4().hex
        self._execute(
            sa.insert(_D).values(
                delegation_id=delegation_id,
                account_id=self.account,
                secret_id=name,
                agent_id=agent_id,
                issued_by=self.actor,
                issued_at_ms=at,
                expires_at_ms=None if ttl_ms is None else at + int(ttl_ms),
            )
        )
        self._audit("delegate", secret_id=name, detail=f"agent={agent_id} delegation={delegation_id}")
        return self._one(
            DelegationRow, sa.select(_D).where(_D.c.delegation_id == delegation_id), "delegation"
        )

    def revoke(self, delegation_id: str) -> None:
        """Revoke a delegation of this account.

        Raises:
            NotFound: No such delegation, or it is already revoked.
        """
        self._writable()
        row = self._one_or_none(
            DelegationRow,
            sa.select(_D).where(_D.c.delegation_id == delegation_id, _D.c.account_id == self.account),
        )
        if row is None or row.revoked_at_ms is not None:
            raise self._refuse(
                NotFound,
                f"no active delegation {delegation_id!r}",
                action="revoke",
                outcome="not_found",
                secret_id=None if row is None else row.secret_id,
            )
        self._execute(sa.update(_D).where(_D.c.delegation_id == delegation_id).values(revoked_at_ms=now_ms()))
        self._audit(
            "revoke", secret_id=row.secret_id, detail=f"agent={row.agent_id} delegation={delegation_id}"
        )

    def delegations(self, name: str) -> builtins.list[DelegationRow]:
        """Every delegation of a secret, newest first (active or not)."""
        self._writable()
        stmt = (
            sa.select(_D)
            .where(_D.c.account_id == self.account, _D.c.secret_id == name)
            .order_by(_D.c.issued_at_ms.desc(), _D.c.delegation_id)
        )
        rows = self._all(DelegationRow, stmt)
        self._audit("list", secret_id=name, detail=f"{len(rows)} delegation(s)")
        return rows

    def _check_delegation(self, name: str, agent_id: str) -> None:
        rows = self._all(
            DelegationRow,
            sa.select(_D).where(
                _D.c.account_id == self.account, _D.c.secret_id == name, _D.c.agent_id == agent_id
            ),
        )
        if not any(r.active() for r in rows):
            raise self._refuse(
                AccessDenied,
                f"agent {agent_id!r} has no active delegation for secret {name!r}",
                action="get",
                outcome="denied",
                secret_id=name,
            )

    # -- audit --------------------------------------------------------------------------------
    def audit_log(self, *, name: str | None = None, limit: int = 100) -> builtins.list[AuditRow]:
        """The account's audit entries, newest first (reading the log is not itself audited).

        Args:
            name: Only entries about this secret.
            limit: Clamped to 1..10000.
        """
        stmt = sa.select(_L).where(_L.c.account_id == self.account)
        if name is not None:
            stmt = stmt.where(_L.c.secret_id == name)
        return self._all(AuditRow, stmt.order_by(_L.c.id.desc()).limit(clamp_limit(limit)))

    def record_failure(self, audit: dict[str, Any]) -> None:
        """Append the audit entry a refused access carried (see the module doc)."""
        self._writable()
        self._execute(sa.insert(_L).values(at_ms=now_ms(), **audit))
