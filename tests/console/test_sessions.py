"""Console sessions through a real server: the token → cookie exchange, CSRF, logout, revocation, and
the security headers; plus the in-memory session store's expiry rules."""

from __future__ import annotations

import re

import httpx

from codex.api.auth import Principal
from codex.console import CSP
from codex.console.sessions import SESSION_COOKIE, SessionStore
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.tenancy import TokenRepository
from tests.api.conftest import Server
from tests.console.conftest import login_session

PAGES = ["/console", "/console/schema", "/console/live", "/console/queries", "/console/search"]
PAGES += ["/console/usage", "/console/runs"]


def test_login_exchanges_the_token_for_a_strict_httponly_cookie(console_server: Server) -> None:
    with httpx.Client(base_url=console_server.url) as c:
        assert c.get("/console").status_code == 303  # not logged in: to the form
        form = c.get("/console/login")
        assert form.status_code == 200 and '<label for="token">Token</label>' in form.text
        r = c.post("/console/login", data={"token": console_server.tokens["a_all"]})
        assert r.status_code == 303 and r.headers["location"] == "/console"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=28800"):
            assert attribute.lower() in cookie.lower(), cookie
        for path in PAGES:
            page = c.get(path)
            assert page.status_code == 200, path
            assert console_server.tokens["a_all"] not in page.text
            assert 'data-tenant="tenant-a"' in page.text and "<script>" not in page.text
        body = c.get("/api/admin/changes/tail").json()  # the cookie stands in for the bearer token
        assert body["topic"] == "*"
        assert c.get("/console/login").status_code == 303  # already logged in
        first = c.cookies[SESSION_COOKIE]
        assert c.post("/console/login", data={"token": console_server.tokens["b_all"]}).status_code == 303
        assert c.cookies[SESSION_COOKIE] != first  # a new session, and the old one is gone
        assert 'data-tenant="tenant-b"' in c.get("/console").text
    with httpx.Client(base_url=console_server.url, cookies={SESSION_COOKIE: first}) as old:
        assert old.get("/api/admin/changes/tail").status_code == 401


