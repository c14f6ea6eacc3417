"""What an indicator is, as data: its parameters with their valid values, its outputs and its warm-up.

A researcher (or the API, or an optimiser building a search space) needs to know which parameters an
indicator takes, what values they accept and how many leading bars are not yet meaningful, without
reading three libraries' documentation. The metadata lives in plain frozen dataclasses so it can be
listed, serialised and compared; the one piece of behaviour here is :meth:`IndicatorSpec.resolve`, the
single place where user-supplied parameters are checked, so every engine receives clean values and every
mistake is reported the same way: what was wrong and what would have been valid.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NoReturn, TypeAlias

import pandas as pd

from alphabook.core.errors import InvalidInput

__all__ = [
    "Engine",
    "Indicator",
    "IndicatorSpec",
    "InvalidParameter",
    "Output",
    "Param",
    "ParamValue",
    "Runner",
]

ParamValue: TypeAlias = int | float | str
ParamKind: TypeAlias = Literal["int", "float", "choice"]
Engine: TypeAlias = Literal["talib", "pandas_ta_classic", "alphabook"]
Kind: TypeAlias = Literal["series", "profile"]
Output: TypeAlias = "pd.Series | pd.DataFrame"
Runner: TypeAlias = Callable[[pd.DataFrame, Mapping[str, ParamValue]], Output]


class InvalidParameter(InvalidInput, ValueError):
    """A parameter name or value an indicator does not accept; the message lists what it does accept."""


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its type, default and valid values (an inclusive range, or a set of choices)."""

    name: str
    kind: ParamKind
    default: ParamValue
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @classmethod
    def integer(cls, name: str, default: int, minimum: int = 1, maximum: int = 100_000, help: str = "") -> Param:
        return cls(name, "int", default, minimum, maximum, help=help)

    @classmethod
    def real(
        cls, name: str, default: float, minimum: float | None = 0.0, maximum: float | None = None, help: str = ""
    ) -> Param:
        return cls(name, "float", default, minimum, maximum, help=help)

    @classmethod
    def choice(cls, name: str, default: str, choices: tuple[str, ...], help: str = "") -> Param:
        return cls(name, "choice", default, choices=choices, help=help)

    def describe(self) -> str:
        """``timeperiod: int in [2, 100000] (default 14)`` — what a person needs to pick a value."""
        if self.kind == "choice":
            allowed = "one of " + ", ".join(self.choices)
        else:
            low = "-inf" if self.minimum is None else _number(self.minimum)
            high = "inf" if self.maximum is None else _number(self.maximum)
            allowed = f"{self.kind} in [{low}, {high}]"
        return f"{self.name}: {allowed} (default {self.default})"

    def check(self, value: object) -> ParamValue:
        """The value in canonical form (ints widened to float for float parameters), or InvalidParameter."""
        canonical = self._canonical(value)
        if canonical is None:
            raise InvalidParameter(f"{self.name}={value!r} is not valid; expected {self.describe()}")
        return canonical

    def _canonical(self, value: object) -> ParamValue | None:
        if self.kind == "choice":
            return value if isinstance(value, str) and value in self.choices else None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):  # True is an int to Python, not to us
            return None
        number: int | float
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                return None
            number = int(value)
        else:
            number = float(value)
        if not math.isfinite(number):
            return None
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            return None
        return number


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """Everything known about an indicator without computing it.

    ``name`` is the id ``compute`` takes; ``function`` is the engine's own name for it (``CDLENGULFING``,
    ``ichimoku``). ``inputs`` are the frame columns read with default parameters (TA-Lib entries with a
    ``price`` parameter read the column it names instead). ``warmup(**params)`` is the number of leading
    bars that are NaN (0 for integer outputs such as candle patterns, which TA-Lib fills with 0 there).
    ``unstable`` marks recursive smoothing: values after the warm-up still depend on where the series
    starts, so two runs that start on different bars agree only after a few times the period. For TA-Lib
    entries it is TA-Lib's own "unstable period" flag (EMA, Wilder's RSI/ATR/ADX, KAMA, the Hilbert
    transform, ...), which TA-Lib does not set on everything built from an EMA (MACD, DEMA).
    ``definition`` says which definition is used where libraries disagree, and why. ``kind`` is
    ``"series"`` (outputs aligned to the frame) or ``"profile"`` (one row per price bucket, not aligned
    to the frame).
    """

    name: str
    title: str
    category: str
    engine: Engine
    function: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    lookback: Callable[[Mapping[str, ParamValue]], int] = field(repr=False, compare=False)
    kind: Kind = "series"
    unstable: bool = False
    definition: str = ""

    def describe_params(self) -> str:
        return "; ".join(param.describe() for param in self.params) or "none"

    def resolve(self, params: Mapping[str, object]) -> dict[str, ParamValue]:
        """Defaults overlaid with ``params``, every value checked; InvalidParameter names what is valid."""
        unknown = params.keys() - {param.name for param in self.params}
        if unknown:
            self._reject_unknown(sorted(unknown))
        resolved: dict[str, ParamValue] = {}
        for param in self.params:
            try:
                resolved[param.name] = param.check(params.get(param.name, param.default))
            except InvalidParameter as error:
                raise InvalidParameter(f"{self.name}: {error.detail}", parameter=param.name) from None
        return resolved

    def _reject_unknown(self, unknown: list[str]) -> NoReturn:
        names = [param.name for param in self.params]
        wrong = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=1)
            wrong.append(repr(name) + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InvalidParameter(
            f"{self.name} has no parameter {', '.join(wrong)}; its parameters are: {self.describe_params()}",
            parameters=unknown,
        )

    def warmup(self, **params: object) -> int:
        """Leading bars without a value for these parameters (defaults for the ones not given)."""
        return self.lookback(self.resolve(params))


@dataclass(frozen=True, slots=True)
class Indicator:
    """A spec and the function that computes it from a frame and resolved parameters."""

    spec: IndicatorSpec
    run: Runner = field(repr=False, compare=False)
