"""Notifications end to end, on every database backend: each event happens the way it really does (a sale paid
through the Local checkout, payouts paid and refused, moderation decisions, an alert a risk limit refuses, a
scheduled run that fails), and its e-mail arrives at a real SMTP server (aiosmtpd) and its webhook at a real HTTP
endpoint, where the Standard Webhooks signature is checked with the secret the person was shown. The API's own
delivery thread sends them, as in production.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from alphabook.accounts import service as accounts
from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.webhook_signatures import signature
from alphabook.payments import purchases
from alphabook.scheduler import jobs
from alphabook.scheduler.models import Job
from alphabook.scheduler.worker import Scheduler
from tests.fakes.fake_stripe import FakeStripe
from tests.fakes.mailbox import Post, SmtpInbox, WebhookReceiver, wait_for
from tests.integration.hook_support import api, create_hook, make_trader, tradingview_body
from tests.integration.market import API, Market, key_for, ok
from tests.integration.test_payments_stripe import WEBHOOK, WEBHOOK_SECRET, _session_of
from tests.integration.test_scheduler import _notebook, clear_jobs

pytestmark = pytest.mark.db


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with SmtpInbox() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def mail_settings(database: Database, home: Path, smtp_port: int, **overrides: Any) -> Settings:
    """The API of a site whose mail goes to ``smtp_port`` on loopback, whose webhook receivers are local (so
    private targets are allowed explicitly), and whose delivery thread looks often and retries three times,
    quickly."""
    values: dict[str, Any] = {"payment_provider": "local", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
                              "smtp_starttls": False, "notifications_private_targets": True,
                              "notifications_poll_seconds": 0.1, "notifications_max_attempts": 3,
                              "notifications_backoff_seconds": 0.05, "trading_dispatcher_in_api": False,
                              "payout_minimum_minor": 500, **overrides}
    return Settings(home=home, database_url=database.url, **values)


@pytest.fixture
def market(database: Database, tmp_path: Path, inbox: SmtpInbox) -> Iterator[Market]:
    with TestClient(create_app(mail_settings(database, tmp_path, inbox.port), prefix="/services/api/")) as client:
        market = Market(client, database)
        market.admin = market.user(f"boss{secrets.token_hex(3)}", ["user", "admin"])
        yield market


def creator(market: Market) -> str:
    """A new creator (e-mail ``<name>@example.org``) becomes the market's; returns the address."""
    name = f"maker{secrets.token_hex(3)}"
    market.creator = market.user(name, ["user", "creator"])
    return f"{name}@example.org"


def subscribe(client: TestClient, who: dict[str, str], url: str, prefix: str = API, **choices: Any) -> str:
    """Set a webhook (and any other choices); returns its signing secret, shown this once."""
    answer = ok(client.put(f"{prefix}/notifications/preferences", headers=who, json={"webhook_url": url, **choices}))
    assert answer["webhook_secret"].startswith("whsec_") and answer["has_webhook_secret"]
    return str(answer["webhook_secret"])


def mail_about(inbox: SmtpInbox, address: str, words: str) -> str:
    """The text of the one e-mail to ``address`` whose subject has ``words``, once it has arrived."""
    [found] = wait_for(lambda: [mail for mail in inbox.to(address) if words in str(mail["Subject"])],
                       what=f"an e-mail to {address} about {words!r}")
    content = found.get_payload(decode=True)
    assert isinstance(content, bytes)
    return content.decode()


def verified(post: Post, secret: str) -> dict[str, Any]:
    """The webhook's JSON, after checking its Standard Webhooks signature with ``secret``."""
    headers = post.headers
    expected = signature(secret, headers["webhook-id"], headers["webhook-timestamp"], post.body)
    assert headers["webhook-signature"] == f"v1,{expected.decode()}", "the signature does not verify"
    assert headers["webhook-id"].startswith("ntf_") and headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(post.body)
    return body


def hook_at(receiver: WebhookReceiver, path: str, count: int = 1) -> list[Post]:
    return wait_for(lambda: (lambda posts: posts if len(posts) >= count else None)(receiver.at(path)),
                    what=f"{count} webhook(s) at {path}")


def pay_locally(market: Market, slug: str, price_label: str) -> dict[str, Any]:
    """A buyer buys ``slug`` and pays on the Local provider's checkout page."""
    buyer = market.user(f"buyer{secrets.token_hex(3)}")
    purchase = market.buy(slug, buyer)
    ref = purchase["checkout_url"].rsplit("/", 1)[1]
    assert price_label in market.client.get(f"{API}/payments/local/checkout/{ref}", headers=buyer).text
    ok(market.client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer))
    return purchase


