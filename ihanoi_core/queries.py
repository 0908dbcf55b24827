"""Read-only statistics, computed by the database: counts, buckets, overdue, bottlenecks.

Every function groups and counts in SQL (GROUP BY, CASE, window functions) and returns
small frozen dataclasses, so a screen or a printed report never loads the reports
themselves. The same statements run on SQLite and PostgreSQL; the few places where
the dialects differ (local dates, hours between timestamps, medians) are isolated in
small helpers.

Time is explicit. Each function takes `as_of` (aware datetime) and counts the reports
as they were at that moment:

* a report exists at `as_of` when it was submitted by then and has an event by then;
* its status, unit, deadline and rating are those written by its last event at or
  before `as_of` (the history is append-only, so this replays exactly what the city
  saw that day; a weekly report printed again next month gives the same numbers);
* when `as_of` is at or after the latest event in the database, the report row's own
  columns hold the same values, and the cheaper query on them is used instead;
* for an earlier moment, a report with no event after `as_of` is still in the state
  its row holds (`verify` checks that the row equals its last event), so only the
  reports that moved since have their history replayed (`split`). Replaying all
  100,000 histories of the demo city takes seconds on SQLite; as of last Sunday, a few
  thousand reports moved since. When more events came after `as_of` than there are
  reports in scope (a moment early in the data), the plain replay is cheaper.

`ReportFilter` narrows every function the same way (submission period in Hanoi
local time, kind, unit, categories, district, bucket, status).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.vocab import (
    FINISHED_STATUSES,
    OPEN_STATUSES,
    STATUS_BUCKET,
    Action,
    Bucket,
    Kind,
    Rating,
    Status,
)

if TYPE_CHECKING:
    import pandas as pd

StateSource = Literal["auto", "events", "columns", "split"]
"""Where the status as of `as_of` is read from.

`events`: replay every history (correct for any moment). `columns`: the report row
(correct only when nothing happened after `as_of`; refused otherwise). `split`: the
row of each report with no event after `as_of`, the history of the others (correct
for any moment). `auto`: the row when that is correct, else the cheaper of `split`
and `events`.
"""

CategoryLevel = Literal["top", "leaf"]
PeriodGrain = Literal["day", "week"]

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]

# Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed offset gives
# the Hanoi calendar date on SQLite (which has no time-zone database).
_HANOI_OFFSET: Final = "'+7 hours'"
_HANOI_ZONE: Final = f"'{HANOI_TZ.key}'"

_FINISHING_ACTIONS: Final = (Action.PUBLISH.value, Action.REFUSE_INACCURATE.value)
_RATING_ACTIONS: Final = (Action.RATE.value, Action.REOPEN.value)
_IMPORT: Final = Action.IMPORT.value
_OPEN: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
_FINISHED: Final = tuple(sorted(s.value for s in FINISHED_STATUSES))


def statuses_in(bucket: Bucket) -> tuple[str, ...]:
    """The statuses that roll up to `bucket` (the city's four statistics labels)."""
    return tuple(sorted(s.value for s, b in STATUS_BUCKET.items() if b is bucket))


class Step(StrEnum):
    """The workflow steps a report waits in, named after who holds it.

    A report in `received` or `returned` is with the city dispatcher, in `waiting` with
    its unit's leader, in `assigned` with the officer, in `drafted` with the approver,
    in `approved` waiting for publication. Finished statuses are not steps.
    """

    DISPATCH = "dispatch"
    WAITING = "waiting"
    HANDLING = "handling"
    APPROVAL = "approval"
    PUBLICATION = "publication"


STEP_OF_STATUS: Final[dict[Status, Step]] = {
    Status.RECEIVED: Step.DISPATCH,
    Status.RETURNED: Step.DISPATCH,
    Status.WAITING: Step.WAITING,
    Status.ASSIGNED: Step.HANDLING,
    Status.DRAFTED: Step.APPROVAL,
    Status.APPROVED: Step.PUBLICATION,
}


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class ReportFilter:
    """Which reports a statistic covers; every query applies all fields the same way.

    `date_from`/`date_to` are inclusive calendar days in Hanoi on `submitted_at`.
    `category_codes` match a category or any of its children. `unit_id`, `bucket` and
    `status` are read as of the query's `as_of` (where the report was, what it was).
    """

    date_from: date | None = None
    date_to: date | None = None
    kind: Kind | None = None
    unit_id: int | None = None
    category_codes: tuple[str, ...] = ()
    district_id: int | None = None
    bucket: Bucket | None = None
    status: Status | None = None


NO_FILTER: Final = ReportFilter()


@dataclass(frozen=True)
class BucketCounts:
    """The city's four buckets plus the two lateness figures leaders ask for.

    `overdue_open`: still open at `as_of` and past its deadline (quá hạn).
    `resolved_late`: finished (published or refused) after its deadline.
    """

    total: int = 0
    processed: int = 0
    refused: int = 0
    processing: int = 0
    pending: int = 0
    overdue_open: int = 0
    resolved_late: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "processed": self.processed,
            "refused": self.refused,
            "processing": self.processing,
            "pending": self.pending,
            "overdue_open": self.overdue_open,
            "resolved_late": self.resolved_late,
        }


