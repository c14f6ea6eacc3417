"""A listing's way to the marketplace, in the browser, through the real hub: a creator submits it from the Creator
page (its automated checks run in the sandbox and name the line of a forbidden import), an administrator approves
it from the Admin page and finds the decision in the audit log, and it is found on Explore. Only the setup (making
the person a creator, as the hub's 'creators' group does) uses the hub's API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from httpx import Response
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.conftest import NewPerson, RunningHub
from tests.e2e.hub_client import HubUserSession

pytestmark = pytest.mark.e2e

FORBIDDEN = "def indicator(df):\n    import os\n    return df['close']\n"
CODE = "def indicator(df, length=20):\n    return df['close'].rolling(length).mean()\n"
SCHEMA = '[{"name": "length", "type": "int", "default": 20, "minimum": 2, "maximum": 500}]'
API = "/services/api/api"
CHECKS_TIMEOUT = 120_000  # the dashboards' sandbox pool starts on the first check
SLOW = 60_000  # a full-text search on a machine shared with other suites


def ok(reply: Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def make_creator(hub_admin: HubUserSession, person: HubUserSession) -> None:
    """Add ``person`` to the hub's 'creators' group, as an operator would, and give them an API token."""
    ok(hub_admin.api("POST", "/hub/api/groups/creators/users", json={"users": [person.name]}))
    person.request_token()


def submitted(creator: HubUserSession, name: str, title: str, price_minor: int) -> str:
    """A listing created, checked and submitted through the API (setup for the decisions taken in the browser)."""
    slug = str(ok(creator.api("POST", f"{API}/listings", json={
        "name": name, "kind": "indicator", "title": title, "category": "trend",
        "price": {"amount_minor": price_minor, "currency": "USD"}}), 201)["slug"])
    version = ok(creator.api("POST", f"{API}/listings/{slug}/versions", json={
        "version": "1.0.0", "code": CODE, "parameter_schema": json.loads(SCHEMA), "changelog": "First release"}), 201)
    assert version["report"]["ok"], version["report"]
    ok(creator.api("POST", f"{API}/listings/{slug}/submit"))
    return slug


def bought(buyer: HubUserSession, slug: str) -> int:
    """A purchase paid at the Local provider's checkout; its number."""
    buyer.request_token()
    purchase = ok(buyer.api("POST", f"{API}/listings/{slug}/purchase"), 201)
    ref = purchase["checkout_url"].rsplit("/", 1)[1]
    assert ok(buyer.api("POST", f"{API}/payments/local/checkout/{ref}/pay"))["status"] == "completed"
    return int(purchase["id"])


def shot_of(other: Page, after: Path, letter: str, name: str) -> Path:
    """A screenshot of the second person's page, named after the first person's latest ``shot`` (``04a-…``) so the
    folder reads in the order things happened."""
    path = after.with_name(f"{after.name[:2]}{letter}-{name}.png")
    other.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def add_version(page: Page, version: str, code: str, schema: str, changelog: str) -> None:
    page.get_by_label("Version", exact=True).fill(version)
    page.get_by_label("Changelog", exact=True).fill(changelog)
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("Parameter schema (JSON)", exact=True).fill(schema)
    page.get_by_role("button", name="Add version and run checks").click()


def seen(locator: Locator, timeout: float | None = None) -> Locator:
    """Wait until ``locator`` shows, and scroll it into view (the page scrolls inside the template's main area, so
    a screenshot shows what is in view)."""
    expect(locator).to_be_visible(timeout=timeout)
    locator.scroll_into_view_if_needed()
    return locator


