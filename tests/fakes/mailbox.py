"""Where notifications land in tests: a real SMTP server (aiosmtpd) and a real HTTP endpoint for webhooks.

:class:`SmtpInbox` runs aiosmtpd's ``Controller`` on a free loopback port and keeps every message it is sent;
:class:`WebhookReceiver` is a threading HTTP server that keeps every POST (headers, raw body) and answers with the
status codes it is told to (``reply_with``), so a test can make a receiver fail first and recover later. Both
speak the real protocols to the code under test (smtplib, httpx) and are used as context managers. Tests share
one database, so they pick out their own messages by recipient (:meth:`SmtpInbox.to`) or path.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as EmailMessage
from types import TracebackType
from typing import TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests.ports import free_port

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "it") -> T:
    """``probe()`` once it returns something (not None, not empty), polling; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


class _Keeper(Message):
    def __init__(self, kept: list[EmailMessage]) -> None:
        super().__init__()
        self.kept = kept

    def handle_message(self, message: EmailMessage) -> None:
        self.kept.append(message)


class SmtpInbox:
    """An SMTP server on ``127.0.0.1:port`` that keeps what it receives in ``messages``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._controller = Controller(_Keeper(self.messages), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpInbox:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in list(self.messages) if message["To"] == address]


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class WebhookReceiver:
    """An HTTP server on ``127.0.0.1:port`` that keeps every POST; :attr:`url` is its base address."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.replies: list[int] = []  # status codes to answer with, first to last; 204 once they are used up
        self.answering = threading.Event()  # cleared: a POST is kept, and answered once it is set again
        self.answering.set()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.posts.append(Post(self.path, {name.lower(): value for name, value in self.headers.items()},
                                           body))
                receiver.answering.wait(60)
                self.send_response(receiver.replies.pop(0) if receiver.replies else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str) -> list[Post]:
        return [post for post in list(self.posts) if post.path == path]
