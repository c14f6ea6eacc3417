"""The Executor for a sandbox that runs elsewhere: the executor service (`alphabook sandbox serve`).

When the sandbox is split into its own service (a compose service, a Kubernetes Deployment with gVisor and no
egress), the API, the scheduler's workers and Voila keep calling ``run_indicator`` and get a
:class:`RemoteExecutor` instead of an in-process pool (setting ``sandbox_url``). The wire format is the one the
pool already speaks to its workers (:mod:`alphabook.sandbox.protocol` framing, :mod:`alphabook.sandbox.frames`
buffers; nothing pickled) carried in HTTP bodies by httpx; the service's refusals are problem+json, turned
back into the same exceptions a local pool raises. The source is validated here too, so a rejection costs no
round trip, and again by the service, which trusts no caller.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any, ClassVar, cast

import httpx
import pandas as pd

from alphabook.sandbox.base import Executor, ExecutorCapabilities, Ticket
from alphabook.sandbox.errors import (
    BadResult,
    IndicatorFailed,
    LimitExceeded,
    SandboxBusy,
    SandboxRejected,
    SandboxUnavailable,
    WorkerCrashed,
)
from alphabook.sandbox.frames import check_params, decode_result, encode_frame
from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.outcomes import reason_of
from alphabook.sandbox.protocol import MAX_REPLY_HEADER, ProtocolError, pack, unpack
from alphabook.sandbox.stats import ExecutorStats, StatsRecorder

__all__ = ["CALLS_PATH", "FRAME_TYPE", "RemoteExecutor", "limits_of", "wire_limits"]

FRAME_TYPE = "application/x-alphabook-frame"
CALLS_PATH = "/v1/calls"
ANSWER_MARGIN_S = 30.0  # beyond the call's own wall limit, before an unanswered call counts as lost
_CREATOR_ERRORS: dict[str, type[Exception]] = {
    error.slug: error for error in (SandboxRejected, IndicatorFailed, WorkerCrashed, BadResult)}


def wire_limits(limits: Limits) -> dict[str, float | int]:
    """Every limit, for the service to enforce exactly what the caller asked."""
    return {"cpu_seconds": limits.cpu_seconds, "wall_seconds": limits.wall_seconds,
            "memory_bytes": limits.memory_bytes, "max_output_bytes": limits.max_output_bytes,
            "max_input_rows": limits.max_input_rows}


def limits_of(sent: Any) -> Limits:
    """The service's reading of :func:`wire_limits`: only known names, each checked by Limits itself."""
    if not isinstance(sent, dict) or set(sent) - set(wire_limits(DEFAULT_LIMITS)):
        raise ProtocolError("limits must be an object of cpu_seconds, wall_seconds, memory_bytes, "
                            "max_output_bytes and max_input_rows")
    return Limits(**sent)


