"""The Codex console: a small operator UI served by the same app under ``/console``.

Plain HTML shells (rendered by :mod:`codex.console.pages`), one CSS file and JavaScript modules in
``codex/console/static`` (shipped as package data): no Node build, no CDN, no network fetch at run
time. The pages read and write only through Codex's public JSON API and SSE stream (``/ready``,
``/api/codex/*``, ``/api/admin/*``, ``/api/search``), with the session cookie standing in for the
bearer token.

Pages: ``/console`` (readiness, drift, ledger, database mode, replica sync), ``/console/schema``,
``/console/live``, ``/console/queries``, ``/console/search``, ``/console/usage``, ``/console/runs``;
plus ``/console/login`` and ``/console/logout``.

Safety: sessions are kept server-side in memory (see :mod:`codex.console.sessions`: HttpOnly,
SameSite=Strict cookie, expiring, revoked by logout, token re-checked on every request, CSRF token on
every state-changing request; failed logins throttled per client address: 429 with ``Retry-After``).
Every ``/console`` response carries a strict Content-Security-Policy
(:data:`CSP`) and ``X-Content-Type-Options``, ``Referrer-Policy`` and ``X-Frame-Options``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codex.console.pages import PAGES, STATIC_DIR, router
from codex.console.sessions import LoginThrottle, SessionStore
from codex.store import Store

__all__ = ["CSP", "PAGES", "SECURITY_HEADERS", "STATIC_DIR", "ConsoleHeaders", "mount_console"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
"""The console's Content-Security-Policy: no inline script or style, no remote origin."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class ConsoleHeaders:
    """ASGI middleware: add :data:`SECURITY_HEADERS` to every ``/console`` response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == "/console" or path.startswith("/console/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _store_of(conn: HTTPConnection) -> Store:
    store: Store = conn.app.state.codex.store
    return store


def mount_console(app: FastAPI, *, sessions: SessionStore | None = None) -> None:
    """Mount the console routes, its security headers and the session hook on ``app``.

    Args:
        app: The Codex app (before it starts).
        sessions: The session store (default: a new in-memory one with 8 h / 1 h idle expiry).
    """
    store = sessions or SessionStore()
    app.state.console_sessions = store
    app.state.console_throttle = LoginThrottle()
    app.state.session_principal = store.hook(_store_of)
    app.add_middleware(ConsoleHeaders)
    app.include_router(router)
