"""The workflow's permission matrix and guards, pure (no database).

The EXPECTED table below is written from the domain ("The life of a report" in
docs/domain.md), not read from `workflow.TRANSITIONS`: if someone widens or narrows
the transition table, a named combination here fails. Deadlines are counted by hand
on Hanoi office hours (08:00-12:00, 13:00-17:00, Mon-Fri).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import default_policy
from ihanoi_core.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from ihanoi_core.vocab import Action, Priority, Rating, Role, Status, TemplateKind, UnitKind
from ihanoi_core.workflow import (
    ActionParams,
    Actor,
    EventRecord,
    InMemoryLookups,
    ReportState,
    TemplateRef,
    UnitRef,
    allowed_actions,
    check_permission,
    plan,
)

S, A, R = Status, Action, Role

# ------------------------------------------------------------ the expected table

# role -> {action: statuses it may fire the action from}. Independent of TRANSITIONS.
EXPECTED: dict[Role, dict[Action, set[Status]]] = {
    R.SYSTEM: {
        A.ROUTE: {S.RECEIVED},
        A.RATE: {S.PUBLISHED},
    },
    R.DISPATCHER: {
        A.DISPATCH: {S.RECEIVED, S.RETURNED},
        A.REASSIGN: {S.WAITING, S.ASSIGNED},
    },
    R.UNIT_LEADER: {
        A.ASSIGN: {S.WAITING, S.ASSIGNED},
        A.DRAFT: {S.ASSIGNED},
        A.REFUSE_NOT_OURS: {S.WAITING, S.ASSIGNED},
        A.REFUSE_INACCURATE: {S.WAITING, S.ASSIGNED},
        A.APPROVE: {S.DRAFTED},
        A.REJECT: {S.DRAFTED},
        A.PUBLISH: {S.APPROVED},
    },
    R.OFFICER: {
        A.DRAFT: {S.ASSIGNED},
        A.REFUSE_NOT_OURS: {S.WAITING, S.ASSIGNED},
        A.REFUSE_INACCURATE: {S.WAITING, S.ASSIGNED},
    },
    R.LEADER: {A.REOPEN: {S.PUBLISHED}},
    R.ANALYST: {},
    R.ADMIN: {},
}
# Actions unit roles may fire only on reports at their own unit (officers: only
# on reports assigned to them).
UNIT_SCOPED: frozenset[Action] = frozenset(
    {
        A.ASSIGN,
        A.DRAFT,
        A.REFUSE_NOT_OURS,
        A.REFUSE_INACCURATE,
        A.APPROVE,
        A.REJECT,
        A.PUBLISH,
    }
)
# Where an action exists at all, whoever tries it (union over roles).
SOURCES: dict[Action, set[Status]] = {}
for _per_role in EXPECTED.values():
    for _action, _statuses in _per_role.items():
        SOURCES.setdefault(_action, set()).update(_statuses)

# ------------------------------------------------------------------ the cast

CITY, UNIT, OTHER, DEPT, WARD = 1, 10, 20, 30, 40
UNKNOWN_UNIT = 999
OFFICER_ID, OFFICER2_ID, UNIT_LEADER_ID = 101, 102, 100
OTHER_OFFICER_ID, OTHER_LEADER_ID = 201, 200
DISPATCHER_ID, LEADER_ID, ANALYST_ID, ADMIN_ID, SYSTEM_ID = 1001, 1002, 1003, 1004, 1005

ACTORS: dict[str, Actor] = {
    "dispatcher": Actor(DISPATCHER_ID, R.DISPATCHER, None, "dieu_phoi"),
    "leader": Actor(LEADER_ID, R.LEADER, None, "lanh_dao"),
    "analyst": Actor(ANALYST_ID, R.ANALYST, None, "phan_tich"),
    "admin": Actor(ADMIN_ID, R.ADMIN, None, "quan_tri"),
    "system": Actor(SYSTEM_ID, R.SYSTEM, None, "system"),
    "unit_leader_own_unit": Actor(UNIT_LEADER_ID, R.UNIT_LEADER, UNIT, "truong_dv"),
    "unit_leader_other_unit": Actor(OTHER_LEADER_ID, R.UNIT_LEADER, OTHER, "truong_khac"),
    "officer_assignee": Actor(OFFICER_ID, R.OFFICER, UNIT, "can_bo"),
    "officer_own_unit_not_assignee": Actor(OFFICER2_ID, R.OFFICER, UNIT, "can_bo_2"),
    "officer_other_unit": Actor(OTHER_OFFICER_ID, R.OFFICER, OTHER, "can_bo_khac"),
}

RECEIVED_AT = datetime(2024, 8, 8, 2, 0, tzinfo=UTC)
NOW = datetime(2024, 8, 8, 3, 0, tzinfo=UTC)  # Thursday 08/08/2024, 10:00 in Hanoi


def hn(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A Hanoi wall-clock moment."""
    return datetime(y, mo, d, h, mi, tzinfo=HANOI_TZ)


