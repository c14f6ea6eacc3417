"""The API as the process the hub manages: it serves, and it stops on the first SIGTERM.

(A managed service that ignores the first signal makes the hub wait 30 s for it on every shutdown.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ALPHABOOK
from tests.ports import free_port

pytestmark = pytest.mark.e2e


def test_api_service_serves_and_stops_on_first_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ALPHABOOK_", "JUPYTERHUB_"))}
    env |= {"ALPHABOOK_HOME": str(tmp_path), "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}"}
    subprocess.run([ALPHABOOK, "db", "upgrade"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([ALPHABOOK, "api"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.25)
        assert reply.status_code == 200 and reply.json()["database"] == "sqlite"
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the parent sees why it exited.
        assert process.wait(timeout=25) in (0, -signal.SIGTERM)
        assert process.stdout is not None
        assert "Application shutdown complete" in process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
