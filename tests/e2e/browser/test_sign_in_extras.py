"""Two-factor sign-in in a browser, through the real hub: a person finds the set-up page from the hub's home page,
scans the QR code (here: reads the key under it, as pyotp stands in for the phone), confirms with a code, keeps the
recovery codes, and from then on signs in with their password and then a code.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Shot
from tests.e2e.conftest import NewPerson, RunningHub

pytestmark = pytest.mark.e2e


def password_login(page: Page, hub: RunningHub, name: str, password: str, then: str) -> None:
    page.goto(f"{hub.url}/hub/login?next=" + quote(then, safe=""))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")


def test_a_person_turns_on_two_factor_and_signs_in_with_a_code(
        hub: RunningHub, new_person: NewPerson, page: Page, shot: Shot) -> None:
    person, password = new_person()
    password_login(page, hub, person.name, password, then="/hub/home")
    page.wait_for_url(f"{hub.url}/hub/home")
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.wait_for_url(f"{hub.url}/hub/2fa")
    expect(page.locator("#two-factor-qr")).to_be_visible()
    shot("two-factor-set-up")

    app = pyotp.TOTP(page.locator("#two-factor-secret").inner_text())
    page.fill("#confirm_code_input", "000000" if app.now() != "000000" else "111111")
    page.click("#two_factor_confirm")
    expect(page.locator("#two-factor-error")).to_contain_text("That code is not right")
    page.fill("#confirm_code_input", app.now())
    page.click("#two_factor_confirm")
    expect(page.locator(".recovery-code")).to_have_count(10)
    expect(page.locator("#two-factor-on")).to_be_visible()
    shot("two-factor-on-with-recovery-codes")

    page.goto(f"{hub.url}/hub/logout")
    password_login(page, hub, person.name, password, then="/hub/home")
    page.wait_for_url(f"{hub.url}/hub/2fa/verify*")
    expect(page.get_by_role("heading", name="Your sign-in code")).to_be_visible()
    shot("asked-for-the-code")
    page.fill("#code_input", app.at(time.time() + app.interval))  # the next step's code: never used yet
    page.click("#two_factor_submit")
    page.wait_for_url(f"{hub.url}/hub/home")
    expect(page.get_by_role("link", name="Two-factor sign-in")).to_be_visible()
    shot("signed-in-with-the-code")
