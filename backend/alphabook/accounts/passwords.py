"""Password sign-up and login for the hub, with the rules people expect.

Rules: a minimum length, no easily guessed passwords (zxcvbn score, which knows the common-password
lists), and a lockout after repeated failures. A locked account answers "wrong" even to the right
password until the lock expires, so guessing cannot continue; the audit log records both failures and
locks so an admin can see an attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from alphabook.accounts.models import Password, Role, User
from alphabook.accounts.service import PROVIDER_PREFIXES, check_username, ensure_user, find_user
from alphabook.core import audit, security
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict, InvalidInput


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int
    min_strength: int
    max_failures: int
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordPolicy:
        return cls(
            min_length=settings.password_min_length,
            min_strength=settings.password_min_strength,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )

    def check(self, username: str, password: str) -> None:
        security.check_password_policy(
            password, username=username, min_length=self.min_length, min_strength=self.min_strength
        )


def sign_up(
    session: Session, name: str, password: str, policy: PasswordPolicy, *, email: str | None = None
) -> User:
    """Create a password account; raises InvalidInput/Conflict with a message for the sign-up form."""
    check_username(name)
    if name.startswith(PROVIDER_PREFIXES):
        raise InvalidInput(f"Names starting with {' or '.join(PROVIDER_PREFIXES)} are kept for GitHub and Google "
                           "sign-in; choose another, or use the 'Sign in with' buttons.")
    if find_user(session, name) is not None:
        raise Conflict(f"The username '{name}' is taken; choose another.")
    policy.check(name, password)
    user = ensure_user(session, name, roles=[Role.USER.value], email=email)
    _store(session, user, password)
    audit.record(session, actor=name, action="user.signed_up", subject=f"user:{name}")
    return user


def set_password(session: Session, name: str, password: str, policy: PasswordPolicy, *, actor: str) -> User:
    """Set (or reset) a password, creating the user if needed; used by admins and the CLI."""
    check_username(name)
    policy.check(name, password)
    user = find_user(session, name) or ensure_user(session, name)
    _store(session, user, password)
    audit.record(session, actor=actor, action="user.password_set", subject=f"user:{name}")
    return user


def log_in(session: Session, name: str, password: str, policy: PasswordPolicy) -> User | None:
    """The user if ``password`` is right and the account is not locked, else None."""
    user = find_user(session, name)
    if user is None or user.password is None:
        security.hash_password(password)  # same cost as a real check: do not reveal which names exist
        return None
    record = user.password
    now = utcnow()
    if record.locked_until is not None and record.locked_until > now:
        audit.record(session, actor=name, action="user.login_refused_locked", subject=f"user:{name}")
        return None
    if not security.verify_password(record.hash, password):
        record.failed_attempts += 1
        audit.record(
            session, actor=name, action="user.login_failed", subject=f"user:{name}",
            failed_attempts=record.failed_attempts,
        )
        if record.failed_attempts >= policy.max_failures:
            record.locked_until = now + policy.lockout
            record.failed_attempts = 0
            audit.record(
                session, actor=name, action="user.locked", subject=f"user:{name}",
                until=record.locked_until.isoformat(),
            )
        return None
    record.failed_attempts = 0
    record.locked_until = None
    if security.password_needs_rehash(record.hash):
        record.hash = security.hash_password(password)
    user.last_seen_at = now
    return user


def is_locked(session: Session, name: str) -> bool:
    user = find_user(session, name)
    locked_until = user.password.locked_until if user and user.password else None
    return locked_until is not None and locked_until > utcnow()


def _store(session: Session, user: User, password: str) -> None:
    hashed = security.hash_password(password)
    if user.password is None:
        user.password = Password(hash=hashed, changed_at=utcnow(), failed_attempts=0)
    else:
        user.password.hash = hashed
        user.password.changed_at = utcnow()
        user.password.failed_attempts = 0
        user.password.locked_until = None
    session.flush()
