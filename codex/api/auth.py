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

from collections.abc import Awaitable, Callable

import anyio
from fastapi import Request
from fastapi.security import HTTPBearer

from codex.errors import ApiError
from codex.principals import AUTH_CACHE_SECONDS, Principal, authenticate_secret, cached_principal
from codex.repositories.tenancy import SCOPES
from codex.store import Store

__all__ = ["AUTH_CACHE_SECONDS", "Principal", "authenticate_secret", "bearer_scheme", "require"]

bearer_scheme = HTTPBearer(auto_error=False, description="A Codex token from `codex tokens create`.")


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


def _without_header(request: Request, store: Store) -> Principal:
    """The principal of a request without an ``Authorization`` header (a console session, or 401)."""
    return _session_principal(request) or authenticate_secret(store, _secret(request))


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller must hold ``scope``.

    Example:
        >>> dep = require("read")  # then: principal: Principal = Depends(dep)
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Principal:
        state = request.app.state.codex
        store: Store = state.store
        if request.headers.get("authorization"):  # the usual case: a cached token costs no thread
            secret = _secret(request)
            principal = cached_principal(store, secret)
            if principal is None:
                principal = await anyio.to_thread.run_sync(authenticate_secret, store, secret)
        else:  # a console session (or nothing): the lookups may read the database
            principal = await anyio.to_thread.run_sync(_without_header, request, store)
        if not principal.allows(scope):
            raise ApiError(403, "Forbidden", f"this token lacks the {scope!r} scope", required_scope=scope)
        request.state.principal = principal
        state.book.token_used(principal.token_id)  # last_used_at, written later
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency
