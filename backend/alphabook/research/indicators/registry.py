"""One catalogue of every indicator, whichever library computes it, and the one call that runs any of them.

Researchers should not need to know that RSI comes from TA-Lib and Ichimoku from pandas-ta-classic, or
learn two calling conventions: ``compute(name, df, **params)`` validates the parameters against the
indicator's spec and hands the frame to its engine. The catalogue is built once, on first use (reading
TA-Lib's metadata takes a few tens of milliseconds), and is read-only afterwards, so lookups and the
per-call overhead stay in microseconds.
"""

from __future__ import annotations

import difflib
import functools
from collections import Counter
from collections.abc import Iterator, Mapping

import pandas as pd

from alphabook.core.errors import ConfigurationError, InvalidInput
from alphabook.research.indicators import pandas_ta_engine, profile, talib_engine
from alphabook.research.indicators.frame import require_frame
from alphabook.research.indicators.spec import Indicator, IndicatorSpec, Output

__all__ = ["Registry", "UnknownIndicator", "compute", "get", "list_indicators", "registry"]


class UnknownIndicator(InvalidInput, KeyError):
    """No indicator has that name; the message suggests the closest ones.

    A KeyError too, so ``registry`` behaves as a Mapping should (``in``, ``.get``).
    """

    def __str__(self) -> str:
        return self.detail  # KeyError would print the message quoted


@functools.cache
def _catalogue() -> dict[str, Indicator]:
    entries = [*talib_engine.indicators(), *pandas_ta_engine.indicators(), profile.indicator()]
    duplicates = sorted(name for name, count in Counter(entry.spec.name for entry in entries).items() if count > 1)
    if duplicates:  # a newer TA-Lib may add a function under a name a pandas-ta-classic entry already uses
        raise ConfigurationError(f"indicator names registered twice: {', '.join(duplicates)}; rename one entry")
    return {entry.spec.name: entry for entry in sorted(entries, key=lambda entry: entry.spec.name)}


def _lookup(name: str) -> Indicator:
    try:
        return _catalogue()[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name).lower(), _catalogue(), n=5, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "list_indicators() shows them all"
        raise UnknownIndicator(f"there is no indicator {name!r}; {hint}", suggestions=close) from None


class Registry(Mapping[str, IndicatorSpec]):
    """Read-only view of every registered indicator's spec, by name, in alphabetical order."""

    def __getitem__(self, name: str) -> IndicatorSpec:
        return _lookup(name).spec

    def __iter__(self) -> Iterator[str]:
        return iter(_catalogue())

    def __len__(self) -> int:
        return len(_catalogue())

    def __repr__(self) -> str:
        return f"<indicator registry: {len(self)} indicators>"


registry = Registry()


def get(name: str) -> IndicatorSpec:
    """The spec of indicator ``name``; UnknownIndicator (an InvalidInput) with close matches if none."""
    return _lookup(name).spec


def list_indicators(category: str | None = None) -> list[IndicatorSpec]:
    """Every indicator's spec, or those of one category, sorted by name."""
    specs = [entry.spec for entry in _catalogue().values()]
    if category is None:
        return specs
    chosen = [spec for spec in specs if spec.category == category]
    if not chosen:
        categories = sorted({spec.category for spec in specs})
        raise InvalidInput(f"there is no indicator category {category!r}; categories: {', '.join(categories)}")
    return chosen


def compute(name: str, df: pd.DataFrame, **params: object) -> Output:
    """Indicator ``name`` on OHLCV frame ``df`` with ``params`` (defaults for the ones not given).

    Returns a Series named after its output when the indicator has one output, otherwise a DataFrame
    whose columns are the output names; both share ``df``'s index. The warm-up bars are NaN (0 for
    TA-Lib's integer outputs such as candle patterns). The "profile" kind (``volume_profile``) returns
    one row per price bucket instead. Unknown names and parameters, or values outside their valid range,
    raise InvalidInput saying what is valid. Leading NaN bars only lengthen the warm-up, but TA-Lib
    carries a NaN inside the frame into every later value of a moving window: fill or drop gaps first.
    """
    entry = _lookup(name)
    return entry.run(require_frame(df, name), entry.spec.resolve(params))
