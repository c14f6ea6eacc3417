"""Every registered indicator, computed on 12.5k real hourly ETH bars with its default parameters.

Checks what a caller relies on without reading the indicator's docs: the output is aligned to the frame
and named as the spec says; the warm-up is exact (NaN, or 0 for TA-Lib's integer outputs, up to it, and
a value on every bar from it on); candle patterns only take TA-Lib's documented values; and computing
never prints or warns (pandas-ta-classic included).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphabook.research.indicators import compute, get, registry
from alphabook.research.indicators.pandas_ta_engine import ENTRIES

SERIES_INDICATORS = [name for name, spec in registry.items() if spec.kind == "series"]
# TA-Lib's candle values: +/-100 a pattern, +/-80 engulfing/harami whose bodies share an end, +/-200 a
# confirmed hikkake.
CANDLE_VALUES = {-200, -100, -80, 0, 80, 100, 200}
# Inverse sine and cosine are only defined on [-1, 1]; give them prices scaled into (0, 1].
SCALED = {"acos", "asin"}
# Non-default parameters that move every term of a pandas-ta-classic warm-up formula.
OTHER_PARAMS: Mapping[str, dict[str, Any]] = {
    "ichimoku": {"tenkan": 30, "kijun": 10, "senkou": 20},
    "aberration": {"length": 20, "atr_length": 4},
    "chop": {"length": 7, "atr_length": 3},
    "cksp": {"p": 5, "x": 2.0, "q": 7},
    "fisher": {"length": 7, "signal": 3},
    "inertia": {"length": 7, "rvi_length": 5},
    "kst": {"roc1": 5, "roc2": 8, "roc3": 12, "roc4": 20, "sma1": 5, "sma2": 5, "sma3": 5, "sma4": 18, "signal": 4},
    "kvo": {"fast": 10, "slow": 20, "signal": 5},
    "qqe": {"length": 7, "smooth": 3},
    "rvgi": {"length": 7, "swma_length": 3},
    "squeeze": {"bb_length": 10, "kc_length": 12, "mom_length": 5, "mom_smooth": 3},
    "stc": {"tclength": 5, "fast": 8, "slow": 20},
    "ui": {"length": 7},
    "vfi": {"length": 20},
    "vwmacd": {"fast": 5, "slow": 10, "signal": 4},
}
# Outputs pandas-ta-classic fills (0 or a constant) before they mean anything; alphabook NaNs them.
FILLED_BEFORE_WARM = {"squeeze", "stc", "cdl_inside"}


def frame_for(name: str, bars: pd.DataFrame) -> pd.DataFrame:
    return bars / bars.max() if name in SCALED else bars


def quietly(name: str, bars: pd.DataFrame, capsys: pytest.CaptureFixture[str], **params: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute(name, bars, **params)
    assert capsys.readouterr() == ("", ""), f"{name} printed something"
    return result


@pytest.mark.parametrize("name", SERIES_INDICATORS)
def test_indicator_output_is_aligned_named_and_warm_after_its_warmup(
    name: str, eth_1h: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = get(name)
    bars = frame_for(name, eth_1h)
    result = quietly(name, bars, capsys)

    if len(spec.outputs) == 1:
        assert isinstance(result, pd.Series)
        assert result.name == spec.outputs[0]
        table = result.to_frame()
    else:
        assert isinstance(result, pd.DataFrame)
        assert tuple(result.columns) == spec.outputs
        table = result
    assert table.index.equals(bars.index)

    warm = spec.warmup()
    assert 0 <= warm < len(bars) // 2
    for column in table.columns:
        values = table[column].to_numpy()
        if np.issubdtype(values.dtype, np.integer):  # TA-Lib's integer outputs: 0 during the warm-up
            assert (values[:warm] == 0).all(), f"{name}.{column} is not 0 during its warm-up"
        else:
            assert values.dtype == np.float64
            assert np.isnan(values[:warm]).all(), f"{name}.{column} has values inside its warm-up"
            assert not np.isnan(values[warm:]).any(), f"{name}.{column} has NaN after its warm-up of {warm}"
    if spec.category == "candle patterns":
        allowed = CANDLE_VALUES if spec.engine == "talib" else {-1, 0, 1}  # pandas-ta-classic's inside bar: +/-1
        assert set(np.unique(table.to_numpy()[warm:])) <= allowed


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_pandas_ta_warmup_matches_its_raw_output(entry: Any, eth_1h: pd.DataFrame) -> None:
    """The warm-up formulas, against where pandas-ta-classic's own output starts, for two parameter sets."""
    spec = get(entry.name)
    for params in ({}, OTHER_PARAMS.get(entry.name, {})):
        resolved = spec.resolve(params)
        raw = entry.call(eth_1h, resolved)
        first_values = [int(np.argmax(raw[column].notna().to_numpy())) for column in raw.columns]
        warm = spec.warmup(**params)
        if entry.name in FILLED_BEFORE_WARM:
            assert max(first_values) <= warm
        else:
            assert max(first_values) == warm, f"{entry.name}{params}: output starts at {first_values}"


@pytest.mark.parametrize("name", [name for name in SERIES_INDICATORS if get(name).engine == "talib"])
def test_talib_output_is_talib_called_directly(name: str, eth_1h: pd.DataFrame) -> None:
    """The wrapper adds nothing: same numbers as ``talib.<FUNC>`` on the raw arrays."""
    import talib

    spec = get(name)
    bars = frame_for(name, eth_1h)
    expected = getattr(talib, spec.function)(*(bars[column].to_numpy() for column in spec.inputs))
    result = compute(name, bars)
    table = result.to_frame() if isinstance(result, pd.Series) else result
    expected_columns = expected if isinstance(expected, tuple) else (expected,)
    for column, values in zip(table.columns, expected_columns, strict=True):
        np.testing.assert_array_equal(table[column].to_numpy(), values)
