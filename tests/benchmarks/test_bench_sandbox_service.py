"""What splitting the sandbox into its own service costs (``make bench``), against the in-process pool (#10).

The anchor is the same warm two-slot bubblewrap pool used in the caller's process (#4's figure). The service
(``alphabook sandbox serve``, two slots, in its own process) is called through RemoteExecutor over loopback
HTTP: the difference is the HTTP round trip and one more encode/decode of the bars. Latency is the median of
calls arriving 30 ms apart; throughput keeps four callers busy for five seconds. Both feed docs/scaling.md's
sizing of the sandbox Deployment. Nothing here asserts on time.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.benchmarks.test_bench_sandbox import PARAMS, PAUSE, SOURCE, p50_ms, throughput
from tests.sandbox.service_process import sandbox_service
from tests.unit.research.conftest import read_shared

from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.remote import RemoteExecutor

CALLERS = 4


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return read_shared("binance_BTCUSDT_5m.csv.gz").iloc[-10_000:]


@pytest.fixture(scope="module")
def executors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BwrapPool, RemoteExecutor]]:
    home = Path(tmp_path_factory.mktemp("sandbox-service"))
    with BwrapPool(2) as local, sandbox_service(home, pool_size=2) as service, \
            RemoteExecutor(service.url, service.token, concurrency=CALLERS) as remote:
        yield local, remote


def test_the_service_against_the_in_process_pool(bars: pd.DataFrame,
                                                 executors: tuple[BwrapPool, RemoteExecutor]) -> None:
    local, remote = executors
    np.testing.assert_allclose(remote.run(SOURCE, bars, PARAMS).to_numpy(),
                               local.run(SOURCE, bars, PARAMS).to_numpy(), rtol=0, atol=1e-12, equal_nan=True)
    local_ms = p50_ms(lambda: local.run(SOURCE, bars, PARAMS), calls=100, pause=PAUSE)
    remote_ms = p50_ms(lambda: remote.run(SOURCE, bars, PARAMS), calls=100, pause=PAUSE)
    local_rate = throughput(lambda: local.run(SOURCE, bars, PARAMS), CALLERS)
    remote_rate = throughput(lambda: remote.run(SOURCE, bars, PARAMS), CALLERS)
    small = bars.iloc[-500:]
    small_local = statistics.median([p50_ms(lambda: local.run(SOURCE, small, PARAMS), calls=50, pause=PAUSE)])
    small_remote = statistics.median([p50_ms(lambda: remote.run(SOURCE, small, PARAMS), calls=50, pause=PAUSE)])
    rows = [
        ("RSI(14), 10k bars, in-process pool p50 (the anchor)", f"{local_ms:.2f} ms"),
        ("  through the executor service p50", f"{remote_ms:.2f} ms  (x{remote_ms / local_ms:.2f}, "
                                               f"+{remote_ms - local_ms:.2f} ms)"),
        ("RSI(14), 500 bars, in-process pool p50", f"{small_local:.2f} ms"),
        ("  through the executor service p50", f"{small_remote:.2f} ms  (x{small_remote / small_local:.2f}, "
                                               f"+{small_remote - small_local:.2f} ms)"),
        (f"throughput, 2 slots, {CALLERS} callers, in-process pool", f"{local_rate:.0f} calls/s"),
        ("  through the executor service", f"{remote_rate:.0f} calls/s  (x{remote_rate / local_rate:.2f})"),
    ]
    print("\n\n" + "=" * 100 + "\nsandbox executor service vs in-process pool (same machine, same run)\n" + "-" * 100)
    for what, figure in rows:
        print(f"{what:60s} {figure}")
    stats = remote.stats()
    assert stats.calls == stats.succeeded  # every benchmark call succeeded
