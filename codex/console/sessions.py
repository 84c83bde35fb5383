"""Console sessions: a token exchanged once for a server-side session, a cookie, and a CSRF token.

Design (documented in :mod:`codex.console`):

* ``POST /console/login`` checks the token once and creates a :class:`ConsoleSession` **in this
  process's memory** (not in the database): a random session id (32 bytes) → the token's id, tenant and
  scopes, a CSRF token, and two deadlines (absolute ``ttl``, idle ``idle``). The store keeps only the
  SHA-256 of the session id, never the Codex token. Sessions do not survive a restart and are not
  shared between worker processes: the operator logs in again.
* The cookie ``codex_console`` carries the session id: ``HttpOnly; SameSite=Strict; Path=/`` with a
  ``Max-Age`` (and ``Secure`` over HTTPS). JavaScript never sees it or the token.
* Every request made with the cookie re-reads the token row by id: a revoked or expired token ends the
  session at once (401), and the scopes are the token's current ones.
* CSRF: a request with an unsafe method (POST, PUT, PATCH, DELETE) made with the cookie must carry the
  session's CSRF token in the ``X-CSRF-Token`` header (the console's ``fetch`` calls) or the ``csrf``
  form field (the logout form), and an ``Origin`` header, when sent, must be this server's. SameSite=Strict
  already keeps the cookie off cross-site requests; the token check is the second lock. The CSRF token
  is rendered into the console's pages (a ``<meta>`` and the logout form), never into a URL.
* Throttle: failed logins are counted per client address over a sliding minute
  (:class:`LoginThrottle`); past ``login_failures_per_minute`` the login answers 429 with
  ``Retry-After`` without checking the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from starlette.requests import HTTPConnection

from codex.errors import ApiError, NotFound
from codex.principals import Principal
from codex.repositories.tenancy import TokenRepository
from codex.store import Store

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "ConsoleSession",
    "LoginThrottle",
    "SessionStore",
    "origin_ok",
]

SESSION_COOKIE = "codex_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """One logged-in console: the token behind it (by id), its tenant and scopes, and its CSRF token."""

    token_id: int
    tenant: str
    scopes: frozenset[str]
    csrf: str
    created: float
    expires: float
    last_seen: float

    def principal(self) -> Principal:
        """The principal the session acts as."""
        return Principal(token_id=self.token_id, tenant=self.tenant, scopes=self.scopes)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def origin_ok(conn: HTTPConnection) -> bool:
    """True when the request sends no ``Origin`` or this server's own origin."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    host = conn.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


