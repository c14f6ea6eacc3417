"""JupyterHub authenticator: username + password accounts kept in alphabook's database.

Why our own and not jupyterhub-nativeauthenticator: its 1.3.0 release crashes at login on JupyterHub 6
(it calls the removed ``statsd``). This one is small because the policy lives in
:mod:`alphabook.accounts.passwords` (argon2 hashes, zxcvbn strength, lockout) and the hub supplies the
rest; it adds a ``/hub/signup`` page, GitHub/Google sign-in when configured
(:mod:`alphabook.accounts.oauth_providers`), and e-mailed sign-in links and two-factor codes
(:mod:`alphabook.accounts.sign_in_handlers`). It is a ``LocalAuthenticator`` so that, when the hub runs as root,
every person gets a Unix account of their own with a private home (see ``hub/jupyterhub_config.py``).
"""

from __future__ import annotations

import asyncio
import os
import pwd
from datetime import timedelta
from typing import Any

from jupyterhub.auth import Authenticator, LocalAuthenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Bool, Instance, Integer, Unicode, default

from alphabook.accounts import passwords
from alphabook.accounts.oauth_providers import ProviderLink, build_providers
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.service import find_user
from alphabook.accounts.sign_in_handlers import SignInFactors, sign_in_handlers
from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database
from alphabook.core.errors import AlphabookError


class AlphabookAuthenticator(LocalAuthenticator):
    """Password accounts stored (argon2-hashed) in the alphabook database."""

    database_url = Unicode(
        "sqlite:///var/alphabook.db", config=True, help="SQLAlchemy URL of the alphabook database."
    )
    open_signup = Bool(True, config=True, help="Whether the sign-up page accepts new accounts.")
    password_min_length = Integer(10, config=True, help="Minimum password length at sign-up.")
    password_min_strength = Integer(2, config=True, help="Minimum zxcvbn score (0-4) at sign-up.")
    login_max_failures = Integer(5, config=True, help="Failed logins in a row before the account locks.")
    login_lockout_minutes = Integer(15, config=True, help="Minutes a locked account stays locked.")
    home_root = Unicode("/home", config=True, help="Where Unix home folders are created (mode 0700).")
    public_hub_url = Unicode(
        "http://127.0.0.1:8000/hub/", config=True, help="The hub's public URL, for OAuth provider callbacks."
    )
    github_client_id = Unicode("", config=True, help="GitHub OAuth app id; with the secret, enables GitHub login.")
    github_client_secret = Unicode("", config=True, help="GitHub OAuth app secret.")
    github_url = Unicode("https://github.com", config=True, help="GitHub (or GitHub Enterprise) base URL.")
    google_client_id = Unicode("", config=True, help="Google OAuth client id; with the secret, enables Google.")
    google_client_secret = Unicode("", config=True, help="Google OAuth client secret.")
    alphabook_settings = Instance(Settings, config=True, help=(
        "alphabook's settings, for sign-in links and two-factor codes: the mail server, the link lifetime and "
        "the key that encrypts two-factor seeds. Default: read from the ALPHABOOK_* environment."))

    @default("alphabook_settings")
    def _alphabook_settings_default(self) -> Settings:
        return get_settings()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.providers = build_providers(
            self, self.public_hub_url, github_client_id=self.github_client_id,
            github_client_secret=self.github_client_secret, github_url=self.github_url,
            google_client_id=self.google_client_id, google_client_secret=self.google_client_secret,
        )

    def provider_links(self, base_url: str) -> list[ProviderLink]:
        """The "Sign in with …" buttons the login page shows."""
        return [ProviderLink(label=provider.label, url=provider.login_url(base_url)) for provider in self.providers]

    @default("allow_all")
    def _allow_all_default(self) -> bool:
        # Holding an account in our database is the allow-list: sign-up is the gate.
        return True

    @default("add_user_cmd")
    def _add_user_cmd_default(self) -> list[str]:
        return ["useradd", "--create-home", "--base-dir", self.home_root, "--shell", "/bin/bash", "--user-group"]

    _database: Database | None = None

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(self.database_url)
        return self._database

    @property
    def factors(self) -> SignInFactors:
        return SignInFactors(self.database, self.alphabook_settings, self.policy)

    @property
    def magic_links_enabled(self) -> bool:
        """Whether the login page offers "Email me a sign-in link": only with a mail server to send it."""
        return bool(self.alphabook_settings.smtp_host)

    @property
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy(
            min_length=self.password_min_length,
            min_strength=self.password_min_strength,
            max_failures=self.login_max_failures,
            lockout=timedelta(minutes=self.login_lockout_minutes),
        )

    async def authenticate(self, handler: BaseHandler, data: dict[str, str]) -> str | None:
        """The name every factor the account needs has proved; with two-factor on, a right password (or an
        e-mailed link) answers with the code page instead (see :class:`SignInFactors`)."""
        if SignInFactors.answers(data):
            return await self.factors.authenticate(handler, data)
        name = self.normalize_username(data.get("username", ""))
        password = data.get("password", "")
        if not name or not password:
            return None
        user, locked = await asyncio.to_thread(self._log_in, name, password)
        if locked:
            raise web.HTTPError(
                403, f"Too many failed attempts: this account is locked for {self.login_lockout_minutes} minutes."
            )
        return user if user is None else await self.factors.second_factor_gate(handler, user)

    def _log_in(self, name: str, password: str) -> tuple[str | None, bool]:
        with self.database.session() as session:
            user = passwords.log_in(session, name, password, self.policy)
            locked = user is None and passwords.is_locked(session, name)
        return (name if user else None), locked

    def sign_up(self, name: str, password: str, email: str | None) -> None:
        """Create an account; raises :class:`AlphabookError` with a message for the form."""
        if self.create_system_users and not self._may_take_system_name(name):
            raise AlphabookError(f"The username '{name}' is reserved on this server; choose another.")
        with self.database.session() as session:
            passwords.sign_up(session, name, password, self.policy, email=email)

    def _may_take_system_name(self, name: str) -> bool:
        """A system account that alphabook did not create (root, postgres, …) must never be handed out."""
        try:
            pwd.getpwnam(name)
        except KeyError:
            return True
        with self.database.session() as session:
            return find_user(session, name) is not None

    async def add_user(self, user: Any) -> None:
        """Without Unix accounts (user servers in containers, or isolation "none") a person is a hub user only:
        LocalAuthenticator would refuse everyone who has no Unix account of the same name."""
        if self.create_system_users:
            await super().add_user(user)
        else:
            await maybe_future(Authenticator.add_user(self, user))

    def add_system_user(self, user: Any) -> None:
        super().add_system_user(user)
        # Whatever the distribution's default, a person's home is theirs alone.
        os.chmod(pwd.getpwnam(user.name).pw_dir, 0o700)

    def get_handlers(self, app: Any) -> list[tuple[str, type[BaseHandler]]]:
        mounted = [handler for provider in self.providers for handler in provider.get_handlers(app)]
        return [*super().get_handlers(app), ("/signup", SignUpHandler), *sign_in_handlers(), *mounted]


