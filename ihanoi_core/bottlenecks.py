"""Where reports wait, and who holds them: time spent per workflow step and unit.

A review meeting asks two questions of the workflow: which step, at which unit, takes
longest (the stays that *ended* in the period, in working hours, median and 90th
percentile, because a few very slow reports are exactly what the 90th percentile
shows and an average hides), and how many reports are sitting in that step right now.

Stays come from the history as in `queries.step_durations`: each event opens a stay
in the step of the status it wrote, at the unit it wrote, and the report's next event
ends it. The database pairs each event of the period with its predecessor and returns
the two timestamps as epoch seconds; the working hours between them and the
percentiles are computed here with numpy, the same way on SQLite (which has no
percentile function) and PostgreSQL. At 100,000 reports a week holds about 12,000
stays: tens of milliseconds in all (bench/bench_analytics.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from ihanoi_core import queries
from ihanoi_core.vocab import Status
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar

_EVENT: Final = SQLModel.metadata.tables["report_event"]
_REPORT: Final = SQLModel.metadata.tables["report"]
_UNIT: Final = SQLModel.metadata.tables["unit"]

_SECONDS_PER_DAY: Final = 86_400
_UNIX_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_UNIX_EPOCH_JULIAN_DAY: Final = 2440587.5
# Vietnam has kept UTC+7 without daylight saving since 1975 (see queries.local_date).
_HANOI_OFFSET_SECONDS: Final = 7 * 3600
_STEP_ORDER: Final = {step: i for i, step in enumerate(queries.Step)}


@dataclass(frozen=True)
class StepTime:
    """One (unit, step) cell of the bottleneck table.

    `count`: stays in this step at this unit that ended in the period (the report
    moved on); `median_hours`/`p90_hours` are their working hours (office hours,
    holidays excluded; linear interpolation between stays, like `percentile_cont`),
    NaN when `count` is 0. `open_count`: reports sitting in this step at this unit at
    `as_of` (a cell may have only these: nothing left the step in the period).
    """

    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    step: queries.Step
    count: int
    median_hours: float
    p90_hours: float
    open_count: int

    @property
    def is_measured(self) -> bool:
        return self.count > 0


def epoch_seconds(dialect: str, ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds since 1970-01-01 UTC of a timestamp column, as a float."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", ts), sa.Float)
    return sa.cast(
        (sa.func.julianday(ts) - _UNIX_EPOCH_JULIAN_DAY) * float(_SECONDS_PER_DAY), sa.Float
    )


def working_hours_between(
    calendar: WorkingCalendar,
    start_epoch: npt.NDArray[np.float64],
    end_epoch: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """`calendar.working_hours_between` for arrays of epoch seconds, all at once.

    The same working-time axis as the calendar (working microseconds since its first
    day), computed with `searchsorted` instead of one Python call per moment; a moment
    outside the calendar's years raises ValueError, as the calendar does.
    """
    return (_positions(calendar, end_epoch) - _positions(calendar, start_epoch)) / 3_600_000_000


def _positions(
    calendar: WorkingCalendar, epoch: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    if epoch.size == 0:
        return np.zeros(0, dtype=np.float64)
    local = epoch + _HANOI_OFFSET_SECONDS
    days = np.floor(local / _SECONDS_PER_DAY)
    ordinals = days.astype(np.int64) + _UNIX_EPOCH_ORDINAL
    first, last = calendar.first_day.toordinal(), calendar.last_day.toordinal()
    outside = (ordinals < first) | (ordinals > last)
    if outside.any():
        bad = date.fromordinal(int(ordinals[outside][0]))
        raise ValueError(
            f"{bad.isoformat()} is outside the working calendar's coverage "
            f"({calendar.first_day.isoformat()}..{calendar.last_day.isoformat()}); "
            f"extend the years in {calendar.source or 'calendar.yaml'}"
        )
    micro = (local - days * _SECONDS_PER_DAY) * 1_000_000
    working = np.asarray(calendar.working_ordinals, dtype=np.int64)
    index = np.searchsorted(working, ordinals, side="left")
    day_us = sum(end - start for start, end in calendar.periods)
    position = index.astype(np.float64) * day_us
    is_working = working[np.minimum(index, working.size - 1)] == ordinals
    within = np.zeros_like(micro)
    for start, end in calendar.periods:
        within += np.clip(micro - start, 0, end - start)
    result: npt.NDArray[np.float64] = position + np.where(is_working, within, 0.0)
    return result


def _step_of(status: ColumnElement[Any]) -> ColumnElement[Any]:
    """The position of the status's step in `queries.Step` (ints travel cheaper)."""
    return sa.case(
        *[
            (
                status.in_(
                    sorted(st.value for st, sp in queries.STEP_OF_STATUS.items() if sp is step)
                ),
                sa.literal(code),
            )
            for code, step in enumerate(queries.Step)
        ],
        else_=sa.null(),
    )


