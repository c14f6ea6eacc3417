"""The sandbox executor service (``alphabook sandbox serve``) and its client, over real HTTP, with real workers.

Split deployments run creators' code in a service of its own; callers must see exactly what a local pool
gives them: the same outputs, the same limits and errors, cancellation, back-pressure, and a clear message
when the service is missing or refuses them. The service itself trusts no caller.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import CancelledError
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from alphabook.core.config import Settings
from alphabook.sandbox.errors import (
    IndicatorFailed,
    LimitExceeded,
    SandboxBusy,
    SandboxRejected,
    SandboxUnavailable,
)
from alphabook.sandbox.frames import encode_frame
from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.protocol import pack
from alphabook.sandbox.remote import CALLS_PATH, FRAME_TYPE, RemoteExecutor, wire_limits
from alphabook.sandbox.service import SandboxConfig, build_executor, sandbox_status
from tests.ports import free_port
from tests.sandbox.service_process import SandboxService, sandbox_service
from tests.sandbox.test_pool import CPU_LOOP, MEMORY_BOMB, RAISES, SMA


def _framed(source: str, df: pd.DataFrame, limits: Limits = DEFAULT_LIMITS) -> bytes:
    meta, body = encode_frame(df, limits)
    return b"".join(pack({"call": "raw", "source": source, "params": {}, "limits": wire_limits(limits),
                          "frame": meta}, body))


def test_outputs_match_a_local_run(remote: RemoteExecutor, bars: pd.DataFrame) -> None:
    output = remote.run(SMA, bars, {"length": 20})
    assert output.index.equals(bars.index) and list(output.columns) == ["close"]
    np.testing.assert_allclose(output["close"], bars["close"].rolling(20).mean(), rtol=0, atol=1e-9,
                               equal_nan=True)
    tickets = [remote.submit(SMA, bars, {"length": length}) for length in (5, 10, 15, 30)]
    for length, ticket in zip((5, 10, 15, 30), tickets, strict=True):
        np.testing.assert_allclose(remote.result(ticket, timeout=30)["close"],
                                   bars["close"].rolling(length).mean(), equal_nan=True)
        assert ticket.timings.run_s > 0


def test_the_services_limits_and_errors_reach_the_caller(remote: RemoteExecutor, bars: pd.DataFrame,
                                                         quick_limits: Limits) -> None:
    with pytest.raises(LimitExceeded) as raised:
        remote.run(CPU_LOOP, bars, {}, quick_limits)
    assert raised.value.kind == "cpu"
    with pytest.raises(LimitExceeded) as raised:
        remote.run(MEMORY_BOMB, bars, {}, quick_limits)
    assert raised.value.kind == "memory"
    with pytest.raises(IndicatorFailed) as failed:
        remote.run(RAISES, bars, {}, quick_limits)
    assert "undefined_name" in failed.value.detail
    with pytest.raises(SandboxRejected):  # refused here, before any round trip
        remote.submit("import os\ndef indicator(df):\n    return os.getcwd()\n", bars, {})
    stats = remote.stats()
    assert stats.failures["cpu"] >= 1 and stats.failures["memory"] >= 1 and stats.failures["error"] >= 1


def test_the_service_trusts_no_caller(service: SandboxService, bars: pd.DataFrame) -> None:
    auth = {"authorization": f"Bearer {service.token}", "content-type": FRAME_TYPE}
    # a caller that skips the client's validation is refused by the service's own
    reply = httpx.post(service.url + CALLS_PATH, headers=auth, timeout=30,
                       content=_framed("import os\ndef indicator(df):\n    return os.getcwd()\n", bars))
    assert reply.status_code == 422 and reply.json()["type"].endswith("/sandbox-rejected")
    reply = httpx.post(service.url + CALLS_PATH, headers=auth, content=b"ABX1 not a frame", timeout=30)
    assert reply.status_code == 422 and "wire format" in reply.json()["detail"]
    reply = httpx.post(service.url + CALLS_PATH, content=_framed(SMA, bars), timeout=30,
                       headers={"content-type": FRAME_TYPE})
    assert reply.status_code == 401 and reply.headers["content-type"] == "application/problem+json"
    assert "ALPHABOOK_SANDBOX_SERVICE_TOKEN" in reply.json()["detail"]
    with RemoteExecutor(service.url, "a-wrong-token") as stranger, pytest.raises(SandboxUnavailable) as refused:
        stranger.run(SMA, bars, {})
    assert "must match" in refused.value.detail
    health = httpx.get(service.url + "/v1/health", timeout=10).json()  # probes need no token
    assert health["sandbox"]["isolated"] is True and health["sandbox"]["pool"]["workers"] == 2


def test_cancelling_a_running_call_stops_it_at_the_service(remote: RemoteExecutor, service: SandboxService,
                                                           bars: pd.DataFrame) -> None:
    ticket = remote.submit(CPU_LOOP, bars, {}, Limits(cpu_seconds=60, wall_seconds=60))
    deadline = time.monotonic() + 20
    while httpx.get(service.url + "/v1/health", timeout=5).json()["sandbox"]["pool"]["in_flight"] == 0:
        assert time.monotonic() < deadline, "the call never started at the service"
        time.sleep(0.05)
    assert remote.cancel(ticket)
    started = time.monotonic()
    with pytest.raises(CancelledError):
        remote.result(ticket, timeout=15)
    assert time.monotonic() - started < 10  # stopped, not run to its 60 s limit
    assert len(remote.run(SMA, bars, {})) == len(bars)  # and the service goes on serving
    assert not remote.cancel(ticket)


def test_a_full_service_says_busy_with_a_retry_estimate(tmp_path: Path, bars: pd.DataFrame) -> None:
    with sandbox_service(tmp_path, pool_size=1, queue_size=1) as small, \
            RemoteExecutor(small.url, small.token, concurrency=4) as client:
        long = Limits(cpu_seconds=2, wall_seconds=5)
        running = client.submit(CPU_LOOP, bars, {}, long)
        deadline = time.monotonic() + 20
        while httpx.get(small.url + "/v1/health", timeout=5).json()["sandbox"]["pool"]["in_flight"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        waiting = client.submit(CPU_LOOP, bars, {}, long)
        while httpx.get(small.url + "/v1/health", timeout=5).json()["sandbox"]["pool"]["queue_depth"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(SandboxBusy) as busy:
            client.run(SMA, bars, {})
        assert busy.value.retry_after >= 1 and busy.value.status == 503
        for ticket in (running, waiting):
            with pytest.raises(LimitExceeded):
                client.result(ticket, timeout=30)
        assert client.stats().busy == 1
        assert len(client.run(SMA, bars, {})) == len(bars)


def test_a_missing_service_is_an_operators_problem_said_plainly(bars: pd.DataFrame) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = SandboxConfig.from_settings(Settings(sandbox_url=url, sandbox_service_token="x"))
    with build_executor(config) as client:
        assert isinstance(client, RemoteExecutor)
        with pytest.raises(SandboxUnavailable) as unreachable:
            client.run(SMA, bars, {})
    assert "cannot be reached" in unreachable.value.detail and "ALPHABOOK_SANDBOX_URL" in unreachable.value.detail
    status = sandbox_status(config)
    assert status["mode"] == "remote" and status["available"] is False and url in status["reason"]


def test_status_through_a_configured_service(service: SandboxService, remote: RemoteExecutor) -> None:
    config = SandboxConfig.from_settings(Settings(sandbox_url=service.url, sandbox_service_token=service.token))
    status = sandbox_status(config, remote)
    assert status["mode"] == "remote" and status["available"] and status["isolated"]
    assert status["service"]["pool"]["workers"] == 2 and status["pool"]["mode"] == "remote"


def test_the_service_will_not_listen_publicly_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "ALPHABOOK_HOME": str(tmp_path)}
    env.pop("ALPHABOOK_SANDBOX_SERVICE_TOKEN", None)
    done = subprocess.run([str(Path(sys.executable).with_name("alphabook")), "sandbox", "serve", "--host",
                           "0.0.0.0", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "ALPHABOOK_SANDBOX_SERVICE_TOKEN" in done.stdout
