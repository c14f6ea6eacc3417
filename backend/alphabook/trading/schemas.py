"""API shapes of trading (pydantic at the edge; rows and ledgers stay inside).

Decimals (quantities, prices, ratios) travel as strings of plain digits (``"0.00012"``), never as floats or in
exponent form; money as ``{"amount_minor": 123, "currency": "USD", "display": "1.23 USD"}``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from alphabook.core.db import plain
from alphabook.core.money import Money
from alphabook.marketplace.schemas import MoneyOut
from alphabook.trading.equity import EquitySnapshot
from alphabook.trading.journal import JournalEntry, JournalPage
from alphabook.trading.models import Alert, Hook, TradingAccount
from alphabook.trading.portfolio import Portfolio, PositionView, RoundTrip, Stats, money
from alphabook.trading.risk import RiskLimitsIn

__all__ = ["AccountRiskOut", "AlertDecisionOut", "AlertOut", "DecimalText", "EquityOut", "EquityPointOut", "FillOut",
           "HookCreate", "HookOut", "HookPatch", "HookWithSecret", "JournalOrderOut", "JournalPageOut", "KillSwitchIn",
           "PortfolioOut", "PositionOut", "RotateIn", "RoundTripOut", "StatsOut"]

# --- portfolio and journal ------------------------------------------------------------------------------------

DecimalText = Annotated[Decimal, PlainSerializer(lambda value: format(plain(value), "f"), return_type=str)]


class PositionOut(BaseModel):
    symbol: str
    quantity: DecimalText = Field(description="Negative for a short.")
    average_price: DecimalText
    cost_basis: MoneyOut
    mark_price: DecimalText
    marked_by: str = Field(description="'feed' (the price feed's last price) or 'last_fill' (no feed price now).")
    market_value: MoneyOut
    unrealized_pnl: MoneyOut
    realized_pnl: MoneyOut = Field(description="This symbol's realized P&L, net of its fees.")
    opened_at: datetime | None

    @classmethod
    def of(cls, view: PositionView) -> PositionOut:
        return cls(symbol=view.symbol, quantity=view.quantity, average_price=view.average_price,
                   cost_basis=MoneyOut.of(view.cost_basis), mark_price=view.mark_price, marked_by=view.marked_by,
                   market_value=MoneyOut.of(view.market_value), unrealized_pnl=MoneyOut.of(view.unrealized_pnl),
                   realized_pnl=MoneyOut.of(view.realized_pnl), opened_at=view.opened_at)


class PortfolioOut(BaseModel):
    account_id: int
    currency: str
    as_of: datetime
    starting_cash: MoneyOut
    cash: MoneyOut
    market_value: MoneyOut
    equity: MoneyOut = Field(description="Cash plus the market value of open positions.")
    realized_pnl: MoneyOut = Field(description="Net of every fee paid, opening fees included.")
    unrealized_pnl: MoneyOut
    fees: MoneyOut
    positions: list[PositionOut]
    unconverted_fees: dict[str, DecimalText] = Field(
        description="Fees charged in a currency that is neither the account's nor the traded asset (BNB), by "
        "currency; not in cash or P&L.")

    @classmethod
    def of(cls, view: Portfolio) -> PortfolioOut:
        return cls(account_id=view.account_id, currency=view.currency, as_of=view.as_of,
                   starting_cash=MoneyOut.of(view.starting_cash), cash=MoneyOut.of(view.cash),
                   market_value=MoneyOut.of(view.market_value), equity=MoneyOut.of(view.equity),
                   realized_pnl=MoneyOut.of(view.realized_pnl), unrealized_pnl=MoneyOut.of(view.unrealized_pnl),
                   fees=MoneyOut.of(view.fees), positions=[PositionOut.of(row) for row in view.positions],
                   unconverted_fees=view.unconverted_fees)


class FillOut(BaseModel):
    fill_id: str
    quantity: DecimalText
    price: DecimalText
    fee: DecimalText
    fee_currency: str
    at: datetime


class JournalOrderOut(BaseModel):
    id: int
    client_order_id: str
    broker_order_id: str | None
    source: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: DecimalText
    limit_price: DecimalText | None
    stop_price: DecimalText | None
    state: str
    filled_quantity: DecimalText
    average_price: DecimalText | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    fills: list[FillOut]
    fees: MoneyOut = Field(description="Fees of this order's fills valued in the account's currency.")
    realized_pnl: MoneyOut = Field(description="What this order's fills realized, net of their fees.")

    @classmethod
    def of(cls, entry: JournalEntry) -> JournalOrderOut:
        order = entry.order
        return cls(id=order.id, client_order_id=order.client_order_id, broker_order_id=order.broker_order_id,
                   source=order.source, symbol=order.symbol, side=order.side, type=order.type,
                   time_in_force=order.time_in_force, quantity=order.quantity, limit_price=order.limit_price,
                   stop_price=order.stop_price, state=order.state, filled_quantity=order.filled_quantity,
                   average_price=order.average_price, reason=order.reason, created_at=order.created_at,
                   updated_at=order.updated_at,
                   fills=[FillOut(fill_id=fill.fill_id, quantity=fill.quantity, price=fill.price, fee=fill.fee,
                                  fee_currency=fill.fee_currency, at=fill.at) for fill in order.fills],
                   fees=MoneyOut.of(entry.fees), realized_pnl=MoneyOut.of(entry.realized_pnl))


class JournalPageOut(BaseModel):
    items: list[JournalOrderOut] = Field(description="Newest first.")
    next_cursor: int | None = Field(description="Pass as 'cursor' for the next, older page; null on the last.")

    @classmethod
    def of(cls, page: JournalPage) -> JournalPageOut:
        return cls(items=[JournalOrderOut.of(entry) for entry in page.entries], next_cursor=page.next_cursor)


class EquityPointOut(BaseModel):
    at: datetime
    cash: MoneyOut
    market_value: MoneyOut
    equity: MoneyOut
    realized_pnl: MoneyOut
    unrealized_pnl: MoneyOut

    @classmethod
    def of_snapshot(cls, row: EquitySnapshot) -> EquityPointOut:
        def out(minor: int) -> MoneyOut:
            return MoneyOut.of(Money(minor, row.currency))

        return cls(at=row.at, cash=out(row.cash_minor), market_value=out(row.market_value_minor),
                   equity=out(row.equity_minor), realized_pnl=out(row.realized_pnl_minor),
                   unrealized_pnl=out(row.unrealized_pnl_minor))

    @classmethod
    def of_portfolio(cls, view: Portfolio) -> EquityPointOut:
        return cls(at=view.as_of, cash=MoneyOut.of(view.cash), market_value=MoneyOut.of(view.market_value),
                   equity=MoneyOut.of(view.equity), realized_pnl=MoneyOut.of(view.realized_pnl),
                   unrealized_pnl=MoneyOut.of(view.unrealized_pnl))


class EquityOut(BaseModel):
    currency: str
    points: list[EquityPointOut] = Field(description="Recorded snapshots, oldest first.")
    current: EquityPointOut = Field(description="The portfolio now (not recorded).")


class RoundTripOut(BaseModel):
    symbol: str
    direction: str = Field(description="'long' or 'short'.")
    opened_at: datetime
    closed_at: datetime
    quantity: DecimalText
    entry_price: DecimalText
    exit_price: DecimalText
    fees: MoneyOut
    pnl: MoneyOut = Field(description="Net of the trip's fees.")

    @classmethod
    def of(cls, trip: RoundTrip, currency: str) -> RoundTripOut:
        return cls(symbol=trip.symbol, direction=trip.direction, opened_at=trip.opened_at, closed_at=trip.closed_at,
                   quantity=trip.quantity, entry_price=trip.entry_price, exit_price=trip.exit_price,
                   fees=MoneyOut.of(money(trip.fees, currency)), pnl=MoneyOut.of(money(trip.pnl, currency)))


class StatsOut(BaseModel):
    currency: str
    trades: int = Field(description="Closed round trips (flat to flat).")
    wins: int
    losses: int
    win_rate: DecimalText | None = Field(description="Wins / trades, 0 to 1; null without trades.")
    profit_factor: DecimalText | None = Field(description="Gross profit / gross loss; null without a loss.")
    expectancy: MoneyOut | None = Field(description="Mean P&L per trade.")
    gross_profit: MoneyOut
    gross_loss: MoneyOut
    average_win: MoneyOut | None
    average_loss: MoneyOut | None
    largest_win: MoneyOut | None
    largest_loss: MoneyOut | None
    max_drawdown: MoneyOut = Field(description="Deepest fall of starting cash plus closed trades' P&L from a peak.")
    max_drawdown_pct: DecimalText | None = Field(description="That fall as a share of the peak (0.125 = 12.5 %).")
    round_trips: list[RoundTripOut]

    @classmethod
    def of(cls, stats: Stats) -> StatsOut:
        def out(value: Money | None) -> MoneyOut | None:
            return None if value is None else MoneyOut.of(value)

        return cls(currency=stats.currency, trades=stats.trades, wins=stats.wins, losses=stats.losses,
                   win_rate=stats.win_rate, profit_factor=stats.profit_factor, expectancy=out(stats.expectancy),
                   gross_profit=MoneyOut.of(stats.gross_profit), gross_loss=MoneyOut.of(stats.gross_loss),
                   average_win=out(stats.average_win), average_loss=out(stats.average_loss),
                   largest_win=out(stats.largest_win), largest_loss=out(stats.largest_loss),
                   max_drawdown=MoneyOut.of(stats.max_drawdown), max_drawdown_pct=stats.max_drawdown_pct,
                   round_trips=[RoundTripOut.of(trip, stats.currency) for trip in stats.round_trips])

# --- end of portfolio and journal ----------------------------------------------------------------------------


# --- webhook order routing: hooks, their secrets (shown once), limits, kill switches and alerts ----------------
# No shape here has a field for a stored secret or a broker credential: a hook's secret appears only in
# HookWithSecret, the answer to creating the hook or rotating its secret.


class HookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    format: Literal["tradingview", "signed"] = Field(
        default="tradingview", description="tradingview: secret and timestamp in the JSON body; signed: Standard "
        "Webhooks headers (HMAC-SHA256).")
    live: bool = Field(default=False, description="False: a paper hook, which can never reach a live broker.")
    allowed_ips: list[str] = Field(default_factory=list, max_length=100,
                                   description="Addresses or networks alerts may come from ('tradingview' for "
                                   "TradingView's); empty allows any.")
    limits: RiskLimitsIn | None = None


class HookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=80)
    live: bool | None = None
    allowed_ips: list[str] | None = Field(default=None, max_length=100)
    limits: RiskLimitsIn | None = Field(default=None, description="Replaces the hook's limits as a whole.")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(default=None, ge=0, le=30 * 86_400,
                                        description="How long the current secret stays valid; default from the "
                                        "installation's settings (a day).")


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class HookOut(BaseModel):
    id: str
    account_id: int
    name: str
    format: str
    live: bool
    url: str
    allowed_ips: list[str]
    limits: dict[str, Any]
    kill_switch: bool
    kill_reason: str | None
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, hook: Hook, url: str) -> HookOut:
        return cls(id=hook.id, account_id=hook.account_id, name=hook.name, format=hook.format, live=hook.live,
                   url=url, allowed_ips=list(hook.allowed_ips), limits=dict(hook.limits), kill_switch=hook.kill_switch,
                   kill_reason=hook.kill_reason, previous_secret_until=hook.previous_secret_until,
                   created_at=hook.created_at, updated_at=hook.updated_at)


class HookWithSecret(HookOut):
    secret: str = Field(description="Shown this once: alphabook keeps it encrypted and never returns it again.")
    example: dict[str, Any] = Field(description="What to send: a TradingView alert message, or the signed headers.")

    @classmethod
    def with_secret(cls, hook: Hook, url: str, secret: str) -> HookWithSecret:
        if hook.format == "signed":
            example: dict[str, Any] = {
                "headers": {"webhook-id": "<unique id of this alert>", "webhook-timestamp": "<unix seconds>",
                            "webhook-signature": "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>' keyed by "
                            "base64-decoding the secret after 'whsec_'>"},
                "body": {"symbol": "BTC/USDT", "side": "buy", "quantity": "0.01", "type": "market",
                         "price": "65000"}}
        else:
            example = {"secret": secret, "timestamp": "{{timenow}}", "ticker": "{{ticker}}",
                       "action": "{{strategy.order.action}}", "contracts": "{{strategy.order.contracts}}",
                       "price": "{{close}}", "order_type": "market", "alert_id": "{{strategy.order.id}}-{{timenow}}"}
        base = HookOut.of(hook, url).model_dump()
        return cls(**base, secret=secret, example=example)


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    hook_id: str
    received_at: datetime
    source_ip: str | None
    decision: str
    reason: str | None
    order_id: int | None
    body: dict[str, Any]

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls.model_validate(alert)


class AlertDecisionOut(BaseModel):
    """The answer to a sender: what was decided, and the order it concerns."""

    decision: Literal["accepted", "duplicate"]
    alert_id: int
    order_id: int | None
    client_order_id: str | None
    state: str | None
    duplicate_of: int | None = None


class AccountRiskOut(BaseModel):
    account_id: int
    limits: dict[str, Any]
    kill_switch: bool
    kill_reason: str | None

    @classmethod
    def of(cls, account: TradingAccount) -> AccountRiskOut:
        return cls(account_id=account.id, limits=dict(account.limits), kill_switch=account.kill_switch,
                   kill_reason=account.kill_reason)

# --- end of webhook order routing ----------------------------------------------------------------------------