def test_a_sale_and_a_payout_reach_the_creator_by_email_and_signed_webhook(
        market: Market, inbox: SmtpInbox, receiver: WebhookReceiver) -> None:
    client, address = market.client, creator(market)
    defaults = ok(client.get(f"{API}/notifications/preferences", headers=market.creator))
    assert defaults["defaults"] and defaults["email"] == address and "sale.made" in defaults["email_events"]
    assert {"name": "alert.rejected", "title": "An alert was refused by a risk limit"} in defaults["events"]
    secret = subscribe(client, market.creator, f"{receiver.url}/sales",
                       webhook_events=["sale.made", "payout.paid"])
    slug = market.publish(f"sold{secrets.token_hex(3)}", price_minor=1001)

    purchase = pay_locally(market, slug, "10.01 USD")
    sold = mail_about(inbox, address, "You sold")
    assert "for 10.01 USD" in sold and "Your share: 7.01 USD" in sold
    [post] = hook_at(receiver, "/sales")
    event = verified(post, secret)
    assert event["type"] == "sale.made" and event["data"]["purchase_id"] == purchase["id"]
    assert event["data"]["listing"]["slug"] == slug
    assert (event["data"]["amount"]["amount_minor"], event["data"]["creator_share"]["amount_minor"]) == (1001, 701)

    ok(client.post(f"{API}/payouts/account", headers=market.creator), 201)
    payout = ok(client.post(f"{API}/payouts", headers=market.creator), 201)
    assert payout["status"] == "paid"
    paid = mail_about(inbox, address, "Payout of 7.01 USD paid")
    assert f"Payout {payout['id']} of 7.01 USD was paid (ltr_" in paid
    paid_event = verified(hook_at(receiver, "/sales", 2)[1], secret)
    assert paid_event["type"] == "payout.paid" and paid_event["data"]["payout_id"] == payout["id"]

    log = wait_for(lambda: (lambda rows: rows if all(row["status"] == "sent" for row in rows) else None)(
        ok(client.get(f"{API}/notifications", headers=market.creator))), what="every delivery sent")
    assert [(row["event"], row["channel"]) for row in log][:4] == [
        ("payout.paid", "webhook"), ("payout.paid", "email"), ("sale.made", "webhook"), ("sale.made", "email")]
    assert log[-1]["event"] == "listing.approved" and log[0]["attempts"] == 1 and log[0]["sent_at"]


def test_a_refused_payout_tells_the_creator_why(database: Database, tmp_path: Path, inbox: SmtpInbox) -> None:
    """Stripe refuses the transfer to an account that never finished onboarding (Stripe's own fake)."""
    with FakeStripe("sk_test_alphabook_tests") as fake, TestClient(create_app(mail_settings(
            database, tmp_path, inbox.port, payment_provider="stripe", stripe_secret_key=fake.api_key,
            stripe_webhook_secret=WEBHOOK_SECRET, stripe_api_base=fake.url), prefix="/services/api/")) as client:
        market = Market(client, database)
        market.admin = market.user(f"boss{secrets.token_hex(3)}", ["user", "admin"])
        address = creator(market)
        slug = market.publish(f"p{secrets.token_hex(3)}", price_minor=1000)
        purchase = market.buy(slug, market.user(f"b{secrets.token_hex(3)}"))
        fake.deliver(fake.pay(_session_of(fake, purchase)), WEBHOOK, WEBHOOK_SECRET, client=client)
        ok(client.post(f"{API}/payouts/account", headers=market.creator), 201)  # never onboarded
        failed = ok(client.post(f"{API}/payouts", headers=market.creator), 201)
        assert failed["status"] == "failed"
        text = mail_about(inbox, address, "Payout of 7.00 USD failed")
        assert f"Payout {failed['id']} of 7.00 USD failed:" in text and "transfers" in text
        assert "The money is back on your balance" in text


def test_moderation_decisions_reach_the_creator_with_the_reason(market: Market, inbox: SmtpInbox,
                                                                 receiver: WebhookReceiver) -> None:
    client, address = market.client, creator(market)
    secret = subscribe(client, market.creator, f"{receiver.url}/reviews",
                       webhook_events=["listing.approved", "listing.rejected"])
    rejected = market.publish(f"no{secrets.token_hex(3)}", approve=False)
    ok(client.post(f"{API}/admin/listings/{rejected}/reject", headers=market.admin,
                   json={"reason": "Describe the parameters, please."}))
    text = mail_about(inbox, address, "rejected")
    assert "Version 1.0.0 of" in text and "Reason: Describe the parameters, please." in text
    [post] = hook_at(receiver, "/reviews")
    event = verified(post, secret)
    assert event["type"] == "listing.rejected" and event["data"]["listing"]["slug"] == rejected
    assert event["data"]["reason"] == "Describe the parameters, please." and event["data"]["version"] == "1.0.0"

    approved = market.publish(f"yes{secrets.token_hex(3)}")  # approved with the reason "ok"
    assert "Reason: ok" in mail_about(inbox, address, "approved")
    event = verified(hook_at(receiver, "/reviews", 2)[1], secret)
    assert event["type"] == "listing.approved" and event["data"]["listing"]["slug"] == approved


