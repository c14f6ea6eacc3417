"""End-to-end fixtures: a real JupyterHub with its proxy and the alphabook services on free ports.

Provides ``hub`` (one hub for the whole session, started with ``alphabook run`` exactly as a person
would, in a private home folder) and ``new_person`` (a factory of signed-up users whose Unix accounts
are removed afterwards). The hub runs as root here, so each person gets a Unix account.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.fake_github import FakeGitHub
from tests.e2e.hub_client import HubUserSession
from tests.ports import free_port

ALPHABOOK = Path(sys.executable).parent / "alphabook"


@dataclass
class RunningHub:
    url: str
    home: Path
    admin_name: str
    admin_password: str
    log: Path
    process: subprocess.Popen[bytes]
    unix_users: list[str]


NewPerson = Callable[[], tuple[HubUserSession, str]]


def remove_unix_user(name: str) -> None:
    subprocess.run(["pkill", "--signal", "KILL", "-u", name], check=False)
    for _ in range(20):
        if subprocess.run(["userdel", "--remove", name], check=False, capture_output=True).returncode in (0, 6):
            return
        time.sleep(0.25)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited with {process.returncode}:\n{log.read_text()[-5000:]}")
        try:
            if httpx.get(f"{url}/services/api/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the hub did not come up in {timeout}s:\n{log.read_text()[-5000:]}")


@pytest.fixture(scope="session")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(login="Octo-Cat", client_id="e2e-client", client_secret=secrets.token_hex(8)) as fake:
        yield fake


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> Iterator[RunningHub]:
    assert os.geteuid() == 0, "the end-to-end suite runs the hub as root to prove per-user Unix isolation"
    home = tmp_path_factory.mktemp("alphabook-home")
    port = free_port()
    admin_name = "e2eadmin" + secrets.token_hex(3)
    admin_password = "e2e-" + secrets.token_urlsafe(16)
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")},
        "ALPHABOOK_HOME": str(home),
        "ALPHABOOK_HUB_PORT": str(port),
        "ALPHABOOK_HUB_API_PORT": str(free_port()),
        "ALPHABOOK_PROXY_API_PORT": str(free_port()),
        "ALPHABOOK_API_PORT": str(free_port()),
        "ALPHABOOK_DASHBOARDS_PORT": str(free_port()),
        "ALPHABOOK_VOILA_PORT": str(free_port()),
        "ALPHABOOK_ADMIN_USERNAME": admin_name,
        "ALPHABOOK_ADMIN_PASSWORD": admin_password,
        "ALPHABOOK_TOKEN_CACHE_SECONDS": "1",
        "ALPHABOOK_GITHUB_CLIENT_ID": github.client_id,
        "ALPHABOOK_GITHUB_CLIENT_SECRET": github.client_secret,
        "ALPHABOOK_GITHUB_URL": github.url,
    }
    log = home / "hub.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ALPHABOOK), "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    running = RunningHub(url=url, home=home, admin_name=admin_name, admin_password=admin_password, log=log,
                         process=process, unix_users=[admin_name])
    try:
        _wait_until_up(url, process, log)
        yield running
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for name in running.unix_users:
            remove_unix_user(name)


@pytest.fixture
def new_person(hub: RunningHub) -> Iterator[Callable[[], tuple[HubUserSession, str]]]:
    """Sign up a fresh person (random name, strong password); their Unix account is deleted with the hub."""
    people: list[HubUserSession] = []

    def make() -> tuple[HubUserSession, str]:
        person = HubUserSession(hub.url, "e2e" + secrets.token_hex(4))
        password = secrets.token_urlsafe(18)
        reply = person.sign_up(password)
        assert reply.status_code == 200, reply.text[-2000:]
        people.append(person)
        hub.unix_users.append(person.name)
        return person, password

    yield make
    for person in people:
        person.close()
