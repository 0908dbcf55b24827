"""The leaders' weekly review report (báo cáo giao ban) for one ISO week, as data.

A week is `YYYY-Www` (ISO 8601: weeks start on Monday; week 1 holds the year's first
Thursday), Monday 00:00 to the next Monday 00:00 in Hanoi. Everything is read as of
the end of its Sunday (the last microsecond, `as_of`) from the history, so printing
week 32 again next month gives the numbers the meeting saw. For a week that has not
ended yet `as_of` is `now` instead: counting as overdue what is only due by Sunday
night would announce lateness that has not happened.

Three scopes, because the city's meeting reads three different questions:

* cumulative (lũy kế đến hết tuần, the headline the city reports, e.g. its "tuần 6"
  figures): every report submitted since launch up to the end of Sunday, as of then —
  exactly `stats --to <Sunday>`;
* the week's intake: reports *submitted* in the week — exactly
  `stats --from <Monday> --to <Sunday>`; categories and satisfaction of the week too;
* the units' workload of the week, for overdue by unit and best/worst units: every
  report open at the end of the week (whenever submitted) or finished during it. A
  meeting chases units for their overdue backlog, which the week's intake alone
  almost never shows (a report is rarely late within days of arriving); finished
  work of earlier weeks would only dilute the week's on-time share.

The week-on-week change compares the same figures of the previous week, each week
as of its own end (what each meeting was shown): the intake after the same time to
work on it, the cumulative figures as the two meetings announced them.

Best and worst units (the rule leaders are told, in the report's footnote):

* eligible: handling units (never the city office, which dispatches rather than
  handles) with at least `MIN_RECEIVED_FOR_RANKING` reports in the week's workload,
  so one lucky report does not make a unit "best";
* score: the share of that workload finished on time during the week,
  `(processed + refused - resolved_late) / received` (refusing an inaccurate report
  is a legitimate outcome; finishing after the deadline is not on time; a report
  still open at the end of the week is not finished);
* ties: fewer overdue open reports, then lower overdue rate, then shorter median
  handling time (working hours), then more reports received, then unit code;
* best: the first `RANKED_UNITS` of that order; worst: the last `RANKED_UNITS`,
  worst first, never repeating a unit already listed as best.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from ihanoi_core import queries
from ihanoi_core.bottlenecks import StepTime, step_times
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import IHanoiError
from ihanoi_core.performance import UnitRow, formal_unit_name
from ihanoi_core.performance import _sort_key as worst_first
from ihanoi_core.queries import BucketCounts, CategoryCount, ReportFilter, SatisfactionCounts
from ihanoi_core.vocab import FINISHED_STATUSES, OPEN_STATUSES, Action, Kind, UnitKind
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar

PastStatePath = Literal["auto", "split", "replay"]
REPORT_KIND: Final = "weekly"
MIN_RECEIVED_FOR_RANKING: Final = 5
RANKED_UNITS: Final = 5
BUCKET_FIELDS: Final[tuple[str, ...]] = tuple(BucketCounts().as_dict())
UNITS_SCOPE: Final = "open_at_end_or_finished_in_week"  # named in the figures JSON
_WEEK_PATTERN: Final = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")
_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_OPEN: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
_FINISHED: Final = tuple(sorted(s.value for s in FINISHED_STATUSES))


class WeekError(IHanoiError):
    """A week string that is not an ISO week (`reason`: "format" or "range")."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"not an ISO week (YYYY-Www, e.g. 2024-W32): {text!r} ({reason})")
        self.text = text
        self.reason = reason


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO week; `key` ("2024-W32") names it in files, snapshots and the CLI."""

    year: int
    week: int

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 in Hanoi, as aware UTC."""
        return datetime.combine(self.monday, time.min, tzinfo=HANOI_TZ).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 in Hanoi (exclusive), as aware UTC."""
        return self.start + timedelta(days=7)

    @property
    def last_moment(self) -> datetime:
        """The last microsecond of Sunday in Hanoi: `stats --to <Sunday>` reads as of it."""
        return self.end - timedelta(microseconds=1)

    def previous(self) -> IsoWeek:
        return week_of(self.monday - timedelta(days=7))

    def next(self) -> IsoWeek:
        return week_of(self.monday + timedelta(days=7))


def parse_week(text: str) -> IsoWeek:
    """`2024-W32` (also `2024W32`, `2024-w32`) → IsoWeek; anything else is a WeekError."""
    match = _WEEK_PATTERN.match(text or "")
    if match is None:
        raise WeekError(text, "format")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise WeekError(text, "range") from None
    return IsoWeek(year, week)


def week_of(day: date) -> IsoWeek:
    iso = day.isocalendar()
    return IsoWeek(iso.year, iso.week)


def week_containing(moment: datetime) -> IsoWeek:
    """The week of an aware moment, on the Hanoi calendar."""
    return week_of(moment.astimezone(HANOI_TZ).date())


def default_week(session: Session, *, now: datetime) -> IsoWeek:
    """The last complete week before the data's latest event (or before `now`).

    Demo databases are generated "as of" a past date: the week before their last
    event is the one with a full week of data, not the week before today.
    """
    latest = queries.latest_event_at(session)
    moment = min(latest, now) if latest is not None else now
    return week_containing(moment).previous()


MAX_WEEK_CHOICES: Final = 520  # ten years of weekly meetings


def week_choices(session: Session, *, now: datetime) -> list[IsoWeek]:
    """Weeks a user may pick, newest first: from the week of the data's latest event
    (running weeks included, shown as provisional) back to the week of the first report,
    so any meeting since launch can be reproduced."""
    latest = queries.latest_event_at(session)
    newest = week_containing(min(latest, now) if latest is not None else now)
    first = session.connection().execute(sa.select(sa.func.min(_REPORT.c.submitted_at))).scalar()
    oldest = week_containing(first) if first is not None else newest
    weeks = [newest]
    while weeks[-1].monday > oldest.monday and len(weeks) < MAX_WEEK_CHOICES:
        weeks.append(weeks[-1].previous())
    return weeks


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class Change:
    """One figure this week against the previous week; `share` is None from zero."""

    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous

    @property
    def share(self) -> float | None:
        return self.delta / self.previous if self.previous else None


@dataclass(frozen=True)
class RankedUnit:
    """A unit in the best/worst list with the score it was ranked by."""

    rank: int
    unit: UnitRow
    on_time: int  # finished (processed or refused) by the deadline, by the week's end
    on_time_share: float


@dataclass(frozen=True)
class WeekFigures:
    """The figures of one week that can be compared with another week's."""

    week: IsoWeek
    as_of: datetime
    by_kind: dict[Kind, BucketCounts]
    satisfaction: SatisfactionCounts

    @property
    def total(self) -> BucketCounts:
        return queries.total_counts(self.by_kind)


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the meeting screen and the exported files show, for one week.

    `current`/`previous`: the week's intake (and the previous week's);
    `cumulative`/`cumulative_previous`: everything submitted by the end of each week.
    """

    current: WeekFigures
    previous: WeekFigures
    cumulative: WeekFigures
    cumulative_previous: WeekFigures
    complete: bool  # the week had ended at `now`
    units: list[UnitRow]  # every unit with workload in the week, worst first
    best: list[RankedUnit]
    worst: list[RankedUnit]
    categories: list[CategoryCount]
    bottlenecks: list[StepTime]

    @property
    def week(self) -> IsoWeek:
        return self.current.week

    @property
    def as_of(self) -> datetime:
        return self.current.as_of

    @property
    def by_kind(self) -> dict[Kind, BucketCounts]:
        return self.current.by_kind

    @property
    def total(self) -> BucketCounts:
        return self.current.total

    @property
    def satisfaction(self) -> SatisfactionCounts:
        return self.current.satisfaction

    @property
    def overdue_units(self) -> list[UnitRow]:
        """Units with an overdue open report or a late result in the week's workload."""
        return [u for u in self.units if u.overdue_open or u.resolved_late]

    def changes(self) -> dict[str, dict[str, Change]]:
        """Per kind (and "total"), each bucket figure of the intake against last week's."""
        return figure_changes(self.current, self.previous)

    def cumulative_changes(self) -> dict[str, dict[str, Change]]:
        """The same for the cumulative figures (what each meeting announced)."""
        return figure_changes(self.cumulative, self.cumulative_previous)

    def figures(self) -> dict[str, Any]:
        """The report's numbers as JSON-ready data (kept with each frozen copy)."""

        def sat(s: SatisfactionCounts) -> dict[str, int]:
            return {"rated": s.rated, "satisfied": s.satisfied, "unsatisfied": s.unsatisfied}

        def unit(u: UnitRow) -> dict[str, Any]:
            return {
                "unit_code": u.unit_code,
                "unit_name": u.formal_name,
                "received": u.received,
                "processed": u.processed,
                "refused": u.refused,
                "processing": u.processing,
                "pending": u.pending,
                "overdue_open": u.overdue_open,
                "resolved_late": u.resolved_late,
                "overdue_rate": u.overdue_rate,
                "median_handling_hours": u.median_handling_hours,
            }

        def ranked(r: RankedUnit) -> dict[str, Any]:
            return {
                "rank": r.rank,
                "unit_code": r.unit.unit_code,
                "unit_name": r.unit.formal_name,
                "received": r.unit.received,
                "on_time": r.on_time,
                "on_time_share": r.on_time_share,
            }

        def scope(f: WeekFigures) -> dict[str, Any]:
            return {
                "week": f.week.key,
                "as_of": f.as_of.astimezone(HANOI_TZ).isoformat(),
                "by_kind": {k.value: c.as_dict() for k, c in f.by_kind.items()},
                "total": f.total.as_dict(),
                "satisfaction": sat(f.satisfaction),
            }

        return {
            "kind": REPORT_KIND,
            "week": self.week.key,
            "monday": self.week.monday.isoformat(),
            "sunday": self.week.sunday.isoformat(),
            "as_of": self.as_of.astimezone(HANOI_TZ).isoformat(),
            "complete": self.complete,
            "by_kind": {k.value: c.as_dict() for k, c in self.by_kind.items()},
            "total": self.total.as_dict(),
            "previous": {
                "week": self.previous.week.key,
                "as_of": self.previous.as_of.astimezone(HANOI_TZ).isoformat(),
                "by_kind": {k.value: c.as_dict() for k, c in self.previous.by_kind.items()},
                "total": self.previous.total.as_dict(),
                "satisfaction": sat(self.previous.satisfaction),
            },
            "satisfaction": sat(self.satisfaction),
            "cumulative": {
                **scope(self.cumulative),
                "previous": scope(self.cumulative_previous),
            },
            "units_scope": UNITS_SCOPE,
            "units": [unit(u) for u in self.units],
            "best": [ranked(r) for r in self.best],
            "worst": [ranked(r) for r in self.worst],
            "categories": [
                {"category_code": c.category_code, "name": c.name_vi, "count": c.count}
                for c in self.categories
            ],
            "bottlenecks": [
                {
                    "unit_code": b.unit_code,
                    "unit_name": b.unit_name,
                    "step": str(b.step),
                    "count": b.count,
                    "median_hours": finite(b.median_hours),
                    "p90_hours": finite(b.p90_hours),
                    "open_count": b.open_count,
                }
                for b in self.bottlenecks
            ],
        }


