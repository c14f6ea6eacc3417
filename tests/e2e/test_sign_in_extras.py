"""Sign-in links and two-factor codes, end to end: a real hub whose mail reaches a real SMTP server (aiosmtpd).

A person asks for a link on the hub's page, the e-mail arrives, the link signs them in once (the hub's own API then
answers for them), and a spent or expired link says so. A person turns two-factor on from the hub's page with a
code pyotp computes (as their phone would), and from then on a password, or a link, is followed by the code page:
a wrong code, a replayed code and a spent recovery code are refused, a fresh code and an unused recovery code work.

The hub here is this module's own (the session hub has no mail server), started with ``alphabook run`` as root
like the other, so each person gets a Unix account, removed afterwards. It keeps alphabook's data in SQLite, and
runs again on PostgreSQL when ``ALPHABOOK_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message

import httpx
import pyotp
import pytest

from alphabook.accounts import magic_links
from alphabook.core.clock import frozen, utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from tests.e2e.conftest import ALPHABOOK, _wait_until_up, remove_unix_user
from tests.fakes.mailbox import SmtpInbox, wait_for
from tests.integration.databases import BACKENDS, create_database, drop_database
from tests.ports import free_port

pytestmark = pytest.mark.e2e

LINK = re.compile(r"http://\S+/hub/magic-link/[\w-]+")


class Hub:
    def __init__(self, url: str, settings: Settings, inbox: SmtpInbox) -> None:
        self.url, self.settings, self.inbox = url, settings, inbox
        self.unix_users: list[str] = []

    def mail_for(self, address: str) -> Message:
        """The one e-mail ``address`` was sent, once it arrived (each person here is sent one)."""
        [mail] = wait_for(lambda: self.inbox.to(address), what=f"an e-mail to {address}")
        return mail


@pytest.fixture(scope="module", params=BACKENDS)
def mail_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("sign-in-extras")
    database_url = create_database(request.param, home)
    port = free_port()
    with SmtpInbox() as inbox:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")} | {
            "ALPHABOOK_HOME": str(home), "ALPHABOOK_HUB_PORT": str(port), "ALPHABOOK_DATABASE_URL": database_url,
            "ALPHABOOK_SMTP_HOST": "127.0.0.1", "ALPHABOOK_SMTP_PORT": str(inbox.port),
            "ALPHABOOK_SMTP_STARTTLS": "false",
            **{f"ALPHABOOK_{name}_PORT": str(free_port()) for name in ("HUB_API", "PROXY_API", "API", "DASHBOARDS",
                                                                       "VOILA")},
        }
        log = home / "hub.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(ALPHABOOK), "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        hub = Hub(f"http://127.0.0.1:{port}", Settings(home=home, database_url=database_url,
                                                       smtp_host="127.0.0.1", smtp_port=inbox.port), inbox)
        try:
            _wait_until_up(hub.url, process, log)
            yield hub
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            for name in hub.unix_users:
                remove_unix_user(name)
            drop_database(database_url)


class Browser:
    """One person's cookie jar on the hub, posting its forms with the XSRF token a browser carries."""

    def __init__(self, hub: Hub) -> None:
        self.http = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=60)

    def xsrf(self) -> str:
        return self.http.cookies.get("_xsrf", path="/hub/") or self.http.cookies["_xsrf"]

    def open(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, path: str, **form: str) -> httpx.Response:
        """Open the page first (as a person does, which sets the XSRF cookie), then post its form."""
        self.http.get(path)
        return self.http.post(path, data={"_xsrf": self.xsrf(), **form})

    def who(self) -> str | None:
        reply = self.http.get("/hub/api/user", headers={"X-XSRFToken": self.xsrf()})
        return str(reply.json()["name"]) if reply.status_code == 200 else None


@dataclass(frozen=True)
class Person:
    name: str
    password: str
    email: str


@pytest.fixture
def person(mail_hub: Hub) -> Person:
    """A signed-up account with an e-mail address; its sign-up session is closed, so nobody is signed in."""
    name, password = "e2e" + secrets.token_hex(4), secrets.token_urlsafe(18)
    email = f"{name}@example.org"
    mail_hub.unix_users.append(name)
    signup = Browser(mail_hub)
    reply = signup.submit("/hub/signup", username=name, email=email, password=password, password_confirm=password)
    assert reply.status_code == 302, reply.text[-2000:]
    signup.http.close()
    return Person(name, password, email)


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)  # undo the quoted-printable wrapping of long lines
    assert isinstance(payload, bytes)
    return payload.decode()


def _link_in(mail: Message) -> str:
    found = LINK.search(_text(mail))
    assert found, _text(mail)
    return found.group(0)


