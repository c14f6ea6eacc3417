"""The OS layer of the sandbox on the real bubblewrap pool: isolation seen from inside, limits, results, the pool.

Isolation facts are observed with the test-only probe (trusted snippets run in a fresh sandboxed child
without the policy, so they can *try* what creator code never gets to); limits and results go through
the real untrusted path (``submit``/``run_indicator``) wherever the policy lets the snippet through.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphabook.core.config import PROJECT_ROOT, Settings
from alphabook.core.errors import ConfigurationError, InvalidInput
from alphabook.research.indicators import compute
from alphabook.sandbox.bwrap import ENVIRONMENT, UID_BASE
from alphabook.sandbox.errors import (
    BadResult,
    IndicatorFailed,
    LimitExceeded,
    SandboxBusy,
    SandboxRejected,
    SandboxUnavailable,
    WorkerCrashed,
)
from alphabook.sandbox.frames import OutputTooLarge, decode_frame, decode_result, encode_frame
from alphabook.sandbox.inprocess import InProcessExecutor
from alphabook.sandbox.limits import Limits
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.service import SandboxConfig, build_executor, run_indicator, sandbox_status
from alphabook.sandbox.unsandboxed import LimitsOnlyPool

SMA = "def indicator(df, length=14):\n    return df['close'].rolling(length).mean()\n"
RSI = "from alphabook.research.indicators import compute\n\ndef indicator(df, timeperiod=14):\n" \
      "    return compute('rsi', df, timeperiod=timeperiod)\n"
CPU_LOOP = "def indicator(df):\n    x = 0\n    while True:\n        x += 1\n"
MEMORY_BOMB = "def indicator(df):\n    big = [0] * (10 ** 10)\n    return df['close'] * len(big)\n"
RAISES = "def indicator(df):\n    return df['close'] / undefined_name\n"


def _pids_of(uids: range) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            uid = int(status.split("Uid:")[1].split()[0])
            if uid in uids and "zombie" not in status:  # this machine's init reaps orphans lazily
                found.append(int(entry.name))
    return found


# --- isolation, observed from inside a worker ----------------------------------------------------------

def test_worker_runs_as_an_unprivileged_uid(pool: BwrapPool) -> None:
    uid, euid, gid, groups = pool._probe("import os\nresult = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]")
    assert UID_BASE <= uid < UID_BASE + pool.size
    assert euid == uid and gid == uid
    assert groups in ([], [gid])


def test_no_network(pool: BwrapPool) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        outcome = pool._probe(f"""
import socket
outcome = {{"interfaces": [name for _, name in socket.if_nameindex()]}}
for host, port in (("127.0.0.1", {port}), ("1.1.1.1", 80)):
    try:
        socket.create_connection((host, port), timeout=1).close()
        outcome[host] = "connected"
    except OSError as exc:
        outcome[host] = type(exc).__name__
result = outcome
""")
    finally:
        listener.close()
    assert outcome["interfaces"] == ["lo"]
    assert outcome["127.0.0.1"] == "ConnectionRefusedError"  # its own loopback, not the host's
    assert outcome["1.1.1.1"] != "connected"


def test_host_folders_are_absent(pool: BwrapPool) -> None:
    settings = Settings()
    hidden = ["/home", "/root", str(settings.home), str(PROJECT_ROOT.parent / "shared"), "/etc/shadow",
              "/etc/passwd", "/var", "/run", str(PROJECT_ROOT / "tests"), str(PROJECT_ROOT / ".git")]
    seen = pool._probe(f"import os\nresult = {{p: os.path.exists(p) for p in {hidden!r}}}\n"
                       "result['/etc'] = sorted(os.listdir('/etc'))")
    assert seen.pop("/etc") == ["ld.so.cache"]
    assert not any(seen.values()), seen


def test_environment_holds_no_secrets(make_pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHABOOK_GITHUB_CLIENT_SECRET", "do-not-leak")
    monkeypatch.setenv("JPY_PARENT_PID", "1")
    environment = make_pool(1)._probe("import os\nresult = dict(os.environ)")
    environment.pop("PWD", None)
    assert environment == ENVIRONMENT


def test_tmp_is_private_and_empty_and_nothing_is_writable(pool: BwrapPool) -> None:
    package = PROJECT_ROOT / "backend" / "alphabook" / "x"
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="host-only-"):
        seen = pool._probe(f"""
