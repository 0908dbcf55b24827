"""The reference-data page (pages/10_danh_muc.py): the administrator reviews and confirms
edits of units, categories, deadline rules and templates; every confirmed change is one
admin-log entry and shows in the history tab; bad input comes back as a sentence and
loses nothing typed; other roles are stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import pytest
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from ihanoi_core.config import reference_path
from ihanoi_core.models import AdminEvent, Category, ReferenceDocument, Unit
from ihanoi_core.vocab import Role, UnitKind
from tests.factories import Cast, make_report

PAGE = "pages/10_danh_muc.py"
K = "ihanoi_ref_"
REASON = "Theo Quyết định số 12/QĐ-UBND"
FILE_TEXT = reference_path("deadlines.yaml").read_text(encoding="utf-8")


def fresh(session: Session) -> Session:
    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    return session


def events(session: Session) -> list[AdminEvent]:
    return list(
        fresh(session)
        .exec(
            select(AdminEvent)
            .where(
                col(AdminEvent.entity).in_(["unit", "category", "template", "reference_document"])
            )
            .where(AdminEvent.action != "reference_sync")
            .order_by(col(AdminEvent.id))
        )
        .all()
    )


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def frame(at: AppTest, key: str) -> pd.DataFrame:
    """The table whose widget key ends with `key` (its position moves with the tabs)."""
    table: pd.DataFrame = next(d for d in at.dataframe if d.proto.id.endswith(key)).value
    return table


def select_row(at: AppTest, table: str, position: int) -> AppTest:
    at.session_state[K + table] = {"selection": {"rows": [position], "columns": []}}
    return at.run()


def open_sxd(open_page: Callable[..., AppTest]) -> AppTest:
    at = open_page(PAGE, as_user="quan_tri")
    at.selectbox(key=K + "unit_kind").set_value(UnitKind.DEPARTMENT)
    at.text_input(key=K + "unit_search").input("SXD").run()
    return select_row(at, "unit_table", 0)


def test_the_admin_sees_the_five_tabs(cast: Cast, open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    assert not at.exception
    assert at.title[0].value == "Danh mục"
    assert [tab.label for tab in at.tabs] == [
        "Đơn vị",
        "Lĩnh vực",
        "Thời hạn xử lý",
        "Mẫu văn bản",
        "Lịch sử thay đổi",
    ]
    assert not errors(at)


def sxd(session: Session) -> Unit:
    return (
        fresh(session).exec(select(Unit).where(Unit.code == "SXD", Unit.kind == "department")).one()
    )


def test_the_admin_edits_a_unit_after_a_review(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_sxd(open_page)
    unit = sxd(ui_session)
    key = K + f"unit_{unit.id}_"
    assert at.text_input(key=key + "name").value == "Sở Xây dựng"
    at.text_input(key=key + "name").input("Sở Xây dựng Hà Nội")
    at.date_input(key=key + "to").set_value(date(2025, 6, 30))
    at.text_input(key=key + "reason").input(REASON)
    at.button(key=key + "submit").click().run()
    assert not errors(at) and not at.exception
    review = at.table[0].value
    assert list(review.iloc[:, 0]) == ["Tên", "Hiệu lực đến ngày"]
    assert list(review.iloc[:, 1]) == ["Sở Xây dựng", "—"]
    assert list(review.iloc[:, 2]) == ["Sở Xây dựng Hà Nội", "30/06/2025"]
    assert events(ui_session) == []  # reviewing writes nothing
    assert sxd(ui_session).name == "Sở Xây dựng"

    at.button(key=K + "confirm").click().run()
    assert successes(at) == ["Đã lưu đơn vị SXD."]
    saved = sxd(ui_session)
    assert (saved.name, saved.valid_to) == ("Sở Xây dựng Hà Nội", date(2025, 6, 30))
    (event,) = events(ui_session)
    assert (event.entity, event.action, event.actor_id, event.reason) == (
        "unit",
        "update",
        cast.admin.user_id,
        REASON,
    )
    assert json.loads(event.before or "")["name"] == "Sở Xây dựng"
    assert json.loads(event.after or "")["valid_to"] == "2025-06-30"
    history = frame(at, "history_table")
    assert list(history.iloc[0])[1:] == [
        "quan_tri",
        "Đơn vị",
        "department · SXD",
        "Sửa",
        REASON,
        "Tên: Sở Xây dựng → Sở Xây dựng Hà Nội; Hiệu lực đến ngày: — → 30/06/2025",
    ]


def test_reversed_dates_are_refused_and_what_was_typed_stays(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_sxd(open_page)
    key = K + f"unit_{sxd(ui_session).id}_"
    at.text_input(key=key + "name").input("Sở Xây dựng Hà Nội")
    at.date_input(key=key + "from").set_value(date(2025, 7, 1))
    at.date_input(key=key + "to").set_value(date(2025, 6, 30))
    at.text_input(key=key + "reason").input(REASON)
    at.button(key=key + "submit").click().run()
    assert errors(at) == [
        "Ngày hiệu lực từ (01/07/2025) phải trước hoặc bằng ngày hiệu lực đến (30/06/2025)."
    ]
    assert not [b for b in at.button if b.key == K + "confirm"]
    assert at.text_input(key=key + "name").value == "Sở Xây dựng Hà Nội"
    assert at.date_input(key=key + "from").value == date(2025, 7, 1)
    assert sxd(ui_session).name == "Sở Xây dựng" and events(ui_session) == []


def test_a_change_without_a_reason_is_refused(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_sxd(open_page)
    key = K + f"unit_{sxd(ui_session).id}_"
    at.text_input(key=key + "name").input("Sở Xây dựng Hà Nội")
    at.button(key=key + "submit").click().run()
    assert errors(at) == ["Cần ghi lý do thay đổi (ít nhất 5 ký tự)."]
    assert events(ui_session) == []


def test_a_unit_changed_meanwhile_is_not_overwritten(
    cast: Cast, ui_session: Session, now: datetime, open_page: Callable[..., AppTest]
) -> None:
    from ihanoi_core import refadmin
    from tests.factories import make_user

    at = open_sxd(open_page)  # the admin starts editing SXD
    other = make_user(ui_session, now, "quan_tri_2", Role.ADMIN)
    (row,) = [
        r
        for r in refadmin.list_units(ui_session, actor=other, kind=UnitKind.DEPARTMENT)
        if r.code == "SXD"
    ]
    refadmin.update_unit(
        ui_session,
        actor=other,
        unit_id=row.unit_id,
        expected=row,
        change=refadmin.UnitEdit("Sở Xây dựng Thủ đô", row.name_en, None, None, None),
        now=now,
        reason=REASON,
    )
    ui_session.commit()
    key = K + f"unit_{row.unit_id}_"
    at.text_input(key=key + "name").input("Sở Xây dựng Hà Nội")
    at.text_input(key=key + "reason").input(REASON)
    at.button(key=key + "submit").click().run()
    assert errors(at) == [
        "Dữ liệu này vừa được quan_tri_2 thay đổi lúc 08/08/2024 10:00. Không có gì bị ghi đè;"
        " nội dung bạn nhập vẫn còn. Bấm “Tải lại” để xem bản mới rồi sửa lại."
    ]
    assert at.text_input(key=key + "name").value == "Sở Xây dựng Hà Nội"
    assert sxd(ui_session).name == "Sở Xây dựng Thủ đô"
    assert len(events(ui_session)) == 1


def test_deadline_rules_name_the_bad_line_then_save(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    assert at.text_area(key=K + "deadline_text").value == FILE_TEXT
    bad = FILE_TEXT + "  - {kind: onsite, priority: hight, hours: 4}\n"
    line = len(FILE_TEXT.splitlines()) + 1
    at.text_area(key=K + "deadline_text").input(bad)
    at.text_input(key=K + "deadline_reason").input(REASON)
    at.button(key=K + "deadline_review").click().run()
    (error,) = errors(at)
    assert error.startswith(
        f"Quy định thời hạn chưa hợp lệ, chưa lưu gì. Dòng {line} — rules[6]"
        " (kind=onsite, priority=hight): unknown priority 'hight'"
    )
    assert at.text_area(key=K + "deadline_text").value == bad  # nothing lost
    assert fresh(ui_session).exec(select(ReferenceDocument)).first() is None

    good = FILE_TEXT + "  - {kind: onsite, category: rac_thai, priority: normal, hours: 16}\n"
    at.text_area(key=K + "deadline_text").input(good)
    at.button(key=K + "deadline_check").click().run()
    assert successes(at) == ["Hợp lệ: 7 quy định."]
    at.button(key=K + "deadline_review").click().run()
    assert not errors(at)
    (diff,) = [c.value for c in at.code]
    assert (
        diff.splitlines()[-1]
        == "+  - {kind: onsite, category: rac_thai, priority: normal, hours: 16}"
    )
    at.button(key=K + "confirm").click().run()
    assert successes(at) == [
        "Đã lưu quy định thời hạn, phiên bản 1. Áp dụng cho phản ánh được chuyển từ bây giờ."
    ]
    doc = fresh(ui_session).exec(select(ReferenceDocument)).one()
    assert (doc.version, doc.content, doc.updated_by) == (1, good, cast.admin.user_id)
    assert at.text_area(key=K + "deadline_text").value == good
    (event,) = events(ui_session)
    assert (event.entity, json.loads(event.after or "")["version"]) == ("reference_document", 1)


def test_a_category_reports_use_cannot_be_deleted(
    cast: Cast, ui_session: Session, now: datetime, open_page: Callable[..., AppTest]
) -> None:
    make_report(ui_session, now, category_code="rac_thai")
    ui_session.commit()
    at = open_page(PAGE, as_user="quan_tri")
    codes = list(frame(at, "category_table").iloc[:, 0])
    at = select_row(at, "category_table", codes.index("rac_thai"))
    category = fresh(ui_session).exec(select(Category).where(Category.code == "rac_thai")).one()
    key = K + f"category_{category.id}_"
    at.text_input(key=key + "delete_reason").input(REASON)
    at.button(key=key + "delete").click().run()
    assert errors(at) == [
        "Không thể xóa lĩnh vực rac_thai: đã có 1 phản ánh thuộc lĩnh vực này."
        " Hãy ngừng sử dụng thay vì xóa."
    ]
    # Retiring it instead: one event, and it stays for its report.
    at.checkbox(key=key + "active").uncheck()
    at.text_input(key=key + "reason").input(REASON)
    at.button(key=key + "submit").click().run()
    at.button(key=K + "confirm").click().run()
    assert successes(at) == ["Đã lưu lĩnh vực rac_thai."]
    assert not fresh(ui_session).get(Category, category.id).active  # type: ignore[union-attr]
    assert [e.action for e in events(ui_session)] == ["deactivate"]


def test_the_admin_retires_a_template(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    codes = list(frame(at, "template_table").iloc[:, 0])
    at = select_row(at, "template_table", codes.index("tu_choi_tranh_chap_dat_dai"))
    (checkbox,) = [
        c for c in at.checkbox if c.key and c.key.endswith("_active") and "template" in c.key
    ]
    checkbox.uncheck()
    reason = [
        t for t in at.text_input if t.key and "template_" in t.key and t.key.endswith("_reason")
    ]
    reason[0].input(REASON)
    next(
        b for b in at.button if b.key and "template_" in b.key and b.key.endswith("_submit")
    ).click()
    at.run()
    at.button(key=K + "confirm").click().run()
    assert successes(at) == ["Đã lưu mẫu tu_choi_tranh_chap_dat_dai."]
    assert [e.action for e in events(ui_session)] == ["deactivate"]
    templates = frame(at, "template_table")
    row = templates[templates.iloc[:, 0] == "tu_choi_tranh_chap_dat_dai"]
    assert not bool(row.iloc[0, -1])  # "Đang sử dụng" unticked


@pytest.mark.parametrize("username", ["can_bo", "dieu_phoi", "lanh_dao", "phan_tich", "truong_dv"])
def test_other_roles_are_stopped(
    cast: Cast, open_page: Callable[..., AppTest], username: str
) -> None:
    at = open_page(PAGE, as_user=username)
    assert errors(at) == ["Bạn không có quyền xem trang này."]
    assert not at.dataframe and not at.tabs


def test_an_anonymous_visitor_is_asked_to_log_in(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    assert [i.value for i in at.info] == ["Vui lòng đăng nhập để tiếp tục."]
    assert not at.dataframe


def test_the_page_in_english(cast: Cast, open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE, as_user="quan_tri", lang="en")
    assert at.title[0].value == "Reference data"
    assert [tab.label for tab in at.tabs][:3] == ["Units", "Categories", "Deadline rules"]
    assert list(frame(at, "unit_table").columns)[:3] == ["Code", "Kind", "Name"]
