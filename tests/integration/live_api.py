"""The real API served over HTTP by uvicorn in a thread, for clients that need a URL (the SDK, Jupyter servers).

The FastAPI ``TestClient`` calls the app in-process; the notebook SDK and the JupyterLab server extension
open their own HTTP connections, so they get a real server on a free port, under the hub's service prefix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from alphabook.api.main import create_app
from alphabook.core.config import Settings
from tests.ports import free_port


@dataclass(frozen=True)
class LiveApi:
    url: str  # the API root, ending in /api
    settings: Settings


@contextmanager
def live_api(settings: Settings) -> Iterator[LiveApi]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, prefix="/services/api/"), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start within 60 s")
        time.sleep(0.05)
    try:
        yield LiveApi(url=f"http://127.0.0.1:{port}/services/api/api", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
