"""Real concurrency against real databases: many threads, each with its own session and connection, released
together by a barrier, doing what the marketplace promises is safe to do at the same moment.

* Fifty buyers rate one listing at once, then all change their rating at once: the listing's count, sum and
  average are exactly those of the ratings table (ratings.py recomputes them with the listing row locked).
* One buyer starts the same purchase from eight threads: one purchase, one checkout, one audit entry, and every
  thread is answered with that purchase. Then the provider delivers its completed event eight times at once:
  one ledger transaction, one processed event row, and seven "duplicate" answers.
* A creator connects a payout account from eight threads: one account, and every thread is answered with it.
* A creator asks for a payout from eight threads: one payout of the whole balance is queued, seven are told one is
  on its way, and the balance is moved once.

The data is committed (the threads must see each other's work), so every name carries a fresh suffix.
On SQLite these transactions are short, so no writer should outwait the 5 s busy timeout and fail with
"database is locked"; if one does, the test fails with that error rather than retrying it away.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.accounts.models import User
from alphabook.core.audit import AuditEntry
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import Conflict
from alphabook.core.money import Money
from alphabook.marketplace import ratings
from alphabook.marketplace.models import Entitlement, Listing, Rating
from alphabook.payments import ledger, payouts, purchases, webhooks
from alphabook.payments.models import LedgerEntry, PaymentEvent, Payout, Purchase
from alphabook.payments.providers.local import LocalProvider
from tests.integration.market import make_listing

T = TypeVar("T")
RATERS = 50
STARTERS = 8
BACK = "https://alphabook.test/purchases"


@pytest.fixture
def threads_db(database: Database) -> Iterator[Database]:
    """The session's database through an engine whose pool has a connection for every thread at once
    (the default pool of 5 + 10 would make most of the fifty wait for a connection instead of racing)."""
    db = Database(database.url, pool_size=RATERS + 5, max_overflow=0, pool_timeout=60)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=database.url, payment_provider="local")


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider("whsec_concurrency", "https://alphabook.test/checkout")


def all_at_once(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``work(i, barrier)`` in ``count`` threads; each waits at the barrier, then opens its session."""
    barrier = threading.Barrier(count, timeout=60)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(count)]
        return [future.result(timeout=120) for future in futures]  # re-raises a thread's error, e.g. "locked"


def buy(session: Session, provider: LocalProvider, settings: Settings, buyer: User, listing: Listing) -> Purchase:
    purchase = purchases.start_purchase(session, provider, settings, buyer, listing, idempotency_key=None,
                                        success_url=BACK, cancel_url=BACK)
    assert purchase.checkout_ref is not None
    body, headers = provider.completed_event(purchase.checkout_ref, purchase.id, purchase.amount)
    assert webhooks.receive(session, provider, body, headers) == "processed"
    return purchase


def test_fifty_buyers_rate_at_the_same_moment(database: Database, threads_db: Database, settings: Settings,
                                              provider: LocalProvider) -> None:
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        creator = service.ensure_user(session, f"cc-maker-{tag}", roles=["user", "creator"])
        listing = make_listing(session, creator, "rated", 1500)
        buyers = [service.ensure_user(session, f"cc-rater{n}-{tag}") for n in range(RATERS)]
        for buyer in buyers:
            buy(session, provider, settings, buyer, listing)
        listing_id, buyer_ids = listing.id, [buyer.id for buyer in buyers]

    def rate_all(stars: list[int]) -> None:
        def rate(i: int, barrier: threading.Barrier) -> int:
            barrier.wait()  # fifty requests arrive together: each is one session, one transaction
            with threads_db.session() as session:
                user, target = session.get(User, buyer_ids[i]), session.get(Listing, listing_id)
                assert user is not None and target is not None
                return ratings.rate(session, user, target, stars[i], comment=f"{stars[i]} stars from {i}").id

        ids = all_at_once(RATERS, rate)
        assert len(set(ids)) == RATERS  # one rating each

    def assert_counters(stars: list[int]) -> None:
        with database.session() as session:
            row = session.get(Listing, listing_id)
            assert row is not None
            rows = dict(session.execute(select(Rating.user_id, Rating.stars).where(Rating.listing_id == listing_id))
                        .all())
            assert rows == dict(zip(buyer_ids, stars, strict=True))
            assert (row.rating_count, row.rating_sum) == (RATERS, sum(stars))
            assert row.rating_avg == round(sum(stars) / RATERS, 4)

    first = [5 if i % 3 == 0 else 1 + i % 4 for i in range(RATERS)]  # 167 stars: 3.34 on average
    rate_all(first)
    assert_counters(first)

    second = [5 if stars < 3 else stars - 1 for stars in first]  # all change their mind at once: 193, 3.86
    rate_all(second)
    assert_counters(second)


