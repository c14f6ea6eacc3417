"""Throw-away databases for tests: a SQLite file, or a new database on the PostgreSQL server that
``ALPHABOOK_TEST_DATABASE_URL`` points at (created with a random name, dropped afterwards)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
