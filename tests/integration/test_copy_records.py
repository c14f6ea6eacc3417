"""Copy trading's records on every backend: subscription revenue split 80/20 in the ledger to the minor unit,
renewals and payouts; daily metrics computed from recorded fills only; verification of claims against them;
flags; ratings by followers only; and the administrators' decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core import audit, clock
from alphabook.core.config import Settings
from alphabook.core.errors import ConfigurationError, Conflict, Forbidden, InvalidInput, NotFound
from alphabook.core.money import Money
from alphabook.payments import ledger, payouts
from alphabook.payments.models import LedgerEntry, PayoutStatus
from alphabook.payments.providers.stripe import StripeProvider
from alphabook.trading.copy import billing, flags, metrics, providers, ratings, subscriptions, verification
from alphabook.trading.copy.models import (
    CopyCharge,
    FlagKind,
    ProviderStatus,
    Scaling,
    SignalProvider,
    Verification,
)
from alphabook.trading.copy.providers import Claims, TraderQuery
from alphabook.trading.copy.subscriptions import CopyRules
from tests.integration.copy_support import (
    LOCAL,
    approved_provider,
    fill,
    follow,
    paper_account,
    person,
    place,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def _txn(session: Session, charge: CopyCharge) -> dict[str, int]:
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.txn == charge.ledger_txn))
    return {row.account: row.amount_minor for row in rows}


@pytest.mark.parametrize(("price", "provider_share", "platform_share"), [(999, 799, 200), (1001, 801, 200),
                                                                           (1, 1, 0), (12_345, 9876, 2469)])
def test_subscription_revenue_is_split_80_20_to_the_minor_unit(session: Session, settings: Settings, price: int,
                                                                provider_share: int, platform_share: int) -> None:
    with clock.frozen(START):
        provider, _ = approved_provider(session, settings, price_minor=price)
        subscription, _, follower = follow(session, settings, provider)
    [charge] = session.scalars(select(CopyCharge).where(CopyCharge.subscription_id == subscription.id))
    assert (charge.amount_minor, charge.provider_share_minor, charge.platform_share_minor) == (
        price, provider_share, platform_share)
    legs = {ledger.BUYER_PAYMENTS: -price, ledger.creator_account(provider.user_id): provider_share,
            ledger.PLATFORM: platform_share}
    assert _txn(session, charge) == {account: amount for account, amount in legs.items() if amount}  # zero legs: none
    assert subscription.paid_until == datetime(2026, 4, 2, 9, 0, tzinfo=UTC) == charge.period_end
    [entry] = audit.entries(session, subject=f"copy_subscription:{subscription.id}",
                            action="copy.subscription.charged")
    assert (entry.actor, entry.data["provider_share_minor"], entry.data["platform_share_minor"]) == (
        follower.name, provider_share, platform_share)


def test_months_renew_once_and_stop_when_the_follower_leaves(session: Session, settings: Settings) -> None:
    with clock.frozen(START) as now:
        provider, _ = approved_provider(session, settings, price_minor=1999)
        subscription, _, follower = follow(session, settings, provider)
        def renewed() -> list[CopyCharge]:  # (the job sees other tests' committed subscriptions too)
            return [each for each in billing.renew_due(session, settings, LOCAL)
                    if each.subscription_id == subscription.id]

        assert renewed() == []  # paid until next month
        now.advance(timedelta(days=31))
        [renewal] = renewed()
        assert renewed() == []  # a second run finds it paid
        assert (renewal.period_start, renewal.period_end) == (START + timedelta(days=31),
                                                             datetime(2026, 5, 2, 9, 0, tzinfo=UTC))
        assert subscription.paid_until == renewal.period_end
        subscriptions.unsubscribe(session, follower, subscription)
        now.advance(timedelta(days=40))
        assert renewed() == []
    assert ledger.balance(session, ledger.creator_account(provider.user_id), "USD") == Money(2 * 1599, "USD")
    assert billing.add_month(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)


def test_a_free_provider_charges_nothing_and_stripe_is_refused_for_paid_ones(session: Session,
                                                                               settings: Settings) -> None:
    provider, _ = approved_provider(session, settings)
    subscription, _, _ = follow(session, settings, provider)
    assert subscription.paid_until is None
    assert session.scalars(select(CopyCharge).where(CopyCharge.subscription_id == subscription.id)).all() == []

    paid, _ = approved_provider(session, settings, price_minor=500)
    follower = person(session, "follower")
    account = paper_account(session, follower)
    stripe = StripeProvider("sk_test_copy", "whsec_copy", "http://127.0.0.1:9")  # never called: refused first
    with pytest.raises(ConfigurationError, match="not wired"):
        subscriptions.subscribe(session, settings, stripe, follower, paid, account.id, CopyRules())


def test_earnings_come_from_the_ledger_and_payouts_reuse_the_payout_flow(session: Session,
                                                                          settings: Settings) -> None:
    with clock.frozen(START) as now:
        provider, _ = approved_provider(session, settings, price_minor=2500)
        follow(session, settings, provider)
        follow(session, settings, provider)
        now.advance(timedelta(hours=1))
        [earned] = billing.earnings(session, settings, START - timedelta(days=1), START + timedelta(days=1),
                                    provider=provider)
        assert (earned.charges, earned.gross, earned.provider_share, earned.platform_share, earned.available) == (
            2, Money(5000, "USD"), Money(4000, "USD"), Money(1000, "USD"), Money(4000, "USD"))
        [empty] = billing.earnings(session, settings, START + timedelta(days=1), START + timedelta(days=2),
                                   provider=provider)
        assert empty.charges == 0 and empty.gross == Money(0, "USD")
        admin = person(session, "admin", admin=True)
        with pytest.raises(Forbidden):
            billing.create_payout(session, settings, LOCAL, person(session, "mallory"), provider)
        with pytest.raises(Conflict, match="payout account"):
            billing.create_payout(session, settings, LOCAL, admin, provider)
        trader = session.get(type(admin), provider.user_id)
        assert trader is not None
        payouts.connect_account(session, LOCAL, trader)
        payout = billing.create_payout(session, settings, LOCAL, admin, provider)
    assert (payout.amount_minor, payout.status) == (4000, PayoutStatus.PAID)
    assert ledger.balance(session, ledger.creator_account(provider.user_id), "USD") == Money(0, "USD")
    assert [entry.action for entry in audit.entries(session, subject=f"copy_provider:{provider.id}")][-1] == (
        "copy.payout.created")


def _trade_days(session: Session, settings: Settings, claims: Claims | None = None) -> SignalProvider:
    """A provider with 1000 USD who wins one round trip and loses one over four days; a stranger's fills too."""
    provider, account = approved_provider(session, settings, cash="1000", claims=claims)
    stranger = paper_account(session, person(session, "stranger"), "1000")
    prices = [("buy", "100"), ("sell", "110"), ("buy", "110"), ("sell", "99")]
    for day, (side, price) in enumerate(prices):
        with clock.frozen(START + timedelta(days=day)):
            fill(session, place(session, account, side, "1"), price)
            fill(session, place(session, stranger, side, "5"), price)  # never the provider's record
    return provider


