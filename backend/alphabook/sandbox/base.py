"""The Executor interface: how alphabook runs a creator's indicator, whoever provides the isolation.

Two implementations keep the same contract: :class:`~alphabook.sandbox.pool.BwrapPool` runs untrusted code in
bubblewrap-isolated, resource-limited worker processes, and :class:`~alphabook.sandbox.inprocess.InProcessExecutor`
runs the platform's own (trusted) library code in the calling process. What an executor can promise is data
on the class (:class:`ExecutorCapabilities`), so a caller checks ``executor.capabilities.isolated`` instead of
asking which class it holds. The per-method contracts below follow JupyterHub's ``Spawner.start/poll/stop``
docstrings: what each returns, what it raises and which state it changes.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

import pandas as pd

from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.stats import ExecutorStats

__all__ = ["Executor", "ExecutorCapabilities", "Ticket", "Timings"]

_ticket_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ExecutorCapabilities:
    """What an executor guarantees, as data.

    ``isolated``: code runs in another process inside OS namespaces (no network, no host files, an
    unprivileged uid). ``trusted_only``: the executor refuses to be used for code a creator wrote.
    ``os_limits``: CPU time, memory, processes and file writes are limited by the kernel (setrlimit).
    ``wall_timeout``: a watchdog outside the code stops calls that sleep or block. ``stateless``: nothing
    a call does is visible to the next one (each call runs in a fresh process).
    """

    isolated: bool
    trusted_only: bool
    os_limits: bool
    wall_timeout: bool
    stateless: bool


@dataclass(slots=True)
class Timings:
    """Where one call's time went, in seconds (filled in as the call progresses)."""

    validation_s: float = 0.0  # validating the source and encoding the frame, in the caller's thread
    queue_s: float = 0.0  # waiting for a free worker
    run_s: float = 0.0  # from handing the call to a worker to having its checked result


@dataclass(eq=False, slots=True)
class Ticket:
    """A handle on one submitted call; pass it to ``result``/``cancel`` of the executor that issued it."""

    limits: Limits
    id: int = field(default_factory=lambda: next(_ticket_ids))
    submitted_at: float = field(default_factory=time.perf_counter)
    timings: Timings = field(default_factory=Timings)
    future: Future[pd.DataFrame] = field(default_factory=Future, repr=False)
    cancel_requested: bool = False

    @property
    def done(self) -> bool:
        return self.future.done()


class Executor(ABC):
    """Runs ``indicator(df, **params)`` from a creator's source and returns its output aligned to ``df``."""

    capabilities: ClassVar[ExecutorCapabilities]

    @abstractmethod
    def submit(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
               limits: Limits = DEFAULT_LIMITS) -> Ticket:
        """Validate ``source`` and queue one call of its ``indicator(df, **params)``.

        Returns at once (the call runs later) with a :class:`Ticket`; ``ticket.timings.validation_s`` is set.
        The frame and parameters are copied at submission, so the caller may change ``df`` afterwards.

        Raises :class:`~alphabook.sandbox.errors.SandboxRejected` when the validator refuses the source
        (counted as a failure with reason ``rejected``; nothing is queued); ``InvalidInput`` when ``df`` or
        ``params`` cannot be sent (more rows than ``limits.max_input_rows``, a non-numeric column, parameters
        that are not JSON values); :class:`~alphabook.sandbox.errors.SandboxBusy` when the queue is full
        (counted in ``stats().busy``); :class:`~alphabook.sandbox.errors.SandboxUnavailable` after ``close``.
        """

    @abstractmethod
    def result(self, ticket: Ticket, timeout: float | None = None) -> pd.DataFrame:
        """Wait up to ``timeout`` seconds (``None``: until the call ends) and return the call's output.

        The output is a DataFrame of float64 columns whose index *is* the submitted ``df``'s index (rebuilt
        by the host, never taken from the code), one column per output the indicator returned.

        Raises ``TimeoutError`` when ``timeout`` passes first (the call goes on; ask again or ``cancel``);
        otherwise the call's own outcome, the same on every call of ``result``:
        :class:`~alphabook.sandbox.errors.IndicatorFailed` (the code raised),
        :class:`~alphabook.sandbox.errors.LimitExceeded` with ``kind`` timeout/cpu/memory/output/processes,
        :class:`~alphabook.sandbox.errors.BadResult` (unusable output),
        :class:`~alphabook.sandbox.errors.WorkerCrashed` (the worker died without an answer),
        ``concurrent.futures.CancelledError`` after a successful ``cancel``. Changes no state.
        """

    @abstractmethod
    def cancel(self, ticket: Ticket) -> bool:
        """Stop the call if it has not finished: a queued call is dropped, a running one is killed.

        Returns ``True`` when the call will end cancelled (``result`` then raises ``CancelledError``) and
        ``False`` when it had already finished (its outcome stands). Counted in ``stats().cancelled``.
        """

    @abstractmethod
    def stats(self) -> ExecutorStats:
        """A snapshot of the counters, latency percentiles, queue depth and live workers. Never blocks long."""

    @abstractmethod
    def close(self) -> None:
        """Stop accepting calls, fail the queued ones with ``SandboxUnavailable`` and stop every worker.

        Idempotent; after it, ``submit`` raises ``SandboxUnavailable``.
        """

    def run(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
            limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
        """``submit`` then ``result``: the one-shot call most callers want."""
        return self.result(self.submit(source, df, params, limits))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