@dataclass(frozen=True)
class UnitCounts:
    """One unit's line in "overdue by unit" (current unit as of `as_of`)."""

    unit_id: int | None
    unit_code: str
    unit_name: str
    total: int
    processed: int
    refused: int
    processing: int
    pending: int
    overdue_open: int
    resolved_late: int
    returned_not_ours: int  # reports this unit sent back as "not our function"

    @property
    def open(self) -> int:
        return self.processing + self.pending


@dataclass(frozen=True)
class CategoryCount:
    category_code: str
    name_vi: str
    count: int
    share: float  # of the reports counted in the same call, 0..1


@dataclass(frozen=True)
class DistrictCount:
    """Reports per 2024 district (from the location); None: no location or outside."""

    district_code: str | None
    name: str | None
    count: int


@dataclass(frozen=True)
class PeriodCounts:
    """Reports submitted in one day or ISO week (Hanoi time), for one kind."""

    period_start: date
    label: str  # "2024-08-08" or "2024-W32"
    kind: str
    counts: BucketCounts


@dataclass(frozen=True)
class SatisfactionCounts:
    """Citizens' ratings of published results (a reopened report loses its rating)."""

    rated: int = 0
    satisfied: int = 0
    unsatisfied: int = 0

    @property
    def satisfied_share(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


@dataclass(frozen=True)
class GroupSatisfaction:
    """Satisfaction of one unit or category (`key` is its code)."""

    key: str
    name: str
    counts: SatisfactionCounts


@dataclass(frozen=True)
class StepDuration:
    """How long reports stayed in one workflow step (wall-clock hours).

    Only finished stays are measured (the report moved on by `as_of`); a report still
    sitting in a step is visible as pending/processing and overdue instead.
    """

    step: Step
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    count: int
    avg_hours: float
    median_hours: float
    max_hours: float


@dataclass(frozen=True)
class StatsSnapshot:
    """What `python -m ihanoi_core stats` prints: one review meeting's figures."""

    as_of: datetime
    date_from: date | None
    date_to: date | None
    by_kind: dict[Kind, BucketCounts]
    by_unit: list[UnitCounts]
    by_category: list[CategoryCount]
    by_district: list[DistrictCount]
    satisfaction: SatisfactionCounts
    source: str = field(default="events")

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON contract (keys and order relied on by scripts)."""
        return {
            "as_of": self.as_of.astimezone(HANOI_TZ).isoformat(),
            "by_kind": {k.value: c.as_dict() for k, c in self.by_kind.items()},
            "by_unit": [
                {
                    "unit_code": u.unit_code,
                    "unit_name": u.unit_name,
                    "total": u.total,
                    "overdue_open": u.overdue_open,
                    "resolved_late": u.resolved_late,
                }
                for u in self.by_unit
            ],
            "by_category": [
                {"category_code": c.category_code, "name": c.name_vi, "count": c.count}
                for c in self.by_category
            ],
            "by_district": [
                {"district_code": d.district_code, "name": d.name, "count": d.count}
                for d in self.by_district
            ],
            "satisfaction": {
                "rated": self.satisfaction.rated,
                "satisfied": self.satisfaction.satisfied,
                "unsatisfied": self.satisfaction.unsatisfied,
            },
        }


# ------------------------------------------------------------ dialect helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _connection(session: Session) -> Connection:
    """The session's connection, after flushing so pending rows are counted too."""
    session.flush()
    return session.connection()


def local_date(dialect: str, ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """The Hanoi calendar date of a UTC timestamp column."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(sa.literal_column(_HANOI_ZONE), ts), sa.Date)
    return sa.func.date(ts, sa.literal_column(_HANOI_OFFSET))


def local_week_start(dialect: str, ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """The Monday (ISO week start) of the Hanoi calendar date of a UTC timestamp."""
    if dialect == "postgresql":
        local = sa.func.timezone(sa.literal_column(_HANOI_ZONE), ts)
        return sa.cast(sa.func.date_trunc(sa.literal_column("'week'"), local), sa.Date)
    # next Sunday on or after the date, minus six days: that week's Monday
    return sa.func.date(
        ts,
        sa.literal_column(_HANOI_OFFSET),
        sa.literal_column("'weekday 0'"),
        sa.literal_column("'-6 days'"),
    )


def hours_between(
    dialect: str, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Wall-clock hours from `start` to `end` as a float."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", end - start), sa.Float) / 3600.0
    return sa.cast((sa.func.julianday(end) - sa.func.julianday(start)) * 24.0, sa.Float)


def _as_date(value: Any) -> date:
    """SQLite returns dates as text, PostgreSQL as `date`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=HANOI_TZ).astimezone(UTC)


def _check_aware(as_of: datetime) -> None:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"naive as_of {as_of!r}: pass an aware datetime")


# -------------------------------------------------------- the reports in scope


