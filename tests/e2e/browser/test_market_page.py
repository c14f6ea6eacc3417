"""The Market page in the browser, through the real hub, on the embedded default with no network: the first start
(``alphabook run``) read the bundled sample feed, so the page shows the market mood at once; after the operator's
``alphabook sentiment refresh`` it shows the new Fear & Greed gauge with its components, sentiment per symbol and
the news, which a visitor filters by symbol, and the public API answers the same index.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser.conftest import OUTPUT, Shot, dashboards
from tests.e2e.browser.test_creator_admin_journey import seen
from tests.e2e.conftest import ALPHABOOK, RunningHub

pytestmark = pytest.mark.e2e


def refresh_as_the_operator(hub: RunningHub) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    done = subprocess.run([str(ALPHABOOK), "sentiment", "refresh"], env={**env, "ALPHABOOK_HOME": str(hub.home)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_visitor_reads_the_market_mood_and_filters_the_news(hub: RunningHub, browser: Browser, page: Page,
                                                               shot: Shot) -> None:
    page.goto(dashboards(hub, "market"))
    seen(page.get_by_text("Latest news (8)"))  # read by the hub's first start
    expect(page.get_by_role("link", name="Market", exact=True)).to_be_visible()
    shot("market-first-start")

    told = refresh_as_the_operator(hub)
    assert "0 new stories, 0 updated, 8 already stored" in told
    value, label = re.search(r"Fear & Greed (\d+) \(([A-Za-z ]+)\)", told).groups()  # type: ignore[union-attr]

    page.reload()
    seen(page.get_by_text(f"Crypto Fear & Greed · {label}", exact=True))
    expect(page.locator("svg text.number")).to_have_text(value)  # the gauge's number
    expect(page.get_by_text("Components (score × weight)")).to_be_visible()
    expect(page.get_by_text("INDEX:BTC/USD 1M, latest bar 2024-12-01 00:00 UTC", exact=False)).to_be_visible()
    seen(page.get_by_text("Headline sentiment per symbol"))
    expect(page.get_by_text("FinBERT unavailable: no local model configured", exact=False)).to_be_visible()
    seen(page.get_by_text("Latest news (8)"))
    expect(page.locator("li.ab-news-item")).to_have_count(8)
    shot("market-filled")

    page.locator("select").first.select_option("BTC")
    seen(page.get_by_text("Latest news about BTC (3)"))
    items = page.locator("li.ab-news-item")
    expect(items).to_have_count(3)
    expect(items.first).to_contain_text("Bitcoin miners report steady output")
    shot("market-btc-news")

    answer = page.request.get(f"{hub.url}/services/api/api/indicators/fear-greed")
    assert answer.ok, answer.text()
    mood = answer.json()
    assert (str(mood["value"]), mood["label"], mood["market"]) == (value, label, "INDEX:BTC/USD 1M")
    assert page.request.get(f"{hub.url}/services/api/api/sentiment/BTC").json()["counts"]["total"] == 3

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        small = phone.new_page()
        small.goto(dashboards(hub, "market"))
        seen(small.get_by_text("Latest news (8)"))
        assert small.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1, "scrolls sideways"
        small.screenshot(path=str(OUTPUT / "browser" / "market-phone.png"), full_page=True)
    finally:
        phone.close()
