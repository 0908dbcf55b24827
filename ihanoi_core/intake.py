"""What the city office watches live: today's intake, the backlog, the dispatcher's queues.

The overview screen is refreshed every few seconds by several people at once, so every
figure here is counted by the database (GROUP BY, COUNT) and every list is limited:
nothing loads the reports themselves. The buckets and the overdue/due-soon counts come
from `queries` (the same definitions as the weekly report), so the live screen and the
printed figures never disagree.

Days and ISO weeks are Hanoi calendar days (UTC+7), whatever the server's zone. No
function reads the clock: callers pass `now`.

The dispatcher's three queues are the reports only the city office can move on:

* **unrouted** — still `received`: no location, a point outside Hanoi, or a report the
  city handles itself (procedure reports, city-level categories);
* **returned** — sent back by a unit as "not our function", with who refused and why;
* **bounced** — refused as "not ours" more than once: a routing rule or a category
  that units pass around, worth a look before it bounces again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core import queries
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import DeadlineRules, due_soon_cutoff, rules_for
from ihanoi_core.queries import BucketCounts
from ihanoi_core.vocab import OPEN_STATUSES, Action, Kind, RoutingFlag, Status
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]

DEFAULT_FEED_LIMIT: Final = 15
DEFAULT_QUEUE_LIMIT: Final = 50
MAX_LIST_LIMIT: Final = 500  # a longer list is a management problem, not a screen
DEFAULT_FEED_SECONDS: Final = 5.0
BOUNCE_THRESHOLD: Final = 1  # "bounced" means refused as not-ours more than this


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class IntakeSummary:
    """The overview's figures at `now`.

    `today` and `week` count the reports submitted since the start of the Hanoi day and
    of the ISO week (Monday) up to `now`, per kind, with their buckets at `now`.
    `all_time` is the city's cumulative weekly-report table (every report submitted by
    `now`, in the four buckets). `overdue_open` and `due_soon` count open reports of
    any age: the ones to chase. `due_soon` counts deadlines before `due_soon_cutoff`,
    `due_soon_hours` working hours after `now`.
    """

    now: datetime
    day: date
    week_start: date
    today: dict[Kind, BucketCounts]
    week: dict[Kind, BucketCounts]
    all_time: dict[Kind, BucketCounts]
    overdue_open: int
    due_soon: int
    due_soon_cutoff: datetime
    due_soon_hours: float

    @property
    def today_total(self) -> int:
        return sum(c.total for c in self.today.values())

    @property
    def week_total(self) -> int:
        return sum(c.total for c in self.week.values())


@dataclass(frozen=True)
class FeedRow:
    """One new report in the live feed (plain values: safe to keep in a page)."""

    id: int
    code: str
    title: str
    kind: Kind
    category_name_vi: str
    category_name_en: str
    status: Status
    unit_id: int | None
    unit_name: str | None
    district_name: str | None
    routing_flag: RoutingFlag | None
    submitted_at: datetime
    received_at: datetime
    version: int


@dataclass(frozen=True)
class LiveFeed:
    """What the self-refreshing feed panel shows each time its timer fires.

    `new_count` counts the reports received after `since` (all of them, not only the
    `rows` shown); `today` is the day's intake per kind, so the counters next to the
    feed move with it.
    """

    now: datetime
    since: datetime | None
    rows: list[FeedRow]
    new_count: int
    today: dict[Kind, int]

    @property
    def today_total(self) -> int:
        return sum(self.today.values())


@dataclass(frozen=True)
class QueueRow:
    """A report waiting for the dispatcher.

    `waiting_since` is when it reached the dispatcher: its receipt for an unrouted
    report, the last "not ours" refusal for a returned one. `refused_by_*` and
    `reason` describe that last refusal (None when it was never refused);
    `refusing_units` lists, oldest first, every unit that refused it as not ours
    (filled for the bounced queue).
    """

    id: int
    code: str
    title: str
    kind: Kind
    category_name_vi: str
    category_name_en: str
    status: Status
    unit_id: int | None
    unit_name: str | None
    routing_flag: RoutingFlag | None
    submitted_at: datetime
    received_at: datetime
    waiting_since: datetime
    due_at: datetime | None
    is_overdue: bool
    bounce_count: int
    refused_by_unit_id: int | None
    refused_by_unit_name: str | None
    reason: str | None
    version: int
    refusing_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuePage:
    """`rows` (at most `limit`, from `offset`) and how many reports the queue holds."""

    rows: list[QueueRow]
    total: int
    limit: int
    offset: int = 0


@dataclass(frozen=True)
class DispatcherQueues:
    unrouted: QueuePage
    returned: QueuePage
    bounced: QueuePage


@dataclass(frozen=True)
class Overview:
    """What the overview page shows on load, read in one transaction (the feed panel
    refreshes itself with `live_feed`)."""

    summary: IntakeSummary
    queues: DispatcherQueues


# ------------------------------------------------------------------ helpers


def _connection(session: Session) -> Connection:
    """The session's connection, after flushing so pending rows are counted too."""
    session.flush()
    return session.connection()


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive {name} {value!r}: pass an aware datetime")


