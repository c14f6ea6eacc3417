"""Fixtures for the contract suites (sockets allowed: the fakes are local HTTP servers).

Provides ``btc_5m_sample`` and ``eth_1h_sample`` (the first bars of the real Binance candles in
``../shared/data``, read by the research fixtures' reader), ``fake_binance`` (a :class:`FakeBinance`
serving those two series as ``BTC/USDT`` 5m and ``ETH/USDT`` 1h, 500 klines per page so that every
download crosses page boundaries) and ``fast_retry`` (a RetryPolicy whose backoff takes milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from alphabook.research.data import RetryPolicy
from tests.fakes.fake_exchange import FakeBinance
from tests.unit.research.conftest import read_shared

PAGE_LIMIT = 500


@pytest.fixture(scope="session")
def btc_5m_sample() -> pd.DataFrame:
    return read_shared("binance_BTCUSDT_5m.csv.gz").iloc[:2_400]  # 8⅓ days, 4.8 pages


@pytest.fixture(scope="session")
def eth_1h_sample() -> pd.DataFrame:
    return read_shared("binance_ETHUSDT_1h.csv.gz").iloc[:1_200]


@pytest.fixture
def fake_binance(btc_5m_sample: pd.DataFrame, eth_1h_sample: pd.DataFrame) -> Iterator[FakeBinance]:
    bars = {("BTC/USDT", "5m"): btc_5m_sample, ("ETH/USDT", "1h"): eth_1h_sample}
    with FakeBinance(bars, page_limit=PAGE_LIMIT) as fake:
        yield fake


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=2.0)
