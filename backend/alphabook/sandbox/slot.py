"""One pool slot: a sandboxed zygote, the thread that starts and restarts it, and the code that runs one call on it.

A call runs in whichever thread holds the slot: the caller's own thread when ``run`` finds a slot idle (no
hand-offs between threads, which cost milliseconds under the GIL), or the slot's thread for calls that
waited in the queue. Starting the sandbox is always the slot thread's job, because bwrap's
``--die-with-parent`` uses the kernel's parent-death signal, which fires when the *thread* that forked
bwrap exits; a long-lived slot thread is the only safe parent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from alphabook.sandbox.base import Ticket
from alphabook.sandbox.errors import SandboxUnavailable
from alphabook.sandbox.zygote import CallOutcome, ZygoteProcess

if TYPE_CHECKING:
    from alphabook.sandbox.pool import BwrapPool

__all__ = ["Job", "Slot"]

log = logging.getLogger(__name__)
RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class Job:
    """A submitted call: the request header and body are ready to send."""

    ticket: Ticket
    header: dict[str, Any]
    body: Any
    index: pd.Index | None  # the caller's index, which the result is rebuilt on (None for a probe)
    enqueued_at: float = field(default_factory=time.perf_counter)


class Slot:
    """A zygote and its thread. ``busy``/``needs_restart`` are guarded by the pool's condition."""

    def __init__(self, pool: BwrapPool, index: int, uid: int | None,
                 launch: Callable[[int, int], list[str]], env: Mapping[str, str]) -> None:
        self.pool, self.index, self.uid = pool, index, uid
        self._launch, self._env = launch, env
        self.zygote: ZygoteProcess | None = None
        self.started = threading.Event()
        self.failure: str | None = None  # why the latest (re)start failed
        self.restart_reason = ""
        self.current: Job | None = None
        self.busy = True  # until the zygote is up
        self.needs_restart = False
        self.thread = threading.Thread(target=self._run, name=f"sandbox-slot-{index}", daemon=True)

    @property
    def alive(self) -> bool:
        return self.zygote is not None and self.zygote.alive

    # --- running one call (in any thread that holds the slot) -------------------------------------------
    def execute(self, job: Job) -> None:
        """Run ``job`` on this slot's zygote and settle its ticket; flag a restart if the sandbox broke."""
        ticket, limits, zygote = job.ticket, job.ticket.limits, self.zygote
        if not ticket.future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        if zygote is None or self.pool.closed.is_set():
            ticket.future.set_exception(SandboxUnavailable("The sandbox pool was closed."))
            return
        self.current = job
        started = time.perf_counter()
        ticket.timings.queue_s = started - job.enqueued_at
        try:
            outcome = zygote.call(
                job.header, job.body, wall_s=limits.wall_seconds, max_body=limits.max_output_bytes + (1 << 20),
                should_cancel=lambda: ticket.cancel_requested or self.pool.closed.is_set(),
            )
        except Exception as exc:  # an OS error talking to the sandbox: the caller must still get an answer
            log.exception("sandbox slot %d failed a call", self.index)
            zygote.kill()
            outcome = CallOutcome(broken=f"{type(exc).__name__}: {exc}")
        try:
            self.pool.deliver(job, outcome, zygote.seq, started)
        finally:
            self.current = None
        if outcome.broken is not None or not zygote.alive:
            self.restart_reason = outcome.broken or "the sandbox exited"
            self.needs_restart = True

    # --- the slot thread ----------------------------------------------------------------------------------
    def _start_zygote(self) -> ZygoteProcess:
        zygote = ZygoteProcess(self._launch, uid=self.uid, env=self._env, name=f"sandbox-{self.index}")
        zygote.start(self.pool.start_timeout)
        if zygote.problem:
            zygote.stop()
            raise SandboxUnavailable(f"The sandbox worker cannot run indicators: {zygote.problem}")
        return zygote

    def _run(self) -> None:
        try:
            self.zygote = self._start_zygote()
        except SandboxUnavailable as exc:
            self.failure = exc.detail
            return
        finally:
            self.started.set()
        self.pool.release(self)
        try:
            self._serve()
        finally:
            with self.pool.condition:  # a caller may still be finishing a call on this slot
                while self.current is not None:
                    self.pool.condition.wait(0.1)
            if self.zygote is not None:
                self.zygote.stop()

    def _serve(self) -> None:
        pool, condition = self.pool, self.pool.condition
        while True:
            with condition:
                while not pool.closed.is_set() and not self.needs_restart and (self.busy or not pool.waiting):
                    condition.wait(0.5)
                if pool.closed.is_set():
                    return
                job = None if self.needs_restart else pool.waiting.popleft()
                self.busy = True
            if job is None:
                self._restart(self.restart_reason or "the zygote died")
            else:
                self.execute(job)
            pool.release(self)

    def _restart(self, why: str) -> None:
        log.warning("restarting sandbox slot %d: %s", self.index, why)
        self.pool.stats_recorder.restarted()
        if self.zygote is not None:
            self.zygote.stop()
            self.zygote = None
        attempt = 0
        while not self.pool.closed.is_set():
            try:
                self.zygote = self._start_zygote()
                self.failure = None
                self.needs_restart = False
                return
            except SandboxUnavailable as exc:
                self.failure = exc.detail
                delay = RESTART_BACKOFF[min(attempt, len(RESTART_BACKOFF) - 1)]
                log.error("sandbox slot %d could not restart (retrying in %.1f s): %s", self.index, delay,
                          exc.detail)
                attempt += 1
                self.pool.closed.wait(delay)