@pytest.mark.parametrize("same_key", [True, False], ids=["retried-with-one-key", "double-click-without-key"])
def test_one_buyer_starts_one_purchase_from_eight_threads(database: Database, threads_db: Database,
                                                          settings: Settings, provider: LocalProvider,
                                                          same_key: bool) -> None:
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        creator = service.ensure_user(session, f"cc-seller-{tag}", roles=["user", "creator"])
        buyer = service.ensure_user(session, f"cc-clicker-{tag}", email=f"{tag}@example.org")
        listing = make_listing(session, creator, "popular", 1001)
        listing_id, buyer_id, buyer_name = listing.id, buyer.id, buyer.name
    key = f"key-{tag}" if same_key else None

    def start(i: int, barrier: threading.Barrier) -> tuple[int, str | None]:
        barrier.wait()
        with threads_db.session() as session:
            user, target = session.get(User, buyer_id), session.get(Listing, listing_id)
            assert user is not None and target is not None
            started = purchases.start_purchase(session, provider, settings, user, target, idempotency_key=key,
                                               success_url=BACK, cancel_url=BACK)
            return started.id, started.checkout_url

    answers = all_at_once(STARTERS, start)
    with database.session() as session:
        [purchase] = session.scalars(select(Purchase).where(Purchase.buyer_id == buyer_id)).all()
        # Every thread is answered with that purchase, and with its checkout to pay at.
        assert answers == [(purchase.id, purchase.checkout_url)] * STARTERS
        assert purchase.checkout_url is not None
        assert purchase.status == "pending" and purchase.amount_minor == 1001
        if same_key:
            assert purchase.idempotency_key == key
        # Local's checkout ref is a hash of the idempotency key it was asked with: one checkout, this one.
        digest = hashlib.sha256(f"checkout-{purchase.idempotency_key}".encode()).hexdigest()[:24]
        assert purchase.checkout_ref == f"lc_{digest}"
        started = session.scalars(select(AuditEntry).where(AuditEntry.action == "purchase.started",
                                                           AuditEntry.actor == buyer_name)).all()
        assert [entry.subject for entry in started] == [f"purchase:{purchase.id}"]
        checkout_ref, amount, purchase_id = purchase.checkout_ref, purchase.amount, purchase.id

    body, headers = provider.completed_event(checkout_ref, purchase_id, amount)

    def deliver(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with threads_db.session() as session:
            return webhooks.receive(session, provider, body, headers)

    outcomes = all_at_once(STARTERS, deliver)
    assert sorted(outcomes) == ["duplicate"] * (STARTERS - 1) + ["processed"]
    with database.session() as session:
        done = session.get(Purchase, purchase_id)
        assert done is not None and done.status == "completed"
        txns = session.scalars(select(LedgerEntry.txn).where(LedgerEntry.purchase_id == purchase_id)
                               .group_by(LedgerEntry.txn)).all()
        kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.purchase_id == purchase_id)).all()
        assert len(txns) == 1 and set(kinds) == {"purchase"}
        assert session.scalar(select(func.sum(LedgerEntry.amount_minor)).where(LedgerEntry.txn == txns[0])) == 0
        events = session.scalars(select(PaymentEvent).where(PaymentEvent.event_id == json.loads(body)["id"])).all()
        assert [(event.type, event.state, event.purchase_id) for event in events] == [
            ("checkout.session.completed", "processed", purchase_id)]
        assert session.scalar(select(func.count()).select_from(PaymentEvent)
                              .where(PaymentEvent.purchase_id == purchase_id)) == 1
        owned = session.scalars(select(Entitlement).where(Entitlement.user_id == buyer_id,
                                                          Entitlement.listing_id == listing_id)).all()
        assert len(owned) == 1 and owned[0].revoked_at is None and owned[0].purchase_id == purchase_id
        row = session.get(Listing, listing_id)
        assert row is not None and row.purchases == 1
        completed = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "purchase.completed",
                                                                     AuditEntry.subject == f"purchase:{purchase_id}"))
        assert len(completed.all()) == 1


def test_a_creator_connects_one_payout_account_from_eight_threads(database: Database, threads_db: Database,
                                                                  provider: LocalProvider) -> None:
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        creator_id = service.ensure_user(session, f"cc-connect-{tag}", roles=["user", "creator"]).id

    def connect(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with threads_db.session() as session:
            user = session.get(User, creator_id)
            assert user is not None
            return payouts.connect_account(session, provider, user)[0].account_ref

    answers = all_at_once(STARTERS, connect)
    with database.session() as session:
        account = payouts.payout_account(session, creator_id)
        assert account is not None and answers == [account.account_ref] * STARTERS


def test_a_creator_asks_for_one_payout_from_eight_threads(database: Database, threads_db: Database,
                                                           settings: Settings, provider: LocalProvider) -> None:
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        creator = service.ensure_user(session, f"cc-payee-{tag}", roles=["user", "creator"])
        payouts.connect_account(session, provider, creator)
        ledger.post(session, "purchase", [ledger.Leg(ledger.BUYER_PAYMENTS, Money(-5000, "USD")),
                                          ledger.Leg(ledger.creator_account(creator.id), Money(5000, "USD"))])
        creator_id = creator.id

    def ask(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with threads_db.session() as session:
            user = session.get(User, creator_id)
            assert user is not None
            try:
                return payouts.queue_payout(session, settings, user, actor=user.name).status
            except Conflict as refusal:
                return refusal.detail

    answers = all_at_once(STARTERS, ask)
    assert sorted(answers) == ["A payout is already on its way; wait for it to be paid."] * (STARTERS - 1) + [
        "queued"]
    with database.session() as session:
        [payout] = session.scalars(select(Payout).where(Payout.creator_id == creator_id)).all()
        assert payout.amount_minor == 5000
        assert payouts.available(session, creator_id, "USD") == Money(0, "USD")