def count_reports(session: Session) -> int:
    """How many reports the database holds (any status)."""
    return int(
        _connection(session).execute(sa.select(sa.func.count()).select_from(_REPORT)).scalar_one()
    )


def latest_event_at(session: Session) -> datetime | None:
    """When the last recorded change happened (None on an empty database)."""
    return _connection(session).execute(sa.select(sa.func.max(_EVENT.c.at))).scalar_one_or_none()


@dataclass(frozen=True)
class _Plan:
    """How to read the state at `as_of`, decided once per call from two index lookups."""

    as_of: datetime
    source: str  # "events" | "columns" | "split"
    all_before: bool  # every report was submitted and every event written by `as_of`


def _plan(session: Session, as_of: datetime, source: StateSource) -> _Plan:
    _check_aware(as_of)
    latest_event, latest_submission = (
        _connection(session)
        .execute(
            sa.select(
                sa.select(sa.func.max(_EVENT.c.at)).scalar_subquery(),
                sa.select(sa.func.max(_REPORT.c.submitted_at)).scalar_subquery(),
            )
        )
        .one()
    )
    columns_ok = latest_event is None or as_of >= latest_event
    if source == "columns" and not columns_ok:
        raise ValueError(
            f"report columns hold the state after {latest_event}; as_of {as_of} needs the events"
        )
    use_columns = columns_ok and source not in ("events", "split")
    all_before = columns_ok and (latest_submission is None or as_of >= latest_submission)
    return _Plan(as_of, "columns" if use_columns else "events", all_before)


def resolve_source(session: Session, *, as_of: datetime, source: StateSource = "auto") -> str:
    """`events` or `columns`: whether the report rows can stand for the state at `as_of`.

    The columns are only a correct snapshot when no event happened after `as_of`;
    asking for them explicitly for an earlier moment is refused rather than answered
    with today's statuses. (`events` covers both ways of reading the history: every
    report's, or only those that moved since, see `_prepare`.)
    """
    plan = _plan(session, as_of, source)
    return "events" if plan.source == "split" else plan.source


def _category_ids(codes: Sequence[str]) -> sa.Select[Any]:
    """Ids of the categories named, and of their children."""
    parent = _CATEGORY.alias("parent_category")
    return sa.select(_CATEGORY.c.id).where(
        sa.or_(
            _CATEGORY.c.code.in_(codes),
            _CATEGORY.c.parent_id.in_(sa.select(parent.c.id).where(parent.c.code.in_(codes))),
        )
    )


def _report_conditions(filt: ReportFilter, plan: _Plan) -> list[ColumnElement[bool]]:
    """Conditions on the report row itself (fixed facts, not workflow state).

    Conditions known to hold for every row are left out: on SQLite an always-true
    range on an indexed column makes the planner walk the index with a row lookup
    each, several times slower than scanning the table.
    """
    r = _REPORT.c
    conditions: list[ColumnElement[bool]] = []
    if not plan.all_before:
        conditions.append(r.submitted_at <= plan.as_of)
    if filt.date_from is not None:
        conditions.append(r.submitted_at >= _day_start_utc(filt.date_from))
    if filt.date_to is not None:
        conditions.append(r.submitted_at < _day_start_utc(filt.date_to + timedelta(days=1)))
    if filt.kind is not None:
        conditions.append(r.kind == Kind(filt.kind).value)
    if filt.district_id is not None:
        conditions.append(r.district_id == filt.district_id)
    if filt.category_codes:
        conditions.append(r.category_id.in_(_category_ids(filt.category_codes)))
    return conditions


_RATINGS: Final = tuple(Rating)  # rating code = position + 1; 0 = no rating (reopened)
_RATING_CODES: Final = len(_RATINGS) + 1


def _last_rating_code(e: Any) -> Any:
    """MAX over a report's rating/reopen events of `seq * k + rating code`.

    The latest such event has the largest seq, so the maximum carries its rating in
    the remainder: the rating in force in one partition-only window, without a second
    sort or a join (either made SQLite several times slower on large histories).
    """
    code = sa.case(
        *[(e.rating == rating.value, i + 1) for i, rating in enumerate(_RATINGS)], else_=0
    )
    # An import restores a rating given in another system (or before our export).
    rates = sa.or_(
        e.action.in_(_RATING_ACTIONS), sa.and_(e.action == _IMPORT, e.rating.is_not(None))
    )
    return sa.func.max(sa.case((rates, e.seq * _RATING_CODES + code)))


def _finishing(e: Any) -> ColumnElement[bool]:
    """Events that finish a report: publish, refuse, and an import of a finished one."""
    return sa.or_(e.action.in_(_FINISHING_ACTIONS), _finishing_import(e))


def _finishing_import(e: Any) -> ColumnElement[bool]:
    return sa.and_(e.action == _IMPORT, e.to_status.in_(_FINISHED))


def _rating_of_code(value: Any) -> Any:
    remainder = value % _RATING_CODES
    return sa.case(
        *[(remainder == i + 1, sa.literal(rating.value)) for i, rating in enumerate(_RATINGS)],
        else_=sa.null(),
    )


