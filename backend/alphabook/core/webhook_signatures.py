"""Standard Webhooks signatures (https://www.standardwebhooks.com): one implementation for what we check and send.

A secret is ``whsec_<base64 key>``; a message is signed as ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
and carried in the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers. Trading hooks verify
senders with it; scheduled-run notifications sign what they send with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid

__all__ = ["headers", "new_secret", "signature"]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> bytes:
    """The base64 HMAC (the part after ``v1,``) of ``body`` sent as ``message_id`` at ``timestamp``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())


def headers(secret: str, body: bytes, message_id: str | None = None) -> dict[str, str]:
    """The three headers that sign ``body`` now."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    stamp = str(int(time.time()))
    return {"webhook-id": message_id, "webhook-timestamp": stamp,
            "webhook-signature": "v1," + signature(secret, message_id, stamp, body).decode("ascii")}
