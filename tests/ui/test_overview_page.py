"""AppTest of "Tổng quan" (pages/1_tong_quan.py) on the city of tests/core/test_performance.py.

The pages' clock is frozen at Fri 9 Aug 2024 11:00 (Hanoi). Expected figures, counted
by hand in the core tests: today 1 on-site (P) and 1 procedure (M); this week 4 and 1;
7 overdue, 1 due soon; 15 on-site reports in all (3 processed, 1 refused, 3
processing, 8 pending). Queues: L M P unrouted, G N returned, N bounced twice.

AppTest does not fire the feed's timer: the fragment's data function (`live_feed`) is
tested in tests/core/test_intake.py, and here the panel is checked to show exactly
what that function returns, on a first run and after new reports arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_core.intake import live_feed
from ihanoi_ui import state_keys
from tests.core.test_performance import AS_OF, OverdueCity, build_overdue_city, hanoi
from tests.factories import Cast, make_report
from tests.ui.conftest import ROOT, session_user

PAGE = "pages/1_tong_quan.py"
Open = Callable[..., AppTest]
NOT_ALLOWED = "Bạn không có quyền xem trang này."
PLEASE_LOGIN = "Vui lòng đăng nhập để tiếp tục."


class Clock:
    """What `ihanoi_core.db.utcnow` returns to the page while a test runs."""

    def __init__(self) -> None:
        self.now = AS_OF

    def __call__(self) -> Any:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(db, "utcnow", frozen)
    return frozen


@pytest.fixture
def city(ui_session: Session, clock: Clock) -> OverdueCity:
    built = build_overdue_city(ui_session)
    ui_session.commit()
    return built


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def frame_with(at: AppTest, column: str) -> Any:
    """The first table that has `column` (tables here have no keys of their own)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with {column!r}")


def tables(at: AppTest) -> list[Any]:
    return [frame.value for frame in at.dataframe]


# ------------------------------------------------------------------ who sees it


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao"])
def test_dispatcher_and_leader_see_todays_figures(
    open_page: Open, city: OverdueCity, username: str
) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Tổng quan"
    assert metrics(at) == [
        ("Phản ánh hiện trường", "1"),  # today: P (06:30 Hanoi is Friday)
        ("Phản ánh thủ tục hành chính", "1"),  # today: M
        ("Phản ánh hiện trường", "4"),  # this week: E L N P
        ("Phản ánh thủ tục hành chính", "1"),
        ("Quá hạn", "7"),
        ("Sắp đến hạn", "1"),
    ]
    subheaders = [s.value for s in at.subheader]
    assert "Tuần này (từ 05/08/2024)" in subheaders
    assert "Số liệu tính đến 09/08/2024 11:00" in at.caption[0].value


