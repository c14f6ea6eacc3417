"""Risk checks that run before any order is written, let alone sent: limits and kill switches.

Limits live as JSON on the account (``trading_accounts.limits``) and on each hook (``hooks.limits``); both sets
apply, and a refusal names which one said no, the limit and the numbers, e.g. "the hook's max_order_notional:
0.5 BTC/USDT at 65000 is 32500 USD, above 10000.00 USD". They are parsed with pydantic at the edge
(:class:`RiskLimitsIn`) into :class:`RiskLimits`:

``allowed_symbols``     only these symbols may be traded (absent: any);
``max_order_notional``  quantity × price of one order (the limit price, the stop price, or the price an alert
                        reported; a market order with none of them is refused while this limit is set);
``max_position``        per symbol (``"*"`` for any other), the largest absolute position the order could lead
                        to, counting what is filled and what working orders on the same side could still add;
``max_orders_per_minute`` orders written in the last 60 seconds (a breach trips the kill switch: an alert loop);
``max_daily_loss``      today's (UTC) realized loss plus fees; a breach trips the kill switch.

A kill switch (per hook, per account) refuses every new order until a person re-arms it (:func:`rearm_hook`,
:func:`rearm_account`: the owner or an administrator, audited). Trips caused by a check are written in the
caller's transaction, which the caller commits along with its record of the refusal (the webhook router does).
Paper hooks never reach a live broker: checked here, before the order exists, and again by the broker registry
when the dispatcher builds the broker.

The loss and position figures come from our own orders and fills: today's realized P&L from the portfolio's engine
(:func:`realized_pnl_today`), positions and what working orders could add from the orders (:func:`position_exposure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, Forbidden, InvalidInput
from alphabook.core.money import Money, normalize_currency
from alphabook.trading import locking
from alphabook.trading.brokers.base import Side
from alphabook.trading.models import Hook, Order, OrderState, TradingAccount
from alphabook.trading.portfolio import build_ledger, executions

__all__ = ["KillSwitchOn", "MoneyLimit", "RiskLimits", "RiskLimitsIn", "RiskRefused", "Scope", "check",
           "parse_limits", "position_exposure", "realized_pnl_today", "rearm_account", "rearm_hook",
           "set_account_limits", "trip_account", "trip_hook"]

Scope = Literal["account", "hook"]
OPEN_STATES = (OrderState.PENDING.value, OrderState.NEW.value, OrderState.PARTIALLY_FILLED.value)


class RiskRefused(Forbidden):
    """A risk limit said no; ``extra`` carries the scope, the limit and the numbers for the problem document."""

    slug = "risk-limit"
    title = "Refused by a risk limit"

    def __init__(self, detail: str, *, scope: Scope, limit: str, allowed: str | None = None,
                 actual: str | None = None, tripped: bool = False) -> None:
        super().__init__(detail, scope=scope, limit=limit, allowed=allowed, actual=actual, tripped=tripped)
        self.scope, self.limit, self.tripped = scope, limit, tripped


class KillSwitchOn(RiskRefused):
    slug = "kill-switch"
    title = "Kill switch is on"


class MoneyLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(ge=0, description="Integer minor units (cents): 100000 is 1,000.00 USD.")
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def _known(cls, code: str) -> str:
        return normalize_currency(code)


class RiskLimitsIn(BaseModel):
    """Risk limits as stored (JSON) and as the API takes them; every field optional, absent means no limit."""

    model_config = ConfigDict(extra="forbid")

    allowed_symbols: list[str] | None = Field(default=None, max_length=500,
                                              description="Only these symbols may be traded, e.g. ['BTC/USDT'].")
    max_order_notional: MoneyLimit | None = Field(default=None, description="Largest quantity × price of one order.")
    max_position: dict[str, Decimal] | None = Field(
        default=None, description="Largest absolute position per symbol, in units; '*' applies to other symbols.")
    max_orders_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    max_daily_loss: MoneyLimit | None = Field(default=None, description="Today's (UTC) realized loss plus fees.")

    @field_validator("max_position")
    @classmethod
    def _positive(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for symbol, quantity in (value or {}).items():
            if not quantity.is_finite() or quantity < 0:
                raise ValueError(f"max_position of {symbol} must be a non-negative number")
        return value


@dataclass(frozen=True, slots=True)
class RiskLimits:
    allowed_symbols: frozenset[str] | None = None
    max_order_notional: Money | None = None
    max_position: Mapping[str, Decimal] = field(default_factory=dict)
    max_orders_per_minute: int | None = None
    max_daily_loss: Money | None = None

    @classmethod
    def of(cls, parsed: RiskLimitsIn) -> RiskLimits:
        def money(limit: MoneyLimit | None) -> Money | None:
            return None if limit is None else Money(limit.amount_minor, limit.currency)

        return cls(allowed_symbols=None if parsed.allowed_symbols is None else frozenset(parsed.allowed_symbols),
                   max_order_notional=money(parsed.max_order_notional), max_position=dict(parsed.max_position or {}),
                   max_orders_per_minute=parsed.max_orders_per_minute, max_daily_loss=money(parsed.max_daily_loss))

    def position_limit(self, symbol: str) -> Decimal | None:
        return self.max_position.get(symbol, self.max_position.get("*"))


def parse_limits(data: Mapping[str, Any] | None, *, currency: str) -> tuple[RiskLimits, dict[str, Any]]:
    """Validate limits (from the API, or a JSON column); returns them and their canonical JSON form.

    Money limits must be in the account's ``currency``: a loss in USD cannot be compared with one in EUR."""
    parsed = RiskLimitsIn.model_validate(dict(data or {}))
    for name in ("max_order_notional", "max_daily_loss"):
        limit: MoneyLimit | None = getattr(parsed, name)
        if limit is not None and limit.currency != currency:
            raise InvalidInput(f"{name} is in {limit.currency}, but the account trades in {currency}; give it in "
                               f"{currency}.")
    return RiskLimits.of(parsed), parsed.model_dump(mode="json", exclude_none=True)


