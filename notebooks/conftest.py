"""A running alphabook stack for the notebooks that talk to it (04-publish-and-use), started once when the first of
their cells is about to run.

nbval starts a notebook's kernel when it sets the notebook up, and the kernel inherits this process's environment,
so the stack (the real API over HTTP, on a fresh SQLite database in a temporary home, with the sandbox and the
Local payment provider) is started and its address and three people's API keys are exported first. The hook runs
before pytest's own setup (``tryfirst``), which is where nbval starts the kernel.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

STACK_NOTEBOOKS = {"04-publish-and-use.ipynb", "05-ai-assistant.ipynb"}
# The platform's job notebooks act on whatever database they find (they pay creators, delete expired demos), so
# nbval does not run them against a developer's data: tests/integration/test_platform_jobs.py executes each one
# through the real scheduler on a database it seeded, and checks what the job did.
collect_ignore = ["jobs"]
_stack = ExitStack()
_started = False


def _start_stack() -> None:
    from tests.integration.live_api import live_api
    from tests.integration.market import key_for

    from alphabook.core import migrations
    from alphabook.core.config import Settings
    from alphabook.core.db import Database

    home = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="alphabook-notebooks-")))
    url = f"sqlite:///{home / 'alphabook.sqlite'}"
    migrations.upgrade(url)
    database = Database(url)
    api = _stack.enter_context(live_api(Settings(home=home, database_url=url, payment_provider="local")))
    os.environ["ALPHABOOK_API_URL"] = api.url
    for who, roles in (("creator", ["user", "creator"]), ("admin", ["user", "admin"]), ("buyer", ["user"])):
        header = key_for(database, f"example{who}", roles)["Authorization"]
        os.environ[f"ALPHABOOK_EXAMPLE_{who.upper()}_KEY"] = header.split(" ", 1)[1]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _started
    if not _started and item.path.name in STACK_NOTEBOOKS:
        _started = True
        _start_stack()


def pytest_sessionfinish() -> None:
    _stack.close()
