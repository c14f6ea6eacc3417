"""One way to name an instrument across every data source: ``EXCHANGE:BASE/QUOTE`` or ``EXCHANGE:TICKER``.

Crypto pairs read as ccxt writes them (``BINANCE:BTC/USDT`` is ccxt's ``BTC/USDT`` on ``binance``) and
equities or indices as charting sites write them (``NASDAQ:GOOG``), so a notebook can pass the same text
to any source. Parts are upper-cased, which makes ``str(parse_symbol(text))`` the canonical spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alphabook.core.errors import InvalidInput

_EXCHANGE = re.compile(r"[A-Z0-9_]+")
_CODE = re.compile(r"[A-Z0-9][A-Z0-9.\-]*")
_EXAMPLES = "write EXCHANGE:BASE/QUOTE for a pair (e.g. 'BINANCE:BTC/USDT') or EXCHANGE:TICKER (e.g. 'NASDAQ:GOOG')"


@dataclass(frozen=True, slots=True)
class Symbol:
    """An instrument on one exchange: a pair (``base`` and ``quote``) or a ``ticker``, never both."""

    exchange: str
    base: str | None = None
    quote: str | None = None
    ticker: str | None = None

    def __post_init__(self) -> None:
        is_pair = self.base is not None and self.quote is not None and self.ticker is None
        is_ticker = self.ticker is not None and self.base is None and self.quote is None
        if not (is_pair or is_ticker):
            raise InvalidInput(f"a symbol is either base and quote or a ticker, not {self!r}: {_EXAMPLES}")
        parts = [self.base, self.quote] if is_pair else [self.ticker]
        if not _EXCHANGE.fullmatch(self.exchange) or not all(_CODE.fullmatch(part or "") for part in parts):
            raise InvalidInput(
                f"symbol {self!r} has an invalid part: use upper-case letters, digits, '.' and '-' ({_EXAMPLES})"
            )

    def __str__(self) -> str:
        return f"{self.exchange}:{self.base}/{self.quote}" if self.is_pair else f"{self.exchange}:{self.ticker}"

    @property
    def is_pair(self) -> bool:
        return self.ticker is None

    @property
    def ccxt_symbol(self) -> str:
        """ccxt's unified spot symbol (``BTC/USDT``); InvalidInput for a ticker, which ccxt does not trade."""
        if not self.is_pair:
            raise InvalidInput(f"{self} is a ticker, not a BASE/QUOTE pair, so no crypto exchange lists it")
        return f"{self.base}/{self.quote}"


def parse_symbol(text: str | Symbol) -> Symbol:
    """Read ``"BINANCE:BTC/USDT"`` or ``"NASDAQ:GOOG"`` (any case; surrounding spaces ignored)."""
    if isinstance(text, Symbol):
        return text
    if not isinstance(text, str):
        raise InvalidInput(f"symbol must be text, not {type(text).__name__}: {_EXAMPLES}")
    exchange, colon, market = text.strip().upper().partition(":")
    if not colon or not exchange or not market:
        raise InvalidInput(f"symbol {text!r} names no exchange: {_EXAMPLES}")
    if ":" in market:
        raise InvalidInput(f"symbol {text!r}: derivatives (settle currency after a second ':') are not supported")
    if "/" in market:
        base, _, quote = market.partition("/")
        if not base or not quote or "/" in quote:
            raise InvalidInput(f"symbol {text!r} is not a BASE/QUOTE pair: {_EXAMPLES}")
        return Symbol(exchange, base=base, quote=quote)
    return Symbol(exchange, ticker=market)
