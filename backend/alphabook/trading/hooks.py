"""Hooks: where alerts arrive (``POST /api/hooks/{id}``), each bound to one account, with its secret and limits.

A hook's id is random and unguessable but is not what authenticates: its secret is, and it is shown once, when
the hook is made or its secret rotated; stored encrypted (:mod:`alphabook.trading.credentials`) because checking
an HMAC needs it. Two formats:

``tradingview``  TradingView can neither sign nor add headers, so the secret and a timestamp travel inside the
                 JSON body (``"secret": "…", "timestamp": "{{timenow}}"``); an IP allow-list narrows it further.
``signed``       Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64
                 HMAC-SHA256 of "id.timestamp.body">`` headers, keyed by the secret (``whsec_`` + base64).

Rotating a secret keeps the previous one valid for an overlap (``trading_secret_overlap_seconds`` by default),
so senders can be updated without missing an alert. Receiving alerts is :mod:`alphabook.trading.alerts`.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.core import audit, webhook_signatures
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, InvalidInput, NotFound
from alphabook.trading import locking
from alphabook.trading.credentials import CredentialCipher
from alphabook.trading.models import Alert, Hook, HookFormat, TradingAccount
from alphabook.trading.risk import parse_limits

__all__ = ["MAX_HOOKS_PER_ACCOUNT", "TRADINGVIEW_ADDRESSES", "NewSecret", "alerts_of", "create", "delete",
           "get_hook", "hooks_of", "new_secret", "normalize_allowed_ips", "rotate_secret", "update"]

MAX_HOOKS_PER_ACCOUNT = 50
#: Where TradingView sends webhooks from (its documentation lists these); "tradingview" in an allow-list means them.
TRADINGVIEW_ADDRESSES = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A hook with the secret that authenticates it, which is never shown again."""

    hook: Hook
    secret: str


def new_secret(format: HookFormat | str) -> str:
    if HookFormat(format) is HookFormat.SIGNED:
        return webhook_signatures.new_secret()
    return secrets.token_urlsafe(32)


def normalize_allowed_ips(items: Iterable[str]) -> list[str]:
    """Addresses and networks (``203.0.113.7``, ``2001:db8::/32``), or ``tradingview`` for TradingView's senders."""
    networks: list[str] = []
    for item in items:
        text = item.strip()
        if text.lower() == "tradingview":
            networks.extend(f"{address}/32" for address in TRADINGVIEW_ADDRESSES)
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError as error:
            raise InvalidInput(f"{item!r} in allowed_ips is not an IP address or network (e.g. 203.0.113.7 or "
                               "203.0.113.0/24), nor 'tradingview'.") from error
    return sorted(set(networks), key=networks.index)


def create(session: Session, cipher: CredentialCipher, account: TradingAccount, *, actor: str, name: str,
           format: HookFormat | str, live: bool, allowed_ips: Sequence[str] = (),
           limits: Mapping[str, Any] | None = None) -> NewSecret:
    """A new hook for ``account``; the returned secret is the only copy in clear."""
    account = locking.lock_account(session, account.id)
    count = session.scalar(select(func.count(Hook.id)).where(Hook.account_id == account.id)) or 0
    if count >= MAX_HOOKS_PER_ACCOUNT:
        raise Conflict(f"Account {account.id} has {count} hooks, the most it may have; delete one first.")
    _, stored_limits = parse_limits(limits, currency=account.currency)
    secret, now = new_secret(format), utcnow()
    hook = Hook(id=secrets.token_urlsafe(18), account_id=account.id, name=name, format=HookFormat(format).value,
                live=live, secret_ciphertext=cipher.encrypt(secret), previous_secret_ciphertext=None,
                previous_secret_until=None, allowed_ips=normalize_allowed_ips(allowed_ips), limits=stored_limits,
                kill_switch=False, kill_reason=None, created_at=now, updated_at=now)
    session.add(hook)
    session.flush()
    audit.record(session, actor=actor, action="trading.hook_created", subject=f"hook:{hook.id}",
                 account_id=account.id, name=name, format=hook.format, live=live, allowed_ips=hook.allowed_ips,
                 limits=stored_limits)
    return NewSecret(hook, secret)


