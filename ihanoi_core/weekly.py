"""The leaders' weekly review report (báo cáo giao ban) for one ISO week, as data.

A week is `YYYY-Www` (ISO 8601: weeks start on Monday; week 1 holds the year's first
Thursday), Monday 00:00 to the next Monday 00:00 in Hanoi. Its figures are exactly
those of `python -m ihanoi_core stats --from <Monday> --to <Sunday>`: reports
*submitted* in the week, in the state they were in at the end of its Sunday (the
last microsecond, `as_of`), read from the history, so printing week 32 again next
month gives the numbers the meeting saw. For a week that has not ended yet `as_of`
is `now` instead: counting as overdue what is only due by Sunday night would
announce lateness that has not happened.

The week-on-week change compares the same figures of the previous week, each week
as of its own end (what each meeting was shown), so two weeks' intake are compared
after the same time to work on them.

Best and worst units (the rule leaders are told, in the report's footnote):

* eligible: handling units (never the city office, which dispatches rather than
  handles) that received at least `MIN_RECEIVED_FOR_RANKING` reports of the week,
  so one lucky report does not make a unit "best";
* score: the share of the week's reports finished on time by the end of the week,
  `(processed + refused - resolved_late) / received` (refusing an inaccurate report
  is a legitimate outcome; finishing after the deadline is not on time);
* ties: fewer overdue open reports, then lower overdue rate, then shorter median
  handling time (working hours), then more reports received, then unit code;
* best: the first `RANKED_UNITS` of that order; worst: the last `RANKED_UNITS`,
  worst first, never repeating a unit already listed as best.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlmodel import Session

from ihanoi_core import queries
from ihanoi_core.bottlenecks import StepTime, step_times
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import IHanoiError
from ihanoi_core.performance import UnitRow, unit_performance
from ihanoi_core.queries import BucketCounts, CategoryCount, ReportFilter, SatisfactionCounts
from ihanoi_core.vocab import Kind

REPORT_KIND: Final = "weekly"
MIN_RECEIVED_FOR_RANKING: Final = 5
RANKED_UNITS: Final = 5
BUCKET_FIELDS: Final[tuple[str, ...]] = tuple(BucketCounts().as_dict())
_WEEK_PATTERN: Final = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


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


def week_choices(session: Session, *, now: datetime, count: int = 52) -> list[IsoWeek]:
    """Weeks a user may pick, newest first: from the week of the data's latest event
    (running weeks included, shown as provisional) back `count` weeks."""
    latest = queries.latest_event_at(session)
    newest = week_containing(min(latest, now) if latest is not None else now)
    weeks = [newest]
    while len(weeks) < max(1, count):
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
    """Everything the meeting screen and the exported files show, for one week."""

    current: WeekFigures
    previous: WeekFigures
    complete: bool  # the week had ended at `now`
    units: list[UnitRow]  # every unit with reports of the week, worst first
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
        """Units with an overdue open report or a late result among the week's reports."""
        return [u for u in self.units if u.overdue_open or u.resolved_late]

    def changes(self) -> dict[str, dict[str, Change]]:
        """Per kind (and "total"), each bucket figure against the previous week."""
        now_rows = {k.value: c for k, c in self.current.by_kind.items()}
        before_rows = {k.value: c for k, c in self.previous.by_kind.items()}
        now_rows["total"], before_rows["total"] = self.current.total, self.previous.total
        return {
            key: {
                name: Change(getattr(counts, name), getattr(before_rows[key], name))
                for name in BUCKET_FIELDS
            }
            for key, counts in now_rows.items()
        }

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


def finite(x: float | None) -> float | None:
    """NaN (a step with no finished stay) becomes None: JSON has no NaN."""
    return None if x is None or math.isnan(x) else x


def week_as_of(week: IsoWeek, now: datetime) -> datetime:
    """End of the week's Sunday, or `now` while the week is still running."""
    return min(week.last_moment, now)


def week_figures(session: Session, week: IsoWeek, *, as_of: datetime) -> WeekFigures:
    filt = ReportFilter(date_from=week.monday, date_to=week.sunday)
    source = queries.resolve_source(session, as_of=as_of)
    src: queries.StateSource = "columns" if source == "columns" else "events"
    return WeekFigures(
        week=week,
        as_of=as_of,
        by_kind=queries.bucket_counts(session, as_of=as_of, filt=filt, source=src),
        satisfaction=queries.satisfaction(session, as_of=as_of, filt=filt, source=src),
    )


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
    current = week_figures(session, week, as_of=moment)
    previous = week_figures(session, before, as_of=week_as_of(before, now))
    units = unit_performance(session, date_from=week.monday, date_to=week.sunday, as_of=moment)
    best, worst = rank_units(units)
    filt = ReportFilter(date_from=week.monday, date_to=week.sunday)
    return WeeklyReport(
        current=current,
        previous=previous,
        complete=now >= week.end,
        units=units,
        best=best,
        worst=worst,
        categories=queries.by_category(session, as_of=moment, filt=filt, level="top"),
        bottlenecks=step_times(session, start=week.start, end=week.end, as_of=moment),
    )
