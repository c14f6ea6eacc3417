"""Sign-in links and two-factor codes on a real database: who gets a link, throttling, single use under
concurrency, expiry, enrolment, lockout, replay, recovery codes, and what is (not) stored readable."""

from __future__ import annotations

import hashlib
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy.orm import Session

from alphabook.accounts import magic_links, passwords, service, two_factor
from alphabook.accounts.models import User
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.sign_in_models import MagicLink, RecoveryCode, TotpFactor
from alphabook.accounts.two_factor import Verdict
from alphabook.core import audit
from alphabook.core.clock import FrozenClock, utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import Conflict, InvalidInput, Unauthenticated
from alphabook.core.secrets_at_rest import CredentialCipher, cipher_for

POLICY = PasswordPolicy(min_length=10, min_strength=2, max_failures=3, lockout=timedelta(minutes=15))
GOOD = "correct-horse-battery-staple-7"
LINKS = "https://alphabook.example/hub/magic-link"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, magic_link_minutes=15, magic_links_per_hour=2)


@pytest.fixture
def cipher(settings: Settings) -> CredentialCipher:
    return cipher_for(settings)


def _account(session: Session, name: str, email: str | None = None) -> User:
    return passwords.sign_up(session, name, GOOD, POLICY, email=email or f"{name}@example.org")


def _token(link: magic_links.IssuedLink) -> str:
    return link.url.rsplit("/", 1)[1]


def test_links_go_to_password_accounts_by_name_or_address(session: Session, settings: Settings) -> None:
    _account(session, "alice", "Alice@Example.org")
    passwords.sign_up(session, "nomail", GOOD, POLICY)
    service.ensure_user(session, "gh-octocat", email="octo@example.org")  # signs in with GitHub: no password
    [by_name] = magic_links.request_links(session, " alice ", settings, LINKS)
    [by_address] = magic_links.request_links(session, "alice@EXAMPLE.org", settings, LINKS)
    assert by_name.email == by_address.email == "Alice@Example.org" and by_name.url.startswith(LINKS + "/")
    for nobody in ("nomail", "gh-octocat", "octo@example.org", "ghost", "ghost@example.org"):
        assert magic_links.request_links(session, nobody, settings, LINKS) == []
    # Only the token's digest is stored.
    stored = {link.digest for link in session.query(MagicLink)}
    assert stored == {hashlib.sha256(_token(link).encode()).hexdigest() for link in (by_name, by_address)}


def test_an_account_is_sent_only_a_few_links_an_hour(session: Session, settings: Settings,
                                                     frozen_now: FrozenClock) -> None:
    _account(session, "bob")
    assert len(magic_links.request_links(session, "bob", settings, LINKS)) == 1
    assert len(magic_links.request_links(session, "bob", settings, LINKS)) == 1
    assert magic_links.request_links(session, "bob", settings, LINKS) == []  # magic_links_per_hour=2
    frozen_now.advance(timedelta(hours=1, seconds=1))
    assert len(magic_links.request_links(session, "bob", settings, LINKS)) == 1
    actions = [entry.action for entry in audit.entries(session, subject="user:bob")]
    assert actions.count("user.magic_link_sent") == 3 and actions.count("user.magic_link_throttled") == 1


def test_a_link_works_once_and_until_it_expires(session: Session, settings: Settings,
                                                frozen_now: FrozenClock) -> None:
    _account(session, "carol")
    [first, second] = [magic_links.request_links(session, "carol", settings, LINKS)[0] for _ in range(2)]
    assert magic_links.inspect(session, _token(first)) is magic_links.LinkState.VALID
    assert magic_links.consume(session, _token(first)) == "carol"
    with pytest.raises(Unauthenticated, match="already used"):
        magic_links.consume(session, _token(first))
    frozen_now.advance(timedelta(minutes=15))
    assert magic_links.inspect(session, _token(second)) is magic_links.LinkState.EXPIRED
    with pytest.raises(Unauthenticated, match="has expired"):
        magic_links.consume(session, _token(second))
    with pytest.raises(Unauthenticated, match="not valid"):
        magic_links.consume(session, secrets.token_urlsafe(32))
    assert [entry.action for entry in audit.entries(session, subject="user:carol")].count("user.magic_link_used") == 1


def test_two_clicks_at_once_sign_in_once(database: Database, settings: Settings) -> None:
    name = "dave" + secrets.token_hex(3)
    with database.session() as session:
        _account(session, name)
        [link] = magic_links.request_links(session, name, settings, LINKS)
    barrier = threading.Barrier(4, timeout=30)

    def click(_: int) -> str:
        barrier.wait()
        try:
            with database.session() as session:
                return magic_links.consume(session, _token(link))
        except Unauthenticated as refused:
            return refused.detail

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(click, range(4)))
    assert outcomes.count(name) == 1, outcomes
    assert all("already used" in outcome for outcome in outcomes if outcome != name)


