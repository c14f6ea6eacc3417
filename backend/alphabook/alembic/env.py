"""Alembic environment: migrations run online against the URL given by alphabook's config."""

from __future__ import annotations

from alembic import context

from alphabook.core.db import make_engine
from alphabook.core.migrations import include_object
from alphabook.models import Base

config = context.config
target_metadata = Base.metadata


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
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
