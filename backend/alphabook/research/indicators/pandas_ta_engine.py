"""The pandas-ta-classic engine: indicators TA-Lib does not have, computed by pandas-ta-classic's own code.

TA-Lib covers the classic set exactly and fast, so pandas-ta-classic (``import pandas_ta_classic``) is
used only for what TA-Lib lacks: Ichimoku, the squeeze, Ehlers' filters, rolling statistics and the
like. Each entry below names the pandas-ta-classic function, the columns it reads, the parameters we
expose (named as pandas-ta-classic names them, with ranges inside what it accepts: it silently swaps
an out-of-range value for its default, so a wider range here would lie), our names for its output
columns (taken in order) and the warm-up as a function of the parameters.

Every call passes ``talib=False`` where the function has that flag, so the numbers are pandas-ta-classic's
own. Outputs come back as float64, aligned to the frame, with the warm-up bars set to NaN: some
pandas-ta-classic outputs are integers or zero-filled before they mean anything (squeeze flags, the
Schaff cycle), and a uniform "NaN until warm" is what callers can rely on. pandas-ta-classic is imported
on first use (it takes ~0.4 s and emits a pandas deprecation warning while importing, which is
silenced there and only there).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from alphabook.research.indicators.frame import column_1d
from alphabook.research.indicators.spec import Indicator, IndicatorSpec, Output, Param, ParamValue

__all__ = ["ENTRIES", "PandasTaEntry", "indicators"]

Warmup = Callable[[Mapping[str, Any]], int]


@functools.cache
def _library() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 0.8.32 calls Timestamp.dayofyear while importing
        return importlib.import_module("pandas_ta_classic")


@functools.cache
def _kernel(function: str) -> tuple[Callable[..., Any], dict[str, bool]]:
    """The pandas-ta-classic function and the ``talib=False`` flag to pass when it has one."""
    kernel = getattr(_library(), function)
    return kernel, ({"talib": False} if "talib" in inspect.signature(kernel).parameters else {})


@dataclass(frozen=True, slots=True)
class PandasTaEntry:
    """One pandas-ta-classic indicator as alphabook exposes it; ``name`` is pandas-ta-classic's function name."""

    name: str
    title: str
    category: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    warmup: Warmup = field(repr=False, compare=False)
    unstable: bool = False
    definition: str = ""
    fixed: Mapping[str, object] = field(default_factory=dict)

    def call(self, frame: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        """pandas-ta-classic's own output, our column names, float64, warm-up bars left as it returns them."""
        kernel, flag = _kernel(self.name)
        series = [pd.Series(column_1d(frame, column, self.name), index=frame.index, name=column)
                  for column in self.inputs]
        with np.errstate(all="ignore"):
            result = kernel(*series, **params, **self.fixed, **flag)
        if isinstance(result, pd.Series):
            result = result.to_frame()
        if result is None:  # pandas-ta-classic returns None when the frame is shorter than one window
            values = np.full((len(frame), len(self.outputs)), np.nan)
        else:
            values = result.iloc[:, : len(self.outputs)].to_numpy(dtype=np.float64, copy=True)
        return pd.DataFrame(values, index=frame.index, columns=list(self.outputs))

    def run(self, frame: pd.DataFrame, params: Mapping[str, ParamValue]) -> Output:
        table = self.call(frame, params)
        table.iloc[: self.warmup(params)] = np.nan
        return table.iloc[:, 0] if len(self.outputs) == 1 else table

    def indicator(self) -> Indicator:
        spec = IndicatorSpec(
            name=self.name,
            title=self.title,
            category=self.category,
            engine="pandas_ta_classic",
            function=self.name,
            inputs=self.inputs,
            params=self.params,
            outputs=self.outputs,
            lookback=self.warmup,
            unstable=self.unstable,
            definition=self.definition,
        )
        return Indicator(spec, self.run)


def _length(default: int, name: str = "length", minimum: int = 1) -> Param:
    return Param.integer(name, default, minimum)


def _window(p: Mapping[str, Any]) -> int:
    return int(p["length"]) - 1


_HL = ("high", "low")
_HLC = ("high", "low", "close")
_OHLC = ("open", "high", "low", "close")
_C = ("close",)

ENTRIES: tuple[PandasTaEntry, ...] = (
    # overlap
    PandasTaEntry(
        "ichimoku", "Ichimoku Kinko Hyo", "overlap", _HLC,
        (_length(9, "tenkan"), _length(26, "kijun"), _length(52, "senkou")),
        ("senkou_a", "senkou_b", "tenkan", "kijun"),
        lambda p: max(p["tenkan"], p["kijun"], p["senkou"]) - 1 + p["kijun"],
        definition="Senkou spans are shown on the bar they are plotted at (computed kijun bars earlier), so every "
        "value is known at its bar. The chikou span is left out: it is the close shifted kijun bars back, "
        "so aligned to the frame it would put a future close on today's bar, a look-ahead leak in a backtest.",
        fixed={"as_dataframe": True, "include_chikou": False},
    ),
    PandasTaEntry("alma", "Arnaud Legoux Moving Average", "overlap", _C,
                  (_length(10), Param.real("sigma", 6.0, 0.1, 100.0),
                   Param.real("distribution_offset", 0.85, 0.01, 1.0)), ("alma",), _window),
    PandasTaEntry("fwma", "Fibonacci's Weighted Moving Average", "overlap", _C, (_length(10),), ("fwma",), _window),
    PandasTaEntry("pwma", "Pascal's Weighted Moving Average", "overlap", _C, (_length(10),), ("pwma",), _window),
    PandasTaEntry("sinwma", "Sine Weighted Moving Average", "overlap", _C, (_length(14),), ("sinwma",), _window),
    PandasTaEntry("swma", "Symmetric Weighted Moving Average", "overlap", _C, (_length(10),), ("swma",), _window),
    PandasTaEntry("vidya", "Variable Index Dynamic Average", "overlap", _C, (_length(14),), ("vidya",), _window,
                  unstable=True),
    PandasTaEntry("mcgd", "McGinley Dynamic", "overlap", _C, (_length(10), Param.real("c", 1.0, 0.01, 1.0)),
                  ("mcgd",), lambda p: 0, unstable=True),
    PandasTaEntry("ssf", "Ehlers' Super Smoother Filter", "overlap", _C,
                  (_length(10), Param.integer("poles", 2, 2, 3)), ("ssf",), lambda p: 0, unstable=True),
    PandasTaEntry("hwma", "Holt-Winter Moving Average", "overlap", _C,
                  tuple(Param.real(name, default, 0.01, 0.99) for name, default in (("na", 0.2), ("nb", 0.1),
                                                                                    ("nc", 0.1))),
                  ("hwma",), lambda p: 0, unstable=True),
    # trend
    PandasTaEntry("chop", "Choppiness Index", "trend", _HLC, (_length(14), _length(1, "atr_length")), ("chop",),
                  lambda p: p["length"] + p["atr_length"] - 1),
    PandasTaEntry("cksp", "Chande Kroll Stop", "trend", _HLC,
                  (_length(10, "p"), Param.real("x", 3.0, 0.01), _length(20, "q")), ("long_stop", "short_stop"),
                  lambda p: p["p"] + p["q"] - 1, unstable=True),
    # statistics
    PandasTaEntry("entropy", "Entropy", "statistics", _C, (_length(10), Param.real("base", 2.0, 1.01)),
                  ("entropy",), _window),
    PandasTaEntry("kurtosis", "Rolling Kurtosis", "statistics", _C, (_length(30, minimum=4),), ("kurtosis",),
                  _window),
    PandasTaEntry("skew", "Rolling Skew", "statistics", _C, (_length(30, minimum=3),), ("skew",), _window),
    PandasTaEntry("zscore", "Rolling Z Score", "statistics", _C, (_length(30, minimum=2),), ("zscore",), _window),
    PandasTaEntry("median", "Rolling Median", "statistics", _C, (_length(30),), ("median",), _window),
    # cycle
    PandasTaEntry("ebsw", "Even Better Sinewave", "cycle", _C, (_length(40, minimum=39), _length(10, "bars")),
                  ("ebsw",), _window, unstable=True),
    # performance
    PandasTaEntry("log_return", "Log Return", "performance", _C, (_length(1),), ("log_return",),
                  lambda p: p["length"]),
    PandasTaEntry("percent_return", "Percent Return", "performance", _C, (_length(1),), ("percent_return",),
                  lambda p: p["length"]),
    PandasTaEntry("drawdown", "Drawdown", "performance", _C, (), ("drawdown", "drawdown_pct", "drawdown_log"),
                  lambda p: 0),
    # volatility
    PandasTaEntry("aberration", "Aberration", "volatility", _HLC, (_length(5), _length(15, "atr_length")),
                  ("zg", "sg", "xg", "atr"), lambda p: max(p["length"] - 1, p["atr_length"]), unstable=True),
    PandasTaEntry("ce", "Chandelier Exit", "volatility", _HLC, (_length(22), Param.real("multiplier", 3.0, 0.01)),
                  ("long_exit", "short_exit"), lambda p: p["length"], unstable=True),
    PandasTaEntry("thermo", "Elder's Thermometer", "volatility", _HL,
                  (_length(20), Param.real("long", 2.0, 0.01), Param.real("short", 0.5, 0.01)),
                  ("thermo", "thermo_ma", "thermo_long", "thermo_short"), lambda p: p["length"], unstable=True),
    PandasTaEntry("ui", "Ulcer Index", "volatility", _C, (_length(14),), ("ui",), lambda p: 2 * p["length"] - 2),
    # volume
    PandasTaEntry("eom", "Ease of Movement", "volume", ("high", "low", "close", "volume"),
                  (_length(14), Param.real("divisor", 100_000_000.0, 1.0)), ("eom",), lambda p: p["length"]),
    PandasTaEntry("kvo", "Klinger Volume Oscillator", "volume", ("high", "low", "close", "volume"),
                  (_length(34, "fast"), _length(55, "slow"), _length(13, "signal")), ("kvo", "kvo_signal"),
                  lambda p: max(p["fast"], p["slow"]) + p["signal"] - 2, unstable=True),
    PandasTaEntry("vfi", "Volume Flow Indicator", "volume", ("close", "volume"),
                  (_length(130), Param.real("coef", 0.2, 0.01, 10.0), Param.real("vcoef", 2.5, 0.01, 100.0)),
                  ("vfi",), lambda p: 2 * p["length"] + 1, unstable=True),
    # momentum
    PandasTaEntry("bias", "Bias", "momentum", _C, (_length(26),), ("bias",), _window),
    PandasTaEntry("brar", "BRAR", "momentum", _OHLC, (_length(26),), ("ar", "br"), lambda p: p["length"]),
    PandasTaEntry("cfo", "Chande Forecast Oscillator", "momentum", _C, (_length(9),), ("cfo",), _window),
    PandasTaEntry("cg", "Center of Gravity", "momentum", _C, (_length(10),), ("cg",), _window),
    PandasTaEntry("cti", "Correlation Trend Indicator", "momentum", _C, (_length(12),), ("cti",), _window),
    PandasTaEntry("fisher", "Fisher Transform", "momentum", _HL, (_length(9), _length(1, "signal")),
                  ("fisher", "fisher_signal"), lambda p: p["length"] - 1 + p["signal"], unstable=True),
    PandasTaEntry("inertia", "Inertia", "momentum", ("close", "high", "low"),
                  (_length(20), _length(14, "rvi_length")), ("inertia",),
                  lambda p: 2 * p["rvi_length"] + p["length"] - 3, unstable=True),
    PandasTaEntry("kst", "'Know Sure Thing'", "momentum", _C,
                  tuple(_length(default, name) for name, default in (
                      ("roc1", 10), ("roc2", 15), ("roc3", 20), ("roc4", 30),
                      ("sma1", 10), ("sma2", 10), ("sma3", 10), ("sma4", 15), ("signal", 9))),
                  ("kst", "kst_signal"),
                  lambda p: max(p[f"roc{i}"] + p[f"sma{i}"] for i in range(1, 5)) + p["signal"] - 2),
    PandasTaEntry("pgo", "Pretty Good Oscillator", "momentum", _HLC, (_length(14),), ("pgo",),
                  lambda p: 2 * p["length"] - 1, unstable=True),
    PandasTaEntry("psl", "Psychological Line", "momentum", _C, (_length(12),), ("psl",), _window),
    PandasTaEntry("qqe", "Quantitative Qualitative Estimation", "momentum", _C,
                  (_length(14), _length(5, "smooth"), Param.real("factor", 4.236, 0.01)), ("qqe", "rsi_ma"),
                  lambda p: 5 * p["length"] + p["smooth"] - 4, unstable=True),
    PandasTaEntry("rsx", "Relative Strength Xtra", "momentum", _C, (_length(14),), ("rsx",), _window, unstable=True),
    PandasTaEntry("lrsi", "Laguerre RSI", "momentum", _C, (Param.real("gamma", 0.5, 0.01, 0.99),), ("lrsi",),
                  lambda p: 0, unstable=True),
    PandasTaEntry("rvgi", "Relative Vigor Index", "momentum", _OHLC, (_length(14), _length(4, "swma_length")),
                  ("rvgi_hist", "rvgi", "rvgi_signal"), lambda p: p["length"] + 2 * p["swma_length"] - 3),
    PandasTaEntry("squeeze", "Squeeze (TTM Squeeze)", "momentum", _HLC,
                  (_length(20, "bb_length"), Param.real("bb_std", 2.0, 0.01), _length(20, "kc_length"),
                   Param.real("kc_scalar", 1.5, 0.01), _length(12, "mom_length"), _length(6, "mom_smooth")),
                  ("squeeze", "squeeze_on", "squeeze_off", "no_squeeze"),
                  lambda p: max(p["bb_length"] - 1, p["kc_length"], p["mom_length"] + p["mom_smooth"] - 1)),
    PandasTaEntry("stc", "Schaff Trend Cycle", "momentum", _C,
                  (_length(10, "tclength"), _length(12, "fast"), _length(26, "slow"),
                   Param.real("factor", 0.5, 0.01, 1.0)), ("stc", "stc_macd", "stc_stoch"),
                  lambda p: max(p["fast"], p["slow"]) + 2 * p["tclength"] - 3, unstable=True,
                  definition="pandas-ta-classic fills the Schaff cycle with 0 until its MACD and both stochastic "
                  "passes have data; alphabook reports those bars as NaN (warm-up = slow + 2 x tclength - 3)."),
    PandasTaEntry("vwmacd", "Volume Weighted MACD", "momentum", ("close", "volume"),
                  (_length(12, "fast"), _length(26, "slow"), _length(9, "signal")),
                  ("vwmacd", "vwmacd_hist", "vwmacd_signal"),
                  lambda p: max(p["fast"], p["slow"]) + p["signal"] - 2, unstable=True),
    # candle patterns
    PandasTaEntry("cdl_inside", "Inside Bar", "candle patterns", _OHLC, (), ("cdl_inside",), lambda p: 1,
                  definition="1 for an inside bar that closed up, -1 for one that closed down, 0 otherwise."),
)


def indicators() -> list[Indicator]:
    return [entry.indicator() for entry in ENTRIES]
