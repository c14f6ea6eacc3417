"""Shared fixtures for the unit tests.

Unit tests must never touch the network: an autouse fixture disables every internet socket for
the duration of each test (via pytest-socket), so an accidental HTTP call or database connection
fails loudly instead of silently depending on the machine. Unix sockets stay allowed because
asyncio's event loop (used by FastAPI's TestClient) needs a local socket pair.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        enable_socket()
