"""Provider accounts become prefixed Unix-safe names, so they can never take over a local account."""

from __future__ import annotations

import pytest

from alphabook.accounts.oauth_providers import github_username, google_username
from alphabook.accounts.service import USERNAME_PATTERN


@pytest.mark.parametrize(("login", "expected"), [("Octo-Cat", "gh-octo-cat"), ("root", "gh-root"), ("a1", "gh-a1")])
def test_github_logins_are_prefixed(login: str, expected: str) -> None:
    assert github_username(login) == expected


def test_github_login_too_long_for_unix_is_refused() -> None:
    assert github_username("x" * 39) is None


def test_google_names_are_prefixed_safe_and_distinct_across_domains() -> None:
    at_gmail = google_username("Alice.Smith@gmail.com")
    at_work = google_username("alice.smith@example.org")
    assert at_gmail is not None and at_work is not None
    assert at_gmail.startswith("g-alice-smith-") and at_work.startswith("g-alice-smith-")
    assert at_gmail != at_work
    assert USERNAME_PATTERN.fullmatch(at_gmail)
    assert google_username("ALICE.SMITH@GMAIL.COM") == at_gmail
    assert google_username("root@example.org") != "root"