def test_a_creator_submits_a_listing_an_admin_approves_it_and_it_is_on_explore(
        hub: RunningHub, hub_admin: HubUserSession, new_person: NewPerson, browser: Browser, page: Page,
        shot: Shot) -> None:
    person, password = new_person()
    make_creator(hub_admin, person)
    name, title = f"smooth-{person.name}", f"Smooth average {person.name}"
    slug = f"{person.name}/{name}"

    log_in(page, hub, person.name, password, then="creator")
    seen(page.get_by_text("You have no listings yet"))
    shot("creator-empty")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Category", exact=True).fill("trend")
    page.get_by_label("Tags", exact=True).fill("moving-average, trend")
    page.get_by_role("button", name="Create listing").click()
    seen(page.get_by_text(f"Created {slug} as a draft"))
    expect(page.get_by_role("cell", name="draft", exact=True)).to_be_visible()
    shot("creator-draft")

    add_version(page, "0.1.0", FORBIDDEN, "[]", "A first try")
    seen(page.get_by_text("0.1.0: some checks failed (see below)"), timeout=CHECKS_TIMEOUT)
    expect(page.get_by_text("line 2: import of 'os' is not allowed in the sandbox")).to_be_visible()
    page.get_by_role("button", name="Submit for review").click()
    seen(page.get_by_text("Version 0.1.0 failed its checks and cannot be submitted"))
    shot("creator-checks-failed")

    add_version(page, "1.0.0", CODE, SCHEMA, "First release")
    seen(page.get_by_text("1.0.0: all checks passed. Submit it for review."), timeout=CHECKS_TIMEOUT)
    expect(page.get_by_text("Version 1.0.0: All checks passed")).to_be_visible()
    shot("creator-checked")
    page.get_by_role("button", name="Submit for review").click()
    seen(page.get_by_text(f"1.0.0 of {slug} is pending review"))
    expect(page.get_by_role("cell", name="pending review")).to_be_visible()
    expect(page.get_by_role("cell", name="1.0.0 (pending)")).to_be_visible()
    pending = shot("creator-pending")

    admin_context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        admin = admin_context.new_page()
        log_in(admin, hub, hub.admin_name, hub.admin_password, then="admin")
        card = seen(admin.locator(".ab-review").filter(has_text=title))
        expect(card.get_by_text("Version 1.0.0: All checks passed")).to_be_visible()
        expect(card.get_by_text("First release")).to_be_visible()
        shot_of(admin, pending, "a", "admin-queue")
        card.get_by_label("Reason (the creator sees it)", exact=True).fill("Clean, documented and checked")
        card.get_by_role("button", name="Approve").click()
        seen(admin.get_by_text(f"Approve: done for {slug}"))
        expect(admin.locator(".ab-review").filter(has_text=title)).to_have_count(0)
        admin.get_by_label("Subject", exact=True).fill(f"listing:{slug}")
        admin.get_by_role("button", name="Search the log").click()
        for action in ("listing.created", "listing.submitted", "listing.approved"):
            expect(admin.get_by_role("cell", name=action, exact=True)).to_be_visible()
        seen(admin.get_by_role("cell", name=hub.admin_name, exact=True))
        shot_of(admin, pending, "b", "admin-approved-and-audited")

        admin.goto(dashboards(hub, "explore"))
        expect(admin.locator("a.ab-listing").first).to_be_visible()  # the first page of results is in
        admin.get_by_label("Search", exact=True).fill(title)
        admin.get_by_role("button", name="Search", exact=True).click()
        # The new listing may be on the first page already: wait for the search's own results (its title is unique).
        expect(admin.locator("a.ab-listing")).to_have_count(1, timeout=SLOW)
        seen(admin.get_by_role("link", name=title))
        shot_of(admin, pending, "c", "explore-found")
    finally:
        admin_context.close()

    page.reload()
    seen(page.get_by_role("cell", name="approved: Clean, documented and checked"))
    expect(page.get_by_role("cell", name="1.0.0 (approved)")).to_be_visible()
    shot("creator-approved")


