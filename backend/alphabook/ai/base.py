"""The LLMProvider interface: one chat completion from whichever model a person configured.

Implementations wrap the providers' official SDKs (``openai``, ``anthropic``, ``google-genai``) or, for the
offline default, a deterministic parser. Their failures are sorted by what the caller should do, on the
:mod:`alphabook.core.errors` tree: :class:`ProviderBusy` (5xx, timeouts: try again later),
:class:`ProviderRateLimited` (429: wait ``retry_after_s`` then try again), :class:`ProviderRejected` (a bad
key, an unknown model, a refused request: the person must change something). :func:`with_retries` is the one
place that waits and tries again. What a provider can do is data (:class:`ProviderCapabilities`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from alphabook.core.errors import RejectedError, TemporaryError

__all__ = ["Completion", "LLMProvider", "Message", "ProviderBusy", "ProviderCapabilities", "ProviderRateLimited",
           "ProviderRejected", "error_for_status", "retry_after_seconds", "with_retries"]

Role = Literal["system", "user", "assistant"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer and what it consumed; ``model`` is the model that answered, as the provider names it."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str


@dataclass(frozen=True, slots=True)
class ProviderCapabilities:
    """``needs_key``: refuses to work without an API key; ``offline``: never opens a connection;
    ``metered``: its calls cost money (managed calls are charged); ``default_model``: used when none is set."""

    needs_key: bool
    offline: bool
    metered: bool
    default_model: str


class ProviderBusy(TemporaryError):
    """The provider failed for a reason of its own (5xx, overloaded, timed out, unreachable)."""


class ProviderRateLimited(ProviderBusy):
    """The provider answered 429; ``retry_after_s`` is its Retry-After (0 when it gave none)."""

    def __init__(self, detail: str, retry_after_s: float = 0.0) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class ProviderRejected(RejectedError):
    """The provider refused the request itself (bad key, unknown model, invalid request): retrying cannot help."""


class LLMProvider(ABC):
    """One configured provider: a protocol (``kind``), an address, a key. One class may speak for several
    kinds (OpenAI, DeepSeek and Ollama share a protocol), so capabilities are looked up per kind."""

    kinds: ClassVar[dict[str, ProviderCapabilities]]

    def __init__(self, *, kind: str, api_key: str | None = None, base_url: str = "", timeout_s: float = 60.0) -> None:
        self.kind = kind
        self.capabilities = self.kinds[kind]
        self.api_key = api_key
        self.base_url = base_url
        self.timeout_s = timeout_s

    @abstractmethod
    def complete(self, messages: Sequence[Message], model: str, max_tokens: int) -> Completion:
        """Send ``messages`` (system messages first) to ``model`` and return its answer.

        Returns the answer's text and the provider's own token counts. Raises :class:`ProviderRateLimited`
        on 429, :class:`ProviderBusy` on 5xx, timeouts and connection failures, :class:`ProviderRejected` on
        any other refusal (401/403 bad key, 400/404 unknown model). Makes exactly one request; never retries
        (:func:`with_retries` does). Changes no state of ours.
        """


def with_retries(call: Callable[[], T], attempts: int, max_wait_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried up to ``attempts`` times while the provider is busy or rate-limiting.

    Waits the Retry-After of a 429 (0 when it gave none), else 0.5, 1, 2… seconds. A wait longer than
    ``max_wait_s`` is not waited: the last error is raised at once so the router can try the next provider.
    """
    for attempt in range(attempts):
        try:
            return call()
        except ProviderBusy as error:
            wait = error.retry_after_s if isinstance(error, ProviderRateLimited) else 0.5 * 2 ** attempt
            if attempt == attempts - 1 or wait > max_wait_s:
                raise
            sleep(wait)
    raise AssertionError("unreachable: attempts >= 1")


def retry_after_seconds(value: str | None) -> float:
    """A Retry-After header in seconds (0 when absent or an HTTP date we do not wait for precisely)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def error_for_status(provider: str, status: int, message: str, retry_after: str | None = None) -> Exception:
    """The typed error for a provider's HTTP failure, the same sorting for every SDK."""
    detail = f"{provider} answered {status}: {message}"
    if status == 429:
        return ProviderRateLimited(detail, retry_after_seconds(retry_after))
    if status >= 500 or status == 408:
        return ProviderBusy(detail)
    return ProviderRejected(detail)
