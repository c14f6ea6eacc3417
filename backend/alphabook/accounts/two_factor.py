"""A second factor for sign-in: six-digit codes from an authenticator app, and single-use recovery codes.

pyotp does the RFC 6238 arithmetic and segno draws the enrolment QR code (as SVG, no imaging library). This
module adds what pyotp leaves to its caller: a code is accepted one time step either side of now (phones drift)
but never twice (the step of the last accepted code is stored, so a code seen over someone's shoulder is
useless), wrong codes lock the factor like wrong passwords do (same policy), the seed is encrypted at rest
(:mod:`alphabook.core.secrets_at_rest`) and recovery codes are kept only as SHA-256 digests. It is the only
writer of ``totp_factors`` and ``recovery_codes``; every change is audited in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyotp
import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.sign_in_models import RecoveryCode, TotpFactor
from alphabook.core import audit
from alphabook.core.clock import as_utc, utcnow
from alphabook.core.errors import Conflict, InvalidInput
from alphabook.core.secrets_at_rest import CredentialCipher

__all__ = ["RECOVERY_CODE_COUNT", "Enrolment", "Verdict", "begin_enrolment", "confirm_enrolment", "disable",
           "is_enabled", "matching_step", "normalized_code", "recovery_codes_left", "reset", "verify"]

RECOVERY_CODE_COUNT = 10
#: Steps either side of now a code may come from (30 s each): tolerates a phone's clock drift.
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read off paper
_SIX_DIGITS = re.compile(r"^\d{6}$")


class Verdict(StrEnum):
    """The outcome of a code presented at sign-in."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the set-up page shows: the seed (to type in by hand), its otpauth:// URI and that URI as a QR code."""

    secret: str
    provisioning_uri: str
    qr_svg_data_uri: str


def is_enabled(session: Session, user: User) -> bool:
    factor = session.get(TotpFactor, user.id)
    return factor is not None and factor.confirmed_at is not None


def recovery_codes_left(session: Session, user: User) -> int:
    query = select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    return int(session.scalar(query) or 0)


def begin_enrolment(session: Session, user: User, cipher: CredentialCipher, *, issuer: str) -> Enrolment:
    """The enrolment in progress (a new seed the first time): reloading the page keeps the seed already scanned."""
    factor = session.get(TotpFactor, user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off first to move it to another app.")
    if factor is None:
        factor = TotpFactor(user_id=user.id, secret=cipher.encrypt(pyotp.random_base32()), created_at=utcnow(),
                            failed_attempts=0)
        session.add(factor)
        session.flush()
    secret = cipher.decrypt(factor.secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name=issuer)
    return Enrolment(secret=secret, provisioning_uri=uri, qr_svg_data_uri=segno.make(uri).svg_data_uri(scale=5))


def confirm_enrolment(session: Session, user: User, code: str, cipher: CredentialCipher) -> list[str]:
    """Switch two-factor on once the app shows a right code; returns the recovery codes, shown this one time."""
    factor = session.get(TotpFactor, user.id)
    if factor is None or factor.confirmed_at is not None:
        raise Conflict("There is no two-factor set-up in progress; open the set-up page again.")
    step = matching_step(cipher.decrypt(factor.secret), normalized_code(code), None)
    if step is None:
        raise InvalidInput("That code is not right: type the six digits your app shows now for this account "
                           "(check the phone's clock is set automatically).")
    factor.confirmed_at = utcnow()
    factor.last_used_step = step
    codes = _replace_recovery_codes(session, user)
    audit.record(session, actor=user.name, action="user.two_factor_enabled", subject=f"user:{user.name}")
    return codes


def verify(session: Session, user: User, code: str, cipher: CredentialCipher, policy: PasswordPolicy) -> Verdict:
    """Check a sign-in code (from the app, or a recovery code); wrong ones count towards the lockout."""
    factor = session.get(TotpFactor, user.id)
    if factor is None or factor.confirmed_at is None:
        return Verdict.WRONG
    now = utcnow()
    if factor.locked_until is not None and as_utc(factor.locked_until) > now:
        audit.record(session, actor=user.name, action="user.two_factor_refused_locked", subject=f"user:{user.name}")
        return Verdict.LOCKED
    presented = normalized_code(code)
    if _SIX_DIGITS.fullmatch(presented):
        step = matching_step(cipher.decrypt(factor.secret), presented, factor.last_used_step)
        accepted, method = step is not None, "app"
    else:
        accepted, method = _use_recovery_code(session, user, presented, now), "recovery_code"
    if not accepted:
        return _count_failure(session, user, factor, policy, now)
    if method == "app":
        factor.last_used_step = step
    factor.failed_attempts = 0
    factor.locked_until = None
    audit.record(session, actor=user.name, action="user.two_factor_passed", subject=f"user:{user.name}",
                 method=method)
    return Verdict.ACCEPTED


def disable(session: Session, user: User, code: str, cipher: CredentialCipher, policy: PasswordPolicy) -> Verdict:
    """Switch two-factor off when ``code`` (a current code or a recovery code) is accepted, so a borrowed session
    cannot; returned rather than raised, so that a wrong code's count towards the lockout is committed."""
    verdict = verify(session, user, code, cipher, policy)
    if verdict is Verdict.ACCEPTED:
        _remove(session, user, actor=user.name)
    return verdict


def reset(session: Session, user: User, *, actor: str, reason: str) -> bool:
    """An operator switches ``user``'s two-factor off (they lost both their device and their recovery codes,
    and proved who they are some other way); audited with the reason. False when it was not on."""
    if session.get(TotpFactor, user.id) is None:
        return False
    _remove(session, user, actor=actor, reason=reason)
    return True


def _remove(session: Session, user: User, *, actor: str, **why: str) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    audit.record(session, actor=actor, action="user.two_factor_disabled", subject=f"user:{user.name}", **why)


def matching_step(secret: str, code: str, last_used_step: int | None) -> int | None:
    """The time step ``code`` belongs to, within the window and after the last accepted one, else None.

    pyotp's ``verify(valid_window=1)`` answers yes/no; the step itself is needed to refuse a replayed code.
    """
    if not _SIX_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(utcnow())
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if (last_used_step is None or step > last_used_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _count_failure(session: Session, user: User, factor: TotpFactor, policy: PasswordPolicy,
                   now: datetime) -> Verdict:
    factor.failed_attempts += 1
    audit.record(session, actor=user.name, action="user.two_factor_failed", subject=f"user:{user.name}",
                 failed_attempts=factor.failed_attempts)
    if factor.failed_attempts < policy.max_failures:
        return Verdict.WRONG
    factor.locked_until = now + policy.lockout
    factor.failed_attempts = 0
    audit.record(session, actor=user.name, action="user.two_factor_locked", subject=f"user:{user.name}",
                 until=factor.locked_until.isoformat())
    return Verdict.LOCKED


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    """Spend a recovery code; the conditional UPDATE lets only one of two simultaneous uses succeed."""
    spent = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.digest == _digest(code), RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(spent.rowcount == 1)  # type: ignore[attr-defined]


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    now = utcnow()
    session.add_all(RecoveryCode(user_id=user.id, digest=_digest(normalized_code(code)), created_at=now)
                    for code in codes)
    session.flush()
    return codes


def _new_recovery_code() -> str:
    """Ten characters (about 50 bits) in two groups of five, e.g. ``k7wq2-mx9tr``."""
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def normalized_code(code: str) -> str:
    """What people type, without the spaces and dashes they add or the capitals their keyboard adds."""
    return re.sub(r"[\s-]", "", code).lower()


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
