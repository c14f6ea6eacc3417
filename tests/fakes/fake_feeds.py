"""A news publisher for tests: a local HTTP server serving RSS 2.0 and Atom 1.0 feeds as real publishers do.

Each feed is a list of :class:`Story` values rendered to XML on every request, with an ``ETag`` (a digest of the
body) and a ``Last-Modified`` (the newest story's update time); a request that sends them back
(``If-None-Match`` / ``If-Modified-Since``) gets ``304 Not Modified`` with no body, as HTTP caching says. A test
edits the stories (:meth:`FakeFeeds.publish`), makes a path fail (:meth:`FakeFeeds.fail`) or answer slowly
(:meth:`FakeFeeds.stall`), and reads what was asked (``requests``). :func:`market_news` is the standard
newsroom: the same stories carried by both feeds under other ids, and one Atom story that a test can later publish
in a corrected version.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from xml.sax.saxutils import escape

Format = Literal["rss", "atom"]


@dataclass(frozen=True)
class Story:
    guid: str
    title: str
    link: str
    summary: str
    published: datetime
    updated: datetime | None = None

    @property
    def changed(self) -> datetime:
        return self.updated or self.published


@dataclass(frozen=True)
class Feed:
    format: Format
    title: str
    stories: tuple[Story, ...]


@dataclass(frozen=True)
class Seen:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class FakeFeeds:
    """Feeds by path (``/markets.rss``); ``url(path)`` is the address to configure."""

    def __init__(self, feeds: dict[str, Feed] | None = None) -> None:
        self.feeds: dict[str, Feed] = dict(feeds or {})
        self.failures: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeFeeds:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def publish(self, path: str, story: Story) -> None:
        """Add ``story`` to the feed at ``path``, or replace the story with its GUID (a correction)."""
        with self._lock:
            feed = self.feeds[path]
            others = tuple(each for each in feed.stories if each.guid != story.guid)
            self.feeds[path] = replace(feed, stories=(*others, story))

    def fail(self, path: str, status: int) -> None:
        """Answer ``path`` with ``status`` from now on (e.g. 503 while the publisher is down)."""
        with self._lock:
            self.failures[path] = status

    def stall(self, path: str, seconds: float) -> None:
        """Wait ``seconds`` before answering ``path`` (a publisher under load)."""
        with self._lock:
            self.delays[path] = seconds

    def body(self, path: str) -> bytes:
        with self._lock:
            feed = self.feeds[path]
        return render(feed, self.url(path)).encode()

    def _answer(self, path: str, if_none_match: str | None, if_modified_since: str | None,
                ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            failure = self.failures.get(path)
            feed = self.feeds.get(path)
        if failure is not None:
            return failure, {"Content-Type": "text/plain"}, b"the publisher is having a bad day"
        if feed is None:
            return 404, {"Content-Type": "text/plain"}, b"no such feed"
        body = self.body(path)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        newest = max((story.changed for story in feed.stories), default=datetime(2026, 1, 1, tzinfo=UTC))
        headers = {"ETag": etag, "Last-Modified": format_datetime(newest.replace(microsecond=0), usegmt=True),
                   "Content-Type": f"application/{feed.format}+xml; charset=utf-8"}
        if if_none_match is not None:
            fresh = etag in [each.strip() for each in if_none_match.split(",")]
        else:
            fresh = if_modified_since is not None and newest.replace(microsecond=0) <= parsedate_to_datetime(
                if_modified_since)
        return (304, headers, b"") if fresh else (200, headers, body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                with fake._lock:
                    delay = fake.delays.get(self.path, 0.0)
                time.sleep(delay)
                status, headers, body = fake._answer(self.path, etag, since)
                with fake._lock:
                    fake.requests.append(Seen(self.path, etag, since, status))
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that stopped waiting (a timeout test) hung up first

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def render(feed: Feed, self_url: str) -> str:
    """The feed as its publisher would serve it (RSS 2.0 or Atom 1.0)."""
    return _rss(feed) if feed.format == "rss" else _atom(feed, self_url)


def _rss(feed: Feed) -> str:
    items = "".join(
        f"<item><guid isPermaLink=\"false\">{escape(story.guid)}</guid><title>{escape(story.title)}</title>"
        f"<link>{escape(story.link)}</link><description>{escape(story.summary)}</description>"
        f"<pubDate>{format_datetime(story.published, usegmt=True)}</pubDate></item>" for story in feed.stories)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(feed.title)}</title>'
            f"<link>https://news.example/</link><description>Markets</description>{items}</channel></rss>")


def _atom(feed: Feed, self_url: str) -> str:
    newest = max((story.changed for story in feed.stories), default=datetime(2026, 1, 1, tzinfo=UTC))
    entries = "".join(
        f"<entry><id>{escape(story.guid)}</id><title>{escape(story.title)}</title>"
        f'<link rel="alternate" href="{escape(story.link)}"/><summary>{escape(story.summary)}</summary>'
        f"<published>{story.published.isoformat()}</published><updated>{story.changed.isoformat()}</updated>"
        f"</entry>" for story in feed.stories)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(feed.title)}</title><id>{escape(self_url)}</id><updated>{newest.isoformat()}</updated>"
            f'<link rel="self" href="{escape(self_url)}"/>{entries}</feed>')


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


#: The Atom story that :func:`market_news` publishes first and a test may correct later.
SOLANA = Story("urn:news:sol-upgrade", "Solana steady as developers ship upgrade", "https://news.example/sol-upgrade",
               "Validators reported no issues.", at(10), at(10))
SOLANA_CORRECTED = replace(SOLANA, title="Solana rallies after developers ship a successful upgrade",
                           summary="Traders cheered the smooth launch.", updated=at(12))


def market_news() -> dict[str, Feed]:
    """Two feeds, six entries, four stories: the Atom feed repeats an RSS story under another id with the same link,
    and another with the same title in capitals; ``SOLANA`` is only in the Atom feed."""
    rss = (Story("rss-btc-record", "Bitcoin soars to a record high as investors cheer ETF approval",
                 "https://news.example/btc-record", "Strong inflows lifted BTC.", at(9)),
           Story("rss-aapl-slump", "Apple shares slump after weak iPhone sales disappoint",
                 "https://news.example/aapl-slump", "AAPL fell in late trading.", at(9, 30)),
           Story("rss-eth-outage", "Ethereum network outage sparks panic among traders",
                 "https://news.example/eth-outage", "Transactions stalled for hours.", at(11)))
    atom = (Story("urn:news:btc-record", "Bitcoin soars to a record high as investors cheer ETF approval!",
                  "https://news.example/btc-record", "Strong inflows lifted BTC.", at(9), at(9)),
            Story("urn:news:eth-outage", "ETHEREUM network outage sparks panic among traders",
                  "https://wire.example/eth-outage", "Transactions stalled for hours.", at(11), at(11)),
            SOLANA)
    return {"/markets.rss": Feed("rss", "Example Markets", rss), "/crypto.atom": Feed("atom", "Example Crypto", atom)}