def rotate_secret(session: Session, cipher: CredentialCipher, hook: Hook, *, actor: str,
                  overlap: timedelta) -> NewSecret:
    """A new secret; the current one stays valid for ``overlap`` (zero: at once invalid)."""
    hook = _locked(session, hook)
    secret, now = new_secret(hook.format), utcnow()
    hook.previous_secret_ciphertext = hook.secret_ciphertext if overlap > timedelta(0) else None
    hook.previous_secret_until = now + overlap if overlap > timedelta(0) else None
    hook.secret_ciphertext, hook.updated_at = cipher.encrypt(secret), now
    audit.record(session, actor=actor, action="trading.hook_secret_rotated", subject=f"hook:{hook.id}",
                 account_id=hook.account_id, previous_valid_until=_iso(hook.previous_secret_until))
    return NewSecret(hook, secret)


def update(session: Session, hook: Hook, *, actor: str, name: str | None = None,
           allowed_ips: Sequence[str] | None = None, limits: Mapping[str, Any] | None = None,
           live: bool | None = None) -> Hook:
    """Change what is given (``None`` leaves a field alone); limits are replaced as a whole."""
    account = locking.lock_account(session, hook.account_id)
    hook = _locked(session, hook)
    changes: dict[str, Any] = {}
    if name is not None:
        hook.name = changes["name"] = name
    if allowed_ips is not None:
        hook.allowed_ips = changes["allowed_ips"] = normalize_allowed_ips(allowed_ips)
    if limits is not None:
        hook.limits = changes["limits"] = parse_limits(limits, currency=account.currency)[1]
    if live is not None:
        hook.live = changes["live"] = live
    if changes:
        hook.updated_at = utcnow()
        audit.record(session, actor=actor, action="trading.hook_updated", subject=f"hook:{hook.id}",
                     account_id=hook.account_id, **changes)
    return hook


def delete(session: Session, hook: Hook, *, actor: str) -> None:
    """Remove a hook and its alert log (its orders stay, without the link); the audit log keeps the story."""
    hook = _locked(session, hook)
    audit.record(session, actor=actor, action="trading.hook_deleted", subject=f"hook:{hook.id}",
                 account_id=hook.account_id, name=hook.name)
    session.delete(hook)


def hooks_of(session: Session, account: TradingAccount) -> list[Hook]:
    return list(session.scalars(select(Hook).where(Hook.account_id == account.id).order_by(Hook.created_at, Hook.id)))


def get_hook(session: Session, account: TradingAccount, hook_id: str) -> Hook:
    hook = session.get(Hook, hook_id)
    if hook is None or hook.account_id != account.id:
        raise NotFound(f"Account {account.id} has no hook {hook_id}.")
    return hook


def alerts_of(session: Session, account: TradingAccount, *, hook_id: str | None = None,
              decision: str | None = None, before_id: int | None = None, limit: int = 50) -> list[Alert]:
    """The account's alerts and their decisions, newest first; ``before_id`` pages back."""
    query = (select(Alert).join(Hook, Hook.id == Alert.hook_id).where(Hook.account_id == account.id)
             .order_by(Alert.id.desc()).limit(limit))
    if hook_id is not None:
        query = query.where(Alert.hook_id == hook_id)
    if decision is not None:
        query = query.where(Alert.decision == decision)
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    return list(session.scalars(query))


def _locked(session: Session, hook: Hook) -> Hook:
    locked = locking.lock_hook(session, hook.id)
    if locked is None:
        raise NotFound(f"Hook {hook.id} no longer exists.")
    return locked


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()
