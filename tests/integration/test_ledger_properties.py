"""Property tests of the money: random sequences of purchases, payments, duplicate deliveries, refunds,
disputes and payouts, checked against the ledger's invariants after every step, on every database backend.

Each example builds its own creators, buyers and approved listings (ORM rows, no sandbox) and runs in its own
transaction that is rolled back at the end, so examples never see each other. Payments and disputes arrive the
way they do in production: as Stripe-shaped events signed by the Local provider and fed to
:func:`alphabook.payments.webhooks.receive`. A small model predicts what each step must do (purchase states,
every account's balance), so the test checks exact amounts as well as the invariants:

* every ledger transaction sums to zero per currency, and so does the whole ledger;
* money received minus money refunded equals the amounts of the purchases that are completed or disputed;
* creators + held + payouts + platform equal that same net;
* each purchase's creator and platform shares add up to its amount and follow the configured percentage to
  within one minor unit;
* a creator's balance goes below zero only after money already paid out was clawed back: a refund or a lost
  dispute after a payout, or a dispute opened after one (its hold takes the share that was already paid out),
  and never by more than was paid out.

Every event is also delivered again at random and must change nothing. ``--hypothesis-show-statistics`` lists
how many examples reached payouts, disputes won and lost, deferred closings and debts.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, currently_in_test_context, given
from hypothesis import event as hypothesis_event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.accounts.models import User
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import Conflict, InvalidInput
from alphabook.marketplace.models import Entitlement, Listing
from alphabook.payments import ledger, payouts, purchases, webhooks
from alphabook.payments.models import LedgerEntry, Purchase
from alphabook.payments.providers.local import LocalProvider
from tests.integration.databases import rolled_back_session
from tests.integration.market import make_listing

CURRENCY = "USD"
PERCENT = {"indicator": 70, "strategy": 70, "copy-trading": 80}
ODD_PRICES = [1, 3, 1001, 99_999]
HELD_OR_PAID = ("completed", "disputed")  # the purchases whose money we keep (for now)
BACK = "https://alphabook.test/purchases"

# Step kinds, repeated to weight them: buying and paying happen more often than disputes.
KINDS = (("start",) * 5 + ("pay",) * 5 + ("redeliver",) * 2 + ("refund",) * 2 + ("provider-refund",)
         + ("dispute",) * 3 + ("close",) * 3 + ("payout",) * 3 + ("expire",))
STEPS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 255), st.integers(0, 255), st.booleans()),
                 min_size=10, max_size=60)
CATALOGUE = st.lists(st.tuples(st.one_of(st.sampled_from(ODD_PRICES), st.integers(1, 250_000)),
                               st.sampled_from(sorted(PERCENT)), st.integers(0, 2)), min_size=2, max_size=5)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path, database_url=database.url)
    assert {kind: settings.revenue_split[kind] for kind in PERCENT} == PERCENT
    assert settings.payout_minimum_minor == 1000 and settings.marketplace_currency == CURRENCY
    return settings


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider("whsec_ledger_properties", "https://alphabook.test/checkout")



def event(what: str) -> None:
    """Count ``what`` in Hypothesis's statistics (``--hypothesis-show-statistics``): which paths were exercised."""
    if currently_in_test_context():
        hypothesis_event(what)


def expected_creator_share(amount: int, percent: int) -> int:
    """money.split's documented rule for two parts: largest remainder, a tie goes to the creator (the first)."""
    return (amount * percent + 50) // 100


# the model


@dataclass
class Bought:
    """What the model knows of one purchase."""

    row: Purchase
    buyer: int
    listing: int
    creator: int
    status: str = "pending"
    dispute_seen: bool = False  # a charge.dispute.created was processed for it
    deferred: list[bool] = field(default_factory=list)  # dispute closings waiting for the opening (won?)

    @property
    def amount(self) -> int:
        return self.row.amount_minor

    @property
    def creator_share(self) -> int:
        return self.row.creator_share_minor

    @property
    def platform_share(self) -> int:
        return self.row.platform_share_minor


@dataclass
class World:
    session: Session
    settings: Settings
    provider: LocalProvider
    admin: User
    creators: list[User]
    buyers: list[User]
    listings: list[Listing]
    baseline: int  # ledger entries above this id belong to this example
    bought: list[Bought] = field(default_factory=list)
    delivered: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    expected: Counter[str] = field(default_factory=Counter)  # every account's balance in minor units
    paid_out: Counter[int] = field(default_factory=Counter)  # creator index -> total paid out
    clawed_back_after_payout: set[int] = field(default_factory=set)  # creators who may now be below zero
    connected: set[int] = field(default_factory=set)

    def creator_index(self, listing: int) -> int:
        return next(i for i, creator in enumerate(self.creators) if creator.id == self.listings[listing].creator_id)

    def creator_account(self, index: int) -> str:
        return ledger.creator_account(self.creators[index].id)

    def held_account(self, index: int) -> str:
        return ledger.held_account(self.creators[index].id)

    def take_back_from_creator(self, bought: Bought, account: str) -> None:
        """The creator's share leaves ``account`` (refund, lost dispute or a dispute's hold)."""
        self.expected[account] -= bought.creator_share
        if self.paid_out[bought.creator]:
            self.clawed_back_after_payout.add(bought.creator)

    def deliver(self, type_: str, bought: Bought, **fields: object) -> str:
        assert bought.row.payment_ref is not None
        body, headers = self.provider.signed_event(type_, {
            "id": f"{'du' if 'dispute' in type_ else 'ch'}_{uuid.uuid4().hex[:16]}",
            "object": "dispute" if "dispute" in type_ else "charge", "payment_intent": bought.row.payment_ref,
            **fields})
        self.delivered.append((body, headers))
        return webhooks.receive(self.session, self.provider, body, headers)

    # effects, as purchases.py documents them

    def completed(self, bought: Bought) -> None:
        bought.status = "completed"
        self.expected[ledger.BUYER_PAYMENTS] -= bought.amount
        self.expected[self.creator_account(bought.creator)] += bought.creator_share
        self.expected[ledger.PLATFORM] += bought.platform_share

    def reversed(self, bought: Bought, creator_from: str) -> None:
        bought.status = "refunded"
        self.take_back_from_creator(bought, creator_from)
        self.expected[ledger.PLATFORM] -= bought.platform_share
        self.expected[ledger.REFUNDS] += bought.amount

    def closed(self, bought: Bought, won: bool) -> None:
        if bought.status != "disputed":
            return
        held = self.held_account(bought.creator)
        if won:
            bought.status = "completed"
            self.expected[held] -= bought.creator_share
            self.expected[self.creator_account(bought.creator)] += bought.creator_share
        else:
            self.reversed(bought, held)

    def replay(self, bought: Bought) -> None:
        """Deferred closings of ``bought`` run once their dispute has been seen (webhooks._replay_deferred)."""
        progress = True
        while progress:
            progress = False
            for won in list(bought.deferred):
                if bought.status == "completed" and not bought.dispute_seen:
                    continue
                bought.deferred.remove(won)
                self.closed(bought, won)
                event("a deferred dispute closing replayed")
                progress = True


def pick(items: list[Bought], index: int) -> Bought | None:
    return items[index % len(items)] if items else None


def step(world: World, kind: str, i: int, j: int, flag: bool) -> None:
    session, provider, settings = world.session, world.provider, world.settings
    paid = [each for each in world.bought if each.row.payment_ref is not None]
    pending = [each for each in world.bought if each.status == "pending"]
    if kind == "start":
        buyer, listing = i % len(world.buyers), j % len(world.listings)
        mine = [each for each in world.bought if (each.buyer, each.listing) == (buyer, listing)]

        def start() -> Purchase:
            return purchases.start_purchase(session, provider, settings, world.buyers[buyer], world.listings[listing],
                                            idempotency_key=None, success_url=BACK, cancel_url=BACK)

        if any(each.status in HELD_OR_PAID for each in mine):
            with pytest.raises(Conflict, match="already own"):
                start()
            return
        row = start()
        if flag:  # a double click: the very same purchase
            assert start().id == row.id
        live = [each for each in mine if each.status == "pending"]
        if live:
            assert row.id == live[0].row.id
            return
        assert row.id not in {each.row.id for each in world.bought}
        assert (row.status, row.amount_minor, row.product) == ("pending", world.listings[listing].price_minor,
                                                               world.listings[listing].kind)
        assert row.checkout_ref is not None and row.checkout_ref.startswith("lc_")
        world.bought.append(Bought(row, buyer, listing, world.creator_index(listing)))
        event("a purchase started")
    elif kind == "pay" and pending:
        bought = pick(pending, i)
        assert bought is not None and bought.row.checkout_ref is not None
        body, headers = provider.completed_event(bought.row.checkout_ref, bought.row.id, bought.row.amount)
        world.delivered.append((body, headers))
        assert webhooks.receive(session, provider, body, headers) == "processed"
        assert bought.row.payment_ref == "lpi_" + bought.row.checkout_ref.removeprefix("lc_")
        world.completed(bought)
        world.replay(bought)
    elif kind == "expire" and pending:
        bought = pick(pending, i)
        assert bought is not None
        body, headers = provider.signed_event("checkout.session.expired", {
            "id": bought.row.checkout_ref, "object": "checkout.session", "status": "expired",
            "payment_status": "unpaid", "metadata": {"purchase_id": str(bought.row.id)}})
        world.delivered.append((body, headers))
        assert webhooks.receive(session, provider, body, headers) == "processed"
        bought.status = "failed"
    elif kind == "redeliver" and world.delivered:
        body, headers = world.delivered[i % len(world.delivered)]
        entries = session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.id > world.baseline))
        assert webhooks.receive(session, provider, body, headers) == "duplicate"
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.id > world.baseline)) == entries
    elif kind == "refund" and world.bought:
        bought = pick(world.bought, i)
        assert bought is not None
        if bought.status != "completed":
            with pytest.raises(Conflict, match="only completed purchases"):
                purchases.refund(session, provider, settings, bought.row, world.admin, "property test")
            return
        purchases.refund(session, provider, settings, bought.row, world.admin, "property test")
        world.reversed(bought, world.creator_account(bought.creator))
        event("a refund by an admin")
    elif kind == "provider-refund" and paid:
        bought = pick(paid, i)
        assert bought is not None
        assert world.deliver("charge.refunded", bought, refunded=True) == "processed"
        if bought.status == "completed":
            world.reversed(bought, world.creator_account(bought.creator))
        world.replay(bought)
    elif kind == "dispute" and paid:
        bought = pick(paid, i)
        assert bought is not None
        assert world.deliver("charge.dispute.created", bought, status="needs_response") == "processed"
        bought.dispute_seen = True
        if bought.status == "completed":
            event("a dispute opened")
            bought.status = "disputed"
            world.take_back_from_creator(bought, world.creator_account(bought.creator))
            world.expected[world.held_account(bought.creator)] += bought.creator_share
        world.replay(bought)
    elif kind == "close" and paid:
        bought = pick(paid, i)
        assert bought is not None
        outcome = world.deliver("charge.dispute.closed", bought, status="won" if flag else "lost")
        if bought.status == "completed" and not bought.dispute_seen:  # closed before we saw it open
            assert outcome == "deferred"
            bought.deferred.append(flag)
            event("a dispute closing deferred")
            return
        assert outcome == "processed"
        if bought.status == "disputed":
            event(f"a dispute {'won' if flag else 'lost'}")
        world.closed(bought, flag)
        world.replay(bought)
    elif kind == "payout":
        index = i % len(world.creators)
        creator = world.creators[index]
        if index not in world.connected or flag:  # connecting again is harmless
            account, _ = payouts.connect_account(session, provider, creator)
            assert account.account_ref == f"lacct_{creator.id}"
            world.connected.add(index)
        owed = world.expected[world.creator_account(index)]
        if owed < settings.payout_minimum_minor:
            with pytest.raises(InvalidInput, match="payouts start at"):
                payouts.queue_payout(session, settings, creator, actor="property-test")
            return
        payout = payouts.queue_payout(session, settings, creator, actor="property-test")
        assert (payout.amount_minor, payout.status) == (owed, "queued")
        payouts.pay(session, provider, payout, actor="property-test")
        assert payout.status == "paid" and payout.provider_ref is not None
        world.expected[world.creator_account(index)] -= owed
        world.expected[ledger.PAYOUTS] += owed
        world.paid_out[index] += owed
        event("a payout paid")


