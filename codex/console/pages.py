"""The console's HTML routes: login and logout, one small page shell per page, and the static files.

The shells are rendered here (escaped; no user data but the tenant name and scopes) and load one
JavaScript module, ``/console/static/app.js``, which draws the page from Codex's public JSON API. No
inline script or style anywhere, so the strict Content-Security-Policy of :mod:`codex.console` holds.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from codex.console.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginThrottle,
    SessionStore,
    origin_ok,
)
from codex.errors import ApiError
from codex.principals import Principal, authenticate_secret

__all__ = ["PAGES", "STATIC_DIR", "Page", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_LOGIN_FORM_TYPE = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Page:
    """One console page: its key (the JavaScript module under ``static/pages/``), path and title."""

    key: str
    path: str
    title: str


PAGES: tuple[Page, ...] = (
    Page("overview", "/console", "Overview"),
    Page("schema", "/console/schema", "Schema"),
    Page("live", "/console/live", "Live"),
    Page("queries", "/console/queries", "Queries"),
    Page("search", "/console/search", "Search"),
    Page("usage", "/console/usage", "Usage"),
    Page("runs", "/console/runs", "Runs & audit"),
)

router = APIRouter(include_in_schema=False)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _head(title: str, extra: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} · Codex console</title>\n"
        '<link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">\n'
        '<link rel="stylesheet" href="/console/static/console.css">\n'
        f"{extra}</head>\n"
    )


def render_page(page: Page, principal: Principal, csrf: str) -> str:
    """The shell of one page for a logged-in principal."""
    current = ' aria-current="page"'
    nav = "".join(
        f'<li><a href="{p.path}"{current if p.key == page.key else ""}>{_e(p.title)}</a></li>' for p in PAGES
    )
    scopes = " ".join(sorted(principal.scopes))
    return (
        _head(
            page.title,
            f'<meta name="codex-csrf" content="{_e(csrf)}">\n'
            '<script type="module" src="/console/static/app.js"></script>\n',
        )
        + f'<body data-page="{_e(page.key)}" data-tenant="{_e(principal.tenant)}" '
        f'data-scopes="{_e(scopes)}">\n'
        '<a class="skip" href="#main">Skip to content</a>\n'
        '<header class="top">\n<span class="brand">Codex console</span>\n'
        f'<nav aria-label="Console pages"><ul>{nav}</ul></nav>\n'
        f'<span class="who">tenant <strong>{_e(principal.tenant)}</strong> · scopes {_e(scopes)}</span>\n'
        '<form class="logout" method="post" action="/console/logout">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(csrf)}">'
        '<button type="submit">Log out</button></form>\n'
        "</header>\n"
        f'<main id="main" tabindex="-1">\n<h1>{_e(page.title)}</h1>\n'
        '<div id="page" class="page"><p class="muted">Loading…</p></div>\n'
        "</main>\n</body>\n</html>\n"
    )


def render_login(message: str | None = None) -> str:
    """The login form (a field labelled Token; the value is never echoed back)."""
    alert = f'<p class="error" role="alert">{_e(message)}</p>\n' if message else ""
    return (
        _head("Log in")
        + '<body class="login">\n<main id="main">\n<h1>Codex console</h1>\n'
        + alert
        + '<form method="post" action="/console/login" class="card" autocomplete="off">\n'
        '<label for="token">Token</label>\n'
        '<input id="token" name="token" type="password" required autocomplete="off" '
        'spellcheck="false" aria-describedby="token-help">\n'
        '<p id="token-help" class="muted">A Codex token from <code>codex tokens create</code>. It is '
        "exchanged for a session cookie and never stored in the browser.</p>\n"
        '<button type="submit">Log in</button>\n</form>\n</main>\n</body>\n</html>\n'
    )


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.console_sessions
    return sessions


def _current(request: Request) -> tuple[str, Principal] | None:
    """The request's session (re-checked against the token), or None."""
    try:
        return _sessions(request).principal_for(request, request.app.state.codex.store)
    except ApiError:
        return None


