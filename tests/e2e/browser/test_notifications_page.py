"""The Notifications page in the browser, through the real hub and its services: a person chooses events per
channel, gives an address and a webhook URL, is shown the signing secret once, sends a test, and watches the
deliveries: the webhook reaches a real local receiver, signed with the secret the page showed, and the e-mail
fails in words because this hub has no SMTP server configured (its end-to-end tests against a real SMTP server
are tests/integration/test_notifications*.py).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from alphabook.core.webhook_signatures import signature
from tests.e2e.browser.conftest import Shot, dashboards, log_in
from tests.e2e.browser.test_creator_admin_journey import API, ok, seen
from tests.e2e.conftest import NewPerson, RunningHub
from tests.fakes.mailbox import WebhookReceiver, wait_for

pytestmark = pytest.mark.e2e


def test_a_person_chooses_notifications_and_sends_a_test(hub: RunningHub, new_person: NewPerson, page: Page,
                                                         shot: Shot) -> None:
    person, password = new_person()
    log_in(page, hub, person.name, password, then="notifications")
    seen(page.get_by_text("What you hear about"))
    expect(page.get_by_text("A scheduled run failed")).to_be_visible()
    expect(page.get_by_text("Nothing sent yet")).to_be_visible()
    shot("notifications-empty")

    with WebhookReceiver() as receiver:  # the hub is served on loopback, so a local receiver is allowed
        page.locator(".ab-webhook-run-failed input").check()
        page.locator(".ab-email-sale-made input").check()
        page.get_by_label("Send e-mails to").fill(f"{person.name}@example.org")
        page.get_by_label("Webhook URL").fill(f"{receiver.url}/alphabook")
        page.get_by_role("button", name="Save").click()
        secret = seen(page.locator(".ab-whsec")).inner_text()
        assert secret.startswith("whsec_")
        shot("notifications-saved")

        page.get_by_role("button", name="Send a test").click()
        seen(page.get_by_text("A test message is on its way by email and webhook"))
        [post] = wait_for(lambda: receiver.at("/alphabook"), what="the test webhook")
        expected = signature(secret, post.headers["webhook-id"], post.headers["webhook-timestamp"], post.body)
        assert post.headers["webhook-signature"] == f"v1,{expected.decode()}"
        assert json.loads(post.body)["data"]["user"] == person.name

    sent = page.locator("tr.ab-delivery", has_text="webhook")
    failed = page.locator("tr.ab-delivery", has_text="email")
    expect(sent.locator(".ab-status-sent")).to_be_visible()  # the list follows by itself
    expect(failed.locator(".ab-status-failed")).to_be_visible()
    expect(failed).to_contain_text("no SMTP server is configured")
    shot("notifications-delivered")

    person.request_token()  # what the page saved is what the API serves
    chosen = ok(person.api("GET", f"{API}/notifications/preferences"))
    assert chosen["email_events"] == ["sale.made"] and chosen["webhook_events"] == ["run.failed"]
    assert chosen["email"] == f"{person.name}@example.org" and not chosen["defaults"]
    page.goto(dashboards(hub, "notifications"))
    expect(page.locator(".ab-webhook-run-failed input")).to_be_checked()
    expect(page.locator(".ab-email-run-failed input")).not_to_be_checked()
