"""A real Jupyter server started the way a user server starts: from this venv (its extensions and config, the
lab extension's and jupyter-ai's among them), with the person's environment, on a free port."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.ports import free_port


@dataclass(frozen=True)
class JupyterServer:
    url: str  # http://127.0.0.1:<port>
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@contextmanager
def jupyter_server(root: Path, env: dict[str, str], log: Path) -> Iterator[JupyterServer]:
    token, port = secrets.token_hex(16), free_port()
    with log.open("wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                                   f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
                                   f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
                                  env=env, stdout=output, stderr=subprocess.STDOUT)
        running = JupyterServer(f"http://127.0.0.1:{port}", token)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{running.url}/api/status", headers=running.headers, timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            yield running
        finally:
            server.terminate()
            server.wait(timeout=30)
