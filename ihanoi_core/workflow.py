"""The workflow as a table of transitions: the only code that changes a report's status.

`allowed_actions` tells the UI which buttons to show; `apply` checks role, unit, state
and guards, writes the new state, bumps the version and appends the event in one
transaction, or raises a typed error. `plan` is the pure heart of both, so the demo
generator and `verify` use exactly the same rules as the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from ihanoi_core.models import Category, Report, ReportEvent, Template, Unit, User
from ihanoi_core.vocab import (
    HANDLING_UNIT_KINDS,
    Action,
    Priority,
    Rating,
    Role,
    Status,
    TemplateKind,
    UnitKind,
)

MIN_RESULT_CHARS = 10
MIN_REASON_CHARS = 5


@dataclass(frozen=True)
class Transition:
    """One row of the table: from which statuses, to which, by whom."""

    action: Action
    sources: frozenset[Status]
    target: Status | None  # None: the status does not change (e.g. a rating)
    roles: frozenset[Role]
    unit_scoped: bool  # unit roles may act only on reports at their own unit


def _t(
    action: Action, sources: set[Status], target: Status | None, roles: set[Role], unit: bool
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), unit)


S, R, A = Status, Role, Action
HANDLERS = {R.OFFICER, R.UNIT_LEADER}
TRANSITIONS: Mapping[Action, Transition] = {
    t.action: t
    for t in (
        _t(A.ROUTE, {S.RECEIVED}, S.WAITING, {R.SYSTEM}, False),
        _t(A.DISPATCH, {S.RECEIVED, S.RETURNED}, S.WAITING, {R.DISPATCHER}, False),
        _t(A.REASSIGN, {S.WAITING, S.ASSIGNED}, S.WAITING, {R.DISPATCHER}, False),
        _t(A.ASSIGN, {S.WAITING, S.ASSIGNED}, S.ASSIGNED, {R.UNIT_LEADER}, True),
        _t(A.DRAFT, {S.ASSIGNED}, S.DRAFTED, HANDLERS, True),
        _t(
            A.REFUSE_NOT_OURS, {S.WAITING, S.ASSIGNED}, S.RETURNED, {R.OFFICER, R.UNIT_LEADER}, True
        ),
        _t(
            A.REFUSE_INACCURATE,
            {S.WAITING, S.ASSIGNED},
            S.REFUSED,
            {R.OFFICER, R.UNIT_LEADER},
            True,
        ),
        _t(A.APPROVE, {S.DRAFTED}, S.APPROVED, {R.UNIT_LEADER}, True),
        _t(A.REJECT, {S.DRAFTED}, S.ASSIGNED, {R.UNIT_LEADER}, True),
        _t(A.PUBLISH, {S.APPROVED}, S.PUBLISHED, {R.UNIT_LEADER}, True),
        _t(A.RATE, {S.PUBLISHED}, None, {R.SYSTEM}, False),
        _t(A.REOPEN, {S.PUBLISHED}, S.ASSIGNED, {R.LEADER}, False),
    )
}
# How a report enters the system: the first event of every history.
INITIAL_ACTIONS: frozenset[Action] = frozenset({Action.RECEIVE, Action.IMPORT})


# ------------------------------------------------------------------ the state


@dataclass(frozen=True)
class ReportState:
    """The part of a report the workflow changes, plus what its guards read."""

    status: Status
    kind: str
    category_code: str
    received_at: datetime
    current_unit_id: int | None = None
    assignee_id: int | None = None
    priority: Priority = Priority.NORMAL
    arrived_at: datetime | None = None
    receipt_due_at: datetime | None = None
    due_at: datetime | None = None
    finished_at: datetime | None = None
    result_text: str | None = None
    is_public: bool = False
    rating: Rating | None = None
    rated_at: datetime | None = None
    bounce_count: int = 0
    version: int = 1


@dataclass(frozen=True)
class Actor:
    """Who acts: enough of a user for the rules (no ORM object, so it can be cached)."""

    user_id: int | None
    role: Role
    unit_id: int | None
    username: str = ""

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, Role(user.role), user.unit_id, user.username)


@dataclass(frozen=True)
class ActionParams:
    """Everything an action may carry; each action reads only what it needs."""

    to_unit_id: int | None = None
    assignee_id: int | None = None
    priority: Priority | None = None
    reason: str | None = None
    template_code: str | None = None
    result_text: str | None = None
    rating: Rating | None = None
    is_public: bool = False


@dataclass(frozen=True)
class EventRecord:
    """The history row an action produces (typed columns of `ReportEvent`)."""

    action: Action
    at: datetime
    actor_id: int | None
    actor_role: Role
    from_status: Status | None
    to_status: Status
    from_unit_id: int | None
    to_unit_id: int | None
    assignee_id: int | None
    priority: Priority | None
    due_at: datetime | None
    seq: int
    reason: str | None = None
    template_code: str | None = None
    result_text: str | None = None
    rating: Rating | None = None
    is_public: bool | None = None  # set by `publish` only


# ------------------------------------------------------ what the rules look up


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    kind: UnitKind
    name: str
    valid_from: date | None = None
    valid_to: date | None = None

    def is_valid_on(self, day: date) -> bool:
        """Units have validity dates: districts ended on 30/06/2025, communes began 01/07."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


