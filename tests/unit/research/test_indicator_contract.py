"""The creator-facing indicator contract: what may be returned, and the errors that teach the rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.indicators import compute, run_indicator


def momentum(df: pd.DataFrame, length: int = 10) -> pd.Series:
    return (df["close"] / df["close"].shift(length) - 1).rename("momentum")


def test_series_frame_and_dict_outputs_become_one_aligned_frame(goog_1d: pd.DataFrame) -> None:
    single = run_indicator(momentum, goog_1d, length=5)
    assert list(single.columns) == ["momentum"] and single.index.equals(goog_1d.index)
    assert single["momentum"].iloc[5] == pytest.approx(goog_1d["close"].iloc[5] / goog_1d["close"].iloc[0] - 1)
    bands = run_indicator(lambda df: {"upper": df["high"], "lower": df["low"], "up": df["close"] > df["open"]},
                          goog_1d)
    assert list(bands.columns) == ["upper", "lower", "up"] and bands["up"].isin([0.0, 1.0]).all()
    frame = run_indicator(lambda df: compute("bbands", df, timeperiod=20), goog_1d)
    assert list(frame.columns) == ["upperband", "middleband", "lowerband"]
    assert run_indicator(lambda df: df["close"].rolling(3).mean(), goog_1d).columns.tolist() == ["close"]
    assert run_indicator(lambda df: pd.Series(np.ones(len(df)), index=df.index), goog_1d).columns.tolist() == [
        "value"]


@pytest.mark.parametrize(
    ("indicator", "message"),
    [
        (lambda df: df["close"].to_numpy(), "return a pandas Series"),
        (lambda df: df["close"].dropna().iloc[10:], "do not match"),
        (lambda df: {"x": df["close"].to_list()}, "not a pandas Series"),
        (lambda df: df["close"].astype(str), "numeric"),
        (lambda df: df["close"] / 0.0, "infinity"),
        (lambda df: {}, "no output"),
    ],
)
def test_broken_indicators_get_a_lesson(goog_1d: pd.DataFrame, indicator: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        run_indicator(indicator, goog_1d)  # type: ignore[arg-type]