def test_a_rejected_listing_tells_its_creator_why(hub: RunningHub, hub_admin: HubUserSession, new_person: NewPerson,
                                                  browser: Browser, page: Page, shot: Shot) -> None:
    person, password = new_person()
    make_creator(hub_admin, person)
    title = f"Look-ahead average {person.name}"
    slug = submitted(person, f"peek-{person.name}", title, 0)

    log_in(page, hub, hub.admin_name, hub.admin_password, then="admin")
    card = seen(page.locator(".ab-review").filter(has_text=title))
    card.get_by_role("button", name="Reject").click()
    seen(card.get_by_text("Say why: the creator sees the reason."))
    shot("admin-reject-needs-a-reason")
    card.get_by_label("Reason (the creator sees it)", exact=True).fill("It reads tomorrow's close")
    card.get_by_role("button", name="Reject").click()
    seen(page.get_by_text(f"Reject: done for {slug}"))
    rejected = shot("admin-rejected")

    creator_context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        creator = creator_context.new_page()
        log_in(creator, hub, person.name, password, then="creator")
        seen(creator.get_by_role("cell", name="rejected: It reads tomorrow's close"))
        expect(creator.get_by_role("cell", name="1.0.0 (rejected)")).to_be_visible()
        shot_of(creator, rejected, "a", "creator-sees-why")
        seen(creator.get_by_text("review: It reads tomorrow's close"))
        shot_of(creator, rejected, "b", "creator-version-review")
    finally:
        creator_context.close()


def test_a_creator_is_paid_and_an_admin_refunds_a_sale(hub: RunningHub, hub_admin: HubUserSession,
                                                       new_person: NewPerson, browser: Browser, page: Page,
                                                       shot: Shot) -> None:
    person, password = new_person()
    make_creator(hub_admin, person)
    slug = submitted(person, f"paid-{person.name}", f"Paid average {person.name}", 2000)
    ok(hub_admin.api("POST", f"{API}/admin/listings/{slug}/approve", json={"reason": "fine"}))
    first_buyer, second_buyer = new_person()[0], new_person()[0]
    bought(first_buyer, slug)
    refunded = bought(second_buyer, slug)
    ok(first_buyer.api("POST", f"{API}/listings/{slug}/rate", json={"stars": 4, "comment": "Does what it says"}))

    log_in(page, hub, person.name, password, then="creator")
    seen(page.get_by_text("net revenue 28.00 USD"))  # two sales of 20.00 USD, 70 % each
    expect(page.get_by_text("Available 28.00 USD")).to_be_visible()
    seen(page.get_by_role("cell", name="Does what it says"))
    expect(page.get_by_role("cell", name="★★★★☆")).to_be_visible()
    shot("creator-earnings-and-ratings")
    page.get_by_role("button", name="Connect payout account").click()
    seen(page.get_by_text("Payout account connected."))
    page.get_by_role("button", name="Request payout").click()
    seen(page.get_by_text("of 28.00 USD: paid."))
    expect(page.get_by_role("cell", name="paid", exact=True)).to_be_visible()
    paid = shot("creator-paid")

    admin_context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        admin = admin_context.new_page()
        log_in(admin, hub, hub.admin_name, hub.admin_password, then="admin")
        admin.get_by_label("Purchase number", exact=True).fill(str(refunded))
        admin.get_by_label("Reason", exact=True).fill("charged twice")
        admin.get_by_role("button", name="Look up").click()
        seen(admin.get_by_role("cell", name="completed", exact=True))
        admin.get_by_role("button", name="Refund").click()
        seen(admin.get_by_text(f"Purchase {refunded} (20.00 USD) is refunded"))
        admin.get_by_role("button", name="Run payouts now").click()
        seen(admin.get_by_text("Nobody was owed a payout above the minimum."))
        shot_of(admin, paid, "a", "admin-refunded")
        admin.get_by_label("Subject", exact=True).fill(f"purchase:{refunded}")
        admin.get_by_role("button", name="Search the log").click()
        seen(admin.get_by_role("cell", name="purchase.refunded", exact=True))
        shot_of(admin, paid, "b", "admin-audit-of-the-refund")
    finally:
        admin_context.close()

    page.reload()
    seen(page.get_by_text("Available -14.00 USD"))  # the refund after the payout: later sales pay it back
    shot("creator-after-refund")
