"""Fixtures for the console: a real server with the test hooks on, and Chromium driven by Playwright.

The browser is the system Chromium (``/usr/bin/chromium``, installed by ``scripts/test`` when missing);
Playwright never downloads one. Each browser context gets a fresh user-data-dir under ``tmp_path``.
Screenshots go to ``test-artifacts/console/`` (kept by CI, ignored by git).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from codex.config import LocalDb
from tests.api.conftest import REPO, Server, server, shared_server, start_server

__all__ = ["ARTIFACTS", "BROWSER_ARGS", "CHROMIUM", "Tab", "login_session", "server", "shared_server"]

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "console"
HOOKED = "tests.console.hooked_serve"
"""``codex serve`` plus the test-only stream-drop route."""


@contextmanager
def login_session(server: Server, token: str) -> Iterator[tuple[httpx.Client, str]]:
    """An httpx client logged in through the form: (client with the session cookie, CSRF token)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/console/login", data={"token": server.tokens.get(token, token)})
        assert r.status_code == 303, r.text
        page = client.get("/console")
        assert page.status_code == 200, page.text
        match = re.search(r'<meta name="codex-csrf" content="([^"]+)">', page.text)
        assert match is not None
        yield client, match.group(1)


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per module over a local file, with the test-only stream-drop route."""
    tmp = tmp_path_factory.mktemp("console")
    srv = start_server(LocalDb(path=str(tmp / "codex.db")), tmp, module=HOOKED)
    try:
        yield srv
    finally:
        srv.stop()
        srv.store.dispose()


@dataclass
class Tab:
    """A browser page on the console, with the console messages it logged."""

    p: Page
    base: str
    messages: list[str] = field(default_factory=list)

    def goto(self, path: str, *, ready: bool = True) -> None:
        """Open a console path and wait until its page module has rendered."""
        self.p.goto(self.base + path)
        if ready:
            self.wait_ready()

    def wait_ready(self) -> None:
        root = self.p.locator("#page[data-ready]")
        root.wait_for()
        state = root.get_attribute("data-ready")
        assert state == "true", f"the page failed to render: {self.p.locator('#page').inner_text()}"

    def login(self, token: str) -> None:
        """Log in through the form (the token typed into the field labelled Token)."""
        self.p.goto(self.base + "/console/login")
        self.p.get_by_label("Token").fill(token)
        self.p.get_by_role("button", name="Log in").click()
        self.wait_ready()

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions so far."""
        return [m for m in self.messages if m.startswith(("error:", "pageerror:"))]

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.p.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver, one per module: its sync API keeps an asyncio loop marked as running in
    the main thread while it lives, so later modules' ``asyncio.run`` must not share a session with it."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install -y chromium` (scripts/test does)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def open_tab(playwright_driver: Playwright, tmp_path: Path) -> Iterator[Callable[[Server], Tab]]:
    """A factory of browser tabs, each in its own context with a fresh user-data-dir."""
    contexts: list[BrowserContext] = []
    count = 0

    def make(server: Server) -> Tab:
        nonlocal count
        count += 1
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{count}"),
            executable_path=CHROMIUM,
            headless=True,
            args=BROWSER_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        tab = Tab(p=page, base=server.url)

        def on_console(message: ConsoleMessage) -> None:
            tab.messages.append(f"{message.type}: {message.text}")

        def on_error(error: Exception) -> None:
            tab.messages.append(f"pageerror: {error}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
        return tab

    yield make
    for context in contexts:
        context.close()
