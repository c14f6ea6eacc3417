"""The verified badge on a listing page: after the platform's verified run has signed a record for an approved
listing (done here directly, as the nightly notebook does), any visitor sees the badge, the hashes and where to
re-run it; a listing without a record says it is not verified yet."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.marketplace import verified
from alphabook.marketplace.models import Listing
from tests.e2e.browser.conftest import Shot, dashboards
from tests.e2e.browser.test_creator_admin_journey import API, make_creator, ok, submitted
from tests.e2e.conftest import NewPerson, RunningHub
from tests.e2e.hub_client import HubUserSession

pytestmark = pytest.mark.e2e


def test_a_visitor_sees_the_verified_badge(hub: RunningHub, hub_admin: HubUserSession, new_person: NewPerson,
                                           page: Page, shot: Shot) -> None:
    creator, _ = new_person()
    make_creator(hub_admin, creator)
    checked = submitted(creator, "verified-sma", "Verified SMA", 0)
    unchecked = submitted(creator, "plain-sma", "Plain SMA", 0)
    for slug in (checked, unchecked):
        ok(hub_admin.api("POST", f"{API}/admin/listings/{slug}/approve", json={"reason": "fine"}))
    settings = Settings(home=hub.home)  # the hub's own home: its database and its signing key
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            listing_id = session.scalar(select(Listing.id).where(Listing.slug == checked))
        assert listing_id is not None
        output = verified.verify_listing(database, listing_id, settings).report["output_sha256"]
    finally:
        database.dispose()

    page.goto(dashboards(hub, f"listing?slug={checked}"))
    expect(page.get_by_text("✔ Verified")).to_be_visible()
    expect(page.get_by_text(output[:16])).to_be_visible()
    expect(page.get_by_text("verified/recheck")).to_be_visible()
    shot("verified-badge")
    page.goto(dashboards(hub, f"listing?slug={unchecked}"))
    expect(page.get_by_text("Not verified yet")).to_be_visible()
