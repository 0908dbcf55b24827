"""AppTest of "Đơn vị quá hạn" (pages/4_don_vi_qua_han.py) on the city of
tests/core/test_performance.py, clock frozen at Fri 9 Aug 2024 11:00 (Hanoi).

The default period is the last 30 days (11/07-09/08), which holds the same reports as
the core tests' period (O, submitted 08/07, is outside). Figures counted by hand there:
Ba Đình 3 received, 2 overdue (66,7 %), median 4 working hours; Hoàn Kiếm 7 received,
2 overdue and 1 late (42,9 %), median 3; Sở Xây dựng 1 overdue; the city office 5
pending, 1 overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_ui import state_keys
from tests.core.test_performance import AS_OF, OverdueCity, build_overdue_city
from tests.ui.conftest import ROOT, session_user

PAGE = "pages/4_don_vi_qua_han.py"
Open = Callable[..., AppTest]
NOT_ALLOWED = "Bạn không có quyền xem trang này."
PLEASE_LOGIN = "Vui lòng đăng nhập để tiếp tục."
UNIT_KEY = "units_pick_unit"


@pytest.fixture
def city(ui_session: Session, monkeypatch: pytest.MonkeyPatch) -> OverdueCity:
    monkeypatch.setattr(db, "utcnow", lambda: AS_OF)
    built = build_overdue_city(ui_session)
    ui_session.commit()
    return built


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def unit_table(at: AppTest) -> Any:
    return at.dataframe[0].value


def downloads(at: AppTest) -> list[tuple[str, bool]]:
    return [(b.label, b.disabled) for b in at.get("download_button")]


def texts(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(parts)


# ------------------------------------------------------------------ who sees it


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao", "phan_tich"])
def test_allowed_roles_see_the_units_worst_first(
    open_page: Open, city: OverdueCity, username: str
) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Đơn vị quá hạn"
    assert [d.value for d in at.date_input] == [date(2024, 7, 11), date(2024, 8, 9)]
    table = unit_table(at)
    assert list(table.columns) == [
        "Đơn vị",
        "Tiếp nhận",
        "Đã xử lý",
        "Bị từ chối",
        "Đang xử lý",
        "Chờ xử lý",
        "Quá hạn",
        "Xử lý trễ hạn",
        "Tỷ lệ quá hạn",
        "Thời gian xử lý (trung vị, giờ làm việc)",
        "Trả lại (không thuộc thẩm quyền)",
    ]
    assert table.values.tolist() == [
        ["UBND quận Ba Đình", "3", "1", "0", "1", "1", "2", "0", "66,7%", "4,0", "1"],
        ["UBND quận Hoàn Kiếm", "7", "2", "1", "1", "3", "2", "1", "42,9%", "3,0", "2"],
        ["Sở Xây dựng", "1", "0", "0", "0", "1", "1", "0", "100,0%", "—", "0"],
        ["Văn phòng UBND Thành phố", "5", "0", "0", "0", "5", "1", "0", "20,0%", "—", "0"],
    ]
    assert "4 đơn vị có phản ánh quá hạn · 6 phản ánh quá hạn chưa xử lý" in texts(at)


@pytest.mark.parametrize("username", ["quan_tri", "truong_dv", "can_bo"])
def test_other_roles_are_not_allowed(open_page: Open, city: OverdueCity, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert [e.value for e in at.error] == [NOT_ALLOWED]
    assert not at.dataframe and not at.get("download_button")


def test_anonymous_sees_the_login_message_only(open_page: Open, city: OverdueCity) -> None:
    # Not `ok(...)`: the guard's login link (auth.py, st.page_link("Home.py")) cannot
    # resolve Home.py when a page runs alone under AppTest; what matters here is that the
    # page stops before showing anything.
    at = open_page(PAGE)
    assert [i.value for i in at.info] == [PLEASE_LOGIN]
    assert not at.title
    assert not at.dataframe


def test_in_english_numbers_are_written_the_english_way(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao", lang="en"))
    table = unit_table(at)
    assert table.iloc[0][
        ["Unit", "Overdue rate", "Handling time (median, working hours)"]
    ].tolist() == [
        "UBND quận Ba Đình",
        "66.7%",
        "4.0",
    ]
    assert downloads(at) == [
        ("Download the letter (.docx)", False),
        ("Download the letter (PDF)", False),
    ]


# ------------------------------------------------------------------ period, unit


def test_a_longer_period_brings_older_reports_in(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    at.date_input(key="units_period_from").set_value(date(2024, 7, 1))
    ok(at.run())
    # O (8 Jul, overdue at Hoàn Kiếm) makes Hoàn Kiếm the worst unit.
    assert unit_table(at).iloc[0][["Đơn vị", "Tiếp nhận", "Quá hạn"]].tolist() == [
        "UBND quận Hoàn Kiếm",
        "8",
        "3",
    ]


def test_a_reversed_period_is_refused_with_a_sentence(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    at.date_input(key="units_period_from").set_value(date(2024, 8, 9))
    at.date_input(key="units_period_to").set_value(date(2024, 8, 1))
    ok(at.run())
    assert [e.value for e in at.error] == ["Ngày bắt đầu phải trước hoặc bằng ngày kết thúc."]
    assert not at.dataframe


def test_a_period_without_reports(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    at.date_input(key="units_period_from").set_value(date(2024, 6, 1))
    at.date_input(key="units_period_to").set_value(date(2024, 6, 30))
    ok(at.run())
    assert [i.value for i in at.info] == ["Không có phản ánh nào gửi trong kỳ này."]


def test_choosing_a_unit_lists_its_overdue_reports(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich"))
    assert len(at.dataframe) == 1  # no unit chosen yet
    at.selectbox(key=UNIT_KEY).select(city.units["002"])
    ok(at.run())
    assert "Phản ánh quá hạn của UBND quận Hoàn Kiếm: 2" in texts(at)
    overdue = at.dataframe[1].value
    assert overdue.values.tolist() == [
        [city.codes["C"], city.titles["C"], "23/07/2024", "30/07/2024 10:00", "11", "Đang xử lý"],
        [city.codes["D"], city.titles["D"], "24/07/2024", "31/07/2024 15:00", "9", "Chờ phân công"],
    ]


def test_a_unit_without_overdue_reports_says_so(
    ui_session: Session, open_page: Open, city: OverdueCity
) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    at.date_input(key="units_period_from").set_value(date(2024, 8, 5))
    ok(at.run())
    # This week only E (Hoàn Kiếm, due 15/08) and the office's reports: nothing overdue.
    at.selectbox(key=UNIT_KEY).select(city.units["002"])
    ok(at.run())
    assert "Đơn vị này không có phản ánh quá hạn trong kỳ." in [i.value for i in at.info]
    assert "Không có đơn vị nào có phản ánh quá hạn trong kỳ nên chưa có công văn để tạo." in [
        i.value for i in at.info
    ]
    assert downloads(at) == []


# ------------------------------------------------------------------ the letter


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao"])
def test_dispatcher_and_leader_can_download_the_letter(
    open_page: Open, city: OverdueCity, username: str
) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert downloads(at) == [
        ("Tải công văn (.docx)", False),
        ("Tải công văn (PDF)", False),
    ]
    assert "Công văn đôn đốc xử lý phản ánh quá hạn" in texts(at)


def test_analysts_read_but_do_not_write_letters(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich"))
    assert downloads(at) == []
    assert not at.checkbox


def test_the_letter_to_the_chosen_unit_only(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    assert at.checkbox(key="units_letter_only_selected").disabled  # no unit chosen
    at.selectbox(key=UNIT_KEY).select(city.units["VP-UBND"])
    ok(at.run())
    at.checkbox(key="units_letter_only_selected").check()
    ok(at.run())
    # The city office writes the letter: it does not write to itself.
    assert downloads(at) == []
    at.selectbox(key=UNIT_KEY).select(city.units["SXD"])
    ok(at.run())
    assert [label for label, _ in downloads(at)] == ["Tải công văn (.docx)", "Tải công văn (PDF)"]


def test_without_the_font_only_the_docx_is_offered(
    open_page: Open, city: OverdueCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ihanoi_core import letters

    monkeypatch.setattr(letters, "FONT_DIRS", ())  # a server without fonts-dejavu-core
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    assert downloads(at) == [("Tải công văn (.docx)", False), ("Tải công văn (PDF)", True)]


# ------------------------------------------------------------------ open a report


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run Home.py on every AppTest run, as a warmed-up server does (see test_login.py)."""

    def run_main(main_script_path: str) -> None:
        PagesManager.uses_pages_directory = False
        code = compile(Path(main_script_path).read_text("utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})

    monkeypatch.setattr(script_runner, "_mpa_v1", run_main)


def test_an_overdue_report_opens_in_the_cases_page(
    ui_session: Session, city: OverdueCity, router: None
) -> None:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    at.secrets["auth"] = {"cookie_key": "test-only-cookie-key-0123456789abcdef"}
    at.session_state[state_keys.USER] = session_user(ui_session, "lanh_dao")
    ok(at.run())
    at.switch_page(PAGE)
    ok(at.run())
    at.selectbox(key=UNIT_KEY).select(city.units["SXD"])
    ok(at.run())
    at.selectbox(key="units_pick_report").select(city.ids["K"])
    ok(at.run())
    at.button(key="units_open_report").click()
    ok(at.run())
    assert at.title[0].value == "Phản ánh"
    assert f"{city.codes['K']} — {city.titles['K']}" in [s.value for s in at.subheader]
