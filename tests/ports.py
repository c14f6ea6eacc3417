"""A free TCP port on loopback, for the real servers the tests start (hub, API, Jupyter, SMTP, webhooks)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
