"""The schema on SQLite and PostgreSQL: migrations, append-only history, CHECKs, time zones.

The migrations are the only source of the schema in production, so they are run
here from an EMPTY database and compared with the models; the history's
append-only rule and the status CHECK are tested with raw SQL, as a careless script
or a database console would write, not through the ORM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel, func, select

import ihanoi_core.models  # noqa: F401  (registers every table on SQLModel.metadata)
from ihanoi_core import cli_commands
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine
from ihanoi_core.migrations import alembic_config, downgrade, upgrade
from ihanoi_core.models import (
    AdminEvent,
    Category,
    Report,
    ReportEvent,
    ReportSnapshot,
    Template,
    Unit,
    User,
)
from ihanoi_core.reference import LoadSummary, load_reference_data
from tests.factories import make_report

TABLES = {
    "admin_event",
    "app_user",
    "attachment",
    "boundary_feature",
    "category",
    "import_batch",
    "reference_document",
    "report",
    "report_event",
    "report_snapshot",
    "template",
    "unit",
}
APPEND_ONLY = ("report_event", "admin_event")
_created = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database with nothing in it (not the migrated test template)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        name = f"ihanoi_empty_{os.getpid()}_{next(_created)}"
        server.execute_autocommit(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        request.addfinalizer(
            lambda: server.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        )
        url = server.url_for(name)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()


def user_tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def triggers(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return {row[0] for row in conn.execute(sa.text(sql))}


def drift(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# ---------------------------------------------------------------- migrations


def test_migrations_from_empty_database_match_the_models(empty_url: str) -> None:
    engine = get_engine(empty_url)
    assert user_tables(engine) == set()
    upgrade(engine)
    assert user_tables(engine) == TABLES | {"alembic_version"}
    assert current_revision(engine) == head_revision() is not None
    assert drift(engine) == []


def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    engine = get_engine(empty_url)
    upgrade(engine)
    trigger_names = triggers(engine)
    assert len(trigger_names) >= 4  # UPDATE and DELETE refused on both history tables

    downgrade(engine, "base")
    assert user_tables(engine) - {"alembic_version"} == set()
    assert triggers(engine) == set()
    assert current_revision(engine) is None

    upgrade(engine)
    assert user_tables(engine) == TABLES | {"alembic_version"}
    assert triggers(engine) == trigger_names
    assert drift(engine) == []


def test_upgrade_twice_is_harmless(empty_url: str) -> None:
    engine = get_engine(empty_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert drift(engine) == []


# ------------------------------------------------------------ append-only history


@pytest.fixture
def with_history(session: Session, now: datetime) -> tuple[int, int]:
    """One report (so one `receive` event) and one admin-log row, committed."""
    report = make_report(session, now)
    entry = AdminEvent(at=now, entity="unit", entity_key="002", action="test", reason="seed")
    session.add(entry)
    session.commit()
    assert report.id is not None and entry.id is not None
    return report.id, entry.id


def test_frozen_report_copies_cannot_be_changed(engine: sa.Engine, now: datetime) -> None:
    """What a meeting was shown stays as it was shown, whoever connects."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ReportSnapshot.__table__).values(  # type: ignore[attr-defined]
                kind="weekly",
                period_key="2024-W32",
                format="pdf",
                filename="w32.pdf",
                created_at=now,
                sha256="0" * 64,
                figures_json="{}",
                content=b"%PDF",
            )
        )
    for statement in ("UPDATE report_snapshot SET content = NULL", "DELETE FROM report_snapshot"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert _count(engine, "report_snapshot") == 1


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def _reasons(engine: sa.Engine, table: str) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT reason FROM {table} ORDER BY id")).scalars())


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET reason = 'x'", "DELETE FROM {table}", "DELETE FROM {table} WHERE id > 0"],
)
def test_history_is_append_only_at_the_database(
    engine: sa.Engine, with_history: tuple[int, int], table: str, statement: str
) -> None:
    rows_before, reasons_before = _count(engine, table), _reasons(engine, table)
    assert rows_before >= 1
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement.format(table=table)))
    assert _count(engine, table) == rows_before
    assert _reasons(engine, table) == reasons_before


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no TRUNCATE
@pytest.mark.parametrize("table", APPEND_ONLY)
def test_history_cannot_be_truncated_on_postgresql(
    engine: sa.Engine, with_history: tuple[int, int], table: str
) -> None:
    assert engine.dialect.name == "postgresql"
    rows_before = _count(engine, table)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert _count(engine, table) == rows_before


def test_history_still_accepts_new_rows(
    engine: sa.Engine, with_history: tuple[int, int], now: datetime
) -> None:
    with Session(engine) as s:
        s.add(AdminEvent(at=now, entity="user", entity_key="x", action="create"))
        s.commit()
    assert _count(engine, "admin_event") == 2


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE report SET status = 'closed'", "ck_report_status"),
        ("UPDATE report SET status = 'RECEIVED'", "ck_report_status"),
        ("UPDATE report SET priority = 'very_urgent'", "ck_report_priority"),
        ("UPDATE report SET rating = 'meh'", "ck_report_rating"),
    ],
)
def test_check_constraints_refuse_unknown_values(
    engine: sa.Engine, with_history: tuple[int, int], statement: str, constraint: str
) -> None:
    report_id, _ = with_history
    with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
        conn.execute(sa.text(statement))
    if engine.dialect.name == "postgresql":
        assert constraint in str(info.value)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, priority, rating FROM report WHERE id = :id"), {"id": report_id}
        ).one()
    assert tuple(row) == ("received", "normal", None)


