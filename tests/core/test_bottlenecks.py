"""The bottleneck table on a week whose every stay was counted by hand, in working hours.

Office hours 08:00-12:00 and 13:00-17:00 (Hanoi), Monday to Friday; no holiday in
August 2024. The period is the week Mon 05/08 00:00 - Mon 12/08 00:00 (Hanoi).

    id unit  history (Hanoi time)                                     stays ended in the week
    A  002   received Mon 05/08 08:00, dispatched 10:00, assigned     dispatch 2, waiting 5,
             16:00, drafted Tue 06/08 09:00, approved 11:00,          handling 2, approval 2,
             published 12:30                                          publication 1
    B  002   received Mon 08:00, dispatched 09:00, assigned Fri       dispatch 1, waiting 32,
             09/08 09:00, drafted 10:00 (waits for approval)          handling 1
    C  002   received Fri 16:00, dispatched 16:30 (waits at 002)      dispatch 0.5
    D  001   received Tue 08:00, dispatched 12:00, assigned 13:30     dispatch 4, waiting 0.5
             (being handled)
    E  002   received Thu 01/08 08:00, dispatched 09:00 (before the   waiting 15 (Thu 7 + Fri 8)
             week), assigned Mon 05/08 08:00, drafted Tue 13/08
             09:00 (after the week: still handling at AS_OF)

Dispatch stays are held by the city office (VP-UBND).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from ihanoi_core.bottlenecks import StepTime, step_times, working_hours_between
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.models import Report
from ihanoi_core.queries import ReportFilter, Step
from ihanoi_core.vocab import Action, Kind, Priority
from ihanoi_core.workcalendar import load_calendar
from tests.factories import Cast, make_report, step


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


START = hanoi(8, 5, 0)
END = hanoi(8, 12, 0)
AS_OF = END


def _walk(
    session: Session,
    cast: Cast,
    times: list[datetime],
    *,
    unit: int | None = None,
    kind: str = "onsite",
) -> Report:
    """Receive at times[0], then dispatch, assign, draft, approve, publish at the next ones."""
    category = "rac_thai" if kind == "onsite" else "tthc_khac"
    report = make_report(session, times[0], kind=kind, category_code=category)
    to_unit = unit or cast.unit_id
    officer = cast.officer if to_unit == cast.unit_id else cast.other_officer
    leader = cast.unit_leader if to_unit == cast.unit_id else cast.other_leader
    plan: list[tuple[Action, object, dict[str, object]]] = [
        (Action.DISPATCH, cast.dispatcher, {"to_unit_id": to_unit}),
        (
            Action.ASSIGN,
            leader,
            {"assignee_id": officer.user_id, "priority": Priority.NORMAL},
        ),
        (Action.DRAFT, officer, {"result_text": "Đã xử lý xong tại hiện trường."}),
        (Action.APPROVE, leader, {}),
        (Action.PUBLISH, leader, {"is_public": True}),
    ]
    for at, (action, actor, params) in zip(times[1:], plan, strict=False):
        report = step(session, report, action, actor, at, **params)  # type: ignore[arg-type]
    return report


def build_week(session: Session) -> Cast:
    cast = Cast(session, hanoi(7, 1, 8))
    _walk(
        session,
        cast,
        [
            hanoi(8, 5, 8),
            hanoi(8, 5, 10),
            hanoi(8, 5, 16),
            hanoi(8, 6, 9),
            hanoi(8, 6, 11),
            hanoi(8, 6, 12, 30),
        ],
    )
    _walk(session, cast, [hanoi(8, 5, 8), hanoi(8, 5, 9), hanoi(8, 9, 9), hanoi(8, 9, 10)])
    _walk(session, cast, [hanoi(8, 9, 16), hanoi(8, 9, 16, 30)], kind="procedure")
    _walk(
        session,
        cast,
        [hanoi(8, 6, 8), hanoi(8, 6, 12), hanoi(8, 6, 13, 30)],
        unit=cast.other_unit_id,
    )
    _walk(session, cast, [hanoi(8, 1, 8), hanoi(8, 1, 9), hanoi(8, 5, 8), hanoi(8, 13, 9)])
    session.commit()
    return cast


def cell(rows: list[StepTime], code: str | None, s: Step) -> tuple[object, ...]:
    found = [r for r in rows if r.unit_code == code and r.step is s]
    assert len(found) == 1, (code, s, rows)
    r = found[0]
    return (r.count, r.median_hours, r.p90_hours, r.open_count)


def test_step_times_of_the_week_in_working_hours(session: Session) -> None:
    build_week(session)
    rows = step_times(session, start=START, end=END, as_of=AS_OF)
    # waiting at 002: A 5, E 15, B 32 -> median 15; p90 at rank 1.8: 15 + 0.8 * 17 = 28.6.
    # C is still waiting there.
    assert cell(rows, "002", Step.WAITING) == pytest.approx((3, 15.0, 28.6, 1))
    # dispatch: C 0.5, B 1, A 2, D 4 -> median 1.5; p90 at rank 2.7: 2 + 0.7 * 2 = 3.4.
    assert cell(rows, "VP-UBND", Step.DISPATCH) == pytest.approx((4, 1.5, 3.4, 0))
    # handling at 002: B 1, A 2 (A's 12:00-13:00 lunch hour does not count); E open.
    assert cell(rows, "002", Step.HANDLING) == pytest.approx((2, 1.5, 1.9, 1))
    # approval: A 2; B waits for approval.
    assert cell(rows, "002", Step.APPROVAL) == pytest.approx((1, 2.0, 2.0, 1))
    assert cell(rows, "002", Step.PUBLICATION) == pytest.approx((1, 1.0, 1.0, 0))
    assert cell(rows, "001", Step.WAITING) == pytest.approx((1, 0.5, 0.5, 0))
    # D is being handled at 001 and nothing finished handling there: no times.
    count, median, p90, open_count = cell(rows, "001", Step.HANDLING)
    assert (count, open_count) == (0, 1)
    assert math.isnan(median) and math.isnan(p90)  # type: ignore[arg-type]
    # Worst 90th percentile first; the unmeasured cell last.
    assert [(r.unit_code, r.step) for r in rows] == [
        ("002", Step.WAITING),
        ("VP-UBND", Step.DISPATCH),
        ("002", Step.APPROVAL),
        ("002", Step.HANDLING),
        ("002", Step.PUBLICATION),
        ("001", Step.WAITING),
        ("001", Step.HANDLING),
    ]
    city_office = next(r for r in rows if r.step is Step.DISPATCH)
    assert city_office.unit_name == "Văn phòng UBND Thành phố"
    assert city_office.unit_id is not None


def test_as_of_cuts_stays_and_sets_the_open_counts(session: Session) -> None:
    build_week(session)
    # Tue 06/08 10:00: A is drafted (waiting for approval); B waits at 002 since Mon
    # 09:00; D is still with the dispatcher; C does not exist yet; E is being handled.
    rows = step_times(session, start=START, end=END, as_of=hanoi(8, 6, 10))
    assert cell(rows, "002", Step.WAITING) == pytest.approx((2, 10.0, 14.0, 1))  # A 5, E 15
    assert cell(rows, "002", Step.HANDLING) == pytest.approx((1, 2.0, 2.0, 1))  # A; E open
    assert cell(rows, "002", Step.APPROVAL)[3] == 1
    assert cell(rows, "VP-UBND", Step.DISPATCH) == pytest.approx((2, 1.5, 1.9, 1))  # A, B; D
    assert not [r for r in rows if r.unit_code == "001"]


def test_open_counts_late_in_the_history_rewind_the_reports_that_moved_since(
    session: Session,
) -> None:
    build_week(session)
    # Fri 09/08 16:15, nearer the last event (Tue 13/08) than the first (Thu 01/08): the
    # rows of C (dispatched at 16:30) and E (drafted on 13/08) are ahead of that moment.
    # A is published; B waits for approval at 002; C waits for dispatch, not at 002;
    # D is being handled at 001; E is still being handled at 002, not waiting approval.
    rows = step_times(session, start=START, end=END, as_of=hanoi(8, 9, 16, 15))
    open_counts = {(r.unit_code, r.step): r.open_count for r in rows if r.open_count}
    assert open_counts == {
        ("002", Step.APPROVAL): 1,
        ("VP-UBND", Step.DISPATCH): 1,
        ("001", Step.HANDLING): 1,
        ("002", Step.HANDLING): 1,
    }


def test_period_bounds_select_the_stays_that_ended_in_it(session: Session) -> None:
    build_week(session)
    # Only Friday 09/08: B's waiting (32) and handling (1), C's dispatch (0.5).
    rows = step_times(session, start=hanoi(8, 9, 0), end=hanoi(8, 10, 0), as_of=AS_OF)
    measured = {(r.unit_code, r.step): r.count for r in rows if r.count}
    assert measured == {
        ("002", Step.WAITING): 1,
        ("002", Step.HANDLING): 1,
        ("VP-UBND", Step.DISPATCH): 1,
    }
    assert cell(rows, "002", Step.WAITING) == pytest.approx((1, 32.0, 32.0, 1))


def test_unit_filter_means_the_unit_that_held_the_stay(session: Session) -> None:
    cast = build_week(session)
    rows = step_times(
        session, start=START, end=END, as_of=AS_OF, filt=ReportFilter(unit_id=cast.other_unit_id)
    )
    # D waited 0.5 h at 001 and is being handled there; its dispatch stay was the city's.
    assert [(r.unit_code, r.step, r.count, r.open_count) for r in rows] == [
        ("001", Step.WAITING, 1, 0),
        ("001", Step.HANDLING, 0, 1),
    ]


def test_kind_filter(session: Session) -> None:
    build_week(session)
    rows = step_times(
        session, start=START, end=END, as_of=AS_OF, filt=ReportFilter(kind=Kind.PROCEDURE)
    )
    # Only C is a procedure report: dispatched after 0.5 h, waiting at 002.
    assert [(r.unit_code, r.step, r.count, r.open_count) for r in rows] == [
        ("VP-UBND", Step.DISPATCH, 1, 0),
        ("002", Step.WAITING, 0, 1),
    ]


def test_empty_database_and_bad_periods(session: Session) -> None:
    assert step_times(session, start=START, end=END, as_of=AS_OF) == []
    with pytest.raises(ValueError, match="empty period"):
        step_times(session, start=END, end=START, as_of=AS_OF)
    with pytest.raises(ValueError, match="naive"):
        step_times(session, start=datetime(2024, 8, 5), end=END, as_of=AS_OF)


_MOMENTS = st.integers(
    min_value=int(datetime(2023, 1, 1, tzinfo=UTC).timestamp()) + 86_400,
    max_value=int(datetime(2030, 12, 30, tzinfo=UTC).timestamp()),
)


@settings(max_examples=300, deadline=None)
@given(a=_MOMENTS, b=_MOMENTS)
def test_vectorised_working_hours_equal_the_calendar(a: int, b: int) -> None:
    cal = load_calendar()
    expected = cal.working_hours_between(
        datetime.fromtimestamp(a, tz=UTC), datetime.fromtimestamp(b, tz=UTC)
    )
    got = working_hours_between(cal, np.array([float(a)]), np.array([float(b)]))
    assert got[0] == pytest.approx(expected, abs=1e-6)


def test_working_hours_outside_the_calendar_are_refused() -> None:
    cal = load_calendar()
    t = datetime(2031, 1, 5, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="outside the working calendar"):
        working_hours_between(cal, np.array([t]), np.array([t]))