def state(
    status: Status,
    rating: Rating | None = None,
    *,
    kind: str = "onsite",
    priority: Priority = Priority.NORMAL,
    bounce_count: int = 0,
) -> ReportState:
    """A realistic report in `status`: at the city office before dispatch, else at UNIT."""
    at_city = status in (S.RECEIVED, S.RETURNED)
    assigned = status in (S.ASSIGNED, S.DRAFTED, S.APPROVED, S.PUBLISHED)
    return ReportState(
        status=status,
        kind=kind,
        category_code="rac_thai",
        received_at=RECEIVED_AT,
        current_unit_id=CITY if at_city else UNIT,
        assignee_id=OFFICER_ID if assigned else None,
        priority=priority,
        arrived_at=None if status is S.RECEIVED else RECEIVED_AT,
        result_text="Đã xử lý xong tại hiện trường." if status in (S.DRAFTED, S.APPROVED) else None,
        rating=rating,
        bounce_count=bounce_count,
        version=5,
    )


STATES: dict[str, ReportState] = {s.value: state(s) for s in Status}
STATES["published_satisfied"] = state(S.PUBLISHED, Rating.SATISFIED)
STATES["published_unsatisfied"] = state(S.PUBLISHED, Rating.UNSATISFIED)

ALLOWED = "allowed"


def expected_outcome(st: ReportState, actor: Actor, action: Action) -> object:
    """What the rules say, in the order a user is told: state, role, unit, guard."""
    if st.status not in SOURCES.get(action, set()):
        return TransitionNotAllowed
    if st.status not in EXPECTED[actor.role].get(action, set()):
        return PermissionDenied
    if action in UNIT_SCOPED:
        if actor.unit_id is None or actor.unit_id != st.current_unit_id:
            return PermissionDenied
        if actor.role is R.OFFICER and actor.user_id != st.assignee_id:
            return PermissionDenied
    if action is A.RATE and st.rating is not None:
        return TransitionNotAllowed
    if action is A.REOPEN and st.rating is not Rating.UNSATISFIED:
        return TransitionNotAllowed
    return ALLOWED


MATRIX = [
    pytest.param(state_name, actor_name, action, id=f"{state_name}-{actor_name}-{action.value}")
    for state_name in STATES
    for actor_name in ACTORS
    for action in Action  # every action, including receive/import, which never fire here
]


@pytest.mark.parametrize(("state_name", "actor_name", "action"), MATRIX)
def test_permission_matrix(state_name: str, actor_name: str, action: Action) -> None:
    st, actor = STATES[state_name], ACTORS[actor_name]
    expected = expected_outcome(st, actor, action)
    listed = action in allowed_actions(st, actor)
    if expected is ALLOWED:
        check_permission(st, action, actor)
        assert listed, "allowed but not offered as a button"
    else:
        with pytest.raises((TransitionNotAllowed, PermissionDenied)) as info:
            check_permission(st, action, actor)
        assert type(info.value) is expected
        assert info.value.action == action.value
        assert not listed, "refused but offered as a button"


