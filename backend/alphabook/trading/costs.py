"""What trading costs on the paper broker: fees and slippage, as small models that compose.

A fee model says what one fill costs (a percentage of its notional, different for makers and takers, a
fixed amount per order, or a sum of those: ``PercentFee(taker=Decimal("0.001")) + FixedFee(Decimal(1))``).
A slippage model says how much worse than the quote a taker's fill is: not at all, a fixed number of basis
points, or growing with the order's share of the bar's volume, the square-law impact zipline's
``VolumeShareSlippage`` uses. Resting limit orders are makers and never slip (their limit is their price).

Everything is ``Decimal``; results are rounded half-even to :data:`QUANTUM` (1e-10), well inside the
18 decimals that ``NUMERIC(38, 18)`` keeps, so SQLite's text and PostgreSQL's numeric store the same digits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from alphabook.core.errors import InvalidInput
from alphabook.trading.brokers.base import Side

__all__ = ["QUANTUM", "Costs", "FeeModel", "FixedBpsSlippage", "FixedFee", "NoFee", "NoSlippage", "PercentFee",
           "SlippageModel", "SumFee", "VolumeShareSlippage", "exact"]

QUANTUM = Decimal("1e-10")
_BPS = Decimal(10_000)


def exact(value: Decimal) -> Decimal:
    """``value`` rounded half-even to :data:`QUANTUM`: the precision every price, fee and cash amount is kept at."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def _rate(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidInput(f"{name} must be a non-negative, finite Decimal (no floats), not {value!r}")
    return value


# --------------------------------------------------------------------------------------------------- fees


class FeeModel(ABC):
    """The fee of one fill, in the account's currency."""

    @abstractmethod
    def fee(self, notional: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        """The fee for a fill of ``notional`` (quantity x price); ``first_fill`` is the order's first execution,
        where per-order charges fall. Never negative (rebates are not modelled)."""

    def __add__(self, other: FeeModel) -> SumFee:
        return SumFee((self, other))


@dataclass(frozen=True, slots=True)
class NoFee(FeeModel):
    def fee(self, notional: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class PercentFee(FeeModel):
    """A share of the notional: ``taker`` for orders that take liquidity, ``maker`` (default: the same) for
    resting limit orders. 0.001 is 0.1 %, Binance's spot base rate."""

    taker: Decimal
    maker: Decimal | None = None

    def __post_init__(self) -> None:
        _rate("taker", self.taker)
        if self.maker is not None:
            _rate("maker", self.maker)

    def fee(self, notional: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        rate = self.maker if maker and self.maker is not None else self.taker
        return exact(notional * rate)


@dataclass(frozen=True, slots=True)
class FixedFee(FeeModel):
    """A fixed charge per order, taken with its first fill (an order that never fills costs nothing)."""

    per_order: Decimal

    def __post_init__(self) -> None:
        _rate("per_order", self.per_order)

    def fee(self, notional: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        return self.per_order if first_fill else Decimal(0)


@dataclass(frozen=True, slots=True)
class SumFee(FeeModel):
    parts: tuple[FeeModel, ...]

    def fee(self, notional: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        return sum((part.fee(notional, maker=maker, first_fill=first_fill) for part in self.parts), Decimal(0))

    def __add__(self, other: FeeModel) -> SumFee:
        return SumFee((*self.parts, other))


# ----------------------------------------------------------------------------------------------- slippage


class SlippageModel(ABC):
    """How far a taker's fill lands from the reference price (the quote, a bar's open or a stop's trigger)."""

    @abstractmethod
    def fraction(self, quantity: Decimal, volume: Decimal | None) -> Decimal:
        """The adverse move as a fraction of the price (0.0005 is 5 bps) for ``quantity`` against a bar of
        ``volume`` (None when the feed does not know it)."""

    def execution_price(self, price: Decimal, side: Side, quantity: Decimal, volume: Decimal | None) -> Decimal:
        """``price`` moved against the taker: up for a buy, down for a sell."""
        move = price * self.fraction(quantity, volume)
        return exact(price + move if side is Side.BUY else price - move)


@dataclass(frozen=True, slots=True)
class NoSlippage(SlippageModel):
    def fraction(self, quantity: Decimal, volume: Decimal | None) -> Decimal:
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class FixedBpsSlippage(SlippageModel):
    """Every taker fill pays ``bps`` basis points beyond the reference price."""

    bps: Decimal

    def __post_init__(self) -> None:
        _rate("bps", self.bps)

    def fraction(self, quantity: Decimal, volume: Decimal | None) -> Decimal:
        return self.bps / _BPS


@dataclass(frozen=True, slots=True)
class VolumeShareSlippage(SlippageModel):
    """Impact growing with the square of the order's share of the bar's volume (zipline's model):
    ``price_impact * min(quantity / volume, 1) ** 2``. Without a volume, ``fallback_bps`` applies."""

    price_impact: Decimal = Decimal("0.1")
    fallback_bps: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        _rate("price_impact", self.price_impact)
        _rate("fallback_bps", self.fallback_bps)

    def fraction(self, quantity: Decimal, volume: Decimal | None) -> Decimal:
        if volume is None or volume <= 0:
            return self.fallback_bps / _BPS
        share = min(quantity / volume, Decimal(1))
        return self.price_impact * share * share


# -------------------------------------------------------------------------------------------------- costs


@dataclass(frozen=True, slots=True)
class Costs:
    """The paper broker's cost model: ``fees`` on every fill, ``slippage`` on taker fills."""

    fees: FeeModel = field(default_factory=NoFee)
    slippage: SlippageModel = field(default_factory=NoSlippage)

    def fee(self, quantity: Decimal, price: Decimal, *, maker: bool, first_fill: bool) -> Decimal:
        return exact(self.fees.fee(quantity * price, maker=maker, first_fill=first_fill))

    def worst_fee(self, quantity: Decimal, price: Decimal) -> Decimal:
        """The most a fill of ``quantity`` at ``price`` could cost in fees: what a resting buy reserves."""
        return max(self.fee(quantity, price, maker=maker, first_fill=True) for maker in (False, True))

    def taker_price(self, price: Decimal, side: Side, quantity: Decimal, volume: Decimal | None) -> Decimal:
        return self.slippage.execution_price(price, side, quantity, volume)
