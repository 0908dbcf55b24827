"""How each handling unit performs over a period: the "overdue units" table, worst first.

This is what the city office reads before it writes to units (the letter of 23/9/2024
went to the 39 units that had overdue reports) and what leaders discuss in review
meetings: per unit, how many reports of the period it holds, in which bucket, how many
are overdue now or were finished late, how long it takes to handle one (median, in
working hours), and how often it sends reports back as "not our function".

The counts are `queries.by_unit` (the same definitions as the weekly statistics, read
as of `as_of` from the history when needed). Only the median handling time is computed
here: working hours need the working calendar, which lives in Python, so one
columns-only query fetches (unit, arrived, finished) and the calendar measures each
pair (a few microseconds each).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core import queries
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.queries import StateSource
from ihanoi_core.vocab import FINISHED_STATUSES, OPEN_STATUSES, Kind, Status, UnitKind
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]

_OPEN: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
_FINISHED: Final = tuple(sorted(s.value for s in FINISHED_STATUSES))
MAX_OVERDUE_LIST: Final = 500

# How a territorial unit is addressed in a letter: "UBND quận Hoàn Kiếm". The unit
# table stores the bare name and the level as a slug (see boundaries.level_slug).
_LEVEL_WORDS: Final[dict[str, str]] = {
    "quan": "quận",
    "huyen": "huyện",
    "thi_xa": "thị xã",
    "thanh_pho": "thành phố",
    "phuong": "phường",
    "xa": "xã",
    "thi_tran": "thị trấn",
}
_TERRITORIAL: Final = frozenset({UnitKind.DISTRICT, UnitKind.WARD, UnitKind.COMMUNE})


def formal_unit_name(kind: str, level: str | None, name: str) -> str:
    """The name a document addresses: "UBND quận Hoàn Kiếm", "Sở Xây dựng".

    Needed because a 2024 district and a 2025 commune can share a bare name (quận
    and phường Hoàn Kiếm); departments and the city office already carry full names.
    """
    if kind not in {k.value for k in _TERRITORIAL}:
        return name
    word = _LEVEL_WORDS.get(level or "")
    return f"UBND {word} {name}" if word else f"UBND {name}"


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class UnitRow:
    """One unit's line for reports submitted in the period (its unit as of `as_of`).

    `received`: reports of the period the unit holds (or finished) at `as_of`.
    `overdue_rate`: (overdue_open + resolved_late) / received, None when it holds none.
    `median_handling_hours`: working hours from arrival at the unit to the result or
    refusal, over the `handled` reports finished by `as_of`; None when none.
    `returned_not_ours`: reports of the period it sent back as "not our function".
    """

    unit_id: int
    unit_code: str
    unit_name: str
    unit_kind: UnitKind
    unit_level: str | None
    formal_name: str
    received: int
    processed: int
    refused: int
    processing: int
    pending: int
    overdue_open: int
    resolved_late: int
    returned_not_ours: int
    overdue_rate: float | None
    median_handling_hours: float | None
    handled: int

    @property
    def open(self) -> int:
        return self.processing + self.pending

    @property
    def is_city_office(self) -> bool:
        return self.unit_kind is UnitKind.CITY_OFFICE


@dataclass(frozen=True)
class OverdueReport:
    """An open report past its deadline at `as_of`, at the unit holding it then.

    `days_overdue` counts started days since the deadline (1 from the first minute
    late), so a letter never says "0 days overdue" about a late report.
    """

    report_id: int
    code: str
    title: str
    kind: Kind
    status: Status
    unit_id: int
    unit_code: str
    unit_name: str
    unit_kind: UnitKind
    formal_unit_name: str
    submitted_at: datetime
    received_at: datetime
    due_at: datetime
    days_overdue: int
    version: int


@dataclass(frozen=True)
class UnitsView:
    """What the "overdue units" page shows: the table and the selected unit's reports."""

    as_of: datetime
    date_from: date | None
    date_to: date | None
    rows: list[UnitRow]
    unit_id: int | None
    overdue: list[OverdueReport]


# ------------------------------------------------------------------ helpers


def _connection(session: Session) -> Connection:
    session.flush()
    return session.connection()


def _check_aware(as_of: datetime) -> None:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"naive as_of {as_of!r}: pass an aware datetime")


def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=HANOI_TZ).astimezone(UTC)


def _period(
    submitted: ColumnElement[Any], as_of: datetime, date_from: date | None, date_to: date | None
) -> list[ColumnElement[bool]]:
    """Submitted in the Hanoi days `date_from..date_to` (inclusive) and by `as_of`."""
    conditions: list[ColumnElement[bool]] = [submitted <= as_of]
    if date_from is not None:
        conditions.append(submitted >= _day_start_utc(date_from))
    if date_to is not None:
        conditions.append(submitted < _day_start_utc(date_to + timedelta(days=1)))
    return conditions


