"""AppTest of "Bản đồ" (pages/5_ban_do.py) on the city of tests/core/test_geostats.py,
clock frozen at Thu 8 Aug 2024 10:00 (Hanoi). The default period (last 30 days,
10/07-08/08) holds all 9 reports. Counted by hand there: Hoàn Kiếm 5 reports, 2 overdue,
overdue rate 60 %, 1 unsatisfied; Ba Đình 3, 1 overdue (33,3 %); 1 report without a
location; hotspots: HK1-HK3, by cell and by address (3 each).

A click on the map is injected as Streamlit's frontend sends it: a `PydeckState`
(`{"selection": {"indices": ..., "objects": ...}}`) serialised as the chart's widget
state (`string_value` under the chart's element id), then a rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from ihanoi_core import db
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.models import Report, ReportCreate
from ihanoi_core.routing import default_router
from ihanoi_core.services import create_report
from ihanoi_ui import state_keys
from ihanoi_ui.components import map_view as mv
from tests.core.test_geostats import NOW, MapCity, build_map_city
from tests.factories import unit_id
from tests.ui.conftest import ROOT, session_user

PAGE = "pages/5_ban_do.py"
Open = Callable[..., AppTest]
NOT_ALLOWED = "Bạn không có quyền xem trang này."
CHART_KEY = "map_chart"


@pytest.fixture
def city(ui_session: Session, monkeypatch: pytest.MonkeyPatch) -> MapCity:
    monkeypatch.setattr(db, "utcnow", lambda: NOW.astimezone(UTC))
    monkeypatch.delenv(mv.TILE_URL_ENV, raising=False)
    built = build_map_city(ui_session)
    ui_session.commit()
    return built


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(parts)


def chart(at: AppTest) -> Any:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return charts[0]


def spec(at: AppTest) -> dict[str, Any]:
    return json.loads(chart(at).proto.json)


def layer(at: AppTest, layer_id: str) -> dict[str, Any] | None:
    return next((x for x in spec(at)["layers"] if x["id"] == layer_id), None)


def feature(at: AppTest, name: str) -> dict[str, Any]:
    areas = layer(at, mv.AREAS_LAYER)
    assert areas is not None
    return next(f for f in areas["data"]["features"] if f["properties"]["name"] == name)


def click(at: AppTest, layer_id: str, index: int, obj: dict[str, Any]) -> AppTest:
    """What the browser sends when the user clicks one object of the chart."""
    states = at._tree.get_widget_states()
    state = WidgetState()
    state.id = chart(at).proto.id
    state.string_value = json.dumps(
        {"selection": {"indices": {layer_id: [index]}, "objects": {layer_id: [obj]}}}
    )
    states.widgets.append(state)
    return ok(at._run(states))


# ------------------------------------------------------------------ who sees it


@pytest.mark.parametrize("username", ["dieu_phoi", "lanh_dao", "phan_tich"])
def test_allowed_roles_see_the_city_by_district(
    open_page: Open, city: MapCity, username: str
) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Bản đồ"
    assert [d.value.strftime("%d/%m/%Y") for d in at.date_input] == ["10/07/2024", "08/08/2024"]
    assert "9 phản ánh; 8 có địa bàn trên bản đồ." in texts(at)
    assert "1 phản ánh không có địa bàn trên bản đồ này" in texts(at)
    assert "Bản đồ 30 quận, huyện, thị xã (trước 01/07/2025)" in texts(at)
    areas = layer(at, mv.AREAS_LAYER)
    assert areas is not None and len(areas["data"]["features"]) == 30
    hk = feature(at, "Hoàn Kiếm")["properties"]
    assert hk["detail"] == ("Số phản ánh: 5 · Quá hạn: 2 · Tỷ lệ quá hạn: 60,0% · Chưa hài lòng: 1")
    assert feature(at, "Ba Đình")["properties"]["detail"].startswith("Số phản ánh: 3 · Quá hạn: 1")
    assert feature(at, "Tây Hồ")["properties"]["detail"] == "Không có phản ánh"
    # the darkest class for the most reports, the lightest for Ba Đình (3 of 5: class 3)
    assert hk["fill"][:3] == list(mv.PALETTE[-1])
    assert feature(at, "Ba Đình")["properties"]["fill"][:3] == list(mv.PALETTE[2])
    # a small filter: its 8 located points are drawn on the whole-city map
    points = layer(at, mv.POINTS_LAYER)
    assert points is not None and len(points["data"]) == 8
    assert spec(at)["mapStyle"] == "__MAP_STYLE__" and "mapProvider" not in spec(at)
    assert json.loads(chart(at).proto.tooltip)["html"] == "<b>{name}</b><br/>{detail}"


@pytest.mark.parametrize("username", ["can_bo", "truong_dv", "quan_tri"])
def test_other_roles_are_stopped(open_page: Open, city: MapCity, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert NOT_ALLOWED in [e.value for e in at.error]
    assert not at.get("deck_gl_json_chart")


def test_english(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao", lang="en"))
    assert "9 reports; 8 placed in an area of this map." in texts(at)
    assert feature(at, "Hoàn Kiếm")["properties"]["detail"].startswith("Reports: 5 · Overdue: 2")


# ------------------------------------------------------------------ measures and filters


def test_colour_by_overdue_rate_and_filter_overdue(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich"))
    at.selectbox(key="map_measure").select("overdue_rate")
    ok(at.run())
    # 60 % is the maximum: darkest; Ba Đình 33,3 % is in class 3 (24-36 %)
    assert feature(at, "Hoàn Kiếm")["properties"]["fill"][:3] == list(mv.PALETTE[-1])
    assert feature(at, "Ba Đình")["properties"]["fill"][:3] == list(mv.PALETTE[2])
    at.checkbox(key="map_overdue").check()
    ok(at.run())
    assert "3 phản ánh; 3 có địa bàn trên bản đồ." in texts(at)


def test_density_view_sends_cells_not_reports(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich"))
    at.radio(key="map_view").set_value("density")
    ok(at.run())
    cells = layer(at, mv.CELLS_LAYER)
    assert cells is not None
    assert sorted((c["lat"], c["lon"], c["n"]) for c in cells["data"]) == [
        (21.03, 105.85, 4),
        (21.03, 105.86, 1),
        (21.04, 105.83, 3),
    ]
    # the cells' own scale (4 at most: classes up to 0.8, 1.6, ...)
    assert "Thang màu (số phản ánh mỗi ô):" in texts(at)
    assert "Thang màu (Số phản ánh):" not in texts(at)


def test_a_reversed_period_is_explained(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao"))
    at.date_input(key="map_from").set_value(datetime(2024, 8, 8).date())
    at.date_input(key="map_to").set_value(datetime(2024, 8, 1).date())
    ok(at.run())
    assert [e.value for e in at.error] == ["Ngày bắt đầu phải trước hoặc bằng ngày kết thúc."]


# ------------------------------------------------------------------ clicks


def test_clicking_a_district_lists_its_reports_and_zooms(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    hk = feature(at, "Hoàn Kiếm")
    index = layer(at, mv.AREAS_LAYER)["data"]["features"].index(hk)  # type: ignore[index]
    at = click(at, mv.AREAS_LAYER, index, hk)
    assert "Hoàn Kiếm: 5 phản ánh" in [s.value for s in at.subheader]
    table = at.dataframe[0].value
    assert list(table["Mã"])[:2] == [city.codes["HK1"], city.codes["HK2"]]
    assert len(table) == 5 and list(table.columns) == [
        "Mã",
        "Tiêu đề",
        "Trạng thái",
        "Đơn vị",
        "Hạn xử lý",
    ]
    assert table["Hạn xử lý"].iloc[0] == "29/07/2024 09:00"
    assert at.selectbox(key="map_area").value == "002"
    assert spec(at)["initialViewState"]["zoom"] > 12
    points = layer(at, mv.POINTS_LAYER)
    assert points is not None and len(points["data"]) == 5


def test_clicking_a_point_shows_the_report(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao"))
    points = layer(at, mv.POINTS_LAYER)
    assert points is not None
    index, obj = next((i, p) for i, p in enumerate(points["data"]) if p["id"] == city.ids["BD1"])
    at = click(at, mv.POINTS_LAYER, index, obj)
    assert f"Phản ánh {city.codes['BD1']}" in [s.value for s in at.subheader]
    assert "Xe đỗ sai chỗ · Chờ phân công · Ba Đình · hạn 29/07/2024 09:00" in texts(at)


def test_clicking_a_density_cell_lists_the_cell(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="lanh_dao"))
    at.radio(key="map_view").set_value("density")
    ok(at.run())
    cells = layer(at, mv.CELLS_LAYER)
    assert cells is not None
    index, obj = next((i, c) for i, c in enumerate(cells["data"]) if c["n"] == 3)
    at = click(at, mv.CELLS_LAYER, index, obj)
    assert "Ô quanh 21,04, 105,83: 3 phản ánh" in [s.value for s in at.subheader]
    assert set(at.dataframe[0].value["Mã"]) == {city.codes[k] for k in ("BD1", "BD2", "BD3")}


# ------------------------------------------------------------------ hotspots


def test_hotspots_rank_the_repeated_place(open_page: Open, city: MapCity) -> None:
    at = ok(open_page(PAGE, as_user="phan_tich"))
    table = at.dataframe[-1].value
    assert list(table["Số phản ánh"]) == ["3", "3"]
    assert list(table["Loại điểm nóng"]) == ["Ô 100 m", "Cùng địa chỉ"]
    assert list(table["Nơi"]) == ["Số 5 Phố Hàng Đồng", "Số 5 Phố Hàng Đồng"]
    at.selectbox(key="map_hot_pick").select(1)
    ok(at.run())
    members = at.dataframe[-1].value
    assert set(members["Mã"]) == {city.codes[k] for k in ("HK1", "HK2", "HK3")}
    at.number_input(key="map_hot_min").set_value(4)
    ok(at.run())
    assert "Không có điểm nóng nào trong kỳ với các bộ lọc này." in texts(at)


# ------------------------------------------------------------------ into the cases page


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run Home.py on every AppTest run, as a warmed-up server does (see test_login.py)."""

    def run_main(main_script_path: str) -> None:
        PagesManager.uses_pages_directory = False
        code = compile(Path(main_script_path).read_text("utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})

    monkeypatch.setattr(script_runner, "_mpa_v1", run_main)


def home_on_map(ui_session: Session) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    at.secrets["auth"] = {"cookie_key": "test-only-cookie-key-0123456789abcdef"}
    at.session_state[state_keys.USER] = session_user(ui_session, "lanh_dao")
    ok(at.run())
    at.switch_page(PAGE)
    return ok(at.run())


def test_a_district_opens_as_a_filtered_case_list(
    ui_session: Session, city: MapCity, router: None
) -> None:
    at = home_on_map(ui_session)
    at.selectbox(key="map_area").select("001")
    ok(at.run())
    at.button(key="map_open_list").click()
    ok(at.run())
    assert at.title[0].value == "Phản ánh"
    assert "3 phản ánh" in texts(at)
    assert at.selectbox(key="cases_f_district").value == city.units["001"]
    assert at.selectbox(key="cases_f_unit").value is None  # the map held no unit filter
    assert at.selectbox(key="cases_f_kind").value is None  # nor a kind of report


def test_a_report_opens_in_the_cases_page(ui_session: Session, city: MapCity, router: None) -> None:
    at = home_on_map(ui_session)
    at.selectbox(key="map_area").select("002")
    ok(at.run())
    at.selectbox(key="map_pick_report_area").select(city.ids["HK2"])
    ok(at.run())
    at.button(key="map_pick_report_area_open").click()
    ok(at.run())
    assert at.title[0].value == "Phản ánh"
    assert any(city.codes["HK2"] in s.value for s in at.subheader)


# ------------------------------------------------------------------ payload


def add_located_reports(session: Session, n: int, seed_minute: int) -> None:
    """`n` reports spread over the urban districts (routed once, not driven further)."""
    router = default_router()
    start = NOW - timedelta(days=20)
    for k in range(n):
        lat = 20.95 + (k * 7919 % 1000) / 1000 * 0.15
        lon = 105.75 + (k * 104729 % 1000) / 1000 * 0.15
        create_report(
            session,
            data=ReportCreate(
                kind="onsite",
                category_code="rac_thai",
                title=f"Phản ánh số {k}",
                address=f"Số {k} phố Thử",
                lat=lat,
                lon=lon,
                submitted_at=start + timedelta(minutes=seed_minute + k),
            ),
            now=start + timedelta(minutes=seed_minute + k),
            router=router,
            auto_route=False,
        )
    session.commit()


def payload(at: AppTest) -> int:
    return len(chart(at).proto.json.encode("utf-8"))


@pytest.mark.parametrize("view", ["areas", "density"])
def test_the_city_payload_does_not_grow_with_the_reports(
    open_page: Open, ui_session: Session, city: MapCity, view: str
) -> None:
    add_located_reports(ui_session, 41, 0)  # 50 reports in all
    small_at = ok(open_page(PAGE, as_user="phan_tich"))
    small_at.radio(key="map_view").set_value(view)
    small = payload(ok(small_at.run()))
    add_located_reports(ui_session, 1_950, 100)  # 2,000 in all
    big_at = ok(open_page(PAGE, as_user="phan_tich"))
    big_at.radio(key="map_view").set_value(view)
    big = payload(ok(big_at.run()))
    assert layer(big_at, mv.POINTS_LAYER) is None  # too many for the whole city: no points
    assert big < 1_000_000
    # 40 times the reports; the boundaries dominate, the points are gone, cells are bounded
    assert big < small * 1.5, (small, big)


# ------------------------------------------------------------------ wards and communes


def test_a_commune_opens_as_a_filtered_case_list(
    ui_session: Session, city: MapCity, router: None
) -> None:
    """After 1 July 2025 the map's areas are communes: the list opens on the commune
    through its ward filter (12 Hàng Bạc lies in the commune Hoàn Kiếm, 00070)."""
    later = datetime(2025, 7, 10, 9, tzinfo=HANOI_TZ)
    create_report(
        ui_session,
        data=ReportCreate(
            kind="onsite",
            category_code="rac_thai",
            title="Sau sáp nhập",
            description="Mô tả",
            address="12 Hàng Bạc",
            lat=21.03300,
            lon=105.85000,
            submitted_at=later,
        ),
        now=later,
    )
    ui_session.commit()
    commune = unit_id(ui_session, "00070")
    at = home_on_map(ui_session)
    at.date_input(key="map_from").set_value(date(2025, 7, 1))
    at.date_input(key="map_to").set_value(date(2025, 7, 31))
    ok(at.run())
    assert "Bản đồ 126 phường, xã (từ 01/07/2025)" in texts(at)
    at.selectbox(key="map_area").select("00070")
    ok(at.run())
    assert "Hoàn Kiếm: 1 phản ánh" in [s.value for s in at.subheader]
    at.button(key="map_open_list").click()
    ok(at.run())
    assert at.title[0].value == "Phản ánh"
    assert at.selectbox(key="cases_f_district").value is None
    assert at.selectbox(key="cases_f_ward").value == commune
    assert at.selectbox(key="cases_f_unit").value is None
    assert at.selectbox(key="cases_f_kind").value is None
    assert "1 phản ánh" in texts(at)


def test_the_case_list_filters_by_the_wards_of_a_district(
    open_page: Open, ui_session: Session, city: MapCity
) -> None:
    """HK1-HK3 lie within 7 m of each other, so in one ward of Hoàn Kiếm; the ward box
    offers that district's wards once the district is chosen, communes before."""
    ward = ui_session.get(Report, city.ids["HK1"]).ward_id  # type: ignore[union-attr]
    assert ward is not None
    at = ok(open_page("pages/3_phan_anh.py", as_user="lanh_dao"))
    assert len(at.selectbox(key="cases_f_ward").options) == 126  # the 2025 communes
    at.selectbox(key="cases_f_district").set_value(city.units["002"])
    ok(at.run())
    wards = at.selectbox(key="cases_f_ward")
    assert "Hàng Đào" in wards.options and "Điện Biên" not in wards.options  # Ba Đình's
    wards.set_value(ward)
    ok(at.run())
    shown = set(at.dataframe[0].value["Mã"])
    assert {city.codes[k] for k in ("HK1", "HK2", "HK3")} <= shown
    assert not shown & {city.codes[k] for k in ("BD1", "BD2", "BD3", "U1")}
    # another district: the ward of Hoàn Kiếm is dropped, not kept as a hidden filter
    at.selectbox(key="cases_f_district").set_value(city.units["001"])
    ok(at.run())
    assert at.selectbox(key="cases_f_ward").value is None
    assert "3 phản ánh" in texts(at)


def test_figures_are_kept_between_clicks_but_follow_new_reports(
    open_page: Open, ui_session: Session, city: MapCity
) -> None:
    """The areas and hotspots are cached for the minute; a new report (same frozen
    minute) changes the data version, so the next run counts it."""
    at = ok(open_page(PAGE, as_user="phan_tich"))
    assert "9 phản ánh; 8 có địa bàn trên bản đồ." in texts(at)
    when = NOW - timedelta(hours=1)
    create_report(
        ui_session,
        data=ReportCreate(
            kind="onsite",
            category_code="rac_thai",
            title="Lại đổ rác ở số 5",
            description="Mô tả",
            address="Số 5 phố Hàng Đồng",
            lat=21.02851,
            lon=105.85221,
            submitted_at=when,
        ),
        now=when,
    )
    ui_session.commit()
    ok(at.run())
    assert "10 phản ánh; 9 có địa bàn trên bản đồ." in texts(at)
    assert feature(at, "Hoàn Kiếm")["properties"]["detail"].startswith("Số phản ánh: 6 ·")
    assert list(at.dataframe[-1].value["Số phản ánh"]) == ["4", "4"]  # both hotspots
