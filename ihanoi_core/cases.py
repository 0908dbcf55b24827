"""The case list, a case's detail and the personal work queue: what the case pages read.

Everything here is read-only and scoped to the viewer. Unit roles (officer, unit
leader) see the reports at their unit and those their unit held before (a unit that
sent a report back as "not ours" can still follow what became of it); city roles see
all. The same rule guards the list, the queue and the detail, so a report cannot be
reached by its id when it is hidden from the list.

The list is paginated by the database (one COUNT and one LIMIT/OFFSET query), never
by loading all reports: a district has tens of thousands of them. Text search ignores
Vietnamese diacritics: `report.search_text` holds the folded code, title, description
and address; district and ward names are matched through the unit table (folded here,
once per call) so "hoan kiem" also finds a report located in Hoàn Kiếm whose text
does not name it.

No function reads the clock: callers pass `now`, so a test and the page agree on what
is overdue to the microsecond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import (
    DeadlineRules,
    due_soon_cutoff,
    is_overdue,
    rules_for,
    time_left_hours,
)
from ihanoi_core.errors import ConflictError, NotFound, PermissionDenied
from ihanoi_core.text import fold
from ihanoi_core.vocab import (
    HANDLING_UNIT_KINDS,
    OPEN_STATUSES,
    STATUS_BUCKET,
    UNIT_ROLES,
    Action,
    AttachmentKind,
    Bucket,
    Kind,
    Priority,
    Rating,
    Role,
    RoutingFlag,
    Status,
    TemplateKind,
    UnitKind,
)
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar
from ihanoi_core.workflow import (
    TRANSITIONS,
    Actor,
    ReportState,
    SessionLookups,
    allowed_actions,
    check_permission,
    last_change,
)

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]
_USER: Final = SQLModel.metadata.tables["app_user"]
_ATTACHMENT: Final = SQLModel.metadata.tables["attachment"]
_TEMPLATE: Final = SQLModel.metadata.tables["template"]

MAX_PAGE_SIZE: Final = 200
DEFAULT_PAGE_SIZE: Final = 25
MAX_QUEUE: Final = 500  # a queue longer than this is a management problem, not a screen

_OPEN: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
# Geography a report is located in (2024 districts and wards, 2025 communes): what a
# search for a place name should match besides the report's own text.
_PLACE_KINDS: Final = (UnitKind.DISTRICT.value, UnitKind.WARD.value, UnitKind.COMMUNE.value)
# Units a dispatcher can send a report to; the city office is where reports come from.
_TARGET_KINDS: Final = tuple(
    sorted(k.value for k in HANDLING_UNIT_KINDS if k is not UnitKind.CITY_OFFICE)
)
# Actions whose dialog offers templates, and which kind of template.
TEMPLATE_KIND_OF: Final[dict[Action, TemplateKind]] = {
    Action.DRAFT: TemplateKind.RESPONSE,
    Action.REFUSE_NOT_OURS: TemplateKind.REFUSAL_NOT_OURS,
    Action.REFUSE_INACCURATE: TemplateKind.REFUSAL_INACCURATE,
}


class CaseOrder(StrEnum):
    """How the list is sorted; every order ends with the id so pages never overlap."""

    NEWEST = "newest"  # submitted, newest first (the dispatcher's default)
    OLDEST = "oldest"
    DUE = "due"  # earliest deadline first, reports without a deadline last
    URGENT = "urgent"  # overdue first, then by deadline (the work queues)


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class CaseFilter:
    """What the case list shows; empty fields do not filter.

    `date_from`/`date_to` are inclusive calendar days in Hanoi on `submitted_at`.
    `category_codes` match a category or any of its children. `unit_id` is the unit
    holding the report now. `due_soon_before` is the cutoff from
    `deadlines.due_soon_cutoff` (computed once by the caller, so the filter is a plain
    comparison on the stored `due_at`). `text` is folded and each word must match.
    """

    statuses: tuple[Status, ...] = ()
    bucket: Bucket | None = None
    kind: Kind | None = None
    unit_id: int | None = None
    district_id: int | None = None
    ward_id: int | None = None
    category_codes: tuple[str, ...] = ()
    priority: Priority | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue_only: bool = False
    due_soon_before: datetime | None = None
    text: str = ""


NO_FILTER: Final = CaseFilter()


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list or a work queue: plain values, safe to keep in a page."""

    id: int
    code: str
    title: str
    kind: Kind
    category_code: str
    category_name_vi: str
    category_name_en: str
    status: Status
    bucket: Bucket
    priority: Priority
    unit_id: int | None
    unit_name: str | None
    district_name: str | None
    ward_name: str | None
    assignee_name: str | None
    submitted_at: datetime
    due_at: datetime | None
    is_overdue: bool
    is_due_soon: bool
    time_left_hours: float | None  # working hours; negative when overdue; None if closed
    version: int


