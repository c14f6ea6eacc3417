"""Equity history: snapshots of an account's cash, market value and equity, written by a job or on demand.

Equity at a past moment needs the prices of that moment, which only a feed had then; so rather than
recomputing history, :func:`snapshot` records the portfolio as it stands (fills from alphabook's own journal,
positions marked by a :class:`~alphabook.trading.prices.PriceFeed`) and the curve is the sequence of records.
The scheduler calls :func:`snapshot_accounts` (hourly, and at each UTC day's end); a snapshot is unique per
account and instant, so a job that runs twice for one instant writes one row. Amounts are integer minor units
of the account's currency, and equity is always cash plus market value to the unit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from alphabook.core.clock import utcnow
from alphabook.core.db import Base
from alphabook.core.money import Money
from alphabook.trading.models import BIG_ID, AccountStatus, TradingAccount
from alphabook.trading.portfolio import MarkSource, portfolio

__all__ = ["EquitySnapshot", "curve", "equity_history", "snapshot", "snapshot_accounts"]


class EquitySnapshot(Base):
    """An account's cash, market value and equity at one instant (and the P&L that led there)."""

    __tablename__ = "equity_snapshots"
    __table_args__ = (UniqueConstraint("account_id", "at", name="uq_equity_snapshots_account_id_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    cash_minor: Mapped[int] = mapped_column(BigInteger)
    market_value_minor: Mapped[int] = mapped_column(BigInteger)
    equity_minor: Mapped[int] = mapped_column(BigInteger)
    realized_pnl_minor: Mapped[int] = mapped_column(BigInteger)
    unrealized_pnl_minor: Mapped[int] = mapped_column(BigInteger)

    @property
    def equity(self) -> Money:
        return Money(self.equity_minor, self.currency)


def snapshot(session: Session, account: TradingAccount, marks: MarkSource = None, *,
             at: datetime | None = None) -> EquitySnapshot:
    """Record ``account``'s equity at ``at`` (default: now) from the fills up to then, positions marked by
    ``marks`` (a price feed; without one, each at its last fill). Returns the snapshot already recorded for
    that instant, if any."""
    moment = at or utcnow()
    existing = _at(session, account.id, moment)
    if existing is not None:
        return existing
    view = portfolio(session, account, marks, at=moment)
    row = EquitySnapshot(account_id=account.id, at=moment, currency=view.currency,
                         cash_minor=view.cash.amount_minor, market_value_minor=view.market_value.amount_minor,
                         equity_minor=view.equity.amount_minor, realized_pnl_minor=view.realized_pnl.amount_minor,
                         unrealized_pnl_minor=view.unrealized_pnl.amount_minor)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another job run recorded this instant first
        found = _at(session, account.id, moment)
        assert found is not None
        return found
    return row


def snapshot_accounts(session: Session, marks: MarkSource = None, *, at: datetime | None = None) -> int:
    """Snapshot every active account at one instant (the scheduler's job); returns how many were recorded."""
    moment = at or utcnow()
    accounts = list(session.scalars(select(TradingAccount).where(TradingAccount.status == AccountStatus.ACTIVE.value)
                                    .order_by(TradingAccount.id)))
    return sum(1 for account in accounts if snapshot(session, account, marks, at=moment) is not None)


def equity_history(session: Session, account_id: int, *, since: datetime | None = None,
                   until: datetime | None = None, limit: int = 1000) -> list[EquitySnapshot]:
    """An account's snapshots in ``[since, until)``, oldest first; at most the latest ``limit`` of them."""
    query = select(EquitySnapshot).where(EquitySnapshot.account_id == account_id)
    if since is not None:
        query = query.where(EquitySnapshot.at >= since)
    if until is not None:
        query = query.where(EquitySnapshot.at < until)
    latest = list(session.scalars(query.order_by(EquitySnapshot.at.desc()).limit(limit)))
    return latest[::-1]


def curve(session: Session, account: TradingAccount, marks: MarkSource = None, *,
          limit: int = 1000) -> list[tuple[datetime, Money]]:
    """The equity curve to draw: the starting cash when the account opened, the recorded snapshots, and the equity
    now (marked by ``marks``), oldest first. Snapshots are written by the scheduler, so a young account (a demo of
    a few minutes) would otherwise have no curve at all."""
    points = [(account.created_at, account.starting_cash)]
    points += [(row.at, row.equity) for row in equity_history(session, account.id, limit=limit)
               if row.at > account.created_at]
    now = portfolio(session, account, marks)
    if now.as_of > points[-1][0]:
        points.append((now.as_of, now.equity))
    return points


def _at(session: Session, account_id: int, moment: datetime) -> EquitySnapshot | None:
    return session.scalar(select(EquitySnapshot).where(EquitySnapshot.account_id == account_id,
                                                       EquitySnapshot.at == moment))
