"""The sandbox executor service as operators run it: ``alphabook sandbox serve`` in its own process."""

from __future__ import annotations

import os
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
class SandboxService:
    url: str
    token: str
    process: subprocess.Popen[bytes]


@contextmanager
def sandbox_service(home: Path, *, token: str = "service-token-for-tests", pool_size: int = 2,
                    queue_size: int = 16) -> Iterator[SandboxService]:
    port = free_port()
    env = {**os.environ, "ALPHABOOK_HOME": str(home), "ALPHABOOK_SANDBOX_SERVICE_TOKEN": token,
           "ALPHABOOK_SANDBOX_POOL_SIZE": str(pool_size), "ALPHABOOK_SANDBOX_QUEUE_SIZE": str(queue_size),
           "ALPHABOOK_LOG_LEVEL": "WARNING"}
    env.pop("ALPHABOOK_SANDBOX_URL", None)
    command = str(Path(sys.executable).with_name("alphabook"))  # the console script beside this interpreter
    process = subprocess.Popen([command, "sandbox", "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alphabook sandbox serve did not start (exit status {process.poll()})")
            time.sleep(0.1)
        yield SandboxService(url, token, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
