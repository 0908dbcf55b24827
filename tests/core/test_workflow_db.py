"""The workflow against a real database (SQLite and PostgreSQL): history, refusals, locking.

Every expectation is written out by hand: who acted, what the status and unit were
before and after, and that a refused or stale action leaves no trace at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ihanoi_core.errors import (
    ConflictError,
    IHanoiError,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from ihanoi_core.models import Report, ReportEvent, Template, User
from ihanoi_core.vocab import Action, Priority, Rating, Status
from ihanoi_core.workflow import ActionParams, apply
from tests.factories import Cast, make_report, report_in, step, unit_id

A, S = Action, Status


def city_office_id(session: Session) -> int:
    return unit_id(session, "VP-UBND")


def event_count(session: Session, report_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(ReportEvent).where(ReportEvent.report_id == report_id)
    ).one()


def snapshot(engine: sa.Engine, report_id: int) -> dict[str, Any]:
    """The report row and its event count as another user would read them now."""
    with Session(engine) as s:
        report = s.get(Report, report_id)
        assert report is not None
        row = report.model_dump()
        row["events"] = event_count(s, report_id)
        return row


@dataclass(frozen=True)
class Ev:
    """One expected history row."""

    actor: str
    role: str
    action: Action
    from_status: Status | None
    to_status: Status
    from_unit: str | None
    to_unit: str
    reason: str | None = None


def history(session: Session, report_id: int) -> list[tuple[Any, ...]]:
    rows = session.exec(
        select(ReportEvent, User.username)
        .join(User, col(User.id) == col(ReportEvent.actor_id), isouter=True)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.seq))
    ).all()
    return list(rows)


# ------------------------------------------------------------------ lifecycle


def test_full_lifecycle_history_event_by_event(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    cast = Cast(session, now)
    city = city_office_id(session)
    units = {"city": city, "unit": cast.unit_id}
    report = make_report(session, now)
    assert report.id is not None
    assert (report.status, report.current_unit_id, report.version) == ("received", city, 1)

    hour = timedelta(hours=1)
    times = [now + hour * i for i in range(13)]  # times[0]: reception
    result_1 = "Đã thu gom rác tại điểm phản ánh."
    result_2 = "Đã thu gom rác, gửi kèm ảnh hiện trường sau xử lý."
    result_3 = "Đã thu gom lại và lắp biển cấm đổ rác tại điểm."
    steps: list[tuple[Action, Any, dict[str, Any]]] = [
        (A.DISPATCH, cast.dispatcher, {"to_unit_id": cast.unit_id, "reason": "Đúng địa bàn"}),
        (A.ASSIGN, cast.unit_leader, {"assignee_id": cast.officer.user_id}),
        (A.DRAFT, cast.officer, {"result_text": result_1}),
        (A.REJECT, cast.unit_leader, {"reason": "Thiếu ảnh hiện trường"}),
        (A.DRAFT, cast.officer, {"result_text": result_2}),
        (A.APPROVE, cast.unit_leader, {}),
        (A.PUBLISH, cast.unit_leader, {"is_public": True}),
        (A.RATE, cast.system, {"rating": Rating.UNSATISFIED}),
        (A.REOPEN, cast.leader, {"reason": "Công dân chưa hài lòng, xử lý lại"}),
        (A.DRAFT, cast.officer, {"result_text": result_3}),
        (A.APPROVE, cast.unit_leader, {}),
        (A.PUBLISH, cast.unit_leader, {"is_public": True}),
    ]
    for i, (action, actor, params) in enumerate(steps, start=1):
        report = step(session, report, action, actor, times[i], **params)
        assert report.version == i + 1, f"after {action}"
    session.commit()

    expected = [
        Ev("system", "system", A.RECEIVE, None, S.RECEIVED, None, "city"),
        Ev("dieu_phoi", "dispatcher", A.DISPATCH, S.RECEIVED, S.WAITING, "city", "unit",
           "Đúng địa bàn"),
        Ev("truong_dv", "unit_leader", A.ASSIGN, S.WAITING, S.ASSIGNED, "unit", "unit"),
        Ev("can_bo", "officer", A.DRAFT, S.ASSIGNED, S.DRAFTED, "unit", "unit"),
        Ev("truong_dv", "unit_leader", A.REJECT, S.DRAFTED, S.ASSIGNED, "unit", "unit",
           "Thiếu ảnh hiện trường"),
        Ev("can_bo", "officer", A.DRAFT, S.ASSIGNED, S.DRAFTED, "unit", "unit"),
        Ev("truong_dv", "unit_leader", A.APPROVE, S.DRAFTED, S.APPROVED, "unit", "unit"),
        Ev("truong_dv", "unit_leader", A.PUBLISH, S.APPROVED, S.PUBLISHED, "unit", "unit"),
        Ev("system", "system", A.RATE, S.PUBLISHED, S.PUBLISHED, "unit", "unit"),
        Ev("lanh_dao", "leader", A.REOPEN, S.PUBLISHED, S.ASSIGNED, "unit", "unit",
           "Công dân chưa hài lòng, xử lý lại"),
        Ev("can_bo", "officer", A.DRAFT, S.ASSIGNED, S.DRAFTED, "unit", "unit"),
        Ev("truong_dv", "unit_leader", A.APPROVE, S.DRAFTED, S.APPROVED, "unit", "unit"),
        Ev("truong_dv", "unit_leader", A.PUBLISH, S.APPROVED, S.PUBLISHED, "unit", "unit"),
    ]  # fmt: skip

    with Session(engine) as fresh:
        rows = history(fresh, report.id)
        assert len(rows) == len(expected)
        for seq, ((event, username), exp) in enumerate(zip(rows, expected, strict=True), 1):
            got = (
                event.seq,
                username,
                event.actor_role,
                event.action,
                event.from_status,
                event.to_status,
                event.from_unit_id,
                event.to_unit_id,
                event.reason,
                event.at,
            )
            want = (
                seq,
                exp.actor,
                exp.role,
                exp.action.value,
                exp.from_status.value if exp.from_status else None,
                exp.to_status.value,
                units[exp.from_unit] if exp.from_unit else None,
                units[exp.to_unit],
                exp.reason,
                times[seq - 1],
            )
            assert got == want, f"event {seq} ({exp.action.value})"
        drafts = [e.result_text for e, _ in rows if e.action == "draft"]
        assert drafts == [result_1, result_2, result_3]
        assert [e.rating for e, _ in rows if e.action == "rate"] == ["unsatisfied"]
        assert all(e.assignee_id == cast.officer.user_id for e, _ in rows[2:])

        final = fresh.get(Report, report.id)
        assert final is not None
        assert final.status == "published"
        assert final.version == 13 == rows[-1][0].seq
        assert final.current_unit_id == cast.unit_id
        assert final.assignee_id == cast.officer.user_id
        assert final.result_text == result_3
        assert final.finished_at == times[12]
        assert final.rating is None and final.rated_at is None  # the new result is not rated
        assert final.is_public is True
        assert final.updated_at == times[12]


# ------------------------------------------------------------------ refusals


def test_refuse_not_ours_goes_back_to_the_dispatcher_then_elsewhere(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    cast = Cast(session, now)
    city = city_office_id(session)
    report = report_in(session, cast, S.ASSIGNED, now)
    assert report.id is not None
    t = now + timedelta(hours=5)
    report = step(
        session,
        report,
        A.REFUSE_NOT_OURS,
        cast.officer,
        t,
        reason="Vị trí thuộc địa bàn Ba Đình",
        template_code="khong_thuoc_dia_ban",
    )
    session.commit()
    row = snapshot(engine, report.id)
    assert row["status"] == "returned"
    assert row["current_unit_id"] == city
    assert row["assignee_id"] is None
    assert row["bounce_count"] == 1
    assert row["finished_at"] is None
    assert row["arrived_at"] == t

    # the unit that refused can no longer touch it; the dispatcher sends it on
    with pytest.raises((PermissionDenied, TransitionNotAllowed)):
        step(session, report, A.REFUSE_NOT_OURS, cast.unit_leader, t, reason="Lần nữa")
    t2 = t + timedelta(hours=1)
    report = step(session, report, A.DISPATCH, cast.dispatcher, t2, to_unit_id=cast.other_unit_id)
    report = step(
        session, report, A.ASSIGN, cast.other_leader, t2, assignee_id=cast.other_officer.user_id
    )
    session.commit()
    row = snapshot(engine, report.id)
    assert row["status"] == "assigned"
    assert row["current_unit_id"] == cast.other_unit_id
    assert row["assignee_id"] == cast.other_officer.user_id
    assert row["bounce_count"] == 1

    with Session(engine) as fresh:
        events = [e for e, _ in history(fresh, report.id)]
        refusal = next(e for e in events if e.action == "refuse_not_ours")
        assert (refusal.from_status, refusal.to_status) == ("assigned", "returned")
        assert (refusal.from_unit_id, refusal.to_unit_id) == (cast.unit_id, city)
        assert refusal.reason == "Vị trí thuộc địa bàn Ba Đình"
        assert refusal.template_code == "khong_thuoc_dia_ban"
        assert [e.action for e in events][-2:] == ["dispatch", "assign"]
        assert (events[-2].from_unit_id, events[-2].to_unit_id) == (city, cast.other_unit_id)


def test_refuse_inaccurate_with_template_closes_the_report(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    cast = Cast(session, now)
    report = report_in(session, cast, S.ASSIGNED, now)
    assert report.id is not None
    t = now + timedelta(hours=4)
    report = step(
        session,
        report,
        A.REFUSE_INACCURATE,
        cast.officer,
        t,
        template_code="tu_choi_tranh_chap_dat_dai",
    )
    session.commit()
    row = snapshot(engine, report.id)
    assert row["status"] == "refused"
    assert row["finished_at"] == t
    assert row["current_unit_id"] == cast.unit_id
    with Session(engine) as fresh:
        template = fresh.exec(
            select(Template).where(Template.code == "tu_choi_tranh_chap_dat_dai")
        ).one()
        event = history(fresh, report.id)[-1][0]
        assert event.action == "refuse_inaccurate"
        assert event.template_code == "tu_choi_tranh_chap_dat_dai"
        assert event.reason == template.text_vi
        assert event.reason.startswith("Nội dung phản ánh đề nghị giải quyết tranh chấp đất đai")
    # closed: nobody can act on it any more except by the rules (nothing for the unit)
    with pytest.raises(TransitionNotAllowed):
        step(session, report, A.DRAFT, cast.officer, t, result_text="Đã xử lý xong rồi")


# ------------------------------------------------------------ optimistic locking


def test_stale_version_raises_conflict_naming_who_and_when_and_writes_nothing(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    cast = Cast(session, now)
    report = report_in(session, cast, S.WAITING, now)  # dispatched at now + 1 h
    assert report.id is not None and report.version == 2
    session.commit()
    before = snapshot(engine, report.id)

    with pytest.raises(ConflictError) as info:
        apply(
            session,
            action=A.ASSIGN,
            report_id=report.id,
            actor=cast.unit_leader,
            expected_version=1,
            now=now + timedelta(hours=2),
            params=ActionParams(assignee_id=cast.officer.user_id),
        )
    err = info.value
    assert (err.report_id, err.expected_version, err.actual_version) == (report.id, 1, 2)
    assert err.changed_by == "dieu_phoi"
    assert err.changed_at == now + timedelta(hours=1)
    session.commit()  # even committing what the session holds writes nothing
    assert snapshot(engine, report.id) == before


def test_concurrent_update_second_writer_gets_conflict_not_overwrite(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    cast = Cast(session, now)
    report = report_in(session, cast, S.WAITING, now)
    assert report.id is not None
    rid = report.id
    session.commit()
    t_first, t_second = now + timedelta(hours=2), now + timedelta(hours=3)

    with Session(engine) as first, Session(engine) as second:
        seen_first = first.get(Report, rid)
        seen_second = second.get(Report, rid)
        assert seen_first is not None and seen_second is not None
        assert seen_first.version == seen_second.version == 2

        apply(
            first,
            action=A.ASSIGN,
            report_id=rid,
            actor=cast.unit_leader,
            expected_version=seen_first.version,
            now=t_first,
            params=ActionParams(assignee_id=cast.officer.user_id, priority=Priority.URGENT),
        )
        first.commit()

        with pytest.raises(ConflictError) as info:
            apply(
                second,
                action=A.ASSIGN,
                report_id=rid,
                actor=cast.unit_leader,
                expected_version=seen_second.version,
                now=t_second,
                params=ActionParams(assignee_id=cast.officer2.user_id),
            )
        second.rollback()
    assert info.value.changed_by == "truong_dv"
    assert info.value.changed_at == t_first
    assert info.value.expected_version == 2

    row = snapshot(engine, rid)
    assert row["version"] == 3
    assert row["events"] == 3  # receive, dispatch, the first assign
    assert row["assignee_id"] == cast.officer.user_id
    assert row["priority"] == "urgent"
    assert row["updated_at"] == t_first


# --------------------------------------------------------- refused, nothing written


@dataclass(frozen=True)
class Ref:
    """A unit or user of the cast, resolved once the database has ids."""

    name: str


FORBIDDEN = [
    pytest.param(S.DRAFTED, A.APPROVE, "officer", {}, PermissionDenied, id="officer_approves"),
    pytest.param(S.APPROVED, A.PUBLISH, "analyst", {}, PermissionDenied, id="analyst_publishes"),
    pytest.param(
        S.DRAFTED, A.REOPEN, "leader", {"reason": "Xử lý lại đi"}, TransitionNotAllowed,
        id="reopen_unpublished",
    ),
    pytest.param(
        S.PUBLISHED, A.DISPATCH, "dispatcher", {"to_unit_id": Ref("other")}, TransitionNotAllowed,
        id="dispatch_published",
    ),
    pytest.param(
        S.ASSIGNED, A.DRAFT, "other_officer", {"result_text": "Đã xử lý xong việc"},
        PermissionDenied, id="officer_of_other_unit_drafts",
    ),
    pytest.param(
        S.WAITING, A.ASSIGN, "other_leader", {"assignee_id": Ref("other_officer")},
        PermissionDenied, id="leader_of_other_unit_assigns",
    ),
    pytest.param(
        S.ASSIGNED, A.DRAFT, "officer2", {"result_text": "Đã xử lý xong việc"}, PermissionDenied,
        id="officer_not_assignee_drafts",
    ),
    pytest.param(
        S.RECEIVED, A.DISPATCH, "dispatcher", {"to_unit_id": Ref("city")}, ValidationError,
        id="dispatch_to_city_office",
    ),
    pytest.param(
        S.WAITING, A.ASSIGN, "unit_leader", {"assignee_id": Ref("other_officer")}, ValidationError,
        id="assign_to_officer_of_other_unit",
    ),
    pytest.param(
        S.DRAFTED, A.REJECT, "unit_leader", {"reason": "Sai"}, ValidationError,
        id="reject_with_too_short_reason",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("status", "action", "who", "raw", "error"), FORBIDDEN)
def test_refused_action_raises_and_writes_nothing(
    session: Session,
    engine: sa.Engine,
    now: datetime,
    status: Status,
    action: Action,
    who: str,
    raw: dict[str, Any],
    error: type[IHanoiError],
) -> None:
    cast = Cast(session, now)
    report = report_in(session, cast, status, now)
    assert report.id is not None
    session.commit()
    before = snapshot(engine, report.id)
    ids = {
        "other": cast.other_unit_id,
        "city": city_office_id(session),
        "other_officer": cast.other_officer.user_id,
    }
    params = {k: ids[v.name] if isinstance(v, Ref) else v for k, v in raw.items()}

    with pytest.raises(error) as info:
        step(session, report, action, getattr(cast, who), now + timedelta(hours=9), **params)
    assert type(info.value) is error
    session.commit()
    assert snapshot(engine, report.id) == before


def test_officer_of_another_unit_is_told_it_is_about_the_unit(
    session: Session, now: datetime
) -> None:
    cast = Cast(session, now)
    report = report_in(session, cast, S.ASSIGNED, now)
    with pytest.raises(PermissionDenied) as info:
        step(
            session,
            report,
            A.REFUSE_INACCURATE,
            cast.other_officer,
            now + timedelta(hours=5),
            template_code="tu_choi_thong_tin_khong_ro",
        )
    assert info.value.reason == "unit"
    assert info.value.role == "officer"
    assert report.status == "assigned"
