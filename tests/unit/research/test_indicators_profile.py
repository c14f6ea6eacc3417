"""Volume profile: volume per price bucket, each bar's volume spread evenly over its low-high range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.indicators import InvalidParameter, compute, get, volume_profile


def bars(rows: list[tuple[float, float, float, float, float]], start: str = "2024-01-01") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(rows), freq="h", tz="UTC", name="time")
    return pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"], dtype="float64")


def brute_force(frame: pd.DataFrame, edges: np.ndarray) -> np.ndarray:
    """The definition, one bar and one bucket at a time."""
    totals = np.zeros(len(edges) - 1)
    for low, high, volume in frame[["low", "high", "volume"]].itertuples(index=False):
        if high == low:
            totals[min(np.searchsorted(edges, low, side="right") - 1, len(totals) - 1)] += volume
            continue
        overlap = np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0, None)
        totals += volume * overlap / (high - low)
    return totals


def test_one_bar_spreads_evenly_and_a_flat_bar_lands_in_one_bucket() -> None:
    frame = bars([(2, 10, 0, 8, 100), (5, 5, 5, 5, 50)])  # an up bar over 0..10, then a flat bar at 5
    profile = volume_profile(frame, bins=5)
    assert profile["price_low"].tolist() == [0, 2, 4, 6, 8]
    assert profile["price_high"].tolist() == [2, 4, 6, 8, 10]
    assert profile["up_volume"].tolist() == pytest.approx([20, 20, 70, 20, 20])  # close >= open counts as up
    assert profile["down_volume"].tolist() == pytest.approx([0, 0, 0, 0, 0])
    assert profile.index.name == "bucket"


def test_up_and_down_volume_split_by_the_bar_direction() -> None:
    profile = volume_profile(bars([(8, 10, 0, 2, 100), (1, 10, 0, 9, 50)]), bins=2)
    assert profile["down_volume"].tolist() == pytest.approx([50, 50])
    assert profile["up_volume"].tolist() == pytest.approx([25, 25])
    np.testing.assert_allclose(profile["volume"], profile["up_volume"] + profile["down_volume"])


def test_matches_the_definition_and_keeps_every_unit_of_volume(eth_1h: pd.DataFrame) -> None:
    frame = eth_1h.iloc[:3000]
    profile = volume_profile(frame, bins=40)
    edges = np.append(profile["price_low"].to_numpy(), profile["price_high"].iloc[-1])
    assert edges[0] == frame["low"].min() and edges[-1] == frame["high"].max()
    np.testing.assert_allclose(profile["volume"], brute_force(frame, edges), rtol=1e-9)
    assert profile["volume"].sum() == pytest.approx(frame["volume"].sum(), rel=1e-12)


def test_start_and_end_are_inclusive_and_zoneless_times_are_utc(eth_1h: pd.DataFrame) -> None:
    chosen = eth_1h.loc["2025-01-01 00:00":"2025-01-07 23:00"]
    windowed = volume_profile(eth_1h, bins=12, start="2025-01-01", end="2025-01-07 23:00")
    pd.testing.assert_frame_equal(windowed, volume_profile(chosen, bins=12))
    aware = volume_profile(eth_1h, bins=12, start=pd.Timestamp("2025-01-01", tz="UTC"),
                           end=pd.Timestamp("2025-01-08 00:00", tz="Europe/Berlin"))  # 23:00 UTC
    pd.testing.assert_frame_equal(aware, windowed)


def test_is_registered_as_the_profile_kind(eth_1h: pd.DataFrame) -> None:
    spec = get("volume_profile")
    assert (spec.kind, spec.engine, spec.outputs) == (
        "profile", "alphabook", ("price_low", "price_high", "volume", "up_volume", "down_volume"))
    pd.testing.assert_frame_equal(compute("volume_profile", eth_1h, bins=10), volume_profile(eth_1h, bins=10))


def test_flat_prices_and_missing_bars() -> None:
    flat = volume_profile(bars([(5, 5, 5, 5, 10), (5, 5, 5, 5, 30)]), bins=3)
    assert flat["volume"].sum() == 40 and flat["price_low"].iloc[0] < 5 < flat["price_high"].iloc[-1]
    gappy = bars([(1, 2, 1, 2, 10), (np.nan, np.nan, np.nan, np.nan, np.nan), (2, 3, 2, 3, 20)])
    assert volume_profile(gappy, bins=2)["volume"].sum() == pytest.approx(30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2030-01-01"}, "no bars between"),
        ({"start": "not a time"}, "is not a time"),
        ({"bins": 0}, "bins=0 is not valid"),
    ],
)
def test_bad_requests_say_what_to_change(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        volume_profile(bars([(1, 2, 1, 2, 10)]), **kwargs)


def test_start_needs_a_time_index() -> None:
    frame = bars([(1, 2, 1, 2, 10)]).reset_index(drop=True)
    with pytest.raises(InvalidInput, match="DatetimeIndex"):
        volume_profile(frame, start="2024-01-01")
    with pytest.raises(InvalidParameter):
        volume_profile(frame, bins=2.5)
