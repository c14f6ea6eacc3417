"""What a managed call costs: provider prices per model, the platform's markup, in integer minor units.

Prices are configured (``ai_model_prices``) in US cents per million tokens, so a call's cost is an exact
integer product divided once, rounded up: a call is never free, and never charged a fraction of a cent.
The charge is the cost times ``1 + ai_markup_bp / 10000``, rounded up the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphabook.ai.base import Completion
from alphabook.core.config import Settings
from alphabook.core.money import Money

__all__ = ["CREDIT_CURRENCY", "Price", "price_of"]

CREDIT_CURRENCY = "USD"
PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    cost: Money  # what the provider bills the platform
    charge: Money  # what the person's credits pay


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def price_of(completion: Completion, settings: Settings) -> Price:
    """The cost and charge of ``completion``, priced by the longest configured prefix of its model's name."""
    prices = settings.ai_model_prices
    model = completion.model.lower()
    matches = [prefix for prefix in prices if prefix != "default" and model.startswith(prefix.lower())]
    input_price, output_price = prices[max(matches, key=len)] if matches else prices.get("default", [0, 0])
    exact = completion.input_tokens * input_price + completion.output_tokens * output_price
    cost = _ceil_div(exact, PER)
    charge = _ceil_div(exact * (10_000 + settings.ai_markup_bp), PER * 10_000)
    return Price(cost=Money(cost, CREDIT_CURRENCY), charge=Money(charge, CREDIT_CURRENCY))