class RemoteExecutor(Executor):
    """Sends each call to the executor service and waits for its answer in one of ``concurrency`` threads."""

    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities(
        isolated=True, trusted_only=False, os_limits=True, wall_timeout=True, stateless=True)
    mode = "remote"

    def __init__(self, url: str, token: str | None = None, *, concurrency: int = 16) -> None:
        self.url = url.rstrip("/")
        auth = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=auth, limits=httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency))
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="sandbox-remote")
        self.concurrency = concurrency
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[str, Ticket]] = {}  # ticket id -> (the call's id at the service, ticket)
        self._running: set[int] = set()
        self.stats_recorder = StatsRecorder()

    # --- Executor -----------------------------------------------------------------------------------
    def submit(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
               limits: Limits = DEFAULT_LIMITS) -> Ticket:
        ticket, content = self._prepare(source, df, params, limits)
        self._threads.submit(self._call, ticket, content, df.index.copy())
        return ticket

    def run(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
            limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
        """``submit`` + ``result`` in the calling thread (no hand-off to the sending threads)."""
        ticket, content = self._prepare(source, df, params, limits)
        self._call(ticket, content, df.index)
        return self.result(ticket)

    def result(self, ticket: Ticket, timeout: float | None = None) -> pd.DataFrame:
        return ticket.future.result(timeout)

    def cancel(self, ticket: Ticket) -> bool:
        with self._lock:
            if ticket.future.cancel():
                self._pending.pop(ticket.id, None)
                self.stats_recorder.cancelled()
                return True
            if ticket.future.done():
                return False
            ticket.cancel_requested = True
            pending = self._pending.get(ticket.id)
        if pending is not None:
            with contextlib.suppress(httpx.HTTPError):  # the call's own request reports what became of it
                self._client.delete(f"{CALLS_PATH}/{pending[0]}", timeout=10)
        return True

    def stats(self) -> ExecutorStats:
        with self._lock:
            waiting, in_flight = len(self._pending) - len(self._running), len(self._running)
        alive = 0 if self.closed.is_set() else self.concurrency
        return self.stats_recorder.snapshot(queue_depth=waiting, queue_capacity=0, in_flight=in_flight,
                                            workers=self.concurrency, workers_alive=alive)

    def close(self) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:  # calls no thread has started: they never will
            for ticket_id, (_, ticket) in list(self._pending.items()):
                if ticket_id not in self._running and ticket.future.set_running_or_notify_cancel():
                    ticket.future.set_exception(SandboxUnavailable("The sandbox executor was closed."))
                    del self._pending[ticket_id]
        self._threads.shutdown(wait=True)
        self._client.close()

    # --- one call -----------------------------------------------------------------------------------
    def _prepare(self, source: str, df: pd.DataFrame, params: Mapping[str, Any],
                 limits: Limits) -> tuple[Ticket, bytes]:
        if self.closed.is_set():
            raise SandboxUnavailable("The sandbox executor is closed.")
        from alphabook.sandbox import execution  # the validator (RestrictedPython), imported on first use

        ticket = Ticket(limits)
        try:
            execution.validate(source)
        except SandboxRejected:
            self.stats_recorder.failed("rejected")
            raise
        meta, body = encode_frame(df, limits)
        call = uuid.uuid4().hex
        header = {"call": call, "source": source, "params": check_params(params), "limits": wire_limits(limits),
                  "frame": meta}
        content = b"".join(pack(header, body))  # a copy: the caller may change df once submit returns
        with self._lock:
            self._pending[ticket.id] = (call, ticket)
        ticket.timings.validation_s = time.perf_counter() - ticket.submitted_at
        return ticket, content

    def _call(self, ticket: Ticket, content: bytes, index: pd.Index) -> None:
        with self._lock:
            if ticket.future.done():  # cancelled, or abandoned by close
                return
            started = ticket.future.set_running_or_notify_cancel()
            if started:
                self._running.add(ticket.id)
        if not started:
            return
        begun = time.perf_counter()
        ticket.timings.queue_s = begun - ticket.submitted_at
        try:
            output = self._send(ticket, content, index)
        except BaseException as error:  # settle the ticket with whatever ended the call
            self._settle(ticket, error=error, begun=begun)
        else:
            self._settle(ticket, output=output, begun=begun)

    def _send(self, ticket: Ticket, content: bytes, index: pd.Index) -> pd.DataFrame:
        limits = ticket.limits
        try:
            reply = self._client.post(CALLS_PATH, content=content, headers={"content-type": FRAME_TYPE},
                                      timeout=httpx.Timeout(limits.wall_seconds + ANSWER_MARGIN_S, connect=5))
        except httpx.TimeoutException as error:
            raise WorkerCrashed(f"The sandbox service at {self.url} did not answer within "
                                f"{limits.wall_seconds + ANSWER_MARGIN_S:.0f} s.") from error
        except httpx.HTTPError as error:
            raise SandboxUnavailable(f"The sandbox service at {self.url} cannot be reached: {error}. "
                                     "Check ALPHABOOK_SANDBOX_URL and that the service runs.") from error
        if reply.status_code == 200 and reply.headers.get("content-type", "").startswith(FRAME_TYPE):
            try:
                header, body = unpack(reply.content, MAX_REPLY_HEADER, limits.max_output_bytes)
            except ProtocolError as error:
                raise BadResult(f"The sandbox service's answer is unreadable: {error}") from error
            return decode_result(header.get("names"), body, index, limits.max_output_bytes)
        raise self._refusal(reply)

    def _refusal(self, reply: httpx.Response) -> Exception:
        """The exception a local pool would have raised for the service's problem+json answer."""
        try:
            problem = cast(dict[str, Any], reply.json())
        except ValueError:
            problem = {}
        slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
        detail = str(problem.get("detail") or reply.text[:500] or f"HTTP {reply.status_code}")
        if reply.status_code in (401, 403):
            return SandboxUnavailable(f"The sandbox service at {self.url} refused this caller ({detail}); "
                                      "ALPHABOOK_SANDBOX_SERVICE_TOKEN must match the service's.")
        if slug == LimitExceeded.slug:
            return LimitExceeded(problem.get("limit", "timeout"), detail)
        if slug == SandboxBusy.slug:
            return SandboxBusy(float(problem.get("retry_after") or reply.headers.get("retry-after") or 1))
        if slug == "sandbox-cancelled":
            return CancelledError()
        if slug in _CREATOR_ERRORS:
            return _CREATOR_ERRORS[slug](detail)
        return SandboxUnavailable(f"The sandbox service at {self.url} answered {reply.status_code}: {detail}")

    def _settle(self, ticket: Ticket, *, begun: float, output: pd.DataFrame | None = None,
                error: BaseException | None = None) -> None:
        ended = time.perf_counter()
        ticket.timings.run_s = ended - begun
        with self._lock:
            self._pending.pop(ticket.id, None)
            self._running.discard(ticket.id)
        if error is None:
            self.stats_recorder.succeeded(ended - ticket.submitted_at, ended - begun)
            ticket.future.set_result(cast(pd.DataFrame, output))
            return
        if isinstance(error, CancelledError):
            self.stats_recorder.cancelled()
        elif not isinstance(error, SandboxBusy | SandboxUnavailable):
            self.stats_recorder.failed(reason_of(error), ended - ticket.submitted_at, ended - begun)
        elif isinstance(error, SandboxBusy):
            self.stats_recorder.busy()
        ticket.future.set_exception(error)