@dataclass(frozen=True)
class TemplateRef:
    code: str
    kind: TemplateKind
    text_vi: str


class Lookups(Protocol):
    """Reference data the guards need; the DB or an in-memory copy provides it."""

    def unit(self, unit_id: int) -> UnitRef | None: ...
    def user(self, user_id: int) -> Actor | None: ...
    def template(self, code: str) -> TemplateRef | None: ...
    def city_office_id(self) -> int: ...


class DeadlinePolicy(Protocol):
    """When a unit must receive and finish a report (working time, see `deadlines`)."""

    def receipt_due(self, arrived_at: datetime) -> datetime: ...
    def handling_due(
        self, arrived_at: datetime, kind: str, category_code: str, priority: Priority
    ) -> datetime: ...


@dataclass
class InMemoryLookups:
    """Lookups from plain dicts: for the demo generator and pure tests."""

    units: dict[int, UnitRef] = field(default_factory=dict)
    users: dict[int, Actor] = field(default_factory=dict)
    templates: dict[str, TemplateRef] = field(default_factory=dict)
    city_office: int = 0

    def unit(self, unit_id: int) -> UnitRef | None:
        return self.units.get(unit_id)

    def user(self, user_id: int) -> Actor | None:
        return self.users.get(user_id)

    def template(self, code: str) -> TemplateRef | None:
        return self.templates.get(code)

    def city_office_id(self) -> int:
        return self.city_office