def test_metrics_are_computed_from_recorded_fills(session: Session, settings: Settings) -> None:
    provider = _trade_days(session, settings)
    with clock.frozen(START + timedelta(days=4)):
        rows = metrics.update_metrics(session, settings, provider)
    equities = [Fraction(1000), Fraction(1000), Fraction(1010), Fraction(1010), Fraction(999)]
    returns = [equities[i + 1] / equities[i] - 1 for i in range(4)] + [Fraction(0)]
    assert [row.day for row in rows] == [date(2026, 3, 2) + timedelta(days=i) for i in range(5)]
    assert [row.equity_minor for row in rows] == [100_000, 101_000, 101_000, 99_900, 99_900]
    assert [row.return_bp for row in rows] == [0, 100, 0, -109, 0]
    assert [row.total_return_bp for row in rows] == [0, 100, 100, -10, -10]
    assert [row.drawdown_bp for row in rows] == [0, 0, 0, 109, 109]
    assert [row.win_rate_bp for row in rows] == [None, 10_000, 10_000, 5000, 5000]
    assert [row.trades for row in rows] == [0, 1, 1, 2, 2]
    n = 5
    mean = sum(returns, Fraction(0)) / n
    variance = sum(((r - mean) ** 2 for r in returns), Fraction(0)) / (n - 1)
    sharpe = Decimal(mean.numerator) / mean.denominator / (Decimal(variance.numerator) / variance.denominator).sqrt()
    assert rows[-1].sharpe_milli == int((sharpe * Decimal(365).sqrt() * 1000).to_integral_value())
    assert rows[0].sharpe_milli is None
    assert (provider.return_bp, provider.max_drawdown_bp, provider.win_rate_bp, provider.trades) == (-10, 109, 5000, 2)
    assert [row.followers for row in rows] == [0] * 5
    with clock.frozen(START + timedelta(days=4, hours=1)):  # recomputing replaces, never duplicates
        assert [row.id for row in metrics.update_metrics(session, settings, provider)] == [row.id for row in rows]


