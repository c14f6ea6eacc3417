"""What a person notices before anything works: every page fits the screen at 1280×800 and at phone width (no
sideways scrolling), with the same header, and the service's errors are words, not stack traces."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser.conftest import OUTPUT, dashboards
from tests.e2e.conftest import RunningHub

pytestmark = pytest.mark.e2e
PUBLIC = {"explore": "Indicators and strategies", "demo": "of virtual money",
          "providers": "Copy the trades of listed traders"}  # page: text it shows once drawn
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("screen", SCREENS)
def test_public_pages_fit_the_screen(hub: RunningHub, browser: Browser, screen: str) -> None:
    context = browser.new_context(viewport=SCREENS[screen], is_mobile=screen == "phone")
    folder = OUTPUT / "browser" / f"layouts-{screen}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        page = context.new_page()
        for slug, text in PUBLIC.items():
            page.goto(dashboards(hub, slug))
            expect(page.get_by_text(text).first).to_be_visible()
            expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()  # the navigation fits too
            page.wait_for_timeout(500)  # charts and cards finish drawing
            width = page.evaluate("window.innerWidth")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            page.screenshot(path=str(folder / f"{slug}.png"), full_page=True)
            assert width == SCREENS[screen]["width"], f"{slug} is laid out {width}px wide on a {screen}"
            assert overflow <= 1, f"{slug} scrolls sideways by {overflow}px at {screen} width"
    finally:
        context.close()


def test_errors_are_words_not_stack_traces(hub: RunningHub) -> None:
    with httpx.Client(timeout=60) as http:
        broken = http.get(dashboards(hub, "oauth_callback"))  # no code, no state: a login that went nowhere
        assert broken.status_code == 400
        assert "start again" in broken.text
        assert "Traceback" not in broken.text
        missing = http.get(dashboards(hub, "no-such-page"))
        assert missing.status_code == 404
        assert "Traceback" not in missing.text
