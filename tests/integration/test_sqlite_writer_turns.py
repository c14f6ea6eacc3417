"""SQLite's single writer, shared by one process's threads in turn (``alphabook.core.db._WriterTurns``).

SQLite's busy handler is switched off here (``busy_timeout=0``), so a thread that met another's write lock at the
SQLite level would fail at once with "database is locked": the tests pass only if the threads of a process queue
for their turn before SQLite ever sees them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, func, insert, select

from alphabook.core.db import Database

THREADS = 16
WRITES = 25
counter = Table("counter", MetaData(), Column("id", Integer, primary_key=True), Column("thread", Integer))


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'turns.db'}", pool_size=THREADS + 2, max_overflow=0)

    @event.listens_for(db.engine, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:  # after ours: replaces the 5 s timeout
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    counter.create(db.engine)
    try:
        yield db
    finally:
        db.dispose()


def test_threads_writing_at_once_all_get_their_turn(database: Database) -> None:
    barrier = threading.Barrier(THREADS)

    def write(thread: int) -> None:
        barrier.wait()
        for _ in range(WRITES):
            with database.session() as session:
                session.execute(insert(counter).values(thread=thread))
                session.scalar(select(func.count()).select_from(counter))  # a read inside the write, as real code

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(write, range(THREADS)))  # re-raises "database is locked" if a thread met SQLite's lock
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(counter)) == THREADS * WRITES
        per_thread = session.execute(select(counter.c.thread, func.count()).group_by(counter.c.thread)).all()
    assert sorted(count for _, count in per_thread) == [WRITES] * THREADS


def test_a_turn_is_given_back_by_rollback_and_by_a_connection_dropped_mid_transaction(database: Database) -> None:
    def failing_request() -> None:
        with database.session() as session:
            session.execute(insert(counter).values(thread=1))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    dropped = database.engine.connect()
    dropped.begin()
    dropped.execute(insert(counter).values(thread=2))
    dropped.invalidate()  # the DBAPI connection is thrown away without COMMIT or ROLLBACK through SQLAlchemy
    dropped.rollback()
    dropped.close()
    done = threading.Event()

    def write_from_another_thread() -> None:
        with database.session() as session:
            session.execute(insert(counter).values(thread=3))
        done.set()

    threading.Thread(target=write_from_another_thread, daemon=True).start()
    assert done.wait(10), "the next writer never got its turn"
    with database.session() as session:
        assert session.scalars(select(counter.c.thread)).all() == [3]
