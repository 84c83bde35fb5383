"""Who is calling: a token secret resolved to its principal (token id, tenant, scopes), with a short cache.

Shared by every adapter that authenticates (the HTTP API's :func:`codex.api.auth.require`, the console's
login and sessions); it knows tokens and the store, nothing about HTTP.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from codex.errors import ApiError
from codex.repositories.tenancy import TokenRepository
from codex.store import Store

__all__ = ["AUTH_CACHE_SECONDS", "Principal", "authenticate_secret", "cached_principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token id, its tenant and its scopes."""

    token_id: int
    tenant: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """True when the token holds ``scope``.

        ``admin`` implies every scope of its own tenant; only ``operator`` reaches across tenants (limits
        and quotas, cross-tenant counts and views, every tenant's search documents), and it implies the
        others. A tenant's name gives no power: ``default`` is an ordinary tenant.
        """
        if scope in self.scopes or "operator" in self.scopes:
            return True
        return scope != "operator" and "admin" in self.scopes

    @property
    def is_operator(self) -> bool:
        """True for an operator token (see :meth:`allows`)."""
        return "operator" in self.scopes


AUTH_CACHE_SECONDS = 2.0
"""How long a successful token lookup is reused by this process (a revocation or expiry takes effect
on every server within this time). On a remote primary each lookup is a read transaction of three
round trips, paid by every request otherwise."""
_AUTH_CACHE_MAX = 10_000
_auth_cache: WeakKeyDictionary[Store, dict[str, tuple[float, Principal]]] = WeakKeyDictionary()
_auth_lock = threading.Lock()


def _secret_key(secret: str | None) -> tuple[str, str]:
    """The secret as sent (stripped) and its cache key (SHA-256 hex).

    Raises:
        ApiError: 401 when there is no secret.
    """
    if not secret:
        raise ApiError(401, "Unauthorized", "a bearer token is required (Authorization: Bearer <token>)")
    value = secret.strip()
    return value, hashlib.sha256(value.encode()).hexdigest()


def _cached(store: Store, key: str) -> Principal | None:
    with _auth_lock:
        hit = _auth_cache.get(store, {}).get(key)
    if hit is not None and time.monotonic() - hit[0] < AUTH_CACHE_SECONDS:
        return hit[1]
    return None


def cached_principal(store: Store, secret: str | None) -> Principal | None:
    """The principal of ``secret`` when this process resolved it within ``AUTH_CACHE_SECONDS`` (no I/O).

    Safe on the event loop: an async adapter calls this first and only sends a miss to a worker thread
    (:func:`authenticate_secret`).

    Raises:
        ApiError: 401 when there is no secret.
    """
    return _cached(store, _secret_key(secret)[1])


def authenticate_secret(store: Store, secret: str | None) -> Principal:
    """Resolve a token secret to a principal (successful lookups reused for ``AUTH_CACHE_SECONDS``).

    Raises:
        ApiError: 401 when the token is missing, unknown, expired or revoked.
    """
    value, key = _secret_key(secret)
    hit = _cached(store, key)
    if hit is not None:
        return hit
    now = time.monotonic()
    with store.connect() as conn:
        token = TokenRepository(conn).authenticate(value)
    with _auth_lock:
        cache = _auth_cache.setdefault(store, {})
        if token is None:
            cache.pop(key, None)
            raise ApiError(401, "Unauthorized", "the token is unknown, expired or revoked")
        principal = Principal(token_id=token.id, tenant=token.tenant, scopes=token.scope_set)
        if len(cache) >= _AUTH_CACHE_MAX:
            cache.clear()
        cache[key] = (now, principal)
    return principal