class SignUpHandler(BaseHandler):
    """``/hub/signup``: a form that creates an account and logs the new user straight in."""

    @property
    def auth(self) -> AlphabookAuthenticator:
        authenticator = self.authenticator
        assert isinstance(authenticator, AlphabookAuthenticator)
        return authenticator

    async def get(self) -> None:
        if not self.auth.open_signup:
            raise web.HTTPError(403, "Sign-up is closed on this server; ask an administrator for an account.")
        self.finish(await self._render())

    async def post(self) -> None:
        if not self.auth.open_signup:
            raise web.HTTPError(403, "Sign-up is closed on this server; ask an administrator for an account.")
        name = self.auth.normalize_username(self.get_body_argument("username", "", strip=True))
        password = self.get_body_argument("password", "", strip=False)
        confirm = self.get_body_argument("password_confirm", "", strip=False)
        email = self.get_body_argument("email", "", strip=True) or None
        error = None
        if password != confirm:
            error = "The two passwords differ; type the same password twice."
        elif self.find_user(name) is not None:  # known to the hub (an admin added them, or a provider login)
            error = f"The username '{name}' is taken; choose another."
        else:
            try:
                await asyncio.to_thread(self.auth.sign_up, name, password, email)
            except AlphabookError as exc:
                error = exc.detail
        if error:
            self.set_status(400)
            self.finish(await self._render(error=error, username=name, email=email or ""))
            return
        user = await self.login_user({"username": name, "password": password})
        if user is None:  # should not happen right after sign-up; fall back to the login page
            self.redirect(self.settings["login_url"])
            return
        self.redirect(self.get_next_url(user))

    async def _render(self, error: str | None = None, username: str = "", email: str = "") -> str:
        html: str = await self.render_template(
            "signup.html",
            error=error,
            username=username,
            email=email,
            min_length=self.auth.password_min_length,
            xsrf=self.xsrf_token.decode("ascii"),
        )
        return html
