"""Reading feeds: over HTTP with httpx (a timeout, redirects followed, conditional GET), or from local files.

A server that supports it answers ``304 Not Modified`` when we send back the ``ETag`` and ``Last-Modified`` it
gave last time, which saves both sides the download and the parse. A feed that fails (timeout, refused, 5xx, a
missing file) is reported in words and skipped: one broken feed must not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from alphabook import __version__

__all__ = ["Fetched", "fetch_feed"]

USER_AGENT = f"alphabook/{__version__} (news sentiment; +https://github.com/alphabook)"


@dataclass(frozen=True, slots=True)
class Fetched:
    address: str
    content: bytes | None  # None: not modified since last time, or failed (see ``error``)
    status: str  # what happened, for people: "200 OK", "304 Not Modified", "file", or the error
    etag: str | None = None
    last_modified: str | None = None
    error: bool = False


def fetch_feed(address: str, client: httpx.Client, *, etag: str | None = None,
               last_modified: str | None = None) -> Fetched:
    """The document at ``address`` (http(s) URL, file:// URL or path); never raises for a failing feed."""
    scheme = urlsplit(address).scheme.lower()
    if scheme in ("http", "https"):
        return _http(address, client, etag, last_modified)
    if scheme in ("file", ""):
        path = Path(unquote(urlsplit(address).path)) if scheme == "file" else Path(address)
        try:
            return Fetched(address, path.read_bytes(), "file")
        except OSError as error:
            return Fetched(address, None, f"cannot read {path}: {error.strerror or error}", error=True)
    return Fetched(address, None, f"not an http(s) URL, file:// URL or path (scheme {scheme!r})", error=True)


def _http(address: str, client: httpx.Client, etag: str | None, last_modified: str | None) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                                                   "text/xml;q=0.8, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        response = client.get(address, headers=headers)
    except httpx.TimeoutException:
        return Fetched(address, None, f"no answer within {client.timeout.read} s", error=True)
    except httpx.HTTPError as error:
        return Fetched(address, None, f"unreachable: {error}", error=True)
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.status_code == httpx.codes.NOT_MODIFIED:
        return Fetched(address, None, status, etag, last_modified)
    if response.status_code != httpx.codes.OK:
        return Fetched(address, None, f"answered {status}", error=True)
    return Fetched(address, response.content, status, response.headers.get("ETag"),
                   response.headers.get("Last-Modified"))
