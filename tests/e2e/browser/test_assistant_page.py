"""The AI assistant's page, in the browser, through the real hub and dashboards service: a person with no key types
the example sentence, gets strategy code from the offline assistant, sees the sandbox's checks pass, the
backtest's figures and its Plotly chart; then adds a provider key, which is shown only by its last four characters,
and removes it again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Shot, log_in
from tests.e2e.browser.test_creator_admin_journey import seen
from tests.e2e.conftest import NewPerson, RunningHub

pytestmark = pytest.mark.e2e

KEY = "sk-browser-test-9f3k"


def test_a_person_turns_a_sentence_into_a_backtested_strategy(hub: RunningHub, new_person: NewPerson, page: Page,
                                                             shot: Shot) -> None:
    person, password = new_person()
    log_in(page, hub, person.name, password, then="assistant")
    seen(page.get_by_text("No providers yet"))
    expect(page.get_by_role("link", name="Assistant", exact=True)).to_have_class("active")
    sentence = page.get_by_role("textbox").first
    expect(sentence).to_have_value("buy BTC when RSI < 30 and MACD crosses above its signal")
    shot("assistant-empty")

    page.get_by_role("button", name="Build strategy").click()
    seen(page.locator(".ab-answered"), timeout=120_000)
    expect(page.locator(".ab-answered")).to_contain_text("Written by offline")
    expect(page.locator("li.ab-step")).to_have_count(3)
    expect(page.locator("li.ab-step").nth(0)).to_contain_text("✓ validation")
    expect(page.locator("li.ab-step").nth(1)).to_contain_text("✓ sandbox run")
    expect(page.get_by_text('compute("rsi", df, timeperiod=14)').first).to_be_visible()
    expect(page.locator("table.ab-metrics caption")).to_contain_text("INDEX:BTC/USD 1M")
    seen(page.locator(".js-plotly-plot").first)
    shot("assistant-strategy")

    page.get_by_label("Name").fill("openai")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Save provider").click()
    seen(page.get_by_text("its key is stored encrypted"))
    row = page.locator("tr.ab-provider", has_text="openai")
    expect(row).to_contain_text("gpt-4o-mini")
    expect(row).to_contain_text("…9f3k")
    assert KEY not in page.content()
    shot("assistant-provider")

    page.get_by_role("button", name="Remove provider").click()
    seen(page.get_by_text("Removed openai."))
    expect(page.locator("tr.ab-provider")).to_have_count(0)
