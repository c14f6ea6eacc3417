"""A free TCP port on loopback, for the real servers the tests start (hub, API, Jupyter, SMTP, webhooks).

The port is drawn below the kernel's ephemeral range: every outgoing connection (to PostgreSQL, a health check)
takes its local port from that range, so a port found free there could be taken by one in the seconds before
the server binds it ("address already in use"). Ports handed out once are not handed out again in this process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    ceiling = _ephemeral_start()
    for _ in range(1000):
        port = random.randrange(LOWEST, ceiling)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 between {LOWEST} and {ceiling}")