def _state_select(
    as_of: datetime, source: str, conditions: list[ColumnElement[bool]], narrow: bool
) -> Any:
    """One row per report in scope: fixed facts plus its state as of `as_of`.

    `narrow`: the conditions select few reports (a period, a district, categories);
    the history window then reads only their events, through the report_id index.
    Otherwise one pass over the events is cheaper than a lookup per report.
    """
    r = _REPORT.c
    facts = [
        r.id.label("report_id"),
        r.kind,
        r.category_id,
        r.district_id,
        r.submitted_at,
    ]
    if source == "columns":
        return sa.select(
            *facts,
            r.status,
            r.current_unit_id.label("unit_id"),
            r.due_at,
            r.finished_at,
            r.rating,
        ).where(*conditions)

    e = _EVENT.c
    in_scope: list[ColumnElement[bool]] = [e.at <= as_of]
    if narrow:
        # The window cannot see the join below: restrict its input to the reports in
        # scope, so a week's report reads that week's histories, not the whole table.
        in_scope.append(e.report_id.in_(sa.select(r.id).where(*conditions)))
    last = (
        sa.select(
            e.report_id,
            e.to_status.label("status"),
            e.to_unit_id.label("unit_id"),
            e.due_at,
            sa.func.max(sa.case((_finishing(e), e.at)))
            .over(partition_by=e.report_id)
            .label("finished_at"),
            sa.func.max(sa.case((_finishing_import(e), e.at)))
            .over(partition_by=e.report_id)
            .label("imported_finished_at"),
            _last_rating_code(e).over(partition_by=e.report_id).label("rating_code"),
            sa.func.row_number().over(partition_by=e.report_id, order_by=e.seq.desc()).label("rn"),
        )
        .where(*in_scope)
        .subquery("last_event")
    )
    return (
        sa.select(
            *facts,
            last.c.status,
            last.c.unit_id,
            last.c.due_at,
            _finished_at(r, last).label("finished_at"),
            _rating_of_code(last.c.rating_code).label("rating"),
        )
        .select_from(_REPORT.join(last, sa.and_(last.c.report_id == r.id, last.c.rn == 1)))
        .where(*conditions)
    )


def _finished_at(r: Any, last: Any) -> Any:
    """When the report finished, as of the window's moment.

    An import event is dated at the record's last change (a rating may come after the
    result), so when the import is the latest finishing event the report row's own
    `finished_at` is the true time, as long as no later step replaced it (a reopened
    and republished report finishes after its import).
    """
    restored = sa.and_(
        last.c.imported_finished_at == last.c.finished_at,
        r.finished_at <= last.c.finished_at,
    )
    return sa.case((restored, r.finished_at), else_=last.c.finished_at)


def _split_select(as_of: datetime, conditions: list[ColumnElement[bool]]) -> Any:
    """`_state_select` for a past moment, replaying only the histories that moved since.

    A report whose events all date from `as_of` or before is in the state of its last
    event, which its row holds; `ix_event_at` finds the others (an event after `as_of`),
    whose state is replayed from their own events through the report_id index. A
    report submitted by `as_of` whose first event came later is among those replayed,
    and left out as the full replay leaves it out (it did not exist yet).
    """
    r, e = _REPORT.c, _EVENT.c
    changed = sa.select(e.report_id).where(e.at > as_of)
    kept = _state_select(as_of, "columns", [*conditions, r.id.not_in(changed)], False)
    replayed = _state_select(as_of, "events", [*conditions, r.id.in_(changed)], True)
    return sa.union_all(kept, replayed)


def _events_until(plan: _Plan) -> list[ColumnElement[bool]]:
    """`at <= as_of`, left out when every event is that old (see `_report_conditions`)."""
    return [] if plan.all_before else [_EVENT.c.at <= plan.as_of]


def _scope(plan: _Plan, filt: ReportFilter, *, with_unit: bool = True) -> Subquery:
    """The reports a statistic covers, with their state as of `as_of`."""
    conditions = _report_conditions(filt, plan)
    if plan.source == "split":
        inner = _split_select(plan.as_of, conditions).subquery("state")
    else:
        narrow = bool(filt.date_from or filt.date_to or filt.district_id or filt.category_codes)
        inner = _state_select(plan.as_of, plan.source, conditions, narrow).subquery("state")
    outer = sa.select(inner)
    if with_unit and filt.unit_id is not None:
        outer = outer.where(inner.c.unit_id == filt.unit_id)
    if filt.status is not None:
        outer = outer.where(inner.c.status == Status(filt.status).value)
    if filt.bucket is not None:
        outer = outer.where(inner.c.status.in_(statuses_in(Bucket(filt.bucket))))
    return outer.subquery("scope")


