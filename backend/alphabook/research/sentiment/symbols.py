"""Which symbols a headline is about: tickers and names, matched as whole words.

A watchlist maps each ticker to the names people write (``{"BTC": ["Bitcoin"], "AAPL": ["Apple"]}``). Tickers
match in capitals only, optionally with a cashtag (``$AAPL``), so the word "eth" in a sentence or "ETHER" inside
"TETHER" do not; names match in any case, also in the possessive ("Apple's"). Python's ``re`` with ``\\b``-style
look-arounds does the matching, compiled once per watchlist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alphabook.core.errors import InvalidInput

__all__ = ["Watchlist"]

_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,14}")


@dataclass(frozen=True, slots=True)
class Watchlist:
    """The symbols news is matched against, each with the pattern that finds it in text."""

    names: Mapping[str, tuple[str, ...]]
    patterns: Mapping[str, re.Pattern[str]]

    @classmethod
    def of(cls, aliases: Mapping[str, Sequence[str]]) -> Watchlist:
        """A watchlist from ticker -> names; InvalidInput for a ticker that is not capital letters and digits."""
        patterns: dict[str, re.Pattern[str]] = {}
        names: dict[str, tuple[str, ...]] = {}
        for ticker, words in aliases.items():
            if not _TICKER.fullmatch(ticker):
                raise InvalidInput(f"{ticker!r} is not a ticker: use capital letters and digits, e.g. BTC or AAPL")
            names[ticker] = tuple(word.strip() for word in words if word.strip())
            spelled = [rf"\$?{re.escape(ticker)}"] + [f"(?i:{re.escape(word)})" for word in names[ticker]]
            patterns[ticker] = re.compile(rf"(?<![\w$])(?:{'|'.join(spelled)})(?!\w)")
        return cls(names=names, patterns=patterns)

    @property
    def symbols(self) -> list[str]:
        return sorted(self.patterns)

    def mentioned(self, text: str) -> list[str]:
        """The watchlist's tickers that ``text`` names, sorted."""
        return [ticker for ticker in self.symbols if self.patterns[ticker].search(text)]

    def resolve(self, name: str) -> str | None:
        """The ticker for ``name`` given as a ticker (any case) or one of its names; None when unknown."""
        wanted = name.strip().casefold()
        for ticker in self.symbols:
            if wanted == ticker.casefold() or wanted in (word.casefold() for word in self.names[ticker]):
                return ticker
        return None