class SessionLookups:
    """Lookups read from the database through the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._city_office: int | None = None

    def unit(self, unit_id: int) -> UnitRef | None:
        u = self.session.get(Unit, unit_id)
        if u is None or u.id is None:
            return None
        return UnitRef(u.id, u.code, UnitKind(u.kind), u.name, u.valid_from, u.valid_to)

    def user(self, user_id: int) -> Actor | None:
        u = self.session.get(User, user_id)
        if u is None or not u.active:
            return None
        return Actor.of(u)

    def template(self, code: str) -> TemplateRef | None:
        t = self.session.exec(select(Template).where(Template.code == code)).first()
        if t is None or not t.active:
            return None
        return TemplateRef(t.code, TemplateKind(t.kind), t.text_vi)

    def city_office_id(self) -> int:
        if self._city_office is None:
            unit_id = self.session.exec(
                select(Unit.id).where(Unit.kind == UnitKind.CITY_OFFICE.value)
            ).first()
            if unit_id is None:
                raise NotFound("unit", UnitKind.CITY_OFFICE.value)
            self._city_office = unit_id
        return self._city_office


# ------------------------------------------------------------ the pure rules


def check_permission(state: ReportState, action: Action, actor: Actor) -> None:
    """Raise unless `actor` may fire `action` on a report in `state` (no side effects)."""
    transition = TRANSITIONS.get(action)
    if transition is None or state.status not in transition.sources:
        raise TransitionNotAllowed(action.value, state.status.value, actor.role.value)
    if actor.role not in transition.roles:
        raise PermissionDenied(action.value, actor.role.value, "role")
    if transition.unit_scoped:
        if actor.unit_id is None or actor.unit_id != state.current_unit_id:
            raise PermissionDenied(action.value, actor.role.value, "unit")
        if actor.role is Role.OFFICER and state.assignee_id != actor.user_id:
            raise PermissionDenied(action.value, actor.role.value, "not_assignee")
    if action is Action.RATE and state.rating is not None:
        raise TransitionNotAllowed(action.value, "rated", actor.role.value)
    if action is Action.REOPEN and state.rating is not Rating.UNSATISFIED:
        raise TransitionNotAllowed(action.value, "not_unsatisfied", actor.role.value)


def allowed_actions(state: ReportState, actor: Actor) -> list[Action]:
    """The actions `actor` may take now, in table order: what the UI shows as buttons."""
    allowed = []
    for action in TRANSITIONS:
        try:
            check_permission(state, action, actor)
        except (TransitionNotAllowed, PermissionDenied):
            continue
        allowed.append(action)
    return allowed


def _text(value: str | None, field_name: str, minimum: int) -> str:
    text = (value or "").strip()
    if len(text) < minimum:
        raise ValidationError(field_name, f"at least {minimum} characters required")
    return text


def _handling_unit(
    params: ActionParams, lookups: Lookups, state: ReportState, now: datetime
) -> UnitRef:
    if params.to_unit_id is None:
        raise ValidationError("to_unit", "a unit is required")
    unit = lookups.unit(params.to_unit_id)
    if unit is None:
        raise ValidationError("to_unit", "unknown unit")
    if unit.kind not in HANDLING_UNIT_KINDS or unit.kind is UnitKind.CITY_OFFICE:
        raise ValidationError("to_unit", "this unit does not handle reports")
    if unit.id == state.current_unit_id:
        raise ValidationError("to_unit", "the report is already at this unit")
    if not unit.is_valid_on(now.astimezone(HANOI_TZ).date()):
        raise ValidationError("to_unit", "this unit does not exist on this date")
    return unit


def plan(
    state: ReportState,
    action: Action,
    actor: Actor,
    params: ActionParams,
    now: datetime,
    lookups: Lookups,
    deadlines: DeadlinePolicy,
) -> tuple[ReportState, EventRecord]:
    """The state after `action` and the event that records it, or a typed error."""
    check_permission(state, action, actor)
    transition = TRANSITIONS[action]
    new = replace(state, status=transition.target or state.status, version=state.version + 1)
    reason: str | None = None
    template_code: str | None = None

    if action in (Action.ROUTE, Action.DISPATCH, Action.REASSIGN):
        unit = _handling_unit(params, lookups, state, now)
        reason = (params.reason or "").strip() or None
        new = replace(
            new,
            current_unit_id=unit.id,
            assignee_id=None,
            arrived_at=now,
            receipt_due_at=deadlines.receipt_due(now),
            due_at=deadlines.handling_due(now, state.kind, state.category_code, state.priority),
        )
    elif action is Action.ASSIGN:
        if params.assignee_id is None:
            raise ValidationError("assignee", "an officer is required")
        assignee = lookups.user(params.assignee_id)
        if (
            assignee is None
            or assignee.role not in (Role.OFFICER, Role.UNIT_LEADER)
            or assignee.unit_id != state.current_unit_id
        ):
            raise ValidationError("assignee", "not an active officer of this unit")
        priority = params.priority or state.priority
        arrived = state.arrived_at or now
        new = replace(
            new,
            assignee_id=assignee.user_id,
            priority=priority,
            receipt_due_at=None,
            due_at=deadlines.handling_due(arrived, state.kind, state.category_code, priority),
        )
    elif action is Action.DRAFT:
        new = replace(new, result_text=_text(params.result_text, "result_text", MIN_RESULT_CHARS))
    elif action is Action.REFUSE_NOT_OURS:
        reason = _text(params.reason, "reason", MIN_REASON_CHARS)
        template_code = params.template_code
        new = replace(
            new,
            current_unit_id=lookups.city_office_id(),
            assignee_id=None,
            arrived_at=now,
            receipt_due_at=None,
            bounce_count=state.bounce_count + 1,
        )
    elif action is Action.REFUSE_INACCURATE:
        template_code = params.template_code
        text = params.reason
        if template_code is not None:
            template = lookups.template(template_code)
            if template is None or template.kind is not TemplateKind.REFUSAL_INACCURATE:
                raise ValidationError("template", "unknown refusal template")
            text = (text or "").strip() or template.text_vi
        reason = _text(text, "reason", MIN_REASON_CHARS)
        new = replace(new, finished_at=now, receipt_due_at=None)
    elif action is Action.REJECT:
        reason = _text(params.reason, "reason", MIN_REASON_CHARS)
    elif action is Action.PUBLISH:
        new = replace(new, finished_at=now, is_public=params.is_public)
    elif action is Action.RATE:
        if params.rating is None:
            raise ValidationError("rating", "a rating is required")
        new = replace(new, rating=params.rating, rated_at=now)
    elif action is Action.REOPEN:
        reason = _text(params.reason, "reason", MIN_REASON_CHARS)
        new = replace(
            new,
            finished_at=None,
            rating=None,
            rated_at=None,
            arrived_at=now,
            due_at=deadlines.handling_due(now, state.kind, state.category_code, state.priority),
        )

    event = EventRecord(
        action=action,
        at=now,
        actor_id=actor.user_id,
        actor_role=actor.role,
        from_status=state.status,
        to_status=new.status,
        from_unit_id=state.current_unit_id,
        to_unit_id=new.current_unit_id,
        assignee_id=new.assignee_id,
        priority=new.priority,
        due_at=new.due_at,
        seq=new.version,
        reason=reason,
        template_code=template_code,
        result_text=new.result_text if action is Action.DRAFT else None,
        rating=new.rating if action is Action.RATE else None,
        is_public=new.is_public if action is Action.PUBLISH else None,
    )
    return new, event


# -------------------------------------------------------- the database side


def state_of(report: Report, category_code: str) -> ReportState:
    return ReportState(
        status=Status(report.status),
        kind=report.kind,
        category_code=category_code,
        received_at=report.received_at,
        current_unit_id=report.current_unit_id,
        assignee_id=report.assignee_id,
        priority=Priority(report.priority),
        arrived_at=report.arrived_at,
        receipt_due_at=report.receipt_due_at,
        due_at=report.due_at,
        finished_at=report.finished_at,
        result_text=report.result_text,
        is_public=report.is_public,
        rating=Rating(report.rating) if report.rating else None,
        rated_at=report.rated_at,
        bounce_count=report.bounce_count,
        version=report.version,
    )


def write_state(report: Report, state: ReportState, now: datetime) -> None:
    """Copy a planned state onto the ORM row (the version is bumped by the mapper)."""
    report.status = state.status.value
    report.current_unit_id = state.current_unit_id
    report.assignee_id = state.assignee_id
    report.priority = state.priority.value
    report.arrived_at = state.arrived_at
    report.receipt_due_at = state.receipt_due_at
    report.due_at = state.due_at
    report.finished_at = state.finished_at
    report.result_text = state.result_text
    report.is_public = state.is_public
    report.rating = state.rating.value if state.rating else None
    report.rated_at = state.rated_at
    report.bounce_count = state.bounce_count
    report.updated_at = now
    flag_modified(report, "updated_at")  # every action is an UPDATE, so the version moves


def event_values(report_id: int, event: EventRecord) -> dict[str, Any]:
    """The `report_event` columns of an event: one mapping for the ORM and bulk inserts."""
    return {
        "report_id": report_id,
        "seq": event.seq,
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role.value,
        "action": event.action.value,
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value,
        "from_unit_id": event.from_unit_id,
        "to_unit_id": event.to_unit_id,
        "assignee_id": event.assignee_id,
        "priority": event.priority.value if event.priority else None,
        "due_at": event.due_at,
        "reason": event.reason,
        "template_code": event.template_code,
        "result_text": event.result_text,
        "rating": event.rating.value if event.rating else None,
        "is_public": event.is_public,
        "source_file": None,
        "source_row": None,
    }


def event_row(report_id: int, event: EventRecord) -> ReportEvent:
    return ReportEvent(**event_values(report_id, event))


SQLITE_BUSY_SNAPSHOT = 517


def is_stale_snapshot(exc: OperationalError) -> bool:
    """SQLite (WAL) refuses a write from a transaction that read an older snapshot:
    someone else wrote in between, which for us is an optimistic-lock conflict."""
    return getattr(exc.orig, "sqlite_errorcode", None) == SQLITE_BUSY_SNAPSHOT


def last_change(session: Session, report_id: int) -> tuple[str | None, datetime | None]:
    """Who changed the report last and when: what a conflict message tells the user."""
    row = session.exec(
        select(User.username, ReportEvent.at)
        .join(User, col(User.id) == col(ReportEvent.actor_id), isouter=True)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.seq).desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def category_code_of(session: Session, category_id: int) -> str:
    code = session.exec(select(Category.code).where(Category.id == category_id)).first()
    if code is None:
        raise NotFound("category", category_id)
    return code


def apply(
    session: Session,
    *,
    action: Action,
    report_id: int,
    actor: Actor,
    expected_version: int,
    now: datetime,
    params: ActionParams | None = None,
    deadlines: DeadlinePolicy | None = None,
    lookups: Lookups | None = None,
) -> Report:
    """Fire `action` on a report: new state, version + 1 and the event, or an error.

    Nothing is written when any check fails; a version that moved since the user read
    the report raises `ConflictError` naming who changed it and when.
    """
    if deadlines is None:
        from ihanoi_core.deadlines import policy_for

        deadlines = policy_for(session)
    report = session.get(Report, report_id)
    if report is None or report.id is None:
        raise NotFound("report", report_id)
    if report.version != expected_version:
        who, when = last_change(session, report_id)
        raise ConflictError(report_id, expected_version, report.version, who, when)
    lookups = lookups or SessionLookups(session)
    # The rules judge the account as it is now, not as it was at login: a deactivated
    # user or one moved to another unit cannot act with a stale session.
    current = lookups.user(actor.user_id) if actor.user_id is not None else None
    if current is None:
        raise PermissionDenied(action.value, actor.role.value, "inactive")
    state = state_of(report, category_code_of(session, report.category_id))
    new_state, event = plan(
        state, action, current, params or ActionParams(), now, lookups, deadlines
    )
    try:
        # A savepoint, so a lost race undoes only this write, not the caller's transaction.
        with session.begin_nested():
            write_state(report, new_state, now)
            session.flush()
    except (StaleDataError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and not is_stale_snapshot(exc):
            raise
        session.expire(report)
        # This transaction's snapshot is stale: ask a fresh connection who changed it.
        with Session(session.get_bind()) as fresh:
            who, when = last_change(fresh, report_id)
        raise ConflictError(report_id, expected_version, expected_version + 1, who, when) from exc
    session.add(event_row(report.id, event))
    session.flush()
    return report