@dataclass(frozen=True)
class CasePage:
    """One page of the list and how many reports match in all."""

    rows: list[CaseRow]
    total: int
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


@dataclass(frozen=True)
class AttachmentInfo:
    """A photo or evidence file; `data` is filled only when the caller asked for it."""

    id: int
    kind: AttachmentKind
    filename: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime
    uploaded_by: str | None
    event_id: int | None
    data: bytes | None = None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class TimelineEntry:
    """One event of the history, with the names a person reads instead of ids."""

    seq: int
    at: datetime
    action: Action
    actor_name: str | None
    actor_role: Role
    from_status: Status | None
    to_status: Status
    from_unit_name: str | None
    to_unit_name: str | None
    assignee_name: str | None
    priority: Priority | None
    due_at: datetime | None
    reason: str | None
    template_code: str | None
    template_title_vi: str | None
    template_title_en: str | None
    result_text: str | None
    rating: Rating | None
    attachment_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CaseDetail:
    """Everything the detail panel shows about one report, for one viewer."""

    id: int
    code: str
    title: str
    description: str
    address: str
    lat: float | None
    lon: float | None
    kind: Kind
    category_code: str
    category_name_vi: str
    category_name_en: str
    status: Status
    bucket: Bucket
    priority: Priority
    submitted_at: datetime
    received_at: datetime
    arrived_at: datetime | None
    receipt_due_at: datetime | None
    due_at: datetime | None
    finished_at: datetime | None
    unit_id: int | None
    unit_name: str | None
    district_name: str | None
    ward_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    result_text: str | None
    is_public: bool
    rating: Rating | None
    rated_at: datetime | None
    bounce_count: int
    routing_flag: RoutingFlag | None
    source: str
    version: int
    is_overdue: bool
    is_due_soon: bool
    time_left_hours: float | None
    deadline_is_placeholder: bool  # the limit is a marked placeholder, not a known rule
    attachments: list[AttachmentInfo]
    timeline: list[TimelineEntry]
    allowed_actions: list[Action]


@dataclass(frozen=True)
class UnitOption:
    id: int
    code: str
    kind: UnitKind
    name: str


@dataclass(frozen=True)
class OfficerOption:
    """Someone a unit leader can assign a report to, with how much they hold now."""

    id: int
    username: str
    full_name: str
    role: Role
    open_cases: int


@dataclass(frozen=True)
class TemplateOption:
    code: str
    kind: TemplateKind
    category_code: str | None
    title_vi: str
    title_en: str
    text_vi: str
    text_en: str


@dataclass(frozen=True)
class CategoryOption:
    code: str
    kind: Kind
    name_vi: str
    name_en: str
    parent_code: str | None


@dataclass(frozen=True)
class FilterOptions:
    """The choices of the list's filters (reference data, not reports)."""

    units: list[UnitOption]
    districts: list[UnitOption]
    categories: list[CategoryOption]


@dataclass(frozen=True)
class ActionForm:
    """What an action's dialog needs to offer, read when the dialog opens.

    Building it re-checks that the viewer may still take the action (raising the
    workflow's typed errors), so a dialog is never offered for a stale button.
    """

    action: Action
    report_id: int
    code: str
    title: str
    version: int
    priority: Priority
    result_text: str | None
    units: list[UnitOption] = field(default_factory=list)
    officers: list[OfficerOption] = field(default_factory=list)
    templates: list[TemplateOption] = field(default_factory=list)


# ------------------------------------------------------------------ helpers


def _connection(session: Session) -> Connection:
    """The session's connection, after flushing so pending rows are read too."""
    session.flush()
    return session.connection()


def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=HANOI_TZ).astimezone(UTC)


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive now {now!r}: pass an aware datetime")


def statuses_in(bucket: Bucket) -> tuple[str, ...]:
    return tuple(sorted(s.value for s, b in STATUS_BUCKET.items() if b is bucket))