def test_matrix_expects_some_allowed_and_some_refused_cells() -> None:
    """Guard against a matrix that only checks one outcome."""
    outcomes = [
        expected_outcome(STATES[s], ACTORS[a], action)
        for s, a, action in (p.values for p in MATRIX)
    ]
    assert outcomes.count(ALLOWED) >= 20
    assert outcomes.count(TransitionNotAllowed) > 0
    assert outcomes.count(PermissionDenied) > 0


@pytest.mark.parametrize(
    ("state_name", "actor_name", "buttons"),
    [
        ("received", "dispatcher", [A.DISPATCH]),
        ("received", "system", [A.ROUTE]),
        ("waiting", "unit_leader_own_unit", [A.ASSIGN, A.REFUSE_NOT_OURS, A.REFUSE_INACCURATE]),
        ("waiting", "officer_own_unit_not_assignee", []),
        ("waiting", "dispatcher", [A.REASSIGN]),
        ("assigned", "officer_assignee", [A.DRAFT, A.REFUSE_NOT_OURS, A.REFUSE_INACCURATE]),
        ("assigned", "officer_own_unit_not_assignee", []),
        ("assigned", "unit_leader_other_unit", []),
        ("drafted", "unit_leader_own_unit", [A.APPROVE, A.REJECT]),
        ("drafted", "officer_assignee", []),
        ("approved", "unit_leader_own_unit", [A.PUBLISH]),
        ("published", "system", [A.RATE]),
        ("published_satisfied", "system", []),
        ("published_unsatisfied", "leader", [A.REOPEN]),
        ("published_satisfied", "leader", []),
        ("returned", "dispatcher", [A.DISPATCH]),
        ("refused", "dispatcher", []),
        ("assigned", "analyst", []),
        ("assigned", "admin", []),
    ],
)
def test_buttons_shown(state_name: str, actor_name: str, buttons: list[Action]) -> None:
    """Hand-written spot checks of what the console offers (exact set, no extras)."""
    assert set(allowed_actions(STATES[state_name], ACTORS[actor_name])) == set(buttons)


# ------------------------------------------------------------------- guards

LOOKUPS = InMemoryLookups(
    units={
        CITY: UnitRef(CITY, "VP-UBND", UnitKind.CITY_OFFICE, "Văn phòng UBND Thành phố"),
        UNIT: UnitRef(UNIT, "002", UnitKind.DISTRICT, "Hoàn Kiếm"),
        OTHER: UnitRef(OTHER, "001", UnitKind.DISTRICT, "Ba Đình"),
        DEPT: UnitRef(DEPT, "EVNHN", UnitKind.DEPARTMENT, "Tổng Công ty Điện lực"),
        WARD: UnitRef(WARD, "00037", UnitKind.WARD, "Phúc Tân"),
    },
    users={a.user_id: a for a in ACTORS.values() if a.user_id is not None},
    templates={
        "khong_ro": TemplateRef(
            "khong_ro", TemplateKind.REFUSAL_INACCURATE, "Nội dung phản ánh không rõ ràng."
        ),
        "khong_thuoc": TemplateRef(
            "khong_thuoc", TemplateKind.REFUSAL_NOT_OURS, "Không thuộc chức năng của đơn vị."
        ),
    },
    city_office=CITY,
)
POLICY = default_policy()


def run(
    st: ReportState, action: Action, actor: str, now: datetime = NOW, **params: object
) -> tuple[ReportState, EventRecord]:
    return plan(st, action, ACTORS[actor], ActionParams(**params), now, LOOKUPS, POLICY)  # type: ignore[arg-type]


def test_rate_records_rating_once() -> None:
    published = state(S.PUBLISHED)
    rated, event = run(published, A.RATE, "system", rating=Rating.UNSATISFIED)
    assert rated.status is S.PUBLISHED
    assert rated.rating is Rating.UNSATISFIED and rated.rated_at == NOW
    assert event.rating is Rating.UNSATISFIED
    with pytest.raises(TransitionNotAllowed):
        run(rated, A.RATE, "system", rating=Rating.SATISFIED)