def hanoi_day(moment: datetime) -> date:
    """The Hanoi calendar day of an aware moment."""
    return moment.astimezone(HANOI_TZ).date()


def day_start_utc(day: date) -> datetime:
    """Midnight at the start of a Hanoi day, in UTC."""
    return datetime.combine(day, time.min, tzinfo=HANOI_TZ).astimezone(UTC)


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIST_LIMIT))


def _intake_today(conn: Connection, now: datetime) -> dict[Kind, int]:
    """Reports submitted since the start of `now`'s Hanoi day and received by `now`, per
    kind: what `intake_summary` counts as today's (a report exists once received)."""
    r = _REPORT.c
    stmt = (
        sa.select(r.kind, sa.func.count().label("n"))
        .where(
            r.submitted_at >= day_start_utc(hanoi_day(now)),
            r.submitted_at <= now,
            r.received_at <= now,
        )
        .group_by(r.kind)
    )
    found = {row.kind: int(row.n) for row in conn.execute(stmt)}
    return {k: found.get(k.value, 0) for k in Kind}


def _sum_by_kind(rows: Sequence[queries.PeriodCounts], days: set[date]) -> dict[Kind, BucketCounts]:
    names = BucketCounts().as_dict().keys()
    out: dict[Kind, BucketCounts] = {}
    for kind in Kind:
        picked = [p.counts for p in rows if p.kind == kind.value and p.period_start in days]
        out[kind] = BucketCounts(**{n: sum(getattr(c, n) for c in picked) for n in names})
    return out


# ------------------------------------------------------------------ summary