def test_bad_logins_say_why_and_never_echo_the_token(console_server: Server) -> None:
    with httpx.Client(base_url=console_server.url) as c:
        wrong = c.post("/console/login", data={"token": "codex_this-is-not-a-token"})
        assert wrong.status_code == 401 and "unknown, expired or revoked" in wrong.text
        assert "codex_this-is-not-a-token" not in wrong.text and "set-cookie" not in wrong.headers
        revoked = c.post("/console/login", data={"token": console_server.tokens["revoked"]})
        assert revoked.status_code == 401 and console_server.tokens["revoked"] not in revoked.text
        empty = c.post("/console/login", data={"token": "  "})
        assert empty.status_code == 400 and "Enter a token" in empty.text
        as_json = c.post("/console/login", json={"token": console_server.tokens["a_all"]})
        assert as_json.status_code == 400 and "Traceback" not in as_json.text
        in_url = c.get("/console/login", params={"token": console_server.tokens["a_all"]})
        assert in_url.status_code == 200 and SESSION_COOKIE not in in_url.headers.get("set-cookie", "")
        foreign = c.post(
            "/console/login",
            data={"token": console_server.tokens["a_all"]},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers


def test_state_changing_requests_need_the_csrf_token(console_server: Server) -> None:
    with login_session(console_server, "a_all") as (client, csrf):
        change = {"topic": "csrf/1", "change_kind": "insert"}
        missing = client.post("/api/codex/mutate/change", json=change)
        assert missing.status_code == 403 and missing.json()["error"] == "CSRFRejected"
        wrong = client.post("/api/codex/mutate/change", json=change, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        foreign = client.post(
            "/api/codex/mutate/change",
            json=change,
            headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403 and "cross-origin" in foreign.json()["message"]
        ok = client.post("/api/codex/mutate/change", json=change, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, ok.text
    with console_server.store.connect() as conn:
        rows = ChangeLogRepository(conn, "tenant-a").since(0, topic="csrf/1")
    assert len(rows) == 1  # exactly one of the four attempts got through
    with console_server.client("a_all") as bearer:  # bearer auth is unchanged: no cookie, no CSRF
        assert bearer.post("/api/codex/mutate/change", json=change).status_code == 200


def test_the_session_is_the_tokens_tenant_and_scopes(console_server: Server) -> None:
    with login_session(console_server, "a_read") as (client, csrf):
        assert client.get("/api/admin/runs").status_code == 200
        r = client.post(
            "/api/codex/mutate/change",
            json={"topic": "x/1", "change_kind": "insert"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 403 and r.json()["required_scope"] == "write"
        assert client.post("/api/admin/replica/sync", headers={"X-CSRF-Token": csrf}).status_code == 403
    with login_session(console_server, "b_all") as (client, _):
        page = client.get("/console/runs").text
        assert 'data-tenant="tenant-b"' in page and "tenant-a" not in page


def test_logout_ends_the_session(console_server: Server) -> None:
    with login_session(console_server, "a_all") as (client, csrf):
        cookie = client.cookies[SESSION_COOKIE]
        refused = client.post("/console/logout", data={"csrf": "wrong"})
        assert refused.status_code == 403 and "Logout refused" in refused.text
        assert client.get("/api/admin/changes/tail").status_code == 200  # still logged in
        out = client.post("/console/logout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    with httpx.Client(base_url=console_server.url, cookies={SESSION_COOKIE: cookie}) as replay:
        api = replay.get("/api/admin/changes/tail")
        assert api.status_code == 401 and "log in again" in api.json()["message"]
        assert replay.get("/console").status_code == 303


def test_a_revoked_token_ends_its_session_at_the_next_request(console_server: Server) -> None:
    with console_server.store.begin() as conn:
        new = TokenRepository(conn).create("tenant-a", ["read", "subscribe"])
    with login_session(console_server, new.secret) as (client, _):
        assert client.get("/api/admin/changes/tail").status_code == 200
        with client.stream("GET", "/api/codex/subscribe/*") as stream:  # SSE works with the cookie
            assert stream.status_code == 200
        with console_server.store.begin() as conn:
            TokenRepository(conn).revoke(new.token.id)
        r = client.get("/api/admin/changes/tail")
        assert r.status_code == 401 and "revoked or expired" in r.json()["message"]
        page = client.get("/console")
        assert page.status_code == 303 and page.headers["location"] == "/console/login"


def test_console_responses_carry_the_csp_and_security_headers(console_server: Server) -> None:
    with login_session(console_server, "a_all") as (client, _):
        for path in [*PAGES, "/console/login", "/console/static/app.js", "/console/static/console.css"]:
            r = client.get(path)
            assert r.status_code == (303 if path == "/console/login" else 200), path  # logged in already
            assert r.headers["content-security-policy"] == CSP
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
            assert r.headers["x-frame-options"] == "DENY"
        assert CSP == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        assert client.get("/console/static/app.js").headers["content-type"].startswith("text/javascript")
        for bad in ("/console/static/../pages.py", "/console/static/nope.js", "/console/static/pages"):
            r = client.get(bad)
            assert r.status_code == 404 and r.json()["error"] == "NotFound", bad


def test_pages_have_no_inline_script_style_or_handlers(console_server: Server) -> None:
    with login_session(console_server, "a_all") as (client, _):
        for path in [*PAGES, "/console/login"]:
            html = client.get(path).text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
            assert not re.search(r"\sstyle=|\son[a-z]+=", html), path
            assert not re.search(r"https?://", html), path  # nothing remote


def test_the_token_never_reaches_the_server_log(console_server: Server) -> None:
    with login_session(console_server, "a_all") as (client, _):
        client.get("/console/schema")
        client.post("/console/login", data={"token": console_server.tokens["b_all"]})
    log = console_server.log.read_text()
    assert all(secret not in log for secret in console_server.tokens.values())


def test_session_store_expiry_and_bounds() -> None:
    now = [1000.0]
    store = SessionStore(ttl=100, idle=30, max_sessions=2, clock=lambda: now[0])
    who = Principal(token_id=1, tenant="t", scopes=frozenset({"read"}))
    first, session = store.create(who)
    assert store.get(first) == session and len(session.csrf) >= 32 and first != session.csrf
    now[0] += 29
    assert store.get(first) is not None  # touched: idle restarts
    now[0] += 29
    assert store.get(first) is not None
    now[0] += 30
    assert store.get(first) is None  # idle too long
    a, _ = store.create(who)
    for step in (25, 25, 25, 24):
        now[0] += step
        assert store.get(a) is not None  # 99 s old, never idle for 30 s
    now[0] += 1
    assert store.get(a) is None  # absolute lifetime (100 s) over
    b, _ = store.create(who)
    c, _ = store.create(who)
    d, _ = store.create(who)
    assert store.get(b) is None and store.get(c) is not None and store.get(d) is not None  # oldest dropped
    assert store.revoke(c) is True and store.get(c) is None and store.revoke(c) is False
    assert store.get(None) is None and store.get("x" * 500) is None
