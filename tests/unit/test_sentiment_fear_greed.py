"""The Fear & Greed arithmetic on series built so that every figure can be checked by hand.

Ten monthly bars make the smallest series the index reads: a window of n = 3 bars (30 days is one month, and a
window holds at least 3 bars) and a long window of 3n = 9 returns. The log returns are
[-0.1, 0.1, -0.1, 0.1, -0.1, 0.1, r, r, r] with r = ±0.1: their mean is ±1/30 and the sum of squared deviations
9·0.01 - 9/900 = 0.08, so σ_L = sqrt(0.08 / 8) = 0.1; the last three are equal, so σ_n = 0 (and the six before
them have σ_p = sqrt(0.06 / 5) > 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.sentiment import WEIGHTS, fear_greed, label_for


def monthly(returns: list[float], volumes: list[float]) -> pd.DataFrame:
    closes = 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    index = pd.date_range("2024-01-01", periods=len(closes), freq="MS", tz="UTC", name="time")
    return pd.DataFrame({"open": closes, "high": closes * 1.01, "low": closes * 0.99, "close": closes,
                         "volume": volumes}, index=index)


SWINGS = [-0.1, 0.1, -0.1, 0.1, -0.1, 0.1]
VOLUMES = [100.0] * 9 + [150.0]  # the last bar trades 1.5 times the 3 before it


def test_a_calm_rise_on_heavy_volume_with_gloomy_news_is_greed() -> None:
    index = fear_greed(monthly([*SWINGS, 0.1, 0.1, 0.1], VOLUMES), "1M", sentiment=-0.4)
    scores = {each.name: each.score for each in index.components}
    assert scores["volatility"] == pytest.approx(100)  # 100 - 50 · 0 / σ_p
    assert scores["momentum"] == pytest.approx(50 + 25 * math.sqrt(3))  # m = 0.3, 0.3 / (0.1 · √3) = √3
    assert scores["volume"] == pytest.approx(75)  # 50 + 50 · (1.5 - 1) · (+1)
    assert scores["sentiment"] == pytest.approx(30)  # 50 + 50 · -0.4
    # 0.25·100 + 0.25·93.301 + 0.20·75 + 0.30·30 = 72.33
    assert (index.value, index.label, index.window_bars) == (72, "Greed", 3)
    assert [each.weight for each in index.components] == [WEIGHTS[name] for name in WEIGHTS]
    assert index.as_of.isoformat() == "2024-10-01T00:00:00+00:00"


def test_a_fall_on_heavy_volume_without_news_rescales_the_weights() -> None:
    index = fear_greed(monthly([*SWINGS, -0.1, -0.1, -0.1], VOLUMES), "1M", sentiment=None)
    scores = {each.name: each.score for each in index.components}
    assert scores == pytest.approx({"volatility": 100, "momentum": 50 - 25 * math.sqrt(3), "volume": 25})
    assert [each.weight for each in index.components] == pytest.approx([0.25 / 0.7, 0.25 / 0.7, 0.2 / 0.7])
    # (0.25·100 + 0.25·6.699 + 0.20·25) / 0.7 = 45.25: heavy selling pulls a calm market down to neutral
    assert (index.value, index.label) == (45, "Neutral")


def test_scores_are_clipped_to_0_100() -> None:
    wild = [0.01, -0.01, 0.01, -0.01, 0.01, -0.01, 0.5, -0.5, 0.5]  # the last window is far wilder than usual
    index = fear_greed(monthly(wild, [100.0] * 9 + [1000.0]), "1M", sentiment=1.0)
    scores = {each.name: each.score for each in index.components}
    assert scores["volatility"] == 0 and scores["volume"] == 100 and scores["sentiment"] == 100
    # σ_n² = (1/9 + 4/9 + 1/9) / 2 = 1/3 and σ_p² = 6 · 0.0001 / 5 = 0.00012: a burst 52.7 times the usual spread
    ratio = {each.name: each.reading for each in index.components}["volatility"]
    assert ratio == pytest.approx(math.sqrt((1 / 3) / 0.00012))
    assert 0 <= index.value <= 100


def test_too_few_bars_are_refused_with_how_many_are_needed() -> None:
    with pytest.raises(InvalidInput, match="needs at least 10 bars here, the data has 9"):
        fear_greed(monthly(SWINGS + [0.1, 0.1], [100.0] * 9), "1M", sentiment=None)


def test_a_sentiment_outside_minus_one_to_one_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"lies in \[-1, 1\], not 1.5"):
        fear_greed(monthly([*SWINGS, 0.1, 0.1, 0.1], VOLUMES), "1M", sentiment=1.5)


def test_intraday_bars_are_read_as_daily_bars_with_a_30_day_window() -> None:
    hours = pd.date_range("2025-01-01", periods=24 * 100, freq="h", tz="UTC", name="time")
    closes = 100 + np.sin(np.arange(len(hours)) / 10)
    bars = pd.DataFrame({"open": closes, "high": closes + 1, "low": closes - 1, "close": closes,
                         "volume": np.full(len(hours), 10.0)}, index=hours)
    index = fear_greed(bars, "1h", sentiment=None)
    assert index.window_bars == 30 and index.as_of.isoformat() == "2025-04-10T00:00:00+00:00"  # day 100
    assert {each.name: each.reading for each in index.components}["volume"] == pytest.approx(1.0)  # 240 a day


@pytest.mark.parametrize(("value", "label"), [(0, "Extreme Fear"), (24, "Extreme Fear"), (25, "Fear"), (44, "Fear"),
                                              (45, "Neutral"), (55, "Neutral"), (56, "Greed"), (75, "Greed"),
                                              (76, "Extreme Greed"), (100, "Extreme Greed")])
def test_labels_band_the_value(value: int, label: str) -> None:
    assert label_for(value) == label
