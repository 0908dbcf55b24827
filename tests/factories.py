"""Test data built through the real services and workflow (never by writing statuses).

`report_in(status)` drives a new report along the shortest legal path, so every test
report has a history the transition table allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from ihanoi_core.models import Report, ReportCreate, Unit, UserCreate
from ihanoi_core.services import create_report, create_user, system_actor
from ihanoi_core.vocab import Action, Priority, Rating, Role, Status
from ihanoi_core.workflow import ActionParams, Actor, apply

PASSWORD = "mat-khau-thu-nghiem"  # test-only
_HASH_CACHE: dict[str, str] = {}


def unit_id(session: Session, code: str) -> int:
    uid = session.exec(select(Unit.id).where(Unit.code == code)).first()
    assert uid is not None, f"no unit {code}"
    return uid


def make_user(
    session: Session, now: datetime, username: str, role: Role, unit_code: str | None = None
) -> Actor:
    """A user (bcrypt hash computed once per test run: it is deliberately slow)."""
    from ihanoi_core.services import hash_password

    if PASSWORD not in _HASH_CACHE:
        _HASH_CACHE[PASSWORD] = hash_password(PASSWORD)
    user = create_user(
        session,
        data=UserCreate(
            username=username,
            full_name=username,
            role=role.value,
            unit_code=unit_code,
            password=PASSWORD,
        ),
        now=now,
        password_hash=_HASH_CACHE[PASSWORD],
    )
    return Actor.of(user)


def make_report(
    session: Session,
    now: datetime,
    *,
    kind: str = "onsite",
    category_code: str = "rac_thai",
    lat: float | None = None,
    lon: float | None = None,
    title: str = "Rác thải tập kết sai quy định",
    submitted_at: datetime | None = None,
    source_ref: str | None = None,
) -> Report:
    """A new report; without coordinates it waits for the dispatcher (no router needed)."""
    return create_report(
        session,
        data=ReportCreate(
            kind=kind,
            category_code=category_code,
            title=title,
            description="Mô tả thử nghiệm",
            address="Hà Nội",
            lat=lat,
            lon=lon,
            submitted_at=submitted_at or now,
            source_ref=source_ref,
        ),
        now=now,
    )


class Cast:
    """The people of a small test city: a dispatcher, a leader, and two units' staff."""

    def __init__(
        self, session: Session, now: datetime, unit: str = "002", other_unit: str = "001"
    ) -> None:
        self.unit_code, self.other_unit_code = unit, other_unit
        self.unit_id = unit_id(session, unit)
        self.other_unit_id = unit_id(session, other_unit)
        self.dispatcher = make_user(session, now, "dieu_phoi", Role.DISPATCHER)
        self.leader = make_user(session, now, "lanh_dao", Role.LEADER)
        self.analyst = make_user(session, now, "phan_tich", Role.ANALYST)
        self.admin = make_user(session, now, "quan_tri", Role.ADMIN)
        self.unit_leader = make_user(session, now, "truong_dv", Role.UNIT_LEADER, unit)
        self.officer = make_user(session, now, "can_bo", Role.OFFICER, unit)
        self.officer2 = make_user(session, now, "can_bo_2", Role.OFFICER, unit)
        self.other_leader = make_user(session, now, "truong_khac", Role.UNIT_LEADER, other_unit)
        self.other_officer = make_user(session, now, "can_bo_khac", Role.OFFICER, other_unit)
        self.system = system_actor(session)


def step(
    session: Session, report: Report, action: Action, actor: Actor, now: datetime, **params: object
) -> Report:
    assert report.id is not None
    return apply(
        session,
        action=action,
        report_id=report.id,
        actor=actor,
        expected_version=report.version,
        now=now,
        params=ActionParams(**params),
    )  # type: ignore[arg-type]


def report_in(
    session: Session,
    cast: Cast,
    status: Status,
    now: datetime,
    *,
    rating: Rating | None = None,
    priority: Priority = Priority.NORMAL,
    hours_per_step: float = 1.0,
    **report_kwargs: object,
) -> Report:
    """A report at `cast.unit` brought to `status` through the legal path."""
    t = now
    report = make_report(session, t, **report_kwargs)  # type: ignore[arg-type]

    def nxt() -> datetime:
        nonlocal t
        t = t + timedelta(hours=hours_per_step)
        return t

    if status is Status.RECEIVED:
        return report
    report = step(session, report, Action.DISPATCH, cast.dispatcher, nxt(), to_unit_id=cast.unit_id)
    if status is Status.WAITING:
        return report
    if status is Status.RETURNED:
        return step(
            session,
            report,
            Action.REFUSE_NOT_OURS,
            cast.unit_leader,
            nxt(),
            reason="Không thuộc thẩm quyền",
        )
    report = step(
        session,
        report,
        Action.ASSIGN,
        cast.unit_leader,
        nxt(),
        assignee_id=cast.officer.user_id,
        priority=priority,
    )
    if status is Status.ASSIGNED:
        return report
    if status is Status.REFUSED:
        return step(
            session,
            report,
            Action.REFUSE_INACCURATE,
            cast.officer,
            nxt(),
            template_code="tu_choi_thong_tin_khong_ro",
        )
    report = step(
        session,
        report,
        Action.DRAFT,
        cast.officer,
        nxt(),
        result_text="Đã kiểm tra và xử lý xong tại hiện trường.",
    )
    if status is Status.DRAFTED:
        return report
    report = step(session, report, Action.APPROVE, cast.unit_leader, nxt())
    if status is Status.APPROVED:
        return report
    report = step(session, report, Action.PUBLISH, cast.unit_leader, nxt(), is_public=True)
    if rating is not None:
        report = step(session, report, Action.RATE, cast.system, nxt(), rating=rating)
    return report
