"""The hub's authenticator where people have no Unix accounts: user servers in containers, or isolation "none"."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from alphabook.accounts.authenticator import AlphabookAuthenticator
from alphabook.core import migrations


def test_a_new_person_is_added_without_a_unix_account_when_the_hub_makes_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alphabook.db'}"
    migrations.upgrade(url)
    authenticator = AlphabookAuthenticator(database_url=url, create_system_users=False, allow_all=True)
    person = SimpleNamespace(name="nobody-has-this-unix-name")  # what the hub passes: its User, read for .name
    # the hub awaits add_user on its own loop; here a thread of its own gives it one whatever this thread runs
    with ThreadPoolExecutor(1) as hub_loop:  # LocalAuthenticator alone raises KeyError: "does not exist"
        hub_loop.submit(asyncio.run, authenticator.add_user(person)).result(timeout=30)
    assert not authenticator.system_user_exists(person)
