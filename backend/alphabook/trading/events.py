"""What happens to orders, announced to the parts of trading that follow them (copy trading, statistics).

The order service announces; followers subscribe at import time with the decorators. Listeners run inside the
announcing transaction, so what they write (a follower's mirrored order and its outbox row) commits or rolls
back with the order that caused it: a provider's order is never placed without its copies, nor the reverse.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from alphabook.trading.models import Order, OrderFill

__all__ = ["FillListener", "OrderListener", "announce_fill", "announce_order", "on_fill", "on_order"]

OrderListener = Callable[[Session, Order], None]
FillListener = Callable[[Session, Order, OrderFill], None]
_order_listeners: list[OrderListener] = []
_fill_listeners: list[FillListener] = []


def on_order(listener: OrderListener) -> OrderListener:
    """Call ``listener`` for every order written (state ``pending``, before dispatch)."""
    _order_listeners.append(listener)
    return listener


def on_fill(listener: FillListener) -> FillListener:
    """Call ``listener`` for every fill recorded for the first time (a fill seen again is not announced)."""
    _fill_listeners.append(listener)
    return listener


def announce_order(session: Session, order: Order) -> None:
    for listener in _order_listeners:
        listener(session, order)


def announce_fill(session: Session, order: Order, fill: OrderFill) -> None:
    for listener in _fill_listeners:
        listener(session, order, fill)