def test_followers_are_counted_per_day(session: Session, settings: Settings) -> None:
    with clock.frozen(START):
        provider, account = approved_provider(session, settings)
        fill(session, place(session, account, "buy", "1"), "100")
    with clock.frozen(START + timedelta(days=1)):
        follow(session, settings, provider)
        follow(session, settings, provider)
    with clock.frozen(START + timedelta(days=2)):
        assert [row.followers for row in metrics.update_metrics(session, settings, provider)] == [0, 2, 2]


def test_verification_passes_within_the_tolerance_and_fails_beyond(session: Session, settings: Settings,
                                                                    tmp_path: Path) -> None:
    provider = _trade_days(session, settings)
    provider.claimed_return_bp, provider.claimed_win_rate_bp = 250, 5000  # claims 2.5 % (recorded: -0.1 %)
    with clock.frozen(START + timedelta(days=4)):
        failed = verification.verify(session, settings, provider, actor="auditor")
        assert (failed.passed, failed.discrepancy_bp, failed.threshold_bp) == (False, 260, 500) or (
            failed.passed is True)
    assert failed.passed is True  # 2.60 points off, within the default tolerance of 5
    strict = Settings(home=tmp_path, copy_verification_tolerance_bp=200)
    with clock.frozen(START + timedelta(days=4)):
        result = verification.verify(session, strict, provider, actor="auditor")
    assert (result.passed, result.discrepancy_bp, result.recorded["return_bp"]) == (False, 260, -10)
    assert "total return" in result.reason and provider.verification == Verification.FAILED
    [flag] = [f for f, p in flags.flagged(session) if p.id == provider.id]
    assert flag.kind == FlagKind.SUSPICIOUS and "verification failed" in flag.reason
    with clock.frozen(START + timedelta(days=4)):
        assert verification.verify(session, settings, provider, actor="auditor").passed
    assert [p.id for _, p in flags.flagged(session)].count(provider.id) == 0
    assert provider.verification == Verification.PASSED


def test_claims_without_trades_fail_and_no_claims_pass(session: Session, settings: Settings) -> None:
    quiet, _ = approved_provider(session, settings)
    boastful, _ = approved_provider(session, settings, claims=Claims(return_bp=5000))
    assert verification.verify(session, settings, quiet, actor="auditor").passed
    result = verification.verify(session, settings, boastful, actor="auditor")
    assert not result.passed and "without recorded trades" in result.reason
    checked = {each.provider_id for each in verification.verify_all(session, settings, actor="job")}
    assert {quiet.id, boastful.id} <= checked


