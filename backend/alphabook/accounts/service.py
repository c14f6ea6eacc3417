"""The accounts domain's verbs: mirror hub users, and manage their API keys.

This module is the only writer of ``users`` and ``api_keys``; routes and the hub's authenticator call
it. Every key created or revoked is written to the audit log in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.accounts.models import ApiKey, ApiScope, Role, User
from alphabook.core import audit, security
from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput, NotFound, Unauthenticated

#: Valid as a hub name and as a Unix account name (Debian's adduser NAME_REGEX).
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
MAX_KEYS_PER_USER = 50
#: Username prefixes of people who sign in with GitHub or Google (:mod:`alphabook.accounts.oauth_providers`);
#: password sign-up may not use them, so nobody can pre-empt a provider account.
GITHUB_PREFIX = "gh-"
GOOGLE_PREFIX = "g-"
PROVIDER_PREFIXES = (GITHUB_PREFIX, GOOGLE_PREFIX)


def check_username(name: str) -> str:
    """Return the name if it may be used, else raise saying what is allowed."""
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            "A username is 2 to 32 characters: lower-case letters, digits, '-' or '_', starting with a letter."
        )
    return name


def roles_from_hub(*, admin: bool, groups: Iterable[str]) -> list[str]:
    """The alphabook roles implied by a hub user model."""
    roles = [Role.USER.value]
    if "creators" in set(groups) or admin:
        roles.append(Role.CREATOR.value)
    if admin:
        roles.append(Role.ADMIN.value)
    return roles


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def ensure_user(
    session: Session, name: str, *, roles: list[str] | None = None, email: str | None = None
) -> User:
    """The user called ``name``, created on first sight; ``roles`` and ``email`` refresh the mirror."""
    user = find_user(session, name)
    now = utcnow()
    if user is None:
        user = User(name=name, email=email, roles=roles or [Role.USER.value], created_at=now)
        session.add(user)
        session.flush()
        audit.record(session, actor=name, action="user.created", subject=f"user:{name}", roles=user.roles)
    else:
        if roles is not None and roles != user.roles:
            audit.record(
                session, actor="hub", action="user.roles_changed", subject=f"user:{name}",
                before=user.roles, after=roles,
            )
            user.roles = roles
        if email:
            user.email = email
    user.last_seen_at = now
    return user


def create_api_key(
    session: Session, user: User, *, name: str, scopes: list[ApiScope], expires_in_days: int | None
) -> tuple[ApiKey, str]:
    """Mint a key for ``user``; the returned secret is shown once and cannot be recovered."""
    if not scopes:
        raise InvalidInput("Give the key at least one scope: 'read' or 'write'.")
    count = len(list_api_keys(session, user))
    if count >= MAX_KEYS_PER_USER:
        raise InvalidInput(f"You already have {count} API keys; delete one you no longer use first.")
    minted = security.new_api_key()
    now = utcnow()
    key = ApiKey(
        user_id=user.id,
        name=name,
        prefix=minted.prefix,
        digest=minted.digest,
        scopes=sorted({scope.value for scope in scopes}),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(key)
    session.flush()
    audit.record(
        session, actor=user.name, action="api_key.created", subject=f"api_key:{key.prefix}",
        name=name, scopes=key.scopes, expires_at=key.expires_at.isoformat() if key.expires_at else None,
    )
    return key, minted.secret


def list_api_keys(session: Session, user: User) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, user: User, key_id: int) -> None:
    """Delete one of ``user``'s keys; someone else's key is reported as not found, not forbidden."""
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id:
        raise NotFound(f"You have no API key with id {key_id}.")
    audit.record(session, actor=user.name, action="api_key.revoked", subject=f"api_key:{key.prefix}", name=key.name)
    session.delete(key)


def user_for_api_key(session: Session, secret: str) -> tuple[User, ApiKey]:
    """The owner of a presented key; raises :class:`Unauthenticated` for unknown or expired keys."""
    prefix = security.api_key_prefix(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    if key is None or not security.digests_match(key.digest, secret):
        raise Unauthenticated("The API key is not valid: check it was copied whole, or create a new one.")
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated(f"The API key '{key.name}' expired on {key.expires_at:%Y-%m-%d}; create a new one.")
    key.last_used_at = now
    key.user.last_seen_at = now
    return key.user, key
