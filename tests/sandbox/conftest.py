"""Fixtures for the sandbox's OS-layer tests: real bubblewrap, real workers, no mocks of our own code.

Provides:

* ``bars`` — a deterministic 2,000-bar OHLCV frame (UTC 5-minute index named ``time``, float64
  ``open, high, low, close, volume``), shared by the session; tests must not change it.
* ``quick_limits`` — :class:`~alphabook.sandbox.limits.Limits` short enough to keep the suite fast
  (1 CPU second, 2 s wall clock, 256 MiB).
* ``pool`` — one two-slot :class:`~alphabook.sandbox.pool.BwrapPool` for the session, with the test-only
  probe enabled (``pool._probe(code)`` runs trusted snippets in a fresh sandboxed child, to observe the
  isolation from inside). Pass it to ``run_indicator(..., executor=pool)``.
* ``make_pool`` — builds a private pool (``make_pool(size=1, queue_size=1)``) for tests that count stats,
  fill the queue or break workers; every pool it made is closed after the test.
* ``service`` / ``remote`` — the executor service (``alphabook sandbox serve``) running in its own process for
  the session, and a :class:`~alphabook.sandbox.remote.RemoteExecutor` talking to it.

bubblewrap must be installed (``make`` installs it); without it these tests fail, as the sandbox must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphabook.sandbox.limits import Limits
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.remote import RemoteExecutor
from tests.sandbox.service_process import SandboxService, sandbox_service

BARS = 2_000


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    rng = np.random.default_rng(20240101)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, BARS)))
    spread = np.abs(rng.normal(0.0, 0.001, BARS)) * close
    index = pd.date_range("2024-01-01", periods=BARS, freq="5min", tz="UTC", name="time")
    frame = pd.DataFrame({
        "open": np.r_[close[0], close[:-1]], "high": close + spread, "low": close - spread, "close": close,
        "volume": rng.uniform(1.0, 100.0, BARS),
    }, index=index)
    frame.index.freq = None  # like data read from a file
    return frame


@pytest.fixture(scope="session")
def quick_limits() -> Limits:
    return Limits(cpu_seconds=1, wall_seconds=2.0, memory_bytes=256 << 20)


@pytest.fixture(scope="session")
def pool() -> Iterator[BwrapPool]:
    with BwrapPool(2, queue_size=16, _allow_probe=True) as shared:
        yield shared


@pytest.fixture
def make_pool() -> Iterator[Callable[..., BwrapPool]]:
    made: list[BwrapPool] = []

    def build(size: int = 1, **options: Any) -> BwrapPool:
        options.setdefault("_allow_probe", True)
        made.append(BwrapPool(size, **options))
        return made[-1]

    yield build
    for each in made:
        each.close()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxService]:
    """One running executor service (``alphabook sandbox serve``, two slots) for the session."""
    with sandbox_service(tmp_path_factory.mktemp("sandbox-service")) as running:
        yield running


@pytest.fixture(scope="session")
def remote(service: SandboxService) -> Iterator[RemoteExecutor]:
    """A client of ``service``, as the API and the workers hold one when ALPHABOOK_SANDBOX_URL is set."""
    with RemoteExecutor(service.url, service.token, concurrency=4) as client:
        yield client