def figure_changes(now: WeekFigures, before: WeekFigures) -> dict[str, dict[str, Change]]:
    now_rows = {k.value: c for k, c in now.by_kind.items()}
    before_rows = {k.value: c for k, c in before.by_kind.items()}
    now_rows["total"], before_rows["total"] = now.total, before.total
    return {
        key: {
            name: Change(getattr(counts, name), getattr(before_rows[key], name))
            for name in BUCKET_FIELDS
        }
        for key, counts in now_rows.items()
    }


def finite(x: float | None) -> float | None:
    """NaN (a step with no finished stay) becomes None: JSON has no NaN."""
    return None if x is None or math.isnan(x) else x


def week_as_of(week: IsoWeek, now: datetime) -> datetime:
    """End of the week's Sunday, or `now` while the week is still running."""
    return min(week.last_moment, now)


_PATH_SOURCE: Final[dict[str, queries.StateSource]] = {
    "auto": "auto",
    "split": "split",
    "replay": "events",
}


def cumulative_figures(
    session: Session, week: IsoWeek, *, as_of: datetime, path: PastStatePath = "auto"
) -> WeekFigures:
    """Everything submitted by the end of the week's Sunday (`stats --to <Sunday>`).

    `path` forces one way of reading a past moment (`split`, or `replay` of every
    history, see `queries.StateSource`); tests check that both give the same figures.
    """
    filt = ReportFilter(date_to=week.sunday)
    headline = queries.headline_figures(session, as_of=as_of, filt=filt, source=_PATH_SOURCE[path])
    return WeekFigures(week, as_of, headline.by_kind, headline.satisfaction)


