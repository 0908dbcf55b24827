"""AppTest of "Phân tích" (pages/6_phan_tich.py) on the seven-report city of
tests/core/test_analytics.py, clock frozen at Fri 9 Aug 2024 17:00 (Hanoi).

The data end on Thu 08/08 (the last event), so the default period is the 28 days
12/07-08/08, which holds all seven reports. Figures counted by hand there:
categories ve_sinh 3 (42,9 %), van_minh 2, giao_thong 1, thu_tuc 1; week of 05/08:
4 on-site reports (2 the week before: +2) and 1 procedure report (+1); 4 results
rated, 1 satisfied, 3 not; P1 and P4 listed for review; Ba Đình: P4 waited 1 working
hour, P5 still waiting.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_core.models import Report
from ihanoi_ui import state_keys
from ihanoi_ui.components.charts import Column, csv_bytes, xlsx_bytes
from tests.core.test_analytics import AS_OF, build
from tests.ui.conftest import page_test, session_user

PAGE = "pages/6_phan_tich.py"
TABS_KEY = "analytics_tab"
Open = Callable[..., AppTest]


@pytest.fixture
def city(ui_session: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, Report]:
    monkeypatch.setattr(db, "utcnow", lambda: AS_OF)
    return build(ui_session)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def on_tab(session: Session, tab: str, username: str = "phan_tich") -> AppTest:
    """Open the page with `tab` selected (the tabs run lazily: only that one queries)."""
    at = page_test(PAGE)
    at.session_state[state_keys.USER] = session_user(session, username)
    at.session_state[state_keys.LANG] = "vi"
    at.session_state[TABS_KEY] = tab
    return ok(at.run())


def table(at: AppTest, i: int) -> pd.DataFrame:
    frame: pd.DataFrame = at.dataframe[i].value
    return frame


def metrics(at: AppTest) -> list[tuple[str, str, Any]]:
    return [(m.label, m.value, m.delta) for m in at.metric]


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao", "phan_tich"])
def test_allowed_roles_see_categories_and_districts(
    open_page: Open, city: dict[str, Report], username: str
) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Phân tích"
    assert [d.value for d in at.date_input] == [date(2024, 7, 12), date(2024, 8, 8)]
    assert len(at.dataframe) == 3  # cells, categories, districts
    categories = table(at, 1)
    assert list(categories.columns) == ["Hạng", "Lĩnh vực", "Số phản ánh", "Tỷ lệ"]
    assert categories.values.tolist() == [
        ["1", "Vệ sinh môi trường", "3", "42,9%"],
        ["2", "Trật tự, văn minh đô thị", "2", "28,6%"],
        ["3", "Giao thông", "1", "14,3%"],
        ["4", "Thủ tục hành chính", "1", "14,3%"],
    ]
    districts = table(at, 2)
    assert districts.values.tolist() == [
        ["1", "Hoàn Kiếm", "3", "42,9%"],
        ["2", "Ba Đình", "2", "28,6%"],
        ["—", "(không xác định)", "2", "28,6%"],
    ]
    cells = table(at, 0)
    first = cells.iloc[0].tolist()
    assert first == ["Vệ sinh môi trường", "Hoàn Kiếm", "2", "28,6%", "66,7%"]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Tải CSV", "Tải Excel (.xlsx)"] * 3


@pytest.mark.parametrize("username", ["can_bo", "truong_dv", "quan_tri"])
def test_other_roles_are_refused(open_page: Open, city: dict[str, Report], username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert [e.value for e in at.error] == ["Bạn không có quyền xem trang này."]
    assert not at.dataframe


def test_logged_out_sees_nothing(open_page: Open, city: dict[str, Report]) -> None:
    at = ok(open_page(PAGE))
    assert [i.value for i in at.info] == ["Vui lòng đăng nhập để tiếp tục."]
    assert not at.dataframe


def test_filters_narrow_every_figure(open_page: Open, city: dict[str, Report]) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao"))
    at.selectbox(key="analytics_kind").set_value("procedure")
    ok(at.run())
    assert table(at, 1).values.tolist() == [["1", "Thủ tục hành chính", "1", "100,0%"]]
    at.selectbox(key="analytics_kind").set_value(None)
    at.date_input(key="analytics_from").set_value(date(2024, 7, 31))
    at.date_input(key="analytics_to").set_value(date(2024, 8, 2))
    ok(at.run())
    assert "Không có phản ánh nào khớp bộ lọc trong kỳ này." in [i.value for i in at.info]
    at.date_input(key="analytics_from").set_value(date(2024, 8, 5))
    ok(at.run())
    assert [e.value for e in at.error] == ["Ngày bắt đầu phải trước hoặc bằng ngày kết thúc."]


def test_trends_tab_shows_week_on_week_change(ui_session: Session, city: dict[str, Report]) -> None:
    at = on_tab(ui_session, "Xu hướng")
    assert metrics(at) == [
        ("Phản ánh hiện trường", "4", "+2"),
        ("Phản ánh thủ tục hành chính", "1", "+1"),
    ]
    frame = table(at, 0)
    row = frame[
        (frame["Kỳ (bắt đầu)"] == "05/08/2024")
        & (frame["Loại"] == "Phản ánh hiện trường")
        & (frame["Chỉ tiêu"] == "Tổng số")
    ]
    assert row.values.tolist() == [
        ["05/08/2024", "Phản ánh hiện trường", "Tổng số", "4", "2", "+2", "+100,0%"]
    ]
    assert len(at.get("vega_lite_chart")) == 2  # one chart per kind


def test_satisfaction_tab_lists_answers_to_review(
    ui_session: Session, city: dict[str, Report]
) -> None:
    at = on_tab(ui_session, "Mức độ hài lòng", username="dieu_phoi")
    assert metrics(at)[:3] == [
        ("Kết quả được đánh giá", "4", ""),
        ("Hài lòng, chấp nhận", "1", "25,0%"),
        ("Chưa hài lòng", "3", "75,0%"),
    ]
    assert metrics(at)[3:] == [
        ("Không có câu trả lời", "0", ""),
        ("Trả lời quá ngắn", "1", ""),
        ("Trả lời chung chung", "1", ""),
        ("Không có hình ảnh, văn bản chứng minh", "2", ""),
    ]
    by_unit = table(at, 0)
    assert by_unit.values.tolist() == [
        ["Hoàn Kiếm", "3", "1", "2", "33,3%", "66,7%"],
        ["Ba Đình", "1", "0", "1", "0,0%", "100,0%"],
    ]
    assert "Kết quả chưa hài lòng cần rà soát: 2" in [s.value for s in at.subheader]
    review = table(at, 2)
    assert review["Mã PAKN"].tolist() == [city["P1"].code, city["P4"].code]
    assert review["Dấu hiệu chưa đạt"].tolist() == [
        "Trả lời quá ngắn; Trả lời chung chung; Không có hình ảnh, văn bản chứng minh",
        "Không có hình ảnh, văn bản chứng minh",
    ]
    assert review["Ngày đánh giá"].tolist() == ["29/07/2024", "06/08/2024"]


def test_bottlenecks_tab(ui_session: Session, city: dict[str, Report]) -> None:
    at = on_tab(ui_session, "Điểm nghẽn", username="lanh_dao")
    frame = table(at, 0)
    assert list(frame.columns) == [
        "Đơn vị",
        "Bước",
        "Số lượt đã qua bước",
        "Trung vị (giờ làm việc)",
        "90% xong trong (giờ làm việc)",
        "Đang nằm ở bước",
    ]
    row = frame[(frame["Đơn vị"] == "Ba Đình") & (frame["Bước"] == "Chờ phân công tại đơn vị")]
    assert row.values.tolist() == [["Ba Đình", "Chờ phân công tại đơn vị", "1", "1,0", "1,0", "1"]]


def test_english(open_page: Open, city: dict[str, Report]) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich", lang="en"))
    assert at.title[0].value == "Analytics"
    assert table(at, 1).values.tolist()[0] == ["1", "Environmental sanitation", "3", "42.9%"]


# ------------------------------------------------------------ the downloads

COLUMNS = [
    Column("name", "Đơn vị"),
    Column("count", "Số phản ánh", "int"),
    Column("share", "Tỷ lệ", "pct"),
    Column("day", "Ngày", "date"),
]
DATA = pd.DataFrame(
    {
        "name": ["Hoàng Mai", "Hà Đông"],
        "count": [1654, 180],
        "share": [0.656, float("nan")],
        "day": [date(2024, 8, 8), date(2024, 8, 1)],
    }
)


def test_xlsx_holds_numbers_as_numbers() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(DATA, COLUMNS, "Hài lòng")))
    ws = book.active
    assert ws is not None
    assert ws.title == "Hài lòng"
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Đơn vị", "Số phản ánh", "Tỷ lệ", "Ngày")
    assert rows[1][:3] == ("Hoàng Mai", 1654, 0.656)
    assert rows[1][3].date() == date(2024, 8, 8)
    assert rows[2][2] is None  # no share: an empty cell, not "nan"
    assert ws["C2"].number_format == "0.0%"
    assert ws["B2"].number_format == "#,##0"
    assert ws["D2"].number_format == "DD/MM/YYYY"
    assert ws.freeze_panes == "A2"


def test_csv_opens_in_excel_with_vietnamese_headers() -> None:
    data = csv_bytes(DATA, COLUMNS)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines == [
        "Đơn vị,Số phản ánh,Tỷ lệ,Ngày",
        "Hoàng Mai,1654,0.656,2024-08-08",
        "Hà Đông,180,,2024-08-01",
    ]
