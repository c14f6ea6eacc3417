"""Throw-away databases for tests: a SQLite file, or a new database on the PostgreSQL server that
``ALPHABOOK_TEST_DATABASE_URL`` points at (created with a random name, dropped afterwards)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from alphabook.core import migrations
from alphabook.core.db import Database

POSTGRES_URL = os.environ.get("ALPHABOOK_TEST_DATABASE_URL", "")
#: SQLite always; PostgreSQL as well when CI (or a developer) provides one. Never skipped once asked for.
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def create_database(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / ('test-' + secrets.token_hex(4) + '.db')}"
    server = make_url(POSTGRES_URL)
    name = f"alphabook_test_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()



@contextmanager
def migrated_database(backend: str, folder: Path, **engine_kwargs: Any) -> Iterator[Database]:
    """A new database migrated with Alembic as in production, dropped when the block ends."""
    url = create_database(backend, folder)
    try:
        migrations.upgrade(url)
        database = Database(url, **engine_kwargs)
        try:
            yield database
        finally:
            database.dispose()
    finally:
        drop_database(url)


@contextmanager
def rolled_back_session(database: Database) -> Iterator[Session]:
    """A session inside one outer transaction that is rolled back at the end: commits inside become savepoints,
    so a test sees its own writes and leaves nothing behind."""
    connection = database.engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
