"""Where optuna keeps a study: in memory, in the alphabook database, or at any SQLAlchemy URL.

optuna's RDB storage does the work, and lets several workers (processes, machines) share one study.
It versions its own tables with Alembic under the default ``alembic_version`` table, which alphabook's
migrations also use, so it cannot share alphabook's namespace: on PostgreSQL it gets its own schema
(``optuna``) in the alphabook database; on SQLite, where there are no schemas, a sibling file
``optuna.db`` next to ``alphabook.db``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from alphabook.core.config import get_settings

ALPHABOOK = "alphabook"
OPTUNA_SCHEMA = "optuna"
_LOCK_KEY = 0x0A1FAB00C  # an arbitrary, fixed advisory-lock id for "optuna schema setup"


def open_storage(storage: str | optuna.storages.BaseStorage | None) -> optuna.storages.BaseStorage:
    """``None``: in memory; ``"alphabook"``: the alphabook database; any other string: a SQLAlchemy URL."""
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(storage, str):
        return storage
    url = alphabook_study_url() if storage == ALPHABOOK else storage
    parsed = make_url(url)
    schema = OPTUNA_SCHEMA if storage == ALPHABOOK else None
    with _first_worker_creates_the_tables(url, schema):
        if parsed.get_backend_name() == "postgresql" and storage == ALPHABOOK:
            options = {"connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"}}
            return optuna.storages.RDBStorage(url, engine_kwargs=options)
        if parsed.get_backend_name() == "sqlite":
            # Workers in other processes write too: wait for the lock instead of failing at once.
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
        return optuna.storages.RDBStorage(url)


@contextmanager
def _first_worker_creates_the_tables(url: str, schema: str | None) -> Iterator[None]:
    """Serialise optuna's schema creation: workers starting together on an empty database would otherwise
    race to create the same tables and types (PostgreSQL: an advisory lock; SQLite: a lock file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(parsed)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
                try:
                    if schema is not None:
                        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
                        connection.commit()
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
        finally:
            engine.dispose()
    elif parsed.get_backend_name() == "sqlite" and parsed.database:
        with open(f"{parsed.database}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def alphabook_study_url() -> str:
    url = make_url(get_settings().effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return str(url.set(database=str(Path(url.database).with_name("optuna.db"))))
    return url.render_as_string(hide_password=False)
