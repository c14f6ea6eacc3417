"""Request dependencies as ``Annotated`` aliases, so routes read ``session: SessionDep, me: CurrentUser``.

Authentication tries, in order: a JupyterHub API token (``Authorization: token …`` or ``Bearer …``)
or the hub OAuth cookie set by this service's OAuth callback, then an alphabook API key
(``Authorization: Bearer ab_…``). A browser with no credentials is sent through the hub's OAuth login;
any other client gets a 401 problem that says how to authenticate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alphabook.accounts import service as accounts
from alphabook.accounts.hub_identity import HubIdentity, HubUser
from alphabook.accounts.models import ApiScope, Role, User
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import Forbidden, Unauthenticated
from alphabook.core.security import api_key_prefix

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BrowserLogin(Exception):
    """Raised to send a browser to the hub's OAuth login instead of answering 401."""

    def __init__(self, url: str, state: str) -> None:
        self.url = url
        self.state = state


# ``async`` though they wait for nothing: FastAPI runs plain functions in its thread pool, a hop per dependency.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_identity(request: Request) -> HubIdentity:
    identity: HubIdentity = request.app.state.identity
    return identity


def get_session(database: DatabaseDep) -> Iterator[Session]:
    with database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
IdentityDep = Annotated[HubIdentity, Depends(get_identity)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user and how they proved it; API keys carry their own scopes."""

    user: User
    via: Literal["hub", "api_key"]
    scopes: frozenset[str]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in {"bearer", "token"} and value.strip():
        return value.strip()
    return None


async def get_caller(request: Request, identity: IdentityDep, session: SessionDep) -> Caller:
    token = _bearer(request)
    if token is not None and api_key_prefix(token) is not None:
        user, key = await run_in_threadpool(accounts.user_for_api_key, session, token)
        scopes = frozenset(key.scopes)
        needed = ApiScope.READ if request.method in SAFE_METHODS else ApiScope.WRITE
        if needed.value not in scopes:
            raise Forbidden(f"This API key has scopes {sorted(scopes)}; this request needs '{needed.value}'.")
        return Caller(user=user, via="api_key", scopes=scopes)
    hub_token = token or request.cookies.get(identity.cookie_name)
    hub_user: HubUser | None = await identity.user_for_token(hub_token) if hub_token else None
    if hub_user is None:
        if hub_token:
            raise Unauthenticated("The token was not accepted by JupyterHub: it is unknown, expired or revoked.")
        _maybe_send_browser_to_login(request, identity)
        raise Unauthenticated(
            "Authentication required: log in through JupyterHub, send a hub API token as "
            "'Authorization: token <token>', or an alphabook API key as 'Authorization: Bearer ab_…'."
        )
    user = await run_in_threadpool(accounts.ensure_user, session, hub_user.name, roles=hub_user.roles)
    return Caller(user=user, via="hub", scopes=frozenset(scope.value for scope in ApiScope))


def _maybe_send_browser_to_login(request: Request, identity: HubIdentity) -> None:
    if request.method != "GET" or "text/html" not in request.headers.get("accept", ""):
        return
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    redirect = identity.login_redirect(next_url=next_url)
    if redirect is not None:
        raise BrowserLogin(redirect.url, redirect.state)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_current_user(caller: CallerDep) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_optional_user(request: Request, identity: IdentityDep, session: SessionDep) -> User | None:
    """The caller when they sent credentials, ``None`` for anonymous browsing (bad credentials still fail)."""
    if _bearer(request) is None and not request.cookies.get(identity.cookie_name):
        return None
    return (await get_caller(request, identity, session)).user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def require_role(role: Role) -> Callable[[User], User]:
    """A dependency that lets through only users holding ``role`` (403 otherwise)."""

    def check(user: CurrentUser) -> User:
        if not user.has_role(role.value):
            raise Forbidden(f"This needs the '{role.value}' role, which {user.name} does not have.")
        return user

    return check
