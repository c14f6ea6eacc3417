"""Browser fixtures: Playwright for Python driving Debian's Chromium against the real hub and its services.

Playwright cannot download its own browsers here, so it launches ``/usr/bin/chromium`` (installed by the
Makefile) headless, with the background networking that would knock on Google's closed doors switched off.
Every test gets a fresh browser context (no cookies shared between people) and a ``shot`` function that saves
full-page screenshots under ``test-output/browser/<test>/`` (``ALPHABOOK_TEST_OUTPUT`` moves the folder), and
``hub_admin`` is the hub's administrator with a token, for the setup a test is not about.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.conftest import RunningHub
from tests.e2e.hub_client import HubUserSession

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
OUTPUT = Path(os.environ.get("ALPHABOOK_TEST_OUTPUT", Path(__file__).resolve().parents[3] / "test-output"))
Shot = Callable[[str], Path]

expect.set_options(timeout=30_000)  # a page's first render includes Bokeh's scripts and a websocket


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 800})
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shot(page: Page, request: pytest.FixtureRequest) -> Shot:
    folder = OUTPUT / "browser" / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        print(f"screenshot: {path}")
        return path

    return take


@pytest.fixture
def hub_admin(hub: RunningHub) -> Iterator[HubUserSession]:
    """The hub's administrator with an API token, for setting up what the test is not about."""
    admin = HubUserSession(hub.url, hub.admin_name)
    try:
        assert admin.log_in(hub.admin_password).status_code == 302
        admin.request_token()
        yield admin
    finally:
        admin.close()


def dashboards(hub: RunningHub, path: str = "explore") -> str:
    return f"{hub.url}/services/dashboards/{path}"


def log_in(page: Page, hub: RunningHub, name: str, password: str, then: str = "explore") -> None:
    """Log in on the hub's own form, as a person does, and come back to the dashboards' page ``then`` signed in
    (the hub sends the browser on through its OAuth to the dashboards service)."""
    target = f"/services/dashboards/{then}"
    page.goto(f"{hub.url}/hub/login?next=" + quote(f"/services/dashboards/login?next={quote(target, safe='')}",
                                                   safe=""))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{hub.url}{target}*")
    expect(page.get_by_text("Log out")).to_be_visible()
