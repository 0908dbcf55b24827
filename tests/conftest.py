"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

A migrated template (schema + reference data) is built once per database kind;
each test gets a fresh copy (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE`
on PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from ihanoi_core.db import get_engine, session_scope
from ihanoi_core.migrations import upgrade
from ihanoi_core.reference import load_reference_data
from tests.pg_server import PostgresServer

FIXED_NOW = datetime(2024, 8, 8, 3, 0, tzinfo=UTC)  # Thursday 10:00 in Hanoi
_counter = itertools.count()


def _build(url: str) -> None:
    engine = get_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        load_reference_data(session, FIXED_NOW)
    engine.dispose()


_PG_ORIGIN: list[str] = []


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    _PG_ORIGIN.append(server.origin)
    yield server
    server.stop()


def _on_postgresql(nodeid: str) -> bool:
    params = nodeid.partition("[")[2]
    return "postgresql" in params.rstrip("]").split("-")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly that the PostgreSQL tests ran (they must never be skipped)."""
    stats = terminalreporter.stats
    count = {
        outcome: sum(_on_postgresql(r.nodeid) for r in stats.get(outcome, []) if r.when == "call")
        for outcome in ("passed", "failed", "skipped")
    }
    origin = _PG_ORIGIN[0] if _PG_ORIGIN else "not started"
    terminalreporter.write_line(
        f"PostgreSQL tests: {count['passed']} passed, {count['failed']} failed, "
        f"{count['skipped']} skipped (server: {origin})"
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    _build(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> Iterator[str]:
    name = f"ihanoi_tmpl_{os.getpid()}"
    pg_server.execute_autocommit(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    _build(pg_server.url_for(name))
    get_engine.cache_clear()
    yield name
    pg_server.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fresh_database_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A new database with schema and reference data, dropped after the test."""
    if kind == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"ihanoi_t_{os.getpid()}_{next(_counter)}"
    server.execute_autocommit(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    request.addfinalizer(
        lambda: server.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    )
    return server.url_for(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request, request.param, tmp_path)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    return get_engine(db_url)


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW
