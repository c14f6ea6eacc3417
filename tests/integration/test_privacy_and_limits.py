"""A person's data over HTTP (export everything, erase what is personal while the money records stay exact) and
the rate limits on purchases and flags, on every database backend.

About addresses: the rate limits count per user *and* per client address, and every request a ``TestClient``
sends comes from the same address (``testclient``) unless told otherwise, so a second user on the same client
would be refused by the address's limit, not spared by their own. So each app's client gets an address of its
own (``TestClient(client=…)``), and "someone else" is a second client of the same app with another address;
the tests then show both halves: the limit follows the user to a new address, and it also holds an address
whoever asks from it. (Each app has its own in-memory limiter, so tests do not share counts.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts import privacy, service
from alphabook.accounts.models import ApiKey, User
from alphabook.api.main import create_app
from alphabook.core.audit import AuditEntry
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.marketplace.models import Flag, Listing, ListingVersion
from alphabook.payments import ledger, purchases, webhooks
from alphabook.payments.models import LedgerEntry, Purchase
from alphabook.payments.providers.local import LocalProvider
from tests.integration.market import API, Market, ok, problem


def new_address() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def open_market(database: Database, tmp_path: Path, **limits: str) -> Iterator[Market]:
    settings = Settings(home=tmp_path, database_url=database.url, payment_provider="local", **limits)
    tag = uuid.uuid4().hex[:8]
    with TestClient(create_app(settings, prefix="/services/api/"), client=(new_address(), 50000)) as client:
        market = Market(client, database)
        market.creator = market.user(f"pm{tag}", ["user", "creator"])
        market.admin = market.user(f"pa{tag}", ["user", "admin"])
        yield market


@pytest.fixture
def market(database: Database, tmp_path: Path) -> Iterator[Market]:
    yield from open_market(database, tmp_path)


@pytest.fixture
def limited(database: Database, tmp_path: Path) -> Iterator[Market]:
    yield from open_market(database, tmp_path, rate_limit_purchase="2/minute", rate_limit_flag="1/minute")


def elsewhere(market: Market) -> TestClient:
    """The same service, reached from another address (no lifespan: the app is already running)."""
    return TestClient(market.client.app, client=(new_address(), 50000))


def pay(market: Market, purchase: dict[str, Any], buyer: dict[str, str]) -> None:
    ref = purchase["checkout_url"].rsplit("/", 1)[1]
    paid = ok(market.client.post(f"{API}/payments/local/checkout/{ref}/pay", headers=buyer))
    assert paid == {"received": "processed", "status": "completed"}


def user_id(database: Database, name: str) -> int:
    with database.session() as session:
        found = session.scalar(select(User.id).where(User.name == name))
        assert found is not None
        return found


def listing_id(database: Database, slug: str) -> int:
    with database.session() as session:
        found = session.scalar(select(Listing.id).where(Listing.slug == slug))
        assert found is not None
        return found


# privacy


def test_export_holds_everything_about_the_user_and_only_that(market: Market) -> None:
    client, tag = market.client, uuid.uuid4().hex[:8]
    slug = market.publish(f"exp{tag}", price_minor=1001)
    name, other_name = f"px{tag}", f"po{tag}"
    buyer, other = market.user(name), market.user(other_name)
    bought = market.buy(slug, buyer)
    pay(market, bought, buyer)
    pay(market, market.buy(slug, other), other)
    ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 4, "comment": "does the job"}))
    ok(client.post(f"{API}/listings/{slug}/rate", headers=other, json={"stars": 1, "comment": "not for me"}))
    bought_listing = listing_id(market.database, slug)

    export = ok(client.get(f"{API}/me/export", headers=buyer))
    assert export["profile"]["name"] == name and export["profile"]["email"] == f"{name}@example.org"
    [purchase] = export["purchases"]
    assert (purchase["id"], purchase["amount_minor"], purchase["currency"], purchase["status"]) == (
        bought["id"], 1001, "USD", "completed")
    assert purchase["completed_at"] is not None and purchase["refunded_at"] is None
    [rating] = export["ratings"]
    assert (rating["stars"], rating["comment"]) == (4, "does the job")
    [owned] = export["library"]
    assert (owned["source"], owned["revoked_at"]) == ("purchase", None)
    assert purchase["listing_id"] == rating["listing_id"] == owned["listing_id"] == bought_listing
    assert [key["name"] for key in export["api_keys"]] == ["test"]
    assert all("digest" not in key for key in export["api_keys"])  # never the key's secret or its hash
    assert export["listings"] == [] and export["payouts"] == [] and export["flags"] == []
    assert other_name not in str(export) and "not for me" not in str(export)  # nobody else's data

    creator_export = ok(client.get(f"{API}/me/export", headers=market.creator))
    assert [listing["slug"] for listing in creator_export["listings"]] == [slug]
    assert list(creator_export["balances_minor"].values()) == [2 * 701]  # 70% of 10.01 USD, twice
    problem(client.get(f"{API}/me/export"), 401)


def test_export_holds_the_creators_own_balance_and_nobody_elses(session: Session, database: Database,
                                                                tmp_path: Path) -> None:
    """Creator 7's balance is account ``creator:7``; ``creator:70`` is somebody else's and stays out of 7's export.

    (Straight through privacy.export in a rolled-back session, because it needs a user id of a chosen shape.)
    """
    tag = uuid.uuid4().hex[:8]
    settings = Settings(home=tmp_path, database_url=database.url, payment_provider="local")
    provider = LocalProvider("whsec_export", "https://alphabook.test/checkout")
    maker = service.ensure_user(session, f"pk{tag}", roles=["user", "creator"])
    # An id that begins with the maker's digits, as 70 begins with 7 (free, and small enough for an int4 column).
    lookalike_id = next(candidate for candidate in (int(f"{maker.id}0{n:03d}") for n in range(1000))
                        if session.get(User, candidate) is None)
    lookalike = User(id=lookalike_id, name=f"pl{tag}", roles=["user", "creator"], created_at=utcnow())
    session.add(lookalike)
    buyer = service.ensure_user(session, f"pn{tag}")
    now = utcnow()
    for creator, price in ((maker, 1001), (lookalike, 5000)):
        listing = Listing(slug=f"{creator.name}/thing", creator_id=creator.id, kind="indicator", title="Thing",
                          description="", category="trend", tags=[], price_minor=price, currency="USD",
                          licence="protected", status="approved", created_at=now, updated_at=now)
        listing.versions.append(ListingVersion(version="1.0.0", major=1, minor=0, patch=0, code="x = 1\n",
                                               parameter_schema=[], status="approved", report={"ok": True},
                                               active=True, created_at=now))
        session.add(listing)
        session.flush()
        started = purchases.start_purchase(session, provider, settings, buyer, listing, idempotency_key=None,
                                           success_url="https://alphabook.test/", cancel_url="https://alphabook.test/")
        assert started.checkout_ref is not None
        body, headers = provider.completed_event(started.checkout_ref, started.id, started.amount)
        assert webhooks.receive(session, provider, body, headers) == "processed"

    assert privacy.export(session, maker)["balances_minor"] == {f"creator:{maker.id} USD": 701}
    assert privacy.export(session, lookalike)["balances_minor"] == {f"creator:{lookalike.id} USD": 3500}


def test_erase_needs_confirmation_then_removes_personal_data_and_keeps_the_money(market: Market,
                                                                                  database: Database) -> None:
    client, tag = market.client, uuid.uuid4().hex[:8]
    slug = market.publish(f"era{tag}", price_minor=1001)
    name = f"pe{tag}"
    buyer, other = market.user(name), market.user(f"pf{tag}")
    bought = market.buy(slug, buyer)
    pay(market, bought, buyer)
    pay(market, market.buy(slug, other), other)
    ok(client.post(f"{API}/listings/{slug}/rate", headers=buyer, json={"stars": 2, "comment": "mine, personal"}))
    ok(client.post(f"{API}/listings/{slug}/rate", headers=other, json={"stars": 5}))
    ok(client.post(f"{API}/listings/{slug}/flag", headers=buyer, json={"reason": "my own words about it"}), 201)
    page = ok(client.get(f"{API}/listings/{slug}"))
    assert (page["rating_count"], page["rating_avg"], page["purchases"]) == (2, 3.5, 2)
    uid = user_id(database, name)
    with database.session() as session:
        creator_id = session.scalar(select(Purchase.creator_id).where(Purchase.id == bought["id"]))
        assert creator_id is not None
        owed_before = ledger.balance(session, ledger.creator_account(creator_id), "USD").amount_minor
    assert owed_before == 2 * 701

    problem(client.post(f"{API}/me/erase", headers=buyer, json={"confirm": "yes"}), 422, "confirm with your user")
    problem(client.post(f"{API}/me/erase", headers=buyer, json={"confirm": name.upper()}), 422, name)
    problem(client.post(f"{API}/me/erase", headers=buyer, json={}), 422, "confirm")
    assert ok(client.get(f"{API}/me", headers=buyer))["name"] == name  # refused: nothing happened

    erased = ok(client.post(f"{API}/me/erase", headers=buyer, json={"confirm": name}))
    assert (erased["name"], erased["email"], erased["roles"]) == (f"deleted-{uid}", None, [])
    problem(client.get(f"{API}/me", headers=buyer), 401, "not valid")  # the key is gone with the account
    problem(client.get(f"{API}/me/export", headers=buyer), 401)

    page = ok(client.get(f"{API}/listings/{slug}"))
    assert (page["rating_count"], page["rating_avg"], page["purchases"]) == (1, 5.0, 1)
    assert [each["stars"] for each in ok(client.get(f"{API}/listings/{slug}/ratings"))] == [5]

    kept = ok(client.get(f"{API}/purchases/{bought['id']}", headers=market.admin))
    assert (kept["status"], kept["amount"]["amount_minor"], kept["creator_share"]["amount_minor"]) == (
        "completed", 1001, 701)
    with database.session() as session:
        user = session.get(User, uid)
        assert user is not None and (user.name, user.email, user.roles) == (f"deleted-{uid}", None, [])
        assert session.scalar(select(func.count()).select_from(User).where(User.name == name)) == 0
        assert session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == uid)) == 0
        purchase = session.get(Purchase, bought["id"])
        assert purchase is not None and purchase.buyer_id == uid  # the buyer is now the anonymous account
        assert (purchase.amount_minor, purchase.creator_share_minor, purchase.platform_share_minor) == (1001, 701, 300)
        legs = session.execute(select(LedgerEntry.txn, LedgerEntry.account, LedgerEntry.amount_minor)
                               .where(LedgerEntry.purchase_id == bought["id"])).all()
        assert sorted((account, amount) for _, account, amount in legs) == sorted(
            [(ledger.BUYER_PAYMENTS, -1001), (ledger.creator_account(creator_id), 701), (ledger.PLATFORM, 300)])
        assert len({txn for txn, _, _ in legs}) == 1
        unbalanced = session.execute(select(LedgerEntry.txn).group_by(LedgerEntry.txn, LedgerEntry.currency)
                                     .having(func.sum(LedgerEntry.amount_minor) != 0)).all()
        assert unbalanced == []
        assert ledger.balance(session, ledger.creator_account(creator_id), "USD").amount_minor == owed_before
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "account.erased",
                                                           AuditEntry.subject == f"user:{uid}")).all()
        assert entry.actor == f"deleted-{uid}" and entry.data["ratings_removed"] == 1
        assert name not in str(entry.data)

        [flag] = session.scalars(select(Flag).where(Flag.user_id == uid)).all()
        assert flag.reason == "(erased)" and flag.resolved_at is None  # the report stands, its words are gone


# rate limits


def assert_rate_limited(reply: Any, action: str) -> int:
    body = problem(reply, 429, f"Too many {action} requests")
    assert body["type"].endswith("/rate-limited") and body["status"] == 429
    wait = reply.headers["Retry-After"]
    assert wait.isdigit() and 1 <= int(wait) <= 60, wait  # whole seconds, within the one-minute window
    assert body["retry_after"] == int(wait)
    return int(wait)


def test_the_third_purchase_attempt_in_a_minute_is_refused(limited: Market) -> None:
    market, tag = limited, uuid.uuid4().hex[:8]
    slug = market.publish(f"lim{tag}", price_minor=500)
    first, second, third = market.user(f"pr{tag}"), market.user(f"ps{tag}"), market.user(f"pt{tag}")

    started = market.buy(slug, first)
    assert market.buy(slug, first)["id"] == started["id"]  # a retry: allowed, and the same purchase
    assert_rate_limited(market.client.post(f"{API}/listings/{slug}/purchase", headers=first), "purchase")

    # Another user, from another address, is not held back by the first user's limit.
    assert ok(elsewhere(market).post(f"{API}/listings/{slug}/purchase", headers=second), 201)["id"] != started["id"]
    # The limit is the user's, wherever they come from ...
    assert_rate_limited(elsewhere(market).post(f"{API}/listings/{slug}/purchase", headers=first), "purchase")
    # ... and the address's: the first address has used its two purchases, whoever asks.
    assert_rate_limited(market.client.post(f"{API}/listings/{slug}/purchase", headers=third), "purchase")
    third_id = user_id(market.database, f"pt{tag}")
    with market.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Purchase).where(Purchase.buyer_id == third_id)) == 0


def test_the_second_flag_in_a_minute_is_refused(limited: Market) -> None:
    market, tag = limited, uuid.uuid4().hex[:8]
    slug = market.publish(f"flg{tag}", price_minor=0, licence="open")
    flagger, someone = market.user(f"pg{tag}"), market.user(f"ph{tag}")
    ok(market.client.post(f"{API}/listings/{slug}/flag", headers=flagger, json={"reason": "spam"}), 201)
    assert_rate_limited(market.client.post(f"{API}/listings/{slug}/flag", headers=flagger,
                                           json={"reason": "more spam"}), "flag")
    ok(elsewhere(market).post(f"{API}/listings/{slug}/flag", headers=someone, json={"reason": "spam too"}), 201)
    # Purchases count separately from flags: the flagger can still buy (here: a free listing says so).
    problem(market.client.post(f"{API}/listings/{slug}/purchase", headers=flagger), 409, "free")
    queue = ok(market.client.get(f"{API}/admin/queue", headers=market.admin))
    assert any(item["slug"] == slug for item in queue)