def test_rate_without_a_rating_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        run(state(S.PUBLISHED), A.RATE, "system")
    assert info.value.field == "rating"


@pytest.mark.parametrize("rating", [None, Rating.SATISFIED])
def test_reopen_refused_unless_unsatisfied(rating: Rating | None) -> None:
    with pytest.raises(TransitionNotAllowed):
        run(state(S.PUBLISHED, rating), A.REOPEN, "leader", reason="Kết quả chưa đạt")


def test_reopen_unsatisfied_goes_back_to_the_officer_with_a_new_deadline() -> None:
    st = replace(state(S.PUBLISHED, Rating.UNSATISFIED), finished_at=RECEIVED_AT)
    new, event = run(st, A.REOPEN, "leader", reason="Kết quả chung chung, thiếu ảnh")
    assert new.status is S.ASSIGNED
    assert new.assignee_id == OFFICER_ID and new.current_unit_id == UNIT
    assert new.rating is None and new.rated_at is None and new.finished_at is None
    assert new.arrived_at == NOW
    assert new.due_at == hn(2024, 8, 15, 10)  # normal: 40 working hours
    assert event.reason == "Kết quả chung chung, thiếu ảnh"


REASON_ACTIONS = [
    pytest.param(S.DRAFTED, A.REJECT, "unit_leader_own_unit", id="reject"),
    pytest.param(S.ASSIGNED, A.REFUSE_NOT_OURS, "officer_assignee", id="refuse_not_ours"),
    pytest.param(S.ASSIGNED, A.REFUSE_INACCURATE, "officer_assignee", id="refuse_inaccurate"),
    pytest.param("published_unsatisfied", A.REOPEN, "leader", id="reopen"),
]


def _state_for(key: Status | str) -> ReportState:
    return STATES[key.value if isinstance(key, Status) else key]


@pytest.mark.parametrize(("status", "action", "actor"), REASON_ACTIONS)
@pytest.mark.parametrize("reason", [None, "", "     ", "abcd", "  abcd   "])
def test_reason_too_short_is_refused(
    status: Status | str, action: Action, actor: str, reason: str | None
) -> None:
    with pytest.raises(ValidationError) as info:
        run(_state_for(status), action, actor, reason=reason)
    assert info.value.field == "reason"


@pytest.mark.parametrize(("status", "action", "actor"), REASON_ACTIONS)
def test_reason_of_five_characters_is_enough_and_kept_stripped(
    status: Status | str, action: Action, actor: str
) -> None:
    _, event = run(_state_for(status), action, actor, reason="  Trùng  ")
    assert event.reason == "Trùng"