def test_check_constraint_refuses_unknown_event_status(
    engine: sa.Engine, with_history: tuple[int, int]
) -> None:
    report_id, _ = with_history
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO report_event (report_id, seq, at, actor_role, action, to_status)"
                " VALUES (:r, 2, CURRENT_TIMESTAMP, 'system', 'route', 'closed')"
            ),
            {"r": report_id},
        )
    assert _count(engine, "report_event") == 1


# ------------------------------------------------------------------ init-db


def _reference_counts(engine: sa.Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            model.__tablename__: s.exec(select(func.count()).select_from(model)).one()  # type: ignore[attr-defined]
            for model in (Unit, Category, Template, User, AdminEvent)
        }


def test_init_db_twice_is_idempotent(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    get_engine.cache_clear()
    try:
        assert cli_commands.cmd_init_db(None) == 0  # type: ignore[arg-type]
        first = capsys.readouterr().out
        engine = get_engine(empty_url)
        counts = _reference_counts(engine)
        assert cli_commands.cmd_init_db(None) == 0  # type: ignore[arg-type]
        second = capsys.readouterr().out
    finally:
        get_engine().dispose()
        get_engine.cache_clear()

    assert "0 reference rows added" not in first
    assert "0 reference rows added, 0 updated" in second
    assert _reference_counts(engine) == counts
    assert counts["admin_event"] == 0  # nothing changed, so nothing logged
    assert counts["app_user"] == 1  # the system user only
    with Session(engine) as s:
        kinds = dict(
            s.exec(select(Unit.kind, func.count()).group_by(Unit.kind)).all()  # type: ignore[arg-type]
        )
        assert kinds["city_office"] == 1
        assert kinds["department"] == 31  # the 31 city departments and boards (2024)
        assert kinds["district"] == 30  # 12 quận, 17 huyện, 1 thị xã
        evn = s.exec(select(Unit).where(Unit.code == "EVNHN")).one()
        assert evn.kind == "department"
        assert s.exec(select(Category).where(Category.code == "mat_dien")).one()


def test_load_reference_data_second_run_adds_nothing(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    before = _reference_counts(engine)
    summary = load_reference_data(session, now + timedelta(days=1))
    session.commit()
    assert summary == LoadSummary(added=0, updated=0)
    assert _reference_counts(engine) == before


# ---------------------------------------------------------------- time zones


def test_naive_datetime_is_refused(session: Session, engine: sa.Engine) -> None:
    before = _count(engine, "admin_event")
    session.add(AdminEvent(at=datetime(2024, 8, 8, 10, 0), entity="x", entity_key="y", action="z"))
    with pytest.raises(sa.exc.StatementError) as info:
        session.flush()
    assert isinstance(info.value.orig, ValueError)
    assert "naive" in str(info.value.orig)
    session.rollback()
    assert _count(engine, "admin_event") == before


def test_naive_datetime_in_a_report_update_is_refused(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    report = make_report(session, now)
    session.commit()
    report.updated_at = datetime(2024, 8, 8, 12, 0)
    with pytest.raises(sa.exc.StatementError):
        session.flush()
    session.rollback()
    with Session(engine) as s:
        stored = s.get(Report, report.id)
        assert stored is not None and stored.updated_at == now


def test_datetimes_come_back_aware_utc(session: Session, engine: sa.Engine) -> None:
    hanoi_morning = datetime(2024, 8, 8, 10, 0, 0, 123456, tzinfo=HANOI_TZ)
    session.add(AdminEvent(at=hanoi_morning, entity="x", entity_key="tz", action="test"))
    session.commit()

    with Session(engine) as s:
        stored = s.exec(select(AdminEvent).where(AdminEvent.entity_key == "tz")).one()
        assert stored.at.tzinfo is not None
        assert stored.at.utcoffset() == timedelta(0)
        assert stored.at == datetime(2024, 8, 8, 3, 0, 0, 123456, tzinfo=UTC)
        # filtering with a time in another zone finds the same instant
        found = s.exec(select(AdminEvent.id).where(AdminEvent.at == hanoi_morning)).all()
        assert found == [stored.id]
    with engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT at FROM admin_event WHERE entity_key = 'tz'")
        ).scalar_one()
    if engine.dialect.name == "sqlite":
        assert str(raw).startswith("2024-08-08 03:00:00.123456")  # stored as UTC, not 10:00
    else:
        assert raw == datetime(2024, 8, 8, 3, 0, 0, 123456, tzinfo=UTC)


def test_event_times_round_trip_through_the_workflow(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    report = make_report(session, now)
    session.commit()
    with Session(engine) as s:
        event = s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).one()
        stored = s.get(Report, report.id)
        assert stored is not None
        for value in (event.at, stored.received_at, stored.submitted_at, stored.updated_at):
            assert value == now and value.utcoffset() == timedelta(0)
