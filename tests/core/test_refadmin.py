"""Reference data edited by the administrator (ihanoi_core/refadmin.py), on both databases.

Each edit writes exactly one admin-log entry with the before and after a reviewer
needs; bad input, a stale edit or a non-admin writes nothing at all; a saved deadline
rule sets the deadline of the next report routed or dispatched.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, col, func, select

from ihanoi_core import refadmin
from ihanoi_core.config import reference_path
from ihanoi_core.deadlines import DeadlineTextError, policy_for, rules_for
from ihanoi_core.errors import PermissionDenied
from ihanoi_core.models import AdminEvent, Category, ReferenceDocument, Template, Unit
from ihanoi_core.refadmin import (
    CategoryEdit,
    CategoryNew,
    RefAdminError,
    ReferenceConflict,
    TemplateEdit,
    TemplateNew,
    UnitEdit,
    UnitNew,
)
from ihanoi_core.reference import load_reference_data
from ihanoi_core.vocab import Action, Kind, Role, TemplateKind, UnitKind
from ihanoi_core.workflow import Actor
from tests.factories import Cast, make_report, make_user, step

LATER = datetime(2024, 8, 8, 4, 0, tzinfo=UTC)
FILE_TEXT = reference_path("deadlines.yaml").read_text(encoding="utf-8")
REASON = "Theo quyết định mới của UBND"


def hn(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    """A Hanoi wall-clock moment as aware UTC (Hanoi is UTC+7, no DST)."""
    return datetime(y, m, d, h, minute, tzinfo=UTC) - timedelta(hours=7)


def ref_events(session: Session) -> list[AdminEvent]:
    session.flush()
    return list(
        session.exec(
            select(AdminEvent)
            .where(col(AdminEvent.entity).in_(refadmin.REFERENCE_ENTITIES))
            .where(AdminEvent.action != "reference_sync")
            .order_by(col(AdminEvent.id))
        ).all()
    )


def the_unit(session: Session, code: str, kind: UnitKind) -> refadmin.UnitRow:
    admin = admin_actor(session)
    (row,) = [
        r
        for r in refadmin.list_units(session, actor=admin, kind=kind, search=code)
        if r.code == code
    ]
    return row


def admin_actor(session: Session) -> Actor:
    from ihanoi_core.models import User

    user = session.exec(select(User).where(User.username == "quan_tri")).one()
    return Actor.of(user)


def category_row(session: Session, cast: Cast, code: str) -> refadmin.CategoryRow:
    (row,) = [r for r in refadmin.list_categories(session, actor=cast.admin) if r.code == code]
    return row


def template_row(session: Session, cast: Cast, code: str) -> refadmin.TemplateRow:
    (row,) = [r for r in refadmin.list_templates(session, actor=cast.admin) if r.code == code]
    return row


# The core calls as the tests make them: on the row as the admin was `shown` it (the
# optimistic "expected"), with the usual reason unless a test is about the reason.


def edit_unit(
    session: Session, actor: Actor, shown: refadmin.UnitRow, change: UnitEdit, now: datetime
) -> refadmin.UnitRow:
    return refadmin.update_unit(
        session,
        actor=actor,
        unit_id=shown.unit_id,
        expected=shown,
        change=change,
        now=now,
        reason=REASON,
    )


def edit_category(
    session: Session,
    actor: Actor,
    shown: refadmin.CategoryRow,
    change: CategoryEdit,
    now: datetime,
) -> refadmin.CategoryRow:
    return refadmin.update_category(
        session,
        actor=actor,
        category_id=shown.category_id,
        expected=shown,
        change=change,
        now=now,
        reason=REASON,
    )


def remove_category(
    session: Session, actor: Actor, shown: refadmin.CategoryRow, now: datetime
) -> None:
    refadmin.delete_category(
        session,
        actor=actor,
        category_id=shown.category_id,
        expected=shown,
        now=now,
        reason=REASON,
    )


def edit_template(
    session: Session,
    actor: Actor,
    shown: refadmin.TemplateRow,
    change: TemplateEdit,
    now: datetime,
    reason: str = REASON,
) -> refadmin.TemplateRow:
    return refadmin.update_template(
        session,
        actor=actor,
        template_id=shown.template_id,
        expected=shown,
        change=change,
        now=now,
        reason=reason,
    )


def save_rules(
    session: Session,
    actor: Actor,
    content: str,
    version: int,
    now: datetime,
    reason: str = REASON,
) -> refadmin.DeadlineDocument:
    """Save the deadline text as read at `version`."""
    return refadmin.save_deadline_rules(
        session, actor=actor, content=content, expected_version=version, now=now, reason=reason
    )


@pytest.fixture
def cast(session: Session, now: datetime) -> Cast:
    c = Cast(session, now)
    session.commit()
    return c


# ------------------------------------------------------------------ units


def test_renaming_a_unit_and_ending_its_validity_writes_one_event(
    session: Session, cast: Cast, now: datetime
) -> None:
    shown = the_unit(session, "SXD", UnitKind.DEPARTMENT)
    assert (shown.name, shown.valid_to) == ("Sở Xây dựng", None)
    after = edit_unit(
        session,
        cast.admin,
        shown,
        UnitEdit(
            name="Sở Xây dựng Hà Nội",
            name_en=shown.name_en,
            valid_from=None,
            valid_to=date(2025, 6, 30),
            parent_id=None,
        ),
        now,
    )
    session.commit()
    unit = session.get(Unit, shown.unit_id)
    assert unit is not None and unit.name == "Sở Xây dựng Hà Nội"
    assert unit.valid_to == date(2025, 6, 30) and after.valid_to == date(2025, 6, 30)
    (event,) = ref_events(session)
    assert (event.entity, event.action, event.actor_id) == ("unit", "update", cast.admin.user_id)
    assert json.loads(event.entity_key) == {"kind": "department", "code": "SXD"}
    before, after_json = json.loads(event.before or ""), json.loads(event.after or "")
    assert before == {
        "name": "Sở Xây dựng",
        "name_en": shown.name_en,
        "valid_from": None,
        "valid_to": None,
        "parent": None,
    }
    assert after_json == before | {"name": "Sở Xây dựng Hà Nội", "valid_to": "2025-06-30"}
    assert event.reason == REASON and event.at == now


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        ({"valid_from": date(2025, 7, 1), "valid_to": date(2025, 6, 30)}, "dates_reversed"),
        ({"name": "   "}, "name_required"),
        ({"name": "x" * 201}, "too_long"),
    ],
)
def test_a_bad_unit_edit_is_refused_and_nothing_written(
    session: Session, cast: Cast, now: datetime, edit: dict[str, object], code: str
) -> None:
    shown = the_unit(session, "SXD", UnitKind.DEPARTMENT)
    values: dict[str, object] = {
        "name": shown.name,
        "name_en": shown.name_en,
        "valid_from": None,
        "valid_to": None,
        "parent_id": None,
    } | edit
    change = UnitEdit(**values)  # type: ignore[arg-type]
    with pytest.raises(RefAdminError) as err:
        edit_unit(session, cast.admin, shown, change, now)
    assert err.value.code == code
    session.rollback()
    assert the_unit(session, "SXD", UnitKind.DEPARTMENT) == shown
    assert ref_events(session) == []


def test_a_parent_below_the_unit_itself_is_refused(
    session: Session, cast: Cast, now: datetime
) -> None:
    district = the_unit(session, "002", UnitKind.DISTRICT)
    ward = next(
        r
        for r in refadmin.list_units(session, actor=cast.admin, kind=UnitKind.WARD)
        if r.parent_id == district.unit_id
    )
    with pytest.raises(RefAdminError) as err:
        edit_unit(
            session,
            cast.admin,
            district,
            UnitEdit(district.name, district.name_en, None, None, ward.unit_id),
            now,
        )
    assert err.value.code == "parent_cycle"
    session.rollback()
    assert ref_events(session) == []


def test_a_stale_unit_edit_names_who_changed_it(
    session: Session, cast: Cast, now: datetime
) -> None:
    shown = the_unit(session, "SXD", UnitKind.DEPARTMENT)
    other_admin = make_user(session, now, "quan_tri_2", Role.ADMIN)
    edit = UnitEdit("Sở Xây dựng (mới)", shown.name_en, None, None, None)
    edit_unit(session, other_admin, shown, edit, now)
    session.commit()
    with pytest.raises(ReferenceConflict) as err:
        # `shown`: what the first admin saw before the change
        edit_unit(
            session,
            cast.admin,
            shown,
            UnitEdit("Sở Xây dựng Thủ đô", shown.name_en, None, None, None),
            LATER,
        )
    assert (err.value.changed_by, err.value.changed_at) == ("quan_tri_2", now)
    session.rollback()
    assert the_unit(session, "SXD", UnitKind.DEPARTMENT).name == "Sở Xây dựng (mới)"
    assert len(ref_events(session)) == 1


def test_adding_a_unit_checks_its_code_and_logs_it(
    session: Session, cast: Cast, now: datetime
) -> None:
    district = the_unit(session, "002", UnitKind.DISTRICT)
    with pytest.raises(RefAdminError) as err:
        refadmin.add_unit(
            session,
            actor=cast.admin,
            data=UnitNew(code="SXD", kind=UnitKind.DEPARTMENT, name="Trùng mã"),
            now=now,
            reason=REASON,
        )
    assert err.value.code == "code_taken"
    session.rollback()
    row = refadmin.add_unit(
        session,
        actor=cast.admin,
        data=UnitNew(
            code="99999",
            kind=UnitKind.WARD,
            name="Phường Thử Nghiệm",
            level="phường",
            valid_from=date(2024, 1, 1),
            valid_to=date(2025, 6, 30),
            parent_id=district.unit_id,
        ),
        now=now,
        reason=REASON,
    )
    session.commit()
    assert (row.parent_code, row.kind) == ("002", UnitKind.WARD)
    (event,) = ref_events(session)
    assert (event.action, event.before) == ("create", None)
    assert json.loads(event.after or "") == {
        "kind": "ward",
        "code": "99999",
        "level": "phường",
        "name": "Phường Thử Nghiệm",
        "name_en": None,
        "valid_from": "2024-01-01",
        "valid_to": "2025-06-30",
        "parent": "002",
    }


# ------------------------------------------------------------------ permission


@pytest.mark.parametrize("who", ["dispatcher", "leader", "analyst", "unit_leader", "officer"])
def test_only_the_administrator_may_edit(
    session: Session, cast: Cast, now: datetime, who: str
) -> None:
    actor: Actor = getattr(cast, who)
    shown = the_unit(session, "SXD", UnitKind.DEPARTMENT)
    calls = [
        lambda: refadmin.list_units(session, actor=actor),
        lambda: edit_unit(session, actor, shown, UnitEdit("Đổi tên", None, None, None, None), now),
        lambda: save_rules(
            session, actor, FILE_TEXT.replace("due_soon_hours: 8", "due_soon_hours: 4"), 0, now
        ),
        lambda: refadmin.reference_history(session, actor=actor),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    session.rollback()
    assert the_unit(session, "SXD", UnitKind.DEPARTMENT) == shown
    assert ref_events(session) == []
    assert session.exec(select(func.count()).select_from(ReferenceDocument)).one() == 0


def test_an_admin_demoted_since_login_is_refused(
    session: Session, cast: Cast, now: datetime
) -> None:
    from ihanoi_core.models import User

    user = session.get(User, cast.admin.user_id)
    assert user is not None
    user.role = Role.ANALYST.value
    session.commit()
    with pytest.raises(PermissionDenied):
        refadmin.list_templates(session, actor=cast.admin)  # the Actor still says admin


def test_a_missing_reason_is_refused(session: Session, cast: Cast, now: datetime) -> None:
    row = template_row(session, cast, "tu_choi_tranh_chap_dat_dai")
    with pytest.raises(RefAdminError) as err:
        edit_template(
            session,
            cast.admin,
            row,
            TemplateEdit(
                row.category_code, row.title_vi, row.title_en, row.text_vi, row.text_en, False
            ),
            now,
            reason="  ok ",
        )
    assert (err.value.code, err.value.values) == ("reason_required", {"min": 5})
    session.rollback()
    assert template_row(session, cast, "tu_choi_tranh_chap_dat_dai").active
    assert ref_events(session) == []


# ------------------------------------------------------------------ categories


def test_deactivating_a_category_is_logged_as_such(
    session: Session, cast: Cast, now: datetime
) -> None:
    shown = category_row(session, cast, "rac_thai")
    edit_category(
        session,
        cast.admin,
        shown,
        CategoryEdit(shown.name_vi, shown.name_en, None, shown.sort_order, False),
        now,
    )
    session.commit()
    assert not category_row(session, cast, "rac_thai").active
    (event,) = ref_events(session)
    assert (event.entity, event.action) == ("category", "deactivate")
    assert json.loads(event.entity_key) == {"code": "rac_thai"}
    assert json.loads(event.before or "")["active"] is True
    assert json.loads(event.after or "")["active"] is False


def test_init_db_keeps_what_an_admin_edited(session: Session, cast: Cast, now: datetime) -> None:
    """`make run` runs init-db each time: it must not put the file's name back over the
    admin's edit, and it says how many rows it left alone."""
    shown = category_row(session, cast, "rac_thai")
    edit_category(
        session,
        cast.admin,
        shown,
        CategoryEdit("Rác thải sinh hoạt, đô thị", shown.name_en, None, shown.sort_order, True),
        now,
    )
    session.commit()
    summary = load_reference_data(session, now + timedelta(hours=1))
    session.commit()
    assert category_row(session, cast, "rac_thai").name_vi == "Rác thải sinh hoạt, đô thị"
    assert (summary.added, summary.updated, summary.kept) == (0, 0, 1)
    assert [e.action for e in ref_events(session)] == ["update"]


