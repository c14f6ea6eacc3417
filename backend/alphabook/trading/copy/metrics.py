"""A provider's daily figures, computed from the fills alphabook recorded on their account and nothing else.

Each UTC day from the first fill on, the account's fills are replayed to that day's end by the portfolio's P&L
engine (:mod:`alphabook.trading.portfolio`: average cost, fees when paid, round trips from flat to flat) and its
equity is marked to the last price traded on the platform in each symbol by then: the day's return is the change
in equity, the total return is against the account's starting cash, the drawdown is the largest fall from a peak
so far, Sharpe is the annualised mean over the standard deviation of the daily returns so far (365 periods a
year: these markets trade every day; risk-free rate zero), and the win rate is the share of round trips that
made money after fees, as the portfolio's statistics count them. Followers are the subscriptions active at the
day's end. Arithmetic is exact (fractions) until the figures are rounded to their stored units.

:func:`update_metrics` recomputes and stores every day for one provider (late fills change earlier days, so
nothing is taken as final) and updates the figures kept on the provider for browsing; :func:`update_all` is the
job issue #9 schedules. Figures are stored as integers with their unit in the name (basis points, thousandths),
rounded half to even from exact decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict
from alphabook.core.money import currency_exponent
from alphabook.trading.copy import flags
from alphabook.trading.copy.models import ProviderMetric, ProviderStatus, SignalProvider, Subscription
from alphabook.trading.models import Order, OrderFill, TradingAccount
from alphabook.trading.portfolio import build_ledger, executions

__all__ = ["PERIODS_PER_YEAR", "DayFigures", "bp", "daily_figures", "day_end", "history", "milli", "update_all",
           "update_metrics"]

PERIODS_PER_YEAR = 365
ZERO = Decimal(0)


def bp(fraction: Decimal) -> int:
    """A fraction in basis points (0.1234 -> 1234), rounded half to even."""
    return int((fraction * 10_000).to_integral_value(ROUND_HALF_EVEN))


def milli(value: Decimal) -> int:
    return int((value * 1000).to_integral_value(ROUND_HALF_EVEN))


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (UTC): fills strictly before it belong to the day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    equity: Decimal
    return_: Decimal  # fractions: 0.01 is 1 %
    total_return: Decimal
    drawdown: Decimal  # the largest so far, >= 0
    sharpe: Decimal | None  # None until two days with some variation
    win_rate: Decimal | None  # None until a position was reduced
    trades: int


def daily_figures(session: Session, account: TradingAccount, *, through: date) -> list[DayFigures]:
    """The account's figures for each day from its first fill through ``through`` (empty if it has none)."""
    start = Fraction(account.starting_cash.to_decimal())
    if start <= 0:
        raise Conflict(f"Account {account.id} has no starting cash recorded, so returns cannot be computed.")
    last_end = day_end(through)
    fills = [fill for fill in executions(session, account.id, until=last_end) if fill.at < last_end]
    if not fills:
        return []
    market = session.execute(select(Order.symbol, OrderFill.price, OrderFill.at)
                             .join(Order, Order.id == OrderFill.order_id)
                             .where(Order.symbol.in_({fill.symbol for fill in fills}), OrderFill.at < last_end)
                             .order_by(OrderFill.at, OrderFill.id)).all()
    ledger = build_ledger(account, [])
    marks: dict[str, Decimal] = {}
    figures: list[DayFigures] = []
    previous = peak = start
    worst = ZERO
    total = squares = Fraction(0)
    n = seen = marked = 0
    day = fills[0].at.astimezone(UTC).date()
    while day <= through:
        end = day_end(day)
        while seen < len(fills) and fills[seen].at < end:
            ledger.apply(fills[seen])
            seen += 1
        while marked < len(market) and market[marked].at < end:
            marks[market[marked].symbol] = market[marked].price
            marked += 1
        equity = ledger.cash + sum((holding.quantity * Fraction(marks.get(symbol, holding.last_price))
                                    for symbol, holding in ledger.holdings.items() if holding.quantity), Fraction(0))
        change = equity / previous - 1 if previous > 0 else Fraction(0)
        peak = max(peak, equity)
        worst = max(worst, _decimal((peak - equity) / peak) if peak > 0 else ZERO)
        n, total, squares = n + 1, total + change, squares + change * change
        trips = ledger.round_trips
        figures.append(DayFigures(
            day=day, equity=_decimal(equity), return_=_decimal(change), total_return=_decimal(equity / start - 1),
            drawdown=worst, sharpe=_sharpe(n, total, squares),
            win_rate=Decimal(sum(1 for trip in trips if trip.pnl > 0)) / len(trips) if trips else None,
            trades=len(trips)))
        previous, day = equity, day + timedelta(days=1)
    return figures


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _sharpe(n: int, total: Fraction, squares: Fraction) -> Decimal | None:
    if n < 2:
        return None
    variance = (squares - total * total / n) / (n - 1)
    if variance <= 0:
        return None
    return _decimal(total / n) / _decimal(variance).sqrt() * Decimal(PERIODS_PER_YEAR).sqrt()


def _followers(subscriptions: Sequence[Subscription], moment: datetime) -> int:
    return sum(1 for each in subscriptions
               if each.created_at < moment and (each.ended_at is None or each.ended_at >= moment))


def update_metrics(session: Session, settings: Settings, provider: SignalProvider, *, through: date | None = None,
                   actor: str = "copy-metrics") -> list[ProviderMetric]:
    """Recompute and store ``provider``'s daily figures through ``through`` (today), refresh the figures shown
    when browsing, and raise or clear their underperformance flag. Returns the stored days, oldest first."""
    session.execute(select(SignalProvider.id).where(SignalProvider.id == provider.id).with_for_update())
    account = session.get(TradingAccount, provider.account_id)
    assert account is not None
    now = utcnow()
    through = through or now.date()
    figures = daily_figures(session, account, through=through)
    subscriptions = list(session.scalars(select(Subscription).where(Subscription.provider_id == provider.id)))
    stored = {row.day: row for row in session.scalars(select(ProviderMetric)
                                                      .where(ProviderMetric.provider_id == provider.id))}
    exponent = currency_exponent(account.currency)
    rows = []
    for each in figures:
        row = stored.get(each.day)
        if row is None:
            row = ProviderMetric(provider_id=provider.id, day=each.day)
            session.add(row)
        row.equity_minor = int((each.equity * 10**exponent).to_integral_value(ROUND_HALF_EVEN))
        row.return_bp, row.total_return_bp, row.drawdown_bp = bp(each.return_), bp(each.total_return), bp(
            each.drawdown)
        row.sharpe_milli = milli(each.sharpe) if each.sharpe is not None else None
        row.win_rate_bp = bp(each.win_rate) if each.win_rate is not None else None
        row.trades, row.followers = each.trades, _followers(subscriptions, day_end(each.day))
        row.computed_at = now
        rows.append(row)
    if rows:
        last = rows[-1]
        provider.return_bp, provider.max_drawdown_bp = last.total_return_bp, last.drawdown_bp
        provider.sharpe_milli, provider.win_rate_bp, provider.trades = last.sharpe_milli, last.win_rate_bp, last.trades
    provider.metrics_at = now
    session.flush()
    flags.check_performance(session, settings, provider, actor=actor)
    audit.record(session, actor=actor, action="copy.provider.metrics_updated", subject=f"copy_provider:{provider.id}",
                 days=len(rows), through=through.isoformat(), return_bp=provider.return_bp,
                 max_drawdown_bp=provider.max_drawdown_bp)
    return rows


def update_all(session: Session, settings: Settings, *, through: date | None = None,
               actor: str = "copy-metrics") -> int:
    """Update every approved or suspended provider's metrics (the daily job); returns how many were updated."""
    providers = session.scalars(select(SignalProvider).where(
        SignalProvider.status.in_([ProviderStatus.APPROVED, ProviderStatus.SUSPENDED])).order_by(SignalProvider.id))
    count = 0
    for provider in providers:
        update_metrics(session, settings, provider, through=through, actor=actor)
        count += 1
    return count


def history(session: Session, provider: SignalProvider, *, days: int = 90) -> list[ProviderMetric]:
    """The provider's stored daily figures, the last ``days`` of them, oldest first."""
    rows = session.scalars(select(ProviderMetric).where(ProviderMetric.provider_id == provider.id)
                           .order_by(ProviderMetric.day.desc()).limit(days))
    return list(reversed(list(rows)))