def days_overdue(due_at: datetime, as_of: datetime) -> int:
    """Started days late: 1 for a minute to 24 hours after the deadline, and so on."""
    late = (as_of - due_at).total_seconds()
    return max(1, math.ceil(late / 86400)) if late > 0 else 0


def _unit_facts(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[UnitKind, str | None]]:
    u = _UNIT.c
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(u.id, u.kind, u.level).where(u.id.in_(wanted)))
    return {int(r.id): (UnitKind(r.kind), r.level) for r in rows}


def handling_hours(
    session: Session,
    *,
    as_of: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict[int, list[float]]:
    """Working hours from arrival at the unit to the finish, per unit, for the period.

    Read from the report columns (current unit, `arrived_at`, `finished_at`) of reports
    finished by `as_of`: a finished report stays at the unit that finished it, so its
    columns are its state at `as_of` unless it was reopened since (then it is counted
    with its latest handling, or not at all while reopened). A pair outside the
    calendar's years is skipped rather than guessed.
    """
    _check_aware(as_of)
    cal = calendar or load_calendar()
    r = _REPORT.c
    stmt = sa.select(r.current_unit_id, r.arrived_at, r.finished_at).where(
        r.status.in_(_FINISHED),
        r.arrived_at.is_not(None),
        r.finished_at.is_not(None),
        r.finished_at <= as_of,
        r.current_unit_id.is_not(None),
        *_period(r.submitted_at, as_of, date_from, date_to),
    )
    out: dict[int, list[float]] = {}
    for unit_id, arrived, finished in _connection(session).execute(stmt):
        try:
            hours = cal.working_hours_between(arrived, finished)
        except ValueError:
            continue
        out.setdefault(int(unit_id), []).append(hours)
    return out


def _sort_key(row: UnitRow) -> tuple[Any, ...]:
    return (-row.overdue_open, -(row.overdue_rate or 0.0), -row.received, row.unit_code)


# ------------------------------------------------------------------ the table


def unit_performance(
    session: Session,
    *,
    date_from: date | None,
    date_to: date | None,
    as_of: datetime,
    calendar: WorkingCalendar | None = None,
    source: StateSource = "auto",
) -> list[UnitRow]:
    """One row per handling unit with reports submitted in the period, worst first.

    Worst = most overdue open reports, then highest overdue rate, then most reports.
    Units with nothing in the period are left out (a table of 180 zero lines hides
    the few that matter). The city office appears when it holds reports of the period
    (unrouted or returned ones); it is flagged `is_city_office`.
    """
    _check_aware(as_of)
    filt = queries.ReportFilter(date_from=date_from, date_to=date_to)
    counts = [
        c
        for c in queries.by_unit(session, as_of=as_of, filt=filt, source=source)
        if c.unit_id is not None
    ]
    facts = _unit_facts(_connection(session), (c.unit_id for c in counts if c.unit_id))
    hours = handling_hours(
        session, as_of=as_of, date_from=date_from, date_to=date_to, calendar=calendar
    )
    rows = []
    for c in counts:
        assert c.unit_id is not None
        kind, level = facts.get(c.unit_id, (UnitKind.DEPARTMENT, None))
        measured = hours.get(c.unit_id, [])
        rows.append(
            UnitRow(
                unit_id=c.unit_id,
                unit_code=c.unit_code,
                unit_name=c.unit_name,
                unit_kind=kind,
                unit_level=level,
                formal_name=formal_unit_name(kind.value, level, c.unit_name),
                received=c.total,
                processed=c.processed,
                refused=c.refused,
                processing=c.processing,
                pending=c.pending,
                overdue_open=c.overdue_open,
                resolved_late=c.resolved_late,
                returned_not_ours=c.returned_not_ours,
                overdue_rate=(c.overdue_open + c.resolved_late) / c.total if c.total else None,
                median_handling_hours=statistics.median(measured) if measured else None,
                handled=len(measured),
            )
        )
    return sorted(rows, key=_sort_key)


# ------------------------------------------------------------ overdue reports


def _overdue_from_columns(
    as_of: datetime, conditions: list[ColumnElement[bool]], unit_ids: Sequence[int] | None
) -> sa.Select[Any]:
    r, u = _REPORT.c, _UNIT.c
    stmt = (
        sa.select(
            r.id,
            r.code,
            r.title,
            r.kind,
            r.status,
            r.current_unit_id.label("unit_id"),
            u.code.label("unit_code"),
            u.name.label("unit_name"),
            u.kind.label("unit_kind"),
            u.level.label("unit_level"),
            r.submitted_at,
            r.received_at,
            r.due_at,
            r.version,
        )
        .select_from(_REPORT.join(_UNIT, u.id == r.current_unit_id))
        .where(r.status.in_(_OPEN), r.due_at < as_of, *conditions)
    )
    if unit_ids is not None:
        stmt = stmt.where(r.current_unit_id.in_(list(unit_ids)))
    return stmt


def _overdue_from_events(
    as_of: datetime, conditions: list[ColumnElement[bool]], unit_ids: Sequence[int] | None
) -> sa.Select[Any]:
    """The same list for a past moment: each report's last event by `as_of` holds its
    status, unit and deadline then (every event records all three)."""
    r, u = _REPORT.c, _UNIT.c
    e = _EVENT.alias("e")
    later = _EVENT.alias("e2")
    last_seq = (
        sa.select(sa.func.max(later.c.seq))
        .where(later.c.report_id == e.c.report_id, later.c.at <= as_of)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            r.id,
            r.code,
            r.title,
            r.kind,
            e.c.to_status.label("status"),
            e.c.to_unit_id.label("unit_id"),
            u.code.label("unit_code"),
            u.name.label("unit_name"),
            u.kind.label("unit_kind"),
            u.level.label("unit_level"),
            r.submitted_at,
            r.received_at,
            e.c.due_at,
            e.c.seq.label("version"),
        )
        .select_from(e.join(_REPORT, r.id == e.c.report_id).join(_UNIT, u.id == e.c.to_unit_id))
        .where(
            e.c.at <= as_of,
            e.c.seq == last_seq,
            e.c.to_status.in_(_OPEN),
            e.c.due_at < as_of,
            *conditions,
        )
    )
    if unit_ids is not None:
        stmt = stmt.where(e.c.to_unit_id.in_(list(unit_ids)))
    return stmt


