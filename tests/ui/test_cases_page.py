"""AppTest of "Phản ánh" (pages/3_phan_anh.py) on the small city of `case_city.py`.

What each role sees, search and filters, paging, the detail and its buttons, a full
lifecycle through the dialogs with users switching between steps, both refusals, a
reopening, a stale save, and the dispatcher's bulk dispatch with one stale item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_core.models import ReportEvent, Template
from ihanoi_core.vocab import Action, Rating, Role
from ihanoi_ui import state_keys
from ihanoi_ui.i18n import fmt_datetime, t
from tests.factories import Cast, make_report, make_user, step, unit_id
from tests.ui.case_city import (
    CASES,
    T0,
    City,
    Clock,
    action_buttons,
    build_city,
    fresh,
    history,
    row_of,
    select_rows,
    table,
    texts,
)

TABLE = "cases_table"
PICK = "cases_pick"
Open = Callable[..., AppTest]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(db, "utcnow", frozen)
    return frozen


@pytest.fixture
def city(ui_session: Session, cast: Cast, clock: Clock) -> City:
    return build_city(ui_session, cast)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def pick(at: AppTest, report_id: int) -> AppTest:
    return ok(at.selectbox(key=PICK).select(report_id).run())


def click(at: AppTest, key: str) -> AppTest:
    return ok(at.button(key=key).click().run())


def codes(at: AppTest) -> set[str]:
    return set(table(at, TABLE)["Mã"])


def bulk_table(at: AppTest) -> Any:
    """The per-report result table of a bulk dispatch (a plain table has no key)."""
    for frame in at.dataframe:
        if list(frame.value.columns) == ["Mã", "Kết quả"]:
            return frame.value
    raise AssertionError("no bulk result table")


def template_text(session: Session, code: str) -> str:
    found = session.exec(select(Template.text_vi).where(Template.code == code)).one()
    return found


def open_dialog_of(at: AppTest) -> tuple[str, int, int] | None:
    try:
        return at.session_state[state_keys.OPEN_DIALOG]  # type: ignore[no-any-return]
    except KeyError:
        return None


# ------------------------------------------------------------- who sees what


def test_anonymous_is_stopped_with_the_login_message(ui_db: str, open_page: Open) -> None:
    at = open_page(CASES)
    assert [i.value for i in at.info] == [t("common.please_login", "vi")]
    assert not at.dataframe and not at.text_input and not at.title


@pytest.mark.parametrize(
    ("username", "keys"),
    [
        ("dieu_phoi", "ABDUEFGI"),
        ("lanh_dao", "ABDUEFGI"),
        ("phan_tich", "ABDUEFGI"),
        ("quan_tri", "ABDUEFGI"),
        ("truong_dv", "BDUEFI"),  # unit 002 only
        ("can_bo", "BDUEFI"),
        ("truong_khac", "G"),  # unit 001 only
        ("can_bo_khac", "G"),
    ],
)
def test_each_role_sees_its_scope(city: City, open_page: Open, username: str, keys: str) -> None:
    at = ok(open_page(CASES, as_user=username))
    assert at.title[0].value == "Phản ánh"
    assert codes(at) == {city.code(k) for k in keys}
    assert f"{len(keys)} phản ánh · trang 1/1" in texts(at)


def test_the_table_shows_statuses_and_overdue_in_vietnamese(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="phan_tich"))
    shown = table(at, TABLE).set_index("Mã")
    assert sorted(shown["Trạng thái"]) == sorted(
        [
            "Chờ tiếp nhận",  # A
            "Chờ phân công",  # B
            "Đang xử lý",  # D
            "Đang xử lý",  # U
            "Chờ duyệt kết quả",  # E
            "Đã xử lý",  # F
            "Chờ phân công",  # G
            "Đã từ chối",  # I
        ]
    )
    assert list(shown.index[shown["Quá hạn"]]) == [city.code("D")]
    assert shown.loc[city.code("B"), "Đơn vị đang giữ"] == "Hoàn Kiếm"
    assert shown.loc[city.code("B"), "Hạn xử lý"] == "15/08/2024 11:00"
    # newest first; D (submitted 25/07) last
    assert table(at, TABLE)["Mã"].iloc[-1] == city.code("D")


def test_english(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="dieu_phoi", lang="en"))
    assert at.title[0].value == "Reports"
    assert "8 reports · page 1/1" in texts(at)
    assert "Status" in table(at, TABLE).columns


# ------------------------------------------------------- search and filters


def test_search_ignores_diacritics(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="dieu_phoi"))
    at = ok(at.text_input(key="cases_f_text").input("hoan kiem").run())
    assert codes(at) == {city.code("B")}
    at = ok(at.text_input(key="cases_f_text").input("HOÀN KIẾM").run())
    assert codes(at) == {city.code("B")}
    at = ok(at.text_input(key="cases_f_text").input("khong co gi").run())
    assert not codes(at)
    assert t("cases.empty", "vi") in texts(at)


def test_filters(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="dieu_phoi"))
    at = ok(at.multiselect(key="cases_f_status").select("waiting").run())
    assert codes(at) == {city.code("B"), city.code("G")}
    at = ok(at.selectbox(key="cases_f_unit").select(city.cast.unit_id).run())
    assert codes(at) == {city.code("B")}
    at = ok(at.selectbox(key="cases_f_unit").set_value(None).run())
    at = ok(at.multiselect(key="cases_f_status").unselect("waiting").run())
    at = ok(at.checkbox(key="cases_f_overdue").check().run())
    assert codes(at) == {city.code("D")}
    at = ok(at.checkbox(key="cases_f_overdue").uncheck().run())
    at = ok(at.checkbox(key="cases_f_due_soon").check().run())
    assert codes(at) == {city.code("U")}  # urgent, due 16:00; the clock says 15:00
    at = ok(at.checkbox(key="cases_f_due_soon").uncheck().run())
    at = ok(at.selectbox(key="cases_f_bucket").select("processing").run())
    assert codes(at) == {city.code(k) for k in "DUE"}
    at = ok(at.selectbox(key="cases_f_bucket").set_value(None).run())
    at = ok(at.date_input(key="cases_f_to").set_value(date(2024, 7, 31)).run())
    assert codes(at) == {city.code("D")}
    at = ok(at.date_input(key="cases_f_to").set_value(None).run())
    at = ok(at.multiselect(key="cases_f_category").select("van_minh_do_thi").run())
    assert codes(at) == {city.code("B"), city.code("G")}  # the top category covers its children


def test_pages_of_ten_and_a_filter_returns_to_page_one(
    city: City, ui_session: Session, open_page: Open
) -> None:
    for i in range(6):
        make_report(ui_session, T0 + timedelta(minutes=i), title=f"Báo cáo thêm {i}")
    ui_session.commit()
    at = ok(open_page(CASES, as_user="dieu_phoi"))
    at = ok(at.selectbox(key="cases_page_size").select(10).run())
    assert len(table(at, TABLE)) == 10 and "14 phản ánh · trang 1/2" in texts(at)
    first_page = codes(at)
    at = ok(at.number_input(key="cases_page_no").set_value(2).run())
    assert len(table(at, TABLE)) == 4 and "14 phản ánh · trang 2/2" in texts(at)
    assert not codes(at) & first_page
    at = ok(at.checkbox(key="cases_f_overdue").check().run())
    assert "1 phản ánh · trang 1/1" in texts(at)
    assert at.number_input(key="cases_page_no").value == 1


# ------------------------------------------------------- detail and buttons


@pytest.mark.parametrize(
    ("username", "key", "buttons"),
    [
        ("dieu_phoi", "A", ["dispatch"]),
        ("dieu_phoi", "B", ["reassign"]),
        ("dieu_phoi", "E", []),
        ("truong_dv", "B", ["assign", "refuse_not_ours", "refuse_inaccurate"]),
        ("truong_dv", "E", ["approve", "reject"]),
        ("can_bo", "D", ["draft", "refuse_not_ours", "refuse_inaccurate"]),
        ("can_bo", "E", []),
        ("lanh_dao", "F", []),  # published but not rated unsatisfied: nothing to reopen
        ("phan_tich", "B", []),
        ("quan_tri", "B", []),
    ],
)
def test_the_buttons_are_exactly_the_allowed_actions(
    city: City, open_page: Open, username: str, key: str, buttons: list[str]
) -> None:
    at = pick(open_page(CASES, as_user=username), city.id(key))
    assert at.subheader[0].value.startswith(city.code(key))
    assert action_buttons(at) == buttons
    if not buttons:
        assert t("cases.detail.no_actions", "vi") in texts(at)


def test_selecting_a_table_row_opens_its_detail_with_timeline(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="truong_dv"))
    at = ok(select_rows(at, TABLE, [row_of(at, TABLE, city.code("E"))]))
    assert at.subheader[0].value == f"{city.code('E')} — Rác thải tập kết sai quy định"
    shown = texts(at)
    assert "**Chờ duyệt kết quả** · Đang xử lý · Bình thường" in shown
    assert "Còn " in shown and "giờ làm việc đến hạn xử lý." in shown
    for line in (
        "08/08/2024 13:00 · **Dự thảo kết quả** · can_bo (Cán bộ xử lý)",
        "08/08/2024 12:00 · **Phân công** · truong_dv (Lãnh đạo đơn vị)",
        "08/08/2024 11:00 · **Chuyển xử lý** · dieu_phoi (Điều phối (Văn phòng UBND TP))",
    ):
        assert line in shown
    assert "Kết quả: Đã kiểm tra và xử lý xong tại hiện trường." in shown
    assert action_buttons(at) == ["approve", "reject"]


def test_overdue_detail_says_so(city: City, open_page: Open) -> None:
    at = pick(open_page(CASES, as_user="can_bo"), city.id("D"))
    assert [e.value for e in at.error] == ["Quá hạn xử lý (hạn 01/08/2024 11:00)."]


def test_another_units_report_is_not_shown_even_by_id(city: City, open_page: Open) -> None:
    at = open_page(CASES, as_user="can_bo")
    at.session_state[state_keys.SELECTED_REPORT] = city.id("G")
    at = ok(at.run())
    assert t("cases.detail.not_visible", "vi") in [e.value for e in at.error]
    assert not at.subheader and city.code("G") not in texts(at)


# ------------------------------------------------------------ the lifecycle


def test_full_lifecycle_through_the_dialogs(
    city: City, clock: Clock, ui_session: Session, open_page: Open
) -> None:
    c, report_id = city.cast, city.id("A")

    # 1. the dispatcher sends it to Hoàn Kiếm
    at = pick(open_page(CASES, as_user="dieu_phoi"), report_id)
    at = click(at, "case_action_dispatch")
    assert open_dialog_of(at) == ("dispatch", report_id, city.r["A"].version)
    at = ok(at.selectbox(key="dlg_unit").select(c.unit_id).run())
    at = click(at, "dlg_save")
    assert [s.value for s in at.success] == [f"Chuyển xử lý: đã lưu ({city.code('A')})."]
    assert open_dialog_of(at) is None
    report = fresh(ui_session, report_id)
    assert (report.status, report.current_unit_id) == ("waiting", c.unit_id)

    # 2. the unit leader assigns it to can_bo, urgent
    clock.tick()
    at = pick(open_page(CASES, as_user="truong_dv"), report_id)
    at = click(at, "case_action_assign")
    at = ok(at.selectbox(key="dlg_officer").select(c.officer.user_id).run())
    at = ok(at.selectbox(key="dlg_priority").select("urgent").run())
    at = click(at, "dlg_save")
    report = fresh(ui_session, report_id)
    assert (report.status, report.assignee_id, report.priority) == (
        "assigned",
        c.officer.user_id,
        "urgent",
    )

    # 3. the officer drafts from a response template, edited
    clock.tick()
    at = pick(open_page(CASES, as_user="can_bo"), report_id)
    at = click(at, "case_action_draft")
    at = ok(at.selectbox(key="dlg_template").select("tra_loi_da_xu_ly").run())
    assert at.text_area(key="dlg_result").value == template_text(ui_session, "tra_loi_da_xu_ly")
    first_draft = "Đã thu dọn rác tại điểm tập kết; khu vực đã sạch."
    at = ok(at.text_area(key="dlg_result").input(first_draft).run())
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "drafted"

    # 4. the leader sends it back for rework
    clock.tick()
    at = pick(open_page(CASES, as_user="truong_dv"), report_id)
    assert action_buttons(at) == ["approve", "reject"]
    at = click(at, "case_action_reject")
    at = ok(at.text_area(key="dlg_reason").input("Thiếu ảnh sau xử lý.").run())
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "assigned"

    # 5. the officer redrafts: the dialog starts from the previous text
    clock.tick()
    at = pick(open_page(CASES, as_user="can_bo"), report_id)
    at = click(at, "case_action_draft")
    assert at.text_area(key="dlg_result").value == first_draft
    at = ok(at.text_area(key="dlg_result").input(first_draft + " Ảnh đính kèm.").run())
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "drafted"

    # 6. the leader approves, then publishes it publicly
    clock.tick()
    at = pick(open_page(CASES, as_user="truong_dv"), report_id)
    at = click(at, "case_action_approve")
    assert first_draft + " Ảnh đính kèm." in [i.value for i in at.info]
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "approved"
    clock.tick()
    assert action_buttons(at) == ["publish"]
    at = click(at, "case_action_publish")
    at = ok(at.toggle(key="dlg_public").set_value(True).run())
    at = click(at, "dlg_save")
    report = fresh(ui_session, report_id)
    assert (report.status, report.is_public) == ("published", True)

    assert history(ui_session, report_id) == [
        ("receive", "system", "received"),
        ("dispatch", "dieu_phoi", "waiting"),
        ("assign", "truong_dv", "assigned"),
        ("draft", "can_bo", "drafted"),
        ("reject", "truong_dv", "assigned"),
        ("draft", "can_bo", "drafted"),
        ("approve", "truong_dv", "approved"),
        ("publish", "truong_dv", "published"),
    ]
    # the leader sees the whole story on the page
    at = pick(open_page(CASES, as_user="lanh_dao"), report_id)
    shown = texts(at)
    assert "**Đã xử lý** · Khẩn" in shown  # the bucket is not repeated when it says the same
    assert "Lý do: Thiếu ảnh sau xử lý." in shown
    assert shown.count("**Dự thảo kết quả**") == 2
    assert action_buttons(at) == []


def test_refusal_not_ours_goes_back_to_the_dispatcher(
    city: City, ui_session: Session, open_page: Open
) -> None:
    report_id = city.id("D")
    at = pick(open_page(CASES, as_user="can_bo"), report_id)
    at = click(at, "case_action_refuse_not_ours")
    at = ok(at.selectbox(key="dlg_template").select("khong_thuoc_tham_quyen").run())
    text = template_text(ui_session, "khong_thuoc_tham_quyen")
    assert at.text_area(key="dlg_reason").value == text
    at = click(at, "dlg_save")
    report = fresh(ui_session, report_id)
    assert (report.status, report.current_unit_id, report.bounce_count) == (
        "returned",
        unit_id(ui_session, "VP-UBND"),
        1,
    )
    event = ui_session.exec(
        select(ReportEvent)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.seq).desc())
    ).first()
    assert event is not None
    assert (event.template_code, event.reason) == ("khong_thuoc_tham_quyen", text)
    # the dispatcher now has it, with its dispatch button
    at = pick(open_page(CASES, as_user="dieu_phoi"), report_id)
    assert action_buttons(at) == ["dispatch"]


def test_refusal_inaccurate_with_a_prefilled_editable_template(
    city: City, ui_session: Session, open_page: Open
) -> None:
    report_id = city.id("B")
    at = pick(open_page(CASES, as_user="truong_dv"), report_id)
    at = click(at, "case_action_refuse_inaccurate")
    # a template is required: the first is chosen and its text is in the box
    first = at.selectbox(key="dlg_template").value
    assert at.text_area(key="dlg_reason").value == template_text(ui_session, first)
    at = ok(at.selectbox(key="dlg_template").select("tu_choi_tranh_chap_dat_dai").run())
    text = template_text(ui_session, "tu_choi_tranh_chap_dat_dai")
    assert at.text_area(key="dlg_reason").value == text
    edited = text + " Trân trọng cảm ơn."
    at = ok(at.text_area(key="dlg_reason").input(edited).run())
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "refused"
    event = ui_session.exec(
        select(ReportEvent)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.seq).desc())
    ).first()
    assert event is not None
    assert (event.action, event.template_code, event.reason) == (
        "refuse_inaccurate",
        "tu_choi_tranh_chap_dat_dai",
        edited,
    )


def test_a_leader_reopens_an_unsatisfied_result(
    city: City, ui_session: Session, clock: Clock, open_page: Open
) -> None:
    f = fresh(ui_session, city.id("F"))
    step(ui_session, f, Action.RATE, city.cast.system, clock.tick(), rating=Rating.UNSATISFIED)
    ui_session.commit()
    at = pick(open_page(CASES, as_user="lanh_dao"), city.id("F"))
    assert action_buttons(at) == ["reopen"]
    at = click(at, "case_action_reopen")
    at = ok(at.text_area(key="dlg_reason").input("Kết quả chung chung, không có ảnh.").run())
    at = click(at, "dlg_save")
    assert fresh(ui_session, city.id("F")).status == "assigned"


def test_a_too_short_reason_is_explained_and_nothing_is_written(
    city: City, ui_session: Session, open_page: Open
) -> None:
    before = fresh(ui_session, city.id("E")).version
    at = pick(open_page(CASES, as_user="truong_dv"), city.id("E"))
    at = click(at, "case_action_reject")
    at = ok(at.text_area(key="dlg_reason").input("ko").run())
    at = click(at, "dlg_save")
    assert [e.value for e in at.error] == ["Lý do cần ít nhất 5 ký tự."]
    assert open_dialog_of(at) is not None  # still open, the text kept
    assert at.text_area(key="dlg_reason").value == "ko"
    assert fresh(ui_session, city.id("E")).version == before


def test_cancel_closes_the_dialog_without_writing(
    city: City, ui_session: Session, open_page: Open
) -> None:
    before = fresh(ui_session, city.id("B")).version
    at = pick(open_page(CASES, as_user="dieu_phoi"), city.id("B"))
    at = click(at, "case_action_reassign")
    assert open_dialog_of(at) is not None
    at = click(at, "dlg_cancel")
    assert open_dialog_of(at) is None
    assert not [s for s in at.selectbox if s.key == "dlg_unit"]
    assert fresh(ui_session, city.id("B")).version == before


def test_a_stale_save_shows_who_changed_it_and_overwrites_nothing(
    city: City, ui_session: Session, clock: Clock, open_page: Open
) -> None:
    deputy = make_user(ui_session, T0, "pho_dv", Role.UNIT_LEADER, city.cast.unit_code)
    ui_session.commit()
    report_id = city.id("E")
    at = pick(open_page(CASES, as_user="truong_dv"), report_id)
    at = click(at, "case_action_approve")
    read_version = fresh(ui_session, report_id).version
    assert open_dialog_of(at) == ("approve", report_id, read_version)

    # behind the page's back, the deputy sends it back for rework
    when = clock.tick()
    step(ui_session, fresh(ui_session, report_id), Action.REJECT, deputy, when, reason="Thiếu ảnh.")
    ui_session.commit()

    clock.tick()
    at = click(at, "dlg_save")
    message = t("common.conflict", "vi", who="pho_dv", when=fmt_datetime(when))
    assert [e.value for e in at.error] == [message]
    report = fresh(ui_session, report_id)
    assert (report.status, report.version) == ("assigned", read_version + 1)
    assert [a for a, _, _ in history(ui_session, report_id)][-1] == "reject"
    assert "approve" not in [a for a, _, _ in history(ui_session, report_id)]
    # reload: the dialog closes and the panel shows the report as it is now
    at = click(at, "dlg_reload")
    assert open_dialog_of(at) is None
    assert action_buttons(at) == ["assign", "draft", "refuse_not_ours", "refuse_inaccurate"]


def test_a_stale_button_opens_a_dialog_that_says_who_changed_it(
    city: City, ui_session: Session, clock: Clock, open_page: Open
) -> None:
    at = pick(open_page(CASES, as_user="dieu_phoi"), city.id("A"))
    # someone dispatched it after the page was drawn; the old button is clicked
    when = clock.tick()
    step(
        ui_session,
        fresh(ui_session, city.id("A")),
        Action.DISPATCH,
        city.cast.dispatcher,
        when,
        to_unit_id=city.cast.other_unit_id,
    )
    ui_session.commit()
    at = click(at, "case_action_dispatch")
    message = t("common.conflict", "vi", who="dieu_phoi", when=fmt_datetime(when))
    assert [e.value for e in at.error] == [message]
    assert not [s for s in at.selectbox if s.key == "dlg_unit"]  # no form to fill
    at = click(at, "dlg_reload")
    assert open_dialog_of(at) is None
    assert action_buttons(at) == ["reassign"]


def test_an_account_deactivated_meanwhile_cannot_act(
    city: City, ui_session: Session, open_page: Open
) -> None:
    from ihanoi_core.models import User

    at = pick(open_page(CASES, as_user="truong_dv"), city.id("E"))
    user = ui_session.get(User, city.cast.unit_leader.user_id)
    assert user is not None
    user.active = False
    ui_session.commit()
    version = fresh(ui_session, city.id("E")).version
    at = ok(at.button(key="case_action_approve").click().run())
    # the page guard ends the session: no report, no dialog, nothing written
    assert at.warning and not at.subheader and not at.dataframe
    assert not [b for b in at.button if b.key == "dlg_save"]
    assert fresh(ui_session, city.id("E")).version == version


# ------------------------------------------------------------ bulk dispatch


def test_bulk_dispatch_reports_each_item_and_keeps_the_good_ones(
    city: City, ui_session: Session, clock: Clock, open_page: Open
) -> None:
    c = city.cast
    at = ok(open_page(CASES, as_user="dieu_phoi"))
    rows = [row_of(at, TABLE, city.code(k)) for k in ("A", "B", "F")]
    at = select_rows(at, TABLE, rows)
    assert t("cases.selected", "vi", n=3) in texts(at)
    # B is moved by someone else before the dispatcher clicks
    moved_at = clock.tick()
    step(
        ui_session,
        fresh(ui_session, city.id("B")),
        Action.REASSIGN,
        c.dispatcher,
        moved_at,
        to_unit_id=unit_id(ui_session, "003"),
    )
    ui_session.commit()
    clock.tick()
    at = ok(at.selectbox(key="cases_bulk_unit").select(c.other_unit_id).run())
    at = click(at, "cases_bulk_go")
    assert [w.value for w in at.warning] == ["Đã chuyển 1/3 phản ánh."]
    results = bulk_table(at)
    outcome = dict(zip(results["Mã"], results["Kết quả"], strict=True))
    assert outcome == {
        city.code("A"): "Đã chuyển",
        city.code("B"): f"Không chuyển: đã được dieu_phoi thay đổi lúc {fmt_datetime(moved_at)}",
        city.code("F"): "Không chuyển được ở trạng thái hiện tại",
    }
    a, b = fresh(ui_session, city.id("A")), fresh(ui_session, city.id("B"))
    assert (a.status, a.current_unit_id) == ("waiting", c.other_unit_id)
    assert b.current_unit_id == unit_id(ui_session, "003")  # the other dispatcher's move stands
    assert fresh(ui_session, city.id("F")).status == "published"
    assert not [s for s in at.selectbox if s.key == "cases_bulk_unit"]  # selection cleared


def test_bulk_dispatch_needs_a_unit(city: City, ui_session: Session, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="dieu_phoi"))
    at = select_rows(at, TABLE, [row_of(at, TABLE, city.code(k)) for k in ("A", "G")])
    at = click(at, "cases_bulk_go")
    assert [e.value for e in at.error] == ["Vui lòng chọn đơn vị nhận."]
    assert fresh(ui_session, city.id("A")).status == "received"


def test_other_roles_select_one_row_only(city: City, open_page: Open) -> None:
    at = ok(open_page(CASES, as_user="lanh_dao"))
    at = ok(select_rows(at, TABLE, [0, 1]))
    assert not [s for s in at.selectbox if s.key == "cases_bulk_unit"]
    assert not at.subheader  # two rows are not one report: no detail either


def test_a_located_report_shows_a_map_pin_without_internet_tiles(
    city: City, ui_session: Session, open_page: Open
) -> None:
    import json

    from ihanoi_core.models import ReportCreate
    from ihanoi_core.services import create_report
    from tests.ui.case_city import StubRouter

    located = create_report(
        ui_session,
        data=ReportCreate(
            kind="onsite",
            category_code="rac_thai",
            title="Đổ rác ở phố Hàng Đồng",
            address="phố Hàng Đồng",
            lat=21.0362,
            lon=105.8486,
            submitted_at=T0,
        ),
        now=T0,
        router=StubRouter("002"),  # type: ignore[arg-type]
    )
    ui_session.commit()
    assert located.id is not None
    at = pick(open_page(CASES, as_user="dieu_phoi"), located.id)
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.json)
    assert spec["initialViewState"]["latitude"] == pytest.approx(21.0362)
    # pydeck's "no style" sentinel: Streamlit then draws no basemap (a missing key
    # would make it fetch Carto tiles from the internet)
    assert spec["mapStyle"] == "__MAP_STYLE__"
    assert "mapProvider" not in spec
    assert "Tọa độ: 21.03620, 105.84860" in texts(at)
    assert "- **Địa bàn:** Hoàn Kiếm" in texts(at)


def test_the_case_strings_exist_in_both_languages_with_the_same_placeholders() -> None:
    import string
    from pathlib import Path

    import yaml

    from ihanoi_ui.i18n import LOCALES_DIR, _flatten

    def strings(lang: str) -> dict[str, str]:
        out: dict[str, str] = {}
        path = Path(LOCALES_DIR) / lang / "cases.yaml"
        _flatten("", yaml.safe_load(path.read_text(encoding="utf-8")), out)
        return out

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    vi, en = strings("vi"), strings("en")
    assert set(vi) == set(en)
    assert {k.split(".")[0] for k in vi} == {"cases", "queue", "dialog"}
    for key in vi:
        assert fields(vi[key]) == fields(en[key]), key
