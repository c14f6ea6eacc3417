"""The service reads behind the Creator and Admin dashboards: a creator's listings in every state, their sales
and earnings per day (from the ledger), the ratings they received and their payouts; a listing's open flags and
a purchase looked up by id for a refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import clock
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import NotFound
from alphabook.core.money import Money
from alphabook.marketplace import listings, moderation, ratings, stats
from alphabook.marketplace.models import Listing, ListingVersion
from alphabook.payments import payouts, purchases
from alphabook.payments.models import Purchase
from alphabook.payments.providers.local import LocalProvider
from tests.integration.market import make_listing

BACK = "https://alphabook.test/back"
DAY_ONE = datetime(2026, 3, 2, 23, 50, tzinfo=UTC)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=database.url)


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider("whsec_views", "https://alphabook.test/checkout")


def person(session: Session, name: str, roles: tuple[str, ...] = ("user",)) -> User:
    user = User(name=name, email=f"{name}@example.org", roles=list(roles), created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def bought(session: Session, provider: LocalProvider, settings: Settings, buyer: User, listing: Listing) -> Purchase:
    purchase = purchases.start_purchase(session, provider, settings, buyer, listing, idempotency_key=None,
                                        success_url=BACK, cancel_url=BACK)
    assert purchases.complete(session, purchase, actor="provider", payment_ref=f"pi_{purchase.id}", paid=None)
    return purchase


def test_a_creators_listings_in_every_state_newest_first(session: Session) -> None:
    creator, other = person(session, "maker", ("user", "creator")), person(session, "other", ("user", "creator"))
    approved = make_listing(session, creator, "approved-one", 500)
    draft = listings.create_listing(session, creator, name="draft-one", kind="indicator", title="A draft",
                                    description="", category="trend", tags=[], price=Money(0, "USD"),
                                    licence="protected")
    draft.created_at = approved.created_at + timedelta(seconds=1)
    make_listing(session, other, "not-mine", 0)

    mine = listings.of_creator(session, creator)

    assert [(each.slug, each.status) for each in mine] == [(draft.slug, "draft"), (approved.slug, "approved")]
    assert [version.version for version in mine[1].versions] == ["1.0.0"] and mine[0].versions == []


def test_sales_and_net_earnings_per_utc_day_add_up_to_the_revenue(session: Session, settings: Settings,
                                                                   provider: LocalProvider) -> None:
    creator, admin = person(session, "seller", ("user", "creator")), person(session, "boss", ("user", "admin"))
    first, second = make_listing(session, creator, "first", 1000), make_listing(session, creator, "second", 2000)
    with clock.frozen(DAY_ONE) as frozen:
        kept = bought(session, provider, settings, person(session, "ann"), first)
        refunded = bought(session, provider, settings, person(session, "ben"), second)
        frozen.advance(timedelta(minutes=20))  # past midnight UTC: the next day
        later = bought(session, provider, settings, person(session, "cat"), first)
        purchases.refund(session, provider, settings, refunded, admin, "changed their mind")

    days = stats.earnings_by_day(session, creator, "USD")

    assert [(each.day.isoformat(), each.sales) for each in days] == [("2026-03-02", 2), ("2026-03-03", 1)]
    assert days[0].net_minor == kept.creator_share_minor + refunded.creator_share_minor > 0
    assert days[1].net_minor == later.creator_share_minor - refunded.creator_share_minor < 0
    assert sum(each.net_minor for each in days) == stats.creator_stats(session, creator, "USD")["revenue_minor"]
    assert stats.earnings_by_day(session, creator, "EUR") == []


def test_ratings_received_are_the_creators_own_newest_first(session: Session, settings: Settings,
                                                            provider: LocalProvider) -> None:
    creator, other = person(session, "rated", ("user", "creator")), person(session, "elsewhere", ("user", "creator"))
    listing, elsewhere = make_listing(session, creator, "rated", 1000), make_listing(session, other, "else", 1000)
    early, late, stranger = person(session, "early"), person(session, "late"), person(session, "stranger")
    with clock.frozen(DAY_ONE) as frozen:
        for buyer, stars in ((early, 2), (late, 5)):
            bought(session, provider, settings, buyer, listing)
            ratings.rate(session, buyer, listing, stars, f"{stars} stars")
            frozen.advance(timedelta(hours=1))
        bought(session, provider, settings, stranger, elsewhere)
        ratings.rate(session, stranger, elsewhere, 1, "not for this creator")

    received = ratings.received(session, creator)

    assert [(rating.stars, rating.comment, shown.slug) for rating, shown in received] == [
        (5, "5 stars", listing.slug), (2, "2 stars", listing.slug)]
    assert len(ratings.received(session, creator, limit=1)) == 1


def test_payout_account_and_history_newest_first(session: Session, settings: Settings,
                                                 provider: LocalProvider) -> None:
    creator = person(session, "paid", ("user", "creator"))
    assert payouts.payout_account(session, creator.id) is None and payouts.history(session, creator.id) == []
    payouts.connect_account(session, provider, creator)
    listing = make_listing(session, creator, "earner", 5000)
    bought(session, provider, settings, person(session, "payer"), listing)
    first = payouts.pay(session, provider, payouts.queue_payout(session, settings, creator, actor=creator.name),
                        actor=creator.name)
    bought(session, provider, settings, person(session, "payer2"), listing)
    second = payouts.queue_payout(session, settings, creator, actor=creator.name)

    account = payouts.payout_account(session, creator.id)
    assert account is not None and account.account_ref == f"lacct_{creator.id}"
    assert [(each.id, each.status) for each in payouts.history(session, creator.id)] == [
        (second.id, "queued"), (first.id, "paid")]


def test_open_flags_are_the_unresolved_reports_oldest_first(session: Session) -> None:
    creator, admin = person(session, "flagged", ("user", "creator")), person(session, "mod", ("user", "admin"))
    listing = make_listing(session, creator, "suspicious", 0)
    with clock.frozen(DAY_ONE) as frozen:
        moderation.flag(session, person(session, "first"), listing, "copies someone else's code")
        frozen.advance(timedelta(minutes=1))
        moderation.flag(session, person(session, "second"), listing, "misleading title")

    assert [each.reason for each in moderation.open_flags(session, listing)] == [
        "copies someone else's code", "misleading title"]
    moderation.resolve_flags(session, admin, listing, "checked: original work")
    assert moderation.open_flags(session, listing) == []


def test_a_purchase_is_found_by_id_or_named_as_missing(session: Session, settings: Settings,
                                                        provider: LocalProvider) -> None:
    listing = make_listing(session, person(session, "shop", ("user", "creator")), "goods", 700)
    purchase = bought(session, provider, settings, person(session, "client"), listing)

    assert purchases.get_purchase(session, purchase.id) is purchase
    with pytest.raises(NotFound, match=f"no purchase {purchase.id + 1000}"):
        purchases.get_purchase(session, purchase.id + 1000)


def test_the_pending_version_is_the_one_a_moderator_decides_on(session: Session) -> None:
    listing = make_listing(session, person(session, "versions", ("user", "creator")), "versioned", 0)
    assert moderation.pending_version(listing) is None  # its only version is approved already
    listing.versions.append(ListingVersion(version="1.1.0", major=1, minor=1, patch=0, code="x", parameter_schema=[],
                                           status="pending", report={"ok": True}, created_at=utcnow()))
    session.flush()

    waiting = moderation.pending_version(listing)

    assert waiting is not None and waiting.version == "1.1.0"
    moderation.approve(session, person(session, "judge", ("user", "admin")), listing)
    assert moderation.pending_version(listing) is None and listing.active_version is waiting
