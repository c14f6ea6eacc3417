"""Which symbols a headline names: tickers in capitals (or as cashtags) and names in any case, as whole words."""

from __future__ import annotations

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.sentiment import Watchlist

WATCHLIST = Watchlist.of({"BTC": ["Bitcoin"], "ETH": ["Ethereum", "Ether"], "AAPL": ["Apple"],
                          "GOOG": ["Alphabet", "Google"], "BRK.B": ["Berkshire Hathaway"]})


@pytest.mark.parametrize(("text", "symbols"), [
    ("Bitcoin and Ethereum rally", ["BTC", "ETH"]),
    ("BTC slips while $AAPL gains", ["AAPL", "BTC"]),
    ("APPLE's results and bitcoin's slide", ["AAPL", "BTC"]),
    ("Google parent Alphabet", ["GOOG"]),
    ("Berkshire Hathaway buys; BRK.B up", ["BRK.B"]),
    ("Tether, pineapple and BTCUSD futures", []),  # "ETH" inside TETHER, "apple" inside pineapple, BTC inside BTCUSD
    ("an eth address, a btc wallet", []),  # tickers count in capitals only: lower-case words are not tickers
    ("Ether climbs", ["ETH"]),
])
def test_symbols_are_found_as_whole_words(text: str, symbols: list[str]) -> None:
    assert WATCHLIST.mentioned(text) == symbols


def test_a_symbol_is_resolved_from_its_ticker_in_any_case_or_a_name() -> None:
    assert [WATCHLIST.resolve(name) for name in ("btc", "BTC", "Bitcoin", "ether", " apple ", "DOGE")] == [
        "BTC", "BTC", "BTC", "ETH", "AAPL", None]
    assert WATCHLIST.symbols == ["AAPL", "BRK.B", "BTC", "ETH", "GOOG"]


def test_a_watchlist_refuses_what_is_not_a_ticker() -> None:
    with pytest.raises(InvalidInput, match=r"'btc usd' is not a ticker"):
        Watchlist.of({"btc usd": ["Bitcoin"]})