# the invariants


def check(world: World) -> None:
    session, mine = world.session, LedgerEntry.id > world.baseline
    unbalanced = session.execute(select(LedgerEntry.txn, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
                                 .where(mine).group_by(LedgerEntry.txn, LedgerEntry.currency)
                                 .having(func.sum(LedgerEntry.amount_minor) != 0)).all()
    assert unbalanced == [], "every transaction sums to zero per currency"
    balances: dict[str, int] = {}
    for account, currency, total in session.execute(
            select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
            .where(mine).group_by(LedgerEntry.account, LedgerEntry.currency)):
        assert currency == CURRENCY
        if int(total):
            balances[account] = int(total)
    assert sum(balances.values()) == 0, "the whole ledger sums to zero"
    assert balances == {account: amount for account, amount in world.expected.items() if amount}

    rows = {row.id: row for row in session.execute(
        select(Purchase.id, Purchase.status, Purchase.amount_minor, Purchase.currency, Purchase.product,
               Purchase.creator_share_minor, Purchase.platform_share_minor)
        .where(Purchase.id.in_([each.row.id for each in world.bought])))}
    assert {pid: row.status for pid, row in rows.items()} == {each.row.id: each.status for each in world.bought}
    for row in rows.values():
        assert row.creator_share_minor + row.platform_share_minor == row.amount_minor
        percent = PERCENT[row.product]
        assert abs(row.creator_share_minor * 100 - row.amount_minor * percent) < 100, "within one minor unit"
        assert row.creator_share_minor == expected_creator_share(row.amount_minor, percent)
        assert row.platform_share_minor >= 0 and row.creator_share_minor >= 0 and row.currency == CURRENCY

    net = -(balances.get(ledger.BUYER_PAYMENTS, 0) + balances.get(ledger.REFUNDS, 0))
    assert net == sum(row.amount_minor for row in rows.values() if row.status in HELD_OR_PAID)
    kept = sum(amount for account, amount in balances.items()
               if account.startswith(("creator:", "held:creator:")) or account in (ledger.PAYOUTS, ledger.PLATFORM))
    assert kept == net, "creators + held + payouts + platform = received - refunded"

    for index, creator in enumerate(world.creators):
        available = balances.get(ledger.creator_account(creator.id), 0)
        assert available >= -world.paid_out[index], "a debt is never more than what was paid out"
        if available < 0:
            assert index in world.clawed_back_after_payout, f"{creator.name} is below zero without a clawback"
            event("a creator below zero")
        assert balances.get(ledger.held_account(creator.id), 0) >= 0

    owners = {(user_id, listing_id) for user_id, listing_id in session.execute(
        select(Entitlement.user_id, Entitlement.listing_id).where(
            Entitlement.listing_id.in_([listing.id for listing in world.listings]), Entitlement.revoked_at.is_(None)))}
    assert owners == {(world.buyers[each.buyer].id, world.listings[each.listing].id)
                      for each in world.bought if each.status in HELD_OR_PAID}
    for index, listing in enumerate(world.listings):
        assert listing.purchases == sum(1 for each in world.bought
                                        if each.listing == index and each.status in HELD_OR_PAID)


def check_whole_ledger(session: Session) -> None:
    """Beyond this example: every transaction ever posted to this database is balanced, and so is the total."""
    assert session.execute(select(LedgerEntry.txn).group_by(LedgerEntry.txn, LedgerEntry.currency)
                           .having(func.sum(LedgerEntry.amount_minor) != 0)).all() == []
    totals = session.execute(select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
                             .group_by(LedgerEntry.currency)).all()
    assert all(int(total) == 0 for _, total in totals)


def build_world(session: Session, settings: Settings, provider: LocalProvider,
                catalogue: list[tuple[int, str, int]]) -> World:
    tag = uuid.uuid4().hex[:10]
    creators = [service.ensure_user(session, f"lp-maker{n}-{tag}", roles=["user", "creator"]) for n in range(3)]
    buyers = [service.ensure_user(session, f"lp-buyer{n}-{tag}", email=f"b{n}-{tag}@example.org") for n in range(3)]
    admin = service.ensure_user(session, f"lp-admin-{tag}", roles=["user", "admin"])
    listings = [make_listing(session, creators[owner], f"item{n}", price, kind)
                for n, (price, kind, owner) in enumerate(catalogue)]
    baseline = session.scalar(select(func.coalesce(func.max(LedgerEntry.id), 0)))
    return World(session, settings, provider, admin, creators, buyers, listings, int(baseline or 0))


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalogue=CATALOGUE, steps=STEPS)
def test_random_histories_keep_the_ledger_exact(database: Database, settings: Settings, provider: LocalProvider,
                                                catalogue: list[tuple[int, str, int]],
                                                steps: list[tuple[str, int, int, bool]]) -> None:
    with rolled_back_session(database) as session:
        world = build_world(session, settings, provider, catalogue)
        check(world)
        for kind, i, j, flag in steps:
            step(world, kind, i, j, flag)
            check(world)
        check_whole_ledger(session)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=st.one_of(st.sampled_from(ODD_PRICES), st.integers(1, 10**9)), kind=st.sampled_from(sorted(PERCENT)))
