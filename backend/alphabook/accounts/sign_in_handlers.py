"""The hub's pages for e-mailed sign-in links and two-factor codes, and the authenticator's side of both.

JupyterHub's ``BaseHandler`` does the hub work: ``login_user`` (which calls the authenticator, applies the hub's
allow and block lists and sets the hub cookie), XSRF checks, templates and safe ``next`` URLs. So every way in
still passes through :meth:`AlphabookAuthenticator.authenticate`; these pages only hand it other proofs than a
password (a link's token, a code), and :class:`SignInFactors` checks them. After a first factor (password or
link), a person with two-factor on is held in a signed cookie for five minutes and sent to the code page; the
hub cookie is set only once the code is right. The services are :mod:`alphabook.accounts.magic_links` and
:mod:`alphabook.accounts.two_factor`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat

from alphabook.accounts import magic_links, two_factor
from alphabook.accounts.magic_links import IssuedLink, LinkState
from alphabook.accounts.models import User
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.service import find_user
from alphabook.accounts.two_factor import Enrolment, Verdict
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import AlphabookError, InvalidInput, Unauthenticated
from alphabook.core.secrets_at_rest import cipher_for

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from alphabook.accounts.authenticator import AlphabookAuthenticator

__all__ = ["SignInFactors", "sign_in_handlers"]

PENDING_COOKIE = "alphabook-second-factor"
PENDING_MINUTES = 5
#: Form fields :meth:`SignInFactors.authenticate` answers to (the password form has neither).
LINK_FIELD, CODE_FIELD = "magic_link", "second_factor"


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    password_account: bool
    enabled: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class SignInFactors:
    """Links and codes checked against alphabook's database, for the hub's authenticator and pages."""

    database: Database
    settings: Settings
    policy: PasswordPolicy

    @staticmethod
    def answers(data: dict[str, str]) -> bool:
        """Whether a login form carries a link or a code rather than a password."""
        return LINK_FIELD in data or CODE_FIELD in data

    async def authenticate(self, handler: BaseHandler, data: dict[str, str]) -> str | None:
        """The name a link or a second-factor code proves (a link may still ask for a code), else None."""
        if CODE_FIELD in data:
            name = _held(handler)
            if name is None:
                raise web.HTTPError(403, f"The sign-in waited more than {PENDING_MINUTES} minutes for its code: "
                                         "sign in again.")
            verdict = await asyncio.to_thread(self._check_code, name, data[CODE_FIELD])
            if verdict is Verdict.LOCKED:
                raise web.HTTPError(403, self._locked_message())
            if verdict is Verdict.WRONG:
                return None
            handler.clear_cookie(PENDING_COOKIE, path=handler.hub.base_url)
            return name
        try:
            name = await asyncio.to_thread(self._spend_link, data[LINK_FIELD])
        except Unauthenticated as refused:
            raise web.HTTPError(403, refused.detail) from refused
        return await self.second_factor_gate(handler, name)

    async def second_factor_gate(self, handler: BaseHandler, name: str) -> str:
        """``name`` when one factor is all the account needs; otherwise hold the person for their code and
        answer with the code page (this request ends here: ``web.Finish``)."""
        if not await asyncio.to_thread(self._two_factor_on, name):
            return name
        handler.set_secure_cookie(PENDING_COOKIE, json.dumps({"name": name}), path=handler.hub.base_url,
                                  httponly=True, secure=handler.request.protocol == "https", samesite="Lax")
        handler.redirect(url_concat(url_path_join(handler.hub.base_url, "2fa/verify"),
                                    {"next": handler.get_argument("next", "")}))
        raise web.Finish

    def request_links(self, identifier: str, link_base: str) -> list[IssuedLink]:
        with self.database.session() as session:
            return magic_links.request_links(session, identifier, self.settings, link_base)

    def link_state(self, token: str) -> LinkState:
        with self.database.session() as session:
            return magic_links.inspect(session, token)

    def status(self, name: str) -> TwoFactorStatus:
        with self.database.session() as session:
            user = find_user(session, name)
            if user is None or user.password is None:
                return TwoFactorStatus(password_account=False, enabled=False, recovery_codes_left=0)
            return TwoFactorStatus(password_account=True, enabled=two_factor.is_enabled(session, user),
                                   recovery_codes_left=two_factor.recovery_codes_left(session, user))

    def enrolment(self, name: str) -> Enrolment:
        with self.database.session() as session:
            return two_factor.begin_enrolment(session, self._user(session, name), cipher_for(self.settings),
                                              issuer=self.settings.two_factor_issuer)

    def confirm(self, name: str, code: str) -> list[str]:
        with self.database.session() as session:
            return two_factor.confirm_enrolment(session, self._user(session, name), code, cipher_for(self.settings))

    def disable(self, name: str, code: str) -> None:
        with self.database.session() as session:
            verdict = two_factor.disable(session, self._user(session, name), code, cipher_for(self.settings),
                                         self.policy)
        if verdict is Verdict.LOCKED:
            raise InvalidInput(self._locked_message())
        if verdict is Verdict.WRONG:
            raise InvalidInput("That code is not right: give the six digits your app shows now, or a recovery code.")

    def _locked_message(self) -> str:
        return (f"Too many wrong codes: two-factor sign-in for this account is locked for "
                f"{int(self.policy.lockout.total_seconds() // 60)} minutes.")

    def _spend_link(self, token: str) -> str:
        with self.database.session() as session:
            return magic_links.consume(session, token)

    def _two_factor_on(self, name: str) -> bool:
        with self.database.session() as session:
            user = find_user(session, name)
            return user is not None and two_factor.is_enabled(session, user)

    def _check_code(self, name: str, code: str) -> Verdict:
        with self.database.session() as session:
            return two_factor.verify(session, self._user(session, name), code, cipher_for(self.settings), self.policy)

    @staticmethod
    def _user(session: Session, name: str) -> User:
        user = find_user(session, name)
        if user is None:
            raise Unauthenticated(f"There is no account '{name}'.")
        return user


def _held(handler: BaseHandler) -> str | None:
    """The person waiting to give their code, if they gave a first factor less than five minutes ago."""
    raw = handler.get_secure_cookie(PENDING_COOKIE, max_age_days=PENDING_MINUTES / (24 * 60))
    if raw is None:
        return None
    name = json.loads(raw).get("name")
    return name if isinstance(name, str) else None


class _SignInPage(BaseHandler):  # type: ignore[misc]
    @property
    def auth(self) -> AlphabookAuthenticator:
        authenticator: AlphabookAuthenticator = self.authenticator
        return authenticator

    async def page(self, template: str, status: int = 200, **context: Any) -> None:
        self.set_status(status)
        html: str = await self.render_template(template, xsrf=self.xsrf_token.decode("ascii"),
                                               next=self.get_argument("next", ""), **context)
        self.finish(html)


class MagicLinkRequestHandler(_SignInPage):
    """``/hub/magic-link``: ask for a sign-in link by username or e-mail address."""

    async def get(self) -> None:
        await self.page("magic_link.html", enabled=self.auth.magic_links_enabled)

    async def post(self) -> None:
        if not self.auth.magic_links_enabled:
            raise web.HTTPError(404, "Sign-in links are off on this server: no mail server is configured.")
        identifier = self.get_body_argument("identifier", "", strip=True)
        if not identifier:
            await self.page("magic_link.html", 400, enabled=True,
                            error="Give your username or the e-mail address of your account.")
            return
        link_base = url_path_join(self.auth.public_hub_url, "magic-link")
        links = await asyncio.to_thread(self.auth.factors.request_links, identifier, link_base)
        for link in links:  # sent after answering: how long a reply takes must not tell whether an account exists
            sending = asyncio.get_running_loop().run_in_executor(None, magic_links.send, link,
                                                                 self.auth.alphabook_settings)
            sending.add_done_callback(lambda done: self.log.info("sign-in link: %s", done.result()))
        await self.page("magic_link.html", enabled=True, sent=True)


class MagicLinkHandler(_SignInPage):
    """``/hub/magic-link/<token>``: opening the link shows a button; pressing it (a POST, which e-mail scanners do
    not send) spends the link and signs in."""

    async def get(self, token: str) -> None:
        state = await asyncio.to_thread(self.auth.factors.link_state, token)
        if state is LinkState.VALID:
            await self.page("magic_link.html", enabled=True, token=token)
        else:
            await self.page("magic_link.html", 404 if state is LinkState.UNKNOWN else 410,
                            enabled=self.auth.magic_links_enabled, error=magic_links.refusal(state))

    async def post(self, token: str) -> None:
        try:
            user = await self.login_user({LINK_FIELD: token})
        except web.HTTPError as refused:
            await self.page("magic_link.html", refused.status_code, enabled=self.auth.magic_links_enabled,
                            error=refused.log_message)
            return
        if user is None:
            raise web.HTTPError(403, "This account may not sign in here.")
        self.redirect(self.get_next_url(user))


class SecondFactorHandler(_SignInPage):
    """``/hub/2fa/verify``: the code page between the first factor and the hub cookie."""

    async def get(self) -> None:
        if _held(self) is None:
            self.redirect(self.settings["login_url"])
            return
        await self.page("two_factor.html")

    async def post(self) -> None:
        code = self.get_body_argument("code", "", strip=True)
        user = await self.login_user({"username": _held(self) or "", CODE_FIELD: code})
        if user is None:
            await self.page("two_factor.html", 400, error="That code is not right: type the six digits your app "
                                                          "shows now, or one of your recovery codes.")
            return
        self.redirect(self.get_next_url(user))


class TwoFactorSetupHandler(_SignInPage):
    """``/hub/2fa``: a signed-in person turns two-factor on (scan, confirm, keep the recovery codes) or off."""

    @web.authenticated
    async def get(self) -> None:
        await self._show()

    @web.authenticated
    async def post(self) -> None:
        name = self.current_user.name
        action = self.get_body_argument("action", "")
        code = self.get_body_argument("code", "", strip=True)
        try:
            if action == "confirm":
                codes = await asyncio.to_thread(self.auth.factors.confirm, name, code)
                await self._show(recovery_codes=codes)
                return
            if action == "disable":
                await asyncio.to_thread(self.auth.factors.disable, name, code)
                await self._show(notice="Two-factor sign-in is off; your password alone signs you in again.")
                return
        except AlphabookError as refused:
            await self._show(status=400, error=refused.detail)
            return
        raise web.HTTPError(400, "Unknown action: the form asks to 'confirm' or 'disable'.")

    async def _show(self, status: int = 200, **context: Any) -> None:
        name = self.current_user.name
        state = await asyncio.to_thread(self.auth.factors.status, name)
        enrolment = None
        if state.password_account and not state.enabled:
            enrolment = await asyncio.to_thread(self.auth.factors.enrolment, name)
        await self.page("two_factor_setup.html", status, state=state, enrolment=enrolment, **context)


def sign_in_handlers() -> list[tuple[str, type[BaseHandler]]]:
    return [
        ("/magic-link", MagicLinkRequestHandler),
        ("/magic-link/([^/]+)", MagicLinkHandler),
        ("/2fa/verify", SecondFactorHandler),
        ("/2fa", TwoFactorSetupHandler),
    ]
