"""The one way to reach the database: a cached engine and `session_scope()`.

SQLite is the embedded default, PostgreSQL the production database; both get the
same schema from the Alembic migrations in `db/alembic/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from ihanoi_core import config


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on both databases.

    SQLite keeps no zone, so values are written as naive UTC and read back aware;
    naive input is refused rather than guessed, because a wrong zone silently shifts
    every deadline by seven hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Current time, aware UTC. Only entry points (UI, CLI) call it; the core takes `now`."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would commit at the first SAVEPOINT release;
    # SQLAlchemy's documented recipe: let SQLAlchemy emit BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: `config.database_url()`), created once per process."""
    url = url or config.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


@contextmanager
def session_scope(engine: Engine | None = None, *, snapshot: bool = False) -> Iterator[Session]:
    """One session per user action: commit on success, roll back on any error.

    `snapshot=True` makes every statement of the session see the same moment (REPEATABLE
    READ on PostgreSQL; a SQLite transaction already reads one snapshot), so a report
    built from several queries never mixes two states of the database.
    """
    session = Session(engine or get_engine(), expire_on_commit=False)
    if snapshot and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
