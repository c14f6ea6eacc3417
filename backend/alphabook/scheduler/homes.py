"""Whose account a run executes as, and where their notebooks are: the same answer the hub's spawner gives.

With per-person Unix accounts (the hub running as root), a person's runs execute as that account, in its home;
the scheduler never runs someone's notebook as itself. Without isolation (a developer's machine) every server
and every run is the one Unix user anyway, and homes live under ``<alphabook home>/users/<name>`` as the hub
configures them.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from alphabook.core.config import Settings
from alphabook.core.errors import InvalidInput, NotFound

__all__ = ["Account", "account_of", "notebook_in_home"]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    home: Path
    uid: int | None  # None: run as this process's user
    gid: int | None


def _isolated(settings: Settings) -> bool:
    return settings.isolation == "system-users" or (settings.isolation == "auto" and os.geteuid() == 0)


def account_of(name: str, settings: Settings) -> Account:
    if not _isolated(settings):
        return Account(name, settings.home / "users" / name, None, None)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise NotFound(f"{name} has no Unix account on this machine yet: log in once so the hub creates it.") from None
    return Account(name, Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)


def notebook_in_home(path: str) -> str:
    """A notebook path relative to the owner's home, refused if it leaves it or is not a notebook."""
    pure = PurePosixPath(path.strip().lstrip("/"))
    if pure.suffix != ".ipynb" or not pure.parts or any(part in ("..", "") for part in pure.parts):
        raise InvalidInput(f"{path!r} is not a notebook in your home: give a path like 'reports/daily.ipynb'.")
    return str(pure)
