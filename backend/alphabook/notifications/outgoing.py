"""Webhooks alphabook sends (people's notifications, scheduled jobs' run reports): where they may go, and the
signed POST itself, with httpx and :mod:`alphabook.core.webhook_signatures` (Standard Webhooks).

Anyone can type a URL, so a webhook is a way to make the server call addresses its users cannot reach: the
cloud's metadata service (169.254.169.254), the database, the hub's own API. :func:`check` resolves the host and
refuses any address that is not globally routable (private, loopback, link-local, multicast, reserved, and
IPv4-mapped forms of those), unless ``notifications_private_targets`` allows them (automatically on a
developer's loopback-only installation, see the setting). Redirects are not followed, so a public address cannot
bounce the request inward. The check runs when a URL is saved and again before every send, because a name's
addresses change; a name that resolves to a public address at the check and a private one a moment later (DNS
rebinding) is not caught, which an egress firewall for the API's host closes.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from alphabook.core.config import Settings
from alphabook.core.errors import InvalidInput, TemporaryError
from alphabook.core.webhook_signatures import headers

__all__ = ["UnsafeTarget", "allows_private", "check", "post"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class UnsafeTarget(InvalidInput):
    """The URL points somewhere the server must not call (or is not an http(s) URL at all)."""

    slug = "unsafe-webhook-target"
    title = "Webhook address refused"


def allows_private(settings: Settings) -> bool:
    """Whether private addresses are allowed: the setting, or automatic (see its help)."""
    if settings.notifications_private_targets is not None:
        return settings.notifications_private_targets
    return urlsplit(settings.base_url).hostname in LOOPBACK_NAMES


def _parts(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeTarget(f"{url!r} is not a URL: {error}.") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(f"A webhook needs an http:// or https:// URL with a host, not {url!r}.")
    if parts.username or parts.password:
        raise UnsafeTarget("Put no user name or password in a webhook URL; the signature proves who sent it.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id (fe80::1%eth0) is not part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check(url: str, settings: Settings) -> None:
    """Return if ``url`` may be called now; :class:`UnsafeTarget` if not, TemporaryError if its host does not
    resolve (DNS trouble passes; a name that never resolves fails its retries)."""
    host, port = _parts(url)
    if allows_private(settings):
        return
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TemporaryError(f"The webhook's host {host} does not resolve: {error}.") from error
    inward = sorted({str(info[4][0]) for info in found if not _public(str(info[4][0]))})
    if inward:
        raise UnsafeTarget(f"The webhook's host {host} is {', '.join(inward)}: a private, loopback or link-local "
                           "address, which this server does not call. Use a public address (or ask the operator "
                           "to set ALPHABOOK_NOTIFICATIONS_PRIVATE_TARGETS).")


def post(url: str, secret: str, payload: dict[str, Any], settings: Settings, *, message_id: str | None = None,
         ) -> httpx.Response:
    """POST ``payload`` as JSON signed with ``secret`` after :func:`check`; raises what ``check`` raises, or
    ``httpx.HTTPError`` when the receiver cannot be reached. ``message_id`` stays the same for retries of one
    message, so receivers can tell a retry from a new event."""
    check(url, settings)
    content = json.dumps(payload, separators=(",", ":")).encode()
    return httpx.post(url, content=content, timeout=settings.notifications_webhook_timeout_seconds,
                      follow_redirects=False, headers={"content-type": "application/json", "user-agent": "alphabook",
                                                       **headers(secret, content, message_id)})
