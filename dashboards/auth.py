"""Logging in to the dashboards through the hub: JupyterHub is the OAuth provider, this service a client.

Neither Panel nor Bokeh authenticates against the hub by itself, so these three Tornado handlers (served beside the
pages by Bokeh's server) run the hub's OAuth handshake with PKCE through jupyterhub's ``HubOAuth`` (via
:class:`~alphabook.accounts.hub_identity.HubIdentity`, shared with the API): ``login`` sends the browser to the hub,
``oauth_callback`` exchanges the code for the person's hub token and keeps it in an HttpOnly cookie scoped to this
service, ``logout`` forgets it. Anonymous visitors never need them: public pages are open.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tornado import escape, web

from dashboards import context


class PlainHandler(web.RequestHandler):
    """A Tornado handler beside the pages (what a websocket session cannot do: redirects, cookies)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors in words on a plain page, never a stack trace."""
        reason = self._reason
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, web.HTTPError) and error.log_message:
            reason = error.log_message
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"<!doctype html><title>alphabook</title><h1>{status_code}</h1><p>{escape.xhtml_escape(reason)}"
                    f"</p><p><a href=\"{context.url('explore')}\">Back to the marketplace</a></p>")


def _safe_next(value: str | None) -> str:
    """Only a path of this service: never an absolute URL someone slipped into ?next=."""
    parts = urlsplit(value or "")
    if value and not parts.scheme and not parts.netloc and value.startswith(context.prefix()):
        return value
    return context.url("explore")


class LoginHandler(PlainHandler):
    def get(self) -> None:
        identity = context.identity()
        redirect = identity.login_redirect(next_url=_safe_next(self.get_argument("next", None)))
        if redirect is None:
            raise web.HTTPError(503, "Logging in needs JupyterHub: open alphabook through the hub (make run).")
        self.set_cookie(identity.state_cookie_name, redirect.state, path=identity.cookie_path, httponly=True,
                        expires_days=None, max_age=600)
        self.redirect(redirect.url)


class OAuthCallbackHandler(PlainHandler):
    async def get(self) -> None:
        identity = context.identity()
        code, state = self.get_argument("code", ""), self.get_argument("state", "")
        if not code or not state:
            raise web.HTTPError(400, "The login came back without its code; start again from the page you wanted.")
        if self.get_cookie(identity.state_cookie_name) != state:
            raise web.HTTPError(400, "This login was started in another browser or has expired; log in again.")
        token, next_url = await identity.finish_login(code, state)
        self.clear_cookie(identity.state_cookie_name, path=identity.cookie_path)
        self.set_cookie(identity.cookie_name, token, path=identity.cookie_path, httponly=True,
                        secure=self.request.protocol == "https", samesite="Lax")
        self.redirect(_safe_next(next_url))


class LogoutHandler(PlainHandler):
    def get(self) -> None:
        identity = context.identity()
        self.clear_cookie(identity.cookie_name, path=identity.cookie_path)
        self.redirect(f"{context.prefix().split('/services/')[0]}/hub/logout")


def patterns() -> list[tuple[str, type[web.RequestHandler]]]:
    """Routes relative to the service prefix (Bokeh's server puts the prefix in front)."""
    return [("/login", LoginHandler), ("/oauth_callback", OAuthCallbackHandler), ("/logout", LogoutHandler)]
