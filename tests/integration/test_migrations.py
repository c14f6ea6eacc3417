"""Alembic owns the schema: it goes up, down and up again on every backend, and matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from alphabook.core import audit, migrations
from alphabook.core.db import Database, make_engine
from alphabook.models import Base

TABLES = set(Base.metadata.tables) | {"alembic_version"}  # every model's table, and nothing else


def _tables(url: str) -> set[str]:
    """The application's tables (SQLite's FTS5 index and its shadow tables are the search's own)."""
    return {name for name in _all_tables(url) if not name.startswith("listings_fts")}


def _all_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    assert _tables(fresh_database_url) == TABLES
    migrations.downgrade(fresh_database_url, "base")
    assert _all_tables(fresh_database_url) == {"alembic_version"}
    migrations.upgrade(fresh_database_url)
    assert _tables(fresh_database_url) == TABLES
    engine = make_engine(fresh_database_url)
    try:
        head = ScriptDirectory.from_config(migrations.alembic_config(fresh_database_url)).get_current_head()
        assert head is not None and migrations.current_revision(engine) == head
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": migrations.include_object})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_audit_log_refuses_updates_and_deletes(fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    database = Database(fresh_database_url)
    try:
        with database.session() as session:
            audit.record(session, actor="alice", action="test.happened", subject="thing:1", amount_minor=5)
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), database.session() as session:
                session.execute(text(statement))
        with database.session() as session:
            [entry] = audit.entries(session, subject="thing:1")
            assert (entry.actor, entry.data) == ("alice", {"amount_minor": 5})
            assert entry.at.tzinfo is not None
    finally:
        database.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/wal.db")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()


def test_processes_starting_together_migrate_once(fresh_database_url: str, tmp_path: Path) -> None:
    """Workers, beat and the API each run ``db upgrade`` when they start; started at once, all must succeed."""
    command = [str(Path(sys.executable).with_name("alphabook")), "db", "upgrade"]
    env = {**os.environ, "ALPHABOOK_DATABASE_URL": fresh_database_url, "ALPHABOOK_HOME": str(tmp_path)}
    starting = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for _ in range(4)]
    outputs = [process.communicate(timeout=300)[0] for process in starting]
    assert [process.returncode for process in starting] == [0] * 4, "\n---\n".join(outputs)
    assert _tables(fresh_database_url) == TABLES