def _category_ids(codes: Sequence[str]) -> sa.Select[Any]:
    """Ids of the categories named and of their children."""
    parent = _CATEGORY.alias("parent_category")
    c = _CATEGORY.c
    return sa.select(c.id).where(
        sa.or_(
            c.code.in_(codes),
            c.parent_id.in_(sa.select(parent.c.id).where(parent.c.code.in_(codes))),
        )
    )


def _visible_to(viewer: Actor) -> ColumnElement[bool] | None:
    """The scope rule: unit roles see their unit's reports, now or in the past."""
    if viewer.role not in UNIT_ROLES:
        return None
    if viewer.unit_id is None:
        return sa.false()
    r, e = _REPORT.c, _EVENT.c
    held_before = sa.exists().where(e.report_id == r.id, e.to_unit_id == viewer.unit_id)
    return sa.or_(r.current_unit_id == viewer.unit_id, held_before)


def _place_ids_matching(session: Session, words: Sequence[str]) -> dict[str, list[int]]:
    """For each folded word, the districts/wards/communes whose folded name contains it.

    Folding ~700 names in Python once per search is cheaper and more portable than a
    diacritic-insensitive collation (SQLite has none; PostgreSQL's `unaccent` is an
    extension we cannot assume) and needs no copy of the names in every report.
    """
    u = _UNIT.c
    names = [
        (int(uid), fold(name))
        for uid, name in _connection(session).execute(
            sa.select(u.id, u.name).where(u.kind.in_(_PLACE_KINDS))
        )
    ]
    return {w: [uid for uid, folded in names if w in folded] for w in words}


def _text_conditions(session: Session, text: str) -> list[ColumnElement[bool]]:
    """Every word of the folded query must appear in the text or the place names."""
    words = list(dict.fromkeys(fold(text).split()))
    if not words:
        return []
    r = _REPORT.c
    places = _place_ids_matching(session, words)
    conditions: list[ColumnElement[bool]] = []
    for word in words:
        options: list[ColumnElement[bool]] = [r.search_text.contains(word, autoescape=True)]
        if places[word]:
            options.append(r.district_id.in_(places[word]))
            options.append(r.ward_id.in_(places[word]))
        conditions.append(sa.or_(*options))
    return conditions