def test_an_alert_refused_by_a_risk_limit_reaches_the_account_owner(database: Database, tmp_path: Path,
                                                                      inbox: SmtpInbox,
                                                                      receiver: WebhookReceiver) -> None:
    trader = make_trader(database)
    address = f"{trader.name}@example.org"
    with api(mail_settings(database, tmp_path, inbox.port)) as client:
        secret = subscribe(client, trader.headers, f"{receiver.url}/risk", prefix="/api", email=address,
                           email_events=["alert.rejected"], webhook_events=["alert.rejected"])
        hook = create_hook(client, trader, limits={"max_order_notional": {"amount_minor": 100_000,
                                                                          "currency": "USD"}})
        accepted = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], contracts="2"))
        assert accepted.status_code == 200 and accepted.json()["decision"] == "accepted"
        refused = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], contracts="5"))
        assert refused.status_code == 403 and refused.json()["limit"] == "max_order_notional"
        text = mail_about(inbox, address, "Alert refused by a risk limit")
        assert "asked to buy 5 GOOG and was refused:" in text
        assert "Refused by the hook's max_order_notional: 5 GOOG at 300 is 1500 USD, above 1000.00 USD" in text
        [post] = hook_at(receiver, "/risk")  # one: the accepted alert was no news
        event = verified(post, secret)
        assert event["type"] == "alert.rejected" and event["data"]["hook"]["id"] == hook["id"]
        assert event["data"]["order"] == {"symbol": "GOOG", "side": "buy", "quantity": "5"}
        assert (event["data"]["scope"], event["data"]["limit"]) == ("hook", "max_order_notional")


def test_a_failed_scheduled_run_reaches_its_owner_through_their_preferences(
        database: Database, tmp_path: Path, inbox: SmtpInbox, receiver: WebhookReceiver) -> None:
    """The scheduler records the notification; the API's delivery thread, in another process in production,
    finds it by polling and sends it."""
    clear_jobs(database)
    settings = mail_settings(database, tmp_path, inbox.port, isolation="none", scheduler_lease_seconds=5)
    name = f"quant{secrets.token_hex(3)}"
    key = key_for(database, name)  # with the address <name>@example.org
    _notebook(settings.home / "users" / name / "broken.ipynb", "x = 0", "1 / x")
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        secret = subscribe(client, key, f"{receiver.url}/runs", webhook_events=["run.failed"])
        with database.session() as session:
            user = accounts.ensure_user(session, name)
            job = jobs.create_job(session, user, {"name": "nightly", "notebook": "broken.ipynb",
                                                  "cron": "0 0 1 1 *"}, settings)
            session.execute(update(Job).where(Job.id == job.id).values(kernel="python3"))
            run_id = jobs.run_now(session, user, job).id
        assert Scheduler(settings, database).work_once() == run_id
        text = mail_about(inbox, f"{name}@example.org", f"nightly: run {run_id} failed")
        assert "Cell 2: ZeroDivisionError" in text
        event = verified(hook_at(receiver, "/runs")[0], secret)
        assert event["type"] == "run.failed" and event["data"]["run"]["id"] == run_id
        assert event["data"]["run"]["failed_cell"] == 2 and event["data"]["job"]["name"] == "nightly"
    clear_jobs(database)


def owed(client: TestClient, who: dict[str, str]) -> list[tuple[int, str]]:
    """(id, event) of every delivery the person was ever owed."""
    return [(row["id"], row["event"]) for row in ok(client.get(f"{API}/notifications", headers=who))]


def complete_then_fail(database: Database, purchase_id: int) -> None:
    with database.session() as session:
        assert purchases.complete(session, purchases.get_purchase(session, purchase_id), actor="test",
                                  payment_ref=None, paid=None)
        raise RuntimeError("the transaction fails after the sale was written, so the sale never happened")


def test_a_rolled_back_sale_notifies_nobody_and_chosen_silence_is_kept(market: Market, inbox: SmtpInbox,
                                                                        receiver: WebhookReceiver) -> None:
    client, address = market.client, creator(market)
    slug = market.publish(f"q{secrets.token_hex(3)}", price_minor=700)
    before = owed(client, market.creator)  # the approval, by default
    buyer = market.user(f"b{secrets.token_hex(3)}")
    purchase = market.buy(slug, buyer)
    with pytest.raises(RuntimeError, match="never happened"):
        complete_then_fail(market.database, purchase["id"])
    assert owed(client, market.creator) == before  # though sales are on by default

    subscribe(client, market.creator, f"{receiver.url}/quiet", email_events=[], webhook_events=[])
    ref = purchase["checkout_url"].rsplit("/", 1)[1]
    assert ok(client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer))["status"] == "completed"
    assert owed(client, market.creator) == before  # nothing owed: chosen so

    queued = ok(client.post(f"{API}/notifications/test", headers=market.creator), 202)["deliveries"]
    assert sorted(row["channel"] for row in queued) == ["email", "webhook"]
    assert "They work." in mail_about(inbox, address, "Test notification")
    [post] = hook_at(receiver, "/quiet")
    assert json.loads(post.body)["type"] == "test"
    assert not [mail for mail in inbox.to(address) if "You sold" in str(mail["Subject"])]
