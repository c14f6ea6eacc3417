"""Who is looking, and the process's settings and database, for the page being built.

The hub token lives in an HttpOnly cookie set by the OAuth callback (:mod:`dashboards.auth`); a page reads it
from the session's first request (``pn.state.cookies``), asks the hub whose it is (jupyterhub's ``HubOAuth``,
through the same :class:`~alphabook.accounts.hub_identity.HubIdentity` the API uses, with its short cache), and
mirrors the person into alphabook's users as the API does. No cookie, or one the hub no longer accepts, is an
anonymous visitor: public pages show, private ones ask to log in.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import panel as pn
from sqlalchemy.orm import Session

from alphabook.accounts import service as accounts
from alphabook.accounts.hub_identity import HubIdentity, HubUser
from alphabook.accounts.models import Role, User
from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database

PREFIX_FALLBACK = "/services/dashboards/"


@functools.cache
def settings() -> Settings:
    return get_settings()


@functools.cache
def database() -> Database:
    return Database(settings().effective_database_url)


@functools.cache
def identity() -> HubIdentity:
    return HubIdentity(settings().token_cache_seconds)


@contextmanager
def session() -> Iterator[Session]:
    """A database session that commits when the block succeeds (the services' unit of work)."""
    with database().session() as opened:
        yield opened


def prefix() -> str:
    """This service's URL prefix (``/services/dashboards/``), as the hub gave it."""
    return identity().cookie_path if identity().enabled else PREFIX_FALLBACK


def url(page: str, **query: str | int) -> str:
    """The address of another page of this service, e.g. ``url("listing", slug="alice/rsi")``."""
    search = "&".join(f"{name}={quote(str(value), safe='/')}" for name, value in query.items())
    return f"{prefix()}{page}" + (f"?{search}" if search else "")


def login_url(next_page: str | None = None) -> str:
    return f"{prefix()}login" + (f"?next={quote(next_page, safe='')}" if next_page else "")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person looking at a page, or nobody (an anonymous visitor)."""

    user: User | None
    hub_user: HubUser | None = None

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    def has(self, role: Role) -> bool:
        return self.user is not None and self.user.has_role(role.value)


def _token() -> str | None:
    cookies = pn.state.cookies or {}
    token = cookies.get(identity().cookie_name)
    return token or None


def viewer() -> Viewer:
    """The viewer of the current Panel session (remembered for the session's lifetime)."""
    cache = pn.state.cache.setdefault("alphabook-viewers", {})
    key = id(pn.state.curdoc)
    if key in cache:
        found: Viewer = cache[key]
        return found
    found = _resolve(_token())
    cache[key] = found
    if pn.state.curdoc is not None:
        pn.state.on_session_destroyed(lambda _context: cache.pop(key, None))
    return found


def _resolve(token: str | None) -> Viewer:
    if token is None or not identity().enabled:
        return Viewer(user=None)
    hub_user = _ask_hub(token)
    if hub_user is None:
        return Viewer(user=None)
    with session() as opened:
        user = accounts.ensure_user(opened, hub_user.name, roles=hub_user.roles)
    return Viewer(user=user, hub_user=hub_user)


def _ask_hub(token: str) -> HubUser | None:
    """Pages are built inside Bokeh's event loop, which cannot wait on itself: ask in a thread with its own loop."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(lambda: asyncio.run(identity().user_for_token(token))).result(timeout=15)
