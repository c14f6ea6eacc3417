"""Resource limits for one sandboxed call, enforced by the operating system (setrlimit) and a watchdog.

A Python-level timer cannot stop time spent inside numpy's C loops; RLIMIT_CPU can (SIGXCPU, then
SIGKILL), and the wall-clock watchdog outside the sandbox kills a worker that sleeps or blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphabook.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int = 5  # RLIMIT_CPU of the forked child
    wall_seconds: float = 10.0  # watchdog outside the sandbox
    memory_bytes: int = 1 << 30  # RLIMIT_AS of the forked child
    max_output_bytes: int = 64 << 20  # size of the result the host accepts
    max_input_rows: int = 2_000_000

    def __post_init__(self) -> None:
        if self.cpu_seconds < 1 or self.wall_seconds <= 0 or self.memory_bytes < (64 << 20):
            raise InvalidInput("Sandbox limits need cpu_seconds >= 1, wall_seconds > 0 and at least 64 MiB.")


DEFAULT_LIMITS = Limits()