def _bucket_sums(s: Subquery, as_of: datetime) -> list[Any]:
    """total, processed, refused, processing, pending, overdue_open, resolved_late."""

    def count_if(condition: ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    status = s.c.status
    return [
        sa.func.count().label("total"),
        count_if(status.in_(statuses_in(Bucket.PROCESSED))).label("processed"),
        count_if(status.in_(statuses_in(Bucket.REFUSED))).label("refused"),
        count_if(status.in_(statuses_in(Bucket.PROCESSING))).label("processing"),
        count_if(status.in_(statuses_in(Bucket.PENDING))).label("pending"),
        count_if(sa.and_(status.in_(_OPEN), s.c.due_at < as_of)).label("overdue_open"),
        count_if(sa.and_(status.in_(_FINISHED), s.c.finished_at > s.c.due_at)).label(
            "resolved_late"
        ),
    ]


def _bucket_counts_of(row: Any) -> BucketCounts:
    return BucketCounts(
        total=int(row.total),
        processed=int(row.processed),
        refused=int(row.refused),
        processing=int(row.processing),
        pending=int(row.pending),
        overdue_open=int(row.overdue_open),
        resolved_late=int(row.resolved_late),
    )


def _prepare(
    session: Session, as_of: datetime, filt: ReportFilter | None, source: StateSource
) -> tuple[ReportFilter, _Plan]:
    """The filter and the way to read the state at `as_of` for one statistic.

    `auto` for a past moment splits the reports (see `_split_select`) unless more
    events came after `as_of` than there are reports in scope: then most histories
    moved on since, and one replay of them all is cheaper than sorting them out.
    """
    filt = filt or NO_FILTER
    plan = _plan(session, as_of, source)
    split = source == "split" or (
        source == "auto" and plan.source == "events" and _split_pays(session, plan, filt)
    )
    if split:
        plan = replace(plan, source="split")
    return filt, plan


def _split_pays(session: Session, plan: _Plan, filt: ReportFilter) -> bool:
    """Fewer events after `as_of` (`ix_event_at`) than reports in scope."""
    conn = _connection(session)
    count = sa.select(sa.func.count())
    conditions = _report_conditions(filt, plan)
    in_scope = conn.execute(count.select_from(_REPORT).where(*conditions)).scalar_one()
    later = conn.execute(count.select_from(_EVENT).where(_EVENT.c.at > plan.as_of)).scalar_one()
    return int(later) < int(in_scope)


def state_source(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> StateSource:
    """How `auto` reads the state at `as_of` for `filt`: `columns`, `split` or `events`.

    For callers that run several statistics on the same scope (`stats_snapshot`, the
    weekly report): decided once, passed to each.
    """
    chosen = _prepare(session, as_of, filt, source)[1].source
    if chosen == "columns":
        return "columns"
    return "split" if chosen == "split" else "events"


# ---------------------------------------------------------------- statistics


def bucket_counts(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> dict[Kind, BucketCounts]:
    """The city's weekly figures per kind of report (both kinds always present)."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    stmt = sa.select(s.c.kind, *_bucket_sums(s, as_of)).group_by(s.c.kind)
    found = {row.kind: _bucket_counts_of(row) for row in _connection(session).execute(stmt)}
    return {kind: found.get(kind.value, BucketCounts()) for kind in Kind}


@dataclass(frozen=True)
class HeadlineFigures:
    """`bucket_counts` and `satisfaction` of the same reports at the same moment."""

    by_kind: dict[Kind, BucketCounts]
    satisfaction: SatisfactionCounts


def headline_figures(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> HeadlineFigures:
    """The buckets per kind and the ratings, from one pass over the reports in scope.

    A summary (`stats`, the weekly report) shows both, and for a past moment reading
    the reports' state is most of the cost: read once, counted twice.
    """
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    stmt = sa.select(s.c.kind, *_bucket_sums(s, as_of), *_satisfaction_sums(s)).group_by(s.c.kind)
    rows = list(_connection(session).execute(stmt))
    found = {row.kind: _bucket_counts_of(row) for row in rows}
    ratings = [_satisfaction_of(row) for row in rows]
    return HeadlineFigures(
        by_kind={kind: found.get(kind.value, BucketCounts()) for kind in Kind},
        satisfaction=SatisfactionCounts(
            rated=sum(x.rated for x in ratings),
            satisfied=sum(x.satisfied for x in ratings),
            unsatisfied=sum(x.unsatisfied for x in ratings),
        ),
    )


def total_counts(by_kind: dict[Kind, BucketCounts]) -> BucketCounts:
    """Both kinds added together (the city also reports the grand total)."""
    names = BucketCounts().as_dict().keys()
    return BucketCounts(**{n: sum(getattr(c, n) for c in by_kind.values()) for n in names})


def status_counts(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> dict[Status, int]:
    """Reports per workflow status (finer than the buckets), every status present."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    stmt = sa.select(s.c.status, sa.func.count().label("n")).group_by(s.c.status)
    found = {row.status: int(row.n) for row in _connection(session).execute(stmt)}
    return {status: found.get(status.value, 0) for status in Status}


def by_unit(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> list[UnitCounts]:
    """Counts per current unit, worst first: most overdue, then late, then backlog.

    `returned_not_ours` counts the refusals "not our function" the unit made by
    `as_of` on reports in scope (with a unit filter: made by that unit), so a unit
    that sends everything back is visible even when it holds nothing.
    """
    filt, plan = _prepare(session, as_of, filt, source)
    conn = _connection(session)
    u = _UNIT.c

    s = _scope(plan, filt)
    held = (
        sa.select(s.c.unit_id, u.code, u.name, *_bucket_sums(s, as_of))
        .select_from(s.outerjoin(_UNIT, u.id == s.c.unit_id))
        .group_by(s.c.unit_id, u.code, u.name)
    )

    e = _EVENT.c
    s_any_unit = _scope(plan, filt, with_unit=False)
    returned = (
        sa.select(e.from_unit_id.label("unit_id"), u.code, u.name, sa.func.count().label("n"))
        .select_from(
            _EVENT.join(s_any_unit, s_any_unit.c.report_id == e.report_id).outerjoin(
                _UNIT, u.id == e.from_unit_id
            )
        )
        .where(e.action == Action.REFUSE_NOT_OURS.value, *_events_until(plan))
        .group_by(e.from_unit_id, u.code, u.name)
    )
    if filt.unit_id is not None:
        returned = returned.where(e.from_unit_id == filt.unit_id)

    rows: dict[int | None, UnitCounts] = {}
    for row in conn.execute(held):
        c = _bucket_counts_of(row)
        rows[row.unit_id] = UnitCounts(
            unit_id=row.unit_id,
            unit_code=row.code or "",
            unit_name=row.name or "",
            total=c.total,
            processed=c.processed,
            refused=c.refused,
            processing=c.processing,
            pending=c.pending,
            overdue_open=c.overdue_open,
            resolved_late=c.resolved_late,
            returned_not_ours=0,
        )
    for row in conn.execute(returned):
        base = rows.get(row.unit_id) or UnitCounts(
            row.unit_id, row.code or "", row.name or "", 0, 0, 0, 0, 0, 0, 0, 0
        )
        rows[row.unit_id] = replace(base, returned_not_ours=int(row.n))
    return sorted(
        rows.values(),
        key=lambda x: (-x.overdue_open, -x.resolved_late, -x.open, x.unit_code),
    )


def by_category(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    level: CategoryLevel = "top",
    source: StateSource = "auto",
) -> list[CategoryCount]:
    """Reports per category, most frequent first; `top` rolls children into parents."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    leaf = _CATEGORY.alias("leaf")
    group = _CATEGORY.alias("grp")
    key = leaf.c.id if level == "leaf" else sa.func.coalesce(leaf.c.parent_id, leaf.c.id)
    stmt = (
        sa.select(group.c.code, group.c.name_vi, sa.func.count().label("n"))
        .select_from(s.join(leaf, leaf.c.id == s.c.category_id).join(group, group.c.id == key))
        .group_by(group.c.code, group.c.name_vi)
    )
    rows = list(_connection(session).execute(stmt))
    total = sum(int(r.n) for r in rows)
    result = [CategoryCount(r.code, r.name_vi, int(r.n), int(r.n) / total) for r in rows]
    return sorted(result, key=lambda c: (-c.count, c.category_code))


def by_district(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> list[DistrictCount]:
    """Reports per 2024 district of their location, most first; no district last."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    d = _UNIT.alias("district")
    stmt = (
        sa.select(d.c.code, d.c.name, sa.func.count().label("n"))
        .select_from(s.outerjoin(d, d.c.id == s.c.district_id))
        .group_by(d.c.code, d.c.name)
    )
    result = [DistrictCount(r.code, r.name, int(r.n)) for r in _connection(session).execute(stmt)]
    return sorted(result, key=lambda x: (x.district_code is None, -x.count, x.district_code or ""))


def counts_by_period(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    grain: PeriodGrain = "day",
    source: StateSource = "auto",
) -> list[PeriodCounts]:
    """Reports submitted per Hanoi day or ISO week (Monday start) and kind, with buckets.

    Buckets are the reports' state at `as_of`, so last week's row shows how much of
    last week's intake is still open today.
    """
    filt, plan = _prepare(session, as_of, filt, source)
    dialect = _dialect(session)
    s = _scope(plan, filt)
    to_period = local_date if grain == "day" else local_week_start
    p = sa.select(s, to_period(dialect, s.c.submitted_at).label("period")).subquery("p")
    stmt = (
        sa.select(p.c.period, p.c.kind, *_bucket_sums(p, as_of))
        .group_by(p.c.period, p.c.kind)
        .order_by(p.c.period, p.c.kind)
    )
    result = []
    for row in _connection(session).execute(stmt):
        start = _as_date(row.period)
        if grain == "day":
            label = start.isoformat()
        else:
            iso = start.isocalendar()
            label = f"{iso.year}-W{iso.week:02d}"
        result.append(PeriodCounts(start, label, row.kind, _bucket_counts_of(row)))
    return result


def _satisfaction_sums(s: Subquery) -> list[Any]:
    def count_if(condition: ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    return [
        count_if(s.c.rating.is_not(None)).label("rated"),
        count_if(s.c.rating == Rating.SATISFIED.value).label("satisfied"),
        count_if(s.c.rating == Rating.UNSATISFIED.value).label("unsatisfied"),
    ]


def _satisfaction_of(row: Any) -> SatisfactionCounts:
    return SatisfactionCounts(int(row.rated), int(row.satisfied), int(row.unsatisfied))


def satisfaction(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> SatisfactionCounts:
    """Ratings in force at `as_of` (hài lòng, chấp nhận / chưa hài lòng)."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    row = _connection(session).execute(sa.select(*_satisfaction_sums(s))).one()
    return _satisfaction_of(row)


def satisfaction_by_unit(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> list[GroupSatisfaction]:
    """Ratings per unit that published the result, most unsatisfied first."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    u = _UNIT.c
    stmt = (
        sa.select(u.code, u.name, *_satisfaction_sums(s))
        .select_from(s.join(_UNIT, u.id == s.c.unit_id))
        .where(s.c.rating.is_not(None))
        .group_by(u.code, u.name)
    )
    return _sorted_satisfaction(_connection(session).execute(stmt))


def satisfaction_by_category(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    level: CategoryLevel = "top",
    source: StateSource = "auto",
) -> list[GroupSatisfaction]:
    """Ratings per category (top level or leaf), most unsatisfied first."""
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    leaf = _CATEGORY.alias("leaf")
    group = _CATEGORY.alias("grp")
    key = leaf.c.id if level == "leaf" else sa.func.coalesce(leaf.c.parent_id, leaf.c.id)
    stmt = (
        sa.select(group.c.code, group.c.name_vi.label("name"), *_satisfaction_sums(s))
        .select_from(s.join(leaf, leaf.c.id == s.c.category_id).join(group, group.c.id == key))
        .where(s.c.rating.is_not(None))
        .group_by(group.c.code, group.c.name_vi)
    )
    return _sorted_satisfaction(_connection(session).execute(stmt))


def _sorted_satisfaction(rows: Iterable[Any]) -> list[GroupSatisfaction]:
    result = [GroupSatisfaction(r.code, r.name, _satisfaction_of(r)) for r in rows]
    return sorted(result, key=lambda g: (-g.counts.unsatisfied, -g.counts.rated, g.key))


def due_soon_count(
    session: Session,
    *,
    as_of: datetime,
    cutoff: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> int:
    """Open reports whose deadline falls in `[as_of, cutoff)`: the ones to chase today.

    The caller computes `cutoff` on the working calendar
    (`deadlines.due_soon_cutoff(as_of, cal, rules)`), so this stays one comparison.
    """
    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    stmt = (
        sa.select(sa.func.count())
        .select_from(s)
        .where(s.c.status.in_(_OPEN), s.c.due_at >= as_of, s.c.due_at < cutoff)
    )
    return int(_connection(session).execute(stmt).scalar_one())


def step_durations(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    per_unit: bool = True,
    source: StateSource = "auto",
) -> list[StepDuration]:
    """Time spent in each workflow step (and unit): where reports wait longest.

    Each event opens a stay in the status it wrote, at the unit it wrote; the stay
    ends at the report's next event (LEAD over the history). Only events up to
    `as_of` are read, so a stay still running at `as_of` is not measured. Medians:
    `percentile_cont` on PostgreSQL, the middle rows of a ROW_NUMBER on SQLite.
    Ordered by step, then longest average first.
    """
    filt, plan = _prepare(session, as_of, filt, source)
    dialect = _dialect(session)
    s = _scope(plan, filt)
    e = _EVENT.c
    step = sa.case(
        *[
            (
                e.to_status.in_(
                    sorted(st.value for st, sp in STEP_OF_STATUS.items() if sp is name)
                ),
                sa.literal(name.value),
            )
            for name in Step
        ],
        else_=sa.null(),
    )
    stays = (
        sa.select(
            e.to_unit_id.label("unit_id"),
            step.label("step"),
            e.at.label("started_at"),
            sa.func.lead(e.at).over(partition_by=e.report_id, order_by=e.seq).label("ended_at"),
        )
        .select_from(_EVENT.join(s, s.c.report_id == e.report_id))
        .where(*_events_until(plan))
        .subquery("stays")
    )
    measured = (
        sa.select(
            stays.c.step,
            stays.c.unit_id,
            hours_between(dialect, stays.c.started_at, stays.c.ended_at).label("hours"),
        )
        .where(stays.c.ended_at.is_not(None), stays.c.step.is_not(None))
        .subquery("measured")
    )
    if dialect == "postgresql":
        keys = [measured.c.step, measured.c.unit_id] if per_unit else [measured.c.step]
        grouped = sa.select(
            *keys,
            sa.func.count().label("n"),
            sa.func.avg(measured.c.hours).label("avg_hours"),
            sa.func.max(measured.c.hours).label("max_hours"),
            sa.func.percentile_cont(0.5).within_group(measured.c.hours).label("median_hours"),
        ).group_by(*keys)
    else:
        window = [measured.c.step, measured.c.unit_id] if per_unit else [measured.c.step]
        ranked = sa.select(
            measured,
            sa.func.row_number().over(partition_by=window, order_by=measured.c.hours).label("rn"),
            sa.func.count().over(partition_by=window).label("cnt"),
        ).subquery("ranked")
        middle = sa.or_(
            ranked.c.rn == (ranked.c.cnt + 1) // 2, ranked.c.rn == (ranked.c.cnt + 2) // 2
        )
        keys = [ranked.c.step, ranked.c.unit_id] if per_unit else [ranked.c.step]
        grouped = sa.select(
            *keys,
            sa.func.count().label("n"),
            sa.func.avg(ranked.c.hours).label("avg_hours"),
            sa.func.max(ranked.c.hours).label("max_hours"),
            sa.func.avg(sa.case((middle, ranked.c.hours))).label("median_hours"),
        ).group_by(*keys)
    g = grouped.subquery("grouped")
    u = _UNIT.c
    if per_unit:
        stmt = sa.select(g, u.code, u.name).select_from(g.outerjoin(_UNIT, u.id == g.c.unit_id))
    else:
        stmt = sa.select(g)
    result = []
    for row in _connection(session).execute(stmt):
        m = row._mapping
        result.append(
            StepDuration(
                step=Step(m["step"]),
                unit_id=m.get("unit_id"),
                unit_code=m.get("code"),
                unit_name=m.get("name"),
                count=int(m["n"]),
                avg_hours=float(m["avg_hours"]),
                median_hours=float(m["median_hours"]),
                max_hours=float(m["max_hours"]),
            )
        )
    order = {name: i for i, name in enumerate(Step)}
    return sorted(result, key=lambda d: (order[d.step], -d.avg_hours, d.unit_code or ""))


# ------------------------------------------------------------- snapshot, frames


def stats_snapshot(
    session: Session,
    *,
    as_of: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
) -> StatsSnapshot:
    """Everything the `stats` command prints, computed in a handful of queries."""
    filt = ReportFilter(date_from=date_from, date_to=date_to)
    source = resolve_source(session, as_of=as_of)
    src = state_source(session, as_of=as_of, filt=filt)
    headline = headline_figures(session, as_of=as_of, filt=filt, source=src)
    return StatsSnapshot(
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        by_kind=headline.by_kind,
        by_unit=by_unit(session, as_of=as_of, filt=filt, source=src),
        by_category=by_category(session, as_of=as_of, filt=filt, level="top", source=src),
        by_district=by_district(session, as_of=as_of, filt=filt, source=src),
        satisfaction=headline.satisfaction,
        source=source,
    )


NO_DISTRICT_LABEL: Final = "(none)"


def category_district_frame(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    level: CategoryLevel = "top",
    source: StateSource = "auto",
) -> pd.DataFrame:
    """Category × district counts (rows: category code, columns: district name).

    For analysts' notebooks; one grouped query, pivoted by pandas. Reports without a
    district fall in the `NO_DISTRICT_LABEL` column.
    """
    import pandas as pd

    filt, plan = _prepare(session, as_of, filt, source)
    s = _scope(plan, filt)
    leaf = _CATEGORY.alias("leaf")
    group = _CATEGORY.alias("grp")
    d = _UNIT.alias("district")
    key = leaf.c.id if level == "leaf" else sa.func.coalesce(leaf.c.parent_id, leaf.c.id)
    stmt = (
        sa.select(
            group.c.code.label("category"), d.c.name.label("district"), sa.func.count().label("n")
        )
        .select_from(
            s.join(leaf, leaf.c.id == s.c.category_id)
            .join(group, group.c.id == key)
            .outerjoin(d, d.c.id == s.c.district_id)
        )
        .group_by(group.c.code, d.c.name)
    )
    rows = [
        (r.category, r.district or NO_DISTRICT_LABEL, int(r.n))
        for r in _connection(session).execute(stmt)
    ]
    long = pd.DataFrame(rows, columns=["category", "district", "count"])
    table = long.pivot_table(
        index="category", columns="district", values="count", aggfunc="sum", fill_value=0
    )
    return table.astype("int64")


def overdue_by_unit_frame(
    session: Session,
    *,
    as_of: datetime,
    filt: ReportFilter | None = None,
    source: StateSource = "auto",
) -> pd.DataFrame:
    """`by_unit` as a DataFrame (worst first) with the overdue share of open reports.

    `overdue_share` is NaN for a unit holding no open report (nothing to be late on).
    """
    import pandas as pd

    units = by_unit(session, as_of=as_of, filt=filt, source=source)
    columns = [
        "unit_code",
        "unit_name",
        "total",
        "processed",
        "refused",
        "processing",
        "pending",
        "overdue_open",
        "resolved_late",
        "returned_not_ours",
    ]
    frame = pd.DataFrame([[getattr(u, c) for c in columns] for u in units], columns=columns)
    open_ = frame["processing"] + frame["pending"]
    frame["overdue_share"] = (frame["overdue_open"] / open_.where(open_ > 0)).astype("float64")
    return frame
