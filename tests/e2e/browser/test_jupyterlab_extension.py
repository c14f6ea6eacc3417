"""The JupyterLab extension in a real user server behind the real hub: a creator opens the example indicator
notebook, clicks Publish, fills the dialog, reads the sandbox's validation report, and the draft is there in the
API; then the Marketplace sidebar finds the approved listing and inserts ``ab.use(...)``, which runs in the
person's own sandboxed kernel with no setup (the SDK finds the API and the person's token on its own).
Only making the person a creator and the administrator's approval use the hub's and the API's HTTP.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from alphabook.core.config import PROJECT_ROOT
from tests.e2e.browser.conftest import Shot
from tests.e2e.browser.test_creator_admin_journey import API, make_creator, ok
from tests.e2e.conftest import NewPerson, RunningHub
from tests.e2e.hub_client import HubUserSession

pytestmark = pytest.mark.e2e

EXAMPLE = PROJECT_ROOT / "notebooks" / "examples" / "smoothed-rsi.ipynb"
SANDBOX_TIMEOUT = 180_000  # the API's sandbox pool starts on the first validation
LAB_TIMEOUT = 120_000  # JupyterLab's first load fetches its bundles and starts a kernel


def open_in_lab(page: Page, hub: RunningHub, person: HubUserSession, password: str, path: str) -> None:
    """Log in on the hub's form and land in the person's JupyterLab with ``path`` open."""
    target = f"/user/{person.name}/lab/tree/{path}"
    page.goto(f"{hub.url}/hub/login?next={quote(target, safe='')}")
    page.fill("input[name=username]", person.name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{hub.url}/user/{person.name}/lab/**", timeout=LAB_TIMEOUT)
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=LAB_TIMEOUT)


def test_publish_from_the_notebook_toolbar_then_insert_and_run_ab_use(
        hub: RunningHub, new_person: NewPerson, hub_admin: HubUserSession, page: Page, shot: Shot) -> None:
    person, password = new_person()
    make_creator(hub_admin, person)
    person.start_server()
    book = json.loads(EXAMPLE.read_text())
    book["metadata"]["kernelspec"] = {"name": "alphabook-research", "display_name": "Python 3 (alphabook research)",
                                      "language": "python"}
    saved = person.api("PUT", f"/user/{person.name}/api/contents/smoothed-rsi.ipynb",
                       json={"type": "notebook", "format": "json", "content": book})
    assert saved.status_code in (200, 201), saved.text

    open_in_lab(page, hub, person, password, "smoothed-rsi.ipynb")
    page.locator(".ab-PublishButton").click()
    form = page.locator(".ab-PublishForm")
    expect(form).to_be_visible(timeout=60_000)
    expect(form.locator("input[name=title]")).to_have_value("Smoothed RSI")
    expect(form.locator("input[name=version]")).to_have_value("1.0.0")
    expect(form).to_contain_text("length")  # the parameters found in the cell tagged 'parameters'
    form.locator("select[name=category]").select_option("momentum")
    form.locator("input[name=price]").fill("12.50")
    form.locator("select[name=licence]").select_option("protected")
    form.locator("textarea[name=changelog]").fill("First release")
    shot("publish-dialog")
    page.get_by_role("button", name="Validate and publish").click()

    report = page.locator(".ab-Report")
    expect(report).to_be_visible(timeout=SANDBOX_TIMEOUT)
    expect(report.locator(".ab-Step-ok")).to_have_count(2)
    expect(report.locator(".ab-Step-failed")).to_have_count(0)
    expect(report.locator(".ab-ReportMessage")).to_contain_text("submitted for review")
    shot("validation-report")
    page.locator(".jp-Dialog").get_by_role("button", name="OK").click()

    slug = f"{person.name}/smoothed-rsi"
    draft = ok(person.api("GET", f"{API}/listings/{slug}"))
    assert draft["status"] == "pending" and draft["price"]["amount_minor"] == 1250
    assert draft["category"] == "momentum" and draft["versions"][0]["changelog"] == "First release"
    assert [each["name"] for each in draft["versions"][0]["parameter_schema"]] == ["length", "smooth"]
    ok(hub_admin.api("POST", f"{API}/admin/listings/{slug}/approve", json={"reason": "fine"}))

    page.locator("li.lm-TabBar-tab[data-id='alphabook-marketplace']").click()
    page.locator(".ab-Search").fill("smoothed rsi")
    page.locator(".ab-Search").press("Enter")
    result = page.locator(".ab-Result", has_text=slug).first
    expect(result).to_be_visible(timeout=60_000)
    expect(result).to_contain_text("12.50 USD")
    shot("marketplace-sidebar")
    page.locator(".jp-Notebook .jp-Cell").last.click()
    result.locator(".ab-Insert").click()
    inserted = page.locator(".jp-Notebook .jp-Cell").last
    expect(inserted).to_contain_text(f'smoothed_rsi = ab.use("{slug}")')
    inserted.click()
    page.keyboard.press("Shift+Enter")
    ran = page.locator(".jp-Notebook .jp-CodeCell", has_text=f'ab.use("{slug}")')
    expect(ran.locator(".jp-OutputArea-output")).to_contain_text(
        f"<{slug} 1.0.0 (protected; runs in alphabook's sandbox): f(df, length=14 in 2..100", timeout=LAB_TIMEOUT)
    shot("ab-use-ran-in-the-kernel")