@pytest.mark.parametrize("text", [None, "", "123456789", "   123456789    "])
def test_draft_needs_a_result_of_ten_characters(text: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        run(state(S.ASSIGNED), A.DRAFT, "officer_assignee", result_text=text)
    assert info.value.field == "result_text"


def test_draft_keeps_the_result_text() -> None:
    new, event = run(state(S.ASSIGNED), A.DRAFT, "officer_assignee", result_text=" Đã dọn rác ")
    assert new.status is S.DRAFTED
    assert new.result_text == "Đã dọn rác"
    assert event.result_text == "Đã dọn rác"


@pytest.mark.parametrize(
    ("status", "action", "actor"),
    [
        (S.RECEIVED, A.DISPATCH, "dispatcher"),
        (S.RETURNED, A.DISPATCH, "dispatcher"),
        (S.WAITING, A.REASSIGN, "dispatcher"),
        (S.RECEIVED, A.ROUTE, "system"),
    ],
)
@pytest.mark.parametrize(
    "to_unit",
    [
        pytest.param(CITY, id="city_office"),
        pytest.param(UNKNOWN_UNIT, id="unknown"),
        pytest.param(WARD, id="ward_does_not_handle"),
        pytest.param(None, id="missing"),
    ],
)
def test_sending_to_a_unit_that_cannot_handle_is_refused(
    status: Status, action: Action, actor: str, to_unit: int | None
) -> None:
    with pytest.raises(ValidationError) as info:
        run(state(status), action, actor, to_unit_id=to_unit)
    assert info.value.field == "to_unit"


@pytest.mark.parametrize("status", [S.WAITING, S.ASSIGNED])
def test_reassign_to_the_same_unit_is_refused(status: Status) -> None:
    with pytest.raises(ValidationError) as info:
        run(state(status), A.REASSIGN, "dispatcher", to_unit_id=UNIT)
    assert info.value.field == "to_unit"


def test_reassign_moves_the_report_and_clears_the_assignee() -> None:
    new, event = run(state(S.ASSIGNED), A.REASSIGN, "dispatcher", to_unit_id=DEPT, reason=" ")
    assert (new.status, new.current_unit_id, new.assignee_id) == (S.WAITING, DEPT, None)
    assert (event.from_unit_id, event.to_unit_id) == (UNIT, DEPT)
    assert event.reason is None


@pytest.mark.parametrize(
    "assignee",
    [
        pytest.param(OTHER_OFFICER_ID, id="officer_of_another_unit"),
        pytest.param(DISPATCHER_ID, id="dispatcher"),
        pytest.param(LEADER_ID, id="city_leader"),
        pytest.param(4242, id="unknown_user"),
        pytest.param(None, id="missing"),
    ],
)
def test_assign_to_someone_not_of_this_unit_is_refused(assignee: int | None) -> None:
    with pytest.raises(ValidationError) as info:
        run(state(S.WAITING), A.ASSIGN, "unit_leader_own_unit", assignee_id=assignee)
    assert info.value.field == "assignee"


def test_assign_urgent_counts_four_working_hours_from_arrival() -> None:
    waiting = replace(state(S.WAITING), arrived_at=NOW, receipt_due_at=hn(2024, 8, 9, 10))
    later = hn(2024, 8, 8, 11)
    new, event = run(
        waiting,
        A.ASSIGN,
        "unit_leader_own_unit",
        later,
        assignee_id=OFFICER2_ID,
        priority=Priority.URGENT,
    )
    assert new.status is S.ASSIGNED and new.assignee_id == OFFICER2_ID
    assert new.priority is Priority.URGENT
    assert new.receipt_due_at is None  # received: the receipt deadline no longer applies
    assert new.due_at == hn(2024, 8, 8, 15)
    assert event.due_at == hn(2024, 8, 8, 15)
    assert event.assignee_id == OFFICER2_ID


@pytest.mark.parametrize("bounces", [0, 1, 3])
def test_refuse_not_ours_returns_to_the_city_office_and_counts_the_bounce(bounces: int) -> None:
    st = state(S.ASSIGNED, bounce_count=bounces)
    later = hn(2024, 8, 8, 14)
    new, event = run(
        st, A.REFUSE_NOT_OURS, "officer_assignee", later, reason="Không thuộc thẩm quyền"
    )
    assert new.status is S.RETURNED
    assert new.current_unit_id == CITY
    assert new.assignee_id is None
    assert new.bounce_count == bounces + 1
    assert new.arrived_at == later
    assert new.finished_at is None
    assert (event.from_unit_id, event.to_unit_id) == (UNIT, CITY)
    assert event.reason == "Không thuộc thẩm quyền"


def test_refuse_inaccurate_with_a_template_sends_the_template_text() -> None:
    new, event = run(
        state(S.ASSIGNED), A.REFUSE_INACCURATE, "officer_assignee", template_code="khong_ro"
    )
    assert new.status is S.REFUSED
    assert new.finished_at == NOW
    assert new.receipt_due_at is None
    assert event.reason == "Nội dung phản ánh không rõ ràng."
    assert event.template_code == "khong_ro"


def test_refuse_inaccurate_edited_text_wins_over_the_template() -> None:
    _, event = run(
        state(S.WAITING),
        A.REFUSE_INACCURATE,
        "unit_leader_own_unit",
        template_code="khong_ro",
        reason="Ảnh lấy từ Internet",
    )
    assert event.reason == "Ảnh lấy từ Internet"
    assert event.template_code == "khong_ro"


@pytest.mark.parametrize("template", ["khong_thuoc", "khong_co"])
def test_refuse_inaccurate_with_a_wrong_template_is_refused(template: str) -> None:
    with pytest.raises(ValidationError) as info:
        run(state(S.ASSIGNED), A.REFUSE_INACCURATE, "officer_assignee", template_code=template)
    assert info.value.field == "template"


# ----------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("kind", "priority", "due"),
    [
        ("onsite", Priority.NORMAL, hn(2024, 8, 15, 10)),  # 40 h = 5 working days
        ("onsite", Priority.URGENT, hn(2024, 8, 8, 15)),  # 4 h, over the lunch break
        ("onsite", Priority.COMPLEX, hn(2024, 8, 22, 10)),  # 80 h = 10 working days
        ("procedure", Priority.NORMAL, hn(2024, 8, 22, 10)),  # 80 h
        ("procedure", Priority.URGENT, hn(2024, 8, 8, 15)),  # 4 h
    ],
)
@pytest.mark.parametrize(
    ("status", "action", "actor"),
    [
        (S.RECEIVED, A.ROUTE, "system"),
        (S.RECEIVED, A.DISPATCH, "dispatcher"),
        (S.RETURNED, A.DISPATCH, "dispatcher"),
        (S.WAITING, A.REASSIGN, "dispatcher"),
    ],
)
def test_sending_to_a_unit_sets_receipt_and_handling_deadlines(
    status: Status, action: Action, actor: str, kind: str, priority: Priority, due: datetime
) -> None:
    st = state(status, kind=kind, priority=priority)
    assert hn(2024, 8, 8, 10) == NOW  # Thursday 10:00 in Hanoi
    new, event = run(st, action, actor, to_unit_id=OTHER)
    assert new.status is S.WAITING and new.current_unit_id == OTHER
    assert new.arrived_at == NOW
    assert new.receipt_due_at == hn(2024, 8, 9, 10)  # + 8 working hours: Friday 10:00
    assert new.due_at == due
    assert event.due_at == due


