"""First-start setup of accounts: the administrator exists and has a password someone knows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from alphabook.accounts import passwords
from alphabook.accounts.models import Role
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.service import ensure_user, find_user
from alphabook.core import security
from alphabook.core.config import Settings
from alphabook.core.db import Database


@dataclass(frozen=True, slots=True)
class AdminAccount:
    name: str
    password_file: Path
    #: The password, only when it was generated just now (it is shown once, then only kept in the file).
    new_password: str | None


def ensure_admin(settings: Settings, database: Database) -> AdminAccount:
    """Create the administrator on first start, from ``ALPHABOOK_ADMIN_PASSWORD`` or a generated one."""
    policy = PasswordPolicy.from_settings(settings)
    name = settings.admin_username
    password_file = settings.secrets_dir / "admin_password"
    with database.session() as session:
        user = find_user(session, name)
        wanted = settings.admin_password.get_secret_value() if settings.admin_password else None
        new_password = None
        if wanted is not None:
            if user is None or user.password is None or not security.verify_password(user.password.hash, wanted):
                passwords.set_password(session, name, wanted, policy, actor="alphabook")
        elif user is None or user.password is None:
            settings.ensure_home()
            new_password = settings.secret("admin_password", nbytes=18)
            passwords.set_password(session, name, new_password, policy, actor="alphabook")
        ensure_user(session, name, roles=[Role.USER.value, Role.CREATOR.value, Role.ADMIN.value])
    if wanted is not None and password_file.exists():
        os.unlink(password_file)  # the operator chose a password; do not leave a stale one around
    return AdminAccount(name=name, password_file=password_file, new_password=new_password)
