"""What every platform job notebook (``notebooks/jobs/``) starts with: the platform's settings and its database.

The scheduler runs these notebooks with its own ``ALPHABOOK_*`` environment. A notebook opened where alphabook
never ran has no database yet: then there is nothing to do, which the notebook says instead of creating one.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import make_url

from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database
from alphabook.core.errors import ConfigurationError
from alphabook.core.migrations import current_revision

__all__ = ["open_platform"]


def open_platform() -> tuple[Settings, Database | None]:
    """(settings, database); the database is None when there is none yet, and an unmigrated one is an error."""
    settings = get_settings()
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        print(f"There is no database at {url.database} yet, so there is nothing to do.")
        return settings, None
    database = Database(settings.effective_database_url)
    shown = url.render_as_string(hide_password=True)
    if current_revision(database.engine) is None:
        raise ConfigurationError(f"{shown} has no schema: run `alphabook db upgrade`.")
    print(f"Database: {shown}")
    return settings, database
