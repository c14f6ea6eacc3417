"""What can go wrong when running a creator's code, sorted by who has to act.

Every failure caused by the code itself (rejected by the validator, raised an exception, broke a limit,
returned something unusable) is the *creator's* to fix, so these are :class:`InvalidInput` with a message
for the creator; the buyer only learns that the indicator failed. A full pool is temporary (retry after
N seconds); a machine that cannot sandbox at all needs an operator.
"""

from __future__ import annotations

from typing import Literal

from alphabook.core.errors import ConfigurationError, InvalidInput, TemporaryError

LimitKind = Literal["timeout", "cpu", "memory", "output", "processes"]
FailureReason = Literal["rejected", "error", "timeout", "cpu", "memory", "output", "processes", "crash", "result"]


class SandboxRejected(InvalidInput):
    """The validator refused the code before it ran; ``detail`` names the line and the rule."""

    title = "Code rejected by the sandbox"
    slug = "sandbox-rejected"


class IndicatorFailed(InvalidInput):
    """The creator's code raised while running; ``detail`` carries its error and line."""

    title = "Indicator failed"
    slug = "indicator-failed"


class LimitExceeded(InvalidInput):
    """The code broke a resource limit and was stopped (``kind``: timeout, cpu, memory, output, processes)."""

    title = "Sandbox limit exceeded"
    slug = "sandbox-limit"

    def __init__(self, kind: LimitKind, detail: str) -> None:
        super().__init__(detail, limit=kind)
        self.kind: LimitKind = kind


class WorkerCrashed(InvalidInput):
    """The worker died without an answer (a signal, a segfault in a C extension)."""

    title = "Sandbox worker crashed"
    slug = "sandbox-crash"


class BadResult(InvalidInput):
    """The code returned something the host will not accept (wrong type, misaligned, too large)."""

    title = "Unusable indicator output"
    slug = "sandbox-result"


class SandboxBusy(TemporaryError):
    """Every slot is busy and the queue is full; retry after ``retry_after`` seconds."""

    title = "Sandbox busy"
    slug = "sandbox-busy"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"The sandbox is busy; retry after {retry_after:.0f} s.", retry_after=retry_after)
        self.retry_after = retry_after


class SandboxUnavailable(ConfigurationError):
    """This machine cannot isolate untrusted code (no working bubblewrap) and no weaker mode was allowed."""

    title = "Sandbox unavailable"
    slug = "sandbox-unavailable"
