"""Sign in with GitHub or Google beside passwords, switched on by their client id and secret.

oauthenticator's ``LocalGitHubOAuthenticator`` and ``LocalGoogleOAuthenticator`` do the OAuth work. The
hub takes a single authenticator, so each provider runs as a child of
:class:`~alphabook.accounts.authenticator.AlphabookAuthenticator`, mounted under its own prefix
(``/hub/github/oauth_login`` …). A provider's account becomes a prefixed, Unix-safe username
(``gh-octocat``, ``g-alice-1a2b3c``): nobody signing in with a provider can take over a password
account or a system account such as ``root``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.utils import url_path_join
from oauthenticator.github import LocalGitHubOAuthenticator
from oauthenticator.google import LocalGoogleOAuthenticator

from alphabook.accounts.service import GITHUB_PREFIX, GOOGLE_PREFIX, USERNAME_PATTERN


@dataclass(frozen=True, slots=True)
class ProviderLink:
    label: str
    url: str


def github_username(login: str) -> str | None:
    """``gh-`` + the GitHub login (unique on GitHub), or None if it cannot be a Unix name."""
    name = GITHUB_PREFIX + login.lower()
    return name if USERNAME_PATTERN.fullmatch(name) else None


def google_username(email: str) -> str | None:
    """``g-`` + the mailbox name + a digest of the whole address (mailbox names repeat across domains)."""
    mailbox = re.sub(r"[^a-z0-9_-]", "-", email.split("@")[0].lower())[:20].strip("-")
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:6]
    name = f"{GOOGLE_PREFIX}{mailbox}-{digest}" if mailbox else f"{GOOGLE_PREFIX}{digest}"
    return name if USERNAME_PATTERN.fullmatch(name) else None


class _ProviderMixin:
    """Mounts an oauthenticator class under ``/<key>/`` and maps its usernames."""

    key = ""
    label = ""

    def login_url(self, base_url: str) -> str:
        return str(url_path_join(base_url, self.key, "oauth_login"))

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        mounted = []
        for path, handler in super().get_handlers(app):  # type: ignore[misc]
            scoped = type(f"{self.label}{handler.__name__}", (handler,), {"authenticator": self})
            mounted.append((url_path_join(f"/{self.key}", path), scoped))
        return mounted

    def provider_username(self, raw: str) -> str | None:
        raise NotImplementedError

    async def authenticate(self, handler: Any, data: Any = None, **kwargs: Any) -> dict[str, Any] | None:
        model: dict[str, Any] | None = await super().authenticate(handler, data, **kwargs)  # type: ignore[misc]
        if model is None:
            return None
        name = self.provider_username(model["name"])
        if name is None:
            self.log.warning("refusing %s login %r: not usable as a username", self.label, model["name"])  # type: ignore[attr-defined]
            return None
        model["name"] = name
        return model

    def add_system_user(self, user: Any) -> None:
        parent: Any = self.parent  # type: ignore[attr-defined]
        parent.add_system_user(user)


class GitHubProvider(_ProviderMixin, LocalGitHubOAuthenticator):
    key = "github"
    label = "GitHub"

    def provider_username(self, raw: str) -> str | None:
        return github_username(raw)


class GoogleProvider(_ProviderMixin, LocalGoogleOAuthenticator):
    key = "google"
    label = "Google"

    def provider_username(self, raw: str) -> str | None:
        return google_username(raw)


def build_providers(parent: Authenticator, public_hub_url: str, **credentials: str) -> list[_ProviderMixin]:
    """The providers whose id and secret are both set, configured to call back to ``public_hub_url``."""
    providers: list[_ProviderMixin] = []
    common = {"parent": parent, "allow_all": True, "create_system_users": parent.create_system_users,
              "add_user_cmd": parent.add_user_cmd}
    if credentials.get("github_client_id") and credentials.get("github_client_secret"):
        providers.append(GitHubProvider(
            client_id=credentials["github_client_id"], client_secret=credentials["github_client_secret"],
            github_url=credentials.get("github_url") or "https://github.com",
            oauth_callback_url=url_path_join(public_hub_url, "github", "oauth_callback"), **common,
        ))
    if credentials.get("google_client_id") and credentials.get("google_client_secret"):
        providers.append(GoogleProvider(
            client_id=credentials["google_client_id"], client_secret=credentials["google_client_secret"],
            oauth_callback_url=url_path_join(public_hub_url, "google", "oauth_callback"), **common,
        ))
    return providers


__all__ = ["GitHubProvider", "GoogleProvider", "ProviderLink", "build_providers", "github_username",
           "google_username"]
