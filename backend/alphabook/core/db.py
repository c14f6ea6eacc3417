"""Database engine, sessions and the declarative base.

SQLAlchemy 2.0's typed ORM does the heavy lifting; Alembic (``alphabook/alembic``) owns the schema.
SQLite is the embedded default and is switched to WAL with foreign keys on, because the hub's
authenticator and the API service write to the same file from different processes, and to
``synchronous=NORMAL``: under WAL a commit then appends to the log without waiting for the disk, and
the log is synced at checkpoints. The database stays consistent whatever happens, and an application
crash loses nothing; only a power cut or an operating-system crash can take back the last commits
before the next checkpoint (SQLite's documented trade-off, taken by most WAL deployments). A commit
that waits for the disk cost about 2 ms, more than the rest of an alert's transaction. PostgreSQL is
reached through psycopg 3 with the very same migrations.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, Numeric, String, create_engine, event, inspect, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine

from alphabook.core.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC on the way in and on the way out.

    PostgreSQL keeps the zone (``timestamptz``); SQLite forgets it, so values are normalised here
    rather than trusting every caller to remember.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use alphabook.core.clock.utcnow()")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class ExactDecimal(TypeDecorator[Decimal]):
    """An order quantity or price: ``NUMERIC(38, 18)`` on PostgreSQL, text on SQLite.

    SQLite's NUMERIC affinity keeps decimals as binary floats (0.1 comes back 0.1000000000000000055…), so
    there the exact digits are stored as text; comparisons belong in Python, not in SQLite's ORDER BY.
    Values come back without the trailing zeros PostgreSQL pads them with.
    """

    impl = Numeric(38, 18, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(String(48) if dialect.name == "sqlite" else Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"a finite Decimal is needed for an exact quantity or price, not {value!r}")
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return plain(Decimal(value))


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (10, not 1E+1)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints the same everywhere."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON(),
                                                     Decimal: ExactDecimal()}


BUSY_TIMEOUT_SECONDS = 5.0


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens a transaction only before DML, so a SAVEPOINT issued first would run in
    # autocommit and commit early; we take over BEGIN ourselves (see ``_WriterTurns``).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across application crashes (see the module's docstring)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's write lock staying taken past the busy timeout: nothing was written, and trying
    again at once would only wait as long again, so callers answer "busy, send it again" instead."""
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


class _WriterTurns:
    """SQLite's write lock, taken at BEGIN (``BEGIN IMMEDIATE``) and handed between this process's threads in turn.

    IMMEDIATE because two deferred transactions that both read and then write deadlock on the upgrade and one
    fails at once, whereas IMMEDIATE makes the second wait. The wait itself is SQLite's busy handler, which
    sleeps in growing steps (up to 100 ms) and wakes to find the lock taken again by whoever was running: under
    load some transactions waited seconds while others went through, and some gave up (503). So the threads of
    one process first queue on a lock that wakes a waiter the moment a transaction ends; the busy handler only
    arbitrates between processes (the hub and the API). The turn is given back when the transaction ends and,
    should a connection go back to the pool without ending it, at check-in. The price: a process whose threads
    keep the lock busy back to back (an alert flood) leaves another process's busy handler few moments to get in,
    so there a writer in the other process can time out; PostgreSQL is the database for such loads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: tuple[Any, Any, dict[Any, Any]] | None = None  # the turn's pooled and DBAPI connection, info

    def attach(self, engine: Engine) -> None:
        """Take the turn at BEGIN; give it back after COMMIT or ROLLBACK has run (SQLAlchemy's ``commit`` and
        ``rollback`` events come before, too early), or when a connection is checked in holding it."""
        event.listen(engine, "begin", self._begin)
        event.listen(engine.pool, "checkin", self._checked_in)
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self._end(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self._end(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    def _begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                f"database is locked: no write turn within {BUSY_TIMEOUT_SECONDS:.0f} s"))
        pooled = connection.connection
        self._holder = (pooled, pooled.dbapi_connection, connection.info)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._end(pooled)
            raise

    def _end(self, dbapi_connection: Any) -> None:
        """After COMMIT or ROLLBACK on ``dbapi_connection`` (the pool's proxy of it, or the connection itself)."""
        holder = self._holder
        if holder is not None and (holder[0] is dbapi_connection or holder[1] is dbapi_connection):
            self._holder = None
            self._lock.release()

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        holder = self._holder
        if holder is not None and holder[2] is record.info:
            self._holder = None
            self._lock.release()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the per-dialect settings alphabook relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        _WriterTurns().attach(engine)
        return engine
    # A server process answers requests from up to 40 threads (AnyIO's default) beside its dispatcher: keep 20
    # connections open instead of SQLAlchemy's 5, since every overflow connection opened and closed per request
    # costs PostgreSQL a new backend and psycopg its prepared statements (a burst of alerts spent most time there).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """An engine plus its session factory: one per process, built from the settings' URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def end_transaction(session: Session) -> None:
    """Commit what ``session`` did so far, before slow work that needs no database: a sandbox run, a model's answer.

    A transaction held across such work holds SQLite's one write lock (every transaction begins IMMEDIATE), so
    every other writer of the installation (webhook alerts, the scheduler's heartbeat) would wait for it, and give
    up after the busy timeout; on PostgreSQL it holds a pooled connection. The session stays usable (objects are
    not expired on commit), and its next statement begins a new transaction."""
    session.commit()


Locked = TypeVar("Locked", bound=Base)


def lock_row(session: Session, model: type[Locked], key: Any) -> Locked | None:
    """``model``'s row ``key`` read again under its row lock, or None when it is gone.

    Two transactions deciding about one row (a refund request and the provider's webhook for it) decide in turn,
    the second seeing what the first committed: ``populate_existing`` replaces what the session remembered. On
    PostgreSQL ``FOR NO KEY UPDATE``, which rows referencing this one (ledger entries naming their purchase) do not
    wait for; SQLite's writers take turns anyway (every transaction begins IMMEDIATE)."""
    (column,) = inspect(model).primary_key
    query = (select(model).where(column == key).with_for_update(key_share=True)
             .execution_options(populate_existing=True))
    found: Locked | None = session.scalar(query)
    return found
