"""Money: exact minor units, exact splits, and no float anywhere near an amount."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphabook.core.money import (
    CURRENCY_EXPONENTS,
    CurrencyMismatch,
    InvalidCurrency,
    Money,
    currency_exponent,
    split,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
totals = st.builds(Money, st.integers(min_value=-(10**30), max_value=10**30), currencies)
int_weights = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=20).filter(
    lambda ws: sum(ws) > 0
)
decimal_weights = st.lists(
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=20,
).filter(lambda ws: sum(ws) > 0)


def _check_split(total: Money, weights: Sequence[int | Decimal]) -> None:
    parts = split(total, weights)
    assert len(parts) == len(weights)
    assert all(p.currency == total.currency for p in parts)
    assert sum(p.amount_minor for p in parts) == total.amount_minor
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    for part, weight in zip(parts, weights, strict=True):
        exact = total.amount_minor * Fraction(weight) / weight_sum
        assert abs(part.amount_minor - exact) < 1
        if weight == 0:
            assert part.amount_minor == 0
    assert split(total, weights) == parts  # deterministic
    assert split(-total, weights) == [-p for p in parts]  # symmetric in sign

    # The largest-remainder rule itself: every part rounded up has a remainder at least as large
    # as every part rounded down, and on a tie the rounded-up part comes first.
    units = abs(total.amount_minor)
    remainders = [units * Fraction(w) / weight_sum % 1 for w in weights]
    up = [
        abs(p.amount_minor) > units * Fraction(w) / weight_sum
        for p, w in zip(parts, weights, strict=True)
    ]
    for i in (i for i, rounded_up in enumerate(up) if rounded_up):
        for j in (j for j, rounded_up in enumerate(up) if not rounded_up):
            assert (remainders[i], -i) > (remainders[j], -j)


@given(totals, int_weights)
def test_split_with_int_weights_is_exact(total: Money, weights: list[int]) -> None:
    _check_split(total, weights)


@given(totals, decimal_weights)
def test_split_with_decimal_weights_is_exact(total: Money, weights: list[Decimal]) -> None:
    _check_split(total, weights)


@given(st.floats())
def test_floats_are_rejected_everywhere(value: float) -> None:
    usd = Money(100, "USD")
    with pytest.raises(TypeError, match="float"):
        Money(value, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money.of(value, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        usd * value  # type: ignore[operator]
    with pytest.raises(TypeError, match="float"):
        value * usd  # type: ignore[operator]
    with pytest.raises(TypeError, match="float"):
        split(usd, [1, value])  # type: ignore[list-item]


@given(totals)
def test_str_round_trips_through_of(money: Money) -> None:
    amount, code = str(money).split(" ")
    assert Money.of(amount, code) == money


@pytest.mark.parametrize(
    ("amount", "weights", "want"),
    [
        # 700.7 -> 700 and 300.3 -> 300; the one leftover cent goes to the larger remainder (.7).
        (1001, [70, 30], [701, 300]),
        # 33.33 each; the leftover cent goes to the earliest of the tied parts.
        (100, [1, 1, 1], [34, 33, 33]),
        (2, [1, 1, 1], [1, 1, 0]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (5, [0, 1, 0], [0, 5, 0]),
        (10, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], [5, 3, 2]),
    ],
)
def test_split_examples(amount: int, weights: Sequence[int | Decimal], want: list[int]) -> None:
    parts = Money(amount, "USD").allocate(weights)
    assert [p.amount_minor for p in parts] == want


@pytest.mark.parametrize(
    ("weights", "error"),
    [([], ValueError), ([0, 0], ValueError), ([1, -1], ValueError), ([True], TypeError)],
)
def test_split_rejects_bad_weights(weights: list[int], error: type[Exception]) -> None:
    with pytest.raises(error):
        split(Money(100, "USD"), weights)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.34", "USD", 1234), ("1000", "JPY", 1000), ("1.234", "KWD", 1234), ("-0.05", "EUR", -5)]
    + [
        ("1.500", "USD", 150),
        ("0.0001", "CLF", 1),
        (Decimal("19.99"), "usd", 1999),
        (7, "BHD", 7000),
    ],
)
def test_of_parses_major_units(amount: str | Decimal | int, currency: str, minor: int) -> None:
    assert Money.of(amount, currency).amount_minor == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1.234", "USD", "decimal places"),  # never rounded silently
        ("0.5", "JPY", "decimal places"),
        ("abc", "USD", "not a decimal number"),
        ("", "USD", "not a decimal number"),
        ("NaN", "USD", "finite"),
        ("-Infinity", "EUR", "finite"),
        ("1e999999999", "USD", "implausibly large"),  # fails fast instead of hanging
    ],
)
def test_of_rejects_rounding_and_garbage(amount: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Money.of(amount, currency)


def test_decimal_arithmetic_is_exact() -> None:
    assert Money.of("0.1", "USD") + Money.of("0.2", "USD") == Money.of("0.3", "USD")
    assert Money.of("0.3", "USD") - Money.of("0.1", "USD") == Money(20, "USD")
    assert 3 * Money(5, "USD") == Money(5, "USD") * 3 == Money(15, "USD")
    assert abs(Money(-5, "USD")) == -Money(5, "USD") * -1 == Money(5, "USD")
    assert Money.sum([Money(1, "USD"), Money(2, "USD")], "USD") == Money(3, "USD")
    assert Money.sum([], "JPY") == Money.zero("JPY")
    assert not Money.zero("USD")
    assert Money(-1, "USD")
    assert Money(1, "USD") < Money(2, "USD") <= Money(2, "USD")
    assert Money(3, "USD") > Money(2, "USD") >= Money(2, "USD")


def test_currencies_must_match() -> None:
    usd, eur = Money(1, "USD"), Money(1, "EUR")
    for operation in (lambda: usd + eur, lambda: usd - eur, lambda: usd < eur, lambda: usd >= eur):
        with pytest.raises(CurrencyMismatch):
            operation()
    with pytest.raises(CurrencyMismatch):
        Money.sum([usd, eur], "USD")
    assert usd != eur


def test_builtin_sum_is_not_supported() -> None:
    with pytest.raises(TypeError):
        sum([Money(1, "USD")])  # type: ignore[list-item]


def test_currency_codes() -> None:
    assert Money(1, "usd").currency == "USD"
    assert [currency_exponent(c) for c in ("jpy", "EUR", "KWD", "CLF", "UYW")] == [0, 2, 3, 4, 4]
    with pytest.raises(InvalidCurrency, match="ABC"):
        Money(1, "ABC")
    with pytest.raises(ValueError, match="ISO 4217"):
        currency_exponent("US")


@pytest.mark.parametrize("bad", [True, Decimal(1), "1"])
def test_constructor_needs_an_int(bad: object) -> None:
    with pytest.raises(TypeError):
        Money(bad, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1234, "USD", "12.34 USD"), (-5, "EUR", "-0.05 EUR"), (0, "USD", "0.00 USD")]
    + [(1000, "JPY", "1000 JPY"), (-1000, "KRW", "-1000 KRW"), (0, "JPY", "0 JPY")]
    + [(1234, "KWD", "1.234 KWD"), (1, "CLF", "0.0001 CLF")],
)
def test_str(minor: int, currency: str, text: str) -> None:
    money = Money(minor, currency)
    assert str(money) == text
    assert money.to_decimal() == Decimal(text.split()[0])
