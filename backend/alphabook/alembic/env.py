"""Alembic environment: migrations run online against the URL given by alphabook's config.

Every process that starts (API workers, Celery beat and workers, the CLI) upgrades the database first, so
several may migrate at once. On PostgreSQL the first takes a transaction-scoped advisory lock and the others
wait on it, then find the schema at head; SQLite serialises writers by itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from alphabook.core.db import make_engine
from alphabook.core.migrations import include_object
from alphabook.models import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 0x616C706861626F6F  # "alphaboo": the advisory lock key every alphabook migration takes


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "alembic needs sqlalchemy.url; use alphabook.core.migrations"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
