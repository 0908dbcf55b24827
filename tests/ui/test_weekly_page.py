"""AppTest of "Báo cáo giao ban" (pages/7_bao_cao_giao_ban.py) on the 13-report city of
tests/core/test_queries.py, clock frozen at Mon 2 Sep 2024 10:00 (Hanoi).

The city's last event is on Thu 8 Aug (week 32), so the page opens on week 31, the
last complete week (29/07–04/08): B (on-site, published late, rated unsatisfied) and H
(procedure, published on time). Week 32 (05/08–11/08) holds 7 reports: on-site 6 = 1
processed + 1 refused + 4 pending, procedure 1 processing. Cumulative to the end of
W31: A B C J K on-site (A B processed, C J processing, K pending; C J K overdue, B
late), H procedure processed; to the end of W32: all 13 (counted in
tests/core/test_weekly.py, with the units' workload of each week).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from ihanoi_core import db
from ihanoi_core.weekly_export import list_snapshots, load_snapshot
from tests.core.test_queries import City, build_city
from tests.core.test_weekly import LATER

PAGE = "pages/7_bao_cao_giao_ban.py"
Open = Callable[..., Any]
NOT_ALLOWED = "Bạn không có quyền xem trang này."
PLEASE_LOGIN = "Vui lòng đăng nhập để tiếp tục."
WEEK_KEY = "weekly_week"


@pytest.fixture
def city(ui_session: Session, monkeypatch: pytest.MonkeyPatch) -> City:
    monkeypatch.setattr(db, "utcnow", lambda: LATER)
    built = build_city(ui_session)
    ui_session.commit()
    return built


def ok(at: Any) -> Any:
    assert not at.exception, [e.value for e in at.exception]
    return at


def subheaders(at: Any) -> list[str]:
    return [s.value for s in at.subheader]


def table_with(at: Any, column: str) -> Any:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def tables_with(at: Any, column: str) -> list[Any]:
    """In the order of the page: the cumulative table before the week's."""
    return [d.value for d in at.dataframe if column in d.value.columns]


def open_week(open_page: Open, username: str, week: str, lang: str = "vi") -> Any:
    at = ok(open_page(PAGE, as_user=username, lang=lang))
    picker = at.selectbox(key=WEEK_KEY)
    if picker.value != week:
        # by position: AppTest formats a value outside the page run (always in Vietnamese)
        year, number = week.split("-W")
        label = f" {int(number)}/{year} "
        picker.select_index(next(i for i, o in enumerate(picker.options) if label in o))
        ok(at.run())
    assert at.selectbox(key=WEEK_KEY).value == week
    return at


