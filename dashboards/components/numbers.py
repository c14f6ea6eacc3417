"""Numbers as people read and type them: amounts with thousands separators and their currency, quantities without
trailing zeros, and decimals typed into a form, refused in words when they are not numbers. Never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money


def amount(money: Money) -> str:
    """``100,000.00 USD``."""
    return f"{money.to_decimal():,f} {money.currency}"


def number(value: Decimal | None) -> str:
    """``5`` rather than ``5.0000000000``; empty for nothing."""
    return "" if value is None else f"{value.normalize():f}"


def typed(text: str | None, what: str) -> Decimal | None:
    """The number typed into the field ``what`` ("1,000.5" too), or None when it was left empty."""
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInput(f"{what} must be a number such as 1.5, not {text!r}.")
    return value
