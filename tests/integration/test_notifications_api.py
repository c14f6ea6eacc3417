"""Notification preferences over HTTP, on every database backend: what bad input is told, webhooks that would
reach the server's own network refused (people's and scheduled jobs'), signing secrets rotated, and deliveries
that fail: an SMTP server that is down never fails the action, and its e-mail is retried then marked failed; a
receiver that fails once gets the same message again, under the same webhook-id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alphabook.api.main import create_app
from alphabook.core.clock import utcnow
from alphabook.core.db import Database
from alphabook.notifications import outgoing
from alphabook.scheduler import notify
from alphabook.scheduler.models import Job, Run
from tests.fakes.mailbox import SmtpInbox, WebhookReceiver, wait_for
from tests.integration.hook_support import make_trader
from tests.integration.market import API, Market, ok, problem
from tests.integration.test_notifications import creator, hook_at, mail_about, mail_settings, subscribe, verified
from tests.ports import free_port

pytestmark = pytest.mark.db
PREFERENCES = f"{API}/notifications/preferences"


@pytest.fixture
def guarded(database: Database, tmp_path: Path) -> Iterator[Market]:
    """A site that refuses private webhook targets, as a public one does; its mail server is down."""
    settings = mail_settings(database, tmp_path, free_port(), notifications_private_targets=False)
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        yield Market(client, database)


def test_bad_preferences_are_refused_with_what_to_change(guarded: Market) -> None:
    client = guarded.client
    me = guarded.user(f"p{secrets.token_hex(3)}")
    problem(client.put(PREFERENCES, headers=me, json={"email_events": ["sale.made", "lottery.won"]}), 422,
            "email_events.1")
    problem(client.put(PREFERENCES, headers=me, json={"webhook_events": ["test"]}), 422, "POST /api/notifications/test")
    problem(client.put(PREFERENCES, headers=me, json={"email": "not-an-address"}), 422, "not an email address")
    problem(client.put(PREFERENCES, headers=me, json={"webhook_events": ["sale.made"]}), 422, "Give a webhook URL")
    problem(client.put(PREFERENCES, headers=me, json={"colour": "blue"}), 422)
    problem(client.post(f"{API}/notifications/webhook-secret", headers=me), 422, "Set a webhook URL first")
    problem(client.post(f"{API}/notifications/test", headers=me, json={"channels": ["webhook"]}), 422,
            "not set up webhook")
    problem(client.get(PREFERENCES), 401)
    assert ok(client.get(PREFERENCES, headers=me))["defaults"]  # nothing bad was kept

    nobody = make_trader(guarded.database).headers  # an account without an e-mail address
    quiet = ok(client.get(PREFERENCES, headers=nobody))
    assert quiet["email"] is None and quiet["email_events"] == []  # no address: nothing on by default
    problem(client.post(f"{API}/notifications/test", headers=nobody), 422, "no channel to test")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081/hub/api/users", "http://169.254.169.254/latest/meta-data",
                                 "http://[::ffff:10.0.0.1]/", "http://localhost:5432/", "https://[::1]/hook",
                                 "ftp://example.org/hook", "http://user:pw@example.org/",
                                 "http://no-such-host.invalid/hook"])
def test_webhooks_into_the_servers_own_network_are_refused(guarded: Market, url: str) -> None:
    me = guarded.user(f"s{secrets.token_hex(3)}")
    body = problem(guarded.client.put(PREFERENCES, headers=me, json={"webhook_url": url}), 422)
    assert body["type"].endswith("/unsafe-webhook-target") or "does not resolve" in body["detail"]
    assert ok(guarded.client.get(PREFERENCES, headers=me))["webhook_url"] is None


def test_a_scheduled_jobs_webhook_into_the_servers_network_is_refused_too(database: Database, tmp_path: Path) -> None:
    settings = mail_settings(database, tmp_path, free_port(), notifications_private_targets=False)
    with WebhookReceiver() as receiver:
        job = Job(id=1, name="nightly", notify={"on": ["failure"], "webhook": f"{receiver.url}/job", "secret": "x"})
        run = Run(id=1, status="failed", attempt=1, scheduled_for=utcnow(), started_at=None, finished_at=None,
                  failed_cell=None, error="boom")
        [said] = notify.send(job, run, settings)
        assert said.startswith(f"webhook {receiver.url}/job refused: The webhook's host 127.0.0.1 is 127.0.0.1")
        assert not receiver.posts
    assert outgoing.allows_private(settings.model_copy(update={"notifications_private_targets": None}))  # loopback
    public = settings.model_copy(update={"notifications_private_targets": None, "public_url": "https://ab.example"})
    assert not outgoing.allows_private(public)


def test_the_action_succeeds_while_smtp_is_down_and_the_email_is_retried_then_failed(guarded: Market) -> None:
    client, market = guarded.client, guarded
    market.admin = market.user(f"boss{secrets.token_hex(3)}", ["user", "admin"])
    creator(market)
    slug = market.publish(f"d{secrets.token_hex(3)}", approve=False)
    ok(client.post(f"{API}/admin/listings/{slug}/approve", headers=market.admin, json={"reason": "fine"}))
    assert ok(client.get(f"{API}/listings/{slug}"))["status"] == "approved"

    [row] = wait_for(lambda: [each for each in ok(client.get(f"{API}/notifications", headers=market.creator))
                              if each["status"] == "failed"], what="the e-mail to be given up")
    assert (row["event"], row["channel"], row["attempts"]) == ("listing.approved", "email", 3)
    assert row["last_error"].startswith(f"e-mail to {row['recipient']} failed:") and row["next_attempt_at"] is None


@pytest.fixture
def patient(database: Database, tmp_path: Path) -> Iterator[tuple[Market, SmtpInbox]]:
    with SmtpInbox() as inbox, TestClient(create_app(mail_settings(database, tmp_path, inbox.port),
                                                     prefix="/services/api/")) as client:
        yield Market(client, database), inbox


def test_a_failing_receiver_gets_the_same_message_again_and_rotation_changes_the_key(
        patient: tuple[Market, SmtpInbox]) -> None:
    market, inbox = patient
    client, address = market.client, creator(market)
    with WebhookReceiver() as receiver:
        old = subscribe(client, market.creator, f"{receiver.url}/flaky")
        answer = ok(client.get(PREFERENCES, headers=market.creator))
        assert answer["webhook_secret"] is None and answer["has_webhook_secret"]  # shown once only
        receiver.replies = [500]
        ok(client.post(f"{API}/notifications/test", headers=market.creator, json={"channels": ["webhook"]}), 202)
        first, second = hook_at(receiver, "/flaky", 2)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
        assert verified(second, old)["type"] == "test"
        [row] = wait_for(lambda: [each for each in ok(client.get(f"{API}/notifications", headers=market.creator))
                                  if each["status"] == "sent"], what="the webhook to be sent")
        assert row["attempts"] == 2 and row["last_error"] is None

        new = ok(client.post(f"{API}/notifications/webhook-secret", headers=market.creator), 201)["webhook_secret"]
        assert new != old and new.startswith("whsec_")
        ok(client.post(f"{API}/notifications/test", headers=market.creator), 202)
        third = hook_at(receiver, "/flaky", 3)[2]
        assert verified(third, new)["data"]["user"] == address.partition("@")[0]
        with pytest.raises(AssertionError, match="does not verify"):
            verified(third, old)
    assert "They work." in mail_about(inbox, address, "Test notification")
    assert json.loads(third.body)["type"] == "test"


def test_clearing_the_webhook_drops_its_secret_and_a_new_one_comes_with_the_next(
        patient: tuple[Market, SmtpInbox]) -> None:
    market, _ = patient
    me = market.user(f"w{secrets.token_hex(3)}")
    first = subscribe(market.client, me, "http://127.0.0.1:9/a")
    moved = ok(market.client.put(PREFERENCES, headers=me, json={"webhook_url": "http://127.0.0.1:9/b"}))
    assert moved["webhook_secret"] is None and moved["has_webhook_secret"]  # the same secret goes on signing
    cleared = ok(market.client.put(PREFERENCES, headers=me, json={"webhook_url": ""}))
    assert cleared["webhook_url"] is None and not cleared["has_webhook_secret"]
    assert subscribe(market.client, me, "http://127.0.0.1:9/c") != first
