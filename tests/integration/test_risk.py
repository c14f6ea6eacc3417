"""Risk limits and kill switches: every limit refuses with its numbers, breaches trip kill switches that only a
person re-arms, and paper hooks never reach a live broker (checked before writing and again before sending)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.core import audit, clock
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.trading import accounts, hooks, orders, risk
from alphabook.trading.brokers.base import BrokerOrder, Fill, OrderStatus, OrderType, Side
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import Hook, Order, OrderSource, OutboxMessage, TradingAccount
from alphabook.trading.orders import OrderIntent
from alphabook.trading.outbox import Dispatcher
from alphabook.trading.risk import KillSwitchOn, RiskRefused
from tests.integration.hook_support import api, create_hook, drain, make_live_account, make_trader, settings_for

pytestmark = pytest.mark.db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def _account(session: Session, limits: dict[str, Any] | None = None) -> TradingAccount:
    user = service.ensure_user(session, f"risk-{utcnow().timestamp()}")
    account = accounts.open_paper_account(session, user, name="paper", starting_cash=Money.of("100000", "USD"))
    if limits:
        risk.set_account_limits(session, account, limits, actor="test")
    return account


def _hook(session: Session, settings: Settings, account: TradingAccount, limits: dict[str, Any] | None = None,
          *, live: bool = False) -> Hook:
    return hooks.create(session, cipher_for(settings), account, actor="test", name="h", format="tradingview",
                        live=live, limits=limits).hook


def _buy(quantity: str, *, symbol: str = "GOOG", limit: str | None = None, price: str | None = "300",
         side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(symbol=symbol, side=side, type=OrderType.LIMIT if limit else OrderType.MARKET,
                       quantity=Decimal(quantity), limit_price=Decimal(limit) if limit else None,
                       reference_price=Decimal(price) if price else None)


def _submit(session: Session, account: TradingAccount, intent: OrderIntent, hook: Hook | None = None) -> Order:
    return orders.submit(session, account, intent, source=OrderSource.HOOK if hook else OrderSource.MANUAL,
                         hook_id=hook.id if hook else None, actor="test")


def _fill(session: Session, order: Order, price: str, fee: str = "0", at: datetime | None = None) -> None:
    fill = Fill(f"f-{order.id}", order.quantity, Decimal(price), Decimal(fee), "USD", at or utcnow())
    view = BrokerOrder(f"b-{order.id}", order.client_order_id, order.symbol, OrderStatus.FILLED, order.quantity,
                       Decimal(price), (fill,))
    orders.record(session, order, view)


def test_allowed_symbols(session: Session) -> None:
    account = _account(session, {"allowed_symbols": ["GOOG", "BTC/USD"]})
    _submit(session, account, _buy("1"))
    with pytest.raises(RiskRefused) as refused:
        _submit(session, account, _buy("1", symbol="AAPL"))
    assert refused.value.extra == {"scope": "account", "limit": "allowed_symbols", "allowed": "BTC/USD, GOOG",
                                   "actual": "AAPL", "tripped": False}
    assert "AAPL is not one of BTC/USD, GOOG" in refused.value.detail


def test_max_order_notional(session: Session, settings: Settings) -> None:
    account = _account(session)
    hook = _hook(session, settings, account, {"max_order_notional": {"amount_minor": 100_000, "currency": "USD"}})
    _submit(session, account, _buy("3", limit="300"), hook)  # 900 USD
    with pytest.raises(RiskRefused, match=r"5 GOOG at 300 is 1500 USD, above 1000.00 USD") as refused:
        _submit(session, account, _buy("5", limit="300"), hook)
    assert (refused.value.scope, refused.value.limit) == ("hook", "max_order_notional")
    with pytest.raises(RiskRefused, match="a market order needs a price"):
        _submit(session, account, _buy("1", price=None), hook)
    _submit(session, account, _buy("1", price=None))  # the hook's limit is the hook's: a manual order passes


def test_max_position_counts_fills_and_working_orders(session: Session, settings: Settings) -> None:
    account = _account(session)
    hook = _hook(session, settings, account, {"max_position": {"GOOG": "2", "*": "100"}})
    first = _submit(session, account, _buy("2"), hook)
    with pytest.raises(RiskRefused, match=r"could reach 3 \(filled 0, working buys 2") as refused:
        _submit(session, account, _buy("1"), hook)
    assert refused.value.extra["allowed"] == "2" and refused.value.extra["actual"] == "3"
    _fill(session, first, "300")
    with pytest.raises(RiskRefused, match=r"could reach 3 \(filled 2, working buys 0"):
        _submit(session, account, _buy("1"), hook)
    _submit(session, account, _buy("4", side=Side.SELL), hook)  # 2 - 4 = -2: within ±2
    with pytest.raises(RiskRefused, match="could reach -3"):
        _submit(session, account, _buy("1", side=Side.SELL), hook)
    _submit(session, account, _buy("50", symbol="BTC/USD"), hook)  # "*" for the rest


def test_orders_per_minute_trips_the_hook_kill_switch_until_rearmed(session: Session, settings: Settings) -> None:
    with clock.frozen(NOON) as frozen:
        account = _account(session)
        hook = _hook(session, settings, account, {"max_orders_per_minute": 2})
        other = _hook(session, settings, account)
        _submit(session, account, _buy("1"), hook)
        _submit(session, account, _buy("1"), hook)
        with pytest.raises(RiskRefused, match="2 orders in the last minute, at most 2") as refused:
            _submit(session, account, _buy("1"), hook)
        assert refused.value.extra["tripped"] is True and hook.kill_switch
        _submit(session, account, _buy("1"), other)  # another hook of the account still trades
        frozen.advance(timedelta(minutes=5))
        with pytest.raises(KillSwitchOn, match="hook's kill switch is on"):
            _submit(session, account, _buy("1"), hook)
        risk.rearm_hook(session, hook, actor="owner")
        _submit(session, account, _buy("1"), hook)
    actions = [entry.action for entry in audit.entries(session, subject=f"hook:{hook.id}")]
    assert actions[-2:] == ["trading.hook_kill_switch_tripped", "trading.hook_kill_switch_rearmed"]
    assert audit.entries(session, subject=f"hook:{hook.id}")[-2].actor == "risk"


def test_account_orders_per_minute_trips_the_account(session: Session) -> None:
    account = _account(session, {"max_orders_per_minute": 1})
    _submit(session, account, _buy("1"))
    with pytest.raises(RiskRefused):
        _submit(session, account, _buy("1"))
    assert account.kill_switch and "max_orders_per_minute" in (account.kill_reason or "")


def test_daily_loss_counts_todays_realized_loss_and_fees(session: Session, settings: Settings) -> None:
    with clock.frozen(NOON) as frozen:
        account = _account(session, {"max_daily_loss": {"amount_minor": 5_000, "currency": "USD"}})
        yesterday = _submit(session, account, _buy("10"))
        _fill(session, yesterday, "100", at=NOON - timedelta(days=1))
        closing = _submit(session, account, _buy("10", side=Side.SELL))
        _fill(session, closing, "90", fee="2")  # (90 - 100) x 10 = -100, fee 2
        assert risk.realized_pnl_today(session, account) == Decimal(-102)
        with pytest.raises(RiskRefused, match=r"realized loss with fees is 102 USD, limit 50.00 USD") as refused:
            _submit(session, account, _buy("1"))
        assert refused.value.extra["tripped"] and account.kill_switch
        frozen.advance(timedelta(days=1))  # a new day does not re-arm: a person must
        with pytest.raises(KillSwitchOn, match="account's kill switch"):
            _submit(session, account, _buy("1"))
        risk.rearm_account(session, account, actor="owner")
        assert risk.realized_pnl_today(session, account) == 0
        _submit(session, account, _buy("1"))


def test_realized_pnl_average_cost_partial_closes_and_flips(session: Session) -> None:
    with clock.frozen(NOON):
        account = _account(session)
        for side, quantity, price in [(Side.BUY, "2", "100"), (Side.BUY, "2", "110"), (Side.SELL, "1", "120"),
                                      (Side.SELL, "5", "100"), (Side.BUY, "2", "90")]:
            _fill(session, _submit(session, account, _buy(quantity, side=side)), price)
        # avg 105; sell 1 @120: +15; sell 3 @100 closes: -15, opens short 2 @100; buy 2 @90 covers: +20
        assert risk.realized_pnl_today(session, account) == Decimal(20)


def test_kill_switches_stop_every_source(session: Session, settings: Settings) -> None:
    account = _account(session)
    hook = _hook(session, settings, account)
    risk.trip_account(session, account, actor="owner", reason="going on holiday")
    for source_hook in (hook, None):
        with pytest.raises(KillSwitchOn, match="going on holiday"):
            _submit(session, account, _buy("1"), source_hook)
    risk.rearm_account(session, account, actor="owner")
    risk.trip_hook(session, hook, actor="owner", reason="strategy misbehaves")
    with pytest.raises(KillSwitchOn, match="strategy misbehaves"):
        _submit(session, account, _buy("1"), hook)
    _submit(session, account, _buy("1"))
    with pytest.raises(Exception, match="not on"):
        risk.rearm_account(session, account, actor="owner")


def test_kill_switches_over_http_are_audited(database: Database, tmp_path: Path) -> None:
    trader = make_trader(database)
    with api(settings_for(database, tmp_path)) as client:
        hook = create_hook(client, trader)
        base = f"/api/accounts/{trader.account_id}"
        tripped = client.post(f"{base}/hooks/{hook['id']}/kill-switch", json={"reason": "paused"},
                              headers=trader.headers).json()
        assert tripped["kill_switch"] and tripped["kill_reason"] == "paused"
        from tests.integration.hook_support import tradingview_body

        refused = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"]))
        assert refused.status_code == 403 and refused.json()["type"].endswith("/kill-switch")
        assert client.delete(f"{base}/hooks/{hook['id']}/kill-switch", headers=trader.headers).json()[
            "kill_switch"] is False
        assert client.post(f"{base}/kill-switch", json={"reason": "stop all"}, headers=trader.headers).json()[
            "kill_switch"]
        refused = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], alert_id="2"))
        assert refused.status_code == 403 and "stop all" in refused.json()["detail"]
        assert refused.json()["scope"] == "account"
        assert client.delete(f"{base}/kill-switch", headers=trader.headers).json()["kill_switch"] is False
        limits = client.put(f"{base}/limits", json={"max_order_notional": {"amount_minor": 100, "currency": "USD"}},
                            headers=trader.headers)
        assert limits.json()["limits"] == {"max_order_notional": {"amount_minor": 100, "currency": "USD"}}
        refused = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], alert_id="3"))
        assert refused.status_code == 403 and refused.json()["limit"] == "max_order_notional"
        other = make_trader(database)
        assert client.post(f"{base}/kill-switch", json={"reason": "x"}, headers=other.headers).status_code == 404
    with database.session() as session:
        account_actions = [(e.actor, e.action) for e in audit.entries(session, subject=f"trading_account:"
                                                                                         f"{trader.account_id}")]
        hook_actions = [(e.actor, e.action) for e in audit.entries(session, subject=f"hook:{hook['id']}")]
    assert (trader.name, "trading.account_kill_switch_tripped") in account_actions
    assert (trader.name, "trading.account_kill_switch_rearmed") in account_actions
    assert (trader.name, "trading.account_limits_set") in account_actions
    assert hook_actions[1:] == [(trader.name, "trading.hook_kill_switch_tripped"),
                                (trader.name, "trading.hook_kill_switch_rearmed")]


def test_paper_hooks_never_reach_a_live_broker(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path)
    trader = make_trader(database)
    live_id = make_live_account(database, settings, trader.user_id, sandbox=False)
    testnet_id = make_live_account(database, settings, trader.user_id, sandbox=True)
    with database.session() as session:
        live = session.get(TradingAccount, live_id)
        testnet = session.get(TradingAccount, testnet_id)
        assert live is not None and testnet is not None
        paper_hook = _hook(session, settings, live)
        live_hook = _hook(session, settings, live, live=True)
        with pytest.raises(RiskRefused, match="paper hooks never place live orders") as refused:
            _submit(session, live, _buy("1", symbol="BTC/USDT"), paper_hook)
        assert refused.value.limit == "paper_only"
        on_testnet = _submit(session, testnet, _buy("1", symbol="BTC/USDT"), _hook(session, settings, testnet))
        orders.cancel(session, on_testnet, actor="test")  # testnet is not real money; nothing to send here
        assert on_testnet.state == "canceled"
        order = _submit(session, live, _buy("1", symbol="BTC/USDT"), live_hook)
        hooks.update(session, live_hook, actor="owner", live=False)  # turned into a paper hook after the fact
        order_id = order.id
    # The dispatcher checks again with the broker in hand: nothing is sent, the order fails with the reason.
    drain(Dispatcher(database, settings))
    with database.session() as session:
        failed = session.get(Order, order_id)
        assert failed is not None and failed.state == "failed" and "never place live orders" in (failed.reason or "")
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.order_id == order_id))
        assert message is not None and message.status == "failed"
        assert [e.action for e in audit.entries(session, subject=f"order:{order_id}")] == ["order.submitted",
                                                                                            "order.failed"]
