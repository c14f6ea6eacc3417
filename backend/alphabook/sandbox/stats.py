"""What an executor has done so far: calls, failures by reason, latency percentiles, queue and workers.

Operators read these on ``/api/health`` and callers use them to say how long to wait when the pool is
full (:class:`~alphabook.sandbox.errors.SandboxBusy`), so they are kept cheaply: counters under one lock
and the latest latencies in a bounded window, whose percentiles numpy computes on demand.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

import numpy as np

from alphabook.sandbox.errors import FailureReason

__all__ = ["FAILURE_REASONS", "ExecutorStats", "Percentiles", "StatsRecorder"]

FAILURE_REASONS: tuple[FailureReason, ...] = get_args(FailureReason)
WINDOW = 2048  # latest latencies kept for the percentiles


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency percentiles in milliseconds over the latest calls (0.0 before the first call)."""

    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0

    @classmethod
    def of(cls, seconds: deque[float]) -> Percentiles:
        if not seconds:
            return cls()
        p50, p95, p99 = np.percentile(np.fromiter(seconds, dtype=np.float64), [50, 95, 99]) * 1000.0
        return cls(float(p50), float(p95), float(p99))


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    """A snapshot of one executor.

    ``calls`` counts finished calls, so ``calls == succeeded + sum(failures.values())`` always holds;
    calls refused because the queue was full are counted in ``busy`` and cancelled ones in ``cancelled``,
    neither of which ran. ``latency`` is from submission to result (what a caller waits), ``service`` is
    the time a worker spent on a call (what the queue's waiting time is estimated from).
    """

    calls: int = 0
    succeeded: int = 0
    failures: dict[FailureReason, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))
    busy: int = 0
    cancelled: int = 0
    latency: Percentiles = Percentiles()
    service: Percentiles = Percentiles()
    queue_depth: int = 0
    queue_capacity: int = 0
    in_flight: int = 0
    workers: int = 0
    workers_alive: int = 0
    restarts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (for ``/api/health`` and logs)."""
        return asdict(self)


class StatsRecorder:
    """Thread-safe counters behind :class:`ExecutorStats`; the executor adds queue and worker figures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._succeeded = 0
        self._failures: dict[FailureReason, int] = dict.fromkeys(FAILURE_REASONS, 0)
        self._busy = 0
        self._cancelled = 0
        self._restarts = 0
        self._latency: deque[float] = deque(maxlen=WINDOW)
        self._service: deque[float] = deque(maxlen=WINDOW)

    def succeeded(self, latency_s: float, service_s: float) -> None:
        with self._lock:
            self._succeeded += 1
            self._latency.append(latency_s)
            self._service.append(service_s)

    def failed(self, reason: FailureReason, latency_s: float | None = None, service_s: float | None = None) -> None:
        """Count a failure; latencies only when the call reached a worker (a rejection never does)."""
        with self._lock:
            self._failures[reason] += 1
            if latency_s is not None:
                self._latency.append(latency_s)
            if service_s is not None:
                self._service.append(service_s)

    def busy(self) -> None:
        with self._lock:
            self._busy += 1

    def cancelled(self) -> None:
        with self._lock:
            self._cancelled += 1

    def restarted(self) -> None:
        with self._lock:
            self._restarts += 1

    def retry_after(self, waiting: int, workers: int) -> float:
        """Seconds until a queued call would likely start: the calls ahead, served ``workers`` at a time."""
        with self._lock:
            per_call = float(np.median(np.fromiter(self._service, dtype=np.float64))) if self._service else 1.0
        return float(max(1, math.ceil(per_call * (waiting + 1) / max(workers, 1))))

    def snapshot(self, **live: int) -> ExecutorStats:
        """The counters so far plus ``live`` figures (queue_depth, queue_capacity, in_flight, workers...)."""
        with self._lock:
            failures = dict(self._failures)
            return ExecutorStats(
                calls=self._succeeded + sum(failures.values()),
                succeeded=self._succeeded,
                failures=failures,
                busy=self._busy,
                cancelled=self._cancelled,
                latency=Percentiles.of(self._latency),
                service=Percentiles.of(self._service),
                restarts=self._restarts,
                **live,
            )
