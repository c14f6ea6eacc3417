"""Who is calling, according to JupyterHub.

jupyterhub's own ``HubOAuth`` client does the heavy lifting: it validates hub API tokens against the
hub's REST API (with a short cache), and drives the OAuth handshake that lets a browser that is logged
in to the hub reach the API with a cookie. Roles are not taken from the caller's token (an OAuth token
may not be allowed to read its own groups); the service asks the hub with its own token instead.

The hub hands a managed service its configuration in ``JUPYTERHUB_*`` environment variables; without
them (the API run on its own) only alphabook API keys authenticate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
from jupyterhub.services.auth import HubOAuth

from alphabook.accounts.service import roles_from_hub


@dataclass(frozen=True, slots=True)
class HubUser:
    name: str
    roles: list[str]


@dataclass(frozen=True, slots=True)
class LoginRedirect:
    """Where to send a browser to log in, and the state value to remember in a cookie."""

    url: str
    state: str


class HubIdentity:
    """Validates hub tokens and runs the OAuth handshake for one managed service."""

    def __init__(self, cache_seconds: int) -> None:
        self.enabled = bool(os.environ.get("JUPYTERHUB_API_TOKEN"))
        self.oauth = HubOAuth(cache_max_age=cache_seconds) if self.enabled else None

    @property
    def cookie_name(self) -> str:
        return self.oauth.oauth_client_id if self.oauth else "alphabook-api"

    @property
    def state_cookie_name(self) -> str:
        return f"{self.cookie_name}-oauth-state"

    @property
    def cookie_path(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    async def user_for_token(self, token: str) -> HubUser | None:
        """The hub user owning ``token``, or None if the hub does not accept it."""
        if self.oauth is None:
            return None
        model = await self.oauth.user_for_token(token, sync=False)
        if not model or model.get("kind", "user") != "user":
            return None
        full = await self._user_model(model["name"])
        return HubUser(
            name=model["name"],
            roles=roles_from_hub(admin=bool(full.get("admin")), groups=full.get("groups") or []),
        )

    async def _user_model(self, name: str) -> dict[str, Any]:
        assert self.oauth is not None
        cache_key = f"model:{name}"
        try:
            cached: dict[str, Any] = self.oauth.cache[cache_key]
            return cached
        except KeyError:
            pass
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.get(
                f"{self.oauth.api_url}/users/{name}",
                headers={"Authorization": f"token {self.oauth.api_token}"},
            )
        reply.raise_for_status()
        model: dict[str, Any] = reply.json()
        self.oauth.cache[cache_key] = model
        return model

    def login_redirect(self, next_url: str) -> LoginRedirect | None:
        """Start the hub OAuth handshake (with PKCE); None when not running under a hub."""
        if self.oauth is None:
            return None
        verifier, challenge, method = self.oauth.generate_pkce_code_challenge()
        state = self.oauth.generate_state(next_url=next_url, code_verifier=verifier)
        url = httpx.URL(self.oauth.login_url).copy_merge_params(
            {"state": state, "code_challenge": challenge, "code_challenge_method": method}
        )
        return LoginRedirect(url=str(url), state=state)

    async def finish_login(self, code: str, state: str) -> tuple[str, str]:
        """Exchange the OAuth code for a hub token; returns (token, next_url)."""
        assert self.oauth is not None
        verifier = self.oauth.get_code_verifier(state)
        next_url = self.oauth.get_next_url(state) or self.cookie_path
        self.oauth.clear_oauth_state(state)
        token = await self.oauth.token_for_code(code, code_verifier=verifier, sync=False)
        return token, next_url