def test_an_unknown_routing_unit_is_refused(session: Session, cast: Cast, now: datetime) -> None:
    shown = category_row(session, cast, "mat_dien")
    for code, problem in (("EVN-XX", "unit_unknown"), ("00037", "unit_unknown")):
        with pytest.raises(RefAdminError) as err:
            edit_category(
                session,
                cast.admin,
                shown,
                CategoryEdit(shown.name_vi, shown.name_en, code, shown.sort_order, True),
                now,
            )
        assert (err.value.code, err.value.values) == (problem, {"code": code})
    session.rollback()
    assert category_row(session, cast, "mat_dien").default_unit_code == "EVNHN"
    assert ref_events(session) == []


def test_a_category_that_reports_use_cannot_be_deleted(
    session: Session, cast: Cast, now: datetime
) -> None:
    make_report(session, now, category_code="rac_thai")
    make_report(session, now, category_code="rac_thai")
    session.commit()
    shown = category_row(session, cast, "rac_thai")
    assert shown.report_count == 2
    with pytest.raises(RefAdminError) as err:
        remove_category(session, cast.admin, shown, now)
    assert (err.value.code, err.value.values) == (
        "category_in_use",
        {"code": "rac_thai", "reports": 2},
    )
    session.rollback()
    assert session.get(Category, shown.category_id) is not None
    assert ref_events(session) == []


