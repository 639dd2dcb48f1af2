"""The database connection: one engine and session factory per process.

PostgreSQL in production, SQLite as the embedded default. SQLite gets foreign
keys, WAL (readers do not block the writer), a busy timeout, and
``BEGIN IMMEDIATE`` for every transaction: with pysqlite's default deferred
transactions a read-then-write transaction fails at once with "database is
locked" when another process committed in between, whatever the busy timeout.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached (after a few quick retries)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # a restarted PostgreSQL leaves dead connections in the pool
    kwargs.setdefault("pool_recycle", 1800)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back on error and is always closed (commit explicitly)."""
        session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Drop pooled connections (after a fork they belong to the parent)."""
        self.engine.dispose(close=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


def is_connection_error(exc: BaseException) -> bool:
    """True for "the database is unreachable or busy", as opposed to a bug or a constraint violation."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def retrying(func: Callable[[], T], *, attempts: int = 4, first_delay: float = 0.25) -> T:
    """Run ``func`` (one whole transaction), retrying a few times while the database is unreachable.

    Covers a database restart or failover of a second or two; after that it
    raises :class:`DatabaseUnavailable` for the caller to report (503).
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except DBAPIError as exc:
            if not is_connection_error(exc):
                raise
            if attempt == attempts:
                log.warning("database unavailable after %d attempts: %s", attempts, exc.orig)
                raise DatabaseUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
