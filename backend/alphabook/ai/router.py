"""Which model answers a person: their own providers in order, else the platform's metered one, else offline.

The chain for a person is their configured providers (lowest priority first), or, when they configured none,
the managed provider (``ai_managed_provider``, paid from their credits) if the platform has one; the offline
:mod:`~alphabook.ai.providers.rules` provider always ends it, so the assistant answers with no key at all. A
provider that stays busy through its retries hands over to the next one (the reason is kept for the answer);
one that refuses the request (a bad key, an unknown model) stops the chain, because only the person can fix
that. Limits are checked and usage is metered here, around every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.ai import credits, service
from alphabook.ai.base import Completion, LLMProvider, Message, ProviderBusy, with_retries
from alphabook.ai.limits import check_limits
from alphabook.ai.metering import price_of
from alphabook.ai.providers import build_provider
from alphabook.ai.providers.rules import MODEL as OFFLINE_MODEL
from alphabook.core.config import Settings
from alphabook.core.db import end_transaction
from alphabook.core.errors import ConfigurationError, InvalidInput, NotFound
from alphabook.core.money import Money

__all__ = ["DEFAULT_ROUTE", "MANAGED", "OFFLINE", "Route", "Routed", "complete", "routes_for"]

DEFAULT_ROUTE = "alphabook"  # the whole chain
MANAGED = "managed"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the person's name for the provider, or "managed"/"offline"
    kind: str
    model: str
    managed: bool
    build: Callable[[], LLMProvider] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Routed:
    """The answer, who gave it, what it cost the person (managed calls only) and why earlier providers did not."""

    route: str
    completion: Completion
    charge: Money | None
    skipped: tuple[str, ...]


def routes_for(session: Session, user: User, settings: Settings) -> list[Route]:
    timeout = settings.ai_request_timeout_seconds
    routes = [Route(row.name, row.kind, row.model, False,
                    partial(build_provider, row.kind, service.provider_key(row, settings), row.base_url, timeout))
              for row in service.providers_of(session, user)]
    if not routes and settings.ai_managed_provider != "none":
        kind = settings.ai_managed_provider
        key = settings.ai_managed_api_key.get_secret_value() if settings.ai_managed_api_key else None
        try:
            provider = build_provider(kind, key, settings.ai_managed_base_url, timeout)
        except InvalidInput as error:
            raise ConfigurationError(f"ai_managed_provider is {kind}: {error.detail} Set ai_managed_api_key.") from None
        routes.append(Route(MANAGED, kind, settings.ai_managed_model or provider.capabilities.default_model, True,
                            lambda: provider))
    routes.append(Route(OFFLINE, "rules", OFFLINE_MODEL, False, lambda: build_provider("rules")))
    return routes


def complete(session: Session, user: User, messages: Sequence[Message], settings: Settings, purpose: str, *,
             route: str = DEFAULT_ROUTE, sleep: Callable[[float], None] = time.sleep) -> Routed:
    """One answer for ``messages`` through the person's chain (or only through the route named ``route``).

    Raises RateLimited (a personal limit), Conflict (no managed credit), ProviderRejected (fix the key or
    model), or ProviderBusy when the only route asked for stayed busy.
    """
    chain = routes_for(session, user, settings)
    if route != DEFAULT_ROUTE:
        chain = [candidate for candidate in chain if candidate.name == route]
        if not chain:
            raise NotFound(f"You have no AI provider named {route!r}; '{DEFAULT_ROUTE}' uses your providers in "
                           "order.")
    skipped: list[str] = []
    for number, candidate in enumerate(chain):
        check_limits(session, user, settings, managed=candidate.managed)
        if candidate.managed:
            credits.require_credit(session, user)
        provider = candidate.build()
        end_transaction(session)  # the model may take seconds (and retries wait): no lock is held meanwhile
        try:
            completion = with_retries(partial(provider.complete, messages, candidate.model, settings.ai_max_tokens),
                                      settings.ai_retry_attempts, settings.ai_retry_max_wait_seconds, sleep)
        except ProviderBusy as error:
            if number == len(chain) - 1:
                raise
            skipped.append(f"{candidate.name}: {error.detail}")
            continue
        return Routed(candidate.name, completion, _meter(session, user, candidate, completion, purpose, settings),
                      tuple(skipped))
    raise AssertionError("unreachable: the chain is never empty")


def _meter(session: Session, user: User, route: Route, completion: Completion, purpose: str,
           settings: Settings) -> Money | None:
    if not route.managed:
        service.record_usage(session, user, route.name, completion, purpose, managed=False)
        return None
    price = price_of(completion, settings)
    txn = credits.debit(session, user, price, completion.model)
    service.record_usage(session, user, route.name, completion, purpose, managed=True,
                         cost_minor=price.cost.amount_minor, charge_minor=price.charge.amount_minor,
                         currency=price.charge.currency, ledger_txn=txn)
    return price.charge