def test_a_category_added_by_mistake_can_be_deleted(
    session: Session, cast: Cast, now: datetime
) -> None:
    new = CategoryNew(
        code="o_nhiem_tieng_on",
        kind=Kind.ONSITE,
        name_vi="Ô nhiễm tiếng ồn",
        name_en="Noise",
        parent_code="van_minh_do_thi",
    )
    added = refadmin.add_category(session, actor=cast.admin, data=new, now=now, reason=REASON)
    with pytest.raises(RefAdminError) as err:
        refadmin.add_category(session, actor=cast.admin, data=new, now=now, reason=REASON)
    assert err.value.code == "code_taken"
    remove_category(session, cast.admin, added, LATER)
    session.commit()
    assert session.exec(select(Category).where(Category.code == "o_nhiem_tieng_on")).first() is None
    assert [(e.action, e.at) for e in ref_events(session)] == [("create", now), ("delete", LATER)]


# ------------------------------------------------------------------ templates


def test_template_text_edit_and_new_template(session: Session, cast: Cast, now: datetime) -> None:
    shown = template_row(session, cast, "tu_choi_tranh_chap_dat_dai")
    new_text = "Đề nghị công dân liên hệ UBND phường, xã nơi có đất."
    new_vi = TemplateEdit(
        shown.category_code, shown.title_vi, shown.title_en, new_text, shown.text_en, True
    )
    edit_template(session, cast.admin, shown, new_vi, now)
    with pytest.raises(RefAdminError) as err:
        refadmin.add_template(
            session,
            actor=cast.admin,
            data=TemplateNew(
                code="tu_choi_moi",
                kind=TemplateKind.REFUSAL_INACCURATE,
                title_vi="Mới",
                title_en="New",
                text_vi="Nội dung",
                text_en="Text",
                category_code="khong_co",
            ),
            now=now,
            reason=REASON,
        )
    assert (err.value.code, err.value.values) == ("category_unknown", {"code": "khong_co"})
    session.rollback()
    assert ref_events(session) == []  # the rollback took the good edit too: one transaction

    edit_template(session, cast.admin, shown, new_vi, now)
    session.commit()
    stored = session.exec(select(Template).where(Template.code == shown.code)).one()
    assert stored.text_vi == new_text
    (event,) = ref_events(session)
    before, after = json.loads(event.before or ""), json.loads(event.after or "")
    assert {k for k in before if before[k] != after[k]} == {"text_vi"}
    assert (before["text_vi"], after["text_vi"]) == (shown.text_vi, new_text)