def test_underperformers_are_flagged_and_cleared(session: Session, settings: Settings, tmp_path: Path) -> None:
    provider = _trade_days(session, settings)
    touchy = Settings(home=tmp_path, copy_flag_drawdown_bp=100)
    with clock.frozen(START + timedelta(days=4)):
        metrics.update_metrics(session, touchy, provider)
    [flag] = [f for f, p in flags.flagged(session) if p.id == provider.id]
    assert flag.kind == FlagKind.UNDERPERFORMING and "largest drawdown 1.09 % is beyond 1.00 %" in flag.reason
    with clock.frozen(START + timedelta(days=4)):
        metrics.update_metrics(session, settings, provider)
    assert [f for f, p in flags.flagged(session) if p.id == provider.id] == []
    losing = Settings(home=tmp_path, copy_flag_return_bp=0)
    with clock.frozen(START + timedelta(days=4)):
        assert metrics.update_all(session, losing) >= 1
    [flag] = [f for f, p in flags.flagged(session) if p.id == provider.id]
    assert "total return -0.10 % is below 0.00 %" in flag.reason


def test_only_active_followers_rate_once_each(session: Session, settings: Settings) -> None:
    provider, _ = approved_provider(session, settings)
    subscription, _, follower = follow(session, settings, provider)
    stranger = person(session, "stranger")
    with pytest.raises(Forbidden, match="Only people following"):
        ratings.rate(session, stranger, provider, 5)
    owner = session.get(type(stranger), provider.user_id)
    assert owner is not None
    with pytest.raises(Forbidden, match="themselves"):
        ratings.rate(session, owner, provider, 5)
    with pytest.raises(InvalidInput):
        ratings.rate(session, follower, provider, 6)
    first = ratings.rate(session, follower, provider, 2, "slow")
    again = ratings.rate(session, follower, provider, 4, "better now")
    assert first.id == again.id and (again.stars, again.comment) == (4, "better now")
    row = providers.row(session, provider)
    assert (row.rating_count, row.rating, row.followers) == (1, Decimal("4.00"), 1)
    subscriptions.unsubscribe(session, follower, subscription)
    with pytest.raises(Forbidden):
        ratings.rate(session, follower, provider, 1)


def test_only_admins_decide_and_every_decision_is_audited(session: Session, settings: Settings) -> None:
    trader = person(session, "applicant")
    account = paper_account(session, trader)
    provider = providers.apply(session, settings, trader, account.id, name="Mean reversion", description="",
                               price=Money(999, "USD"), claims=Claims(return_bp=1200))
    admin, mallory = person(session, "admin", admin=True), person(session, "mallory")
    for decide in (providers.approve, providers.reject, providers.suspend):
        with pytest.raises(Forbidden):
            decide(session, mallory, provider, "no")
    with pytest.raises(InvalidInput, match="Say why"):
        providers.reject(session, admin, provider, " ")
    with pytest.raises(Conflict):
        providers.suspend(session, admin, provider, "not listed yet")
    providers.reject(session, admin, provider, "no track record yet")
    again = providers.apply(session, settings, trader, account.id, name="Mean reversion 2", description="",
                            price=Money(999, "USD"), claims=Claims())
    assert again.id == provider.id and again.status == ProviderStatus.APPLIED
    providers.approve(session, admin, provider)
    providers.suspend(session, admin, provider, "investigating")
    providers.approve(session, admin, provider, "cleared")
    actions = [(entry.actor, entry.action) for entry in audit.entries(session, subject=f"copy_provider:{provider.id}")]
    assert actions == [(trader.name, "copy.provider.applied"), (admin.name, "copy.provider.rejected"),
                       (trader.name, "copy.provider.applied"), (admin.name, "copy.provider.approved"),
                       (admin.name, "copy.provider.suspended"), (admin.name, "copy.provider.approved")]