@pytest.fixture
def enrolled(session: Session, cipher: CredentialCipher, frozen_now: FrozenClock) -> tuple[User, pyotp.TOTP, list[str]]:
    """An account with two-factor on: the user, their app, and their recovery codes."""
    user = _account(session, "erin")
    enrolment = two_factor.begin_enrolment(session, user, cipher, issuer="alphabook")
    app = pyotp.TOTP(enrolment.secret)
    codes = two_factor.confirm_enrolment(session, user, app.at(utcnow()), cipher)
    frozen_now.advance(timedelta(seconds=30))  # the next step: the enrolment code is spent
    return user, app, codes


def test_enrolment_keeps_its_seed_encrypted_until_a_right_code(session: Session, cipher: CredentialCipher,
                                                               frozen_now: FrozenClock) -> None:
    user = _account(session, "frank")
    enrolment = two_factor.begin_enrolment(session, user, cipher, issuer="alphabook")
    assert two_factor.begin_enrolment(session, user, cipher, issuer="alphabook") == enrolment  # a reload
    assert enrolment.provisioning_uri.startswith("otpauth://totp/alphabook:frank?secret=")
    assert enrolment.qr_svg_data_uri.startswith("data:image/svg+xml")
    factor = session.get(TotpFactor, user.id)
    assert factor is not None and enrolment.secret not in factor.secret
    assert not two_factor.is_enabled(session, user)
    app = pyotp.TOTP(enrolment.secret)
    with pytest.raises(InvalidInput, match="not right"):
        two_factor.confirm_enrolment(session, user, app.at(utcnow() + timedelta(minutes=5)), cipher)
    codes = two_factor.confirm_enrolment(session, user, app.at(utcnow()), cipher)
    assert two_factor.is_enabled(session, user) and len(set(codes)) == two_factor.RECOVERY_CODE_COUNT
    assert not any(code in row.digest for row in session.query(RecoveryCode) for code in codes)
    with pytest.raises(Conflict, match="already on"):
        two_factor.begin_enrolment(session, user, cipher, issuer="alphabook")


def test_codes_are_accepted_once_and_recovery_codes_once(
        session: Session, cipher: CredentialCipher, enrolled: tuple[User, pyotp.TOTP, list[str]]) -> None:
    user, app, recovery = enrolled
    code = app.at(utcnow())
    assert two_factor.verify(session, user, code, cipher, POLICY) is Verdict.ACCEPTED
    assert two_factor.verify(session, user, code, cipher, POLICY) is Verdict.WRONG  # replayed
    assert two_factor.verify(session, user, recovery[0].upper(), cipher, POLICY) is Verdict.ACCEPTED
    assert two_factor.verify(session, user, recovery[0], cipher, POLICY) is Verdict.WRONG
    assert two_factor.recovery_codes_left(session, user) == 9
    methods = [entry.data["method"] for entry in audit.entries(session, action="user.two_factor_passed")
               if entry.subject == "user:erin"]
    assert methods == ["app", "recovery_code"]


def test_wrong_codes_lock_the_factor_like_wrong_passwords(
        session: Session, cipher: CredentialCipher, frozen_now: FrozenClock,
        enrolled: tuple[User, pyotp.TOTP, list[str]]) -> None:
    user, app, _ = enrolled
    wrong = f"{(int(app.at(utcnow())) + 500_000) % 1_000_000:06d}"
    assert [two_factor.verify(session, user, wrong, cipher, POLICY) for _ in range(3)] == [
        Verdict.WRONG, Verdict.WRONG, Verdict.LOCKED]
    assert two_factor.verify(session, user, app.at(utcnow()), cipher, POLICY) is Verdict.LOCKED  # even right ones
    frozen_now.advance(POLICY.lockout)
    assert two_factor.verify(session, user, app.at(utcnow()), cipher, POLICY) is Verdict.ACCEPTED


def test_turning_it_off_takes_a_code(session: Session, cipher: CredentialCipher,
                                     enrolled: tuple[User, pyotp.TOTP, list[str]]) -> None:
    user, app, recovery = enrolled
    assert two_factor.disable(session, user, "12345", cipher, POLICY) is Verdict.WRONG
    assert two_factor.is_enabled(session, user)
    assert two_factor.disable(session, user, recovery[3], cipher, POLICY) is Verdict.ACCEPTED
    assert not two_factor.is_enabled(session, user) and two_factor.recovery_codes_left(session, user) == 0
    assert two_factor.verify(session, user, app.at(utcnow()), cipher, POLICY) is Verdict.WRONG