# ------------------------------------------------------------------ deadline rules

RAC_THAI_16H = "  - {kind: onsite, category: rac_thai, priority: normal, hours: 16}\n"


def test_a_saved_rule_sets_the_deadline_of_the_next_dispatched_report(
    session: Session, cast: Cast, now: datetime
) -> None:
    before = make_report(session, now, category_code="rac_thai")
    step(session, before, Action.DISPATCH, cast.dispatcher, now, to_unit_id=cast.unit_id)
    assert before.due_at == hn(2024, 8, 15, 10)  # the file: 40 working hours
    doc = refadmin.deadline_document(session, actor=cast.admin)
    assert (doc.version, doc.stored, doc.content) == (0, False, FILE_TEXT)
    saved = save_rules(session, cast.admin, FILE_TEXT + RAC_THAI_16H, 0, now)
    session.commit()
    assert saved.version == 1
    after = make_report(session, now, category_code="rac_thai")
    step(session, after, Action.DISPATCH, cast.dispatcher, now, to_unit_id=cast.unit_id)
    # Thu 10-12 + 13-17 (6 h), Fri (8 h), Mon 08-10 (2 h) = 16 working hours
    assert after.due_at == hn(2024, 8, 12, 10)
    assert before.due_at == hn(2024, 8, 15, 10)  # a deadline already set stays
    other = make_report(session, now, category_code="hu_hong_duong")
    step(session, other, Action.DISPATCH, cast.dispatcher, now, to_unit_id=cast.unit_id)
    assert other.due_at == hn(2024, 8, 15, 10)  # other categories: unchanged rule
    (event,) = ref_events(session)
    assert (event.entity, event.action) == ("reference_document", "update")
    assert json.loads(event.before or "") == {"version": 0, "content": FILE_TEXT}
    assert json.loads(event.after or "") == {"version": 1, "content": FILE_TEXT + RAC_THAI_16H}


