"""One call in a fresh process forked from the zygote: rehearse, take a request, drop to the limits, answer, exit.

A forked child shares the zygote's memory copy-on-write, so the first write to each page (mostly reference
counts of library objects) costs a page fault and a copy: about two thousand of them, 3 µs each on this
kind of VM, on the first call through pandas and the policy. The child pays that *before* it takes a
request, by rehearsing a representative trusted call on a 10k-bar frame, in steps, once the zygote says no
call is running (so it never takes CPU from one) and only while no request is waiting (so it never delays
one). The request then meets warm pages. Rehearsal runs only alphabook's own code: the child holds
nothing from any creator's call, ever.

Then it reads one request from stdin, tells the zygote which request it took (so the next child may be
forked), points stdin/stdout/stderr at /dev/null (prints go nowhere, never into the reply), sets its
limits with setrlimit, runs the call through the policy and writes one reply. Nothing it does survives:
it exits with ``os._exit`` and the next call gets another child.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import select
import signal
import time
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from alphabook.sandbox import execution, frames, policy, protocol

__all__ = ["LIBC", "PROTOCOL_NAME", "die_with_parent", "prepare_rehearsal", "rehearsal", "rehearsal_frame",
           "rehearse", "run"]

PROTOCOL_NAME = "alphabook-sandbox/1"
MAX_OPEN_FILES = 32
RECEIVE_BYTES = 1 << 20  # requests up to this size (~20k bars of OHLCV) land in pre-faulted memory
PAGE = 4096
PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)
REHEARSAL_ROWS = 10_000  # a typical research window: the call meets heap pages already sized for it
IDLE_GRACE = 0.002  # seconds a fresh child waits for a request before it starts rehearsing
REHEARSAL_SOURCE = (
    "import numpy as np\nfrom alphabook.research.indicators import compute\n\n"
    "def indicator(df, length=14, **params):\n"
    "    rsi = compute('rsi', df, timeperiod=length)\n"
    "    trend = df['close'].rolling(length).mean() - df['close'].ewm(span=length).mean()\n"
    "    return {'rsi': rsi, 'trend': np.sign(trend), 'range': (df['high'] - df['low']).where(rsi > 50)}\n"
)
Reply = tuple[dict[str, Any], Any]
_rehearsal: tuple[dict[str, Any], bytes, str] | None = None  # an encoded request, built once in the zygote


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when ``parent`` dies (prctl PR_SET_PDEATHSIG); exit now if it already has."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(70)


def prepare_rehearsal() -> None:
    """Build the rehearsal request in the zygote (so children inherit it instead of building it)."""
    global _rehearsal
    import numpy as np
    import pandas as pd

    from alphabook.sandbox.limits import Limits

    rows = REHEARSAL_ROWS
    index = pd.date_range("2024-01-01", periods=rows, freq="5min", tz="UTC", name="time")
    index.freq = None
    close = 100.0 + np.cumsum(np.sin(np.arange(float(rows))))
    frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                          "volume": np.ones(rows)}, index=index)
    meta, buffers = frames.encode_frame(frame, Limits())
    shipped = execution.ship(policy.validate_source(REHEARSAL_SOURCE))
    _rehearsal = meta, b"".join(memoryview(buffer).cast("B") for buffer in buffers), shipped


def rehearsal_frame() -> Any:
    assert _rehearsal is not None
    return frames.decode_frame(_rehearsal[0], bytearray(_rehearsal[1]))


def rehearsal() -> Iterator[bytearray | None]:
    """The rehearsal call in small steps (each a millisecond or two), so it can stop between any two.

    Decode, unpack the compiled code, load, call, normalise and encode a representative trusted indicator
    on the rehearsal frame, then fault in a receive buffer, which is the last thing yielded.
    """
    assert _rehearsal is not None
    df = rehearsal_frame()
    yield None
    compiled = execution.unship(_rehearsal[2])
    yield None
    indicator = policy.load_indicator(compiled)
    yield None
    output = policy.call_indicator(indicator, df, {"length": 14})
    yield None
    frame = policy.normalise_output(output, df)
    yield None
    frames.encode_result(frame)
    yield None
    buffer = bytearray(RECEIVE_BYTES)
    buffer[::PAGE] = bytes(len(range(0, RECEIVE_BYTES, PAGE)))  # one write per page: faulted in now
    yield buffer


def rehearse() -> None:
    """The whole rehearsal at once (the zygote runs it to import and warm everything before forking)."""
    for _ in rehearsal():
        pass


def _rehearse_while_idle(go: int) -> bytearray | None:
    """Wait for the zygote's go (the previous call's child has exited), then rehearse until a request comes.

    Rehearsing while the previous call still runs would take CPU from it; rehearsing once a request is
    waiting would delay that request. Returns the pre-faulted receive buffer when the rehearsal completed.
    """
    ready, _, _ = select.select([go, 0], [], [])
    if 0 in ready or select.select([0], [], [], IDLE_GRACE)[0]:
        return None
    try:
        for step in rehearsal():
            if step is not None:
                return step
            if select.select([0], [], [], 0)[0]:
                return None
    except Exception:  # a rehearsal only warms pages; the real call reports its own errors
        return None
    return None


def run(taken: int, go: int, allow_probe: bool) -> NoReturn:
    """The child's whole life (never returns).

    ``taken`` is its pipe to the zygote: "w" once warm, "t<seq>" once it has read request ``seq`` (the
    zygote then forks the next child); ``go`` is the zygote's word that no call is running any more.
    """
    code = 0
    try:
        keep = sorted((taken, go))
        os.closerange(3, keep[0])  # the zygote's pipes and its other children's pidfds
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, os.sysconf("SC_OPEN_MAX"))
        buffer = _rehearse_while_idle(go)
        os.close(go)
        if buffer is not None:
            os.write(taken, b"w\n")
        message = protocol.read_message(0, into=buffer)
        if message is None:  # the host closed stdin: the pool is shutting down
            os._exit(0)
        header, body = message
        seq = header.get("seq")
        os.write(taken, b"t%d\n" % (seq if isinstance(seq, int) else -1))
        os.close(taken)
        reply_fd = os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the code's prints and stray writes go nowhere, never into the reply
            os.dup2(null, fd)
        os.close(null)
        try:
            reply, payload = _serve(header, body, allow_probe)
        except BaseException as exc:
            reply, payload = _failure(header, *execution.classify(exc)), ()
        try:
            protocol.write_message(reply_fd, reply, payload)
        except MemoryError:
            protocol.write_message(reply_fd, _failure(header, "memory", "Out of memory writing the output."))
    except BaseException:
        code = 70  # no reply possible: the host reports how the process ended
    os._exit(code)


def _failure(header: Mapping[str, Any], reason: str, detail: str) -> dict[str, Any]:
    return {"seq": header.get("seq"), "status": "failed", "reason": reason, "detail": protocol.truncate(detail)}


def _serve(header: Mapping[str, Any], body: memoryview, allow_probe: bool) -> Reply:
    if header.get("protocol") != PROTOCOL_NAME:
        return _failure(header, "protocol", "unknown protocol"), b""
    limits = header["limits"]
    started = time.perf_counter()
    if header["kind"] == "probe":
        if not allow_probe:
            return _failure(header, "protocol", "probes are disabled in this pool"), ()
        _apply_limits(limits)
        return {"seq": header["seq"], "status": "ok", "value": _probe(header["source"])}, ()
    df = frames.decode_frame(header["frame"], body)
    del body
    _apply_limits(limits)
    frame = execution.execute(execution.unship(header["code"]), df, header["params"], int(limits["max_output_bytes"]))
    names, payload = frames.encode_result(frame)
    size = sum(array.nbytes for array in payload)
    if size > limits["max_output_bytes"]:
        return _failure(header, "output", f"The output is {size} bytes; the limit is "
                        f"{limits['max_output_bytes']}."), ()
    return {"seq": header["seq"], "status": "ok", "columns": names, "run_s": time.perf_counter() - started}, payload


def _apply_limits(limits: Mapping[str, Any]) -> None:
    """setrlimit for this child only: the kernel enforces them even inside numpy's C loops.

    RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL a second later. RLIMIT_AS counts the address
    space already mapped by the preloaded libraries, so the code's budget is added to what is mapped now.
    RLIMIT_NPROC 0 forbids any new process or thread (the uid is unprivileged, so it applies); RLIMIT_FSIZE
    0 makes every write to a regular file fail; no core dumps, POSIX message queues or locked memory.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.floor(usage.ru_utime + usage.ru_stime) + int(limits["cpu_seconds"])
    with open("/proc/self/statm", "rb") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    memory = mapped + int(limits["memory_bytes"])
    for which, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (memory, memory)),
                         (resource.RLIMIT_NPROC, (0, 0)), (resource.RLIMIT_FSIZE, (0, 0)),
                         (resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES)),
                         (resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_MSGQUEUE, (0, 0)),
                         (resource.RLIMIT_MEMLOCK, (0, 0))):
        resource.setrlimit(which, value)


def _probe(source: str) -> Any:
    """Test-only: run trusted ``source`` without the policy and return its ``result`` variable as JSON."""
    namespace: dict[str, Any] = {"__name__": "__probe__"}
    exec(compile(source, "<probe>", "exec"), namespace)  # noqa: S102 (only reachable with --allow-probe)
    return json.loads(json.dumps(namespace.get("result"), default=repr))