import os, resource
outcome = {{"tmp": os.listdir("/tmp"), "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)}}
for path in ("/tmp/x", "/dev/shm/x", "/x", {str(package)!r}):
    try:
        open(path, "w").close()
        outcome[path] = "written"
    except OSError as exc:
        outcome[path] = exc.strerror
result = outcome
""")
    assert seen.pop("tmp") == []
    assert seen.pop("fsize") == [0, 0]
    assert set(seen.values()) == {"Read-only file system"}, seen


def test_own_pid_namespace_and_no_capabilities(pool: BwrapPool) -> None:
    seen = pool._probe("""
import ctypes, os
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
libc = ctypes.CDLL(None, use_errno=True)
result = {"pid": os.getpid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
          "cap": status["CapEff"].strip(), "nnp": status["NoNewPrivs"].strip(),
          "userns": libc.unshare(0x10000000), "zygote_mem": os.access(f"/proc/{os.getppid()}/mem", os.R_OK),
          "hostname": os.uname().nodename}
try:
    open(f"/proc/{os.getppid()}/environ").read()
    result["zygote_environ"] = "read"
except OSError as exc:
    result["zygote_environ"] = type(exc).__name__
""")
    # bwrap's init, the zygote, this child and (racing with it) the next child the zygote forks ahead: nothing else
    assert 1 in seen["pids"] and len(seen["pids"]) <= 4
    assert seen["pid"] in seen["pids"] and os.getpid() not in seen["pids"]
    assert seen["cap"] == "0000000000000000" and seen["nnp"] == "1"
    assert seen["userns"] == -1  # --disable-userns: no nested user namespace to regain capabilities
    assert seen["zygote_environ"] == "PermissionError" and not seen["zygote_mem"]  # the zygote is not dumpable
    assert seen["hostname"] == "sandbox"


def test_no_state_survives_between_calls(pool: BwrapPool) -> None:
    leave = "import numpy, builtins, os\nnumpy.left_behind = 1\nbuiltins.left_behind = 1\nresult = os.getpid()"
    look = ("import numpy, builtins, os\n"
            "result = [os.getpid(), hasattr(numpy, 'left_behind'), hasattr(builtins, 'left_behind')]")
    first = pool._probe(leave)
    for _ in range(4):  # whichever slot serves it
        pid, numpy_kept, builtins_kept = pool._probe(look)
        assert not numpy_kept and not builtins_kept
        assert pid != first


# --- limits -----------------------------------------------------------------------------------------

def test_cpu_loop_is_stopped_by_rlimit_cpu(pool: BwrapPool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as raised:
        run_indicator(CPU_LOOP, bars, {}, quick_limits, executor=pool)
    assert raised.value.kind == "cpu"
    assert time.monotonic() - started < quick_limits.wall_seconds


def test_cpu_inside_numpy_is_stopped_too(pool: BwrapPool, quick_limits: Limits) -> None:
    burn = "import numpy as np\nresult = float(np.linalg.eigvals(np.random.rand(2500, 2500)).real.sum())"  # ~7 s in C
    with pytest.raises(LimitExceeded) as raised:
        pool._probe(burn, Limits(cpu_seconds=1, wall_seconds=10, memory_bytes=512 << 20))
    assert raised.value.kind == "cpu"


def test_sleeping_is_stopped_by_the_watchdog(pool: BwrapPool, quick_limits: Limits) -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as raised:
        pool._probe("import time\ntime.sleep(60)", quick_limits)
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < quick_limits.wall_seconds + 1.5


def test_memory_bomb_hits_rlimit_as(pool: BwrapPool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    with pytest.raises(LimitExceeded) as raised:
        run_indicator(MEMORY_BOMB, bars, {}, quick_limits, executor=pool)
    assert raised.value.kind == "memory"
    with pytest.raises(LimitExceeded) as raised:
        pool._probe("import numpy\nresult = numpy.ones(10**9).sum()", quick_limits)
    assert raised.value.kind == "memory"


@pytest.mark.parametrize("start", ["import os\nos.fork()",
                                   "import threading\nthreading.Thread(target=print).start()"])
def test_no_new_processes_or_threads(pool: BwrapPool, quick_limits: Limits, start: str) -> None:
    with pytest.raises(LimitExceeded) as raised:
        pool._probe(start, quick_limits)
    assert raised.value.kind == "processes"


# --- results ----------------------------------------------------------------------------------------

def test_result_is_aligned_to_the_callers_index(pool: BwrapPool, bars: pd.DataFrame) -> None:
    output = run_indicator(SMA, bars, {"length": 20}, executor=pool)
    expected = bars["close"].rolling(20).mean()
    assert output.index is bars.index or output.index.equals(bars.index)
    assert list(output.columns) == ["close"] and output["close"].dtype == np.float64
    np.testing.assert_allclose(output["close"], expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize(("body", "what"), [
    ("return df['close'].iloc[5:]", "misaligned"),
    ("return df['close'].astype(str)", "strings"),
    ("return 42", "not a Series"),
    ("return {}", "no columns"),
])
def test_unusable_results_are_bad_results(pool: BwrapPool, bars: pd.DataFrame, body: str, what: str) -> None:
    with pytest.raises((BadResult, IndicatorFailed)):  # the policy may refuse the conversion itself
        run_indicator(f"def indicator(df):\n    {body}\n", bars, {}, executor=pool)


def test_output_over_the_limit_is_refused(pool: BwrapPool, bars: pd.DataFrame) -> None:
    small = Limits(max_output_bytes=len(bars) * 8 - 1)
    with pytest.raises(OutputTooLarge) as raised:
        run_indicator(SMA, bars, {}, small, executor=pool)
    assert isinstance(raised.value, BadResult) and raised.value.kind == "output"


def _floats(*columns: list[float]) -> bytearray:
    return bytearray(np.array(columns, dtype="<f8").tobytes())


@pytest.mark.parametrize(("names", "body"), [
    ([], _floats()),  # no output
    (["x"], _floats([1.0, 2.0])),  # wrong length
    (["x"], bytearray(b"\0" * 23)),  # not whole float64 values
    (["x", "y"], _floats([1.0, 2.0, 3.0])),  # fewer values than names
    (["x", "x"], _floats([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])),  # duplicate names
    (["bad\nname"], _floats([1.0, 2.0, 3.0])),
    ([""], _floats([1.0, 2.0, 3.0])),
    ([7], _floats([1.0, 2.0, 3.0])),  # a name that is not text
    ("x", _floats([1.0, 2.0, 3.0])),  # names that are not a list
    (["x"], _floats([1.0, np.inf, 3.0])),
    ([f"c{i}" for i in range(257)], _floats(*[[1.0, 2.0, 3.0]] * 257)),  # too many columns
])
def test_host_refuses_whatever_a_worker_could_send(names: object, body: bytearray) -> None:
    with pytest.raises(BadResult):
        decode_result(names, body, pd.RangeIndex(3), 1 << 20)


def test_host_refuses_results_over_its_byte_limit() -> None:
    with pytest.raises(OutputTooLarge):
        decode_result(["x"], _floats([1.0, 2.0, 3.0]), pd.RangeIndex(3), 16)


def test_host_rebuilds_results_on_its_own_index() -> None:
    index = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    output = decode_result(["x", "y"], _floats([1.0, 2.0, 3.0], [1.0, np.nan, 0.0]), index, 1 << 20)
    assert output.index is index and list(output.columns) == ["x", "y"]
    assert list(output.dtypes) == [np.float64, np.float64]
    np.testing.assert_array_equal(output["y"].to_numpy(), [1.0, np.nan, 0.0])


@pytest.mark.parametrize("index", [
    pd.date_range("2024-01-01", periods=50, freq="5min", tz="UTC", name="time"),
    pd.date_range("2024-03-30", periods=50, freq="h", tz="Europe/Paris"),
    pd.date_range("2024-03-30", periods=50, freq="D", unit="s"),
    pd.DatetimeIndex(pd.date_range("2024-01-01", periods=50, freq="min", tz="UTC", unit="ns"), freq=None),
    pd.RangeIndex(10, 110, 2),
    pd.Index(np.arange(50.0) * 1.5, name="x"),
    pd.Index(np.arange(50, dtype=np.uint32), name=7),
])
def test_frames_cross_the_pipe_unchanged(index: pd.Index) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"close": rng.random(len(index)), "flag": rng.random(len(index)) > 0.5,
                       "n": np.arange(len(index)), "small": np.arange(len(index), dtype=np.int16),
                       "when": pd.date_range("2020-01-01", periods=len(index), freq="D", tz="Asia/Tokyo")},
                      index=index)
    meta, buffers = encode_frame(df, Limits())
    body = bytearray(b"".join(memoryview(buffer).cast("B") for buffer in buffers))
    assert all(column["bytes"] % 8 == 0 for column in meta["columns"])  # every buffer stays aligned
    back = decode_frame(meta, body)
    pd.testing.assert_frame_equal(back, df, check_freq=True)


def test_unsendable_frames_and_params_are_invalid_input(pool: BwrapPool, bars: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput):
        pool.submit(SMA, bars.assign(symbol="BTC"), {})
    with pytest.raises(InvalidInput):
        pool.submit(SMA, bars, {"length": object()})
    with pytest.raises(InvalidInput):
        pool.submit(SMA, bars, {}, Limits(max_input_rows=10))


# --- the pool ---------------------------------------------------------------------------------------

def test_full_queue_says_busy_with_a_retry_estimate(make_pool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    small = make_pool(1, queue_size=1)
    running = small.submit(CPU_LOOP, bars, {}, quick_limits)
    deadline = time.monotonic() + 5
    while small.stats().in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = small.submit(SMA, bars, {}, quick_limits)
    with pytest.raises(SandboxBusy) as raised:
        small.submit(SMA, bars, {}, quick_limits)
    assert raised.value.retry_after >= 1 and raised.value.status == 503
    with pytest.raises(LimitExceeded):
        small.result(running)
    assert len(small.result(waiting)) == len(bars)
    assert small.stats().busy == 1


def test_cancel_queued_and_running_calls(make_pool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    small = make_pool(1, queue_size=2)
    running = small.submit(CPU_LOOP, bars, {}, Limits(cpu_seconds=30, wall_seconds=30))
    queued = small.submit(SMA, bars, {}, quick_limits)
    while small.stats().in_flight == 0:
        time.sleep(0.01)
    assert small.cancel(queued) and small.cancel(running)
    started = time.monotonic()
    for ticket in (queued, running):
        with pytest.raises(CancelledError):
            small.result(ticket, timeout=5)
    assert time.monotonic() - started < 2
    assert len(small.run(SMA, bars, {})) == len(bars)
    assert not small.cancel(running) or small.stats().cancelled == 2


def test_crashes_are_reported_and_the_pool_recovers(make_pool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    small = make_pool(1)
    with pytest.raises(WorkerCrashed):
        small._probe("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", quick_limits)
    assert small.stats().restarts == 0  # only the child died; the zygote forked the next one
    with pytest.raises(WorkerCrashed):
        small._probe("import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(5)", quick_limits)  # the zygote
    assert len(small.run(SMA, bars, {})) == len(bars)  # queued while the slot restarted
    stats = small.stats()
    assert stats.restarts == 1 and stats.workers_alive == 1
    assert stats.failures["crash"] == 2 and stats.succeeded == 1


def test_stats_count_every_outcome(make_pool, bars: pd.DataFrame, quick_limits: Limits) -> None:
    counted = make_pool(2)
    for _ in range(3):
        counted.run(SMA, bars, {}, quick_limits)
    with pytest.raises(SandboxRejected):
        counted.run("import os\ndef indicator(df):\n    return os.system('id')\n", bars, {}, quick_limits)
    with pytest.raises(IndicatorFailed):
        counted.run(RAISES, bars, {}, quick_limits)
    with pytest.raises(LimitExceeded):
        counted.run(CPU_LOOP, bars, {}, quick_limits)
    stats = counted.stats()
    assert stats.calls == 6 and stats.succeeded == 3
    assert stats.calls == stats.succeeded + sum(stats.failures.values())
    assert stats.failures["rejected"] == 1 and stats.failures["error"] == 1 and stats.failures["cpu"] == 1
    assert 0 < stats.latency.p50 <= stats.latency.p95 <= stats.latency.p99
    assert stats.workers == stats.workers_alive == 2 and stats.queue_depth == 0 and stats.in_flight == 0


def test_closing_stops_every_sandbox_process(make_pool, bars: pd.DataFrame) -> None:
    closing = make_pool(1, uid_base=UID_BASE + 100)
    closing.run(SMA, bars, {})
    assert _pids_of(range(UID_BASE + 100, UID_BASE + 101))
    closing.close()
    time.sleep(0.2)
    assert not _pids_of(range(UID_BASE + 100, UID_BASE + 101))
    with pytest.raises(SandboxUnavailable):
        closing.submit(SMA, bars, {})


# --- when bubblewrap cannot run ----------------------------------------------------------------------

def test_missing_bubblewrap_refuses_untrusted_code(bars: pd.DataFrame) -> None:
    with pytest.raises(SandboxUnavailable) as raised:
        BwrapPool(1, bwrap="/nonexistent/bwrap")
    assert "not found" in raised.value.detail and "unsandboxed-limits-only" in raised.value.detail
    config = SandboxConfig.from_settings(Settings(sandbox_bwrap_path="/nonexistent/bwrap"))
    with pytest.raises(SandboxUnavailable):
        build_executor(config, size=1)
    status = sandbox_status(config)
    assert status["available"] is False and status["isolated"] is False and "not found" in status["reason"]


def test_weaker_mode_is_explicit_and_announced(bars: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    config = SandboxConfig.from_settings(Settings(sandbox_mode="unsandboxed-limits-only",
                                                  sandbox_bwrap_path="/nonexistent/bwrap"))
    with build_executor(config, size=1, _allow_probe=True) as weaker:
        assert isinstance(weaker, LimitsOnlyPool)
        assert not weaker.capabilities.isolated and weaker.capabilities.os_limits
        assert "WITHOUT bubblewrap" in caplog.text
        np.testing.assert_allclose(weaker.run(SMA, bars, {})["close"], bars["close"].rolling(14).mean(),
                                   equal_nan=True)
        with pytest.raises(LimitExceeded):
            weaker.run(CPU_LOOP, bars, {}, Limits(cpu_seconds=1, wall_seconds=3))
        # here /tmp is the host's and writable, so RLIMIT_FSIZE=0 is what stops the write
        path = Path(tempfile.gettempdir()) / f"alphabook-fsize-{os.getpid()}"
        try:
            seen = weaker._probe(f"import os\nresult = os.getuid()\ntry:\n    with open({str(path)!r}, 'w') as f:\n"
                                 "        f.write('x')\nexcept OSError as exc:\n    result = [result, exc.strerror]")
            assert path.stat().st_size == 0
        finally:
            path.unlink(missing_ok=True)
        assert seen == [UID_BASE, "File too large"]
    status = sandbox_status(config)
    assert status["available"] is True and status["isolated"] is False and "WITHOUT" in status["warning"]


def test_status_of_a_working_machine() -> None:
    status = sandbox_status(SandboxConfig())
    assert status["available"] and status["isolated"] and status["reason"] is None
    assert status["bwrap"].startswith("bubblewrap")


# --- the Executor contract, shared by every implementation ---------------------------------------------

@pytest.fixture(params=["bwrap", "in-process", "remote"])
def executor(request: pytest.FixtureRequest, pool: BwrapPool):
    if request.param == "bwrap":
        return pool
    if request.param == "remote":
        return request.getfixturevalue("remote")
    return InProcessExecutor(trusted=True)


def test_executor_contract(executor, bars: pd.DataFrame, quick_limits: Limits) -> None:
    ticket = executor.submit(RSI, bars, {"timeperiod": 10}, quick_limits)
    output = executor.result(ticket, timeout=10)
    expected = compute("rsi", bars, timeperiod=10)
    np.testing.assert_allclose(output.iloc[:, 0], np.asarray(expected).reshape(len(bars), -1)[:, 0],
                               rtol=0, atol=1e-12, equal_nan=True)
    assert ticket.timings.validation_s > 0 and ticket.timings.run_s > 0 and ticket.done
    assert not executor.cancel(ticket)
    with pytest.raises(SandboxRejected):
        executor.submit("import os\ndef indicator(df):\n    return os.getcwd()\n", bars, {}, quick_limits)
    with pytest.raises(IndicatorFailed):
        executor.run(RAISES, bars, {}, quick_limits)
    stats = executor.stats()
    assert stats.calls == stats.succeeded + sum(stats.failures.values())
    assert isinstance(executor.capabilities.isolated, bool)
    assert executor.capabilities.trusted_only != executor.capabilities.isolated


def test_in_process_executor_refuses_untrusted_use() -> None:
    with pytest.raises(ConfigurationError):
        InProcessExecutor()
    assert InProcessExecutor.capabilities.trusted_only and not InProcessExecutor.capabilities.isolated


def test_default_pool_starts_lazily_and_closes(bars: pd.DataFrame) -> None:
    from alphabook.sandbox import service

    service.close_default_executor()  # another test of this process may have started it
    try:
        output = run_indicator(SMA, bars, {"length": 5})
        assert sandbox_status()["pool"]["calls"] == 1
    finally:
        service.close_default_executor()
    np.testing.assert_allclose(output["close"], bars["close"].rolling(5).mean(), equal_nan=True)
    assert sandbox_status()["pool"] is None

