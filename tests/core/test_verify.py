"""`verify_histories`: the report rows agree with their append-only histories.

The city of `test_queries.build_city` is built through the real workflow, so it must
verify clean; each test then breaks one thing the way a careless script or a buggy
writer would (report rows may be UPDATEd by raw SQL, events only INSERTed) and checks
that exactly that is reported.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from sqlmodel import Session

from ihanoi_core.models import Report, ReportEvent
from ihanoi_core.verify import Mismatch, MismatchCode, check_histories, check_history
from tests.core.test_queries import AS_OF, T0, build_city

# A receive, dispatch, assign, draft, approve, publish, rate (7); B the same (7);
# C 3; D 2; E 4 (refused after assign); F 1; G 3 (returned); H 6 (unrated); I 4;
# J 3; K 2; L 6 (receive, route, assign, draft, approve, publish); M 2 (receive, route).
CITY_EVENTS = 7 + 7 + 3 + 2 + 4 + 1 + 3 + 6 + 4 + 3 + 2 + 6 + 2


def tamper(session: Session, sql: str, **params: object) -> None:
    session.execute(sa.text(sql), params)  # type: ignore[call-overload]


def found(session: Session) -> set[tuple[int, str, str, str | None, str | None]]:
    return {
        (m.report_id, m.code.value, m.field, m.expected, m.actual)
        for m in check_histories(session).mismatches
    }


def test_a_city_built_through_the_workflow_verifies_clean(session: Session) -> None:
    build_city(session)
    result = check_histories(session)
    assert result.mismatches == []
    assert (result.reports, result.events) == (13, CITY_EVENTS)


def test_an_empty_database_verifies_clean(session: Session) -> None:
    result = check_histories(session)
    assert (result.reports, result.events, result.mismatches) == (0, 0, [])


def test_a_status_written_by_hand_is_reported(session: Session) -> None:
    city = build_city(session)
    c = city.ids["C"]  # assigned, overdue: someone "closes" it by hand
    tamper(session, "UPDATE report SET status = 'published' WHERE id = :id", id=c)
    assert check_histories(session).mismatches == [
        Mismatch(c, MismatchCode.STATE_DIFFERS, "status", "assigned", "published")
    ]


def test_unit_version_and_rating_written_by_hand_are_reported(session: Session) -> None:
    city = build_city(session)
    d, b = city.ids["D"], city.ids["B"]
    tamper(
        session,
        "UPDATE report SET current_unit_id = :unit, version = 9 WHERE id = :id",
        unit=city.other,
        id=d,
    )
    tamper(session, "UPDATE report SET rating = 'satisfied' WHERE id = :id", id=b)
    assert found(session) == {
        (d, "state_differs", "current_unit_id", str(city.unit), str(city.other)),
        (d, "state_differs", "version", "2", "9"),
        (b, "state_differs", "rating", "unsatisfied", "satisfied"),
    }


def test_a_result_hidden_by_hand_is_reported(session: Session) -> None:
    city = build_city(session)
    b = city.ids["B"]  # published publicly: the publish event says so
    tamper(session, "UPDATE report SET is_public = :no WHERE id = :id", no=False, id=b)
    assert found(session) == {(b, "state_differs", "is_public", "True", "False")}


def test_a_deadline_moved_by_hand_is_reported(session: Session) -> None:
    city = build_city(session)
    j = city.report(session, "J")
    assert j.due_at is not None
    later = j.due_at + timedelta(days=7)
    tamper(session, "UPDATE report SET due_at = :due WHERE id = :id", due=later, id=j.id)
    # (bound as a plain datetime: on SQLite that is the naive-UTC text the column holds)
    assert [(m.code, m.field) for m in check_histories(session).mismatches] == [
        (MismatchCode.STATE_DIFFERS, "due_at")
    ]


def _event(
    report: Report, seq: int, action: str, frm: str | None, to: str, **kw: object
) -> ReportEvent:
    assert report.id is not None
    fields: dict[str, object] = {
        "report_id": report.id,
        "seq": seq,
        "at": AS_OF,
        "actor_role": "unit_leader",
        "action": action,
        "from_status": frm,
        "to_status": to,
        "from_unit_id": report.current_unit_id,
        "to_unit_id": report.current_unit_id,
        "due_at": report.due_at,
        "priority": "normal",
    }
    fields.update(kw)
    return ReportEvent(**fields)  # type: ignore[arg-type]


def test_an_illegal_transition_written_consistently_is_still_reported(session: Session) -> None:
    city = build_city(session)
    d = city.report(session, "D")  # waiting at 002, version 2
    # A writer that skipped the workflow: "published" straight from "waiting", with
    # the row updated to match. Only the rule is broken.
    session.add(_event(d, 3, "publish", "waiting", "published", actor_role="unit_leader"))
    session.flush()
    tamper(session, "UPDATE report SET status = 'published', version = 3 WHERE id = :id", id=d.id)
    assert found(session) == {
        (d.id, "illegal_transition", "events[3].from_status", "approved", "waiting")
    }


def test_a_role_not_allowed_to_act_is_reported(session: Session) -> None:
    city = build_city(session)
    k = city.report(session, "K")  # waiting at 001, version 2
    # An officer may not assign (only the unit leader may).
    session.add(
        _event(k, 3, "assign", "waiting", "assigned", actor_role="officer", assignee_id=None)
    )
    session.flush()
    tamper(session, "UPDATE report SET status = 'assigned', version = 3 WHERE id = :id", id=k.id)
    assert found(session) == {
        (k.id, "illegal_transition", "events[3].actor_role", "unit_leader", "officer")
    }


def test_a_gap_in_the_history_is_reported(session: Session) -> None:
    city = build_city(session)
    m = city.report(session, "M")  # waiting at 001, version 2
    session.add(
        _event(m, 4, "assign", "waiting", "assigned", assignee_id=city.cast.other_officer.user_id)
    )
    session.flush()
    assert found(session) == {
        (m.id, "seq_gap", "seq", "3", "4"),
        (m.id, "state_differs", "status", "assigned", "waiting"),
        (m.id, "state_differs", "assignee_id", str(city.cast.other_officer.user_id), None),
        (m.id, "state_differs", "version", "4", "2"),
    }


def test_an_event_that_does_not_start_where_the_last_ended_is_reported(session: Session) -> None:
    city = build_city(session)
    m = city.report(session, "M")  # waiting at 001 (city.other)
    officer = city.cast.other_officer.user_id
    session.add(
        _event(m, 3, "assign", "waiting", "assigned", from_unit_id=city.unit, assignee_id=officer)
    )
    session.flush()
    tamper(
        session,
        "UPDATE report SET status = 'assigned', assignee_id = :o, version = 3 WHERE id = :id",
        o=officer,
        id=m.id,
    )
    assert found(session) == {
        (m.id, "broken_chain", "events[3].from_unit_id", str(city.other), str(city.unit))
    }


def test_reports_without_history_or_with_a_bad_first_event(session: Session) -> None:
    city = build_city(session)
    a = city.report(session, "A")

    def bare(code: str) -> Report:
        report = Report(
            code=code,
            kind="onsite",
            category_id=a.category_id,
            title="Nhập tay",
            submitted_at=T0,
            received_at=T0,
            status="waiting",
            current_unit_id=city.unit,
            updated_at=T0,
        )
        session.add(report)
        session.flush()
        return report

    orphan = bare("PA-TAY-1")  # no event at all
    wrong_start = bare("PA-TAY-2")  # its first event is a dispatch, not a receipt
    session.add(
        _event(wrong_start, 1, "dispatch", None, "waiting", actor_role="dispatcher", due_at=None)
    )
    session.flush()
    assert found(session) == {
        (orphan.id, "no_history", "events", "at least 1", "0"),
        (wrong_start.id, "bad_start", "events[1].action", "receive|import", "dispatch"),
        (wrong_start.id, "bad_start", "events[1].to_status", "received", "waiting"),
    }
    assert check_histories(session).reports == 15


def _row(seq: int, action: str, role: str, frm: str | None, to: str, **kw: object) -> object:
    fields: dict[str, object] = {
        "seq": seq,
        "action": action,
        "actor_role": role,
        "from_status": frm,
        "to_status": to,
        "from_unit_id": 1,
        "to_unit_id": 1,
        "assignee_id": 5,
        "due_at": None,
        "rating": None,
        "is_public": None,
    }
    fields.update(kw)
    return SimpleNamespace(**fields)


def _report(**kw: object) -> object:
    fields: dict[str, object] = {
        "id": 1,
        "status": "assigned",
        "current_unit_id": 1,
        "assignee_id": 5,
        "version": 8,
        "due_at": None,
        "rating": None,
        "is_public": False,
    }
    fields.update(kw)
    return SimpleNamespace(**fields)


PUBLISHED_THEN_REOPENED = [
    _row(1, "receive", "system", None, "received", assignee_id=None),
    _row(2, "dispatch", "dispatcher", "received", "waiting", assignee_id=None),
    _row(3, "assign", "unit_leader", "waiting", "assigned"),
    _row(4, "draft", "officer", "assigned", "drafted"),
    _row(5, "approve", "unit_leader", "drafted", "approved"),
    _row(6, "publish", "unit_leader", "approved", "published"),
    _row(7, "rate", "system", "published", "published", rating="unsatisfied"),
    _row(8, "reopen", "leader", "published", "assigned"),
]


def test_check_history_on_plain_rows() -> None:
    """The rules without a database: a reopened report has no rating in force."""
    assert check_history(_report(), PUBLISHED_THEN_REOPENED) == []
    assert check_history(_report(rating="unsatisfied"), PUBLISHED_THEN_REOPENED) == [
        Mismatch(1, MismatchCode.STATE_DIFFERS, "rating", None, "unsatisfied")
    ]


def test_check_history_rating_a_report_that_is_not_published() -> None:
    """RATE keeps the status (target None) but only from "published"."""
    events = [
        *PUBLISHED_THEN_REOPENED,
        _row(9, "rate", "system", "assigned", "assigned", rating="satisfied"),
    ]
    report = _report(version=9, rating="satisfied")
    assert check_history(report, events) == [
        Mismatch(
            1, MismatchCode.ILLEGAL_TRANSITION, "events[9].from_status", "published", "assigned"
        )
    ]


def test_check_history_status_change_on_a_rating_is_reported() -> None:
    events = [*PUBLISHED_THEN_REOPENED[:7]]
    events[6] = _row(7, "rate", "system", "published", "refused", rating="satisfied")
    report = _report(status="refused", version=7, rating="satisfied")
    assert check_history(report, events) == [
        Mismatch(1, MismatchCode.ILLEGAL_TRANSITION, "events[7].to_status", "published", "refused")
    ]