def intake_summary(
    session: Session,
    *,
    now: datetime,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> IntakeSummary:
    """Today's and this week's intake by kind, the four buckets, overdue and due soon.

    Three grouped queries from `queries` (per day and kind for the week, per kind for
    all reports, one COUNT for due soon); the week's days are added up here, at most
    fourteen rows.
    """
    _check_aware(now, "now")
    cal = calendar or load_calendar()
    rules = rules or rules_for(session)
    cutoff = due_soon_cutoff(now, cal, rules)
    today = hanoi_day(now)
    monday = week_start(today)
    days = queries.counts_by_period(
        session,
        as_of=now,
        filt=queries.ReportFilter(date_from=monday, date_to=today),
        grain="day",
    )
    all_time = queries.bucket_counts(session, as_of=now)
    return IntakeSummary(
        now=now,
        day=today,
        week_start=monday,
        today=_sum_by_kind(days, {today}),
        week=_sum_by_kind(days, {p.period_start for p in days}),
        all_time=all_time,
        overdue_open=sum(c.overdue_open for c in all_time.values()),
        due_soon=queries.due_soon_count(session, as_of=now, cutoff=cutoff),
        due_soon_cutoff=cutoff,
        due_soon_hours=rules.due_soon_hours,
    )


# ------------------------------------------------------------------ live feed


def _feed_select() -> sa.Select[Any]:
    r, c = _REPORT.c, _CATEGORY.c
    unit = _UNIT.alias("cur_unit")
    district = _UNIT.alias("district")
    return sa.select(
        r.id,
        r.code,
        r.title,
        r.kind,
        c.name_vi.label("category_name_vi"),
        c.name_en.label("category_name_en"),
        r.status,
        r.current_unit_id,
        unit.c.name.label("unit_name"),
        district.c.name.label("district_name"),
        r.routing_flag,
        r.submitted_at,
        r.received_at,
        r.version,
    ).select_from(
        _REPORT.join(_CATEGORY, c.id == r.category_id)
        .outerjoin(unit, unit.c.id == r.current_unit_id)
        .outerjoin(district, district.c.id == r.district_id)
    )


def _feed_row(m: Any) -> FeedRow:
    return FeedRow(
        id=int(m["id"]),
        code=m["code"],
        title=m["title"],
        kind=Kind(m["kind"]),
        category_name_vi=m["category_name_vi"],
        category_name_en=m["category_name_en"],
        status=Status(m["status"]),
        unit_id=m["current_unit_id"],
        unit_name=m["unit_name"],
        district_name=m["district_name"],
        routing_flag=RoutingFlag(m["routing_flag"]) if m["routing_flag"] else None,
        submitted_at=m["submitted_at"],
        received_at=m["received_at"],
        version=int(m["version"]),
    )


def _received_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    r = _REPORT.c
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        _check_aware(since, "since")
        conditions.append(r.received_at > since)
    if until is not None:
        _check_aware(until, "until")
        conditions.append(r.received_at <= until)
    return conditions


def recent_reports(
    session: Session,
    *,
    since: datetime | None,
    limit: int = DEFAULT_FEED_LIMIT,
    until: datetime | None = None,
) -> list[FeedRow]:
    """The newest reports received after `since` (and by `until`), newest first.

    Ordered by `received_at`, the moment the system got the report: a report written
    offline at 06:30 and sent at 10:00 is news at 10:00. Ties by id, so two refreshes
    list the same reports in the same order.
    """
    r = _REPORT.c
    stmt = (
        _feed_select()
        .where(*_received_window(since, until))
        .order_by(r.received_at.desc(), r.id.desc())
        .limit(_limit(limit))
    )
    return [_feed_row(row._mapping) for row in _connection(session).execute(stmt)]


def live_feed(
    session: Session,
    *,
    now: datetime,
    since: datetime | None = None,
    limit: int = DEFAULT_FEED_LIMIT,
) -> LiveFeed:
    """What the overview's self-refreshing panel shows: called by its timer, tested here.

    The newest `limit` reports received by `now`, how many arrived after `since` (the
    moment the viewer opened the page, say) and today's intake per kind. Three small
    queries; the refresh costs the same whatever the size of the database.
    """
    _check_aware(now, "now")
    conn = _connection(session)
    rows = recent_reports(session, since=None, until=now, limit=limit)
    new_count = 0
    if since is not None:
        new_count = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(_REPORT).where(*_received_window(since, now))
            ).scalar_one()
        )
    return LiveFeed(
        now=now, since=since, rows=rows, new_count=new_count, today=_intake_today(conn, now)
    )


# ---------------------------------------------------------- dispatcher queues