def test_the_four_buckets_with_the_citys_labels(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    buckets = frame_with(at, "Bị từ chối")
    assert list(buckets.columns) == [
        "Loại phản ánh",
        "Tổng",
        "Đã xử lý",
        "Bị từ chối",
        "Đang xử lý",
        "Chờ xử lý",
        "Quá hạn",
        "Xử lý trễ hạn",
    ]
    assert buckets.values.tolist() == [
        ["Phản ánh hiện trường", "15", "3", "1", "3", "8", "6", "1"],
        ["Phản ánh thủ tục hành chính", "2", "0", "0", "0", "2", "1", "0"],
        ["Tổng cộng", "17", "3", "1", "3", "10", "7", "1"],
    ]


@pytest.mark.parametrize("username", ["phan_tich", "quan_tri", "truong_dv", "can_bo"])
def test_other_roles_are_not_allowed(open_page: Open, city: OverdueCity, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert [e.value for e in at.error] == [NOT_ALLOWED]
    assert not at.metric and not at.dataframe and not at.title


def test_anonymous_sees_the_login_message_only(open_page: Open, city: OverdueCity) -> None:
    # Not `ok(...)`: the guard's login link (auth.py, st.page_link("Home.py")) cannot
    # resolve Home.py when a page runs alone under AppTest; what matters here is that the
    # page stops before showing anything.
    at = open_page(PAGE)
    assert [i.value for i in at.info] == [PLEASE_LOGIN]
    assert not at.title
    assert not at.metric and not at.dataframe


def test_in_english(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao", lang="en"))
    assert at.title[0].value == "Overview"
    assert metrics(at)[0] == ("On-site report", "1")
    assert metrics(at)[4:] == [("Overdue", "7"), ("Due soon", "1")]
    assert [tab.label for tab in at.tabs] == [
        "Not routed (3)",
        "Returned — not our function (2)",
        "Returned more than once (1)",
    ]


def test_an_empty_city_shows_zeros_and_empty_queues(
    open_page: Open, cast: Cast, clock: Clock
) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))  # the people exist, no report yet
    assert [value for _, value in metrics(at)] == ["0"] * 6
    assert "Chưa có phản ánh nào." in [i.value for i in at.info]
    assert [i.value for i in at.info].count("Không có phản ánh nào trong hàng chờ này.") == 3
    assert [tab.label for tab in at.tabs] == [
        "Chưa chuyển xử lý (0)",
        "Bị trả lại — không thuộc thẩm quyền (0)",
        "Bị trả lại nhiều lần (0)",
    ]


# ------------------------------------------------------------------ queues


def test_the_dispatchers_three_queues(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    assert [tab.label for tab in at.tabs] == [
        "Chưa chuyển xử lý (3)",
        "Bị trả lại — không thuộc thẩm quyền (2)",
        "Bị trả lại nhiều lần (1)",
    ]
    unrouted = frame_with(at, "Lý do chưa chuyển")
    assert unrouted[["Mã", "Lý do chưa chuyển"]].values.tolist() == [
        [city.codes["L"], "Không có vị trí"],
        [city.codes["M"], "Cấp Thành phố điều phối"],
        [city.codes["P"], "Không có vị trí"],
    ]
    returned = frame_with(at, "Đơn vị trả lại")
    assert returned[["Mã", "Đơn vị trả lại", "Lý do trả lại", "Quá hạn"]].values.tolist() == [
        [city.codes["G"], "Hoàn Kiếm", "Không thuộc thẩm quyền", "Quá hạn"],
        [city.codes["N"], "Ba Đình", "Thuộc thẩm quyền Công an Thành phố", ""],
    ]
    bounced = frame_with(at, "Các đơn vị đã trả lại")
    assert bounced[["Mã", "Số lần bị trả lại", "Các đơn vị đã trả lại"]].values.tolist() == [
        [city.codes["N"], "2", "Hoàn Kiếm → Ba Đình"]
    ]


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run Home.py on every AppTest run, as a warmed-up server does (see test_login.py:
    AppTest resets Streamlit's multipage switch, which would skip the router)."""

    def run_main(main_script_path: str) -> None:
        PagesManager.uses_pages_directory = False
        code = compile(Path(main_script_path).read_text("utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})

    monkeypatch.setattr(script_runner, "_mpa_v1", run_main)


def test_a_queued_report_opens_in_the_cases_page(
    ui_session: Session, city: OverdueCity, router: None
) -> None:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    at.secrets["auth"] = {"cookie_key": "test-only-cookie-key-0123456789abcdef"}
    at.session_state[state_keys.USER] = session_user(ui_session, "dieu_phoi")
    ok(at.run())
    at.switch_page(PAGE)
    ok(at.run())
    assert at.button(key="overview_open_returned").disabled  # nothing chosen yet
    at.selectbox(key="overview_pick_returned").select(city.ids["G"])
    ok(at.run())
    at.button(key="overview_open_returned").click()
    ok(at.run())
    # Now on "Phản ánh", with G's detail open.
    assert at.title[0].value == "Phản ánh"
    assert at.session_state[state_keys.SELECTED_REPORT] == city.ids["G"]
    assert f"{city.codes['G']} — {city.titles['G']}" in [s.value for s in at.subheader]


# ------------------------------------------------------------------ live feed


def test_the_feed_panel_shows_what_its_data_function_returns(
    open_page: Open, ui_session: Session, city: OverdueCity, clock: Clock
) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    expected = live_feed(ui_session, now=AS_OF, since=AS_OF - timedelta(hours=1), limit=15)
    feed = frame_with(at, "Tiếp nhận lúc")
    assert list(feed["Mã"]) == [r.code for r in expected.rows]
    assert list(feed["Mã"])[:3] == [city.codes[k] for k in ("P", "M", "L")]
    assert "Cập nhật lúc 09/08/2024 11:00 · 0 phản ánh mới trong 60 phút qua · hôm nay 2" in [
        c.value for c in at.caption
    ]
    assert at.selectbox(key="overview_feed_interval").value == 5.0  # refreshes every 5 s

    # Two reports arrive; the next refresh (here a rerun) lists them first and counts them.
    clock.now = hanoi(8, 9, 11, 20)
    first = make_report(ui_session, hanoi(8, 9, 11, 5), title="Cột điện nghiêng ở phố Hàng Mã")
    second = make_report(ui_session, hanoi(8, 9, 11, 15), title="Nắp cống vỡ ở phố Hàng Bông")
    ui_session.commit()
    ok(at.run())
    feed = frame_with(at, "Tiếp nhận lúc")
    assert list(feed["Mã"])[:3] == [second.code, first.code, city.codes["P"]]
    assert feed["Nội dung"].iloc[0] == "Nắp cống vỡ ở phố Hàng Bông"
    # New in the last hour (10:20-11:20): the two; P came at 09:45. Today: P M and the two.
    assert "Cập nhật lúc 09/08/2024 11:20 · 2 phản ánh mới trong 60 phút qua · hôm nay 4" in [
        c.value for c in at.caption
    ]


def test_the_feed_timer_can_be_turned_off(open_page: Open, city: OverdueCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    box = at.selectbox(key="overview_feed_interval")
    assert box.options == ["5 giây", "15 giây", "60 giây", "Tắt"]
    ok(box.select(0.0).run())
    assert frame_with(at, "Tiếp nhận lúc") is not None  # still shown, just not refreshed
