"""Run the Alembic migrations programmatically, against any database URL.

Alembic does the work; this module only builds its configuration from the package (no ``alembic.ini``
needed on disk) so the CLI, ``make run`` and the tests all migrate the same way.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

#: What the migrations create by hand and the models cannot describe: SQLite's FTS5 index of listings (a
#: virtual table and its shadow tables) and PostgreSQL's generated tsvector column. Autogenerate skips them.
SEARCH_OBJECTS = ("listings_fts", "search_vector", "ix_listings_search_vector")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's ``include_object`` hook: leave the hand-made search objects out of comparisons."""
    return not (name or "").startswith(SEARCH_OBJECTS)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "alphabook:alembic")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