# ------------------------------------------------------------------ who sees it


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao", "phan_tich"])
def test_allowed_roles_see_last_complete_week(open_page: Open, city: City, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Báo cáo giao ban"
    week = at.selectbox(key=WEEK_KEY)
    assert week.value == "2024-W31"
    assert week.options[:3] == [
        "Tuần 32/2024 (05/08/2024 – 11/08/2024)",
        "Tuần 31/2024 (29/07/2024 – 04/08/2024)",
        "Tuần 30/2024 (22/07/2024 – 28/07/2024)",
    ]
    assert subheaders(at)[:9] == [
        "1. Lũy kế đến hết tuần (phản ánh gửi đến hết 04/08/2024)",
        "2. Lũy kế so với hết tuần trước (tuần 2024-W30)",
        "3. Phản ánh gửi trong tuần",
        "4. Phản ánh gửi trong tuần so với tuần trước (tuần 2024-W30)",
        "5. Quá hạn theo đơn vị (nhiều nhất trước)",
        "6. Đơn vị xử lý tốt nhất và chậm nhất",
        "7. Mức độ hài lòng của người dân",
        "8. Cơ cấu theo lĩnh vực (phản ánh gửi trong tuần)",
        "9. Điểm nghẽn",
    ]
    cumulative, summary = tables_with(at, "Loại phản ánh")[::2]  # (change tables between)
    assert cumulative.values.tolist() == [
        ["Phản ánh hiện trường", "5", "2", "0", "2", "1", "3", "1"],
        ["Phản ánh thủ tục hành chính", "1", "1", "0", "0", "0", "0", "0"],
        ["Tổng cộng", "6", "3", "0", "2", "1", "3", "1"],
    ]
    assert summary.values.tolist() == [
        ["Phản ánh hiện trường", "1", "1", "0", "0", "0", "0", "1"],
        ["Phản ánh thủ tục hành chính", "1", "1", "0", "0", "0", "0", "0"],
        ["Tổng cộng", "2", "2", "0", "0", "0", "0", "1"],
    ]
    overdue = table_with(at, "Tỷ lệ quá hạn")
    assert list(overdue.columns) == [
        "STT",
        "Đơn vị",
        "Tiếp nhận",
        "Quá hạn",
        "Xử lý trễ hạn",
        "Tỷ lệ quá hạn",
        "Thời gian xử lý (trung vị, giờ LV)",
    ]
    # The units' workload: open at the end of the week (C J K, whenever submitted) or
    # finished in it (A B H). Handling time in working hours from arrival to result:
    # A and H 11:00 → 15:00 = 3 h (lunch 12:00–13:00 not counted), B 10:00 → 18:00 =
    # 6 h; median 3. Ba Đình finished nothing in the week: no time.
    assert overdue.values.tolist() == [
        ["1", "UBND quận Ba Đình", "2", "2", "0", "100,0%", "—"],
        ["2", "UBND quận Hoàn Kiếm", "4", "1", "1", "50,0%", "3,0"],
    ]
    assert at.caption[2].value.startswith("Phạm vi: phản ánh đơn vị đang giữ chưa giải quyết")
    assert [m.value for m in at.metric[-2:]] == [
        "50,0%",  # cumulative: A satisfied, B not
        "0,0%",  # the week's: B unsatisfied, 0 of 1 rating
    ]


@pytest.mark.parametrize("username", ["quan_tri", "truong_dv", "can_bo"])
def test_other_roles_are_not_allowed(open_page: Open, city: City, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert [e.value for e in at.error] == [NOT_ALLOWED]
    assert not at.dataframe and not at.button


def test_anonymous_sees_the_login_message_only(open_page: Open, city: City) -> None:
    at = open_page(PAGE)  # see test_units_page: the login link cannot resolve Home.py here
    assert [i.value for i in at.info] == [PLEASE_LOGIN]
    assert not at.title and not at.dataframe


# ------------------------------------------------------------------ the figures


def test_week_32_with_change_on_week_31(open_page: Open, city: City) -> None:
    at = open_week(open_page, "lanh_dao", "2024-W32")
    assert "Tuần 05/08/2024 – 11/08/2024; số liệu tính đến 11/08/2024 23:59" in (
        at.caption[0].value
    )
    metrics = [(m.label, m.value, m.delta) for m in at.metric]
    assert metrics[:6] == [  # cumulative, against the end of week 31
        ("Tổng số phản ánh", "13", "+7"),
        ("Đã xử lý", "4", "+1"),
        ("Bị từ chối", "1", "+1"),
        ("Đang xử lý", "3", "+1"),
        ("Chờ xử lý", "5", "+4"),
        ("Quá hạn", "3", ""),  # C J K, overdue since 1 Aug: no change, no arrow
    ]
    assert metrics[6:12] == [  # the week's intake, against week 31's
        ("Tổng số phản ánh", "7", "+5"),
        ("Đã xử lý", "1", "-1"),
        ("Bị từ chối", "1", "+1"),
        ("Đang xử lý", "1", "+1"),
        ("Chờ xử lý", "4", "+4"),
        ("Quá hạn", "0", ""),
    ]
    cumulative_change, change = tables_with(at, "Chênh lệch")
    rows = {(r[0], r[1]): r[2:] for r in cumulative_change.values.tolist()}
    assert rows[("Tổng cộng", "Tổng số")] == ["13", "6", "+7", "+116,7%"]
    assert rows[("Tổng cộng", "Bị từ chối")] == ["1", "0", "+1", "—"]
    rows = {(r[0], r[1]): r[2:] for r in change.values.tolist()}
    assert rows[("Tổng cộng", "Tổng số")] == ["7", "2", "+5", "+250,0%"]
    assert rows[("Tổng cộng", "Đã xử lý")] == ["1", "2", "−1", "−50,0%"]
    assert rows[("Tổng cộng", "Chờ xử lý")] == ["4", "0", "+4", "—"]
    # the backlog of earlier weeks is in the units' tables
    overdue = table_with(at, "Tỷ lệ quá hạn")
    assert overdue.values.tolist() == [
        ["1", "UBND quận Ba Đình", "3", "2", "0", "66,7%", "—"],  # J K M; J K overdue
        ["2", "UBND quận Hoàn Kiếm", "5", "1", "0", "20,0%", "2,0"],  # C D E I L; C
    ]
    best = table_with(at, "Tỷ lệ đúng hạn")
    assert best.values.tolist() == [["1", "UBND quận Hoàn Kiếm", "5", "40,0%", "1"]]
    assert "Không còn đơn vị nào khác." in [c.value for c in at.caption]
    categories = table_with(at, "Lĩnh vực")
    assert categories.values.tolist()[0] == ["Vệ sinh môi trường", "4", "57,1%"]
    bottlenecks = table_with(at, "Bước")
    office = [r for r in bottlenecks.values.tolist() if r[0] == "Văn phòng UBND Thành phố"]
    assert ["Văn phòng UBND Thành phố", "Điều phối (Văn phòng)", "6", "1,0", "1,0", "2"] in office


def test_a_running_week_says_its_figures_are_provisional(
    open_page: Open, ui_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.core.test_queries import hanoi

    build_city(ui_session)
    ui_session.commit()
    monkeypatch.setattr(db, "utcnow", lambda: hanoi(8, 9, 10))  # Friday of week 32
    at = open_week(open_page, "dieu_phoi", "2024-W32")
    assert at.selectbox(key=WEEK_KEY).options[0] == (
        "Tuần 32/2024 (05/08/2024 – 11/08/2024, đang diễn ra)"
    )
    assert [w.value for w in at.warning] == ["Tuần này chưa kết thúc nên số liệu là tạm tính."]


def test_in_english(open_page: Open, city: City) -> None:
    at = open_week(open_page, "phan_tich", "2024-W32", lang="en")
    assert at.title[0].value == "Weekly review"
    cumulative, summary = tables_with(at, "Kind of report")[::2]
    assert cumulative.values.tolist()[-1] == ["Total", "13", "4", "1", "3", "5", "3", "1"]
    assert summary.values.tolist()[-1] == ["Total", "7", "1", "1", "1", "4", "0", "0"]
    assert (
        subheaders(at)[0]
        == "1. Cumulative to the end of the week (reports submitted by 11/08/2024)"
    )
    assert [b.label for b in at.button] == ["Export workbook (.xlsx)", "Export printout (PDF)"]


# ------------------------------------------------------------------ export, copies


def test_export_keeps_a_frozen_copy_and_offers_it(
    open_page: Open, city: City, ui_session: Session
) -> None:
    at = open_week(open_page, "lanh_dao", "2024-W32")
    assert [i.value for i in at.info][-1] == "Chưa có bản nào được lưu cho tuần này."
    at.button(key="weekly_make_xlsx").click()
    ok(at.run())
    ui_session.rollback()  # end the test's read transaction: see the page's commit
    [copy] = list_snapshots(ui_session, period_key="2024-W32")
    assert (copy.fmt, copy.filename, copy.created_by) == (
        "xlsx",
        "bao-cao-giao-ban-2024-W32.xlsx",
        city.cast.leader.user_id,
    )
    assert load_snapshot(ui_session, copy.id).content[:2] == b"PK"
    assert [s.value for s in at.success] == ["Đã lưu bản XLSX lúc 02/09/2024 10:00."]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Tải bao-cao-giao-ban-2024-W32.xlsx", "Tải bản đã lưu"]
    copies = table_with(at, "Thời điểm lưu")
    assert copies.values.tolist() == [
        ["02/09/2024 10:00", "XLSX", "lanh_dao", "bao-cao-giao-ban-2024-W32.xlsx"]
    ]


def test_compare_a_copy_with_the_figures_now(
    open_page: Open, city: City, ui_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_week(open_page, "dieu_phoi", "2024-W32")
    at.button(key="weekly_make_pdf").click()
    ok(at.run())
    at.button(key="weekly_compare").click()
    ok(at.run())
    # W32 read as of 2 Sep: D G M (on-site) and I (procedure) are now past their
    # deadlines of 15/08 and later; nothing else moved.
    changed = table_with(at, "Lúc họp")
    rows = {(r[0], r[1], r[2]): r[3:] for r in changed.values.tolist()}
    assert rows == {
        ("Lũy kế", "Phản ánh hiện trường", "Quá hạn"): ["3", "6", "+3"],  # C J K, D G M
        ("Lũy kế", "Phản ánh thủ tục hành chính", "Quá hạn"): ["0", "1", "+1"],  # I
        ("Lũy kế", "Tổng cộng", "Quá hạn"): ["3", "7", "+4"],
        ("Theo loại", "Phản ánh hiện trường", "Quá hạn"): ["0", "3", "+3"],
        ("Theo loại", "Phản ánh thủ tục hành chính", "Quá hạn"): ["0", "1", "+1"],
        ("Tổng cộng", "", "Quá hạn"): ["0", "4", "+4"],
        ("Đơn vị", "UBND quận Ba Đình", "Quá hạn"): ["2", "3", "+1"],  # J K, M
        ("Đơn vị", "UBND quận Hoàn Kiếm", "Quá hạn"): ["1", "3", "+2"],  # C, D I
        ("Đơn vị", "Văn phòng UBND Thành phố", "Quá hạn"): ["0", "1", "+1"],  # G
    }
    assert [w.value for w in at.warning] == ["9 số liệu đã thay đổi kể từ khi lưu bản này."]


def test_a_week_whose_figures_did_not_move(open_page: Open, city: City) -> None:
    at = open_week(open_page, "lanh_dao", "2024-W31")
    at.button(key="weekly_make_xlsx").click()
    ok(at.run())
    at.button(key="weekly_compare").click()
    ok(at.run())
    # B and H were finished before 4 Aug: week 31 reads the same on 2 Sep.
    assert "Số liệu không thay đổi kể từ khi lưu bản này." in [s.value for s in at.success]
