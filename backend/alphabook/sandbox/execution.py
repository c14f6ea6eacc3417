"""One indicator call, the same in every executor: validate, load, call and normalise through the policy.

The policy (:mod:`alphabook.sandbox.policy`, RestrictedPython) is layer 1: it decides what the source may
do, wraps whatever the code raises as :class:`IndicatorFailed` and checks the output against the indicator
contract. This module strings its steps together and sorts any failure into the reasons the stats count,
so the sandbox worker and the in-process executor report identical outcomes.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import marshal
import threading
import types
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from alphabook.core.errors import AlphabookError
from alphabook.sandbox import policy
from alphabook.sandbox.errors import (
    BadResult,
    FailureReason,
    IndicatorFailed,
    LimitExceeded,
    SandboxRejected,
    WorkerCrashed,
)
from alphabook.sandbox.frames import OutputTooLarge

__all__ = ["classify", "execute", "output_bytes", "ship", "unship", "validate"]

ACCEPTED_CACHE = 4096
_accepted: OrderedDict[bytes, policy.CompiledIndicator] = OrderedDict()
_accepted_lock = threading.Lock()


def validate(source: str) -> policy.CompiledIndicator:
    """The source compiled under the policy, or SandboxRejected (naming the line and rule).

    The host validates every call before it takes a slot, and a listing's source is the same call after
    call, so accepted sources are remembered compiled (by SHA-256, at most 4096). Only acceptance is
    cached: a rejected source is analysed again and rejected again.
    """
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest() if isinstance(source, str) else None
    if digest is not None and (compiled := _accepted.get(digest)) is not None:
        return compiled
    compiled = policy.validate_source(source)
    if digest is not None:
        with _accepted_lock:
            _accepted[digest] = compiled
            while len(_accepted) > ACCEPTED_CACHE:
                _accepted.popitem(last=False)
    return compiled


def ship(compiled: policy.CompiledIndicator) -> str:
    """Validated, compiled code as text for a sandboxed child (marshal, never pickle: code, not objects).

    The child runs the bytecode the host's policy produced instead of compiling again: RestrictedPython's
    compile is the largest single step of a call. marshal's format is the interpreter's own and both
    sides run the same interpreter; the bytes only ever travel from the trusted host to the child.
    """
    return base64.b64encode(marshal.dumps(compiled.code)).decode("ascii")


def unship(shipped: str) -> policy.CompiledIndicator:
    """The child's side of :func:`ship`."""
    code = marshal.loads(base64.b64decode(shipped))  # noqa: S302 (bytes from the host, see ship)
    if not isinstance(code, types.CodeType):
        raise SandboxRejected("the host sent something other than compiled code.")
    return policy.CompiledIndicator(source="", code=code)


def execute(compiled: policy.CompiledIndicator, df: pd.DataFrame, params: Mapping[str, Any],
            max_output_bytes: int) -> pd.DataFrame:
    """Run ``indicator(df, **params)`` from validated code under the policy and return its normalised output.

    Raises IndicatorFailed, LimitExceeded (memory), OutputTooLarge (more than ``max_output_bytes``,
    checked before the output is converted) or BadResult (output that breaks the indicator contract), as
    the policy reports them; SandboxRejected when the code defines no ``indicator``.
    """
    indicator = policy.load_indicator(compiled)
    output = policy.call_indicator(indicator, df, dict(params))
    size = output_bytes(output)
    if size > max_output_bytes:
        raise OutputTooLarge(f"The indicator's output is {size} bytes; the limit is {max_output_bytes}.")
    return policy.normalise_output(output, df)


def output_bytes(output: Any) -> int:
    """What the data in an indicator's raw output weighs, looking only at exact pandas/numpy containers.

    Only library objects are measured (``type(...) is``), never a creator's class, whose attributes could
    run creator code in the caller's place; anything else weighs 0 here and is refused by the contract.
    """
    if type(output) is pd.Series or type(output) is np.ndarray:
        return int(output.nbytes)
    if type(output) is pd.DataFrame:
        return int(output.memory_usage(index=False, deep=False).sum())
    if type(output) is dict:
        return sum(output_bytes(value) for value in output.values())
    return 0


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> tuple[FailureReason, str]:
    """The failure reason and the creator-facing message for what a call raised.

    Exhaustion shows up as ordinary exceptions once the OS limits are set: RLIMIT_AS makes allocations raise
    MemoryError and RLIMIT_NPROC makes starting a process or thread fail with EAGAIN, so those are looked
    for anywhere in the exception chain (the policy wraps them in IndicatorFailed).
    """
    chain = _chain(exc)
    if isinstance(exc, SandboxRejected):
        return "rejected", exc.detail
    if isinstance(exc, LimitExceeded):
        return exc.kind, exc.detail
    if any(isinstance(link, MemoryError) for link in chain):
        return "memory", "The indicator ran out of memory (the sandbox's memory limit) and was stopped."
    if any((isinstance(link, OSError) and link.errno == errno.EAGAIN)
           or (isinstance(link, RuntimeError) and "can't start new thread" in str(link)) for link in chain) or (
            isinstance(exc, IndicatorFailed) and ("BlockingIOError" in exc.detail or "can't start new thread"
                                                  in exc.detail)):
        return "processes", "The indicator tried to start a process or thread; the sandbox allows neither."
    if isinstance(exc, BadResult):
        return "result", exc.detail
    if isinstance(exc, WorkerCrashed):
        return "crash", exc.detail
    if isinstance(exc, IndicatorFailed | AlphabookError):
        return "error", exc.detail
    return "error", f"{type(exc).__name__}: {exc}"
