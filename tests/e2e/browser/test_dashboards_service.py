"""The dashboards service behind the hub: served at /services/dashboards/, public pages open to anonymous
visitors, private pages closed to them (also with a forged token), and a person signed in to the hub signed in
here through the hub's OAuth, until they log out."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.conftest import NewPerson, RunningHub

pytestmark = pytest.mark.e2e
PRIVATE = {"library": "my library", "creator": "creator", "admin": "admin", "runs": "runs"}


def test_a_logged_out_visitor_sees_public_pages_but_no_private_one(hub: RunningHub, context: BrowserContext,
                                                                    page: Page, shot: Shot) -> None:
    page.goto(dashboards(hub))  # the service's root lands on Explore
    expect(page.get_by_text("Indicators and strategies")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    shot("explore-anonymous")
    for slug, title in PRIVATE.items():
        page.goto(dashboards(hub, slug))
        expect(page.get_by_text(f"Log in to see {title}.")).to_be_visible()
    shot("private-page-anonymous")
    # A cookie the hub never issued is nobody's: still logged out.
    context.add_cookies([{"name": "service-dashboards", "value": "forged-token", "url": hub.url}])
    page.goto(dashboards(hub, "library"))
    expect(page.get_by_text("Log in to see my library.")).to_be_visible()


def test_logging_in_goes_through_the_hubs_oauth(hub: RunningHub) -> None:
    with httpx.Client(timeout=60) as http:
        login = http.get(dashboards(hub, "login"), params={"next": "https://evil.example/steal"})
        assert login.status_code == 302
        assert login.headers["location"].startswith("/hub/api/oauth2/authorize?")
        assert "code_challenge=" in login.headers["location"]
        refused = http.get(dashboards(hub, "oauth_callback"), params={"code": "x", "state": "not-this-browsers"})
        assert refused.status_code == 400
        assert "log in again" in refused.text


def test_a_person_signed_in_to_the_hub_is_signed_in_to_the_dashboards(hub: RunningHub, new_person: NewPerson,
                                                                       page: Page, shot: Shot) -> None:
    person, password = new_person()
    log_in(page, hub, person.name, password, then="library")
    expect(page.get_by_text(person.name, exact=True)).to_be_visible()
    expect(page.get_by_text("Log in to see my library.")).to_have_count(0)
    shot("library-signed-in")
    page.get_by_role("link", name="Log out").click()
    page.goto(dashboards(hub, "library"))
    expect(page.get_by_text("Log in to see my library.")).to_be_visible()
