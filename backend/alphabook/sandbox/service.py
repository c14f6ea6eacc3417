"""The sandbox's verbs: run a creator's indicator safely, and say how safely this machine can do it.

:func:`run_indicator` is what the API, the scheduler and the marketplace call. It uses one process-wide
:class:`~alphabook.sandbox.pool.BwrapPool`, started on first use (a second or so) with one slot per CPU
unless configured, and closed at interpreter exit. When bubblewrap cannot run, untrusted code is refused
with SandboxUnavailable explaining why, unless an operator chose the weaker
``sandbox_mode="unsandboxed-limits-only"``, which is logged as a warning and shown by
:func:`sandbox_status` (served on ``/api/health``).
"""

from __future__ import annotations

import atexit
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx
import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alphabook.core.config import Settings, get_settings
from alphabook.core.errors import ConfigurationError
from alphabook.sandbox.base import Executor
from alphabook.sandbox.bwrap import UID_BASE, SandboxLayout, bwrap_version, check_bwrap, worker_uid
from alphabook.sandbox.limits import DEFAULT_LIMITS, Limits
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.remote import RemoteExecutor
from alphabook.sandbox.unsandboxed import LimitsOnlyPool

__all__ = ["SandboxConfig", "build_executor", "close_default_executor", "default_executor", "run_indicator",
           "sandbox_status"]

SandboxMode = Literal["bwrap", "unsandboxed-limits-only"]
MODES: tuple[SandboxMode, ...] = ("bwrap", "unsandboxed-limits-only")
CHECK_TTL = 60.0  # seconds a bubblewrap check stays valid for sandbox_status
Pool = BwrapPool | RemoteExecutor  # what build_executor makes: both have ``mode`` and ``closed``


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """The sandbox's settings (see the ``sandbox_*`` fields of Settings) plus the folders no bind may expose."""

    mode: SandboxMode = "bwrap"
    bwrap_path: str = "bwrap"
    pool_size: int = 0  # 0: one slot per CPU
    queue_size: int = 0  # 0: four waiting calls per slot
    uid_base: int = UID_BASE
    forbidden: tuple[str, ...] = ()
    url: str | None = None  # the executor service; None: a pool in this process
    token: str | None = field(default=None, repr=False)
    remote_concurrency: int = 16

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SandboxConfig:
        settings = settings or get_settings()
        mode = settings.sandbox_mode
        if mode not in MODES:
            raise ConfigurationError(f"sandbox_mode is {mode!r}; use one of {', '.join(MODES)}.")
        forbidden = [str(settings.home)]
        try:
            url = make_url(settings.effective_database_url)
            if url.get_backend_name() == "sqlite" and url.database:
                forbidden.append(str(Path(url.database).resolve().parent))
        except ArgumentError:
            pass
        return cls(mode=mode, bwrap_path=settings.sandbox_bwrap_path, pool_size=settings.sandbox_pool_size,
                   queue_size=settings.sandbox_queue_size, uid_base=settings.sandbox_uid_base,
                   forbidden=tuple(forbidden), url=settings.sandbox_url or None,
                   token=settings.sandbox_service_token.get_secret_value() if settings.sandbox_service_token else None,
                   remote_concurrency=settings.sandbox_remote_concurrency)

    def local(self) -> SandboxConfig:
        """The same sandbox run here, in this process (what the executor service itself runs)."""
        return replace(self, url=None, token=None)


def build_executor(config: SandboxConfig, *, size: int | None = None, _allow_probe: bool = False) -> Pool:
    """A new executor for ``config`` (the caller closes it): the executor service's client when ``config.url``
    names one, else a pool here; SandboxUnavailable when this machine cannot isolate code."""
    if config.url:
        return RemoteExecutor(config.url, config.token, concurrency=config.remote_concurrency)
    kind = LimitsOnlyPool if config.mode == "unsandboxed-limits-only" else BwrapPool
    return kind(size or config.pool_size or None, queue_size=config.queue_size or None, bwrap=config.bwrap_path,
                uid_base=config.uid_base, forbidden=config.forbidden, _allow_probe=_allow_probe)


_lock = threading.Lock()
_default: Pool | None = None
_checked: tuple[float, SandboxConfig, str | None] | None = None


