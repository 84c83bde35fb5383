"""The console in a real browser: the system Chromium driven by Playwright against a real server.

Waits use locators (``wait_for``, ``expect``), never ``page.wait_for_function`` (the CSP blocks eval).
Resume after a dropped stream is tested with the test-only route ``POST /api/admin/test/drop-streams``
(added by ``tests/console/hooked_serve.py``, which the fixtures run instead of ``codex serve``): it ends every open SSE response
the way a server going away does, and the browser's EventSource reconnects with ``Last-Event-ID``.
Sessions live in the server's memory, so restarting the server would end the session instead.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Route, expect

from codex.config import DbConfig
from codex.reactive.feed import read_changes
from codex.repositories.tenancy import TokenRepository
from domains import DOMAIN_NAMES, DOMAINS
from tests.api.conftest import REPO, Server, start_server
from tests.console.conftest import ARTIFACTS, Tab

OpenTab = Callable[[Server], Tab]

PAGES = [
    ("overview", "/console", "Overview"),
    ("schema", "/console/schema", "Schema"),
    ("live", "/console/live", "Live"),
    ("queries", "/console/queries", "Queries"),
    ("search", "/console/search", "Search"),
    ("usage", "/console/usage", "Usage"),
    ("runs", "/console/runs", "Runs & audit"),
]
FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), "
    "textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"
)


def _change(c: httpx.Client, topic: str, payload: object = None) -> int:
    r = c.post("/api/codex/mutate/change", json={"topic": topic, "change_kind": "insert", "payload": payload})
    assert r.status_code == 200, r.text
    return int(r.json()["result"]["change_log_id"])


def _seed(server: Server) -> None:
    """Rows for every page to show (tenant-a), through the public API as any client would."""
    from codex.search import ingest

    with server.client("a_all") as a, server.client("operator") as admin:
        conv = a.post("/api/codex/mutate/chat.create_conversation", json={"title": "Release notes"}).json()
        conv_id = conv["result"]["id"]
        for role, text in (("user", "What changed in 0.4?"), ("assistant", "Tenancy and the console.")):
            a.post(
                "/api/codex/mutate/chat.append_message",
                json={"conversation_id": conv_id, "role": role, "text": text},
            )
        run = a.post(
            "/api/codex/mutate/processing.start_run", json={"run_kind": "ingest", "correlation_id": "docs"}
        ).json()["result"]
        for step in ("fetch", "chunk", "embed"):
            a.post("/api/codex/mutate/processing.append_step", json={"run_id": run["id"], "step_name": step})
        a.post("/api/codex/mutate/processing.finish_run", json={"run_id": run["id"], "status": "succeeded"})
        a.post("/api/codex/mutate/processing.start_run", json={"run_kind": "reindex"})
        a.post(
            "/api/codex/mutate/audit.append",
            json={
                "actor_kind": "user",
                "actor_id": "ada",
                "action": "token.create",
                "resource_kind": "token",
            },
        )
        for metric, value, enforcement in (("api.mutations", 40, "hard"), ("search.queries", 5, "soft")):
            r = admin.post(
                "/api/codex/mutate/usage.set_limit",
                json={
                    "tenant": "tenant-a",
                    "metric_key": metric,
                    "period_kind": "daily",
                    "limit_value": value,
                    "enforcement": enforcement,
                },
            )
            assert r.status_code == 200, r.text
    with server.store.begin() as conn:
        ingest(
            conn,
            "tenant-a/docs/leases.md",
            "Leases expire after their ttl; a worker renews its lease while it runs.",
            "text/markdown",
            "Job leases",
        )


def _ids(tab: Tab) -> list[int]:
    return [
        int(v) for v in tab.p.locator("#events tr.event").evaluate_all("rows => rows.map(r => r.dataset.id)")
    ]


def test_login_and_every_page_renders_without_console_errors(
    console_server: Server, open_tab: OpenTab
) -> None:
    _seed(console_server)
    tab = open_tab(console_server)
    tab.p.goto(console_server.url + "/console/schema")
    assert tab.p.url == console_server.url + "/console/login"  # not logged in: to the form
    token = console_server.tokens["admin"]
    tab.login(token)
    assert tab.p.url == console_server.url + "/console"
    for key, path, title in PAGES:
        tab.goto(path)
        expect(tab.p.get_by_role("heading", level=1)).to_have_text(title)
        expect(tab.p.locator(f'nav a[href="{path}"]')).to_have_attribute("aria-current", "page")
        if key == "overview":
            expect(tab.p.locator(".badge")).to_have_text("ready")
            tab.p.get_by_role("heading", name="Applied revisions").wait_for()
            expect(tab.p.locator("#db-mode")).to_have_text("local")
        elif key == "schema":
            tab.p.get_by_text(f"Showing {sum(len(t) for t in DOMAINS.values())} of").wait_for()
        elif key == "live":
            tab.p.get_by_text("Live: streaming *").wait_for()
            tab.p.locator("#events tr.event").first.wait_for()
        elif key == "queries":
            tab.p.get_by_label("Query").select_option("chat.conversations")
            tab.p.get_by_role("button", name="Run query").click()
            tab.p.locator("#result-digest").wait_for()
        elif key == "search":
            tab.p.get_by_label("Query").fill("lease ttl")
            tab.p.get_by_role("button", name="Search").click()
            tab.p.get_by_text("Job leases").wait_for()
        elif key == "usage":
            tab.p.get_by_text("search.queries").first.wait_for()
            expect(tab.p.locator(".bar svg")).not_to_have_count(0)
        elif key == "runs":
            tab.p.get_by_text("3 step(s)").wait_for()
            tab.p.get_by_text("token.create").wait_for()
        tab.screenshot(key, full_page=key != "schema")
        assert token not in tab.p.content() and token not in tab.p.url
    assert tab.errors() == []
    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(ARTIFACTS / "schema.png", docs / "console.png")
    assert token not in console_server.log.read_text()


def test_schema_page_lists_every_table_and_draws_each_domain(
    console_server: Server, open_tab: OpenTab
) -> None:
    tab = open_tab(console_server)
    tab.login(console_server.tokens["a_read"])
    tab.goto("/console/schema")
    assert len(DOMAIN_NAMES) == 18
    expect(tab.p.locator("section.domain")).to_have_count(len(DOMAINS))
    for domain, tables in DOMAINS.items():
        section = tab.p.locator(f"#domain-{domain}")
        expect(section.locator("svg.diagram")).to_have_count(1)
        expect(section.locator("svg.diagram title")).to_contain_text(f"{len(tables)} tables")
        fks = sum(len(t.foreign_key_constraints) for t in tables)
        expect(section.locator("svg.diagram g.fk")).to_have_count(fks)
        for table in tables:
            expect(section.locator(f'article[data-table="{table.name}"]')).to_have_count(1)
            expect(section.locator(f'svg.diagram g.table-box[data-table="{table.name}"]')).to_have_count(1)
    chat = tab.p.locator("#domain-user_chat")
    expect(
        chat.locator('g.fk[data-from="conversation_messages"][data-to="conversations"] text')
    ).to_have_text("ON DELETE CASCADE")
    expect(chat.locator('article[data-table="conversations"]')).to_contain_text("Created by v11: user chat")
    expect(tab.p.get_by_text("row count needs the operator scope").first).to_be_visible()
    tab.p.get_by_label("Filter tables and columns").fill("usage_counter")
    tab.p.get_by_text("Showing 1 of").wait_for()
    expect(tab.p.locator('article[data-table="usage_counter_snapshots"]')).to_be_visible()
    expect(tab.p.locator('article[data-table="conversations"]')).to_be_hidden()
    tab.p.get_by_label("Filter tables and columns").fill("")
    expect(tab.p.locator('article[data-table="conversations"]')).to_be_visible()
    assert tab.errors() == []


def test_a_mutation_appears_on_the_live_page_within_a_second(
    console_server: Server, open_tab: OpenTab
) -> None:
    tab = open_tab(console_server)
    tab.login(console_server.tokens["a_all"])
    tab.goto("/console/live")
    expect(tab.p.get_by_label("Topic pattern")).to_have_value("")  # empty = every topic
    tab.p.get_by_text("Live: streaming *").wait_for()
    with console_server.client("a_all") as c:
        change_id = _change(c, "notes/live", {"hello": "world"})
        row = tab.p.locator(f'#events tr[data-id="{change_id}"]')
        row.wait_for(timeout=1000)  # the requirement: on the page within a second of the commit
        expect(row).to_contain_text("notes/live")
        expect(row).to_contain_text('{"hello":"world"}')

        tab.p.get_by_label("Topic pattern").fill("notes/*")
        tab.p.get_by_role("button", name="Watch").click()
        tab.p.get_by_text("Live: streaming notes/*").wait_for()
        expect(tab.p.locator(f'#events tr[data-id="{change_id}"]')).to_have_count(1)  # replayed on open
        other = _change(c, "other/1")
        wanted = _change(c, "notes/2")
        tab.p.locator(f'#events tr[data-id="{wanted}"]').wait_for(timeout=1000)
        expect(tab.p.locator(f'#events tr[data-id="{other}"]')).to_have_count(0)

        tab.p.get_by_role("button", name="Pause").click()
        tab.p.get_by_text(f"Paused after #{wanted}").wait_for()
        held = _change(c, "notes/3")
        tab.p.wait_for_timeout(400)
        expect(tab.p.locator(f'#events tr[data-id="{held}"]')).to_have_count(0)
        tab.p.get_by_role("button", name="Resume").click()
        tab.p.locator(f'#events tr[data-id="{held}"]').wait_for()
        tab.p.get_by_text(f"Resumed after #{wanted}").wait_for()
        expect(tab.p.locator("#stream-stats")).to_contain_text("duplicates ignored 0")
    assert tab.errors() == []


def test_the_live_page_resumes_after_the_server_drops_the_stream(
    console_server: Server, open_tab: OpenTab
) -> None:
    tab = open_tab(console_server)
    tab.login(console_server.tokens["a_all"])
    tab.goto("/console/live")
    tab.p.get_by_text("Live: streaming *").wait_for()
    with console_server.client("a_all") as c, console_server.client("admin") as admin:
        before = [_change(c, "drop/before", i) for i in range(3)]
        tab.p.locator(f'#events tr[data-id="{before[-1]}"]').wait_for()
        dropped = admin.post("/api/admin/test/drop-streams")
        assert dropped.status_code == 200 and dropped.json()["dropped"] >= 1
        after = [_change(c, "drop/after", i) for i in range(3)]  # committed while the browser is away
        tab.p.get_by_text(f"Reconnected: resumed after #{before[-1]}").wait_for()
        tab.p.locator(f'#events tr[data-id="{after[-1]}"]').wait_for()
    expect(tab.p.locator("#stream-stats")).to_contain_text("reconnects 1 · duplicates ignored 0")
    shown = _ids(tab)
    assert len(shown) == len(set(shown))  # no duplicate
    with console_server.store.connect() as conn:
        expected = [e.id for e in read_changes(conn, min(shown) - 1, limit=1000, tenant="tenant-a")]
    assert sorted(shown) == [i for i in expected if i <= max(shown)]  # no gap
    assert set(before + after) <= set(shown)
    assert tab.errors() == []


def test_tenant_b_never_sees_tenant_a(console_server: Server, open_tab: OpenTab) -> None:
    from codex.search import ingest

    with console_server.store.begin() as conn:
        ingest(conn, "tenant-a/secret/plan.txt", "The alphasecret plan for tenant A.", "text/plain", "A plan")
        ingest(
            conn, "tenant-b/notes/b.txt", "Tenant B notes about alphasecret rumours.", "text/plain", "B notes"
        )
    tab = open_tab(console_server)
    tab.login(console_server.tokens["b_all"])
    tab.goto("/console/live")
    tab.p.get_by_text("Live: streaming *").wait_for()
    with console_server.client("a_all") as a, console_server.client("b_all") as b:
        _change(a, "secret/a", "a-only")
        a.post("/api/codex/mutate/processing.start_run", json={"run_kind": "a-secret-run"})
        a.post("/api/codex/mutate/audit.append", json={"actor_kind": "user", "action": "a-secret-action"})
        b_id = _change(b, "notes/b", "b-visible")
    tab.p.locator(f'#events tr[data-id="{b_id}"]').wait_for()
    pages = {"/console/live": tab.p.content()}
    tab.goto("/console/runs")
    tab.p.get_by_text("No runs match.").wait_for()
    pages["/console/runs"] = tab.p.content()
    tab.goto("/console/usage")
    tab.p.get_by_text("tenant:tenant-b").first.wait_for()
    pages["/console/usage"] = tab.p.content()
    tab.goto("/console/queries")
    tab.p.get_by_label("Query").select_option("changes.since")
    tab.p.get_by_role("button", name="Run query").click()
    tab.p.locator("#result-digest").wait_for()
    pages["/console/queries"] = tab.p.content()
    tab.goto("/console/search")
    tab.p.get_by_label("Query").fill("alphasecret")
    tab.p.get_by_role("button", name="Search").click()
    tab.p.get_by_text("1 hit(s)").wait_for()
    pages["/console/search"] = tab.p.content()
    for path, html in pages.items():
        for secret in ("secret/a", "a-only", "a-secret-run", "a-secret-action", "tenant-a", "A plan"):
            assert secret not in html, f"{path} shows {secret!r}"
    assert "b-visible" in pages["/console/live"] and "B notes" in pages["/console/search"]
    assert tab.errors() == []


def test_the_csp_blocks_inline_script_handlers_and_styles(console_server: Server, open_tab: OpenTab) -> None:
    tab = open_tab(console_server)
    tab.login(console_server.tokens["a_read"])
    tab.messages.clear()
    with pytest.raises(PlaywrightError, match="Content Security Policy"):
        tab.p.add_script_tag(content="document.body.setAttribute('data-pwned', 'script')")
    heading = tab.p.get_by_role("heading", level=1)
    heading.evaluate(
        "h => h.setAttribute('onclick', \"document.body.setAttribute('data-pwned', 'handler')\")"
    )
    heading.click()
    heading.evaluate("h => h.setAttribute('style', 'display: none')")
    tab.p.locator("main").evaluate(
        "m => { const i = document.createElement('img'); i.src = 'http://192.0.2.1/x.png'; m.append(i); }"
    )
    expect(tab.p.locator("body[data-pwned]")).to_have_count(0)
    expect(heading).to_be_visible()  # the inline style attribute was not applied
    violations = [m for m in tab.messages if "Content Security Policy" in m]
    assert any("inline script" in m for m in violations), violations
    assert any("inline event handler" in m for m in violations), violations
    assert any("inline style" in m for m in violations), violations
    assert any("img-src" in m for m in violations), violations


@pytest.mark.parametrize(("key", "path", "title"), PAGES)
def test_keyboard_navigation_reaches_every_control(
    console_server: Server, open_tab: OpenTab, key: str, path: str, title: str
) -> None:
    tab = open_tab(console_server)
    tab.login(console_server.tokens["admin"])
    tab.goto(path)
    if key == "live":
        tab.p.get_by_text("Live: streaming *").wait_for()
    if key == "runs":
        tab.p.locator("#runs-output *").first.wait_for()
    controls = [el for el in tab.p.locator(FOCUSABLE).all() if el.is_visible()]
    assert len(controls) >= 9  # at least the skip link, the 7 page links and the logout button
    for index, el in enumerate(controls):
        el.evaluate("(e, i) => e.setAttribute('data-kbd', String(i))", index)
    tab.p.locator("body").evaluate("b => b.focus()")
    seen: list[str] = []
    for _ in range(len(controls) + 15):
        tab.p.keyboard.press("Tab")
        seen.append(tab.p.evaluate("() => document.activeElement?.getAttribute('data-kbd') ?? ''"))
    missing = [i for i in range(len(controls)) if str(i) not in seen]
    assert missing == [], [controls[i].evaluate("e => e.outerHTML.slice(0, 120)") for i in missing]
    assert seen[0] == "0"  # the skip link comes first
    assert tab.errors() == []


def test_bad_input_gets_a_clear_message_on_the_page(console_server: Server, open_tab: OpenTab) -> None:
    tab = open_tab(console_server)
    tab.p.goto(console_server.url + "/console/login")
    wrong = "codex_not-a-real-token-at-all"
    tab.p.get_by_label("Token").fill(wrong)
    tab.p.get_by_role("button", name="Log in").click()
    expect(tab.p.get_by_role("alert")).to_have_text("That token is unknown, expired or revoked.")
    assert wrong not in tab.p.content()
    tab.login(console_server.tokens["a_all"])

    tab.goto("/console/queries")
    tab.p.get_by_label("Query").select_option("chat.messages")
    tab.p.get_by_label("conversation_id (integer, required)").fill("abc")
    tab.p.get_by_role("button", name="Run query").click()
    expect(tab.p.locator("#query-errors [role=alert]")).to_contain_text("conversation_id")
    expect(tab.p.locator("#query-errors [role=alert]")).to_contain_text("[HTTP 422]")

    tab.goto("/console/search")
    tab.p.get_by_label("Query").fill("lease")
    tab.p.get_by_label("Results (k)").fill("0")
    tab.p.get_by_role("button", name="Search").click()
    expect(tab.p.locator("#search-errors [role=alert]")).to_contain_text("k:")

    def unavailable(route: Route) -> None:
        body = {"error": "SearchUnavailable", "message": "search is not available in this build"}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    tab.p.route("**/api/search?**", unavailable)
    tab.p.get_by_label("Results (k)").fill("5")
    tab.p.get_by_role("button", name="Search").click()
    expect(tab.p.locator("#search-errors [role=alert]")).to_have_text(
        "search is not available in this build [HTTP 503]"
    )
    tab.p.unroute("**/api/search?**")

    tab.goto("/console/runs")
    tab.p.get_by_label("Since").first.fill("yesterday")
    tab.p.get_by_role("button", name="Filter runs").click()
    expect(tab.p.locator("#runs-errors [role=alert]")).to_contain_text("since must be a date or time")
    tab.p.locator("#audit-since").fill("last week")
    tab.p.get_by_role("button", name="Filter audit log").click()
    expect(tab.p.locator("#audit-errors [role=alert]")).to_contain_text("Since must look like 2026-01-31")

    tab.goto("/console/live")
    tab.p.get_by_label("Topic pattern").fill("a b")
    tab.p.get_by_role("button", name="Watch").click()
    expect(tab.p.locator("#live-errors [role=alert]")).to_contain_text("invalid topic pattern 'a b'")
    for html in (tab.p.content(),):
        assert "Traceback" not in html and 'File "' not in html


def test_logout_and_a_revoked_token_end_the_session(console_server: Server, open_tab: OpenTab) -> None:
    with console_server.store.begin() as conn:
        new = TokenRepository(conn).create("tenant-a", ["read", "subscribe"])
    tab = open_tab(console_server)
    tab.login(new.secret)
    tab.p.get_by_role("button", name="Log out").click()
    tab.p.get_by_label("Token").wait_for()
    assert tab.p.url == console_server.url + "/console/login"
    tab.p.goto(console_server.url + "/console/usage")
    assert tab.p.url == console_server.url + "/console/login"  # the session is gone
    tab.login(new.secret)
    tab.goto("/console/usage")
    with console_server.store.begin() as conn:
        TokenRepository(conn).revoke(new.token.id)
    tab.p.goto(console_server.url + "/console/runs")
    tab.p.get_by_label("Token").wait_for()
    assert tab.p.url == console_server.url + "/console/login"


@pytest.mark.parametrize("backend", ["sqld"])
def test_sync_now_on_an_embedded_replica(db_config: DbConfig, tmp_path: Path, open_tab: OpenTab) -> None:
    srv = start_server(db_config, tmp_path, {"VOX_DB_PATH": str(tmp_path / "replica.db")})
    try:
        tab = open_tab(srv)
        tab.login(srv.tokens["admin"])
        expect(tab.p.locator("#db-mode")).to_have_text("replica")
        tab.p.get_by_text("Replica head").wait_for()
        tab.p.get_by_role("button", name="Sync now").click()
        tab.p.get_by_text("Synced. Lag now 0.").wait_for()
        tab.screenshot("overview-replica")
        assert srv.tokens["admin"] not in tab.p.content()
        assert tab.errors() == []
    finally:
        srv.stop()
        srv.store.dispose()
