"""AppTest of "Việc của tôi" (pages/2_viec_cua_toi.py) on the small city of
`case_city.py`: who may open it, each person's queue in the right order with the time
left, and work done from the queue (the shared detail panel and dialogs)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_ui.i18n import t
from tests.factories import Cast
from tests.ui.case_city import (
    QUEUE,
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

TABLE = "queue_table"
PICK = "queue_pick"
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


def click(at: AppTest, key: str) -> AppTest:
    return ok(at.button(key=key).click().run())


def queue_codes(at: AppTest) -> list[str]:
    return list(table(at, TABLE)["Mã"])


def test_anonymous_is_stopped_with_the_login_message(ui_db: str, open_page: Open) -> None:
    at = open_page(QUEUE)
    assert [i.value for i in at.info] == [t("common.please_login", "vi")]
    assert not at.dataframe and not at.title


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao", "phan_tich", "quan_tri"])
def test_roles_without_a_queue_are_not_allowed(city: City, open_page: Open, username: str) -> None:
    at = ok(open_page(QUEUE, as_user=username))
    assert [e.value for e in at.error] == [t("common.not_allowed", "vi")]
    assert not at.dataframe and not at.title


def test_the_officer_sees_their_assignments_overdue_first(city: City, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="can_bo"))
    assert at.title[0].value == "Việc của tôi"
    assert "2 việc đang chờ, 1 việc quá hạn." in texts(at)
    shown = table(at, TABLE)
    assert queue_codes(at) == [city.code("D"), city.code("U")]
    assert list(shown["Quá hạn"]) == [True, False]
    assert list(shown["Mức độ"]) == ["Bình thường", "Khẩn"]
    assert list(shown["Hạn xử lý"]) == ["01/08/2024 11:00", "08/08/2024 16:00"]
    assert shown["Còn lại (giờ làm việc)"].iloc[1] == "1,0"  # 15:00 → 16:00
    assert shown["Còn lại (giờ làm việc)"].iloc[0].startswith("-")


def test_the_unit_leader_sees_what_to_assign_and_approve(city: City, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="truong_dv"))
    assert queue_codes(at) == [city.code("B"), city.code("E")]  # same deadline: B came first
    assert list(table(at, TABLE)["Trạng thái"]) == ["Chờ phân công", "Chờ duyệt kết quả"]
    assert "2 việc đang chờ, 0 việc quá hạn." in texts(at)


def test_another_units_leader_sees_only_theirs(city: City, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="truong_khac"))
    assert queue_codes(at) == [city.code("G")]


def test_an_empty_queue_says_so(city: City, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="can_bo_2"))
    assert t("queue.empty", "vi") in [i.value for i in at.info]
    assert "0 việc đang chờ, 0 việc quá hạn." in texts(at)


def test_english(city: City, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="can_bo", lang="en"))
    assert at.title[0].value == "My queue"
    assert "2 waiting, 1 overdue." in texts(at)


def test_work_from_the_queue_until_it_is_empty(
    city: City, ui_session: Session, clock: Clock, open_page: Open
) -> None:
    report_id = city.id("U")
    # the officer opens U from the table and drafts a result
    at = ok(open_page(QUEUE, as_user="can_bo"))
    at = ok(select_rows(at, TABLE, [row_of(at, TABLE, city.code("U"))]))
    assert at.subheader[0].value.startswith(city.code("U"))
    assert "Sắp đến hạn: còn 1,0 giờ làm việc." in [w.value for w in at.warning]
    assert action_buttons(at) == ["draft", "refuse_not_ours", "refuse_inaccurate"]
    at = click(at, "case_action_draft")
    at = ok(at.text_area(key="dlg_result").input("Đã thu gom rác, vệ sinh khu vực.").run())
    clock.tick()
    at = click(at, "dlg_save")
    assert [s.value for s in at.success] == [f"Dự thảo kết quả: đã lưu ({city.code('U')})."]
    assert queue_codes(at) == [city.code("D")]  # U left the officer's queue

    # the leader finds it among the drafts, approves and publishes it
    clock.tick()
    at = ok(open_page(QUEUE, as_user="truong_dv"))
    assert city.code("U") in queue_codes(at)
    at = ok(at.selectbox(key=PICK).select(report_id).run())
    at = click(at, "case_action_approve")
    at = click(at, "dlg_save")
    clock.tick()
    at = click(at, "case_action_publish")
    at = click(at, "dlg_save")
    assert fresh(ui_session, report_id).status == "published"
    assert city.code("U") not in queue_codes(at)
    assert [a for a, _, _ in history(ui_session, report_id)][-3:] == [
        "draft",
        "approve",
        "publish",
    ]


def test_a_short_result_is_explained_and_nothing_is_written(
    city: City, ui_session: Session, open_page: Open
) -> None:
    before = fresh(ui_session, city.id("D")).version
    at = ok(open_page(QUEUE, as_user="can_bo"))
    at = ok(at.selectbox(key=PICK).select(city.id("D")).run())
    at = click(at, "case_action_draft")
    at = ok(at.text_area(key="dlg_result").input("Xong.").run())
    at = click(at, "dlg_save")
    # D is overdue, so the panel's deadline notice is an error too
    assert [e.value for e in at.error] == [
        "Quá hạn xử lý (hạn 01/08/2024 11:00).",
        "Kết quả xử lý cần ít nhất 10 ký tự.",
    ]
    assert fresh(ui_session, city.id("D")).version == before
    assert queue_codes(at) == [city.code("D"), city.code("U")]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (20, 160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png_bytes()
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


def draft_with_files(at: AppTest, report_id: int, files: list[tuple[str, bytes, str]]) -> AppTest:
    at = ok(at.selectbox(key=PICK).select(report_id).run())
    at = click(at, "case_action_draft")
    at = ok(at.text_area(key="dlg_result").input("Đã xử lý xong, ảnh và biên bản đính kèm.").run())
    at.file_uploader(key="dlg_evidence").set_value(files)
    return click(ok(at.run()), "dlg_save")


def test_evidence_is_checked_by_its_bytes_and_shown_with_the_report(
    city: City, ui_session: Session, open_page: Open
) -> None:
    at = ok(open_page(QUEUE, as_user="can_bo"))
    at = draft_with_files(
        at,
        city.id("U"),
        [("anh_sau_xu_ly.png", PNG, "image/png"), ("bien_ban.jpg", PDF, "image/jpeg")],
    )
    assert fresh(ui_session, city.id("U")).status == "drafted"
    # the leader sees the photo and can download the record, named for what it is
    at = ok(open_page(QUEUE, as_user="truong_dv"))
    at = ok(at.selectbox(key=PICK).select(city.id("U")).run())
    assert len(at.get("image")) == 1
    assert [b.label for b in at.get("download_button")] == ["Tải bien_ban.pdf"]
    assert "Tệp đính kèm: 2" in texts(at)


def test_a_damaged_photo_is_refused(city: City, ui_session: Session, open_page: Open) -> None:
    at = ok(open_page(QUEUE, as_user="can_bo"))
    at = draft_with_files(at, city.id("U"), [("anh.png", PNG[:40], "image/png")])
    assert "Tệp anh.png bị hỏng, không mở được như một ảnh." in [e.value for e in at.error]
    assert fresh(ui_session, city.id("U")).status == "assigned"


def test_a_renamed_executable_is_refused_and_nothing_is_written(
    city: City, ui_session: Session, open_page: Open
) -> None:
    before = fresh(ui_session, city.id("U")).version
    at = ok(open_page(QUEUE, as_user="can_bo"))
    at = draft_with_files(at, city.id("U"), [("virus.png", EXE, "image/png")])
    assert "Tệp virus.png không phải ảnh JPEG, PNG, WebP hay PDF (kiểm tra theo nội dung tệp)." in [
        e.value for e in at.error
    ]
    assert fresh(ui_session, city.id("U")).version == before
