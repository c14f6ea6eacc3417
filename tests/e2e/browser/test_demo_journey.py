"""Demo trading and copy trading in a browser, through the hub: an anonymous visitor opens a demo in one click and
trades it from the ticket (the API's dispatcher fills the orders from the replayed prices), and a signed-in person
follows a listed signal provider with a multiplier.

Numbers are checked against each other as shown: cash is the starting cash less what the position cost and the
fees, and equity is cash plus the position's market value.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect
from sqlalchemy import select

from alphabook.accounts.models import User
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.trading.copy.models import Subscription
from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.conftest import NewPerson, RunningHub
from tests.integration.copy_support import approved_provider

pytestmark = pytest.mark.e2e
START = Decimal("100000.00")
TALL: ViewportSize = {"width": 1280, "height": 1800}  # the template scrolls inside its main area: show it all


def shown(locator: Locator) -> Decimal:
    """A figure as the page shows it ("99,030.15 USD") as a Decimal."""
    return Decimal(locator.inner_text().split()[0].replace(",", ""))


def stat(page: Page, name: str) -> Locator:
    return page.locator(f".ab-{name} b")


def place(page: Page, kind: str, quantity: str, limit: str | None = None) -> None:
    page.get_by_role("combobox", name="Order type").select_option(label=kind)
    page.get_by_label("Quantity").fill(quantity)
    if limit is not None:
        page.get_by_label("Limit price").fill(limit)
    page.get_by_role("button", name="Place order").click()


def hub_database(hub: RunningHub) -> Database:
    return Database(f"sqlite:///{hub.home / 'alphabook.db'}")


def test_an_anonymous_visitor_trades_a_one_click_demo(hub: RunningHub, page: Page, shot: Shot) -> None:
    page.set_viewport_size(TALL)
    page.goto(dashboards(hub, "demo"))
    shot("demo-welcome")
    page.get_by_role("button", name="Start my demo").click()
    page.wait_for_url(dashboards(hub, "demo"))
    expect(stat(page, "cash")).to_have_text("100,000.00 USD")
    expect(page.get_by_text("No positions yet")).to_be_visible()

    place(page, "Market", "5")
    expect(page.get_by_text("sent: buy 5 GOOG market")).to_be_visible()
    position = page.get_by_role("row").filter(has=page.get_by_role("cell", name="GOOG", exact=True))
    expect(position.get_by_role("cell").nth(1)).to_have_text("5")  # quantity, once the dispatcher filled it
    average = Decimal(position.get_by_role("cell").nth(2).inner_text())
    market_value = shown(position.get_by_role("cell").nth(4))
    fees = shown(stat(page, "fees"))
    expect(stat(page, "cash")).to_have_text(f"{START - 5 * average - fees:,.2f} USD")
    assert shown(stat(page, "equity")) == shown(stat(page, "cash")) + market_value

    place(page, "Limit", "2", limit="10")  # far below the market: it rests
    expect(page.get_by_text("sent: buy 2 GOOG limit")).to_be_visible()
    resting = page.locator(".ab-open-order")
    expect(resting).to_have_count(1)
    expect(resting).to_contain_text("buy 2 GOOG limit 10 · gtc")
    expect(position.get_by_role("cell").nth(1)).to_have_text("5")
    shot("demo-trading")

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("No open orders")).to_be_visible()
    expect(page.get_by_role("cell", name="canceled", exact=True)).to_be_visible()

    page.reload()  # the cookie keeps the demo: the same account comes back
    expect(position.get_by_role("cell").nth(1)).to_have_text("5")


def test_a_demo_trader_makes_a_tradingview_webhook_and_stops_it(hub: RunningHub, page: Page, shot: Shot) -> None:
    page.goto(dashboards(hub, "demo"))
    page.get_by_role("button", name="Start my demo").click()
    page.get_by_label("Webhook name").fill("My strategy")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.locator(".ab-hook-url")).to_contain_text(f"{hub.url}/services/api/api/hooks/")
    url = (page.locator(".ab-hook-url").text_content() or "").strip()
    message = json.loads(page.locator(".ab-hook-template").text_content() or "")
    assert message["ticker"] == "{{ticker}}" and message["secret"]
    page.get_by_role("button", name="Stop this hook").click()
    expect(page.get_by_text("kill switch on (stopped from the dashboard)")).to_be_visible()

    alert = {**message, "timestamp": datetime.now(UTC).isoformat(), "ticker": "GOOG", "action": "buy",
             "contracts": "1", "price": "600", "alert_id": secrets.token_hex(6)}
    refused = httpx.post(url, json=alert, timeout=30)
    assert refused.status_code == 403, refused.text
    expect(page.get_by_role("cell", name="refused", exact=True)).to_be_visible()  # the hook's alert log
    page.locator(".ab-hook-template").scroll_into_view_if_needed()
    shot("demo-webhook")


def test_a_signed_in_person_follows_a_listed_provider_with_a_multiplier(hub: RunningHub, new_person: NewPerson,
                                                                        page: Page, shot: Shot) -> None:
    name = f"Steady trend {secrets.token_hex(3)}"
    database = hub_database(hub)
    with database.session() as session:
        provider, _ = approved_provider(session, Settings(home=hub.home), name=name)
        provider_id = provider.id
    person, password = new_person()

    page.goto(dashboards(hub, "providers"))
    page.get_by_role("link", name=name).click()
    expect(page.get_by_text(f"Log in to follow {name}.")).to_be_visible()
    shot("provider-anonymous")

    log_in(page, hub, person.name, password, then="providers")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    shot("providers-leaderboard")
    page.get_by_role("link", name=name).click()
    page.get_by_label("Multiplier").fill("2")
    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_text("fixed scaling, multiplier 2")).to_be_visible()
    shot("provider-followed")

    with database.session() as session:
        following = session.scalars(select(Subscription).join(User, User.id == Subscription.follower_id)
                                    .where(Subscription.provider_id == provider_id, User.name == person.name)).all()
        assert [(each.multiplier, each.status) for each in following] == [(Decimal(2), "active")]
    page.reload()  # following is remembered: the form gives way to the subscription
    expect(page.get_by_text("You follow this provider")).to_be_visible()
    expect(page.get_by_role("button", name="Follow")).to_have_count(0)

    page.goto(dashboards(hub, "demo"))  # signed in: the paper account copies go into, not a demo
    expect(stat(page, "account")).to_have_text("Paper account")
    expect(page.get_by_role("button", name="Start my demo")).to_have_count(0)
    page.goto(dashboards(hub, "runs"))
    expect(page.get_by_text("You have no scheduled notebooks yet")).to_be_visible()
    shot("runs")
    database.dispose()