# --- the check ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposed:
    """What the check needs to know of an order that does not exist yet."""

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None  # limit, stop or reported price: what the notional is computed with


#: Limits whose check reads what other orders did: concurrent orders must be checked one after the other.
COUNTING = ("max_position", "max_orders_per_minute", "max_daily_loss")


def counts_orders(account: TradingAccount, hook: Hook | None) -> bool:
    """Whether ``account`` or ``hook`` has a limit that counts other orders (then the caller locks the account, so
    that two orders at once cannot both pass a limit only one of them fits in). Without one, orders of an account
    are decided in parallel: nothing they check depends on each other."""
    return any(name in (account.limits or {}) or (hook is not None and name in (hook.limits or {}))
               for name in COUNTING)


def check(session: Session, account: TradingAccount, order: Proposed, *, hook: Hook | None,
          broker_is_live: bool) -> None:
    """Raise :class:`RiskRefused` (or :class:`KillSwitchOn`) unless ``order`` may be written for ``account``.

    The caller holds the account's lock (:func:`alphabook.trading.locking.lock_account`), so concurrent orders of
    one account are counted one after the other."""
    if account.kill_switch:
        raise KillSwitchOn(f"The account's kill switch is on ({account.kill_reason or 'no reason given'}); its "
                           "owner must re-arm it before it trades again.", scope="account", limit="kill_switch")
    if hook is not None and hook.kill_switch:
        raise KillSwitchOn(f"This hook's kill switch is on ({hook.kill_reason or 'no reason given'}); its owner "
                           "must re-arm it before it places orders again.", scope="hook", limit="kill_switch")
    if hook is not None and not hook.live and broker_is_live:
        raise RiskRefused(f"This is a paper hook, and account {account.id} trades with real money at "
                          f"{account.broker}: paper hooks never place live orders. Create a live hook for it.",
                          scope="hook", limit="paper_only")
    scopes: list[tuple[Scope, RiskLimits, Hook | None]] = [
        ("account", parse_limits(account.limits, currency=account.currency)[0], None)]
    if hook is not None:
        scopes.append(("hook", parse_limits(hook.limits, currency=account.currency)[0], hook))
    for scope, limits, scoped_hook in scopes:
        _check_limits(session, account, order, scope, limits, scoped_hook)