def week_figures(session: Session, week: IsoWeek, *, as_of: datetime) -> WeekFigures:
    """The week's intake: `stats --from <Monday> --to <Sunday>`."""
    filt = ReportFilter(date_from=week.monday, date_to=week.sunday)
    headline = queries.headline_figures(session, as_of=as_of, filt=filt)
    return WeekFigures(week, as_of, headline.by_kind, headline.satisfaction)


def unit_workload(
    session: Session,
    week: IsoWeek,
    *,
    as_of: datetime,
    calendar: WorkingCalendar | None = None,
) -> list[UnitRow]:
    """One row per unit for its workload of the week (see the module docstring), worst
    first as on the "overdue units" page.

    `received`: reports the unit holds open at `as_of` plus those it finished in the
    week (from Monday 00:00 to `as_of`); `overdue_open` is therefore the unit's whole
    overdue backlog (equal to its line in `stats --to <Sunday>`), `resolved_late` the
    late results of the week. `median_handling_hours` is measured on the results of
    the week (report columns, as in `performance.handling_hours`);
    `returned_not_ours` counts the returns the unit made in the week.
    """
    # everything submitted by Sunday, as `stats --to <Sunday>` reads it
    _, plan = queries._prepare(session, as_of, ReportFilter(date_to=week.sunday), "auto")
    s = queries._scope(plan, ReportFilter(date_to=week.sunday))
    finished_in_week = sa.and_(s.c.status.in_(_FINISHED), s.c.finished_at >= week.start)
    w = sa.select(s).where(sa.or_(s.c.status.in_(_OPEN), finished_in_week)).subquery("workload")
    u = _UNIT.c
    held = (
        sa.select(w.c.unit_id, u.code, u.name, u.kind, u.level, *queries._bucket_sums(w, as_of))
        .select_from(w.join(_UNIT, u.id == w.c.unit_id))
        .group_by(w.c.unit_id, u.code, u.name, u.kind, u.level)
    )
    e = _EVENT.c
    returned = (
        sa.select(e.from_unit_id, sa.func.count().label("n"))
        .where(
            e.action == Action.REFUSE_NOT_OURS.value,
            e.at >= week.start,
            e.at <= as_of,
            e.from_unit_id.is_not(None),
        )
        .group_by(e.from_unit_id)
    )
    r = _REPORT.c
    finished = sa.select(r.current_unit_id, r.arrived_at, r.finished_at).where(
        r.status.in_(_FINISHED),
        r.current_unit_id.is_not(None),
        r.arrived_at.is_not(None),
        r.finished_at >= week.start,
        r.finished_at <= as_of,
    )
    conn = queries._connection(session)
    returns = {int(row.from_unit_id): int(row.n) for row in conn.execute(returned)}
    cal = calendar or load_calendar()
    hours: dict[int, list[float]] = {}
    for unit_id, arrived, done in conn.execute(finished):
        try:
            hours.setdefault(int(unit_id), []).append(cal.working_hours_between(arrived, done))
        except ValueError:  # outside the calendar's years: skipped rather than guessed
            continue
    rows = []
    for row in conn.execute(held):
        kind = UnitKind(row.kind)
        measured = hours.get(int(row.unit_id), [])
        received = int(row.total)
        overdue, late = int(row.overdue_open), int(row.resolved_late)
        rows.append(
            UnitRow(
                unit_id=int(row.unit_id),
                unit_code=row.code,
                unit_name=row.name,
                unit_kind=kind,
                unit_level=row.level,
                formal_name=formal_unit_name(kind.value, row.level, row.name),
                received=received,
                processed=int(row.processed),
                refused=int(row.refused),
                processing=int(row.processing),
                pending=int(row.pending),
                overdue_open=overdue,
                resolved_late=late,
                returned_not_ours=returns.get(int(row.unit_id), 0),
                overdue_rate=(overdue + late) / received if received else None,
                median_handling_hours=statistics.median(measured) if measured else None,
                handled=len(measured),
            )
        )
    return sorted(rows, key=worst_first)