def _last_refusal() -> Subquery:
    """Per report, its last "not ours" refusal: the event, the unit that made it."""
    e = _EVENT.c
    ranked = (
        sa.select(
            e.report_id,
            e.at,
            e.from_unit_id,
            e.reason,
            sa.func.row_number().over(partition_by=e.report_id, order_by=e.seq.desc()).label("rn"),
        )
        .where(e.action == Action.REFUSE_NOT_OURS.value)
        .subquery("refusals")
    )
    return sa.select(ranked).where(ranked.c.rn == 1).subquery("last_refusal")


def _queue(
    session: Session,
    *,
    condition: ColumnElement[bool],
    order: Callable[[Subquery], list[Any]],
    now: datetime,
    limit: int,
    offset: int,
    with_refusing_units: bool = False,
) -> QueuePage:
    """One COUNT and one LIMIT/OFFSET query over the reports matching `condition`."""
    _check_aware(now, "now")
    conn = _connection(session)
    r, c = _REPORT.c, _CATEGORY.c
    limit = _limit(limit)
    offset = max(0, int(offset))
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(_REPORT).where(condition)).scalar_one()
    )
    if total == 0:
        return QueuePage([], 0, limit, offset)
    unit = _UNIT.alias("cur_unit")
    refuser = _UNIT.alias("refuser")
    last = _last_refusal()
    stmt = (
        sa.select(
            r.id,
            r.code,
            r.title,
            r.kind,
            c.name_vi.label("category_name_vi"),
            c.name_en.label("category_name_en"),
            r.status,
            r.current_unit_id,
            unit.c.name.label("unit_name"),
            r.routing_flag,
            r.submitted_at,
            r.received_at,
            last.c.at.label("refused_at"),
            r.due_at,
            r.bounce_count,
            last.c.from_unit_id.label("refused_by_unit_id"),
            refuser.c.name.label("refused_by_unit_name"),
            last.c.reason,
            r.version,
        )
        .select_from(
            _REPORT.join(_CATEGORY, c.id == r.category_id)
            .outerjoin(unit, unit.c.id == r.current_unit_id)
            .outerjoin(last, last.c.report_id == r.id)
            .outerjoin(refuser, refuser.c.id == last.c.from_unit_id)
        )
        .where(condition)
        .order_by(*order(last), r.id.asc())
        .limit(limit)
        .offset(offset)
    )
    open_values = {s.value for s in OPEN_STATUSES}
    rows: list[QueueRow] = []
    for row in conn.execute(stmt):
        m = row._mapping
        due_at: datetime | None = m["due_at"]
        rows.append(
            QueueRow(
                id=int(m["id"]),
                code=m["code"],
                title=m["title"],
                kind=Kind(m["kind"]),
                category_name_vi=m["category_name_vi"],
                category_name_en=m["category_name_en"],
                status=Status(m["status"]),
                unit_id=m["current_unit_id"],
                unit_name=m["unit_name"],
                routing_flag=RoutingFlag(m["routing_flag"]) if m["routing_flag"] else None,
                submitted_at=m["submitted_at"],
                received_at=m["received_at"],
                waiting_since=m["refused_at"] or m["received_at"],
                due_at=due_at,
                is_overdue=bool(due_at is not None and m["status"] in open_values and due_at < now),
                bounce_count=int(m["bounce_count"]),
                refused_by_unit_id=m["refused_by_unit_id"],
                refused_by_unit_name=m["refused_by_unit_name"],
                reason=m["reason"],
                version=int(m["version"]),
            )
        )
    if with_refusing_units and rows:
        units = _refusing_units(conn, [row.id for row in rows])
        rows = [_with_units(row, units.get(row.id, ())) for row in rows]
    return QueuePage(rows, total, limit, offset)


