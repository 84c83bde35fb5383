"""One auth and tenant boundary: bearer tokens (hashed at rest), scopes, and the tenant they carry.

Every route except ``/health`` and ``/ready`` depends on :func:`require`. A missing, malformed,
unknown, expired or revoked token is 401; a valid token without the scope is 403. ``admin`` implies
every scope. The token's tenant is the only tenant the request can see or write. Without an
``Authorization`` header, a console session cookie may stand in for the token (the hook
``app.state.session_principal``, set by :mod:`codex.console`; it re-checks the token on every request).

A token is read from the ``Authorization`` header only, never from the URL (URLs end up in logs).
Each use is noted, and ``last_used_at`` is written off the request path
(:mod:`codex.api.bookkeeping`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from fastapi import Request
from fastapi.security import HTTPBearer

from codex.api.errors import ApiError
from codex.repositories.tenancy import SCOPES, TokenRepository
from codex.store import Store

__all__ = ["AUTH_CACHE_SECONDS", "Principal", "authenticate_secret", "bearer_scheme", "require"]

bearer_scheme = HTTPBearer(auto_error=False, description="A Codex token from `codex tokens create`.")


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


def authenticate_secret(store: Store, secret: str | None) -> Principal:
    """Resolve a token secret to a principal (successful lookups reused for ``AUTH_CACHE_SECONDS``).

    Raises:
        ApiError: 401 when the token is missing, unknown, expired or revoked.
    """
    if not secret:
        raise ApiError(401, "Unauthorized", "a bearer token is required (Authorization: Bearer <token>)")
    key = hashlib.sha256(secret.strip().encode()).hexdigest()
    now = time.monotonic()
    with _auth_lock:
        cache = _auth_cache.setdefault(store, {})
        hit = cache.get(key)
    if hit is not None and now - hit[0] < AUTH_CACHE_SECONDS:
        return hit[1]
    with store.connect() as conn:
        token = TokenRepository(conn).authenticate(secret.strip())
    if token is None:
        with _auth_lock:
            cache.pop(key, None)
        raise ApiError(401, "Unauthorized", "the token is unknown, expired or revoked")
    principal = Principal(token_id=token.id, tenant=token.tenant, scopes=token.scope_set)
    with _auth_lock:
        if len(cache) >= _AUTH_CACHE_MAX:
            cache.clear()
        cache[key] = (now, principal)
    return principal


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Unauthorized", "use the Bearer scheme: Authorization: Bearer <token>")
        return value.strip()
    session_lookup = getattr(request.app.state, "session_secret", None)
    if callable(session_lookup):
        secret: str | None = session_lookup(request)
        return secret
    return None


def _session_principal(request: Request) -> Principal | None:
    """The principal of a console session (``app.state.session_principal``), when no bearer header is sent.

    The hook maps a session cookie to the token behind it (re-checking that the token is still active)
    and may raise :class:`ApiError` (expired session, failed CSRF check); it returns None when the
    request carries no session. A request with an ``Authorization`` header never consults it.
    """
    if request.headers.get("authorization"):
        return None
    lookup = getattr(request.app.state, "session_principal", None)
    if not callable(lookup):
        return None
    found: Principal | None = lookup(request)
    return found


def require(scope: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller must hold ``scope``.

    Example:
        >>> dep = require("read")  # then: principal: Principal = Depends(dep)
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request) -> Principal:
        store: Store = request.app.state.codex.store
        principal = _session_principal(request) or authenticate_secret(store, _secret(request))
        if not principal.allows(scope):
            raise ApiError(403, "Forbidden", f"this token lacks the {scope!r} scope", required_scope=scope)
        request.state.principal = principal
        request.app.state.codex.book.token_used(principal.token_id)  # last_used_at, written later
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency
