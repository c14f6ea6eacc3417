"""The TA-Lib engine: every TA-Lib function whose inputs an OHLCV frame has, described by TA-Lib itself.

TA-Lib (the C library, through the ``ta-lib`` wheel) is the fast, exact core: its functions are the
reference implementations most platforms reproduce, and they run over contiguous float64 arrays at C
speed. Rather than copy 200 function signatures by hand, the metadata is read from TA-Lib's abstract
API when the registry is first built: inputs, parameter defaults, outputs and group come from
``talib.abstract.Function(name).info``; the warm-up is TA-Lib's own ``lookback`` for the parameters
given; and each parameter's valid range is TA-Lib's own validation, probed through ``lookback`` (it
returns -1 for a value the function would refuse). At call time none of that machinery is used: the
runner pulls the columns as arrays, calls ``talib.<FUNC>`` directly and wraps the result, so it costs
only microseconds more than calling TA-Lib by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import talib
from talib import abstract

from alphabook.research.indicators.frame import OHLCV, column_1d
from alphabook.research.indicators.spec import (
    Indicator,
    IndicatorSpec,
    InvalidParameter,
    Output,
    Param,
    ParamValue,
    Runner,
)
from alphabook.research.indicators.talib_definitions import DEFINITIONS

__all__ = ["CATEGORIES", "MA_TYPES", "NOT_REGISTERED", "indicator_id", "indicators"]

CATEGORIES = {
    "Cycle Indicators": "cycle",
    "Math Operators": "math",
    "Math Transform": "math",
    "Momentum Indicators": "momentum",
    "Overlap Studies": "overlap",
    "Pattern Recognition": "candle patterns",
    "Price Transform": "price transform",
    "Statistic Functions": "statistics",
    "Volatility Indicators": "volatility",
    "Volume Indicators": "volume",
}
NOT_REGISTERED = {"MAVP": "it reads a per-bar period series, which an OHLCV frame does not have"}
# TA-Lib's moving-average codes by name, as its MA_Type class spells them (sma=0 ... rma=13).
MA_TYPES: dict[str, int] = {
    name.lower(): code for name, code in vars(type(talib.MA_Type)).items() if name.isupper() and isinstance(code, int)
}
_SINGLE_COLUMN_INPUTS = ("price", "price0", "price1")  # TA-Lib's names for inputs that may be any one column
_INT_LOWER_BOUNDS = (0, 1, 2, 3)
_INT_UPPER_BOUND = 100_000  # TA-Lib's TA_INTEGER_MAX for periods
# Candidate bounds for real parameters, most permissive first: ±3e37 is TA-Lib's "any value".
_REAL_LOWER_BOUNDS = (-3e37, 0.0, 0.01)
_REAL_UPPER_BOUNDS = (3e37, 100.0, 1.0, 0.99)


def indicator_id(function: str) -> str:
    """``RSI`` -> ``rsi``, ``CDLENGULFING`` -> ``cdl_engulfing``."""
    lower = function.lower()
    return "cdl_" + lower[3:] if lower.startswith("cdl") else lower


def indicators() -> list[Indicator]:
    """One entry per TA-Lib function, except those in NOT_REGISTERED."""
    return [_indicator(function) for function in talib.get_functions() if function not in NOT_REGISTERED]


def _indicator(function: str) -> Indicator:
    info = abstract.Function(function).info
    name = indicator_id(function)
    columns = list(_input_sources(info["input_names"]))
    # (column, False) reads that column; (parameter, True) reads the column the parameter names
    sources = [(key, True) if key in _SINGLE_COLUMN_INPUTS else (column, False) for key, column in columns]
    column_params = [Param.choice(key, default, OHLCV) for key, default in info["input_names"].items()
                     if key in _SINGLE_COLUMN_INPUTS]
    numeric_params = [_numeric_param(function, key, default, info["parameters"])
                      for key, default in info["parameters"].items()]
    outputs = tuple(info["output_names"]) if len(info["output_names"]) > 1 else (name,)
    spec = IndicatorSpec(
        name=name,
        title=info["display_name"],
        category=CATEGORIES.get(info["group"], info["group"].lower()),
        engine="talib",
        function=function,
        inputs=tuple(column for _, column in columns),
        params=(*numeric_params, *column_params),
        outputs=outputs,
        lookback=_lookback(function, numeric_params),
        unstable="Function has an unstable period" in (info["function_flags"] or ()),
        definition=DEFINITIONS.get(function, ""),
    )
    return Indicator(spec, _runner(name, getattr(talib, function), sources, numeric_params, outputs))


def _input_sources(input_names: Mapping[str, str | list[str]]) -> Iterable[tuple[str, str]]:
    """(input key, column) in TA-Lib's positional order: ``{"price": "close", "prices": ["volume"]}``."""
    for key, columns in input_names.items():
        for column in [columns] if isinstance(columns, str) else columns:
            yield key, column


def _numeric_param(function: str, key: str, default: int | float, defaults: Mapping[str, Any]) -> Param:
    def accepted(value: int | float) -> bool:
        return _probe(function, {**defaults, key: value}) >= 0

    if key.endswith("matype"):
        names = [name for name, code in MA_TYPES.items() if accepted(code)]
        default_name = next(name for name, code in MA_TYPES.items() if code == default)
        return Param.choice(key, default_name, tuple(names), help="moving average type")
    if isinstance(default, int):
        low = next(bound for bound in _INT_LOWER_BOUNDS if accepted(bound))
        return Param.integer(key, default, low, _INT_UPPER_BOUND)
    real_low = next(bound for bound in _REAL_LOWER_BOUNDS if accepted(bound))
    real_high = next(bound for bound in _REAL_UPPER_BOUNDS if accepted(bound))
    return Param.real(key, float(default), real_low, real_high)


def _probe(function: str, parameters: Mapping[str, ParamValue]) -> int:
    """TA-Lib's lookback for these parameters; -1 means TA-Lib would reject them."""
    probe = abstract.Function(function)
    probe.set_parameters(dict(parameters))
    return int(probe.lookback)


def _talib_arguments(params: Mapping[str, ParamValue], numeric: Sequence[Param]) -> dict[str, ParamValue]:
    """Resolved parameters as TA-Lib takes them: moving-average types by code, numbers unchanged."""
    return {
        param.name: MA_TYPES[str(params[param.name])] if param.kind == "choice" else params[param.name]
        for param in numeric
    }


def _lookback(function: str, numeric: Sequence[Param]) -> Callable[[Mapping[str, ParamValue]], int]:
    def lookback(params: Mapping[str, ParamValue]) -> int:
        return _probe(function, _talib_arguments(params, numeric))

    return lookback


def _runner(
    name: str, kernel: Any, sources: Sequence[tuple[str, bool]], numeric: Sequence[Param], outputs: tuple[str, ...]
) -> Runner:
    def run(frame: pd.DataFrame, params: Mapping[str, ParamValue]) -> Output:
        arrays = [column_1d(frame, str(params[source]) if chosen else source, name) for source, chosen in sources]
        try:
            result = kernel(*arrays, **_talib_arguments(params, numeric))
        except Exception as error:  # TA-Lib raises bare Exception for parameter combinations it refuses
            raise InvalidParameter(f"{name}: TA-Lib refused the parameters {dict(params)}: {error}") from None
        return _wrap(result, frame.index, outputs)

    return run


def _wrap(result: np.ndarray | tuple[np.ndarray, ...], index: pd.Index, outputs: tuple[str, ...]) -> Output:
    if isinstance(result, np.ndarray):
        return pd.Series(result, index=index, name=outputs[0], copy=False)
    return pd.DataFrame(dict(zip(outputs, result, strict=True)), index=index, copy=False)