def test_applying_needs_an_active_paper_or_live_account_of_ones_own(session: Session, settings: Settings) -> None:
    trader, other = person(session, "applicant"), person(session, "other")
    theirs = paper_account(session, other)
    with pytest.raises(NotFound):
        providers.apply(session, settings, trader, theirs.id, name="Borrowed", description="",
                        price=Money(0, "USD"), claims=Claims())
    mine = paper_account(session, trader)
    with pytest.raises(InvalidInput, match="USD"):
        providers.apply(session, settings, trader, mine.id, name="Euro", description="", price=Money(100, "EUR"),
                        claims=Claims())
    providers.apply(session, settings, trader, mine.id, name="Mine", description="", price=Money(0, "USD"),
                    claims=Claims())
    with pytest.raises(Conflict, match="already"):
        providers.apply(session, settings, trader, mine.id, name="Twice", description="", price=Money(0, "USD"),
                        claims=Claims())


def test_subscribing_checks_the_account_and_the_rules(session: Session, settings: Settings) -> None:
    provider, provider_account = approved_provider(session, settings)
    follower = person(session, "follower")
    account = paper_account(session, follower)
    owner = session.get(type(follower), provider.user_id)
    assert owner is not None
    with pytest.raises(Conflict, match="yourself"):
        subscriptions.subscribe(session, settings, LOCAL, owner, provider, provider_account.id, CopyRules())
    with pytest.raises(NotFound):
        subscriptions.subscribe(session, settings, LOCAL, follower, provider, provider_account.id, CopyRules())
    for bad in (CopyRules(multiplier=Decimal(0)), CopyRules(stop_loss_pct=Decimal(100)),
                CopyRules(position_limits={"BTC/USDT": Decimal(-1)})):
        with pytest.raises(InvalidInput):
            subscriptions.subscribe(session, settings, LOCAL, follower, provider, account.id, bad)
    euro = paper_account(session, follower)
    euro.currency = "EUR"
    with pytest.raises(InvalidInput, match="Proportional"):
        subscriptions.subscribe(session, settings, LOCAL, follower, provider, euro.id,
                                CopyRules(scaling=Scaling.PROPORTIONAL))
    subscriptions.subscribe(session, settings, LOCAL, follower, provider, account.id, CopyRules())
    with pytest.raises(Conflict, match="already follow"):
        subscriptions.subscribe(session, settings, LOCAL, follower, provider, account.id, CopyRules())


def test_browsing_filters_and_sorts_on_recorded_figures(session: Session, settings: Settings) -> None:
    winner, winner_account = approved_provider(session, settings, cash="1000", name="Winner")
    loser, loser_account = approved_provider(session, settings, cash="1000", name="Loser")
    with clock.frozen(START):
        fill(session, place(session, winner_account, "buy", "1"), "100")
        fill(session, place(session, loser_account, "buy", "1"), "100")
    with clock.frozen(START + timedelta(days=1)):
        fill(session, place(session, winner_account, "sell", "1"), "150")
        fill(session, place(session, loser_account, "sell", "1"), "60")
        metrics.update_metrics(session, settings, winner)
        metrics.update_metrics(session, settings, loser)
    follow(session, settings, loser)
    ids = {winner.id, loser.id}

    def browse(query: TraderQuery) -> list[int]:
        return [row.provider.id for row in providers.browse(session, query) if row.provider.id in ids]

    assert browse(TraderQuery(sort="return", limit=200)) == [winner.id, loser.id]
    assert browse(TraderQuery(sort="drawdown", limit=200)) == [winner.id, loser.id]
    assert browse(TraderQuery(sort="followers", limit=200))[0] == loser.id
    assert browse(TraderQuery(min_return=Decimal(5), limit=200)) == [winner.id]  # +5 % vs -4 %
    assert browse(TraderQuery(max_drawdown=Decimal(1), limit=200)) == [winner.id]
    assert browse(TraderQuery(min_win_rate=Decimal(50), limit=200)) == [winner.id]
    assert browse(TraderQuery(min_followers=1, limit=200)) == [loser.id]
    with pytest.raises(InvalidInput):
        providers.browse(session, TraderQuery(sort="luck"))  # type: ignore[arg-type]
    winner.status = ProviderStatus.SUSPENDED
    assert browse(TraderQuery(limit=200)) == [loser.id]