def default_executor() -> Pool:
    """The process-wide pool, started on first use from the settings and closed at exit."""
    global _default
    with _lock:
        if _default is None or _default.closed.is_set():
            _default = build_executor(SandboxConfig.from_settings())
            atexit.register(close_default_executor)
        return _default


def close_default_executor() -> None:
    """Stop the process-wide pool (at exit, or in tests); the next call starts a new one."""
    global _default
    with _lock:
        if _default is not None:
            _default.close()
            _default = None


def run_indicator(code: str, df: pd.DataFrame, params: dict[str, Any], limits: Limits = DEFAULT_LIMITS, *,
                  executor: Executor | None = None) -> pd.DataFrame:
    """Run a creator's ``indicator(df, **params)`` in the sandbox and return its output aligned to ``df``.

    Returns a float64 DataFrame on ``df``'s own index. Raises SandboxRejected, IndicatorFailed,
    LimitExceeded, BadResult or WorkerCrashed (the creator's to fix), SandboxBusy (retry after N s) or
    SandboxUnavailable (an operator's to fix). ``executor`` defaults to the process-wide pool.
    """
    return (executor or default_executor()).run(code, df, params, limits)


def sandbox_status(config: SandboxConfig | None = None, pool: Pool | None = None) -> dict[str, Any]:
    """What ``/api/health`` shows about the sandbox; never starts a pool (a bwrap check is cached 60 s).

    ``available``: untrusted code can run now; ``isolated``: it runs inside bubblewrap; ``warning`` is set
    in the weaker mode; ``reason`` says why bubblewrap cannot run; ``pool`` holds the live figures of
    ``pool`` (default: the process-wide pool, when ``config`` is the settings' own) once it has started.
    With an executor service configured, the service is asked (``service``: its own status).
    """
    own = config is None or config == SandboxConfig.from_settings()
    config = config or SandboxConfig.from_settings()
    if pool is None and own:
        pool = _default
    pool = pool if pool is not None and not pool.closed.is_set() else None
    if config.url:
        status = _service_status(config.url)
    else:
        reason = None if pool is not None and pool.mode == "bwrap" else _bwrap_problem(config)
        weaker = config.mode == "unsandboxed-limits-only"
        status = {
            "mode": config.mode,
            "available": reason is None or weaker,
            "isolated": reason is None and not weaker,
            "bwrap": bwrap_version(config.bwrap_path),
            "reason": reason,
            "warning": "creators' code runs WITHOUT OS isolation (OS limits only): sandbox_mode="
                       "unsandboxed-limits-only" if weaker else None,
        }
    status["pool"] = None if pool is None else _figures(pool)
    return status


def _service_status(url: str) -> dict[str, Any]:
    """The executor service's own status, or why it cannot be had."""
    status: dict[str, Any] = {"mode": "remote", "url": url, "available": False, "isolated": False, "bwrap": None,
                              "reason": None, "warning": None, "service": None}
    try:
        reply = httpx.get(f"{url.rstrip('/')}/v1/health", timeout=3)
        reply.raise_for_status()
        service = reply.json()["sandbox"]
        status.update({key: service[key] for key in ("available", "isolated", "bwrap", "reason", "warning")})
        status["service"] = service
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        status["reason"] = f"The sandbox service at {url} does not answer its health check: {error}"
    return status


def _figures(pool: Pool) -> dict[str, Any]:
    stats = pool.stats()
    return {
        "mode": pool.mode, "workers": stats.workers, "workers_alive": stats.workers_alive,
        "queue_depth": stats.queue_depth, "queue_capacity": stats.queue_capacity, "in_flight": stats.in_flight,
        "calls": stats.calls, "succeeded": stats.succeeded, "failures": stats.failures, "busy": stats.busy,
        "restarts": stats.restarts,
        "latency_ms": {"p50": stats.latency.p50, "p95": stats.latency.p95, "p99": stats.latency.p99},
    }


def _bwrap_problem(config: SandboxConfig) -> str | None:
    global _checked
    now = time.monotonic()
    if _checked is not None and _checked[1] == config and now - _checked[0] < CHECK_TTL:
        return _checked[2]
    try:
        problem = check_bwrap(config.bwrap_path, SandboxLayout.for_this_interpreter(config.forbidden),
                              worker_uid(0, config.uid_base))
    except ValueError as exc:
        problem = str(exc)
    _checked = (now, config, problem)
    return problem
