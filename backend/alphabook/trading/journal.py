"""The order journal of an account: every order alphabook wrote for it, with fills, fees and realized P&L,
as pages for the API and as a CSV file for a spreadsheet.

The CSV is written by the standard library's :mod:`csv` (RFC 4180 quoting), one row per order, oldest first:
decimals as plain digits (``0.00012``, never ``1.2E-4``), times as ISO 8601 UTC with a ``Z``, empty cells for
what does not apply. Text a person or a broker chose (client ids, symbols, reasons) is prefixed with ``'``
when it starts with ``= + - @``, so a spreadsheet never runs it as a formula (OWASP's CSV-injection advice);
numbers are left alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from alphabook.core.db import plain
from alphabook.core.money import Money
from alphabook.trading.models import Order, TradingAccount
from alphabook.trading.portfolio import Ledger, build_ledger, executions, money

__all__ = ["CSV_COLUMNS", "JournalEntry", "JournalPage", "journal_csv", "journal_page"]

CSV_COLUMNS = ("order_id", "created_at", "updated_at", "client_order_id", "broker_order_id", "source", "symbol",
               "side", "type", "time_in_force", "quantity", "limit_price", "stop_price", "state", "filled_quantity",
               "average_price", "fills", "fees", "realized_pnl", "currency", "reason")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    order: Order  # with its fills loaded
    fees: Money
    realized_pnl: Money  # what this order's fills realized, net of their fees


@dataclass(frozen=True, slots=True)
class JournalPage:
    entries: list[JournalEntry]
    next_cursor: int | None  # pass as ``cursor`` for the next (older) page; None on the last one


def _entry(order: Order, ledger: Ledger) -> JournalEntry:
    return JournalEntry(order, money(ledger.fees_by_order.get(order.id, 0), ledger.currency),
                        money(ledger.realized_by_order.get(order.id, 0), ledger.currency))


def journal_page(session: Session, account: TradingAccount, *, limit: int = 50,
                 cursor: int | None = None) -> JournalPage:
    """The account's orders, newest first, ``limit`` at a time; ``cursor`` continues after a previous page."""
    query = (select(Order).where(Order.account_id == account.id).options(selectinload(Order.fills))
             .order_by(Order.id.desc()).limit(limit + 1))
    if cursor is not None:
        query = query.where(Order.id < cursor)
    orders = list(session.scalars(query))
    more = len(orders) > limit
    orders = orders[:limit]
    ledger = build_ledger(account, executions(session, account.id))
    return JournalPage([_entry(order, ledger) for order in orders], orders[-1].id if more and orders else None)


def journal_csv(session: Session, account: TradingAccount, *, batch: int = 500) -> Iterator[str]:
    """The whole journal as CSV text, yielded a header and then a batch of rows at a time (for streaming)."""
    ledger = build_ledger(account, executions(session, account.id))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    after = 0
    while True:
        orders = list(session.scalars(
            select(Order).where(Order.account_id == account.id, Order.id > after)
            .options(selectinload(Order.fills)).order_by(Order.id).limit(batch)))
        for order in orders:
            writer.writerow(_row(_entry(order, ledger)))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(orders) < batch:
            return
        after = orders[-1].id


def _row(entry: JournalEntry) -> list[str]:
    order = entry.order
    return [str(order.id), _time(order.created_at), _time(order.updated_at), _text(order.client_order_id),
            _text(order.broker_order_id), order.source, _text(order.symbol), order.side, order.type,
            order.time_in_force, _number(order.quantity), _number(order.limit_price), _number(order.stop_price),
            order.state, _number(order.filled_quantity), _number(order.average_price), str(len(order.fills)),
            _amount(entry.fees), _amount(entry.realized_pnl), entry.fees.currency,
            _text(order.reason)]


def _number(value: Decimal | None) -> str:
    return "" if value is None else format(plain(value), "f")


def _amount(value: Money) -> str:
    return format(value.to_decimal(), "f")  # to the currency's minor unit: 1.50, not 1.5


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