def _on_time(u: UnitRow) -> int:
    return max(0, u.processed + u.refused - u.resolved_late)


def rank_units(units: list[UnitRow]) -> tuple[list[RankedUnit], list[RankedUnit]]:
    """Best and worst units by the rule in the module docstring."""
    eligible = [u for u in units if not u.is_city_office and u.received >= MIN_RECEIVED_FOR_RANKING]

    def key(u: UnitRow) -> tuple[Any, ...]:
        median = u.median_handling_hours
        return (
            -_on_time(u) / u.received,
            u.overdue_open,
            u.overdue_rate or 0.0,
            math.inf if median is None else median,
            -u.received,
            u.unit_code,
        )

    ordered = sorted(eligible, key=key)
    best_units = ordered[:RANKED_UNITS]
    rest = ordered[len(best_units) :]
    worst_units = list(reversed(rest[-RANKED_UNITS:]))

    def ranked(rows: list[UnitRow]) -> list[RankedUnit]:
        return [
            RankedUnit(i + 1, u, _on_time(u), _on_time(u) / u.received) for i, u in enumerate(rows)
        ]

    return ranked(best_units), ranked(worst_units)


def build_weekly_report(
    session: Session, week: IsoWeek, *, now: datetime, as_of: datetime | None = None
) -> WeeklyReport:
    """The week's report, computed by the database in a dozen grouped queries.

    `as_of` overrides the moment the week's state is read (to see what became of the
    week's reports since the meeting); the previous week is always read as of its end.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive now {now!r}: pass an aware datetime")
    moment = as_of if as_of is not None else week_as_of(week, now)
    before = week.previous()
    before_moment = week_as_of(before, now)
    units = unit_workload(session, week, as_of=moment)
    best, worst = rank_units(units)
    filt = ReportFilter(date_from=week.monday, date_to=week.sunday)
    return WeeklyReport(
        current=week_figures(session, week, as_of=moment),
        previous=week_figures(session, before, as_of=before_moment),
        cumulative=cumulative_figures(session, week, as_of=moment),
        cumulative_previous=cumulative_figures(session, before, as_of=before_moment),
        complete=now >= week.end,
        units=units,
        best=best,
        worst=worst,
        categories=queries.by_category(session, as_of=moment, filt=filt, level="top"),
        bottlenecks=step_times(session, start=week.start, end=week.end, as_of=moment),
    )