def _check_limits(session: Session, account: TradingAccount, order: Proposed, scope: Scope, limits: RiskLimits,
                  hook: Hook | None) -> None:
    whose = "the account's" if scope == "account" else "the hook's"
    if limits.allowed_symbols is not None and order.symbol not in limits.allowed_symbols:
        allowed = ", ".join(sorted(limits.allowed_symbols)) or "none"
        raise RiskRefused(f"Refused by {whose} allowed_symbols: {order.symbol} is not one of {allowed}.",
                          scope=scope, limit="allowed_symbols", allowed=allowed, actual=order.symbol)
    if limits.max_order_notional is not None:
        cap = limits.max_order_notional
        if order.price is None:
            raise RiskRefused(f"Refused by {whose} max_order_notional ({cap}): a market order needs a price to "
                              "be checked; send the price you saw (TradingView: \"price\": {{close}}).",
                              scope=scope, limit="max_order_notional", allowed=str(cap))
        notional = order.quantity * order.price
        if notional > cap.to_decimal():
            raise RiskRefused(f"Refused by {whose} max_order_notional: {order.quantity} {order.symbol} at "
                              f"{order.price} is {notional:f} {cap.currency}, above {cap}.", scope=scope,
                              limit="max_order_notional", allowed=str(cap), actual=f"{notional:f} {cap.currency}")
    position_cap = limits.position_limit(order.symbol)
    if position_cap is not None:
        filled, open_buys, open_sells = position_exposure(session, account.id, order.symbol,
                                                          hook_id=hook.id if hook else None)
        worst = (filled + open_buys + order.quantity if order.side is Side.BUY
                 else filled - open_sells - order.quantity)
        if abs(worst) > position_cap:
            raise RiskRefused(f"Refused by {whose} max_position for {order.symbol}: the position could reach "
                              f"{worst:f} (filled {filled:f}, working buys {open_buys:f}, sells {open_sells:f}, this "
                              f"{order.side} {order.quantity:f}), beyond ±{position_cap:f}.", scope=scope,
                              limit="max_position", allowed=f"{position_cap:f}", actual=f"{worst:f}")
    if limits.max_orders_per_minute is not None:
        recent = _orders_since(session, account.id, utcnow() - timedelta(minutes=1), hook.id if hook else None)
        if recent >= limits.max_orders_per_minute:
            reason = (f"{whose} max_orders_per_minute: {recent} orders in the last minute, at most "
                      f"{limits.max_orders_per_minute}")
            _trip(session, account, hook, scope, reason)
            raise RiskRefused(f"Refused by {reason}; the kill switch is now on and needs re-arming.", scope=scope,
                              limit="max_orders_per_minute", allowed=str(limits.max_orders_per_minute),
                              actual=str(recent + 1), tripped=True)
    if limits.max_daily_loss is not None:
        cap = limits.max_daily_loss
        pnl = realized_pnl_today(session, account, hook_id=hook.id if hook else None)
        if -pnl >= cap.to_decimal():
            reason = f"{whose} max_daily_loss: today's realized loss with fees is {-pnl:f} {cap.currency}, limit {cap}"
            _trip(session, account, hook, scope, reason)
            raise RiskRefused(f"Refused by {reason}; the kill switch is now on and needs re-arming.", scope=scope,
                              limit="max_daily_loss", allowed=str(cap), actual=f"{-pnl:f} {cap.currency}",
                              tripped=True)


def _orders_since(session: Session, account_id: int, since: datetime, hook_id: str | None) -> int:
    query = select(func.count(Order.id)).where(Order.account_id == account_id, Order.created_at >= since)
    if hook_id is not None:
        query = query.where(Order.hook_id == hook_id)
    return session.scalar(query) or 0


