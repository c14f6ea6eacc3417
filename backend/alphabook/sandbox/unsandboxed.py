"""The explicitly weaker mode for machines where bubblewrap cannot run: OS limits without namespaces.

An operator chooses it with ``sandbox_mode="unsandboxed-limits-only"``; nothing picks it on its own. The
workers, the fork-per-call zygote, the setrlimit limits, the unprivileged uid, the empty environment and
the watchdog are those of :class:`~alphabook.sandbox.pool.BwrapPool`; what is missing is everything
bubblewrap adds (a private filesystem view, no network, private PID/IPC namespaces, no capabilities).
It says so in the logs (a warning at start) and on ``/api/health``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from alphabook.sandbox.base import ExecutorCapabilities
from alphabook.sandbox.bwrap import ENVIRONMENT, worker_argv, worker_uid
from alphabook.sandbox.pool import BwrapPool

__all__ = ["LimitsOnlyPool"]

log = logging.getLogger(__name__)


class LimitsOnlyPool(BwrapPool):
    """The weaker mode (``sandbox_mode="unsandboxed-limits-only"``): same workers, limits and watchdog, no bwrap.

    Code runs as the unprivileged slot uid with an empty environment and every OS limit, but sees the
    host's filesystem (as that uid) and network. Only for machines where bubblewrap cannot run, and only
    when an operator says so; it is announced in the logs and on ``/api/health``.
    """

    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities(  # no private /tmp or IPC namespace
        isolated=False, trusted_only=False, os_limits=True, wall_timeout=True, stateless=False)
    mode: ClassVar[str] = "unsandboxed-limits-only"

    def _check_machine(self) -> None:
        log.warning("SANDBOX WEAKENED: creators' code runs WITHOUT bubblewrap isolation (mode %s): OS limits "
                    "only, host files readable and network reachable", self.mode)
        if worker_uid(0, self.uid_base) is None:
            log.warning("SANDBOX WEAKENED FURTHER: not running as root, so creators' code runs as this very "
                        "user (it can read this user's files and signal this user's processes)")

    def _launcher(self, control_fd: int, events_fd: int) -> list[str]:
        return worker_argv(self.layout, control_fd, events_fd, probe=self.allow_probe)

    def _environment(self) -> Mapping[str, str]:
        return ENVIRONMENT
