"""The rows that several requests and dispatchers fight over, locked in one fixed order.

Everything in trading that locks takes its locks here, in this order, so two transactions can never wait for each
other in a cycle: **(a user's row, :func:`alphabook.trading.accounts.lock_user`), trading accounts, then hook, then
order, then outbox message**, and within one table by ascending id. On PostgreSQL these are ``SELECT … FOR NO KEY
UPDATE``: not ``FOR UPDATE``, which also waits for the ``KEY SHARE`` locks that every insert of a row referencing
the locked one takes (an alert naming its hook, an order its account), and so deadlocked two alerts of one hook,
each holding the other's way in. SQLite takes the whole database's write lock at ``BEGIN IMMEDIATE`` (see
:mod:`alphabook.core.db`), which serialises writers anyway, so the same calls are plain reads there. Each function
re-reads the row (``populate_existing``), so what the caller sees is what it locked; single rows through
:func:`alphabook.core.db.lock_row`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core.db import lock_row
from alphabook.core.errors import NotFound
from alphabook.trading.models import Hook, Order, OutboxMessage, TradingAccount

__all__ = ["lock_account", "lock_accounts", "lock_hook", "lock_order", "lock_orders", "lock_outbox"]

Row = TypeVar("Row", TradingAccount, Order)


def _lock_many(session: Session, table: type[Row], ids: Iterable[int]) -> list[Row]:
    """Rows of one table in one statement, locked by ascending id (the lock follows the ORDER BY), re-read."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    query = (select(table).where(table.id.in_(wanted)).order_by(table.id).with_for_update(key_share=True)
             .execution_options(populate_existing=True))
    return list(session.scalars(query))


def lock_accounts(session: Session, account_ids: Iterable[int]) -> list[TradingAccount]:
    """Lock several accounts (a provider and its followers), by ascending id, re-read; deleted ones are missing."""
    return _lock_many(session, TradingAccount, account_ids)


def lock_account(session: Session, account_id: int) -> TradingAccount:
    found = lock_accounts(session, [account_id])
    if not found:
        raise NotFound(f"There is no trading account {account_id}.")
    return found[0]


def lock_hook(session: Session, hook_id: str) -> Hook | None:
    return lock_row(session, Hook, hook_id)


def lock_order(session: Session, order_id: int) -> Order:
    order = lock_row(session, Order, order_id)
    if order is None:
        raise NotFound(f"There is no order {order_id}.")
    return order


def lock_orders(session: Session, order_ids: Iterable[int]) -> dict[int, Order]:
    """Lock several orders (a dispatcher's round) by ascending id, re-read, by id; deleted ones are missing."""
    return {order.id: order for order in _lock_many(session, Order, order_ids)}


def lock_outbox(session: Session, message_id: int) -> OutboxMessage | None:
    return lock_row(session, OutboxMessage, message_id)
