"""InProcessExecutor: runs alphabook's own indicator library code in the calling process, through the policy.

No process, no namespaces, no OS limits, no watchdog: a call costs what the indicator costs, which is
right for the official library (written and reviewed by us) and wrong for anything a creator wrote. The
class therefore refuses to be built without ``trusted=True``, and its capabilities say
``trusted_only=True, isolated=False``; :func:`alphabook.sandbox.service.run_indicator` never picks it on
its own. It still validates with the same policy and normalises with the same contract as the pool, so
a listing that passes here behaves the same in the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from alphabook.core.errors import ConfigurationError
from alphabook.sandbox import execution
from alphabook.sandbox.base import Executor, ExecutorCapabilities, Ticket
from alphabook.sandbox.errors import SandboxRejected, SandboxUnavailable
from alphabook.sandbox.frames import check_frame, check_params
from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.stats import ExecutorStats, StatsRecorder

__all__ = ["InProcessExecutor"]


class InProcessExecutor(Executor):
    """Trusted code only: ``InProcessExecutor(trusted=True)``. ``submit`` runs the call before returning."""

    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities(
        isolated=False, trusted_only=True, os_limits=False, wall_timeout=False, stateless=False)

    def __init__(self, *, trusted: bool = False) -> None:
        if trusted is not True:
            raise ConfigurationError(
                "InProcessExecutor runs code inside this process with no isolation or limits; it is only for "
                "alphabook's own library code. Pass trusted=True to confirm that, or use BwrapPool for anything "
                "a creator wrote.")
        self._stats = StatsRecorder()
        self._closed = False

    def submit(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
               limits: Limits = DEFAULT_LIMITS) -> Ticket:
        if self._closed:
            raise SandboxUnavailable("The executor is closed.")
        ticket = Ticket(limits)
        try:
            compiled = execution.validate(source)
        except SandboxRejected:
            self._stats.failed("rejected")
            raise
        check_frame(df, limits)
        arguments = check_params(params)
        ticket.future.set_running_or_notify_cancel()
        started = time.perf_counter()
        ticket.timings.validation_s = started - ticket.submitted_at
        try:
            output = execution.execute(compiled, df.copy(), arguments, limits.max_output_bytes)
        except Exception as exc:
            reason, _ = execution.classify(exc)
            ticket.timings.run_s = time.perf_counter() - started
            self._stats.failed(reason, time.perf_counter() - ticket.submitted_at, ticket.timings.run_s)
            ticket.future.set_exception(exc)
        else:
            ticket.timings.run_s = time.perf_counter() - started
            self._stats.succeeded(time.perf_counter() - ticket.submitted_at, ticket.timings.run_s)
            ticket.future.set_result(output)
        return ticket

    def result(self, ticket: Ticket, timeout: float | None = None) -> pd.DataFrame:
        return ticket.future.result(timeout)

    def cancel(self, ticket: Ticket) -> bool:
        """Calls finish inside ``submit``, so there is never anything left to cancel: always ``False``."""
        return False

    def stats(self) -> ExecutorStats:
        return self._stats.snapshot(queue_depth=0, queue_capacity=0, in_flight=0, workers=1,
                                    workers_alive=0 if self._closed else 1)

    def close(self) -> None:
        self._closed = True