def test_receipt_deadline_skips_the_weekend() -> None:
    friday_afternoon = hn(2024, 8, 9, 15)
    new, _ = run(state(S.RECEIVED), A.DISPATCH, "dispatcher", friday_afternoon, to_unit_id=UNIT)
    # Fri 15-17 (2 h) + Mon 08-12 (4 h) + Mon 13-15 (2 h)
    assert new.receipt_due_at == hn(2024, 8, 12, 15)


def test_event_records_who_did_what_and_bumps_the_version() -> None:
    new, event = run(
        state(S.RECEIVED), A.DISPATCH, "dispatcher", to_unit_id=UNIT, reason=" Đúng địa bàn "
    )
    assert new.version == 6
    assert event.seq == 6
    assert event.actor_id == DISPATCHER_ID
    assert event.actor_role is R.DISPATCHER
    assert event.action is A.DISPATCH
    assert (event.from_status, event.to_status) == (S.RECEIVED, S.WAITING)
    assert (event.from_unit_id, event.to_unit_id) == (CITY, UNIT)
    assert event.reason == "Đúng địa bàn"
    assert event.at == NOW


@dataclass(frozen=True)
class _Forbidden:
    status: Status
    action: Action
    actor: str


@pytest.mark.parametrize(
    "case",
    [
        _Forbidden(S.DRAFTED, A.APPROVE, "officer_assignee"),
        _Forbidden(S.APPROVED, A.PUBLISH, "analyst"),
        _Forbidden(S.ASSIGNED, A.DRAFT, "officer_other_unit"),
        _Forbidden(S.PUBLISHED, A.DISPATCH, "dispatcher"),
    ],
    ids=lambda c: f"{c.status.value}-{c.action.value}-{c.actor}",
)
def test_plan_refuses_before_computing_anything(case: _Forbidden) -> None:
    """`plan` runs the same permission check as the buttons (no bypass through params)."""
    with pytest.raises((PermissionDenied, TransitionNotAllowed)):
        run(state(case.status), case.action, case.actor, to_unit_id=OTHER, result_text="x" * 20)
