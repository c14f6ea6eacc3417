"""Password hashing, the password policy and API keys."""

from __future__ import annotations

import hashlib
import re

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.core.security import (
    API_KEY_MARK,
    NewApiKey,
    api_key_digest,
    api_key_prefix,
    check_password_policy,
    digests_match,
    hash_password,
    new_api_key,
    password_needs_rehash,
    verify_password,
)

GOOD_PASSPHRASE = "gravel-otter-Mandolin-quietly-47-saffron"


def _policy(password: str, *, username: str = "alice", min_length: int = 10, min_strength: int = 2) -> None:
    check_password_policy(password, username=username, min_length=min_length, min_strength=min_strength)


# --- password hashes --------------------------------------------------------------------------


def test_hash_is_argon2_and_salted() -> None:
    first = hash_password("correct horse")
    second = hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second, "each hash must carry its own salt"
    assert not password_needs_rehash(first)


def test_verify_accepts_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert verify_password(stored, "correct horse") is True


@pytest.mark.parametrize("attempt", ["Correct horse", "correct horse ", "", "wrong"])
def test_verify_rejects_a_wrong_password(attempt: str) -> None:
    assert verify_password(hash_password("correct horse"), attempt) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not-a-hash",
        "$argon2id$v=19$m=65536,t=3,p=4$tooshort",
        "$2b$12$abcdefghijklmnopqrstuv",  # a bcrypt hash from another system
        "$argon2x$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    ],
)
def test_verify_returns_false_for_a_malformed_hash(stored: str) -> None:
    assert verify_password(stored, "correct horse") is False


def test_verify_returns_false_for_a_truncated_hash() -> None:
    assert verify_password(hash_password("correct horse")[:-6], "correct horse") is False


def test_verify_returns_false_for_a_non_ascii_hash() -> None:
    assert verify_password("$argon2id$ünïcode", "correct horse") is False


# --- password policy --------------------------------------------------------------------------


def test_too_short_password_names_the_minimum_length() -> None:
    with pytest.raises(InvalidInput, match=r"at least 12 characters") as caught:
        _policy("Zq8#vLp2", min_length=12)
    assert caught.value.status == 422
    assert "12" in caught.value.detail


def test_length_exactly_the_minimum_passes_the_length_check() -> None:
    _policy("Zq8#vLp2!x", min_length=10, min_strength=0)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "alice-gravel-otter-mandolin"),
        ("alice", "gravel-ALICE-otter-mandolin"),
        ("Alice", "gravel-otter-mandolin-alice"),
    ],
)
def test_password_containing_the_username_is_rejected(username: str, password: str) -> None:
    with pytest.raises(InvalidInput, match="username"):
        _policy(password, username=username, min_strength=0)


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop123", "letmein12345", "Password1234!"])
def test_common_passwords_are_rejected(password: str) -> None:
    with pytest.raises(InvalidInput, match="too weak"):
        _policy(password, min_strength=2)


def test_strength_threshold_zero_accepts_a_common_password() -> None:
    _policy("password1234", min_strength=0)


def test_long_random_passphrase_is_accepted() -> None:
    _policy(GOOD_PASSPHRASE, username="alice", min_length=10, min_strength=4)
    _policy("correct horse battery staple", username="bob", min_length=10, min_strength=2)


def test_empty_username_skips_the_username_check() -> None:
    _policy(GOOD_PASSPHRASE, username="", min_strength=2)


# --- API keys ---------------------------------------------------------------------------------


def test_new_api_key_format() -> None:
    key = new_api_key()
    assert isinstance(key, NewApiKey)
    assert API_KEY_MARK == "ab_"
    match = re.fullmatch(r"ab_([0-9a-f]{8})_([A-Za-z0-9_-]+)", key.secret)
    assert match is not None, key.secret
    assert match.group(1) == key.prefix
    assert len(match.group(2)) >= 40, "the random part must be long"


def test_new_api_key_digest_is_sha256_of_the_whole_secret() -> None:
    key = new_api_key()
    assert key.digest == hashlib.sha256(key.secret.encode()).hexdigest()
    assert key.digest == api_key_digest(key.secret)
    assert key.secret not in key.digest


def test_two_new_keys_differ() -> None:
    first, second = new_api_key(), new_api_key()
    assert first.secret != second.secret
    assert first.digest != second.digest


def test_api_key_prefix_parses_a_key() -> None:
    key = new_api_key()
    assert api_key_prefix(key.secret) == key.prefix
    assert api_key_prefix("ab_0123abcd_rest_with_underscores") == "0123abcd"


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "abc",
        "ab_",
        "ab_short",
        "ab_short_secret",
        "ab_0123abcd",  # no separator after the prefix
        "ab_0123abcdef_secret",  # prefix too long
        "0123abcd_secret",
        "3f1c9a0d2b7e4f6a8c5d1e0b9a7f3c2d",  # a JupyterHub API token
        "Bearer ab_0123abcd_secret",
    ],
)
def test_api_key_prefix_is_none_for_non_keys(candidate: str) -> None:
    assert api_key_prefix(candidate) is None


def test_digests_match() -> None:
    key, other = new_api_key(), new_api_key()
    assert digests_match(key.digest, key.secret) is True
    assert digests_match(key.digest, other.secret) is False
    assert digests_match(key.digest, key.secret + "x") is False
    assert digests_match(key.digest, "") is False
