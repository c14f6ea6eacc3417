"""One exception tree whose branches say what should happen next.

The classes are sorted by their operational meaning, not by where they are raised: a *temporary*
failure is retried with backoff, a *rejection* came from a counterparty (exchange, payment provider),
*invalid input* tells the user what to change, a *configuration* error needs an operator, and
*unauthenticated* / *forbidden* / *not found* / *conflict* map onto HTTP. The API turns any of them
into an RFC 9457 problem document (see :mod:`alphabook.api.problems`), so a message written here is
what a person reads: say what is wrong and what to do.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AlphabookError(Exception):
    """Base of every error alphabook raises on purpose."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class TemporaryError(AlphabookError):
    """Worth retrying later with backoff (a timeout, a 5xx, a rate limit)."""

    status = 503
    title = "Temporarily unavailable"
    slug = "temporary"


class RejectedError(AlphabookError):
    """A counterparty (exchange, broker, payment provider) refused the request; retrying won't help."""

    status = 502
    title = "Rejected by counterparty"
    slug = "rejected"


class InvalidInput(AlphabookError):
    """The caller sent something we cannot accept; the detail says what to change."""

    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class ConfigurationError(AlphabookError):
    """The installation is misconfigured; an operator must act."""

    status = 500
    title = "Configuration error"
    slug = "configuration"


class Unauthenticated(AlphabookError):
    """No valid credentials: log in or send a token."""

    status = 401
    title = "Authentication required"
    slug = "unauthenticated"


class Forbidden(AlphabookError):
    """Credentials are valid but do not allow this action."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(AlphabookError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(AlphabookError):
    """The request clashes with the current state (a duplicate name, a finished order)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class RateLimited(AlphabookError):
    """Too many requests of one kind from one user or address; retry after ``retry_after`` seconds."""

    status = 429
    title = "Too many requests"
    slug = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after