def overdue_reports(
    session: Session,
    *,
    as_of: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    unit_ids: Sequence[int] | None = None,
    limit: int | None = MAX_OVERDUE_LIST,
    source: StateSource = "auto",
) -> list[OverdueReport]:
    """Open reports past their deadline at `as_of`, by unit, longest overdue first.

    The same definition as `overdue_open` in the statistics (open and `due_at <
    as_of`), so a unit's list has exactly as many lines as its table row says. Read
    from the report rows when nothing happened after `as_of`, else from the history.
    `limit=None` lists them all (the letter must name every one).
    """
    _check_aware(as_of)
    if unit_ids is not None and not unit_ids:
        return []
    r = _REPORT.c
    conditions = _period(r.submitted_at, as_of, date_from, date_to)
    plan = queries.resolve_source(session, as_of=as_of, source=source)
    build = _overdue_from_columns if plan == "columns" else _overdue_from_events
    inner = build(as_of, conditions, unit_ids).subquery("overdue")
    stmt = sa.select(inner).order_by(inner.c.unit_code, inner.c.due_at, inner.c.code)
    if limit is not None:
        stmt = stmt.limit(max(1, int(limit)))
    result = []
    for row in _connection(session).execute(stmt):
        m = row._mapping
        kind = UnitKind(m["unit_kind"])
        result.append(
            OverdueReport(
                report_id=int(m["id"]),
                code=m["code"],
                title=m["title"],
                kind=Kind(m["kind"]),
                status=Status(m["status"]),
                unit_id=int(m["unit_id"]),
                unit_code=m["unit_code"],
                unit_name=m["unit_name"],
                unit_kind=kind,
                formal_unit_name=formal_unit_name(kind.value, m["unit_level"], m["unit_name"]),
                submitted_at=m["submitted_at"],
                received_at=m["received_at"],
                due_at=m["due_at"],
                days_overdue=days_overdue(m["due_at"], as_of),
                version=int(m["version"]),
            )
        )
    return result


def overdue_reports_of_unit(
    session: Session,
    unit_id: int,
    as_of: datetime,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int | None = MAX_OVERDUE_LIST,
) -> list[OverdueReport]:
    """One unit's overdue reports at `as_of`, longest overdue first."""
    return overdue_reports(
        session,
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        unit_ids=[unit_id],
        limit=limit,
    )


def units_view(
    session: Session,
    *,
    date_from: date | None,
    date_to: date | None,
    as_of: datetime,
    unit_id: int | None = None,
    limit: int = MAX_OVERDUE_LIST,
) -> UnitsView:
    """The page's one call: the table, and the chosen unit's overdue reports if any."""
    rows = unit_performance(session, date_from=date_from, date_to=date_to, as_of=as_of)
    overdue: list[OverdueReport] = []
    if unit_id is not None:
        overdue = overdue_reports_of_unit(
            session, unit_id, as_of, date_from=date_from, date_to=date_to, limit=limit
        )
    return UnitsView(as_of, date_from, date_to, rows, unit_id, overdue)
