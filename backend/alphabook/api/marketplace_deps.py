"""Dependencies shared by the marketplace and payment routes: the payment provider, and listings by slug."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.config import Settings
from alphabook.core.errors import NotFound
from alphabook.marketplace.listings import get_listing, visible_to
from alphabook.marketplace.models import Listing
from alphabook.payments.providers import PaymentProvider
from alphabook.sandbox.base import Executor
from alphabook.sandbox.service import Pool, SandboxConfig, build_executor

__all__ = ["AppSandbox", "ExecutorDep", "ProviderDep", "find_listing"]


def get_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider = request.app.state.payments
    return provider


ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]


class AppSandbox:
    """The API's sandbox executor (its own pool, or the executor service's client), built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.config = SandboxConfig.from_settings(settings)
        self.pool: Pool | None = None
        self._lock = threading.Lock()

    def executor(self) -> Pool:
        with self._lock:
            if self.pool is None or self.pool.closed.is_set():
                self.pool = build_executor(self.config)
            return self.pool

    def close(self) -> None:
        with self._lock:
            if self.pool is not None:
                self.pool.close()
                self.pool = None


def get_executor(request: Request) -> Callable[[], Executor]:
    """The pool is started by the first call that needs it, not by requests that never run code."""
    sandbox: AppSandbox = request.app.state.sandbox
    return sandbox.executor


ExecutorDep = Annotated[Callable[[], Executor], Depends(get_executor)]


def find_listing(session: Session, creator: str, name: str, user: User | None) -> Listing:
    """The listing ``creator/name`` if ``user`` may see it; a hidden listing is simply not found."""
    listing = get_listing(session, f"{creator}/{name}")
    if not visible_to(listing, user):
        raise NotFound(f"There is no listing {creator}/{name}.")
    return listing