def test_a_saved_rule_sets_the_deadline_of_the_next_created_report(
    session: Session, cast: Cast, now: datetime
) -> None:
    """Power outages route to EVNHANOI at once (category rule): the route sets the
    deadline, so the rule saved in the console applies from the next report created."""
    first = make_report(session, now, category_code="mat_dien")
    assert first.due_at == hn(2024, 8, 15, 10)
    v1 = FILE_TEXT + "  - {kind: onsite, category: mat_dien, priority: normal, hours: 8}\n"
    save_rules(session, cast.admin, v1, 0, now)
    session.commit()
    assert make_report(session, now, category_code="mat_dien").due_at == hn(2024, 8, 9, 10)
    v2 = v1.replace("priority: normal, hours: 8}", "priority: normal, hours: 3}")
    save_rules(session, cast.admin, v2, 1, LATER)
    session.commit()
    assert make_report(session, now, category_code="mat_dien").due_at == hn(
        2024, 8, 8, 14
    )  # lunch skipped
    assert rules_for(session).handling_hours("onsite", "mat_dien", "normal") == 3
    assert policy_for(session) is policy_for(session)  # parsed once per version


@pytest.mark.parametrize(
    ("extra", "line", "reason"),
    [
        ("  - {kind: onsite, priority: hight, hours: 4}\n", 0, "unknown priority 'hight'"),
        ("  - {kind: onsite, priority: normal, hours: -4}\n", 0, ">= 0"),
        ("  - {kind: onsite, priority: normal, hours: 4\n", 1, "not valid YAML"),
        ("  - {kind: onsite, category: khong_co, priority: normal, hours: 4}\n", 0, "khong_co"),
        ("  - {kind: procedure, category: rac_thai, priority: normal, hours: 4}\n", 0, "kind"),
    ],
)
def test_bad_deadline_text_is_refused_with_its_line_and_nothing_written(
    session: Session, cast: Cast, now: datetime, extra: str, line: int, reason: str
) -> None:
    text = FILE_TEXT + extra
    with pytest.raises(DeadlineTextError) as err:
        save_rules(session, cast.admin, text, 0, now)
    appended = len(FILE_TEXT.splitlines()) + 1
    assert err.value.line == appended + line  # an unclosed "{" is noticed on the next line
    assert reason in err.value.reason
    session.rollback()
    assert session.exec(select(func.count()).select_from(ReferenceDocument)).one() == 0
    assert ref_events(session) == []
    assert make_report(session, now, category_code="mat_dien").due_at == hn(2024, 8, 15, 10)


