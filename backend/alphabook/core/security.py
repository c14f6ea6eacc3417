"""Secrets handling: password hashes, the password policy, and API keys.

argon2-cffi hashes passwords (memory-hard, salted, self-describing so parameters can be raised later
and old hashes rehashed on login); zxcvbn judges strength, which is what rejects the common passwords
a dictionary would miss. API keys are random and long, so a fast SHA-256 digest is enough to store them
safely: only the digest and a short prefix (shown to the user to recognise the key) are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from alphabook.core.errors import InvalidInput

API_KEY_MARK = "ab_"
_PREFIX_LEN = 8
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError, ValueError):  # ValueError: a non-ASCII (corrupt) hash
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_password_policy(password: str, *, username: str, min_length: int, min_strength: int) -> None:
    """Raise :class:`InvalidInput` saying what to change when ``password`` is too weak."""
    if len(password) < min_length:
        raise InvalidInput(f"The password must be at least {min_length} characters long.")
    if len(username) >= 3 and username.lower() in password.lower():
        raise InvalidInput("The password must not contain the username.")
    verdict = zxcvbn(password[:100], user_inputs=[username, "alphabook", "jupyter"])
    if verdict["score"] < min_strength:
        hint = verdict["feedback"].get("warning") or "It is too easy to guess."
        suggestions = " ".join(verdict["feedback"].get("suggestions") or [])
        raise InvalidInput(f"The password is too weak: {hint} {suggestions}".strip())


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly minted key: ``secret`` is shown to its owner once and never stored."""

    secret: str
    prefix: str
    digest: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(_PREFIX_LEN // 2)
    secret = f"{API_KEY_MARK}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(secret=secret, prefix=prefix, digest=api_key_digest(secret))


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_prefix(secret: str) -> str | None:
    """The lookup prefix of something that looks like an alphabook key, else None."""
    if not secret.startswith(API_KEY_MARK):
        return None
    prefix, sep, _rest = secret[len(API_KEY_MARK) :].partition("_")
    return prefix if sep and len(prefix) == _PREFIX_LEN else None


def digests_match(expected: str, secret: str) -> bool:
    return hmac.compare_digest(expected, api_key_digest(secret))
