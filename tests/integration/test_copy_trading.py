"""Mirroring on every backend: a provider's orders copied into followers' accounts by the real order service,
with scaling, per-symbol caps, pause and the follower's own risk limits; and copies closed when the provider goes
flat, when the copy stop-loss is hit and when a subscription ends, so no copied position is ever orphaned."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.config import Settings
from alphabook.core.money import Money
from alphabook.trading import orders
from alphabook.trading.brokers.base import BrokerOrder, OrderStatus
from alphabook.trading.copy import mirror, providers, subscriptions
from alphabook.trading.copy.models import CopyTradeAction, Scaling
from alphabook.trading.copy.providers import Claims
from alphabook.trading.copy.subscriptions import CopyRules
from alphabook.trading.models import Order, OrderSource, OrderState, OutboxMessage, TradingAccount
from tests.integration.copy_support import (
    LOCAL,
    SYMBOL,
    approved_provider,
    copies_of,
    fill,
    follow,
    journal_of,
    orders_in,
    paper_account,
    person,
    place,
    reject,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def _swept(session: Session, *accounts: TradingAccount) -> list[Order]:
    """The sweep's closes in these accounts (it sweeps the whole database, other tests' committed rows too)."""
    ids = {account.id for account in accounts}
    return [order for order in mirror.close_orphans(session) if order.account_id in ids]


def test_a_providers_order_is_copied_with_a_fixed_multiplier(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    double, double_account, _ = follow(session, settings, provider, rules=CopyRules(multiplier=Decimal(2)))
    half, half_account, _ = follow(session, settings, provider, rules=CopyRules(multiplier=Decimal("0.5")))
    order = place(session, source, "buy", "0.3", limit="65000")
    copies = copies_of(session, order)
    assert [(copy.account_id, copy.side, copy.quantity) for copy in copies] == [
        (double_account.id, "buy", Decimal("0.6")), (half_account.id, "buy", Decimal("0.15"))]
    for copy in copies:
        assert copy.source == OrderSource.COPY and copy.state == OrderState.PENDING
        assert (copy.type, copy.limit_price, copy.time_in_force) == ("limit", Decimal(65000), "gtc")
        assert copy.client_order_id.startswith(f"cp-{order.id}-")
        assert session.scalar(select(OutboxMessage.action).where(OutboxMessage.order_id == copy.id)) == "place"
    [entry] = journal_of(session, double)
    assert (entry.action, entry.order_id, entry.provider_order_id, entry.quantity) == (
        CopyTradeAction.MIRROR, copies[0].id, order.id, Decimal("0.6"))
    assert journal_of(session, half)[0].order_id == copies[1].id


def test_an_account_that_becomes_a_provider_mid_transaction_is_copied_from_then_on(session: Session,
                                                                                   settings: Settings) -> None:
    """Whether an account is a provider is remembered for the transaction (a dispatcher's round asks once per
    account); becoming one in that same transaction must still be seen by its next order."""
    trader = person(session, "late-provider")
    account = paper_account(session, trader)
    before = place(session, account, "buy", "0.1")  # not a provider yet: nothing to copy
    provider = providers.apply(session, settings, trader, account.id, name="Late", description="",
                               price=Money(0, "USD"), claims=Claims())
    providers.approve(session, person(session, "admin", admin=True), provider)
    _, follower_account, _ = follow(session, settings, provider)
    after = place(session, account, "buy", "0.2")
    assert copies_of(session, before) == []
    assert [(copy.account_id, copy.quantity) for copy in copies_of(session, after)] == [
        (follower_account.id, Decimal("0.2"))]


def test_whether_an_account_is_a_provider_is_asked_once_per_transaction(session: Session) -> None:
    """Every order and fill asks; a dispatcher's round records many fills of one account in one transaction, and
    each fill flushes. The answer must outlive those flushes (it did not: one query per fill was the round's
    largest cost), and is asked again in the next transaction."""
    account = paper_account(session, person(session, "busy-trader"))
    asked: list[str] = []

    def count(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM copy_providers" in statement:
            asked.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        placed = [place(session, account, "buy", "0.1") for _ in range(3)]
        for order in placed:
            fill(session, order, "100")
            session.flush()
        assert len(asked) == 1
        with session.begin_nested():  # a savepoint's end forgets: what it wrote may be taken back
            pass
        place(session, account, "buy", "0.1")
        assert len(asked) == 2
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", count)


def test_proportional_scaling_follows_equity(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings, cash="100000")
    follow(session, settings, provider, cash="25000", rules=CopyRules(scaling=Scaling.PROPORTIONAL))
    follow(session, settings, provider, cash="25000",
           rules=CopyRules(scaling=Scaling.PROPORTIONAL, multiplier=Decimal(2)))
    first = place(session, source, "buy", "2")
    assert [copy.quantity for copy in copies_of(session, first)] == [Decimal("0.5"), Decimal(1)]
    fill(session, first, "100")
    for copy in copies_of(session, first):
        fill(session, copy, "100")
    # The provider's equity is 100000 + 0 (bought at 100, marked at 100); the small follower's is 25000.
    second = place(session, source, "buy", "4")
    assert [copy.quantity for copy in copies_of(session, second)] == [Decimal(1), Decimal(2)]


def test_the_followers_limit_caps_the_copied_position(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    capped, account, _ = follow(session, settings, provider, rules=CopyRules(position_limits={SYMBOL: Decimal("1.5"),
                                                                                             "*": Decimal(100)}))
    first, second, third = (place(session, source, "buy", "1") for _ in range(3))
    assert [copy.quantity for copy in copies_of(session, first)] == [Decimal(1)]
    [capped_copy] = copies_of(session, second)
    assert capped_copy.quantity == Decimal("0.5")  # a working order counts: 1 on its way + 0.5 = the limit
    assert copies_of(session, third) == []
    entries = journal_of(session, capped)
    assert "capped by the follower's limit of 1.5 BTC/USDT" in (entries[1].reason or "")
    assert entries[2].order_id is None and "capped" in (entries[2].reason or "")
    other = place(session, source, "buy", "3", symbol="ETH/USDT")
    assert [copy.quantity for copy in copies_of(session, other)] == [Decimal(3)]  # "*" allows 100
    assert len(orders_in(session, account)) == 3


def test_a_paused_subscription_skips_and_says_why(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, account, follower = follow(session, settings, provider)
    subscriptions.pause(session, follower, subscription)
    order = place(session, source, "buy", "1")
    assert copies_of(session, order) == []
    [entry] = journal_of(session, subscription)
    assert (entry.order_id, entry.provider_order_id, entry.reason) == (None, order.id, "paused by the follower")
    subscriptions.resume(session, follower, subscription)
    assert [copy.account_id for copy in copies_of(session, place(session, source, "buy", "1"))] == [account.id]


def test_a_reduction_is_copied_as_the_same_fraction(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    follow(session, settings, provider, rules=CopyRules(multiplier=Decimal(3)))
    follow(session, settings, provider, rules=CopyRules(position_limits={SYMBOL: Decimal("1.5")}))
    opened = place(session, source, "buy", "2")
    fill(session, opened, "100")
    for copy in copies_of(session, opened):
        fill(session, copy, "100")
    assert [copy.quantity for copy in copies_of(session, opened)] == [Decimal(6), Decimal("1.5")]
    half = place(session, source, "sell", "1")
    assert [(copy.side, copy.quantity) for copy in copies_of(session, half)] == [
        ("sell", Decimal(3)), ("sell", Decimal("0.75"))]
    # Selling through zero: the rest of the long closes, and the short opens scaled (and capped).
    flip = place(session, source, "sell", "3")
    assert [(copy.side, copy.quantity) for copy in copies_of(session, flip)] == [
        ("sell", Decimal(3) + Decimal(6)), ("sell", Decimal("0.75") + Decimal("1.5"))]


def test_when_the_provider_goes_flat_every_copy_closes(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    _, copying_account, _ = follow(session, settings, provider)
    paused, paused_account, follower = follow(session, settings, provider, rules=CopyRules(multiplier=Decimal(2)))
    opened = place(session, source, "buy", "1")
    fill(session, opened, "100")
    for copy in copies_of(session, opened):
        fill(session, copy, "100")
    subscriptions.pause(session, follower, paused)
    closing = place(session, source, "sell", "1")
    [mirrored] = copies_of(session, closing)  # the paused follower's copy is skipped...
    assert mirrored.account_id == copying_account.id
    fill(session, closing, "90")
    closes = [order for order in orders_in(session, paused_account) if order.id != copies_of(session, opened)[1].id]
    [close] = closes  # ... and closed when the provider went flat, paused or not
    assert (close.side, close.quantity, close.type, close.source, close.copied_from_id) == (
        "sell", Decimal(2), "market", OrderSource.COPY, closing.id)
    assert journal_of(session, paused)[-1].action == CopyTradeAction.CLOSE
    assert "provider closed BTC/USDT" in (journal_of(session, paused)[-1].reason or "")
    # The follower whose mirrored sell is on its way gets no second close, before or after it fills.
    assert len(orders_in(session, copying_account)) == 2
    fill(session, mirrored, "90")
    fill(session, close, "90")
    assert len(orders_in(session, copying_account)) == 2 and len(orders_in(session, paused_account)) == 2
    assert _swept(session, copying_account, paused_account) == []


def test_a_close_that_never_filled_is_swept_up(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    _, account, _ = follow(session, settings, provider)
    opened = place(session, source, "buy", "1")
    fill(session, opened, "100")
    fill(session, copies_of(session, opened)[0], "100")
    closing = place(session, source, "sell", "1")
    fill(session, closing, "101")
    [mirrored] = copies_of(session, closing)
    reject(session, mirrored)  # a rejection brings no fill, so nothing reacts to it at once
    assert len(orders_in(session, account)) == 2
    [sweep] = _swept(session, account)
    assert (sweep.account_id, sweep.side, sweep.quantity) == (account.id, "sell", Decimal(1))
    assert _swept(session, account) == []  # the sweep's own close is on its way


def test_copy_stop_loss_closes_a_losing_copy_once(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    guarded, account, _ = follow(session, settings, provider, rules=CopyRules(stop_loss_pct=Decimal(10)))
    follow(session, settings, provider)  # no stop-loss: never closed by it
    opened = place(session, source, "buy", "2")
    for copy in copies_of(session, opened):
        fill(session, copy, "100")
    assert mirror.check_stop_losses(session, {SYMBOL: Decimal("90.5")}) == []
    [close] = mirror.check_stop_losses(session, {SYMBOL: Decimal(89)})
    assert (close.account_id, close.side, close.quantity, close.type) == (account.id, "sell", Decimal(2), "market")
    assert "copy stop-loss: BTC/USDT is down 11.00 %" in (journal_of(session, guarded)[-1].reason or "")
    assert mirror.check_stop_losses(session, {SYMBOL: Decimal(80)}) == []  # its close is on its way
    fill(session, close, "89")
    assert mirror.check_stop_losses(session, {SYMBOL: Decimal(50)}) == []


def test_a_short_copy_stops_out_when_the_price_rises(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    _, account, _ = follow(session, settings, provider, rules=CopyRules(stop_loss_pct=Decimal(5)))
    opened = place(session, source, "sell", "1")
    fill(session, copies_of(session, opened)[0], "200")
    fill(session, opened, "200")  # the last price traded is now 200 as well
    assert mirror.check_stop_losses(session) == []
    [close] = mirror.check_stop_losses(session, {SYMBOL: Decimal(211)})
    assert (close.account_id, close.side, close.quantity) == (account.id, "buy", Decimal(1))


def test_unsubscribing_cancels_what_would_add_and_closes_the_rest(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, account, follower = follow(session, settings, provider)
    opened = place(session, source, "buy", "1")
    fill(session, copies_of(session, opened)[0], "100")
    resting = place(session, source, "buy", "1", limit="90")
    [working] = copies_of(session, resting)
    closes = subscriptions.unsubscribe(session, follower, subscription)
    assert [(close.account_id, close.side, close.quantity) for close in closes] == [(account.id, "sell", Decimal(1))]
    session.refresh(working)
    assert working.state == OrderState.CANCELED  # never sent, so cancelled at once
    assert copies_of(session, place(session, source, "buy", "1")) == []  # nothing copied any more
    # A copy that fills after its subscription ended is closed as it fills.
    other, other_account, other_follower = follow(session, settings, provider)
    late = place(session, source, "buy", "1", limit="95")
    [pending] = copies_of(session, late)
    fill(session, pending, "95", quantity="0.4")  # sent before the end, part-filled after
    subscriptions.unsubscribe(session, other_follower, other)
    fill(session, pending, "95")
    sells = [order for order in orders_in(session, other_account) if order.side == "sell"]
    assert sum((order.quantity for order in sells), Decimal(0)) == Decimal(1)


def test_a_suspended_provider_is_copied_only_where_it_reduces(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, _, _ = follow(session, settings, provider)
    opened = place(session, source, "buy", "2")
    fill(session, opened, "100")
    fill(session, copies_of(session, opened)[0], "100")
    providers.suspend(session, person(session, "admin", admin=True), provider, "misleading claims")
    assert copies_of(session, place(session, source, "buy", "1")) == []
    assert "provider suspended" in (journal_of(session, subscription)[-1].reason or "")
    # The provider's exposure is 3 (2 filled, 1 on its way), so selling 1.5 is half: the copy sells half of its 2.
    [reduce] = copies_of(session, place(session, source, "sell", "1.5"))
    assert (reduce.side, reduce.quantity) == ("sell", Decimal(1))


def test_a_followers_risk_limit_refuses_the_copy_not_the_providers_order(session: Session,
                                                                         settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, account, _ = follow(session, settings, provider)
    account.limits = {"allowed_symbols": ["ETH/USDT"]}
    order = place(session, source, "buy", "1")
    assert order.id is not None and copies_of(session, order) == []
    [entry] = journal_of(session, subscription)
    assert entry.order_id is None and "allowed_symbols" in (entry.reason or "")


def test_copies_are_never_copied_again(session: Session, settings: Settings) -> None:
    first, first_account = approved_provider(session, settings)
    second, second_account = approved_provider(session, settings)
    # The second provider follows the first with their provider account: those copies stay there.
    follower = session.get(User, second.user_id)
    assert follower is not None
    subscriptions.subscribe(session, settings, LOCAL, follower, first, second_account.id, CopyRules())
    _, downstream, _ = follow(session, settings, second)
    order = place(session, first_account, "buy", "1")
    [copy] = copies_of(session, order)
    assert copy.account_id == second_account.id and copies_of(session, copy) == []
    assert orders_in(session, downstream) == []


def test_copies_of_a_cancelled_order_are_cancelled_by_the_sweep(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, _, _ = follow(session, settings, provider)
    resting = place(session, source, "buy", "1", limit="90")
    [copy] = copies_of(session, resting)
    orders.cancel(session, resting, actor="test")  # never sent: cancelled at once, and no event says so
    assert copy.state == OrderState.PENDING
    assert _swept(session, copy.account) == []
    session.refresh(copy)
    assert copy.state == OrderState.CANCELED
    entry = journal_of(session, subscription)[-1]
    assert (entry.action, entry.provider_order_id) == (CopyTradeAction.CANCEL, resting.id)
    assert f"copy order {copy.id} cancelled" in (entry.reason or "")


def test_a_replaced_order_is_never_held_twice(session: Session, settings: Settings) -> None:
    provider, source = approved_provider(session, settings)
    subscription, account, _ = follow(session, settings, provider)
    resting = place(session, source, "buy", "1", limit="90")
    [copy] = copies_of(session, resting)
    replacement = orders.replace(session, resting, actor="test", limit_price=Decimal(95))
    assert copies_of(session, replacement) == []
    assert "replacements are not copied" in (journal_of(session, subscription)[-1].reason or "")
    orders.record(session, resting, BrokerOrder(broker_order_id="b-old", client_order_id=resting.client_order_id,
                                                symbol=SYMBOL, status=OrderStatus.CANCELED,
                                                filled_quantity=Decimal(0), average_price=None))
    mirror.close_orphans(session)
    session.refresh(copy)
    assert copy.state == OrderState.CANCELED
    assert [order.state for order in orders_in(session, account)] == [OrderState.CANCELED]
