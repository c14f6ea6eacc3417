"""A crypto Fear & Greed index (0 = extreme fear, 100 = extreme greed) from our own market data and news.

Modelled on alternative.me's index, but computed only from what alphabook has: bars from any ``DataSource`` and
the sentiment of the headlines it scored. numpy does the arithmetic. Each component is a score from 0 to 100
where 50 is neutral; the index is their weighted mean, rounded half up.

With ``n`` the short window (30 days in bars, at least 3 bars) and ``L = 3n`` the long window, on closes
``C`` and volumes ``V``, log returns ``r``, ``σ_n`` the sample standard deviation of the last ``n`` returns,
``σ_p`` that of the ``2n`` returns before them, ``σ_L`` that of all ``L``, and ``m = ln(C_t / C_{t-n})`` the
window's momentum:

============ ====== ====================================================================================
component    weight score
============ ====== ====================================================================================
volatility   0.25   ``100 - 50 · σ_n / σ_p``: calmer than before is greed, twice as wild is extreme fear
momentum     0.25   ``50 + 25 · m / (σ_L · √n)``: the window's move in units of its usual spread (±2 → 0/100)
volume       0.20   ``50 + 50 · (V_t / mean(V_{t-n} … V_{t-1}) - 1) · sign(m)``: heavy volume pushes the
                    way the market moves (buying into a rise is greed, selling into a fall fear)
sentiment    0.30   ``50 + 50 · s``: ``s`` the mean compound score (-1 … 1) of the recent headlines
============ ====== ====================================================================================

Every score is clipped to [0, 100]. A component that cannot be computed (no headlines yet) is left out and the
others' weights are rescaled to sum to 1, which the answer shows. Bars finer than a day are first resampled to
daily bars; coarser bars (the bundled monthly BTC/USD sample) keep at least 3 bars per window, so their windows
span months. Labels: 0–24 Extreme Fear, 25–44 Fear, 45–55 Neutral, 56–75 Greed, 76–100 Extreme Greed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.data.resample import resample
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

__all__ = ["LABELS", "METHOD", "WEIGHTS", "Component", "FearGreed", "fear_greed", "label_for", "market_components_1d"]

WEIGHTS: dict[str, float] = {"volatility": 0.25, "momentum": 0.25, "volume": 0.20, "sentiment": 0.30}
#: (upper bound inclusive, label), in order.
LABELS: tuple[tuple[int, str], ...] = ((24, "Extreme Fear"), (44, "Fear"), (55, "Neutral"), (75, "Greed"),
                                       (100, "Extreme Greed"))
#: The method in one paragraph, for API answers.
METHOD = ("The weighted mean of component scores from 0 to 100 (50 neutral), each clipped to [0, 100]: "
          "volatility = 100 - 50 * sd(last n log returns) / sd(the 2n before them); "
          "momentum = 50 + 25 * ln(close / close n bars ago) / (sd(last 3n) * sqrt(n)); "
          "volume = 50 + 50 * (last volume / mean of the n volumes before it - 1) * sign(momentum); "
          "sentiment = 50 + 50 * mean compound score (-1..1) of the market's latest headlines. "
          "n is 30 days of bars (at least 3); a missing component is left out and the other weights rescaled.")
WINDOW_DAYS = 30
MIN_WINDOW_BARS = 3
LONG_WINDOWS = 3
DAY = pd.Timedelta(days=1)
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    score: float  # 0 … 100
    weight: float  # as applied: rescaled when a component is missing
    reading: float  # the raw figure the score comes from (σ ratio, momentum in σ, volume ratio, mean compound)


@dataclass(frozen=True, slots=True)
class FearGreed:
    value: int
    label: str
    components: list[Component]
    as_of: datetime  # the open time of the latest bar used
    window_bars: int


def label_for(value: int) -> str:
    """The band the index ``value`` (0 … 100) falls in."""
    return next((label for upper, label in LABELS if value <= upper), LABELS[-1][1])


def fear_greed(bars: pd.DataFrame, timeframe: str | Timeframe, sentiment: float | None) -> FearGreed:
    """The index for the last bar of ``bars`` (a valid OHLCV frame at ``timeframe``) and the headlines' mean
    compound score ``sentiment`` (None: no headlines, the component is left out).

    Raises InvalidInput when there are too few bars for the long window (it says how many are needed).
    """
    daily, bars_per_window = _daily(bars, parse_timeframe(timeframe))
    needed = LONG_WINDOWS * bars_per_window + 1
    if len(daily) < needed:
        raise InvalidInput(f"the Fear & Greed index needs at least {needed} bars here, the data has {len(daily)}")
    closes = daily["close"].to_numpy(dtype=np.float64)[-needed:]
    volumes = daily["volume"].to_numpy(dtype=np.float64)[-needed:]
    readings = market_components_1d(closes, volumes, bars_per_window)
    if sentiment is not None:
        if not -1.0 <= sentiment <= 1.0:
            raise InvalidInput(f"a sentiment score lies in [-1, 1], not {sentiment}")
        readings["sentiment"] = (sentiment, 50.0 + 50.0 * sentiment)
    total = sum(WEIGHTS[name] for name in readings)
    components = [Component(name, _clip(score), WEIGHTS[name] / total, reading)
                  for name, (reading, score) in readings.items()]
    value = math.floor(sum(each.score * each.weight for each in components) + 0.5)
    as_of = pd.Timestamp(daily.index[-1]).to_pydatetime()
    return FearGreed(value=value, label=label_for(value), components=components, as_of=as_of,
                     window_bars=bars_per_window)


def market_components_1d(closes: Floats, volumes: Floats, n: int) -> dict[str, tuple[float, float]]:
    """(reading, unclipped score) of volatility, momentum and volume from the last ``3n + 1`` closes and volumes.

    A flat series (σ = 0) reads as usual volatility and no momentum; zero average volume as usual volume.
    """
    returns = np.diff(np.log(closes))[-LONG_WINDOWS * n:]
    long_sigma = float(np.std(returns, ddof=1))
    prior_sigma = float(np.std(returns[:-n], ddof=1))  # not overlapping the short window, so a burst shows whole
    short_sigma = float(np.std(returns[-n:], ddof=1))
    ratio = short_sigma / prior_sigma if prior_sigma > 0 else 1.0
    momentum = float(np.log(closes[-1] / closes[-1 - n]))
    spread = momentum / (long_sigma * math.sqrt(n)) if long_sigma > 0 else 0.0
    average = float(np.mean(volumes[-1 - n:-1]))
    relative = float(volumes[-1]) / average if average > 0 else 1.0
    direction = 1.0 if momentum >= 0 else -1.0
    return {"volatility": (ratio, 100.0 - 50.0 * ratio), "momentum": (spread, 50.0 + 25.0 * spread),
            "volume": (relative, 50.0 + 50.0 * (relative - 1.0) * direction)}


def _daily(bars: pd.DataFrame, timeframe: Timeframe) -> tuple[pd.DataFrame, int]:
    """Bars no finer than a day, and how many of them make the 30-day window."""
    if timeframe.nominal < DAY:
        return resample(bars, "1d", drop_partial=True, source_timeframe=timeframe), WINDOW_DAYS
    per_window = math.ceil(pd.Timedelta(days=WINDOW_DAYS) / timeframe.nominal)
    return bars, max(MIN_WINDOW_BARS, per_window)


def _clip(score: float) -> float:
    return min(100.0, max(0.0, score))