def _refusing_units(conn: Connection, report_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Every unit that refused each report as not ours, in order (one query per page)."""
    e, u = _EVENT.c, _UNIT.c
    stmt = (
        sa.select(e.report_id, u.name)
        .select_from(_EVENT.outerjoin(_UNIT, u.id == e.from_unit_id))
        .where(e.action == Action.REFUSE_NOT_OURS.value, e.report_id.in_(report_ids))
        .order_by(e.report_id, e.seq)
    )
    out: dict[int, list[str]] = {}
    for report_id, name in conn.execute(stmt):
        out.setdefault(int(report_id), []).append(name or "—")
    return {k: tuple(v) for k, v in out.items()}


def _with_units(row: QueueRow, units: tuple[str, ...]) -> QueueRow:
    return replace(row, refusing_units=units)


def unrouted_reports(
    session: Session,
    *,
    now: datetime,
    limit: int = DEFAULT_QUEUE_LIMIT,
    offset: int = 0,
) -> QueuePage:
    """Reports still `received`: nobody routed them, the dispatcher must. Oldest first.

    Their `routing_flag` says why (no location, outside Hanoi, city level); a report
    created without automatic routing (an import) has none and is listed all the same,
    because it waits for the same person.
    """
    r = _REPORT.c
    return _queue(
        session,
        condition=r.status == Status.RECEIVED.value,
        order=lambda last: [r.received_at.asc()],
        now=now,
        limit=limit,
        offset=offset,
    )


def returned_reports(
    session: Session,
    *,
    now: datetime,
    limit: int = DEFAULT_QUEUE_LIMIT,
    offset: int = 0,
) -> QueuePage:
    """Reports a unit sent back as "not our function", longest waiting first.

    Each row names the refusing unit and its reason, read from the last refusal event
    (the history is the record; the report row keeps no copy of either).
    """
    r = _REPORT.c
    return _queue(
        session,
        condition=r.status == Status.RETURNED.value,
        order=lambda last: [last.c.at.asc()],
        now=now,
        limit=limit,
        offset=offset,
    )


def bounced_reports(
    session: Session,
    *,
    now: datetime,
    limit: int = DEFAULT_QUEUE_LIMIT,
    offset: int = 0,
    open_only: bool = True,
) -> QueuePage:
    """Reports refused as "not ours" more than once, most bounced first.

    By default only open ones (the dispatcher can still route them right); with
    `open_only=False` the finished ones too, to review which categories bounce.
    """
    r = _REPORT.c
    condition: ColumnElement[bool] = r.bounce_count > BOUNCE_THRESHOLD
    if open_only:
        condition = sa.and_(condition, r.status.in_(sorted(s.value for s in OPEN_STATUSES)))
    return _queue(
        session,
        condition=condition,
        order=lambda last: [r.bounce_count.desc(), r.received_at.asc()],
        now=now,
        limit=limit,
        offset=offset,
        with_refusing_units=True,
    )


def dispatcher_queues(
    session: Session, *, now: datetime, limit: int = DEFAULT_QUEUE_LIMIT
) -> DispatcherQueues:
    """The three queues, first page of each."""
    return DispatcherQueues(
        unrouted=unrouted_reports(session, now=now, limit=limit),
        returned=returned_reports(session, now=now, limit=limit),
        bounced=bounced_reports(session, now=now, limit=limit),
    )


def overview(
    session: Session,
    *,
    now: datetime,
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> Overview:
    """The overview page's one call on load: the summary and the first page of each queue."""
    return Overview(
        summary=intake_summary(session, now=now, calendar=calendar, rules=rules),
        queues=dispatcher_queues(session, now=now, limit=queue_limit),
    )


def feed_interval_seconds(value: str | float | None) -> float | None:
    """The feed's refresh interval from a setting: seconds (>= 1), or None for "off".

    Accepts a number or its text; empty means the default, 0 or "off" turns the timer
    off. A bad value falls back to the default rather than stopping the page.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_FEED_SECONDS
    if isinstance(value, str) and value.strip().lower() in {"off", "0"}:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_FEED_SECONDS
    if seconds != seconds or seconds < 0:  # NaN or negative
        return DEFAULT_FEED_SECONDS
    if seconds == 0:
        return None
    return max(1.0, seconds)
