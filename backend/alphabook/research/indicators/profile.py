"""Volume profile: how much volume traded at each price level over a window, alphabook's own kernel.

Neither TA-Lib nor pandas-ta-classic has a profile that respects where inside a bar the volume could
have traded (pandas-ta-classic's ``vp`` files each bar's volume under its close), so this one spreads
each bar's volume evenly over the bar's low-high range and adds up what falls in each price bucket.
With only OHLCV bars that is the least-assuming estimate, and it keeps the total exact: the buckets
sum to the window's volume. Bars whose high equals their low put all their volume in one bucket.

It is the one "profile" kind of output: one row per price bucket, not aligned to the frame's bars.

The kernel needs no per-bar-per-bucket matrix (1M bars x 100 buckets would not fit comfortably): the
volume below a price x is a sum of ramps ``d_i * (clip(x, low_i, high_i) - low_i)`` with density
``d_i = volume_i / (high_i - low_i)``, which sorted cumulative sums evaluate at every bucket edge in
O(n log n).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from alphabook.core.errors import InvalidInput
from alphabook.research.indicators.frame import OHLCV, column_1d, require_frame
from alphabook.research.indicators.spec import Indicator, IndicatorSpec, Param, ParamValue

__all__ = ["PROFILE_COLUMNS", "indicator", "volume_profile"]

PROFILE_COLUMNS = ("price_low", "price_high", "volume", "up_volume", "down_volume")
_BINS = Param.integer("bins", 24, 1, 10_000, help="number of equal-width price buckets")


def volume_profile(
    df: pd.DataFrame, bins: int = 24, start: object | None = None, end: object | None = None
) -> pd.DataFrame:
    """Volume per price bucket between ``start`` and ``end`` (bar open times, both inclusive).

    The buckets split the window's lowest low to highest high into ``bins`` equal parts. ``up_volume``
    is the volume of bars that closed at or above their open, ``down_volume`` the rest; they add up to
    ``volume``. ``start``/``end`` take anything ``pandas.Timestamp`` does; a time without a zone is UTC.
    """
    frame = _window(require_frame(df, "volume_profile"), start, end)
    bin_count = int(_BINS.check(bins))
    high, low, volume, open_, close = (column_1d(frame, name, "volume_profile")
                                       for name in ("high", "low", "volume", "open", "close"))
    valid = ~(np.isnan(high) | np.isnan(low) | np.isnan(volume) | np.isnan(open_) | np.isnan(close))
    if not valid.any():
        raise InvalidInput("volume_profile: no complete bars in the window; widen start/end or check the data")
    top, bottom = np.maximum(high, low)[valid], np.minimum(high, low)[valid]
    edges = _edges_1d(float(bottom.min()), float(top.max()), bin_count)
    up = (close >= open_)[valid]
    up_volume = _profile_1d(bottom[up], top[up], volume[valid][up], edges)
    down_volume = _profile_1d(bottom[~up], top[~up], volume[valid][~up], edges)
    table = pd.DataFrame(
        dict(zip(PROFILE_COLUMNS, (edges[:-1], edges[1:], up_volume + down_volume, up_volume, down_volume),
                 strict=True))
    )
    table.index.name = "bucket"
    return table


def _window(frame: pd.DataFrame, start: object | None, end: object | None) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidInput("volume_profile: start/end need a DatetimeIndex of bar open times")
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= frame.index >= _timestamp(start, frame.index)
    if end is not None:
        keep &= frame.index <= _timestamp(end, frame.index)
    if not keep.any():
        raise InvalidInput(f"volume_profile: no bars between start={start!r} and end={end!r}")
    return frame[keep]


def _timestamp(value: object, index: pd.DatetimeIndex) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"volume_profile: {value!r} is not a time") from None
    if stamp is pd.NaT:
        raise InvalidInput("volume_profile: start/end must be a time, not NaT")
    if index.tz is None:
        return stamp.tz_convert(None) if stamp.tz is not None else stamp
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp


def _edges_1d(bottom: float, top: float, bins: int) -> NDArray[np.float64]:
    if top <= bottom:  # every bar at one price: give the single level a sliver of width
        pad = max(abs(bottom) * 1e-9, 1e-12)
        bottom, top = bottom - pad, top + pad
    return np.linspace(bottom, top, bins + 1)


def _profile_1d(
    low: NDArray[np.float64], high: NDArray[np.float64], volume: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Volume in each [edges[k], edges[k+1]) bucket, each bar's volume spread evenly over [low, high]."""
    origin = edges[0]  # measuring from the bottom edge keeps the cumulative sums small and exact
    x = edges - origin
    wide = high > low
    density = volume[wide] / (high[wide] - low[wide])
    below = _ramps_1d(low[wide] - origin, density, x) - _ramps_1d(high[wide] - origin, density, x)
    buckets = np.diff(below)
    point = np.clip(np.searchsorted(edges, low[~wide], side="right") - 1, 0, len(buckets) - 1)
    buckets += np.bincount(point, weights=volume[~wide], minlength=len(buckets))
    return buckets


def _ramps_1d(starts: NDArray[np.float64], slopes: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_i slopes_i * max(x - starts_i, 0)`` at every x."""
    order = np.argsort(starts, kind="stable")
    starts, slopes = starts[order], slopes[order]
    slope_sum = np.concatenate(([0.0], np.cumsum(slopes)))
    intercept_sum = np.concatenate(([0.0], np.cumsum(slopes * starts)))
    count = np.searchsorted(starts, x, side="left")
    result: NDArray[np.float64] = x * slope_sum[count] - intercept_sum[count]
    return result


def _run(frame: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
    return volume_profile(frame, bins=int(params["bins"]))


def indicator() -> Indicator:
    spec = IndicatorSpec(
        name="volume_profile",
        title="Volume Profile",
        category="volume",
        engine="alphabook",
        function="volume_profile",
        inputs=OHLCV,
        params=(_BINS,),
        outputs=PROFILE_COLUMNS,
        lookback=lambda params: 0,
        kind="profile",
        definition="Each bar's volume is spread evenly over its low-high range (not filed under its close, as "
        "pandas-ta-classic's vp does); one row per price bucket over the whole frame, not aligned to its bars. "
        "volume_profile() also takes start/end.",
    )
    return Indicator(spec, _run)
