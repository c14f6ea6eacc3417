"""Accounts on a real database: sign-up rules, login lockout, API keys, and their audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from alphabook.accounts import passwords, service
from alphabook.accounts.models import ApiScope, Role
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.core import audit
from alphabook.core.clock import FrozenClock, utcnow
from alphabook.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated

POLICY = PasswordPolicy(min_length=10, min_strength=2, max_failures=3, lockout=timedelta(minutes=15))
GOOD = "correct-horse-battery-staple-7"


def test_sign_up_then_log_in(session: Session) -> None:
    user = passwords.sign_up(session, "alice", GOOD, POLICY, email="alice@example.org")
    assert user.roles == [Role.USER.value] and user.email == "alice@example.org"
    assert user.password is not None and GOOD not in user.password.hash
    assert passwords.log_in(session, "alice", GOOD, POLICY) is user
    assert passwords.log_in(session, "alice", GOOD + "x", POLICY) is None
    assert passwords.log_in(session, "nobody", GOOD, POLICY) is None
    actions = [entry.action for entry in audit.entries(session, subject="user:alice")]
    assert actions == ["user.created", "user.signed_up", "user.login_failed"]


@pytest.mark.parametrize(
    ("name", "password", "error", "message"),
    [
        ("Alice", GOOD, InvalidInput, "lower-case"),
        ("a", GOOD, InvalidInput, "2 to 32"),
        ("bob", "short", InvalidInput, "at least 10"),
        ("bob", "password1234", InvalidInput, "too weak"),
        ("bob", "bob-" + GOOD, InvalidInput, "username"),
    ],
)
def test_sign_up_refuses_bad_names_and_passwords(
    session: Session, name: str, password: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        passwords.sign_up(session, name, password, POLICY)
    assert service.find_user(session, name) is None


def test_a_taken_name_cannot_be_signed_up_again(session: Session) -> None:
    passwords.sign_up(session, "carol", GOOD, POLICY)
    with pytest.raises(Conflict, match="taken"):
        passwords.sign_up(session, "carol", GOOD + "!", POLICY)
    assert passwords.log_in(session, "carol", GOOD, POLICY) is not None


def test_sign_up_cannot_take_over_an_account_without_a_password(session: Session) -> None:
    service.ensure_user(session, "gh-octocat")  # came in through GitHub: no password of its own
    service.ensure_user(session, "trent")  # added by an admin in the hub
    for name, error in (("gh-octocat", InvalidInput), ("g-someone", InvalidInput), ("trent", Conflict)):
        with pytest.raises(error):
            passwords.sign_up(session, name, GOOD, POLICY)
    assert passwords.log_in(session, "trent", GOOD, POLICY) is None


def test_lockout_after_repeated_failures_then_expiry(session: Session, frozen_now: FrozenClock) -> None:
    passwords.sign_up(session, "dave", GOOD, POLICY)
    for _ in range(POLICY.max_failures):
        assert passwords.log_in(session, "dave", "wrong-password-1", POLICY) is None
    assert passwords.is_locked(session, "dave")
    # Even the right password is refused while locked.
    assert passwords.log_in(session, "dave", GOOD, POLICY) is None
    frozen_now.advance(POLICY.lockout + timedelta(seconds=1))
    assert not passwords.is_locked(session, "dave")
    assert passwords.log_in(session, "dave", GOOD, POLICY) is not None
    actions = [entry.action for entry in audit.entries(session, subject="user:dave")]
    assert actions.count("user.locked") == 1 and "user.login_refused_locked" in actions


def test_ensure_user_mirrors_hub_roles_and_audits_changes(session: Session, frozen_now: FrozenClock) -> None:
    user = service.ensure_user(session, "erin", roles=service.roles_from_hub(admin=False, groups=[]))
    assert user.roles == ["user"] and user.created_at == utcnow()
    frozen_now.advance(timedelta(minutes=5))
    same = service.ensure_user(session, "erin", roles=service.roles_from_hub(admin=False, groups=["creators"]))
    assert same is user and user.roles == ["user", "creator"] and user.last_seen_at == utcnow()
    assert service.roles_from_hub(admin=True, groups=[]) == ["user", "creator", "admin"]
    [change] = audit.entries(session, action="user.roles_changed")
    assert change.data == {"before": ["user"], "after": ["user", "creator"]}


def test_api_key_lifecycle(session: Session, frozen_now: FrozenClock) -> None:
    owner = service.ensure_user(session, "frank")
    key, secret = service.create_api_key(session, owner, name="cron", scopes=[ApiScope.READ], expires_in_days=30)
    assert secret.startswith(f"ab_{key.prefix}_") and secret not in key.digest
    found, used = service.user_for_api_key(session, secret)
    assert (found, used) == (owner, key) and key.last_used_at == utcnow()
    with pytest.raises(Unauthenticated, match="not valid"):
        service.user_for_api_key(session, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    frozen_now.advance(timedelta(days=30))
    with pytest.raises(Unauthenticated, match="expired"):
        service.user_for_api_key(session, secret)
    other = service.ensure_user(session, "grace")
    with pytest.raises(NotFound):
        service.revoke_api_key(session, other, key.id)
    service.revoke_api_key(session, owner, key.id)
    assert service.list_api_keys(session, owner) == []
    actions = [entry.action for entry in audit.entries(session, subject=f"api_key:{key.prefix}")]
    assert actions == ["api_key.created", "api_key.revoked"]


def test_api_key_needs_a_scope(session: Session) -> None:
    owner = service.ensure_user(session, "heidi")
    with pytest.raises(InvalidInput, match="at least one scope"):
        service.create_api_key(session, owner, name="empty", scopes=[], expires_in_days=None)
