"""Stripe end to end: the real ``stripe`` library against a local server speaking Stripe's API, and webhooks
signed exactly as Stripe signs them, on every database backend.

Covers the purchase flow, forged, stale, replayed, duplicate and out-of-order events, test/live separation,
disputes, refunds (also after a payout) and Connect payouts, each checked in the ledger and the audit log; and
Stripe answering slowly: no transaction waits for it, and what arrives meanwhile (its own webhook for the same
refund, a second payout request) is decided once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.marketplace.listings import get_listing
from alphabook.payments import ledger
from alphabook.payments.models import LedgerEntry, PaymentEvent, Purchase
from tests.fakes.fake_stripe import FakeStripe
from tests.integration.market import API, Market, ok, problem

WEBHOOK_SECRET = "whsec_test_alphabook"
WEBHOOK = f"{API}/payments/webhook/stripe"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe("sk_test_alphabook_tests") as server:
        yield server


@pytest.fixture
def market(database: Database, tmp_path: Path, fake: FakeStripe) -> Iterator[Market]:
    settings = Settings(home=tmp_path, database_url=database.url, payment_provider="stripe",
                        stripe_secret_key=fake.api_key, stripe_webhook_secret=WEBHOOK_SECRET,
                        stripe_api_base=fake.url, payout_minimum_minor=500)
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        market = Market(client, database)
        tag = uuid.uuid4().hex[:6]
        market.creator = market.user(f"seller{tag}", ["user", "creator"])
        market.admin = market.user(f"admin{tag}", ["user", "admin"])
        yield market


@contextmanager
def _stripe_holding_the_answer_to(fake: FakeStripe, call: Callable[[], Any]) -> Iterator[Future[Any]]:
    """``call`` running in the background, once Stripe has done what it asked and holds back its answer (a slow
    network); the answer goes through when the block ends."""
    fake.answering.clear()
    try:
        with ThreadPoolExecutor(1) as background:
            running = background.submit(call)
            deadline = time.monotonic() + 30
            while not fake.held and not running.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake.held and not running.done(), "the request never reached Stripe"
            try:
                yield running
            finally:
                fake.answering.set()
    finally:
        fake.answering.set()


def _deliver(market: Market, fake: FakeStripe, event: dict[str, Any], **kwargs: Any) -> Any:
    return fake.deliver(event, WEBHOOK, WEBHOOK_SECRET, client=market.client, **kwargs)


def _session_of(fake: FakeStripe, purchase: dict[str, Any]) -> str:
    [session_id] = [sid for sid, each in fake.sessions.items()
                    if each["metadata"]["purchase_id"] == str(purchase["id"])]
    return session_id


def _checkout_url(fake: FakeStripe, purchase: dict[str, Any]) -> str:
    return str(fake.sessions[_session_of(fake, purchase)]["url"])


def _status(market: Market, buyer: dict[str, str], purchase: dict[str, Any]) -> str:
    return str(ok(market.client.get(f"{API}/purchases/{purchase['id']}", headers=buyer))["status"])


def _balance(market: Market, slug: str, account: str | None = None) -> int:
    with market.database.session() as session:
        creator = get_listing(session, slug).creator_id
        return ledger.balance(session, account or ledger.creator_account(creator), "USD").amount_minor


def _purchase_txns(market: Market, purchase_id: int) -> list[str]:
    with market.database.session() as session:
        return list(session.scalars(select(LedgerEntry.kind).where(LedgerEntry.purchase_id == purchase_id)
                                    .distinct().order_by(LedgerEntry.kind)))


def _refund_reason(market: Market, purchase: dict[str, Any]) -> str:
    [entry] = ok(market.client.get(f"{API}/audit", headers=market.admin, params={
        "subject": f"purchase:{purchase['id']}", "action": "purchase.refunded"}))
    return str(entry["data"]["reason"])


def test_purchase_through_stripe_checkout(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"s{uuid.uuid4().hex[:6]}", price_minor=2500)
    buyer = market.user(f"buyer{uuid.uuid4().hex[:6]}")
    purchase = market.buy(slug, buyer, **{"Idempotency-Key": "click-1"})
    session_id = _session_of(fake, purchase)
    stored = fake.sessions[session_id]
    assert stored["amount_total"] == 2500 and stored["currency"] == "usd" and stored["mode"] == "payment"
    assert purchase["checkout_url"] == stored["url"]
    assert market.buy(slug, buyer, **{"Idempotency-Key": "click-1"})["id"] == purchase["id"]
    assert market.buy(slug, buyer)["id"] == purchase["id"]  # a second click without a key: still one purchase
    assert len(fake.sessions) == 1

    # Coming back from checkout grants nothing: only the verified webhook does.
    assert _status(market, buyer, purchase) == "pending"
    reply = _deliver(market, fake, fake.pay(session_id))
    assert reply.json() == {"received": "processed"}
    assert _status(market, buyer, purchase) == "completed"
    assert ok(market.client.get(f"{API}/listings/{slug}", headers=buyer))["owned"] is True
    assert _balance(market, slug) == 1750 and fake.charges == 1


def test_forged_stale_replayed_and_duplicate_events_change_nothing(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"f{uuid.uuid4().hex[:6]}", price_minor=999)
    buyer = market.user(f"b{uuid.uuid4().hex[:6]}")
    purchase = market.buy(slug, buyer)
    event = fake.pay(_session_of(fake, purchase))

    forged = fake.deliver(event, WEBHOOK, "whsec_wrong", client=market.client)
    problem(forged, 422, "signature")
    tampered = fake.payload(event).replace(b'"amount_total": 999', b'"amount_total": 1')
    header = fake.sign(fake.payload(event), WEBHOOK_SECRET)
    problem(market.client.post(WEBHOOK, content=tampered, headers={"Stripe-Signature": header}), 422, "signature")
    problem(market.client.post(WEBHOOK, content=fake.payload(event)), 422, "signature")  # unsigned
    problem(_deliver(market, fake, event, timestamp=int(time.time()) - 301), 422, "signature")  # too old
    assert _status(market, buyer, purchase) == "pending"

    assert _deliver(market, fake, event).json() == {"received": "processed"}
    for _ in range(3):  # Stripe retries and replays: the same event id never acts twice
        assert _deliver(market, fake, event).json() == {"received": "duplicate"}
    assert _purchase_txns(market, purchase["id"]) == ["purchase"]
    assert _balance(market, slug) == 699
    with market.database.session() as session:
        events = session.scalar(select(func.count()).select_from(PaymentEvent).where(
            PaymentEvent.purchase_id == purchase["id"]))
    assert events == 1


def test_live_events_never_reach_a_test_installation(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"l{uuid.uuid4().hex[:6]}", price_minor=700)
    purchase = market.buy(slug, market.user(f"b{uuid.uuid4().hex[:6]}"))
    event = fake.pay(_session_of(fake, purchase))
    live = json.loads(json.dumps(event)) | {"livemode": True}
    problem(_deliver(market, fake, live), 422, "never mix")


def test_out_of_order_refund_waits_for_the_payment(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"o{uuid.uuid4().hex[:6]}", price_minor=1200)
    buyer = market.user(f"b{uuid.uuid4().hex[:6]}")
    purchase = market.buy(slug, buyer)
    session_id = _session_of(fake, purchase)
    completed = fake.pay(session_id)
    refunded = fake.charge_refunded(session_id, amount=1200)  # refunded from Stripe's dashboard
    assert _deliver(market, fake, refunded).json() == {"received": "deferred"}
    assert _status(market, buyer, purchase) == "pending"
    assert _deliver(market, fake, completed).json() == {"received": "processed"}
    assert _status(market, buyer, purchase) == "refunded"  # the deferred refund was replayed at once
    assert _purchase_txns(market, purchase["id"]) == ["purchase", "refund"]
    assert _balance(market, slug) == 0
    assert ok(market.client.get(f"{API}/listings/{slug}", headers=buyer))["owned"] is False
    assert _deliver(market, fake, refunded).json() == {"received": "duplicate"}


def test_expired_checkout_fails_and_frees_the_buyer_to_try_again(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"e{uuid.uuid4().hex[:6]}", price_minor=300)
    buyer = market.user(f"b{uuid.uuid4().hex[:6]}")
    first = market.buy(slug, buyer)
    assert _deliver(market, fake, fake.session_expired(_session_of(fake, first))).json() == {"received": "processed"}
    assert _status(market, buyer, first) == "failed"
    second = market.buy(slug, buyer)
    assert second["id"] != first["id"] and second["status"] == "pending"


def test_disputes_freeze_then_release_or_reverse_the_share(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"d{uuid.uuid4().hex[:6]}", price_minor=1000)
    outcomes = {}
    for result in ("won", "lost"):
        buyer = market.user(f"b{result}{uuid.uuid4().hex[:6]}")
        purchase = market.buy(slug, buyer)
        session_id = _session_of(fake, purchase)
        _deliver(market, fake, fake.pay(session_id))
        opened = fake.dispute_created(session_id)
        closed = fake.dispute_closed(session_id, result)  # type: ignore[arg-type]
        assert _deliver(market, fake, closed).json() == {"received": "deferred"}  # closed before opened
        assert _deliver(market, fake, opened).json() == {"received": "processed"}
        outcomes[result] = _status(market, buyer, purchase)
    assert outcomes == {"won": "completed", "lost": "refunded"}
    with market.database.session() as session:
        creator = get_listing(session, slug).creator_id
        assert ledger.balance(session, ledger.held_account(creator), "USD").amount_minor == 0
    assert _balance(market, slug) == 700  # the won sale's share only


def test_refund_after_payout_is_recovered_from_later_sales(market: Market, fake: FakeStripe) -> None:
    client = market.client
    slug = market.publish(f"p{uuid.uuid4().hex[:6]}", price_minor=1000)
    buyers = [market.user(f"b{index}{uuid.uuid4().hex[:6]}") for index in range(2)]
    first = market.buy(slug, buyers[0])
    _deliver(market, fake, fake.pay(_session_of(fake, first)))

    account = ok(client.post(f"{API}/payouts/account", headers=market.creator), 201)
    assert account["account"].startswith("acct_") and account["onboarding_url"]
    fake.onboard(account["account"])
    payout = ok(client.post(f"{API}/payouts", headers=market.creator), 201)
    assert payout["status"] == "paid" and payout["amount"]["amount_minor"] == 700
    [transfer] = fake.transfers.values()
    assert transfer["amount"] == 700 and transfer["destination"] == account["account"]
    assert _balance(market, slug) == 0

    refunded = ok(client.post(f"{API}/purchases/{first['id']}/refund", headers=market.admin, json={}))
    assert refunded["status"] == "refunded" and len(fake.refunds) == 1
    assert _refund_reason(market, first) == "refunded by an administrator"
    problem(client.post(f"{API}/purchases/{first['id']}/refund", headers=market.admin, json={}), 409)
    assert _balance(market, slug) == -700
    problem(client.post(f"{API}/payouts", headers=market.creator), 422, "-7.00 USD")

    second = market.buy(slug, buyers[1])
    _deliver(market, fake, fake.pay(_session_of(fake, second)))
    assert _balance(market, slug) == 0  # the next sale paid the debt back first
    summary = ok(client.get(f"{API}/payouts", headers=market.creator))
    assert summary["available"]["amount_minor"] == 0 and len(summary["payouts"]) == 1
    actions = [entry["action"] for entry in ok(client.get(f"{API}/audit", headers=market.admin,
                                                          params={"subject": f"payout:{payout['id']}"}))]
    assert actions == ["payout.queued", "payout.paid"]


def test_a_refused_transfer_puts_the_money_back(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"r{uuid.uuid4().hex[:6]}", price_minor=1000)
    purchase = market.buy(slug, market.user(f"b{uuid.uuid4().hex[:6]}"))
    _deliver(market, fake, fake.pay(_session_of(fake, purchase)))
    ok(market.client.post(f"{API}/payouts/account", headers=market.creator), 201)  # never onboarded
    failed = ok(market.client.post(f"{API}/payouts", headers=market.creator), 201)
    assert failed["status"] == "failed" and "transfers" in failed["failure"]
    assert _balance(market, slug) == 700 and not fake.transfers


def test_buyers_refund_themselves_within_the_window(market: Market, fake: FakeStripe) -> None:
    slug = market.publish(f"w{uuid.uuid4().hex[:6]}", price_minor=400)
    buyer, stranger = market.user(f"b{uuid.uuid4().hex[:6]}"), market.user(f"x{uuid.uuid4().hex[:6]}")
    purchase = market.buy(slug, buyer)
    _deliver(market, fake, fake.pay(_session_of(fake, purchase)))
    problem(market.client.post(f"{API}/purchases/{purchase['id']}/refund", headers=stranger, json={}), 404)
    with market.database.session() as session:
        row = session.get(Purchase, purchase["id"])
        assert row is not None and row.payment_ref is not None
        row.completed_at = row.completed_at.replace(year=row.completed_at.year - 1)  # type: ignore[union-attr]
    problem(market.client.post(f"{API}/purchases/{purchase['id']}/refund", headers=buyer, json={}), 403, "14 days")
    with market.database.session() as session:
        row = session.get(Purchase, purchase["id"])
        assert row is not None
        row.completed_at = row.completed_at.replace(year=row.completed_at.year + 1)  # type: ignore[union-attr]
    assert ok(market.client.post(f"{API}/purchases/{purchase['id']}/refund", headers=buyer, json={}))["status"] \
        == "refunded"
    [refund] = fake.refunds.values()
    assert refund["amount"] == 400
    assert _refund_reason(market, purchase) == "requested by the buyer"


def test_a_slow_checkout_holds_up_no_other_payment(market: Market, fake: FakeStripe) -> None:
    """While Stripe takes its time over one buyer's checkout, another buyer's payment is recorded: on SQLite a
    transaction held across the call would keep the one write lock, and every writer would wait for it."""
    slug = market.publish(f"k{uuid.uuid4().hex[:6]}", price_minor=800)
    first, second = (market.user(f"b{index}{uuid.uuid4().hex[:6]}") for index in range(2))
    paid = market.buy(slug, first)
    payment = fake.pay(_session_of(fake, paid))
    with _stripe_holding_the_answer_to(fake, lambda: market.buy(slug, second)) as started:
        assert _deliver(market, fake, payment).json() == {"received": "processed"}
        recorded_while_stripe_answers = not started.done()
    pending = started.result()
    assert recorded_while_stripe_answers
    assert _status(market, first, paid) == "completed"
    assert pending["status"] == "pending" and pending["checkout_url"] == _checkout_url(fake, pending)
    assert market.buy(slug, second)["id"] == pending["id"] and len(fake.sessions) == 2


def test_a_refund_and_its_webhook_arriving_first_reverse_the_sale_once(market: Market, fake: FakeStripe) -> None:
    """Stripe refunds, and its ``charge.refunded`` webhook is processed before the refund request hears back: the
    sale is reversed once, whichever records it first."""
    slug = market.publish(f"q{uuid.uuid4().hex[:6]}", price_minor=1500)
    purchase = market.buy(slug, market.user(f"b{uuid.uuid4().hex[:6]}"))
    session_id = _session_of(fake, purchase)
    _deliver(market, fake, fake.pay(session_id))
    url = f"{API}/purchases/{purchase['id']}/refund"
    with _stripe_holding_the_answer_to(fake, lambda: market.client.post(url, headers=market.admin, json={})) as asked:
        assert len(fake.refunds) == 1  # refunded at Stripe; the answer is on its way
        assert _deliver(market, fake, fake.charge_refunded(session_id)).json() == {"received": "processed"}
    assert ok(asked.result())["status"] == "refunded"
    with market.database.session() as session:
        refunds = session.scalar(select(func.count(func.distinct(LedgerEntry.txn))).where(
            LedgerEntry.purchase_id == purchase["id"], LedgerEntry.kind == "refund"))
    assert refunds == 1 and _balance(market, slug) == 0


def test_a_second_payout_request_while_stripe_transfers_the_first_is_refused(market: Market,
                                                                            fake: FakeStripe) -> None:
    """The payout is queued for good before the transfer is asked for, so a second request meanwhile (a double
    click) finds it on its way instead of queuing the same balance twice."""
    slug = market.publish(f"t{uuid.uuid4().hex[:6]}", price_minor=1000)
    purchase = market.buy(slug, market.user(f"b{uuid.uuid4().hex[:6]}"))
    _deliver(market, fake, fake.pay(_session_of(fake, purchase)))
    fake.onboard(ok(market.client.post(f"{API}/payouts/account", headers=market.creator), 201)["account"])

    def request() -> Any:
        return market.client.post(f"{API}/payouts", headers=market.creator)

    with _stripe_holding_the_answer_to(fake, request) as first:
        problem(request(), 409, "already on its way")
    paid = ok(first.result(), 201)
    assert paid["status"] == "paid" and paid["amount"]["amount_minor"] == 700 and len(fake.transfers) == 1
    assert _balance(market, slug) == 0


def test_a_checkout_stripe_could_not_open_is_asked_for_again_or_fails_the_purchase(market: Market,
                                                                                   fake: FakeStripe) -> None:
    """The purchase is stored before Stripe is asked for its checkout: Stripe down, the buyer's retry gets the
    checkout of the same purchase; Stripe refusing, the purchase fails and the buyer may start a new one."""
    slug = market.publish(f"u{uuid.uuid4().hex[:6]}", price_minor=600)
    down, refused = (market.user(f"b{index}{uuid.uuid4().hex[:6]}") for index in range(2))
    fake.fail_next(3)  # longer than the library's two retries
    problem(market.client.post(f"{API}/listings/{slug}/purchase", headers=down), 503, "Stripe")
    assert not fake.sessions
    retried = market.buy(slug, down)
    assert retried["status"] == "pending" and retried["checkout_url"] == _checkout_url(fake, retried)
    assert [each["id"] for each in ok(market.client.get(f"{API}/purchases", headers=down))] == [retried["id"]]

    fake.fail_next(1, status=400)
    problem(market.client.post(f"{API}/listings/{slug}/purchase", headers=refused), 502, "Stripe")
    [failed] = ok(market.client.get(f"{API}/purchases", headers=refused))
    assert failed["status"] == "failed"
    again = market.buy(slug, refused)
    assert again["id"] != failed["id"] and again["status"] == "pending" and again["checkout_url"]
