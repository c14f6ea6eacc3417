"""A market whose prices a test sets: a :class:`~alphabook.trading.prices.PriceFeed` that prints one trade at a time.

The market is what is external to the paper broker, so tests that need a price to go exactly somewhere (the
shared Broker contract's "the price moves through the limit", hand-computed P&L) script it here instead of
finding such a move in recorded data. Each :meth:`ScriptedFeed.set_price` is one print: a bar whose open,
high, low and close are all that price. Consecutive prints therefore *gap* from one price to the next, as a
real market's last trade does when it jumps: a stop that the jump passes triggers at the new price, not at
the stop. Print times come from the application clock and are kept strictly increasing (a microsecond apart
when the clock is frozen), so every print is a distinct bar in order.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from alphabook.core.clock import utcnow
from alphabook.core.errors import RejectedError
from alphabook.trading.prices import Bar, PriceFeed, Quote

TICK = timedelta(microseconds=1)


class ScriptedFeed(PriceFeed):
    def __init__(self, prices: Mapping[str, Decimal], *, volume: Decimal = Decimal(1_000)) -> None:
        self.volume = volume
        self._bars: dict[str, list[Bar]] = {symbol: [] for symbol in prices}
        self._last = datetime.min.replace(tzinfo=utcnow().tzinfo)
        self._lock = threading.Lock()
        for symbol, price in prices.items():
            self.set_price(symbol, price)

    def set_price(self, symbol: str, price: Decimal, volume: Decimal | None = None) -> Bar:
        """Print one trade of ``symbol`` at ``price`` now; returns the bar it makes."""
        with self._lock:
            opened = max(utcnow(), self._last + TICK)
            self._last = opened
            bar = Bar(symbol, opened, opened + TICK, price, price, price, price,
                      self.volume if volume is None else volume)
            self._bars.setdefault(symbol, []).append(bar)
            return bar

    def quote(self, symbol: str) -> Quote:
        bars = self._bars.get(symbol)
        if not bars:
            raise RejectedError(f"No market for {symbol} in this script; it has {self.symbols()}.")
        last = bars[-1]
        return Quote(symbol, last.close, last.close, last.close, last.closes_at, last.volume)

    def bars_since(self, symbol: str, since: datetime) -> list[Bar]:
        if symbol not in self._bars:
            raise RejectedError(f"No market for {symbol} in this script.")
        return [bar for bar in self._bars[symbol] if bar.opened_at >= since]

    def symbols(self) -> list[str]:
        return sorted(self._bars)
