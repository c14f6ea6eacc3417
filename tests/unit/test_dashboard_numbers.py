"""How the dashboards show amounts and read numbers typed into their forms: exact decimals, refusals in words."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dashboards.components.numbers import amount, number, typed

from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money


def test_amounts_have_separators_and_their_currency() -> None:
    assert amount(Money.of("100000", "USD")) == "100,000.00 USD"
    assert amount(Money.of("-3.5", "EUR")) == "-3.50 EUR"


def test_numbers_lose_trailing_zeros_but_keep_their_size() -> None:
    assert [number(Decimal("5.0000000000")), number(Decimal("100")), number(Decimal("0.50")), number(None)] == [
        "5", "100", "0.5", ""]


@pytest.mark.parametrize(("text", "expected"), [("1.5", Decimal("1.5")), (" 1,000.25 ", Decimal("1000.25")),
                                                ("", None), (None, None), ("   ", None)])
def test_typed_numbers_are_exact_decimals(text: str | None, expected: Decimal | None) -> None:
    assert typed(text, "Quantity") == expected


@pytest.mark.parametrize("text", ["abc", "1.2.3", "NaN", "Infinity"])
def test_anything_else_is_refused_in_words(text: str) -> None:
    with pytest.raises(InvalidInput, match=f"Quantity must be a number such as 1.5, not '{text}'"):
        typed(text, "Quantity")
