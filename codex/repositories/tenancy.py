"""Tenancy: API tokens (hashed), and which tenant owns an entity created through the API.

Token format: ``codex_`` + 43 URL-safe characters (32 random bytes). Only the SHA-256 hex digest is
stored, with a short display prefix; the token itself is shown once, at creation. Scopes: ``read``,
``write``, ``subscribe``, ``admin``. Tenant ids: 1-63 characters of ``a-z 0-9 _ -``, starting with a
letter or digit.

Which tenant owns a row is the row's own ``tenant_id`` (``domains._meta.tenant_owned``); repositories
apply it in SQL through the table gateway (``codex.repositories.gateway``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import Repository, rows_as, sql_timestamp
from domains._meta import DEFAULT_TENANT as _DEFAULT_TENANT
from domains.tenancy import codex_access_tokens, codex_idempotency_keys

__all__ = [
    "DEFAULT_TENANT",
    "IDEMPOTENCY_TTL",
    "SCOPES",
    "AccessToken",
    "IdempotencyRepository",
    "IdempotentReplay",
    "NewToken",
    "TokenRepository",
    "hash_token",
    "validate_tenant",
]

DEFAULT_TENANT = _DEFAULT_TENANT
SCOPES = ("read", "write", "subscribe", "admin", "operator")
"""Token scopes: ``admin`` implies the others within its tenant; ``operator`` reaches across tenants."""
TOKEN_PREFIX = "codex_"
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_tenant(tenant: str) -> str:
    """Check a tenant id (``[a-z0-9][a-z0-9_-]{0,62}``).

    Raises:
        InvalidInput: The id is malformed.
    """
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise InvalidInput(f"invalid tenant {tenant!r}: use 1-63 of a-z 0-9 _ - (starting with a-z/0-9)")
    return tenant


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(delta: timedelta = timedelta()) -> str:
    return sql_timestamp(datetime.now(UTC) + delta)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A stored token (never the secret itself)."""

    id: int
    token_prefix: str
    tenant: str
    scopes: str
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(self.scopes.split())

    @property
    def active(self) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > _utc())


@dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly created token: ``secret`` is shown once and never stored."""

    secret: str
    token: AccessToken


class TokenRepository(Repository):
    """Create, look up, list and revoke API tokens."""

    def create(
        self,
        tenant: str,
        scopes: list[str] | tuple[str, ...],
        *,
        label: str = "",
        expires_days: int | None = None,
    ) -> NewToken:
        """Create a token for ``tenant`` with ``scopes``.

        Raises:
            InvalidInput: Bad tenant, empty or unknown scopes, or a non-positive expiry.
        """
        self._writable()
        validate_tenant(tenant)
        wanted = sorted({s.strip() for s in scopes if s.strip()})
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            raise InvalidInput(
                f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {list(scopes)}"
            )
        if expires_days is not None and expires_days <= 0:
            raise InvalidInput("expires_days must be positive")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        t = codex_access_tokens
        new_id = self._execute(
            t.insert()
            .values(
                token_hash=hash_token(secret),
                token_prefix=secret[:12],
                tenant=tenant,
                scopes=" ".join(wanted),
                label=label[:200],
                expires_at=_utc(timedelta(days=expires_days)) if expires_days else None,
            )
            .returning(t.c.id)
        ).scalar_one()
        return NewToken(secret=secret, token=self.get(int(new_id)))

    def get(self, token_id: int) -> AccessToken:
        """A token by id.

        Raises:
            NotFound: No such token.
        """
        t = codex_access_tokens
        return self._one(AccessToken, sa.select(t).where(t.c.id == token_id), f"token {token_id}")

    def authenticate(self, secret: str) -> AccessToken | None:
        """The active token for ``secret``, or None (unknown, revoked or expired)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        t = codex_access_tokens
        token = self._one_or_none(AccessToken, sa.select(t).where(t.c.token_hash == hash_token(secret)))
        return token if token is not None and token.active else None

    def list(self, *, tenant: str | None = None, include_revoked: bool = True) -> list[AccessToken]:
        """Tokens, newest first."""
        t = codex_access_tokens
        stmt = sa.select(t).order_by(t.c.id.desc())
        if tenant is not None:
            stmt = stmt.where(t.c.tenant == tenant)
        if not include_revoked:
            stmt = stmt.where(t.c.revoked_at.is_(None))
        return rows_as(AccessToken, self._execute(stmt))

    def revoke(self, token_id: int) -> AccessToken:
        """Revoke a token (idempotent).

        Raises:
            NotFound: No such token.
        """
        self._writable()
        t = codex_access_tokens
        self.get(token_id)
        self._execute(
            t.update()
            .where(t.c.id == token_id, t.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.datetime("now"))
        )
        return self.get(token_id)

    def touch(self, token_id: int) -> None:
        """Record a use (``last_used_at``)."""
        self.touch_many([token_id])

    def touch_many(self, token_ids: Iterable[int]) -> int:
        """Record a use of each token (``last_used_at`` = now) in one statement.

        The service batches this off the request path (a background round, at most once a minute per
        token), so a request never waits for it.

        Returns:
            How many tokens were updated.
        """
        self._writable()
        ids = sorted({int(i) for i in token_ids})
        if not ids:
            return 0
        t = codex_access_tokens
        result = self._execute(
            t.update().where(t.c.id.in_(ids)).values(last_used_at=sa.func.datetime("now")).returning(t.c.id)
        )
        return len(result.all())


IDEMPOTENCY_TTL = timedelta(hours=24)
"""How long a mutation's response is kept for replay under its ``Idempotency-Key``."""
_IDEM_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True, slots=True)
class IdempotentReplay:
    """A stored response: the request it answered (hash) and what was returned."""

    request_hash: str
    response_json: str


class IdempotencyRepository(Repository):
    """Responses of mutations sent with an ``Idempotency-Key``, per tenant, kept for :data:`IDEMPOTENCY_TTL`.

    The caller looks the key up and stores the response **in the mutation's own transaction**, so a
    retried request either finds the committed response or runs (and commits) exactly once.
    """

    @staticmethod
    def validate_key(key: str) -> str:
        """A key is 1–200 visible ASCII characters.

        Raises:
            InvalidInput: Anything else.
        """
        if not isinstance(key, str) or not _IDEM_KEY.match(key):
            raise InvalidInput(
                "Idempotency-Key must be 1-200 visible ASCII characters", field="Idempotency-Key"
            )
        return key

    def find(self, tenant: str, key: str) -> IdempotentReplay | None:
        """The response stored for ``key`` (within the retention window), or None."""
        t = codex_idempotency_keys
        row = self._execute(
            sa.select(t.c.request_hash, t.c.response_json).where(
                t.c.tenant == tenant, t.c.idem_key == key, t.c.created_at >= _utc(-IDEMPOTENCY_TTL)
            )
        ).first()
        if row is None:
            return None
        data = row._mapping
        return IdempotentReplay(str(data["request_hash"]), str(data["response_json"]))

    def remember(self, tenant: str, key: str, request_hash: str, response_json: str) -> None:
        """Store the response for ``key`` (replacing an expired entry), and drop expired entries."""
        self._writable()
        t = codex_idempotency_keys
        self._execute(sa.delete(t).where(t.c.created_at < _utc(-IDEMPOTENCY_TTL)))
        self._execute(
            sa.insert(t)
            .prefix_with("OR REPLACE")
            .values(tenant=tenant, idem_key=key, request_hash=request_hash, response_json=response_json)
        )
