"""How a call ended, in the terms callers and the stats use: a result, or the error that says who must act.

The slot hands over a :class:`~alphabook.sandbox.zygote.CallOutcome`: the worker's reply (a status header,
and the output as raw float64 columns) or what the zygote saw of the child's end (its signal, its CPU time, whether
the host's watchdog had it killed). This module turns that into the ticket's result or exception and
counts it: a reply is believed only for its status, never for its data, which
:func:`alphabook.sandbox.frames.decode_result` checks and rebuilds on the caller's index.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import CancelledError
from typing import Any, cast

from alphabook.sandbox.errors import (
    BadResult,
    FailureReason,
    IndicatorFailed,
    LimitExceeded,
    SandboxRejected,
    SandboxUnavailable,
    WorkerCrashed,
)
from alphabook.sandbox.frames import OutputTooLarge, decode_result
from alphabook.sandbox.protocol import truncate
from alphabook.sandbox.slot import Job
from alphabook.sandbox.stats import StatsRecorder
from alphabook.sandbox.zygote import CallOutcome

__all__ = ["conclude", "error_for", "reason_of", "settle"]


def settle(job: Job, outcome: CallOutcome, seq: int, started: float, stats: StatsRecorder, *, closed: bool) -> None:
    """Set the ticket's result or exception from ``outcome`` and count it (a closed pool's calls are not)."""
    ticket = job.ticket
    value: Any = None
    error: BaseException | None = None
    try:
        value = conclude(job, outcome, seq, closed=closed)
    except BaseException as exc:
        error = exc
    ticket.timings.run_s = time.perf_counter() - started
    latency = time.perf_counter() - ticket.submitted_at
    if ticket.cancel_requested or isinstance(error, CancelledError):
        stats.cancelled()
        ticket.future.set_exception(CancelledError())
    elif error is None:
        stats.succeeded(latency, ticket.timings.run_s)
        ticket.future.set_result(value)
    else:
        if not isinstance(error, SandboxUnavailable):
            stats.failed(reason_of(error), latency, ticket.timings.run_s)
        ticket.future.set_exception(error)


def conclude(job: Job, outcome: CallOutcome, seq: int, *, closed: bool) -> Any:
    """The call's output (a probe's value), or raise what went wrong; marks ``outcome.broken`` on a desync."""
    limits = job.ticket.limits
    if outcome.reply is not None:
        header, body = outcome.reply
        if header.get("seq") != seq or header.get("reason") == "protocol":
            outcome.broken = f"out-of-step reply {header.get('seq')!r} (expected {seq})"
            raise WorkerCrashed("The sandbox worker lost track of the call; it was restarted.")
        if header.get("status") == "ok":
            if job.index is None:
                return header.get("value")
            return decode_result(header.get("columns"), body, job.index, limits.max_output_bytes)
        raise error_for(str(header.get("reason")), truncate(header.get("detail") or "The indicator failed."))
    if outcome.too_large is not None:
        raise outcome.too_large
    if outcome.cancelled:
        if closed and not job.ticket.cancel_requested:
            raise SandboxUnavailable("The sandbox pool was closed.")
        raise CancelledError()
    if outcome.timed_out:
        raise LimitExceeded("timeout", f"The indicator ran longer than {limits.wall_seconds:g} s (wall clock) "
                            "and was stopped.")
    if outcome.exit is not None:
        ended = outcome.exit
        signum, cpu = ended.get("signal"), float(ended.get("cpu_s") or 0.0)
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu >= limits.cpu_seconds):
            raise LimitExceeded("cpu", f"The indicator used more than {limits.cpu_seconds} s of CPU time "
                                "and was stopped.")
        how = f"signal {signal.Signals(signum).name}" if signum else f"exit status {ended.get('code')}"
        raise WorkerCrashed(f"The sandbox worker died ({how}) without an answer.")
    raise WorkerCrashed(f"The sandbox worker was lost ({outcome.broken}); it was restarted.")


def error_for(reason: str, detail: str) -> Exception:
    """The exception for a failure ``reason`` the worker reported (an unknown reason is the code's error)."""
    if reason in ("timeout", "cpu", "memory", "processes"):
        return LimitExceeded(cast(Any, reason), detail)
    if reason == "output":
        return OutputTooLarge(detail)
    errors: dict[str, type[Exception]] = {"rejected": SandboxRejected, "result": BadResult, "crash": WorkerCrashed}
    return errors.get(reason, IndicatorFailed)(detail)


def reason_of(error: BaseException) -> FailureReason:
    """The stats' failure reason for an error a call ended with."""
    if isinstance(error, OutputTooLarge):
        return "output"
    if isinstance(error, LimitExceeded):
        return error.kind
    if isinstance(error, SandboxRejected):
        return "rejected"
    if isinstance(error, IndicatorFailed):
        return "error"
    if isinstance(error, BadResult):
        return "result"
    return "crash"