def case_conditions(session: Session, filt: CaseFilter, now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE conditions of `filt` on the report table, public so that other views
    (the map) count exactly the reports the case list shows for the same filter."""
    r = _REPORT.c
    conditions: list[ColumnElement[bool]] = []
    if filt.statuses:
        conditions.append(r.status.in_(sorted({Status(s).value for s in filt.statuses})))
    if filt.bucket is not None:
        conditions.append(r.status.in_(statuses_in(Bucket(filt.bucket))))
    if filt.kind is not None:
        conditions.append(r.kind == Kind(filt.kind).value)
    if filt.unit_id is not None:
        conditions.append(r.current_unit_id == filt.unit_id)
    if filt.district_id is not None:
        conditions.append(r.district_id == filt.district_id)
    if filt.ward_id is not None:
        conditions.append(r.ward_id == filt.ward_id)
    if filt.category_codes:
        conditions.append(r.category_id.in_(_category_ids(filt.category_codes)))
    if filt.priority is not None:
        conditions.append(r.priority == Priority(filt.priority).value)
    if filt.date_from is not None:
        conditions.append(r.submitted_at >= _day_start_utc(filt.date_from))
    if filt.date_to is not None:
        conditions.append(r.submitted_at < _day_start_utc(filt.date_to + timedelta(days=1)))
    if filt.overdue_only:
        conditions.append(sa.and_(r.status.in_(_OPEN), r.due_at.is_not(None), r.due_at < now))
    if filt.due_soon_before is not None:
        _check_aware(filt.due_soon_before)
        conditions.append(
            sa.and_(r.status.in_(_OPEN), r.due_at >= now, r.due_at < filt.due_soon_before)
        )
    conditions.extend(_text_conditions(session, filt.text))
    return conditions


def _order_by(order: CaseOrder, now: datetime) -> list[Any]:
    r = _REPORT.c
    no_deadline_last = sa.case((r.due_at.is_(None), 1), else_=0)
    if order is CaseOrder.NEWEST:
        return [r.submitted_at.desc(), r.id.desc()]
    if order is CaseOrder.OLDEST:
        return [r.submitted_at.asc(), r.id.asc()]
    if order is CaseOrder.DUE:
        return [no_deadline_last, r.due_at.asc(), r.id.asc()]
    overdue_first = sa.case((sa.and_(r.status.in_(_OPEN), r.due_at < now), 0), else_=1)
    return [overdue_first, no_deadline_last, r.due_at.asc(), r.id.asc()]


def _rows_select() -> sa.Select[Any]:
    """The list's columns, with the names joined in (one query per page)."""
    r, c = _REPORT.c, _CATEGORY.c
    unit = _UNIT.alias("cur_unit")
    district = _UNIT.alias("district")
    ward = _UNIT.alias("ward")
    assignee = _USER.alias("assignee")
    return sa.select(
        r.id,
        r.code,
        r.title,
        r.kind,
        c.code.label("category_code"),
        c.name_vi.label("category_name_vi"),
        c.name_en.label("category_name_en"),
        r.status,
        r.priority,
        r.current_unit_id,
        unit.c.name.label("unit_name"),
        district.c.name.label("district_name"),
        ward.c.name.label("ward_name"),
        assignee.c.full_name.label("assignee_name"),
        r.submitted_at,
        r.due_at,
        r.version,
    ).select_from(
        _REPORT.join(_CATEGORY, c.id == r.category_id)
        .outerjoin(unit, unit.c.id == r.current_unit_id)
        .outerjoin(district, district.c.id == r.district_id)
        .outerjoin(ward, ward.c.id == r.ward_id)
        .outerjoin(assignee, assignee.c.id == r.assignee_id)
    )


@dataclass(frozen=True)
class _Clock:
    """`now` with what every row's deadline flags need, computed once per call."""

    now: datetime
    calendar: WorkingCalendar
    due_soon_cutoff: datetime

    @classmethod
    def at(
        cls,
        session: Session,
        now: datetime,
        calendar: WorkingCalendar | None,
        rules: DeadlineRules | None,
    ) -> _Clock:
        """The clock on the deadline rules in force (an admin may have edited them)."""
        _check_aware(now)
        cal = calendar or load_calendar()
        return cls(now, cal, due_soon_cutoff(now, cal, rules or rules_for(session)))

    def flags(self, status: Status, due_at: datetime | None) -> tuple[bool, bool, float | None]:
        """(overdue, due soon, working hours left) of an open report; closed: no flags."""
        if due_at is None or status not in OPEN_STATUSES:
            return False, False, None
        overdue = is_overdue(due_at, self.now)
        soon = not overdue and due_at < self.due_soon_cutoff
        try:
            left: float | None = time_left_hours(due_at, self.now, self.calendar)
        except ValueError:  # a deadline outside the calendar's years: no count, no crash
            left = None
        return overdue, soon, left


def _shared_fields(m: Any, clock: _Clock) -> dict[str, Any]:
    """The fields a list row and the detail both show, from the same joined columns."""
    status = Status(m["status"])
    overdue, soon, left = clock.flags(status, m["due_at"])
    return {
        "id": int(m["id"]),
        "code": m["code"],
        "title": m["title"],
        "kind": Kind(m["kind"]),
        "category_code": m["category_code"],
        "category_name_vi": m["category_name_vi"],
        "category_name_en": m["category_name_en"],
        "status": status,
        "bucket": STATUS_BUCKET[status],
        "priority": Priority(m["priority"]),
        "unit_id": m["current_unit_id"],
        "unit_name": m["unit_name"],
        "district_name": m["district_name"],
        "ward_name": m["ward_name"],
        "assignee_name": m["assignee_name"],
        "submitted_at": m["submitted_at"],
        "due_at": m["due_at"],
        "is_overdue": overdue,
        "is_due_soon": soon,
        "time_left_hours": left,
        "version": int(m["version"]),
    }


def _row(m: Any, clock: _Clock) -> CaseRow:
    return CaseRow(**_shared_fields(m, clock))


# --------------------------------------------------------------- the list


def due_soon_cutoff_at(
    session: Session,
    now: datetime,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> datetime:
    """`CaseFilter.due_soon_before` for "due soon" at `now`, on the rules in force."""
    return _Clock.at(session, now, calendar, rules).due_soon_cutoff


def list_cases(
    session: Session,
    *,
    filt: CaseFilter = NO_FILTER,
    viewer: Actor,
    now: datetime,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    order: CaseOrder = CaseOrder.NEWEST,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> CasePage:
    """One page of the reports `viewer` may see that match `filt`.

    One COUNT, then one LIMIT/OFFSET query with the names joined in. A page past the
    end is clamped to the last page (a filter that shrank the list keeps the user on a
    page with rows).
    """
    clock = _Clock.at(session, now, calendar, rules)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    conditions = case_conditions(session, filt, now)
    scope = _visible_to(viewer)
    if scope is not None:
        conditions.append(scope)
    conn = _connection(session)
    total = int(
        conn.execute(
            sa.select(sa.func.count()).select_from(_REPORT).where(*conditions)
        ).scalar_one()
    )
    last_page = max(1, math.ceil(total / page_size))
    page = max(1, min(int(page), last_page))
    if total == 0:
        return CasePage([], 0, 1, page_size)
    stmt = (
        _rows_select()
        .where(*conditions)
        .order_by(*_order_by(order, now))
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = [_row(row._mapping, clock) for row in conn.execute(stmt)]
    return CasePage(rows, total, page, page_size)


def my_queue(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    limit: int = MAX_QUEUE,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> list[CaseRow]:
    """What waits for THIS user's action now, overdue first, then by deadline.

    Officer: the reports assigned to them. Unit leader: reports waiting for assignment
    in the unit, drafts to approve, approved results to publish, and anything assigned
    to the leader personally. Dispatcher: reports at the city office waiting for
    dispatch (new or returned as "not ours"). Other roles act on no queue.
    The statuses mirror the transition table, so the queue never lists a report
    whose buttons would be empty.
    """
    clock = _Clock.at(session, now, calendar, rules)
    r = _REPORT.c
    mine = sa.and_(r.status == Status.ASSIGNED.value, r.assignee_id == actor.user_id)
    condition: ColumnElement[bool]
    if actor.role is Role.OFFICER and actor.unit_id is not None:
        condition = sa.and_(mine, r.current_unit_id == actor.unit_id)
    elif actor.role is Role.UNIT_LEADER and actor.unit_id is not None:
        leader_steps = (Status.WAITING.value, Status.DRAFTED.value, Status.APPROVED.value)
        condition = sa.and_(
            r.current_unit_id == actor.unit_id, sa.or_(r.status.in_(leader_steps), mine)
        )
    elif actor.role is Role.DISPATCHER:
        condition = r.status.in_((Status.RECEIVED.value, Status.RETURNED.value))
    else:
        return []
    stmt = (
        _rows_select()
        .where(condition)
        .order_by(*_order_by(CaseOrder.URGENT, now))
        .limit(max(1, limit))
    )
    return [_row(row._mapping, clock) for row in _connection(session).execute(stmt)]


# --------------------------------------------------------------- the detail


def _may_see(session: Session, report_id: int, current_unit_id: int | None, viewer: Actor) -> bool:
    if viewer.role not in UNIT_ROLES:
        return True
    if viewer.unit_id is None:
        return False
    if current_unit_id == viewer.unit_id:
        return True
    e = _EVENT.c
    held = _connection(session).execute(
        sa.select(sa.literal(1))
        .where(e.report_id == report_id, e.to_unit_id == viewer.unit_id)
        .limit(1)
    )
    return held.first() is not None


def _state_of_row(m: Any) -> ReportState:
    return ReportState(
        status=Status(m["status"]),
        kind=m["kind"],
        category_code=m["category_code"],
        received_at=m["received_at"],
        current_unit_id=m["current_unit_id"],
        assignee_id=m["assignee_id"],
        priority=Priority(m["priority"]),
        arrived_at=m["arrived_at"],
        receipt_due_at=m["receipt_due_at"],
        due_at=m["due_at"],
        finished_at=m["finished_at"],
        result_text=m["result_text"],
        is_public=bool(m["is_public"]),
        rating=Rating(m["rating"]) if m["rating"] else None,
        rated_at=m["rated_at"],
        bounce_count=int(m["bounce_count"]),
        version=int(m["version"]),
    )


def _report_row(session: Session, report_id: int, viewer: Actor) -> Any:
    """The report with its names, or NotFound / PermissionDenied for this viewer."""
    r, c = _REPORT.c, _CATEGORY.c
    unit = _UNIT.alias("cur_unit")
    district = _UNIT.alias("district")
    ward = _UNIT.alias("ward")
    assignee = _USER.alias("assignee")
    stmt = (
        sa.select(
            _REPORT,
            c.code.label("category_code"),
            c.name_vi.label("category_name_vi"),
            c.name_en.label("category_name_en"),
            unit.c.name.label("unit_name"),
            district.c.name.label("district_name"),
            ward.c.name.label("ward_name"),
            assignee.c.full_name.label("assignee_name"),
        )
        .select_from(
            _REPORT.join(_CATEGORY, c.id == r.category_id)
            .outerjoin(unit, unit.c.id == r.current_unit_id)
            .outerjoin(district, district.c.id == r.district_id)
            .outerjoin(ward, ward.c.id == r.ward_id)
            .outerjoin(assignee, assignee.c.id == r.assignee_id)
        )
        .where(r.id == report_id)
    )
    row = _connection(session).execute(stmt).first()
    if row is None:
        raise NotFound("report", report_id)
    m = row._mapping
    if not _may_see(session, report_id, m["current_unit_id"], viewer):
        raise PermissionDenied("view", viewer.role.value, "unit")
    return m


def _current_actor(session: Session, viewer: Actor) -> Actor | None:
    """The account as it is now (deactivated or moved users lose their buttons at once)."""
    if viewer.user_id is None:
        return None
    return SessionLookups(session).user(viewer.user_id)


def _attachments(session: Session, report_id: int, with_data: bool) -> list[AttachmentInfo]:
    a = _ATTACHMENT.c
    uploader = _USER.alias("uploader")
    columns: list[Any] = [
        a.id,
        a.kind,
        a.filename,
        a.content_type,
        a.size_bytes,
        a.uploaded_at,
        a.event_id,
        uploader.c.full_name.label("uploaded_by"),
    ]
    if with_data:
        columns.append(a.data)
    stmt = (
        sa.select(*columns)
        .select_from(_ATTACHMENT.outerjoin(uploader, uploader.c.id == a.uploaded_by))
        .where(a.report_id == report_id)
        .order_by(a.id)
    )
    return [
        AttachmentInfo(
            id=int(m["id"]),
            kind=AttachmentKind(m["kind"]),
            filename=m["filename"],
            content_type=m["content_type"],
            size_bytes=int(m["size_bytes"]),
            uploaded_at=m["uploaded_at"],
            uploaded_by=m["uploaded_by"],
            event_id=m["event_id"],
            data=bytes(m["data"]) if with_data else None,
        )
        for m in (row._mapping for row in _connection(session).execute(stmt))
    ]


def _timeline(
    session: Session, report_id: int, attachments: Sequence[AttachmentInfo]
) -> list[TimelineEntry]:
    e = _EVENT.c
    actor = _USER.alias("actor")
    assignee = _USER.alias("ev_assignee")
    from_unit = _UNIT.alias("from_unit")
    to_unit = _UNIT.alias("to_unit")
    template = _TEMPLATE.alias("tpl")
    stmt = (
        sa.select(
            _EVENT,
            actor.c.full_name.label("actor_name"),
            assignee.c.full_name.label("assignee_name"),
            from_unit.c.name.label("from_unit_name"),
            to_unit.c.name.label("to_unit_name"),
            template.c.title_vi.label("template_title_vi"),
            template.c.title_en.label("template_title_en"),
        )
        .select_from(
            _EVENT.outerjoin(actor, actor.c.id == e.actor_id)
            .outerjoin(assignee, assignee.c.id == e.assignee_id)
            .outerjoin(from_unit, from_unit.c.id == e.from_unit_id)
            .outerjoin(to_unit, to_unit.c.id == e.to_unit_id)
            .outerjoin(template, template.c.code == e.template_code)
        )
        .where(e.report_id == report_id)
        .order_by(e.seq)
    )
    by_event: dict[int, list[int]] = {}
    for att in attachments:
        if att.event_id is not None:
            by_event.setdefault(att.event_id, []).append(att.id)
    entries = []
    for row in _connection(session).execute(stmt):
        m = row._mapping
        entries.append(
            TimelineEntry(
                seq=int(m["seq"]),
                at=m["at"],
                action=Action(m["action"]),
                actor_name=m["actor_name"],
                actor_role=Role(m["actor_role"]),
                from_status=Status(m["from_status"]) if m["from_status"] else None,
                to_status=Status(m["to_status"]),
                from_unit_name=m["from_unit_name"],
                to_unit_name=m["to_unit_name"],
                assignee_name=m["assignee_name"],
                priority=Priority(m["priority"]) if m["priority"] else None,
                due_at=m["due_at"],
                reason=m["reason"],
                template_code=m["template_code"],
                template_title_vi=m["template_title_vi"],
                template_title_en=m["template_title_en"],
                result_text=m["result_text"],
                rating=Rating(m["rating"]) if m["rating"] else None,
                attachment_ids=tuple(by_event.get(int(m["id"]), ())),
            )
        )
    return entries


def case_detail(
    session: Session,
    report_id: int,
    viewer: Actor,
    now: datetime,
    *,
    with_attachment_data: bool = False,
    calendar: WorkingCalendar | None = None,
    rules: DeadlineRules | None = None,
) -> CaseDetail:
    """One report as `viewer` may see it, with its history and the buttons to show.

    Raises `NotFound`, or `PermissionDenied` when a unit role opens a report its unit
    never held. `allowed_actions` is computed for the account as it is in the database
    now, exactly as `workflow.apply` will judge it. `with_attachment_data` loads the
    files' bytes (the detail panel shows the photos; a list never needs them).
    """
    clock = _Clock.at(session, now, calendar, rules)
    m = _report_row(session, report_id, viewer)
    deadline_rules = rules or rules_for(session)
    placeholder = deadline_rules.is_placeholder(m["kind"], m["priority"], m["category_code"])
    current = _current_actor(session, viewer)
    actions = allowed_actions(_state_of_row(m), current) if current is not None else []
    attachments = _attachments(session, report_id, with_attachment_data)
    return CaseDetail(
        **_shared_fields(m, clock),
        description=m["description"] or "",
        address=m["address"] or "",
        lat=m["lat"],
        lon=m["lon"],
        received_at=m["received_at"],
        arrived_at=m["arrived_at"],
        receipt_due_at=m["receipt_due_at"],
        finished_at=m["finished_at"],
        assignee_id=m["assignee_id"],
        result_text=m["result_text"],
        is_public=bool(m["is_public"]),
        rating=Rating(m["rating"]) if m["rating"] else None,
        rated_at=m["rated_at"],
        bounce_count=int(m["bounce_count"]),
        routing_flag=RoutingFlag(m["routing_flag"]) if m["routing_flag"] else None,
        source=m["source"],
        deadline_is_placeholder=placeholder,
        attachments=attachments,
        timeline=_timeline(session, report_id, attachments),
        allowed_actions=actions,
    )


# ------------------------------------------------------- what dialogs offer


def assignable_officers(session: Session, unit_id: int) -> list[OfficerOption]:
    """Active officers and leaders of the unit (the workflow accepts both as assignee),
    with the number of open reports each holds, so the leader can spread the load."""
    u, r = _USER.c, _REPORT.c
    load = (
        sa.select(r.assignee_id, sa.func.count().label("n"))
        .where(r.status == Status.ASSIGNED.value, r.current_unit_id == unit_id)
        .group_by(r.assignee_id)
        .subquery("load")
    )
    stmt = (
        sa.select(u.id, u.username, u.full_name, u.role, sa.func.coalesce(load.c.n, 0))
        .select_from(_USER.outerjoin(load, load.c.assignee_id == u.id))
        .where(
            u.unit_id == unit_id,
            u.active.is_(True),
            u.role.in_((Role.OFFICER.value, Role.UNIT_LEADER.value)),
        )
    )
    officers = [
        OfficerOption(int(uid), username, full_name, Role(role), int(n))
        for uid, username, full_name, role, n in _connection(session).execute(stmt)
    ]
    # officers before leaders, then by name as a Vietnamese reader expects it
    return sorted(
        officers, key=lambda o: (o.role is not Role.OFFICER, fold(o.full_name), o.username)
    )


def dispatch_targets(session: Session, on: date) -> list[UnitOption]:
    """Handling units that exist on `on`: districts (until 30/06/2025) or communes (from
    01/07/2025) first, then departments; each group by name without diacritics."""
    u = _UNIT.c
    stmt = sa.select(u.id, u.code, u.kind, u.name).where(
        u.kind.in_(_TARGET_KINDS),
        sa.or_(u.valid_from.is_(None), u.valid_from <= on),
        sa.or_(u.valid_to.is_(None), u.valid_to >= on),
    )
    units = [
        UnitOption(int(uid), code, UnitKind(kind), name)
        for uid, code, kind, name in _connection(session).execute(stmt)
    ]
    return sorted(units, key=lambda x: (x.kind is UnitKind.DEPARTMENT, fold(x.name), x.code))


def templates_for(
    session: Session, kind: TemplateKind, category_code: str | None = None
) -> list[TemplateOption]:
    """Active templates of `kind` for a category: its own, its parent's, then general."""
    t, c = _TEMPLATE.c, _CATEGORY.c
    codes: list[str] = []
    if category_code:
        parent = _CATEGORY.alias("parent")
        found = (
            _connection(session)
            .execute(
                sa.select(c.code, parent.c.code)
                .select_from(_CATEGORY.outerjoin(parent, parent.c.id == c.parent_id))
                .where(c.code == category_code)
            )
            .first()
        )
        if found is not None:
            codes = [code for code in found if code]
    stmt = sa.select(_TEMPLATE).where(
        t.kind == TemplateKind(kind).value,
        t.active.is_(True),
        sa.or_(t.category_code.is_(None), t.category_code.in_(codes)),
    )
    rank = {code: i for i, code in enumerate(codes)}
    options = [
        TemplateOption(
            code=m["code"],
            kind=TemplateKind(m["kind"]),
            category_code=m["category_code"],
            title_vi=m["title_vi"],
            title_en=m["title_en"],
            text_vi=m["text_vi"],
            text_en=m["text_en"],
        )
        for m in (row._mapping for row in _connection(session).execute(stmt))
    ]
    return sorted(options, key=lambda o: (rank.get(o.category_code or "", len(rank)), o.code))


def filter_options(session: Session) -> FilterOptions:
    """Units, 2024 districts and categories for the list's filters."""
    u, c = _UNIT.c, _CATEGORY.c
    conn = _connection(session)
    units = [
        UnitOption(int(uid), code, UnitKind(kind), name)
        for uid, code, kind, name in conn.execute(
            sa.select(u.id, u.code, u.kind, u.name).where(
                u.kind.in_(sorted(k.value for k in HANDLING_UNIT_KINDS))
            )
        )
    ]
    kind_order = {k: i for i, k in enumerate(UnitKind)}
    units.sort(key=lambda x: (kind_order[x.kind], fold(x.name), x.code))
    districts = sorted(
        (x for x in units if x.kind is UnitKind.DISTRICT), key=lambda x: fold(x.name)
    )
    parent = _CATEGORY.alias("parent")
    categories = [
        CategoryOption(code, Kind(kind), name_vi, name_en, parent_code)
        for code, kind, name_vi, name_en, parent_code in conn.execute(
            sa.select(c.code, c.kind, c.name_vi, c.name_en, parent.c.code)
            .select_from(_CATEGORY.outerjoin(parent, parent.c.id == c.parent_id))
            .order_by(c.sort_order, c.code)
        )
    ]
    return FilterOptions(units, districts, categories)


def action_form(
    session: Session,
    *,
    action: Action,
    report_id: int,
    viewer: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> ActionForm:
    """What the dialog of `action` on a report offers `viewer` (read at each redraw).

    Re-checks visibility, the version the dialog was opened with (`ConflictError`
    naming who changed the report and when) and the transition for the account as it
    is now, so a dialog that went stale fails with a typed error here, before the user
    types more or saves.
    """
    m = _report_row(session, report_id, viewer)
    if expected_version is not None and int(m["version"]) != expected_version:
        who, when = last_change(session, report_id)
        raise ConflictError(report_id, expected_version, int(m["version"]), who, when)
    current = _current_actor(session, viewer)
    if current is None:
        raise PermissionDenied(action.value, viewer.role.value, "inactive")
    if action not in TRANSITIONS:
        raise PermissionDenied(action.value, viewer.role.value, "role")
    state = _state_of_row(m)
    check_permission(state, action, current)
    units: list[UnitOption] = []
    officers: list[OfficerOption] = []
    templates: list[TemplateOption] = []
    if action in (Action.DISPATCH, Action.REASSIGN):
        _check_aware(now)
        units = [
            x
            for x in dispatch_targets(session, now.astimezone(HANOI_TZ).date())
            if x.id != state.current_unit_id
        ]
    elif action is Action.ASSIGN and state.current_unit_id is not None:
        officers = assignable_officers(session, state.current_unit_id)
    if action in TEMPLATE_KIND_OF:
        templates = templates_for(session, TEMPLATE_KIND_OF[action], state.category_code)
    return ActionForm(
        action=action,
        report_id=report_id,
        code=m["code"],
        title=m["title"],
        version=state.version,
        priority=state.priority,
        result_text=state.result_text,
        units=units,
        officers=officers,
        templates=templates,
    )
