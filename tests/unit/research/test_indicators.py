"""The indicator registry's contract: what is registered, how parameters are checked, and hand-checkable values."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import talib

from alphabook.core.errors import InvalidInput
from alphabook.research.indicators import (
    InvalidParameter,
    UnknownIndicator,
    compute,
    get,
    list_indicators,
    registry,
)
from alphabook.research.indicators.talib_engine import CATEGORIES, NOT_REGISTERED, indicator_id

SEED = {
    "rsi": "talib", "macd": "talib", "bbands": "talib", "sma": "talib", "ema": "talib", "stoch": "talib",
    "atr": "talib", "adx": "talib", "obv": "talib", "willr": "talib", "cci": "talib", "mfi": "talib",
    "ichimoku": "pandas_ta_classic", "sar": "talib", "volume_profile": "alphabook",
}


def frame(close: list[float], high: list[float] | None = None, low: list[float] | None = None,
          volume: list[float] | None = None) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(close), freq="h", tz="UTC", name="time")
    columns = {"open": close, "high": high or close, "low": low or close, "close": close,
               "volume": volume or [1.0] * len(close)}
    return pd.DataFrame(columns, index=index, dtype="float64")


def values(result: pd.Series) -> list[float]:
    return [round(value, 10) if not math.isnan(value) else value for value in result.to_numpy()]


# --- what is registered ---------------------------------------------------------------------------------


def test_registry_holds_every_talib_function_plus_pandas_ta_and_our_own() -> None:
    engines = Counter(spec.engine for spec in registry.values())
    assert len(registry) >= 150
    assert engines["talib"] == len(talib.get_functions()) - len(NOT_REGISTERED)
    assert engines["pandas_ta_classic"] >= 40
    assert engines["alphabook"] == 1
    assert {spec.function for spec in registry.values() if spec.engine == "talib"} == set(talib.get_functions()) - set(
        NOT_REGISTERED
    )


def test_seed_indicators_are_registered_with_the_expected_engine() -> None:
    assert {name: get(name).engine for name in SEED} == SEED


def test_names_titles_categories_and_outputs_are_well_formed() -> None:
    known = set(CATEGORIES.values()) | {"trend", "performance"}
    for name, spec in registry.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert spec.name == name and spec.title and spec.category in known, name
        assert spec.outputs and len(set(spec.outputs)) == len(spec.outputs), name
        assert set(spec.inputs) <= {"open", "high", "low", "close", "volume"}, name
        for param in spec.params:
            assert param.check(param.default) == param.default, f"{name}.{param.name} default is not valid"


def test_talib_groups_are_all_mapped_to_categories() -> None:
    assert set(talib.get_function_groups()) == set(CATEGORIES)


def test_pandas_ta_entries_are_only_indicators_talib_lacks() -> None:
    talib_ids = {indicator_id(function) for function in talib.get_functions()}
    assert not {name for name in registry if get(name).engine == "pandas_ta_classic"} & talib_ids


def test_candle_pattern_ids_follow_talib_names() -> None:
    assert get("cdl_engulfing").function == "CDLENGULFING"
    assert get("cdl_engulfing").category == "candle patterns"
    assert len(list_indicators("candle patterns")) == 62


def test_list_indicators_filters_by_category_and_rejects_unknown_ones() -> None:
    assert list_indicators() == list(registry.values())
    momentum = list_indicators("momentum")
    assert {spec.category for spec in momentum} == {"momentum"} and get("rsi") in momentum
    with pytest.raises(InvalidInput, match="categories: candle patterns, cycle"):
        list_indicators("momentun")


def test_unknown_indicator_suggests_close_names() -> None:
    with pytest.raises(UnknownIndicator, match="did you mean rsi"):
        get("rsii")
    with pytest.raises(UnknownIndicator, match="cdl_engulfing") as caught:
        compute("CDLENGULFING", frame([1.0, 2.0]))
    assert isinstance(caught.value, InvalidInput) and caught.value.status == 422
    assert "nope" not in registry and registry.get("nope") is None


def test_warmup_follows_parameters() -> None:
    assert get("sma").warmup(timeperiod=20) == 19
    assert get("macd").warmup() == 33
    assert get("ichimoku").warmup() == 77
    assert get("volume_profile").warmup() == 0
    with pytest.raises(InvalidParameter):
        get("sma").warmup(timeperiod=0)


def test_talib_parameter_ranges_are_talib_own_limits() -> None:
    """Each numeric range is exactly what TA-Lib accepts: both ends work, one step past either fails."""
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(size=64))
    columns = {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": rng.uniform(1, 9, 64)}
    for spec in registry.values():
        if spec.engine != "talib":
            continue
        kernel = getattr(talib, spec.function)
        arrays = [columns[column] for column in spec.inputs]
        for param in spec.params:
            if param.kind not in ("int", "float"):
                continue
            step = 1 if param.kind == "int" else 1e-6 * max(1.0, abs(param.maximum or 1.0))
            for value, ok in ((param.minimum, True), (param.maximum, True),
                              (param.minimum - step, False), (param.maximum + step, False)):
                assert value is not None
                if param.kind == "int":
                    value = int(value)
                try:
                    kernel(*arrays, **{param.name: value})
                    accepted = True
                except Exception:
                    accepted = False
                verdict = "accepts" if accepted else "rejects"
                assert accepted is ok, f"{spec.name}.{param.name}={value}: TA-Lib {verdict} it"


# --- parameter validation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bars(eth_1h: pd.DataFrame) -> pd.DataFrame:
    return eth_1h.iloc[:500]


def test_unknown_parameter_lists_the_valid_ones_with_types_and_ranges(bars: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter) as caught:
        compute("rsi", bars, length=14)
    message = caught.value.detail
    assert "rsi has no parameter 'length'" in message
    assert "timeperiod: int in [2, 100000] (default 14)" in message
    assert "price: one of open, high, low, close, volume (default close)" in message


def test_misspelt_parameter_gets_a_suggestion(bars: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter, match="did you mean 'timeperiod'"):
        compute("sma", bars, timeperoid=5)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("rsi", {"timeperiod": 1}, "timeperiod=1 is not valid; expected timeperiod: int in [2, 100000]"),
        ("rsi", {"timeperiod": 14.0}, "timeperiod=14.0 is not valid"),
        ("rsi", {"timeperiod": True}, "timeperiod=True is not valid"),
        ("rsi", {"timeperiod": "14"}, "timeperiod='14' is not valid"),
        ("bbands", {"nbdevup": math.nan}, "nbdevup=nan is not valid"),
        ("mama", {"fastlimit": 1.5}, "expected fastlimit: float in [0.01, 0.99]"),
        ("bbands", {"matype": "simple"}, "expected matype: one of sma, ema, wma"),
        ("sma", {"price": "adj_close"}, "expected price: one of open, high, low, close, volume"),
        ("ichimoku", {"tenkan": 0}, "expected tenkan: int in [1, 100000]"),
        ("volume_profile", {"bins": 0}, "expected bins: int in [1, 10000]"),
    ],
)
def test_invalid_values_say_what_is_valid(name: str, params: dict[str, object], expected: str,
                                          bars: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter) as caught:
        compute(name, bars, **params)
    assert expected in caught.value.detail
    assert caught.value.detail.startswith(f"{name}: ")


def test_numbers_are_accepted_in_any_numeric_type(bars: pd.DataFrame) -> None:
    expected = compute("bbands", bars, timeperiod=20, nbdevup=2.0)
    pd.testing.assert_frame_equal(compute("bbands", bars, timeperiod=np.int64(20), nbdevup=2), expected)


def test_frame_problems_are_reported_plainly(bars: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="rsi needs a 'close' column; the frame has open, high"):
        compute("rsi", bars.drop(columns="close"))
    with pytest.raises(InvalidInput, match="needs a pandas DataFrame"):
        compute("rsi", bars["close"])
    with pytest.raises(InvalidInput, match="column 'close' must be numeric"):
        compute("rsi", bars.assign(close="x"))


def test_integer_columns_and_short_frames_are_fine(bars: pd.DataFrame) -> None:
    as_int = bars.assign(volume=bars["volume"].round().astype("int64"))
    np.testing.assert_allclose(compute("obv", as_int).to_numpy(), talib.OBV(bars["close"].to_numpy(),
                                                                          as_int["volume"].to_numpy(float)))
    assert compute("rsi", bars.iloc[:5]).isna().all()
    short = compute("ichimoku", bars.iloc[:10])
    assert short.shape == (10, 4) and short.isna().all().all()
    assert compute("sma", bars.iloc[:0]).empty


def test_compute_leaves_the_frame_alone(bars: pd.DataFrame) -> None:
    before = bars.copy()
    for name in ("rsi", "ichimoku", "squeeze", "volume_profile"):
        compute(name, bars)
    pd.testing.assert_frame_equal(bars, before)


def test_price_parameter_picks_the_column(bars: pd.DataFrame) -> None:
    np.testing.assert_array_equal(compute("sma", bars, price="volume", timeperiod=3).to_numpy(),
                                  talib.SMA(bars["volume"].to_numpy(), 3))


# --- values a person can check by hand ------------------------------------------------------------------


def test_sma() -> None:
    result = compute("sma", frame([1, 2, 3, 4, 5, 6]), timeperiod=3)
    assert result.name == "sma"
    assert values(result)[2:] == [2, 3, 4, 5] and np.isnan(result.iloc[:2]).all()


def test_ema_seeds_with_the_sma_then_smooths() -> None:
    assert values(compute("ema", frame([1, 2, 3, 4, 5]), timeperiod=3))[2:] == [2, 3, 4]  # alpha = 2 / (3 + 1)


def test_rsi_wilder_smoothing() -> None:
    # changes +1 -1 +1 -1 +1: first averages 0.5/0.5 -> 50, then Wilder's (prev * 1 + new) / 2
    assert values(compute("rsi", frame([1, 2, 1, 2, 1, 2]), timeperiod=2))[2:] == [50, 75, 37.5, 68.75]
    rising = compute("rsi", frame([float(x) for x in range(1, 30)]))
    assert (rising.dropna() == 100).all()


def test_bbands_are_sma_plus_minus_population_deviations() -> None:
    bands = compute("bbands", frame([1, 2, 3]), timeperiod=3, nbdevup=2.0, nbdevdn=1.0)
    deviation = math.sqrt(2 / 3)
    assert bands.iloc[2].tolist() == pytest.approx([2 + 2 * deviation, 2, 2 - deviation])


def test_stochastic_fast_k_and_williams_r() -> None:
    bars = frame(close=[2, 3, 4, 5], high=[3, 4, 5, 6], low=[1, 2, 3, 2])
    assert compute("stochf", bars, fastk_period=3, fastd_period=1)["fastk"].iloc[2] == 75  # (4 - 1) / (5 - 1)
    assert compute("willr", bars, timeperiod=3).iloc[2] == -25  # (5 - 4) / (5 - 1) x -100
    slow = compute("stoch", bars, fastk_period=3, slowk_period=1, slowd_period=1)
    assert slow["slowk"].iloc[2] == 75


def test_atr_and_cci() -> None:
    bars = frame(close=[2, 3, 4, 5], high=[3, 4, 5, 6], low=[1, 2, 3, 2])
    assert values(compute("trange", bars))[1:] == [2, 2, 4]
    assert values(compute("atr", bars, timeperiod=2))[2:] == [2, 3]  # mean(2, 2), then (2 + 4) / 2
    assert compute("cci", bars, timeperiod=3).iloc[2] == pytest.approx(100)  # (4 - 3) / (0.015 x 2/3)


def test_obv_adds_volume_on_up_closes_and_subtracts_on_down_closes() -> None:
    bars = frame([1, 2, 1, 1, 3], volume=[10, 20, 30, 40, 50])
    assert values(compute("obv", bars)) == [10, 30, 0, 0, 50]


def test_mfi_and_adx_stay_in_their_ranges(bars: pd.DataFrame) -> None:
    for name in ("mfi", "adx", "rsi", "willr"):
        result = compute(name, bars).dropna()
        assert result.between(-100, 100).all(), name


def test_macd_histogram_is_macd_minus_signal(bars: pd.DataFrame) -> None:
    macd = compute("macd", bars).dropna()
    np.testing.assert_allclose(macd["macdhist"], macd["macd"] - macd["macdsignal"], atol=1e-9)


def test_parabolic_sar_stays_outside_each_bar(bars: pd.DataFrame) -> None:
    sar = compute("sar", bars).iloc[1:]
    assert ((sar <= bars["low"].iloc[1:]) | (sar >= bars["high"].iloc[1:])).all()


def test_ichimoku_lines_are_range_midpoints_with_spans_shifted_forward(bars: pd.DataFrame) -> None:
    lines = compute("ichimoku", bars)

    def midpoint(window: int) -> pd.Series:
        return (bars["high"].rolling(window).max() + bars["low"].rolling(window).min()) / 2

    pd.testing.assert_series_equal(lines["tenkan"], midpoint(9).where(lines.index >= lines.index[77]),
                                   check_names=False)
    pd.testing.assert_series_equal(lines["kijun"], midpoint(26).where(lines.index >= lines.index[77]),
                                   check_names=False)
    expected_a = ((midpoint(9) + midpoint(26)) / 2).shift(26)
    pd.testing.assert_series_equal(lines["senkou_a"].iloc[77:], expected_a.iloc[77:], check_names=False)
    pd.testing.assert_series_equal(lines["senkou_b"].iloc[77:], midpoint(52).shift(26).iloc[77:], check_names=False)
    assert "chikou" not in lines  # the close shifted into the past: a look-ahead leak, see the definition
    assert "look-ahead" in get("ichimoku").definition