def _path(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def test_an_emailed_link_signs_in_once(mail_hub: Hub, person: Person) -> None:
    browser = Browser(mail_hub)
    login_page = browser.open("/hub/login")
    assert "Email me a sign-in link" in login_page.text

    asked = browser.submit("/hub/magic-link", identifier=person.email.upper())
    assert asked.status_code == 200 and "a sign-in link is on its way" in asked.text
    nobody = browser.submit("/hub/magic-link", identifier="nobody-" + person.email)
    assert nobody.status_code == 200 and "a sign-in link is on its way" in nobody.text  # no account enumeration

    mail = mail_hub.mail_for(person.email)
    assert mail["Subject"] == "Your alphabook sign-in link" and person.name in _text(mail)
    link = _path(_link_in(mail))
    assert browser.who() is None
    opened = browser.open(link)  # opening only shows a button: mail scanners that fetch links spend nothing
    assert opened.status_code == 200 and "magic_link_submit" in opened.text
    signed_in = browser.submit(link)
    assert signed_in.status_code == 302, signed_in.text
    assert browser.who() == person.name
    assert browser.open("/hub/home").status_code == 200

    again = Browser(mail_hub)
    assert again.open(link).status_code == 410 and "already used" in again.open(link).text
    reused = again.submit(link)
    assert reused.status_code == 403 and "already used" in reused.text
    assert again.who() is None


def test_an_expired_link_is_refused_and_says_so(mail_hub: Hub, person: Person) -> None:
    database = Database(mail_hub.settings.effective_database_url)
    issued_at = utcnow() - timedelta(minutes=mail_hub.settings.magic_link_minutes, seconds=1)
    with frozen(issued_at), database.session() as session:
        [issued] = magic_links.request_links(session, person.name, mail_hub.settings, f"{mail_hub.url}/hub/magic-link")
    database.dispose()
    browser = Browser(mail_hub)
    link = _path(issued.url)
    opened = browser.open(link)
    assert opened.status_code == 410 and "This sign-in link has expired" in opened.text
    refused = browser.submit(link)
    assert refused.status_code == 403 and "has expired" in refused.text
    assert browser.who() is None
    forged = browser.open("/hub/magic-link/" + secrets.token_urlsafe(32))
    assert forged.status_code == 404 and "not valid" in forged.text


def _turn_on_two_factor(mail_hub: Hub, person: Person) -> tuple[pyotp.TOTP, str, list[str]]:
    """Sign in with the password, scan (read the key off the page), confirm with a code: the app, the code
    used to confirm, and the recovery codes the page showed."""
    browser = Browser(mail_hub)
    assert browser.submit("/hub/login", username=person.name, password=person.password).status_code == 302
    page = browser.open("/hub/2fa")
    assert page.status_code == 200 and "Two-factor sign-in is <strong>off</strong>" in page.text
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', page.text)
    assert secret and "data:image/svg+xml" in page.text
    app = pyotp.TOTP(secret.group(1))
    wrong = browser.submit("/hub/2fa", action="confirm", code=f"{(int(app.now()) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    code = app.now()
    confirmed = browser.submit("/hub/2fa", action="confirm", code=code)
    assert confirmed.status_code == 200, confirmed.text
    recovery = re.findall(r'class="recovery-code">([a-z0-9-]+)<', confirmed.text)
    assert len(recovery) == 10 and "Two-factor sign-in is <strong>on</strong>" in confirmed.text
    browser.http.close()
    return app, code, recovery


def _password_then(mail_hub: Hub, person: Person) -> Browser:
    """A new browser that gave the right password and was sent to the code page."""
    browser = Browser(mail_hub)
    reply = browser.submit("/hub/login", username=person.name, password=person.password)
    assert reply.status_code == 302 and reply.headers["location"].startswith("/hub/2fa/verify"), reply.text
    assert browser.who() is None  # the hub cookie waits for the code
    return browser


def test_two_factor_asks_for_a_code_after_the_password(mail_hub: Hub, person: Person) -> None:
    app, enrolment_code, recovery = _turn_on_two_factor(mail_hub, person)

    browser = _password_then(mail_hub, person)
    assert "Your sign-in code" in browser.open("/hub/2fa/verify").text
    wrong = browser.submit("/hub/2fa/verify", code="000000" if app.now() != "000000" else "111111")
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    replayed = browser.submit("/hub/2fa/verify", code=enrolment_code)  # the code that confirmed enrolment
    assert replayed.status_code == 400 and browser.who() is None
    fresh = app.at(time.time() + app.interval)  # the next step's code: within the window, never used
    assert browser.submit("/hub/2fa/verify", code=fresh).status_code == 302
    assert browser.who() == person.name

    again = _password_then(mail_hub, person)
    assert again.submit("/hub/2fa/verify", code=fresh).status_code == 400  # replayed
    assert again.submit("/hub/2fa/verify", code=recovery[0].upper()).status_code == 302
    assert again.who() == person.name
    third = _password_then(mail_hub, person)
    assert third.submit("/hub/2fa/verify", code=recovery[0]).status_code == 400  # each recovery code works once
    assert third.who() is None

    # An e-mailed link is a first factor only: the code page follows it too.
    by_link = Browser(mail_hub)
    by_link.submit("/hub/magic-link", identifier=person.name)
    link = _path(_link_in(mail_hub.mail_for(person.email)))
    reply = by_link.submit(link)
    assert reply.status_code == 302 and reply.headers["location"].startswith("/hub/2fa/verify")
    assert by_link.who() is None
    assert by_link.submit("/hub/2fa/verify", code=recovery[1]).status_code == 302
    assert by_link.who() == person.name

    # Turning it off takes a code; then the password alone signs in again.
    settings_page = by_link.open("/hub/2fa")
    assert 'id="recovery-codes-left">8<' in settings_page.text
    assert by_link.submit("/hub/2fa", action="disable", code="123").status_code == 400
    assert by_link.submit("/hub/2fa", action="disable", code=recovery[2]).status_code == 200
    plain = Browser(mail_hub)
    assert plain.submit("/hub/login", username=person.name, password=person.password).status_code == 302
    assert plain.who() == person.name