class SessionStore:
    """Sessions in memory, bounded, with absolute and idle expiry (thread-safe).

    Args:
        ttl: Seconds a session lives at most.
        idle: Seconds a session survives without a request.
        max_sessions: The most sessions kept; the oldest are dropped first.
        clock: Monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        *,
        ttl: float = 8 * 3600,
        idle: float = 3600,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.idle, self.max_sessions, self.clock = ttl, idle, max_sessions, clock
        self._sessions: dict[str, ConsoleSession] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session for ``principal``: returns the session id (the cookie value) and the session."""
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        session = ConsoleSession(
            token_id=principal.token_id,
            tenant=principal.tenant,
            scopes=principal.scopes,
            csrf=secrets.token_urlsafe(32),
            created=now,
            expires=now + self.ttl,
            last_seen=now,
        )
        with self._lock:
            self._sweep(now)
            while len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].created)
                del self._sessions[oldest]
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session for a cookie value (touching it), or None (unknown, expired or idle)."""
        if not session_id or len(session_id) > 200:
            return None
        now = self.clock()
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now >= session.expires or now - session.last_seen >= self.idle:
                del self._sessions[key]
                return None
            session = replace(session, last_seen=now)
            self._sessions[key] = session
            return session

    def refresh(self, session_id: str, principal: Principal) -> None:
        """Record the token's current scopes on the session."""
        with self._lock:
            key = _key(session_id)
            session = self._sessions.get(key)
            if session is not None and session.scopes != principal.scopes:
                self._sessions[key] = replace(session, scopes=principal.scopes)

    def revoke(self, session_id: str | None) -> bool:
        """End a session (logout); True when there was one."""
        if not session_id:
            return False
        with self._lock:
            return self._sessions.pop(_key(session_id), None) is not None

    def _sweep(self, now: float) -> None:
        dead = [k for k, s in self._sessions.items() if now >= s.expires or now - s.last_seen >= self.idle]
        for key in dead:
            del self._sessions[key]

    # -- request resolution ---------------------------------------------------------------------------
    def principal_for(self, conn: HTTPConnection, store: Store) -> tuple[str, Principal] | None:
        """Resolve the session cookie of a request to (session id, principal), re-checking the token.

        Returns:
            None when the request carries no session cookie.

        Raises:
            ApiError: 401 when the session is unknown or expired, or its token was revoked or expired.
        """
        session_id = conn.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        session = self.get(session_id)
        if session is None:
            raise ApiError(401, "Unauthorized", "the console session has expired or was ended; log in again")
        try:
            with store.connect() as db:
                token = TokenRepository(db).get(session.token_id)
        except NotFound:
            token = None
        if token is None or not token.active or token.tenant != session.tenant:
            self.revoke(session_id)
            raise ApiError(
                401, "Unauthorized", "the token behind this console session was revoked or expired"
            )
        principal = Principal(token_id=token.id, tenant=token.tenant, scopes=token.scope_set)
        self.refresh(session_id, principal)
        return session_id, principal

    def check_csrf(self, conn: HTTPConnection, session_id: str, submitted: str | None) -> None:
        """Refuse a state-changing request whose CSRF token or ``Origin`` does not match.

        Raises:
            ApiError: 403 ``CSRFRejected``.
        """
        session = self.get(session_id)
        expected = session.csrf if session is not None else ""
        if not origin_ok(conn):
            raise ApiError(403, "CSRFRejected", "cross-origin request refused")
        if not submitted or not expected or not hmac.compare_digest(submitted, expected):
            raise ApiError(
                403,
                "CSRFRejected",
                "missing or wrong CSRF token: reload the console page and try again",
            )

    def hook(
        self, store_of: Callable[[HTTPConnection], Store]
    ) -> Callable[[HTTPConnection], Principal | None]:
        """The ``app.state.session_principal`` hook for :func:`codex.api.auth.require`."""

        def session_principal(conn: HTTPConnection) -> Principal | None:
            found = self.principal_for(conn, store_of(conn))
            if found is None:
                return None
            session_id, principal = found
            method = str(conn.scope.get("method", "GET")).upper()
            if conn.scope["type"] == "http" and method not in SAFE_METHODS:
                self.check_csrf(conn, session_id, conn.headers.get(CSRF_HEADER))
            return principal

        return session_principal


class LoginThrottle:
    """Failed console logins per client address over a sliding window (thread-safe, bounded memory).

    Args:
        window: Seconds a failure counts.
        max_clients: Addresses tracked at most; the stalest are forgotten first.
        clock: Monotonic seconds (tests may pass their own).
    """

    def __init__(
        self, *, window: float = 60.0, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window, self.max_clients, self.clock = window, max_clients, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, limit: int) -> float | None:
        """Seconds until ``client`` may try again when it has ``limit`` recent failures, else None."""
        now = self.clock()
        with self._lock:
            recent = self._recent(client, now)
            if recent is None or len(recent) < limit:
                return None
            return max(0.0, recent[len(recent) - limit] + self.window - now)

    def failed(self, client: str) -> None:
        """Count a failed login of ``client``."""
        now = self.clock()
        with self._lock:
            recent = self._recent(client, now)
            if recent is None:
                if len(self._failures) >= self.max_clients:
                    stalest = min(self._failures, key=lambda k: self._failures[k][-1])
                    del self._failures[stalest]
                recent = self._failures[client] = deque(maxlen=1000)
            recent.append(now)

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures (it knows a valid token)."""
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        recent = self._failures.get(client)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent
