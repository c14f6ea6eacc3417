"""Positions, P&L, cash and equity history, the order journal (CSV too) and statistics of an account.

Open to whoever may see the account (its owner, an admin, or the browser holding a demo's cookie:
``AccountDep``), read-only accounts included. Positions are marked by the installation's price feed when the
app has one (``app.state.price_feed``), else at each position's last fill.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from alphabook.api.deps import SessionDep
from alphabook.api.trading_deps import AccountDep
from alphabook.core.clock import as_utc
from alphabook.trading import equity, journal, portfolio
from alphabook.trading.prices import PriceFeed
from alphabook.trading.schemas import EquityOut, EquityPointOut, JournalPageOut, PortfolioOut, StatsOut

router = APIRouter(tags=["portfolio"])
ACCOUNT = "/accounts/{account_id}"


def get_price_feed(request: Request) -> PriceFeed | None:
    feed: PriceFeed | None = getattr(request.app.state, "price_feed", None)
    return feed


FeedDep = Annotated[PriceFeed | None, Depends(get_price_feed)]


@router.get(ACCOUNT + "/positions", response_model=PortfolioOut)
def positions(account: AccountDep, session: SessionDep, feed: FeedDep) -> PortfolioOut:
    """Cash, open positions at average cost with unrealized P&L, realized P&L and equity."""
    return PortfolioOut.of(portfolio.portfolio(session, account, feed))


@router.get(ACCOUNT + "/orders", response_model=JournalPageOut)
def orders(account: AccountDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50,
           cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the previous page.")] = None,
           ) -> JournalPageOut:
    """The order journal, newest first, with fills, fees and realized P&L per order."""
    return JournalPageOut.of(journal.journal_page(session, account, limit=limit, cursor=cursor))


@router.get(ACCOUNT + "/orders.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "The whole journal, one order a row."}})
def orders_csv(account: AccountDep, session: SessionDep) -> Response:
    """The whole journal as a CSV download (decimals as plain digits, times in UTC)."""
    body = "".join(journal.journal_csv(session, account))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="account-{account.id}-orders.csv"'})


@router.get(ACCOUNT + "/equity", response_model=EquityOut)
def equity_history(account: AccountDep, session: SessionDep, feed: FeedDep, since: datetime | None = None,
                   until: datetime | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> EquityOut:
    """Recorded equity snapshots in ``[since, until)`` (the latest ``limit``; times without a zone are UTC), and
    the equity now."""
    points = equity.equity_history(session, account.id, since=as_utc(since) if since else None,
                                   until=as_utc(until) if until else None, limit=limit)
    current = portfolio.portfolio(session, account, feed)
    return EquityOut(currency=account.currency, points=[EquityPointOut.of_snapshot(row) for row in points],
                     current=EquityPointOut.of_portfolio(current))


@router.get(ACCOUNT + "/stats", response_model=StatsOut)
def stats(account: AccountDep, session: SessionDep) -> StatsOut:
    """Win rate, profit factor, expectancy and drawdown of the closed round trips."""
    return StatsOut.of(portfolio.statistics(session, account))
