"""Market data for research tests.

Provides ``btc_5m``, ``eth_1h`` and ``orcl_1d`` (real candles from ``../shared/data``, see its README; CI
has them beside the checkout) and ``goog_1d`` (the GOOG daily sample that the ``backtesting`` package
ships, so some tests run on any machine). Every frame follows the OHLCV convention: UTC index of bar
open times, float64 ``open, high, low, close, volume``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import urllib3  # noqa: F401  (vectorbt imports it; its import-time IPv6 probe must run before sockets are blocked)

from alphabook.core.config import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
COLUMNS = ["open", "high", "low", "close", "volume"]


def read_shared(name: str) -> pd.DataFrame:
    path = SHARED_DATA / name
    assert path.exists(), f"shared market data {path} is missing: it sits beside the checkout in CI"
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    index = pd.DatetimeIndex(frame.index, name="time")
    frame.index = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    return frame[COLUMNS].astype("float64")


def read_backtesting_sample(name: str) -> pd.DataFrame:
    import backtesting

    path = Path(backtesting.__file__).parent / "test" / f"{name}.csv"
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    frame.columns = [column.lower() for column in frame.columns]
    frame.index = pd.DatetimeIndex(frame.index, name="time").tz_localize("UTC")
    return frame[COLUMNS].astype("float64")


@pytest.fixture(scope="session")
def btc_5m() -> pd.DataFrame:
    return read_shared("binance_BTCUSDT_5m.csv.gz")


@pytest.fixture(scope="session")
def eth_1h() -> pd.DataFrame:
    return read_shared("binance_ETHUSDT_1h.csv.gz")


@pytest.fixture(scope="session")
def orcl_1d() -> pd.DataFrame:
    return read_shared("yahoo_ORCL_1d.csv.gz")


@pytest.fixture(scope="session")
def goog_1d() -> pd.DataFrame:
    return read_backtesting_sample("GOOG")
