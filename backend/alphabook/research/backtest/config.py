"""Backtest settings, declared once: how fills happen, what they cost and how big they are.

The public functions take these as keyword arguments (typed by :class:`BacktestOptions`, so mypy
catches a misspelt ``fee=``); :func:`settings_from` checks them once and freezes them into
:class:`Settings`, so a bad value fails before any simulation with a message that says what to change.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal, TypedDict

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest.bars import Bars

__all__ = ["BacktestOptions", "Fill", "Settings", "Sizing", "settings_from"]

Fill = Literal["next_open", "close"]
SizingKind = Literal["all_in", "units", "fraction", "cash"]


@dataclass(frozen=True, slots=True)
class Sizing:
    """How big each entry is. Build one with :meth:`all_in`, :meth:`units`, :meth:`fraction` or :meth:`cash`."""

    kind: SizingKind
    amount: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in ("all_in", "units", "fraction", "cash"):
            raise InvalidInput(f"Sizing kind must be all_in, units, fraction or cash, not {self.kind!r}.")
        if self.kind == "all_in":
            return
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise InvalidInput(f"Sizing.{self.kind}() needs a finite amount above 0, got {self.amount!r}.")
        if self.kind == "fraction" and self.amount > 1:
            raise InvalidInput(f"Sizing.fraction() is a share of equity in (0, 1], got {self.amount!r}; "
                               "0.25 means a quarter of equity.")

    @classmethod
    def all_in(cls) -> Sizing:
        """Everything the account can buy (or short) at the fill price, after fees."""
        return cls("all_in")

    @classmethod
    def units(cls, units: float) -> Sizing:
        """A fixed number of units of the asset (shares, coins, contracts)."""
        return cls("units", units)

    @classmethod
    def fraction(cls, share: float) -> Sizing:
        """A share of equity at the moment of entry (0.5 = half). Cannot reverse a position in one order."""
        return cls("fraction", share)

    @classmethod
    def cash(cls, amount: float) -> Sizing:
        """A fixed cash value per entry, in the account currency."""
        return cls("cash", amount)


class BacktestOptions(TypedDict, total=False):
    """Keyword arguments accepted by ``backtest``, ``run`` and ``grid`` (defaults in :class:`Settings`)."""

    fill: Fill
    init_cash: float
    fees: float
    slippage: float
    sizing: Sizing
    whole_units: bool
    periods_per_year: float | None


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated backtest settings.

    ``fill``: ``"next_open"`` (a signal on bar t's close fills at bar t+1's open) or ``"close"`` (fills at
    bar t's close). ``fees``: commission as a fraction of each order's value (0.001 = 0.1%), paid on entry
    and on exit. ``slippage``: fraction by which every fill price is worse than quoted. ``whole_units``:
    round sizes down to whole units. ``periods_per_year``: bars per year for annualising; inferred from the
    index when ``None``.
    """

    fill: Fill = "next_open"
    init_cash: float = 10_000.0
    fees: float = 0.0
    slippage: float = 0.0
    sizing: Sizing = field(default_factory=Sizing.all_in)
    whole_units: bool = False
    periods_per_year: float | None = None

    def __post_init__(self) -> None:
        if self.fill not in ("next_open", "close"):
            raise InvalidInput(f"fill must be 'next_open' or 'close', not {self.fill!r}.")
        if not (math.isfinite(self.init_cash) and self.init_cash > 0):
            raise InvalidInput(f"init_cash must be a positive amount, got {self.init_cash!r}.")
        for name, rate in (("fees", self.fees), ("slippage", self.slippage)):
            if not (math.isfinite(rate) and 0 <= rate < 1):
                raise InvalidInput(f"{name} is a rate in [0, 1): 0.001 means 0.1% of each order's value; "
                                   f"got {rate!r}.")
        if not isinstance(self.sizing, Sizing):
            raise InvalidInput("sizing must be a Sizing, e.g. Sizing.all_in(), Sizing.units(10), "
                               "Sizing.fraction(0.5) or Sizing.cash(1000).")
        if not isinstance(self.whole_units, bool):
            raise InvalidInput(f"whole_units must be True or False, got {self.whole_units!r}.")
        ppy = self.periods_per_year
        if ppy is not None and not (math.isfinite(ppy) and ppy > 0):
            raise InvalidInput(f"periods_per_year must be a positive number of bars (or None), got {ppy!r}.")


    def bars_per_year(self, bars: Bars) -> float:
        """The annualisation factor: ``periods_per_year`` if set, else inferred from the bars' index."""
        return self.periods_per_year if self.periods_per_year is not None else bars.periods_per_year()


_NAMES = frozenset(f.name for f in fields(Settings))


def settings_from(options: Mapping[str, object]) -> Settings:
    """Check keyword options and freeze them into :class:`Settings`; unknown names get a suggestion."""
    for name in options:
        if name not in _NAMES:
            close = difflib.get_close_matches(name, sorted(_NAMES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known options: {', '.join(sorted(_NAMES))}."
            raise InvalidInput(f"Unknown backtest option {name!r}.{hint}")
    return Settings(**options)  # type: ignore[arg-type]  # names checked above, values in __post_init__
