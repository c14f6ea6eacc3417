"""Rate limits on the endpoints people can abuse (purchase, review, flag): per user and per address.

The ``limits`` library does the counting with a moving window, in memory by default (one API process) or
in Redis when ``ALPHABOOK_REDIS_URL`` is set (several processes share the counts). A refused request is a
429 problem with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

from fastapi import Request
from limits import parse, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from alphabook.api.deps import CurrentUser, SettingsDep
from alphabook.core.config import Settings
from alphabook.core.errors import RateLimited

__all__ = ["Action", "build_limiter", "count_demo_opening", "rate_limit"]

Action = Literal["purchase", "review", "flag"]


def build_limiter(redis_url: str) -> MovingWindowRateLimiter:
    """One per app: counts live in this process's memory, or in Redis when ``redis_url`` is set."""
    storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
    if not isinstance(storage, Storage):
        raise TypeError(f"{redis_url!r} names an asynchronous storage; use redis://host:port")
    return MovingWindowRateLimiter(storage)


def rate_limit(action: Action) -> Callable[..., None]:
    """A dependency that counts one ``action`` against the caller and their address (429 once over)."""

    def check(request: Request, user: CurrentUser, settings: SettingsDep) -> None:
        item = parse(getattr(settings, f"rate_limit_{action}"))
        limiter: MovingWindowRateLimiter = request.app.state.limiter
        address = request.client.host if request.client else "unknown"
        for key in (f"user:{user.id}", f"ip:{address}"):
            if not limiter.hit(item, action, key):
                reset, _ = limiter.get_window_stats(item, action, key)
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"Too many {action} requests; at most {item} per user and per address. "
                                  f"Try again in {wait} s.", retry_after=wait)

    return check


def count_demo_opening(limiter: MovingWindowRateLimiter, settings: Settings, address: str) -> None:
    """Count one demo account against ``address`` under every limit of ``rate_limit_demo`` (RateLimited once one
    is reached, nothing counted then). Shared by the API and the dashboards, which both open demos."""
    key = f"ip:{address}"
    items = parse_many(settings.rate_limit_demo)
    full = [item for item in items if not limiter.test(item, "demo", key)]
    if full:
        wait = max(max(1, math.ceil(limiter.get_window_stats(item, "demo", key).reset_time - time.time()))
                   for item in full)
        raise RateLimited(f"Too many demo accounts opened from your address (at most {settings.rate_limit_demo}). "
                          f"Try again in {wait} s, or sign up for your own paper account.", retry_after=wait)
    for item in items:
        limiter.hit(item, "demo", key)
