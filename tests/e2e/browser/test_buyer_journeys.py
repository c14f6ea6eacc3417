"""A buyer's journeys through the marketplace dashboards, driven in Chromium against the real hub.

Setup writes listings through the domain services straight into the hub's database (the official free library
and a paid strategy by a creator, checked in the sandbox and approved by an admin); everything after that is
what a person does in the browser: explore, search, open a listing and try its preview; log in, buy with the
Local provider's checkout (whose Pay button delivers a signed webhook, as Stripe would), watch the checkout page
notice the payment, find the purchase in My library and run it on a bundled dataset.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from alphabook.accounts import service as accounts
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.marketplace import listings, moderation
from alphabook.marketplace.library import seed_library
from alphabook.research.data import load
from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.conftest import NewPerson, RunningHub
from tests.integration.market import CROSS, CROSS_SCHEMA

pytestmark = pytest.mark.e2e


def _paid_strategy(hub: RunningHub) -> tuple[str, str]:
    """(slug, title) of a new approved strategy for 19.99 USD, with the official library seeded beside it."""
    database = Database(f"sqlite:///{hub.home / 'alphabook.db'}")
    suffix = secrets.token_hex(3)
    title = f"Crossing {suffix}"
    try:
        with database.session() as session:
            seed_library(session, limit=8)
            creator = accounts.ensure_user(session, f"maker{suffix}", roles=["user", "creator"])
            admin = accounts.ensure_user(session, f"boss{suffix}", roles=["user", "admin"])
            listing = listings.create_listing(
                session, creator, name=f"crossing {suffix}", kind="strategy", title=title,
                description="# Moving averages crossing\nEnters when the *fast* average crosses the slow one.",
                category="trend", tags=["trend", "crossover"], price=Money(1999, "USD"), licence="protected")
            listings.add_version(session, creator, listing, version="1.0.0", code=CROSS,
                                 parameter_schema=CROSS_SCHEMA, changelog="First release.", trials=4)
            listings.submit(session, creator, listing)
            moderation.approve(session, admin, listing, "Checked.")
            return listing.slug, title
    finally:
        database.dispose()


def _chart(page: Page) -> None:
    """A Bokeh plot was drawn and can be seen (Playwright's selectors pierce Panel's shadow roots)."""
    expect(page.locator("canvas").first).to_be_visible()


def test_an_anonymous_visitor_explores_searches_and_previews(hub: RunningHub, page: Page, shot: Shot) -> None:
    _, title = _paid_strategy(hub)
    page.goto(dashboards(hub, "explore"))
    expect(page.get_by_text("Indicators and strategies")).to_be_visible()
    shot("explore")

    page.get_by_placeholder("RSI, momentum, volatility…").fill(title)
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("link", name=title)
    expect(found).to_be_visible()
    shot("search")

    found.click()
    page.wait_for_url(re.compile(r"/services/dashboards/listing\?slug="))
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.get_by_text("run in the sandbox on the last 300 bars of NASDAQ:GOOG · 1d")).to_be_visible()
    _chart(page)
    expect(page.get_by_role("link", name="Log in to buy")).to_be_visible()
    expect(page.get_by_text("Trials the creator ran")).to_be_visible()
    expect(page.get_by_text("rolling(fast)")).to_have_count(0)  # protected: the page never shows the code
    shot("listing-preview")

    page.get_by_label("fast").fill("5")
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_text("(fast=5, slow=30)")).to_be_visible()
    _chart(page)
    shot("listing-preview-fast-5")


def test_a_buyer_pays_with_the_local_provider_and_runs_it_from_the_library(
        hub: RunningHub, new_person: NewPerson, context: BrowserContext, page: Page, shot: Shot,
        tmp_path: Path) -> None:
    slug, title = _paid_strategy(hub)
    person, password = new_person()
    log_in(page, hub, person.name, password)
    page.goto(dashboards(hub, f"listing?slug={slug}"))
    buy = page.get_by_role("button", name="Buy for 19.99 USD")
    expect(buy).to_be_visible()
    shot("listing-signed-in")

    buy.click()
    page.wait_for_url(re.compile(r"/payments/local/checkout/lc_\w+$"))
    expect(page.get_by_role("heading", name="Pay 19.99 USD")).to_be_visible()
    shot("provider-checkout")
    provider_checkout = page.url

    page.goto(dashboards(hub, f"checkout?checkout={provider_checkout.rsplit('/', 1)[1]}"))  # Stripe's way back
    expect(page.get_by_text("Waiting for the payment provider")).to_be_visible()
    shot("checkout-waiting")
    provider = context.new_page()  # the provider's tab, still open: paying there is noticed here
    provider.goto(provider_checkout)
    provider.get_by_role("button", name="Pay").click()
    expect(page.get_by_text(f"Payment received — {slug} is in your library.")).to_be_visible()
    shot("checkout-paid")
    provider.wait_for_url(re.compile(r"/services/dashboards/checkout\?purchase=\d+$"))  # and back it goes
    expect(provider.get_by_text(f"Payment received — {slug} is in your library.")).to_be_visible()
    provider.close()

    page.get_by_role("link", name="Open my library").click()
    page.wait_for_url(re.compile(r"/services/dashboards/library"))
    expect(page.get_by_role("link", name=title)).to_be_visible()
    expect(page.get_by_text(f'ab.use("{slug}")')).to_be_visible()
    shot("library")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(re.compile(rf"{title} 1\.0\.0 on NASDAQ:GOOG · 1d: \d+ bars .* run in the sandbox"))
           ).to_be_visible()
    _chart(page)
    shot("library-run")

    upload = tmp_path / "my-bars.csv"
    load("FX:EUR/USD", "1h").iloc[-200:].to_csv(upload)
    page.locator("select").nth(1).select_option(label="My CSV file")
    page.locator("input[type=file]").set_input_files(upload)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(re.compile(rf"{title} 1\.0\.0 on my-bars\.csv: 200 bars from 2018-"))).to_be_visible()
    _chart(page)
    shot("library-run-my-csv")

    page.get_by_role("button", name="★★★★", exact=True).click()
    page.get_by_label("Review (optional)").fill("Clean signals on daily bars <b>not bold</b>")
    page.get_by_role("button", name="Save my rating").click()
    expect(page.get_by_text(f"Thanks: {title} now has 4.0 stars from 1 rating.")).to_be_visible()
    shot("library-rated")
    page.goto(dashboards(hub, f"listing?slug={slug}"))
    expect(page.get_by_text("Clean signals on daily bars <b>not bold</b>")).to_be_visible()  # shown as typed
    expect(page.get_by_text(f"by {person.name}")).to_be_visible()
