"""The case pages' core on a small city counted by hand (SQLite and PostgreSQL).

Times are Hanoi local. Reports are created at T0 (Thu 8 Aug 2024 10:00) and step one
hour apart; the list is read at NOW (same day 15:00). Deadlines come from the shipped
rules: on-site normal 40 working hours, urgent 4, counted from arrival at the unit.

    key status     unit now   notes
    A   received   office     no location, no deadline
    B   waiting    002        title names "Hoàn Kiếm"; due 15/08 11:00
    C   waiting    002        text never names it, located in district 002 (routed 10:00,
                              due 15/08 10:00); category chieu_sang
    D   assigned   002        created 25/07: due 01/08 11:00, OVERDUE; officer can_bo
    U   assigned   002        urgent: arrived 11:00, due 16:00 today: DUE SOON; can_bo
    E   drafted    002        due 15/08 11:00
    F   published  002
    G   waiting    001        the other unit; category xay_dung_trai_phep
    H   returned   office     sent back by 002 as "not ours" (002 held it before)
    I   refused    002

Unit 002 = Hoàn Kiếm (the cast's unit), 001 = Ba Đình.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from PIL import Image
from sqlmodel import Session, col, func, select

from ihanoi_core.attachments import (
    AttachmentRejected,
    UploadProblem,
    UploadRules,
    load_upload_rules,
    read_upload,
    read_uploads,
    sanitize_filename,
    sniff_type,
)
from ihanoi_core.cases import (
    CaseFilter,
    CaseOrder,
    action_form,
    assignable_officers,
    case_detail,
    dispatch_targets,
    list_cases,
    my_queue,
    templates_for,
)
from ihanoi_core.casework import ItemOutcome, bulk_dispatch, perform_action
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import due_soon_cutoff, load_deadline_rules
from ihanoi_core.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from ihanoi_core.models import Attachment, Report, ReportCreate, ReportEvent
from ihanoi_core.services import create_report
from ihanoi_core.vocab import (
    Action,
    AttachmentKind,
    Bucket,
    Kind,
    Priority,
    Role,
    Status,
    TemplateKind,
    UnitKind,
)
from ihanoi_core.workcalendar import load_calendar
from ihanoi_core.workflow import ActionParams, Actor
from tests.factories import Cast, make_report, report_in, step, unit_id

A_, S_ = Action, Status


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


T0 = hanoi(8, 8, 10)
W2 = hanoi(7, 25, 10)
NOW = hanoi(8, 8, 15)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (20, 160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png_bytes()
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


@dataclass(frozen=True)
class StubRoute:
    unit_code: str | None
    district_code: str | None
    ward_code: str | None = None
    layout: str = "2024"
    reason: str | None = None


@dataclass(frozen=True)
class StubRouter:
    """Routes every point to one 2024 district (point-in-polygon is tested elsewhere)."""

    district: str

    def route(self, lat: float | None, lon: float | None, on: object) -> StubRoute:
        return StubRoute(self.district, self.district)


@dataclass
class City:
    cast: Cast
    r: dict[str, Report]

    def id(self, key: str) -> int:
        report_id = self.r[key].id
        assert report_id is not None
        return report_id

    def keys(self, ids: list[int]) -> list[str]:
        by_id = {self.id(k): k for k in self.r}
        return [by_id[i] for i in ids]


@pytest.fixture
def city(session: Session, now: datetime) -> City:
    cast = Cast(session, now)
    r: dict[str, Report] = {}
    r["A"] = make_report(session, T0)
    r["B"] = report_in(
        session,
        cast,
        S_.WAITING,
        T0,
        title="Lấn chiếm vỉa hè phố Hàng Đồng, quận Hoàn Kiếm",
        category_code="lan_chiem_via_he",
    )
    r["C"] = create_report(
        session,
        data=ReportCreate(
            kind="onsite",
            category_code="chieu_sang",
            title="Đèn chiếu sáng hỏng",
            description="Tối cả ngõ",
            address="ngõ 5",
            lat=21.03,
            lon=105.85,
            submitted_at=T0,
        ),
        now=T0,
        router=StubRouter("002"),  # type: ignore[arg-type]
    )
    r["D"] = report_in(session, cast, S_.ASSIGNED, W2, submitted_at=W2)
    r["U"] = report_in(session, cast, S_.ASSIGNED, T0, priority=Priority.URGENT)
    r["E"] = report_in(session, cast, S_.DRAFTED, T0)
    r["F"] = report_in(session, cast, S_.PUBLISHED, T0)
    g = make_report(session, T0, title="Xây dựng trái phép", category_code="xay_dung_trai_phep")
    r["G"] = step(
        session,
        g,
        A_.DISPATCH,
        cast.dispatcher,
        T0 + timedelta(hours=1),
        to_unit_id=cast.other_unit_id,
    )
    r["H"] = report_in(session, cast, S_.RETURNED, T0)
    r["I"] = report_in(session, cast, S_.REFUSED, T0)
    session.commit()
    return City(cast, r)


def ids(page: object) -> list[int]:
    return [row.id for row in page.rows]  # type: ignore[attr-defined]


def listed(session: Session, city: City, viewer: Actor, **filt: object) -> list[str]:
    """Keys of the reports `viewer` sees with `filt`, newest first, in one page."""
    page = list_cases(
        session,
        filt=CaseFilter(**filt),
        viewer=viewer,
        now=NOW,
        page_size=50,  # type: ignore[arg-type]
    )
    assert page.total == len(page.rows)
    return city.keys(ids(page))


# ------------------------------------------------------------------- the list


def test_pagination_is_done_by_the_database_and_pages_do_not_overlap(
    session: Session, city: City
) -> None:
    pages = [
        list_cases(session, viewer=city.cast.dispatcher, now=NOW, page=n, page_size=3)
        for n in (1, 2, 3, 4)
    ]
    assert [p.total for p in pages] == [10, 10, 10, 10]
    assert [len(p.rows) for p in pages] == [3, 3, 3, 1]
    assert pages[0].pages == 4
    # newest first; same submission time → highest id first; D (25/07) is the oldest
    order = [k for p in pages for k in city.keys(ids(p))]
    assert order == ["I", "H", "G", "F", "E", "U", "C", "B", "A", "D"]
    past_the_end = list_cases(session, viewer=city.cast.dispatcher, now=NOW, page=99, page_size=3)
    assert past_the_end.page == 4 and city.keys(ids(past_the_end)) == ["D"]


def test_orders(session: Session, city: City) -> None:
    def order(o: CaseOrder) -> list[str]:
        page = list_cases(session, viewer=city.cast.dispatcher, now=NOW, page_size=50, order=o)
        return city.keys(ids(page))

    assert order(CaseOrder.OLDEST) == ["D", "A", "B", "C", "U", "E", "F", "G", "H", "I"]
    urgent = order(CaseOrder.URGENT)
    assert urgent[:2] == ["D", "U"]  # overdue, then the earliest deadline
    assert urgent[-1] == "A"  # no deadline at all: last


def test_rows_carry_names_flags_and_version(session: Session, city: City) -> None:
    page = list_cases(session, viewer=city.cast.dispatcher, now=NOW, page_size=50)
    rows = {city.keys([row.id])[0]: row for row in page.rows}
    b = rows["B"]
    assert (b.status, b.bucket, b.unit_name, b.category_code) == (
        S_.WAITING,
        Bucket.PENDING,
        "Hoàn Kiếm",
        "lan_chiem_via_he",
    )
    assert rows["C"].category_name_vi == "Chiếu sáng công cộng"
    assert b.due_at == hanoi(8, 15, 11) and not b.is_overdue and not b.is_due_soon
    assert b.version == city.r["B"].version
    assert rows["C"].district_name == "Hoàn Kiếm"
    assert rows["D"].is_overdue and rows["D"].assignee_name == "can_bo"
    assert rows["D"].time_left_hours is not None and rows["D"].time_left_hours < 0
    assert rows["U"].is_due_soon and rows["U"].time_left_hours == pytest.approx(1.0)
    assert rows["A"].unit_name == "Văn phòng UBND Thành phố" and rows["A"].due_at is None
    assert rows["F"].time_left_hours is None and not rows["F"].is_overdue  # closed


def test_unit_roles_see_their_unit_now_and_before_others_see_all(
    session: Session, city: City
) -> None:
    c = city.cast
    everything = ["I", "H", "G", "F", "E", "U", "C", "B", "A", "D"]
    unit_002 = ["I", "H", "F", "E", "U", "C", "B", "D"]  # H: 002 sent it back, still theirs to see
    for viewer in (c.dispatcher, c.leader, c.analyst, c.admin):
        assert listed(session, city, viewer) == everything, viewer.role
    assert listed(session, city, c.officer) == unit_002
    assert listed(session, city, c.unit_leader) == unit_002
    assert listed(session, city, c.other_leader) == ["G"]
    assert listed(session, city, c.other_officer) == ["G"]
    homeless = Actor(c.officer.user_id, Role.OFFICER, None, "can_bo")
    assert listed(session, city, homeless) == []


def test_search_ignores_diacritics_and_matches_place_names(session: Session, city: City) -> None:
    d = city.cast.dispatcher
    # B names Hoàn Kiếm in its title; C is only located there (district 002)
    assert listed(session, city, d, text="hoan kiem") == ["C", "B"]
    assert listed(session, city, d, text="  HOÀN   Kiếm ") == ["C", "B"]
    assert listed(session, city, d, text="hang dong") == ["B"]
    assert listed(session, city, d, text="đèn chieu sang") == ["C"]
    assert listed(session, city, d, text="hoan kiem xay dung") == []
    code = city.r["G"].code
    assert listed(session, city, d, text=code.lower()) == ["G"]
    # LIKE wildcards are searched for literally, not obeyed
    assert listed(session, city, d, text="%") == []
    assert listed(session, city, d, text="_") == []
    # scope still applies to a search
    assert listed(session, city, city.cast.other_leader, text="hoan kiem") == []


def test_filters(session: Session, city: City) -> None:
    d, c = city.cast.dispatcher, city.cast
    assert listed(session, city, d, statuses=(S_.WAITING,)) == ["G", "C", "B"]
    assert listed(session, city, d, statuses=(S_.WAITING, S_.RECEIVED)) == ["G", "C", "B", "A"]
    assert listed(session, city, d, bucket=Bucket.PROCESSING) == ["E", "U", "D"]
    assert listed(session, city, d, bucket=Bucket.PENDING) == ["H", "G", "C", "B", "A"]
    assert listed(session, city, d, kind=Kind.PROCEDURE) == []
    assert listed(session, city, d, unit_id=c.other_unit_id) == ["G"]
    assert listed(session, city, d, district_id=unit_id(session, "002")) == ["C"]
    # a top-level category covers its children
    assert listed(session, city, d, category_codes=("van_minh_do_thi",)) == ["G", "B"]
    assert listed(session, city, d, category_codes=("chieu_sang",)) == ["C"]
    assert listed(session, city, d, priority=Priority.URGENT) == ["U"]
    assert listed(session, city, d, date_from=date(2024, 8, 1)) == [
        "I",
        "H",
        "G",
        "F",
        "E",
        "U",
        "C",
        "B",
        "A",
    ]
    assert listed(session, city, d, date_to=date(2024, 7, 31)) == ["D"]
    assert listed(session, city, d, overdue_only=True) == ["D"]
    cutoff = due_soon_cutoff(NOW, load_calendar(), load_deadline_rules())
    assert listed(session, city, d, due_soon_before=cutoff) == ["U"]
    assert listed(session, city, d, statuses=(S_.WAITING,), text="hoan kiem") == ["C", "B"]


# ------------------------------------------------------------------ the detail


def test_detail_names_the_history_and_offers_exactly_the_allowed_actions(
    session: Session, city: City
) -> None:
    c = city.cast
    e = case_detail(session, city.id("E"), c.unit_leader, NOW)
    assert e.allowed_actions == [A_.APPROVE, A_.REJECT]
    assert [(t.action, t.actor_name, t.to_status) for t in e.timeline] == [
        (A_.RECEIVE, "iHanoi (tự động)", S_.RECEIVED),
        (A_.DISPATCH, "dieu_phoi", S_.WAITING),
        (A_.ASSIGN, "truong_dv", S_.ASSIGNED),
        (A_.DRAFT, "can_bo", S_.DRAFTED),
    ]
    assert e.timeline[1].to_unit_name == "Hoàn Kiếm"
    assert e.timeline[2].assignee_name == "can_bo"
    assert e.timeline[3].result_text == "Đã kiểm tra và xử lý xong tại hiện trường."
    assert e.unit_name == "Hoàn Kiếm" and e.assignee_name == "can_bo"
    assert e.time_left_hours is not None and e.time_left_hours > 0
    assert case_detail(session, city.id("E"), c.officer, NOW).allowed_actions == []
    assert case_detail(session, city.id("D"), c.officer, NOW).allowed_actions == [
        A_.DRAFT,
        A_.REFUSE_NOT_OURS,
        A_.REFUSE_INACCURATE,
    ]
    assert case_detail(session, city.id("D"), c.officer2, NOW).allowed_actions == []
    assert case_detail(session, city.id("A"), c.dispatcher, NOW).allowed_actions == [A_.DISPATCH]
    for viewer in (c.leader, c.analyst, c.admin):
        assert case_detail(session, city.id("B"), viewer, NOW).allowed_actions == []
    refused = case_detail(session, city.id("I"), c.leader, NOW)
    assert refused.timeline[-1].template_code == "tu_choi_thong_tin_khong_ro"
    assert refused.timeline[-1].template_title_vi is not None
    assert refused.timeline[-1].reason and refused.timeline[-1].reason.startswith("Nội dung")


def test_detail_is_refused_to_another_units_staff(session: Session, city: City) -> None:
    c = city.cast
    with pytest.raises(PermissionDenied):
        case_detail(session, city.id("G"), c.officer, NOW)
    with pytest.raises(PermissionDenied):
        case_detail(session, city.id("B"), c.other_leader, NOW)
    # 002 held H before returning it: it may follow it, but act on nothing
    h = case_detail(session, city.id("H"), c.unit_leader, NOW)
    assert h.status is S_.RETURNED and h.allowed_actions == []
    with pytest.raises(NotFound):
        case_detail(session, 999_999, c.dispatcher, NOW)


def test_detail_buttons_follow_the_account_as_it_is_now(session: Session, city: City) -> None:
    from ihanoi_core.models import User

    user = session.get(User, city.cast.unit_leader.user_id)
    assert user is not None
    user.active = False
    session.commit()
    assert case_detail(session, city.id("E"), city.cast.unit_leader, NOW).allowed_actions == []


# -------------------------------------------------------------------- queues


def test_my_queue_lists_what_waits_for_this_user_overdue_first(
    session: Session, city: City
) -> None:
    c = city.cast

    def queue(actor: Actor) -> list[str]:
        return city.keys([row.id for row in my_queue(session, actor, NOW)])

    assert queue(c.officer) == ["D", "U"]
    assert queue(c.officer2) == []
    assert queue(c.unit_leader) == ["C", "B", "E"]  # due 10:00, then 11:00 (B before E by id)
    assert queue(c.other_leader) == ["G"]
    assert queue(c.dispatcher) == ["H", "A"]  # A has no deadline yet
    assert queue(c.analyst) == [] and queue(c.leader) == []
    rows = my_queue(session, c.officer, NOW)
    assert rows[0].is_overdue and not rows[1].is_overdue and rows[1].is_due_soon


# ----------------------------------------------------------- dialog options


def test_assignable_officers_with_their_load(session: Session, city: City) -> None:
    officers = assignable_officers(session, city.cast.unit_id)
    assert [(o.username, o.role, o.open_cases) for o in officers] == [
        ("can_bo", Role.OFFICER, 2),
        ("can_bo_2", Role.OFFICER, 0),
        ("truong_dv", Role.UNIT_LEADER, 0),
    ]


def test_dispatch_targets_follow_the_map_of_the_day(session: Session) -> None:
    before = dispatch_targets(session, date(2024, 8, 8))
    after = dispatch_targets(session, date(2025, 8, 1))
    kinds_before = {u.kind for u in before}
    assert kinds_before == {UnitKind.DISTRICT, UnitKind.DEPARTMENT}
    assert {u.kind for u in after} == {UnitKind.COMMUNE, UnitKind.DEPARTMENT}
    assert len([u for u in before if u.kind is UnitKind.DISTRICT]) == 30
    assert len([u for u in after if u.kind is UnitKind.COMMUNE]) == 126
    assert before[0].kind is UnitKind.DISTRICT and before[-1].kind is UnitKind.DEPARTMENT
    assert before[0].name == "Ba Đình"  # sorted without diacritics
    assert all(u.code != "VP-UBND" for u in before + after)


def test_templates_for_each_kind(session: Session) -> None:
    inaccurate = templates_for(session, TemplateKind.REFUSAL_INACCURATE, "rac_thai")
    assert len(inaccurate) == 6 and "tu_choi_thong_tin_khong_ro" in {t.code for t in inaccurate}
    assert {t.code for t in templates_for(session, TemplateKind.RESPONSE, "rac_thai")} == {
        "tra_loi_da_xu_ly",
        "tra_loi_da_xu_ly_vi_pham",
    }
    assert len(templates_for(session, TemplateKind.REFUSAL_NOT_OURS)) == 2


def test_action_form_rechecks_the_action_and_offers_its_choices(
    session: Session, city: City
) -> None:
    c = city.cast
    form = action_form(
        session, action=A_.ASSIGN, report_id=city.id("B"), viewer=c.unit_leader, now=NOW
    )
    assert [o.username for o in form.officers] == ["can_bo", "can_bo_2", "truong_dv"]
    assert form.version == city.r["B"].version
    dispatch = action_form(
        session, action=A_.DISPATCH, report_id=city.id("A"), viewer=c.dispatcher, now=NOW
    )
    assert c.unit_id in {u.id for u in dispatch.units}
    reassign = action_form(
        session, action=A_.REASSIGN, report_id=city.id("B"), viewer=c.dispatcher, now=NOW
    )
    assert c.unit_id not in {u.id for u in reassign.units}  # already there
    refuse = action_form(
        session, action=A_.REFUSE_INACCURATE, report_id=city.id("D"), viewer=c.officer, now=NOW
    )
    assert len(refuse.templates) == 6
    with pytest.raises(PermissionDenied):
        action_form(session, action=A_.ASSIGN, report_id=city.id("B"), viewer=c.officer, now=NOW)
    with pytest.raises(PermissionDenied):  # another unit's report: not even visible
        action_form(
            session, action=A_.ASSIGN, report_id=city.id("G"), viewer=c.unit_leader, now=NOW
        )


# --------------------------------------------------------------- casework


def event_count(session: Session, report_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(ReportEvent).where(ReportEvent.report_id == report_id)
    ).one()


def fresh(session: Session, report_id: int) -> Report:
    session.expire_all()
    report = session.get(Report, report_id)
    assert report is not None
    return report


def test_perform_action_links_evidence_to_the_new_event(session: Session, city: City) -> None:
    u = city.r["U"]
    photo = read_upload("sau xử lý.png", PNG)
    record = read_upload("bien_ban.jpg", PDF)
    result = perform_action(
        session,
        action=A_.DRAFT,
        report_id=city.id("U"),
        actor=city.cast.officer,
        expected_version=u.version,
        now=NOW,
        params=ActionParams(result_text="Đã thu dọn rác, ảnh sau xử lý đính kèm."),
        evidence=[photo, record],
    )
    session.commit()
    assert result.status is S_.DRAFTED and len(result.attachment_ids) == 2
    stored = session.exec(
        select(Attachment).where(Attachment.report_id == city.id("U")).order_by(col(Attachment.id))
    ).all()
    assert [(a.filename, a.content_type, a.event_id, a.kind) for a in stored] == [
        ("sau xử lý.png", "image/png", result.event_id, AttachmentKind.EVIDENCE.value),
        ("bien_ban.pdf", "application/pdf", result.event_id, AttachmentKind.EVIDENCE.value),
    ]
    detail = case_detail(
        session, city.id("U"), city.cast.unit_leader, NOW, with_attachment_data=True
    )
    assert detail.timeline[-1].attachment_ids == result.attachment_ids
    assert detail.attachments[0].data == PNG and detail.attachments[0].is_image
    assert detail.attachments[0].uploaded_by == "can_bo"


def test_perform_action_with_a_stale_version_writes_nothing(session: Session, city: City) -> None:
    report_id = city.id("U")
    before = (fresh(session, report_id).version, event_count(session, report_id))
    with pytest.raises(ConflictError) as err:
        perform_action(
            session,
            action=A_.DRAFT,
            report_id=report_id,
            actor=city.cast.officer,
            expected_version=before[0] - 1,
            now=NOW,
            params=ActionParams(result_text="Kết quả xử lý đã có."),
            evidence=[read_upload("a.png", PNG)],
        )
    session.rollback()
    assert err.value.changed_by == "truong_dv"  # the assignment was the last change
    assert (fresh(session, report_id).version, event_count(session, report_id)) == before
    assert session.exec(select(func.count()).select_from(Attachment)).one() == 0


def test_evidence_is_refused_on_decisions(session: Session, city: City) -> None:
    e = city.r["E"]
    with pytest.raises(ValidationError):
        perform_action(
            session,
            action=A_.APPROVE,
            report_id=city.id("E"),
            actor=city.cast.unit_leader,
            expected_version=e.version,
            now=NOW,
            evidence=[read_upload("a.png", PNG)],
        )
    session.rollback()
    assert fresh(session, city.id("E")).status == S_.DRAFTED.value


def test_bulk_dispatch_keeps_the_good_items_when_one_is_stale(session: Session, city: City) -> None:
    c = city.cast
    target = c.other_unit_id
    stale_h = city.r["H"].version - 1
    before_h = (fresh(session, city.id("H")).version, event_count(session, city.id("H")))
    result = bulk_dispatch(
        session,
        items=[
            (city.id("A"), city.r["A"].version),  # received → dispatch
            (city.id("H"), stale_h),  # read before 002 returned it: conflict
            (city.id("F"), city.r["F"].version),  # published: not allowed
            (city.id("B"), city.r["B"].version),  # waiting at 002 → reassign
            (city.id("G"), city.r["G"].version),  # already at 001: invalid
            (city.id("A"), city.r["A"].version),  # listed twice: once only
        ],
        to_unit_id=target,
        actor=c.dispatcher,
        now=NOW,
    )
    session.commit()
    outcomes = [(city.keys([i.report_id])[0], i.outcome, i.action) for i in result.items]
    assert outcomes == [
        ("A", ItemOutcome.OK, A_.DISPATCH),
        ("H", ItemOutcome.CONFLICT, None),
        ("F", ItemOutcome.NOT_ALLOWED, None),
        ("B", ItemOutcome.OK, A_.REASSIGN),
        ("G", ItemOutcome.INVALID, A_.REASSIGN),
    ]
    assert result.ok_count == 2 and len(result.failed) == 3
    conflict = result.items[1]
    assert conflict.changed_by == "truong_dv" and conflict.changed_at is not None
    for key in ("A", "B"):
        report = fresh(session, city.id(key))
        assert (report.status, report.current_unit_id) == (S_.WAITING.value, target)
    assert (fresh(session, city.id("H")).version, event_count(session, city.id("H"))) == before_h
    assert fresh(session, city.id("F")).status == S_.PUBLISHED.value


def test_bulk_dispatch_belongs_to_the_callers_transaction(session: Session, city: City) -> None:
    """Savepoints nest in the caller's transaction: rolling it back undoes every item
    (on SQLite this needs a real BEGIN before the first SAVEPOINT)."""
    result = bulk_dispatch(
        session,
        items=[(city.id("A"), city.r["A"].version), (city.id("H"), city.r["H"].version)],
        to_unit_id=city.cast.other_unit_id,
        actor=city.cast.dispatcher,
        now=NOW,
    )
    assert result.ok_count == 2
    session.rollback()
    assert fresh(session, city.id("A")).status == S_.RECEIVED.value
    assert fresh(session, city.id("H")).status == S_.RETURNED.value


def test_bulk_dispatch_by_a_unit_role_is_refused_item_by_item(session: Session, city: City) -> None:
    result = bulk_dispatch(
        session,
        items=[(city.id("A"), city.r["A"].version)],
        to_unit_id=city.cast.other_unit_id,
        actor=city.cast.unit_leader,
        now=NOW,
    )
    session.commit()
    assert [i.outcome for i in result.items] == [ItemOutcome.NOT_ALLOWED]
    assert fresh(session, city.id("A")).status == S_.RECEIVED.value


# ------------------------------------------------------------- uploads (pure)


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


def webp_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 120, 200)).save(buffer, format="WEBP")
    return buffer.getvalue()


def test_the_type_comes_from_the_bytes_not_the_name() -> None:
    pdf = read_upload("bien_ban.jpg", PDF)
    assert (pdf.content_type, pdf.filename) == ("application/pdf", "bien_ban.pdf")
    photo = read_upload("ảnh.PNG", jpeg_bytes())
    assert (photo.content_type, photo.filename) == ("image/jpeg", "ảnh.jpg")
    assert read_upload("hien_truong.jpeg", jpeg_bytes()).filename == "hien_truong.jpeg"
    assert read_upload("x.webp", webp_bytes()).content_type == "image/webp"
    assert read_upload("scan", PNG).filename == "scan.png"


def test_an_executable_renamed_png_is_refused() -> None:
    with pytest.raises(AttachmentRejected) as err:
        read_upload("anh_hien_truong.png", EXE)
    assert err.value.problem is UploadProblem.TYPE_NOT_ALLOWED
    # a text file that merely starts like a PDF later on is not a PDF
    with pytest.raises(AttachmentRejected):
        read_upload("x.pdf", b"<html>" + PDF)
    # a type we recognise but the rules do not allow
    only_pdf = UploadRules(1000, 5, frozenset({"application/pdf"}))
    with pytest.raises(AttachmentRejected):
        read_upload("a.png", PNG, only_pdf)


def test_a_picture_with_the_right_signature_but_a_broken_body_is_refused() -> None:
    for name, data in (
        ("cut.png", PNG[: len(PNG) // 2]),  # a truncated upload
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),  # a header glued on front
        ("fake.jpg", b"\xff\xd8\xff" + b"<script>"),
    ):
        with pytest.raises(AttachmentRejected) as err:
            read_upload(name, data)
        assert err.value.problem is UploadProblem.DAMAGED, name


def test_oversize_empty_and_too_many_files_are_refused() -> None:
    rules = load_upload_rules()
    assert rules.max_bytes == 10 * 1024 * 1024
    exactly = PDF + b"\x00" * (rules.max_bytes - len(PDF))
    assert read_upload("big.pdf", exactly).size_bytes == rules.max_bytes
    with pytest.raises(AttachmentRejected) as err:
        read_upload("big.pdf", exactly + b"\x00")
    assert (err.value.problem, err.value.limit) == (UploadProblem.TOO_LARGE, rules.max_bytes)
    with pytest.raises(AttachmentRejected) as err:
        read_upload("empty.png", b"")
    assert err.value.problem is UploadProblem.EMPTY
    with pytest.raises(AttachmentRejected) as err:
        read_uploads([(f"{i}.png", PNG) for i in range(rules.max_files + 1)])
    assert err.value.problem is UploadProblem.TOO_MANY


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\x\\Ảnh hiện trường.png", "Ảnh hiện trường.png"),
        ("re\u202egnp.exe.png", "regnp_exe.png"),  # direction override and inner dot
        ("...png", "tep_dinh_kem.png"),
        ("a<b>|c?.png", "a_b_c.png"),
        ("x" * 300 + ".png", "x" * 116 + ".png"),
        ("Hoa\u0300n Kie\u0302\u0301m.png", "Hoàn Kiếm.png"),  # NFD, typed on a Mac
    ],
)
def test_filenames_are_sanitised(name: str, expected: str) -> None:
    file_type = sniff_type(PNG)
    assert file_type is not None
    assert sanitize_filename(name, file_type) == expected


def test_due_soon_follows_the_deadline_rules_an_admin_saved(
    session: Session, now: datetime
) -> None:
    """The case list's "due soon" uses the rules in force, not only the shipped file."""
    from ihanoi_core.cases import due_soon_cutoff_at
    from ihanoi_core.config import reference_path
    from ihanoi_core.models import ReferenceDocument

    shipped = due_soon_cutoff_at(session, now)
    text = reference_path("deadlines.yaml").read_text(encoding="utf-8")
    assert "due_soon_hours: 8\n" in text
    session.add(
        ReferenceDocument(
            name="deadlines",
            content=text.replace("due_soon_hours: 8\n", "due_soon_hours: 16\n"),
            updated_at=now,
        )
    )
    session.commit()
    assert due_soon_cutoff_at(session, now) > shipped
