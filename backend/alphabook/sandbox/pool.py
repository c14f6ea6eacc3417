"""BwrapPool, the Executor for untrusted code: a warm pool of bubblewrap-isolated zygotes behind a bounded queue.

Each slot owns one sandbox (:mod:`alphabook.sandbox.bwrap`) whose zygote (:mod:`alphabook.sandbox.worker`)
serves every call in a fresh forked child under OS limits, so a call costs a pipe round trip and a few
milliseconds rather than a Python start-up, and nothing survives from one call to the next. The source is
validated and compiled on the host (a rejection never takes a slot); the child runs the compiled code
under the policy's guards and the OS limits. Calls wait in a bounded queue; when it is full the caller
gets SandboxBusy with a retry-after estimated from the recent service times. :class:`LimitsOnlyPool` is
the explicitly weaker mode for machines where bubblewrap cannot run: the same workers, limits and
watchdog, without the namespaces.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

import pandas as pd

from alphabook.sandbox.base import Executor, ExecutorCapabilities, Ticket
from alphabook.sandbox.bwrap import (
    UID_BASE,
    SandboxLayout,
    bwrap_command,
    check_bwrap,
    find_bwrap,
    worker_argv,
    worker_uid,
)
from alphabook.sandbox.errors import SandboxBusy, SandboxRejected, SandboxUnavailable
from alphabook.sandbox.frames import check_params, encode_frame
from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.outcomes import settle
from alphabook.sandbox.slot import Job, Slot
from alphabook.sandbox.stats import ExecutorStats, StatsRecorder
from alphabook.sandbox.worker import PROTOCOL_NAME
from alphabook.sandbox.zygote import CallOutcome

__all__ = ["BwrapPool", "limits_header"]

log = logging.getLogger(__name__)


class BwrapPool(Executor):
    """``size`` sandboxed zygotes (default: one per CPU) as uids ``uid_base + slot``; see the module docstring.

    Construction starts every slot and waits until each has preloaded its libraries (~1 s); it raises
    SandboxUnavailable, saying why, when bubblewrap is missing or cannot start the worker. ``forbidden``
    names extra host folders (the alphabook home, the database's) that no bind may expose.
    ``_allow_probe`` enables :meth:`_probe` for the isolation tests; it is never set in production.
    """

    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities(
        isolated=True, trusted_only=False, os_limits=True, wall_timeout=True, stateless=True)
    mode: ClassVar[str] = "bwrap"

    def __init__(self, size: int | None = None, *, queue_size: int | None = None, bwrap: str = "bwrap",
                 uid_base: int = UID_BASE, forbidden: Iterable[str | Path] = (), start_timeout: float = 60.0,
                 _allow_probe: bool = False) -> None:
        self.size = max(1, size or os.cpu_count() or 1)
        self.queue_capacity = max(1, queue_size if queue_size is not None else 4 * self.size)
        self.start_timeout, self.allow_probe, self.bwrap = start_timeout, _allow_probe, bwrap
        self.uid_base = uid_base
        try:
            self.layout = SandboxLayout.for_this_interpreter(forbidden)
        except ValueError as exc:
            raise SandboxUnavailable(f"The sandbox cannot be laid out safely: {exc}.") from None
        self._check_machine()
        self.condition = threading.Condition()
        self.waiting: deque[Job] = deque()
        self.closed = threading.Event()
        self.stats_recorder = StatsRecorder()
        self.slots = [Slot(self, index, worker_uid(index, uid_base), self._launcher, self._environment())
                      for index in range(self.size)]
        for slot in self.slots:
            slot.thread.start()
        for slot in self.slots:
            slot.started.wait(start_timeout + 5)
        failures = [slot.failure or "did not start in time" for slot in self.slots if not slot.alive]
        if failures:
            self.close()
            raise SandboxUnavailable(f"The sandbox could not start: {failures[0]}")

    # --- how workers are launched (the weaker mode overrides these) -------------------------------------
    def _check_machine(self) -> None:
        executable = find_bwrap(self.bwrap)
        reason = check_bwrap(self.bwrap, self.layout, worker_uid(0, self.uid_base))
        if executable is None or reason is not None:
            raise SandboxUnavailable(f"Untrusted code cannot run on this machine: {reason}. An operator may allow "
                                     "the weaker mode with ALPHABOOK_SANDBOX_MODE=unsandboxed-limits-only.")
        self.bwrap = executable

    def _launcher(self, control_fd: int, events_fd: int) -> list[str]:
        argv = worker_argv(self.layout, control_fd, events_fd, probe=self.allow_probe)
        return bwrap_command(self.bwrap, self.layout, argv)

    def _environment(self) -> Mapping[str, str]:
        return {}  # bwrap --clearenv sets the worker's environment itself

    # --- Executor -----------------------------------------------------------------------------------
    def submit(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
               limits: Limits = DEFAULT_LIMITS) -> Ticket:
        job = self._prepare(source, df, params, limits)
        with self.condition:
            self._enqueue(job)
        return job.ticket

    def run(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
            limits: Limits = DEFAULT_LIMITS, *, on_ticket: Callable[[Ticket], None] | None = None) -> pd.DataFrame:
        """``submit`` + ``result``, run in the calling thread when a slot is idle (no thread hand-offs).

        ``on_ticket`` is given the call's ticket before it runs, so that another thread may ``cancel`` it (the
        executor service does, when its caller cancels).
        """
        job = self._prepare(source, df, params, limits)
        if on_ticket is not None:
            on_ticket(job.ticket)
        self._run_here_or_queue(job)
        return self.result(job.ticket)

    def result(self, ticket: Ticket, timeout: float | None = None) -> pd.DataFrame:
        return ticket.future.result(timeout)

    def cancel(self, ticket: Ticket) -> bool:
        if ticket.future.cancel():
            self.stats_recorder.cancelled()
            return True
        if ticket.future.done():
            return False
        ticket.cancel_requested = True  # the watchdog of the call's slot kills the child within a tick
        return True

    def stats(self) -> ExecutorStats:
        return self.stats_recorder.snapshot(
            queue_depth=len(self.waiting), queue_capacity=self.queue_capacity,
            in_flight=sum(slot.current is not None for slot in self.slots),
            workers=self.size, workers_alive=sum(slot.alive for slot in self.slots))

    def close(self) -> None:
        with self.condition:
            if self.closed.is_set():
                return
            self.closed.set()
            abandoned = list(self.waiting)
            self.waiting.clear()
            self.condition.notify_all()
        for job in abandoned:
            if job.ticket.future.set_running_or_notify_cancel():
                job.ticket.future.set_exception(SandboxUnavailable("The sandbox pool was closed."))
        for slot in self.slots:
            if slot.thread.is_alive():
                slot.thread.join(timeout=10)

    # --- scheduling ---------------------------------------------------------------------------------
    def _prepare(self, source: str, df: pd.DataFrame, params: Mapping[str, Any], limits: Limits) -> Job:
        """Validate on the host (a rejection never takes a slot) and encode the request, in the caller's thread."""
        self._check_open()
        from alphabook.sandbox import execution  # imports the policy (RestrictedPython) on first use

        ticket = Ticket(limits)
        try:
            compiled = execution.validate(source)
        except SandboxRejected:
            self.stats_recorder.failed("rejected")
            raise
        meta, body = encode_frame(df, limits)
        header = {"protocol": PROTOCOL_NAME, "kind": "indicator", "code": execution.ship(compiled),
                  "params": check_params(params), "limits": limits_header(limits), "frame": meta}
        ticket.timings.validation_s = time.perf_counter() - ticket.submitted_at
        return Job(ticket, header, body, df.index)

    def _run_here_or_queue(self, job: Job) -> None:
        with self.condition:
            slot = self._claim() if not self.waiting else None
            if slot is None:
                self._enqueue(job)
                return
        try:
            slot.execute(job)
        finally:
            self.release(slot)

    def _claim(self) -> Slot | None:
        """An idle, healthy slot, preferring one whose next child has already rehearsed; marks it busy."""
        idle = []
        for slot in self.slots:
            if slot.busy or slot.needs_restart or slot.zygote is None:
                continue
            if not slot.zygote.healthy():
                slot.needs_restart, slot.restart_reason = True, "the zygote died between calls"
                self.condition.notify_all()
                continue
            idle.append(slot)
        if not idle:
            return None
        chosen = next((slot for slot in idle if slot.zygote is not None and slot.zygote.warm), idle[0])
        chosen.busy = True
        return chosen

    def release(self, slot: Slot) -> None:
        """Give a slot back (a restart it needs is then done by its own thread).

        Slot threads are woken only when there is something for them (a queued call, a restart): waking them
        for nothing would make them compete with the caller for the GIL just as it reads its result.
        """
        with self.condition:
            slot.busy = slot.needs_restart
            if self.waiting or slot.needs_restart:
                self.condition.notify_all()

    def _enqueue(self, job: Job) -> None:
        """Queue ``job`` for the slot threads (the caller holds the condition); SandboxBusy when full."""
        self._check_open()
        if not any(slot.alive for slot in self.slots) and all(slot.failure for slot in self.slots):
            raise SandboxUnavailable(f"No sandbox worker can start: {self.slots[0].failure}")
        if len(self.waiting) >= self.queue_capacity:
            self.stats_recorder.busy()
            alive = sum(slot.alive for slot in self.slots)
            raise SandboxBusy(self.stats_recorder.retry_after(len(self.waiting), alive))
        job.enqueued_at = time.perf_counter()
        self.waiting.append(job)
        self.condition.notify_all()

    def _check_open(self) -> None:
        if self.closed.is_set():
            raise SandboxUnavailable("The sandbox pool is closed.")

    def _probe(self, code: str, limits: Limits = DEFAULT_LIMITS) -> Any:
        """Tests only: run trusted ``code`` (plain Python, no policy) in a fresh sandboxed child under ``limits``.

        Returns the JSON value the code leaves in ``result``. Refused unless the pool was built with
        ``_allow_probe=True``; the worker refuses probes too unless started with ``--allow-probe``.
        """
        if not self.allow_probe:
            raise RuntimeError("probes are a test facility: build the pool with _allow_probe=True")
        self._check_open()
        header = {"protocol": PROTOCOL_NAME, "kind": "probe", "source": code, "limits": limits_header(limits)}
        job = Job(Ticket(limits), header, (), None)
        self._run_here_or_queue(job)
        return cast(Any, job.ticket.future.result())

    def deliver(self, job: Job, outcome: CallOutcome, seq: int, started: float) -> None:
        """Settle the ticket from a slot's outcome (see :func:`alphabook.sandbox.outcomes.settle`)."""
        settle(job, outcome, seq, started, self.stats_recorder, closed=self.closed.is_set())


def limits_header(limits: Limits) -> dict[str, int]:
    """What the worker needs of ``limits`` (the wall clock is the host's business)."""
    return {"cpu_seconds": limits.cpu_seconds, "memory_bytes": limits.memory_bytes,
            "max_output_bytes": limits.max_output_bytes}


