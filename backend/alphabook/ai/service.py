"""The assistant's verbs on its tables: the providers a person configured, and the record of each call.

This is the only module that writes ``ai_provider_settings`` and ``ai_usage``. A key is encrypted with the
installation's Fernet keys (:func:`alphabook.core.secrets_at_rest.cipher_for`) before it reaches the session and
decrypted only to build a provider for a call; every change is audited (never with the key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.ai.base import Completion
from alphabook.ai.models import AiProviderSetting, AiUsage
from alphabook.ai.providers import KINDS, provider_class
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.core.secrets_at_rest import cipher_for

__all__ = ["ProviderChange", "delete_provider", "get_provider", "provider_key", "providers_of", "record_usage",
           "save_provider", "usage_of"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True, slots=True)
class ProviderChange:
    """What a person sends; ``api_key=None`` keeps the stored key, ``""`` removes it."""

    kind: str
    model: str = ""
    base_url: str = ""
    api_key: str | None = None
    priority: int = 0


def providers_of(session: Session, user: User) -> list[AiProviderSetting]:
    """The person's providers in the order the router tries them."""
    return list(session.scalars(select(AiProviderSetting).where(AiProviderSetting.user_id == user.id)
                                .order_by(AiProviderSetting.priority, AiProviderSetting.id)))


def get_provider(session: Session, user: User, name: str) -> AiProviderSetting:
    found = session.scalar(select(AiProviderSetting).where(AiProviderSetting.user_id == user.id,
                                                           AiProviderSetting.name == name))
    if found is None:
        raise NotFound(f"You have no AI provider named {name!r}.")
    return found


def save_provider(session: Session, user: User, name: str, change: ProviderChange,
                  settings: Settings) -> AiProviderSetting:
    """Create the provider ``name`` or replace its settings."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("A provider name is 1-40 lowercase letters, digits, '-' or '_', e.g. 'openai'.")
    if change.kind not in KINDS:
        raise InvalidInput(f"There is no AI provider kind {change.kind!r}; use one of {', '.join(KINDS)}.")
    if change.base_url:
        if not settings.ai_custom_endpoints:
            raise Forbidden("This installation does not let people choose a provider's address (base_url); "
                            "leave it empty to use the provider's public address.")
        if not re.match(r"https?://", change.base_url):
            raise InvalidInput("base_url must start with http:// or https://.")
    now = utcnow()
    existing = session.scalar(select(AiProviderSetting).where(AiProviderSetting.user_id == user.id,
                                                              AiProviderSetting.name == name))
    row = existing or AiProviderSetting(user_id=user.id, name=name, created_at=now, api_key_encrypted=None,
                                        key_last4="")
    if change.api_key is not None:
        key = change.api_key.strip()
        row.api_key_encrypted = cipher_for(settings).encrypt(key) if key else None
        row.key_last4 = key[-4:] if key else ""
    if provider_class(change.kind).kinds[change.kind].needs_key and not row.api_key_encrypted:
        raise InvalidInput(f"A {change.kind} provider needs your API key ('api_key').")
    row.kind, row.base_url, row.priority, row.updated_at = change.kind, change.base_url, change.priority, now
    row.model = change.model or provider_class(change.kind).kinds[change.kind].default_model
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(f"The provider {name!r} was just created by another request; try again.") from None
    audit.record(session, actor=user.name, action="ai.provider.saved", subject=f"ai-provider:{row.id}",
                 name=name, kind=row.kind, model=row.model, base_url=row.base_url, key_last4=row.key_last4)
    return row


def delete_provider(session: Session, user: User, name: str) -> None:
    row = get_provider(session, user, name)
    audit.record(session, actor=user.name, action="ai.provider.deleted", subject=f"ai-provider:{row.id}",
                 name=name, kind=row.kind)
    session.delete(row)
    session.flush()


def provider_key(row: AiProviderSetting, settings: Settings) -> str | None:
    """The decrypted key, for building the provider of one call."""
    return cipher_for(settings).decrypt(row.api_key_encrypted) if row.api_key_encrypted else None


def record_usage(session: Session, user: User, provider: str, completion: Completion, purpose: str, *,
                 managed: bool, cost_minor: int = 0, charge_minor: int = 0, currency: str = "USD",
                 ledger_txn: str | None = None) -> AiUsage:
    usage = AiUsage(user_id=user.id, provider=provider, model=completion.model, purpose=purpose, managed=managed,
                    input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                    cost_minor=cost_minor, charge_minor=charge_minor, currency=currency, ledger_txn=ledger_txn,
                    at=utcnow())
    session.add(usage)
    session.flush()
    return usage


def usage_of(session: Session, user: User, limit: int = 100) -> list[AiUsage]:
    """The person's latest calls, newest first."""
    return list(session.scalars(select(AiUsage).where(AiUsage.user_id == user.id)
                                .order_by(AiUsage.at.desc(), AiUsage.id.desc()).limit(limit)))