def position_exposure(session: Session, account_id: int, symbol: str, *,
                      hook_id: str | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """(filled position, what working buys could add, what working sells could take away) of one symbol, from our
    orders (those of one hook when ``hook_id`` is given). Sums in Python: SQLite keeps these as exact text."""
    query = select(Order.side, Order.state, Order.quantity, Order.filled_quantity).where(
        Order.account_id == account_id, Order.symbol == symbol)
    if hook_id is not None:
        query = query.where(Order.hook_id == hook_id)
    filled = open_buys = open_sells = Decimal(0)
    for side, state, quantity, done in session.execute(query):
        signed = done if side == Side.BUY else -done
        filled += signed
        if state in OPEN_STATES:
            if side == Side.BUY:
                open_buys += quantity - done
            else:
                open_sells += quantity - done
    return filled, open_buys, open_sells


def realized_pnl_today(session: Session, account: TradingAccount, *, hook_id: str | None = None,
                       now: datetime | None = None) -> Decimal:
    """Realized P&L since 00:00 UTC, net of today's fees, in the account's currency (negative: a loss).

    The portfolio's own engine (:mod:`alphabook.trading.portfolio`: average cost, fees counted when paid) over all
    the account's fills (one hook's orders' fills when ``hook_id`` is given), less the same up to midnight."""
    moment = now or utcnow()
    midnight = datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)
    fills = executions(session, account.id)
    if hook_id is not None:
        mine = set(session.scalars(select(Order.id).where(Order.account_id == account.id, Order.hook_id == hook_id)))
        fills = [fill for fill in fills if fill.order_id in mine]
    if not fills or fills[-1].at < midnight:
        return Decimal(0)
    before = [fill for fill in fills if fill.at < midnight]
    today = build_ledger(account, fills).realized - build_ledger(account, before).realized
    return Decimal(today.numerator) / Decimal(today.denominator)


# --- kill switches -----------------------------------------------------------------------------------------


def _trip(session: Session, account: TradingAccount, hook: Hook | None, scope: Scope, reason: str) -> None:
    if scope == "hook" and hook is not None:
        trip_hook(session, hook, actor="risk", reason=reason)
    else:
        trip_account(session, account, actor="risk", reason=reason)


def trip_hook(session: Session, hook: Hook, *, actor: str, reason: str) -> None:
    """Turn the hook's kill switch on: it places nothing until re-armed."""
    hook.kill_switch, hook.kill_reason, hook.updated_at = True, reason[:2000], utcnow()
    audit.record(session, actor=actor, action="trading.hook_kill_switch_tripped", subject=f"hook:{hook.id}",
                 account_id=hook.account_id, reason=reason)


def rearm_hook(session: Session, hook: Hook, *, actor: str) -> None:
    if not hook.kill_switch:
        raise Conflict(f"The kill switch of hook {hook.id} is not on.")
    audit.record(session, actor=actor, action="trading.hook_kill_switch_rearmed", subject=f"hook:{hook.id}",
                 account_id=hook.account_id, was=hook.kill_reason)
    hook.kill_switch, hook.kill_reason, hook.updated_at = False, None, utcnow()


def trip_account(session: Session, account: TradingAccount, *, actor: str, reason: str) -> None:
    """Turn the account's kill switch on: none of its hooks, copies or manual orders trade until re-armed."""
    account.kill_switch, account.kill_reason, account.updated_at = True, reason[:2000], utcnow()
    audit.record(session, actor=actor, action="trading.account_kill_switch_tripped",
                 subject=f"trading_account:{account.id}", reason=reason)


def rearm_account(session: Session, account: TradingAccount, *, actor: str) -> None:
    if not account.kill_switch:
        raise Conflict(f"The kill switch of account {account.id} is not on.")
    audit.record(session, actor=actor, action="trading.account_kill_switch_rearmed",
                 subject=f"trading_account:{account.id}", was=account.kill_reason)
    account.kill_switch, account.kill_reason, account.updated_at = False, None, utcnow()


def set_account_limits(session: Session, account: TradingAccount, limits: Mapping[str, Any], *,
                       actor: str) -> TradingAccount:
    """Replace the account's limits as a whole (validated; money in the account's currency); audited."""
    account = locking.lock_account(session, account.id)
    account.limits = parse_limits(limits, currency=account.currency)[1]
    account.updated_at = utcnow()
    audit.record(session, actor=actor, action="trading.account_limits_set", subject=f"trading_account:{account.id}",
                 limits=account.limits)
    return account