def _finished_stays(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    filt: queries.ReportFilter,
    plan: Any,
) -> list[Any]:
    """(unit_id, step position, t0, t1) in epoch seconds of the stays that ended in [start, end).

    A report's events are numbered 1..n (`verify` checks it), so the stay an event
    ends is the one its predecessor (seq - 1) opened: one index lookup per event found
    through `ix_event_at`, instead of a window over whole histories (3x slower over a
    year of 100,000 reports on SQLite).
    """
    dialect = queries._dialect(session)
    ended = _EVENT.alias("ended")
    opened = _EVENT.alias("opened")
    step = _step_of(opened.c.to_status)
    stmt = (
        sa.select(
            opened.c.to_unit_id.label("unit_id"),
            step.label("step"),
            epoch_seconds(dialect, opened.c.at).label("t0"),
            epoch_seconds(dialect, ended.c.at).label("t1"),
        )
        .select_from(
            ended.join(
                opened,
                sa.and_(opened.c.report_id == ended.c.report_id, opened.c.seq == ended.c.seq - 1),
            )
        )
        .where(
            ended.c.at >= start,
            ended.c.at < end,
            ended.c.at <= as_of,
            opened.c.to_status.in_(sorted(st.value for st in queries.STEP_OF_STATUS)),
        )
    )
    if filt.unit_id is not None:
        stmt = stmt.where(opened.c.to_unit_id == filt.unit_id)
    if replace(filt, unit_id=None) != queries.NO_FILTER:
        # Any other criterion is about the report: keep the stays of reports in scope.
        # (Without one, every event up to `as_of` belongs to a report in scope.)
        scope = queries._scope(plan, filt, with_unit=False)
        stmt = stmt.where(ended.c.report_id.in_(sa.select(scope.c.report_id)))
    return list(queries._connection(session).execute(stmt).all())


def _open_counts(
    session: Session, *, filt: queries.ReportFilter, plan: Any
) -> dict[tuple[int | None, queries.Step], int]:
    s = queries._scope(plan, filt)
    stmt = (
        sa.select(s.c.unit_id, s.c.status, sa.func.count().label("n"))
        .where(s.c.status.in_(sorted(st.value for st in queries.STEP_OF_STATUS)))
        .group_by(s.c.unit_id, s.c.status)
    )
    counts: dict[tuple[int | None, queries.Step], int] = {}
    for row in queries._connection(session).execute(stmt):
        key = (row.unit_id, queries.STEP_OF_STATUS[Status(row.status)])
        counts[key] = counts.get(key, 0) + int(row.n)
    return counts


def _unit_labels(session: Session, unit_ids: Sequence[int | None]) -> dict[int, tuple[str, str]]:
    ids = sorted({u for u in unit_ids if u is not None})
    if not ids:
        return {}
    u = _UNIT.c
    rows = queries._connection(session).execute(
        sa.select(u.id, u.code, u.name).where(u.id.in_(ids))
    )
    return {int(r.id): (r.code, r.name) for r in rows}


def _durations_by_cell(
    rows: Sequence[Any], calendar: WorkingCalendar
) -> dict[tuple[int | None, queries.Step], npt.NDArray[np.float64]]:
    """Working hours of the stays, grouped by (unit, step) with one sort."""
    if not rows:
        return {}
    unit_ids, steps, t0, t1 = zip(*rows, strict=True)
    hours = working_hours_between(
        calendar, np.asarray(t0, dtype=np.float64), np.asarray(t1, dtype=np.float64)
    )
    units = np.asarray([-1 if u is None else u for u in unit_ids], dtype=np.int64)
    codes = np.asarray(steps, dtype=np.int64)
    order = np.lexsort((hours, codes, units))
    units, codes, hours = units[order], codes[order], hours[order]
    starts = np.flatnonzero(np.r_[True, (units[1:] != units[:-1]) | (codes[1:] != codes[:-1])])
    bounds = np.r_[starts, units.size]
    all_steps = list(queries.Step)
    result = {}
    for a, b in itertools.pairwise(bounds):
        unit = int(units[a])
        key = (None if unit == -1 else unit, all_steps[int(codes[a])])
        result[key] = hours[a:b]
    return result


def _check_period(start: datetime, end: datetime, as_of: datetime) -> None:
    for name, value in (("start", start), ("end", end), ("as_of", as_of)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive {name} {value!r}: pass an aware datetime")
    if end <= start:
        raise ValueError(f"empty period: end {end.isoformat()} is not after {start.isoformat()}")


def step_times(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    filt: queries.ReportFilter | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[StepTime]:
    """The bottleneck table: per unit and step, worst 90th percentile first.

    Finished stays are those that ended in `[start, end)` and by `as_of`; the open
    count is the state at `as_of`. `filt` narrows the reports as everywhere else
    (kind, categories, district, submission days, state at `as_of`), except that
    `unit_id` selects the unit that held the stay, not the report's current unit:
    the question is how long that unit kept reports, wherever they went next.
    Cells with no finished stay (NaN times) come after the measured ones, most
    open reports first.
    """
    _check_period(start, end, as_of)
    filt, plan = queries._prepare(session, as_of, filt, "auto")
    cal = calendar or load_calendar()
    rows = _finished_stays(session, start=start, end=end, as_of=as_of, filt=filt, plan=plan)
    open_counts = _open_counts(session, filt=filt, plan=plan)

    durations = _durations_by_cell(rows, cal)
    cells = set(durations) | set(open_counts)
    labels = _unit_labels(session, [unit for unit, _ in cells])
    result = []
    for unit_id, step in cells:
        measured = durations.get((unit_id, step))
        if measured is not None and measured.size:
            median, p90 = (float(v) for v in np.percentile(measured, [50, 90]))
            count = int(measured.size)
        else:
            median, p90, count = math.nan, math.nan, 0
        code, name = labels.get(unit_id, (None, None)) if unit_id is not None else (None, None)
        result.append(
            StepTime(
                unit_id=unit_id,
                unit_code=code,
                unit_name=name,
                step=step,
                count=count,
                median_hours=median,
                p90_hours=p90,
                open_count=open_counts.get((unit_id, step), 0),
            )
        )
    return sorted(result, key=_worst_first)


def _worst_first(cell: StepTime) -> tuple[bool, float, float, int, int, str]:
    measured = cell.count > 0
    return (
        not measured,
        -cell.p90_hours if measured else 0.0,
        -cell.median_hours if measured else 0.0,
        -cell.open_count,
        _STEP_ORDER[cell.step],
        cell.unit_code or "",
    )