def test_every_sale_is_split_exactly(database: Database, settings: Settings, provider: LocalProvider, price: int,
                                     kind: str) -> None:
    """One sale of any price: the purchase's shares and the ledger's legs agree, to the minor unit."""
    with rolled_back_session(database) as session:
        world = build_world(session, settings, provider, [(price, kind, 0)])
        step(world, "start", 0, 0, False)
        step(world, "pay", 0, 0, False)
        check(world)
        [bought] = world.bought
        legs = {account: amount for account, amount in session.execute(
            select(LedgerEntry.account, LedgerEntry.amount_minor)
            .where(LedgerEntry.purchase_id == bought.row.id, LedgerEntry.kind == "purchase"))}
        creator_share = expected_creator_share(price, PERCENT[kind])
        expected = {ledger.BUYER_PAYMENTS: -price, world.creator_account(0): creator_share,
                    ledger.PLATFORM: price - creator_share}
        assert legs == {account: amount for account, amount in expected.items() if amount}  # zero legs are dropped


def test_examples_leave_nothing_behind(database: Database) -> None:
    """The examples above ran in transactions that were rolled back: none of their users exists."""
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.name.startswith("lp-"))) == 0


# a debt after a payout, deterministically


def test_refund_after_payout_is_a_debt_the_next_sale_pays_back_first(session: Session, settings: Settings,
                                                                     provider: LocalProvider) -> None:
    world = build_world(session, settings, provider, [(2000, "indicator", 0), (3000, "copy-trading", 0)])
    creator, account = world.creators[0], world.creator_account(0)

    def balance() -> int:
        return payouts.available(session, creator.id, CURRENCY).amount_minor

    step(world, "start", 0, 0, False)
    step(world, "pay", 0, 0, False)
    [first] = world.bought
    assert (first.creator_share, first.platform_share) == (1400, 600)
    assert balance() == 1400
    step(world, "payout", 0, 0, False)
    assert balance() == 0 and world.paid_out[0] == 1400

    purchases.refund(session, provider, settings, first.row, world.admin, "changed their mind")
    world.reversed(first, account)
    check(world)
    assert balance() == -1400  # the creator owes the platform what was paid out for the refunded sale
    with pytest.raises(InvalidInput, match="payouts start at"):
        payouts.queue_payout(session, settings, creator, actor="test")

    step(world, "start", 1, 1, False)  # another buyer, the 80% listing
    step(world, "pay", 0, 0, False)
    second = world.bought[-1]
    assert (second.creator_share, second.platform_share) == (2400, 600)
    assert balance() == 1000  # the debt came off the new share first
    payout = payouts.queue_payout(session, settings, creator, actor="test")
    assert payout.amount_minor == 1000  # not 2400: only what is left after the debt
    payouts.pay(session, provider, payout, actor="test")
    assert payout.status == "paid" and balance() == 0
    world.expected[account] -= 1000
    world.expected[ledger.PAYOUTS] += 1000
    world.paid_out[0] += 1000
    check(world)
    assert world.expected[ledger.PAYOUTS] == 2400 and world.expected[ledger.PLATFORM] == 600