def test_a_stale_deadline_save_is_refused(session: Session, cast: Cast, now: datetime) -> None:
    text = FILE_TEXT + RAC_THAI_16H
    save_rules(session, cast.admin, text, 0, now)
    session.commit()
    with pytest.raises(ReferenceConflict) as err:
        # version 0: the text was read before the first save
        save_rules(session, cast.admin, text.replace("hours: 16", "hours: 24"), 0, LATER)
    assert (err.value.changed_by, err.value.changed_at) == ("quan_tri", now)
    session.rollback()
    doc = refadmin.deadline_document(session, actor=cast.admin)
    assert (doc.version, doc.content, doc.updated_by) == (1, text, "quan_tri")
    assert len(ref_events(session)) == 1


# ------------------------------------------------------------------ history


def test_history_lists_changes_newest_first_with_before_and_after(
    session: Session, cast: Cast, now: datetime
) -> None:
    shown = the_unit(session, "SXD", UnitKind.DEPARTMENT)
    edit_unit(
        session,
        cast.admin,
        shown,
        UnitEdit(shown.name, "Hanoi Construction Department", None, None, None),
        now,
    )
    save_rules(
        session,
        cast.admin,
        FILE_TEXT + RAC_THAI_16H,
        0,
        LATER,
        reason="Rác thải cần xử lý nhanh hơn",
    )
    session.commit()
    history = refadmin.reference_history(session, actor=cast.admin)
    assert [(h.entity, h.at, h.actor_username) for h in history[:2]] == [
        ("reference_document", LATER, "quan_tri"),
        ("unit", now, "quan_tri"),
    ]
    rules_change, unit_change = history[0], history[1]
    assert unit_change.key_text == "department · SXD"
    assert [(c.field, c.before, c.after) for c in unit_change.changes] == [
        ("name_en", shown.name_en, "Hanoi Construction Department")
    ]
    assert [c.field for c in rules_change.changes] == ["version", "content"]
    assert rules_change.changes[1].diff[-1] == "+" + RAC_THAI_16H.rstrip("\n")
    only_unit = refadmin.reference_history(
        session, actor=cast.admin, entity="unit", entity_key=refadmin.unit_key(shown)
    )
    assert [h.event_id for h in only_unit] == [unit_change.event_id]
