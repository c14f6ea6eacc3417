"""Integration fixtures: real databases, migrated with Alembic exactly as in production.

Provides, for each backend in :data:`BACKENDS` (SQLite always; PostgreSQL when
``ALPHABOOK_TEST_DATABASE_URL`` is set, failing rather than skipping if it cannot connect):
``database`` (one migrated database for the session), ``session`` (a session whose work is rolled back
after the test), ``fresh_database_url`` (an empty database of its own, for migration tests), and
``frozen_now`` (the application clock frozen at a fixed instant).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from alphabook.core import clock
from alphabook.core.db import Database
from tests.integration.databases import (
    BACKENDS,
    create_database,
    drop_database,
    migrated_database,
    rolled_back_session,
)

pytestmark = pytest.mark.db


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated_database(request.param, tmp_path_factory.mktemp(request.param)) as db:
        yield db


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with rolled_back_session(database) as session:
        yield session


@pytest.fixture(params=BACKENDS)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = create_database(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def frozen_now() -> Iterator[clock.FrozenClock]:
    with clock.frozen(datetime(2026, 3, 2, 14, 30, tzinfo=UTC)) as frozen:
        yield frozen