def _to_login(clear: bool = False) -> RedirectResponse:
    response = RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    if clear:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _login_page(message: str | None, status: int) -> HTMLResponse:
    return HTMLResponse(render_login(message), status_code=status, headers=_NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _LOGIN_FORM_TYPE:
        raise ValueError("the form must be sent as application/x-www-form-urlencoded")
    body = (await request.body()).decode("utf-8", "replace")
    fields = parse_qs(body, keep_blank_values=True, max_num_fields=20)
    return {k: v[0] for k, v in fields.items() if v}


@router.get("/console/login")
def login_form(request: Request) -> Response:
    """The login page (or the overview when already logged in)."""
    if _current(request) is not None:
        return RedirectResponse("/console", status_code=303, headers=_NO_STORE)
    return _login_page(None, 200)


@router.post("/console/login")
async def login(request: Request) -> Response:
    """Exchange a token for a session: 303 to the overview with the session cookie, or the form again."""
    if not origin_ok(request):
        return _login_page("Cross-origin login refused.", 403)
    try:
        token = (await _form(request)).get("token", "").strip()
    except ValueError:
        return _login_page("The login form could not be read; reload the page and try again.", 400)
    if not token:
        return _login_page("Enter a token.", 400)
    throttle: LoginThrottle = request.app.state.console_throttle
    client = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(client, request.app.state.codex.settings.login_failures_per_minute)
    if wait is not None:
        page = _login_page("Too many failed logins from this address; wait a minute and try again.", 429)
        page.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return page
    store = request.app.state.codex.store
    try:
        principal = await anyio.to_thread.run_sync(authenticate_secret, store, token)
    except ApiError:
        throttle.failed(client)
        return _login_page("That token is unknown, expired or revoked.", 401)
    throttle.succeeded(client)
    request.app.state.codex.book.token_used(principal.token_id)
    sessions = _sessions(request)
    sessions.revoke(request.cookies.get(SESSION_COOKIE))  # a login never reuses an earlier session
    session_id, _ = sessions.create(principal)
    response = RedirectResponse("/console", status_code=303, headers=_NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(sessions.ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked) and clear the cookie."""
    sessions = _sessions(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and sessions.get(session_id) is not None:
        try:
            submitted = request.headers.get(CSRF_HEADER) or (await _form(request)).get(CSRF_FIELD)
        except ValueError:
            submitted = None
        try:
            sessions.check_csrf(request, session_id, submitted)
        except ApiError as exc:
            return _login_page(f"Logout refused: {exc.message}", 403)
        sessions.revoke(session_id)
    return _to_login(clear=True)


def _page_route(page: Page) -> None:
    def handler(request: Request) -> Response:
        found = _current(request)
        if found is None:
            return _to_login(clear=SESSION_COOKIE in request.cookies)
        session_id, principal = found
        session = _sessions(request).get(session_id)
        if session is None:  # pragma: no cover - expired between the two reads
            return _to_login(clear=True)
        return HTMLResponse(render_page(page, principal, session.csrf), headers=_NO_STORE)

    handler.__name__ = f"console_{page.key}"
    router.add_api_route(page.path, handler, methods=["GET"], response_class=HTMLResponse)


for _page in PAGES:
    _page_route(_page)


@router.get("/console/")
def console_slash() -> RedirectResponse:
    """``/console/`` → ``/console``."""
    return RedirectResponse("/console", status_code=308)


@router.get("/console/static/{path:path}")
def static_file(path: str) -> Response:
    """A file of ``codex/console/static`` (JavaScript modules, CSS, icons); nothing outside it."""
    try:
        target = (STATIC_DIR / path).resolve()
    except (ValueError, OSError):  # a NUL byte, a name too long: no such file
        raise ApiError(404, "NotFound", "no such console file") from None
    if (
        STATIC_DIR not in target.parents
        or not target.is_file()
        or target.suffix not in _TYPES
        or any(part.startswith(".") for part in target.relative_to(STATIC_DIR).parts)
    ):
        raise ApiError(404, "NotFound", "no such console file")
    return Response(
        target.read_bytes(), media_type=_TYPES[target.suffix], headers={"Cache-Control": "no-cache"}
    )
