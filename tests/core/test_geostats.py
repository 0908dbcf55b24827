"""The map's aggregates on a small city counted by hand (SQLite and PostgreSQL).

Times are Hanoi local, 2024; NOW = Thu 8 Aug 10:00. On-site normal limit 40 working
hours (5 working days) from arrival; located reports are routed on submission, so a
report submitted Mon 22/07 09:00 is due Mon 29/07 09:00.

    key  district   point                 address                 story
    HK1  Hoàn Kiếm  21.02850, 105.85220   "Số 5, phố Hàng Đồng"   22/07 09:00 waiting: OVERDUE
    HK2  Hoàn Kiếm  21.02853, 105.85224   "số 5 phố hàng đồng"    23/07 09:00 assigned: OVERDUE
    HK3  Hoàn Kiếm  21.02847, 105.85217   "Số 5 Phố Hàng Đồng"    05/08 09:00 waiting (due 12/08)
    HK4  Hoàn Kiếm  21.03300, 105.85000   "12 Hàng Bạc"           29/07 09:00 published 30/07,
                                                                   rated unsatisfied
    HK5  Hoàn Kiếm  21.03000, 105.85600   "Ngõ 3 Hàng Chuối"      22/07 09:00 published 31/07
                                                                   (LATE), rated satisfied
    BD1  Ba Đình    21.03680, 105.83460   "Lăng Bác"              22/07 09:00 waiting: OVERDUE
    BD2  Ba Đình    21.04000, 105.83000   "ngõ 307 Giảng Võ"      06/08 09:00 waiting
    BD3  Ba Đình    21.04002, 105.83002   "Ngõ 307, Giảng Võ"     06/08 10:00 refused 14:00
    U1   -          no location           ""                      07/08 09:00 at the city office

By hand:
- Hoàn Kiếm: 5 reports, 3 open, 2 overdue, 1 finished late -> overdue rate 3/5 = 60 %,
  1 unsatisfied of 2 rated. Ba Đình: 3 reports, 2 open, 1 overdue -> 1/3; no rating.
  One report in no district (U1). Total 9.
- HK1-HK3 lie within 7 m of each other in one ~100 m cell (lat/0.000898 = 23408.89 to
  23408.96, lon/0.000962 = 109985.98 to 109986.06): a cell hotspot of 3. Their addresses
  normalise to "so 5 pho hang dong": an address hotspot of 3. BD2/BD3 (2 reports) are
  below the default minimum of 3.
- 0.01° grid (cells centred on multiples of 0.01°): HK1-HK4 in (21.03, 105.85), HK5 in
  (21.03, 105.86) since 105.856/0.01 = 10585.6 rounds up, BD1-BD3 in (21.04, 105.83).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pytest
from sqlmodel import Session

from ihanoi_core import geostats
from ihanoi_core.cases import CaseFilter
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.geostats import (
    BoundingBox,
    HotspotKind,
    Measure,
    area_kind_on,
    area_stats,
    density_grid,
    hotspots,
    map_points,
    normalise_address,
)
from ihanoi_core.models import Report, ReportCreate
from ihanoi_core.services import create_report
from ihanoi_core.vocab import Action, Bucket, Kind, Priority, Rating, Status
from ihanoi_core.workflow import Actor
from tests.factories import Cast, step, unit_id


def hanoi(month: int, day: int, hour: int, minute: int = 0, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HANOI_TZ)


NOW = hanoi(8, 8, 10)


@dataclass
class MapCity:
    cast: Cast
    ids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)


def _located(
    session: Session,
    when: datetime,
    lat: float | None,
    lon: float | None,
    address: str,
    title: str,
    category: str = "rac_thai",
) -> Report:
    return create_report(
        session,
        data=ReportCreate(
            kind=Kind.ONSITE.value,
            category_code=category,
            title=title,
            description="Mô tả",
            address=address,
            lat=lat,
            lon=lon,
            submitted_at=when,
        ),
        now=when,
    )


def _assign(s: Session, r: Report, leader: Actor, officer: Actor, at: datetime) -> Report:
    return step(
        s, r, Action.ASSIGN, leader, at, assignee_id=officer.user_id, priority=Priority.NORMAL
    )


def _publish(
    s: Session,
    r: Report,
    leader: Actor,
    officer: Actor,
    cast: Cast,
    at: datetime,
    rating: Rating,
) -> Report:
    r = _assign(s, r, leader, officer, at)
    r = step(
        s,
        r,
        Action.DRAFT,
        officer,
        at.replace(hour=at.hour + 1),
        result_text="Đã dọn sạch tại hiện trường.",
    )
    r = step(s, r, Action.APPROVE, leader, at.replace(hour=at.hour + 2))
    r = step(s, r, Action.PUBLISH, leader, at.replace(hour=at.hour + 3), is_public=True)
    return step(s, r, Action.RATE, cast.system, at.replace(hour=at.hour + 4), rating=rating)


def build_map_city(session: Session) -> MapCity:
    """The city of the module docstring (also the map page's test data)."""
    cast = Cast(session, NOW)
    city = MapCity(cast)
    hk_lead, hk_off = cast.unit_leader, cast.officer
    bd_lead, bd_off = cast.other_leader, cast.other_officer

    def keep(key: str, report: Report) -> None:
        assert report.id is not None
        city.ids[key], city.codes[key] = report.id, report.code

    hk1 = _located(
        session, hanoi(7, 22, 9), 21.02850, 105.85220, "Số 5, phố Hàng Đồng", "Đổ rác trước nhà"
    )
    keep("HK1", hk1)
    hk2 = _located(
        session, hanoi(7, 23, 9), 21.02853, 105.85224, "số 5 phố hàng đồng", "Lại đổ rác"
    )
    keep("HK2", _assign(session, hk2, hk_lead, hk_off, hanoi(7, 23, 14)))
    hk3 = _located(
        session, hanoi(8, 5, 9), 21.02847, 105.85217, "Số 5 Phố Hàng Đồng", "Rác chưa được dọn"
    )
    keep("HK3", hk3)
    hk4 = _located(session, hanoi(7, 29, 9), 21.03300, 105.85000, "12 Hàng Bạc", "Lấn chiếm vỉa hè")
    keep(
        "HK4",
        _publish(session, hk4, hk_lead, hk_off, cast, hanoi(7, 30, 9), Rating.UNSATISFIED),
    )
    hk5 = _located(
        session, hanoi(7, 22, 9), 21.03000, 105.85600, "Ngõ 3 Hàng Chuối", "Đèn đường hỏng"
    )
    keep("HK5", _publish(session, hk5, hk_lead, hk_off, cast, hanoi(7, 31, 9), Rating.SATISFIED))
    bd1 = _located(session, hanoi(7, 22, 9), 21.03680, 105.83460, "Lăng Bác", "Xe đỗ sai chỗ")
    keep("BD1", bd1)
    bd2 = _located(
        session, hanoi(8, 6, 9), 21.04000, 105.83000, "ngõ 307 Giảng Võ", "Lấn chiếm ngõ"
    )
    keep("BD2", bd2)
    bd3 = _located(
        session, hanoi(8, 6, 10), 21.04002, 105.83002, "Ngõ 307, Giảng Võ", "Lấn chiếm ngõ 307"
    )
    bd3 = _assign(session, bd3, bd_lead, bd_off, hanoi(8, 6, 11))
    bd3 = step(
        session,
        bd3,
        Action.REFUSE_INACCURATE,
        bd_off,
        hanoi(8, 6, 14),
        template_code="tu_choi_thong_tin_khong_ro",
    )
    keep("BD3", bd3)
    keep("U1", _located(session, hanoi(8, 7, 9), None, None, "", "Không rõ vị trí"))
    city.units = {"002": unit_id(session, "002"), "001": unit_id(session, "001")}
    session.flush()
    return city


@pytest.fixture
def city(session: Session) -> MapCity:
    built = build_map_city(session)
    session.commit()
    return built


# ------------------------------------------------------------------ areas


def test_the_story_holds(session: Session, city: MapCity) -> None:
    """The statuses and districts the counts below rely on."""
    got = {k: session.get(Report, i) for k, i in city.ids.items()}
    assert {k: r.status for k, r in got.items() if r} == {
        "HK1": "waiting",
        "HK2": "assigned",
        "HK3": "waiting",
        "HK4": "published",
        "HK5": "published",
        "BD1": "waiting",
        "BD2": "waiting",
        "BD3": "refused",
        "U1": "received",
    }
    hk1 = got["HK1"]
    assert hk1 is not None and hk1.due_at == hanoi(7, 29, 9)
    assert {k: r.district_id for k, r in got.items() if r and k.startswith("HK")} == {
        k: city.units["002"] for k in ("HK1", "HK2", "HK3", "HK4", "HK5")
    }


def test_area_stats_per_district_counted_by_hand(session: Session, city: MapCity) -> None:
    stats = area_stats(session, now=NOW, kind="district")
    assert stats.layout == "2024" and stats.unplaced == 1 and stats.total == 9
    assert stats.located == 8  # all but U1: the points the whole-city map may draw
    hk, bd = stats.areas
    assert (hk.code, hk.name, hk.unit_id) == ("002", "Hoàn Kiếm", city.units["002"])
    assert (hk.total, hk.open, hk.overdue_open, hk.resolved_late) == (5, 3, 2, 1)
    assert (hk.unsatisfied, hk.rated) == (1, 2)
    assert hk.overdue_rate == pytest.approx(0.6)
    assert (bd.code, bd.total, bd.open, bd.overdue_open, bd.resolved_late) == ("001", 3, 2, 1, 0)
    assert bd.overdue_rate == pytest.approx(1 / 3)
    assert [hk.value(m) for m in Measure] == [5.0, 2.0, pytest.approx(0.6), 1.0]


def test_area_stats_follow_the_case_filters(session: Session, city: MapCity) -> None:
    overdue = area_stats(session, now=NOW, kind="district", filt=CaseFilter(overdue_only=True))
    assert [(a.code, a.total) for a in overdue.areas] == [("002", 2), ("001", 1)]
    assert overdue.unplaced == 0
    period = CaseFilter(date_from=date(2024, 8, 1), date_to=date(2024, 8, 7))
    recent = area_stats(session, now=NOW, kind="district", filt=period)
    assert [(a.code, a.total) for a in recent.areas] == [("001", 2), ("002", 1)]
    assert recent.unplaced == 1  # U1, 07/08
    processed = CaseFilter(bucket=Bucket.PROCESSED)
    assert [
        (a.code, a.total)
        for a in area_stats(session, now=NOW, kind="district", filt=processed).areas
    ] == [("002", 2)]
    held = CaseFilter(unit_id=city.units["001"])
    assert [
        (a.code, a.total) for a in area_stats(session, now=NOW, kind="district", filt=held).areas
    ] == [("001", 3)]  # BD3, refused, stays with the unit that closed it


def test_areas_switch_to_communes_from_1_july_2025(session: Session, city: MapCity) -> None:
    assert area_kind_on(date(2025, 6, 30)) == ("district", "2024")
    assert area_kind_on(date(2025, 7, 1)) == ("commune", "2025")
    new = _located(
        session, hanoi(7, 10, 9, year=2025), 21.03300, 105.85000, "12 Hàng Bạc", "Sau sáp nhập"
    )
    session.commit()
    later = datetime(2025, 7, 10, 12, tzinfo=HANOI_TZ)
    communes = area_stats(session, now=later, kind="commune")
    assert [(a.code, a.name, a.total) for a in communes.areas] == [("00070", "Hoàn Kiếm", 1)]
    assert communes.layout == "2025" and communes.unplaced == 9  # the 2024 reports
    assert communes.located == 9  # placed or not: the 2024 ones have coordinates too
    districts = area_stats(session, now=later, kind="district")
    assert districts.unplaced == 2  # U1 and the new report (no district after the reform)
    assert new.district_id is None


def test_a_naive_clock_or_unknown_area_kind_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        area_stats(session, now=datetime(2024, 8, 8), kind="district")
    with pytest.raises(ValueError, match="districts or communes"):
        area_stats(session, now=NOW, kind="ward")


# ------------------------------------------------------------------ density


def test_density_grid_groups_rounded_coordinates(session: Session, city: MapCity) -> None:
    grid = density_grid(session, now=NOW)
    # lat/0.01 and lon/0.01 rounded: HK1-3 (2102.85 -> 2103, 10585.22 -> 10585),
    # HK4 (2103.3, 10585.0), HK5 (2103.0, 10585.6 -> 10586), BD1 (2103.68 -> 2104,
    # 10583.46 -> 10583), BD2/BD3 (2104.0, 10583.0)
    assert [(c.lat, c.lon, c.count) for c in grid.cells] == [
        (21.03, 105.85, 4),
        (21.03, 105.86, 1),
        (21.04, 105.83, 3),
    ]
    assert grid.located == 8 and grid.max_count == 4 and grid.cell_deg == 0.01


def test_density_grid_coarsens_past_its_cell_limit(session: Session, city: MapCity) -> None:
    fine = density_grid(session, now=NOW, cell_deg=0.00001)
    assert len(fine.cells) == 8  # about 1 m: every located report in its own cell
    bounded = density_grid(session, now=NOW, cell_deg=0.00001, max_cells=3)
    assert len(bounded.cells) <= 3 and bounded.located == 8
    assert bounded.cell_deg >= 0.00002


def test_density_grid_inside_a_box(session: Session, city: MapCity) -> None:
    box = BoundingBox(21.035, 105.825, 21.045, 105.835)
    grid = density_grid(session, now=NOW, box=box)
    assert sum(c.count for c in grid.cells) == 3  # BD1, BD2, BD3


# ------------------------------------------------------------------ points


def test_points_of_an_area_come_overdue_first_and_capped(session: Session, city: MapCity) -> None:
    area = ("district", city.units["002"])
    every = map_points(session, now=NOW, area=area)
    assert every.total == 5 and not every.truncated
    order = [p.code for p in every.points]
    # overdue first (HK1 due 29/07, HK2 due 30/07), then by deadline
    assert order[:2] == [city.codes["HK1"], city.codes["HK2"]]
    assert [p.is_overdue for p in every.points] == [True, True, False, False, False]
    first = every.points[0]
    assert (first.lat, first.lon, first.status, first.unit_name) == (
        21.0285,
        105.8522,
        Status.WAITING,
        "Hoàn Kiếm",
    )
    capped = map_points(session, now=NOW, area=area, limit=2)
    assert capped.total == 5 and capped.truncated and len(capped.points) == 2


def test_points_in_a_box_or_from_a_list(session: Session, city: MapCity) -> None:
    box = geostats.cell_box(21.04, 105.83, 0.01)
    inside = map_points(session, now=NOW, box=box)
    assert {p.code for p in inside.points} == {city.codes[k] for k in ("BD1", "BD2", "BD3")}
    listed = map_points(session, now=NOW, report_ids=[city.ids["U1"], city.ids["BD3"]])
    assert {p.code for p in listed.points} == {city.codes["U1"], city.codes["BD3"]}
    located = map_points(session, now=NOW, report_ids=[city.ids["U1"]], located_only=True)
    assert located.total == 0


# ------------------------------------------------------------------ hotspots


def test_hotspots_by_cell_and_by_address(session: Session, city: MapCity) -> None:
    spots = hotspots(session, now=NOW)
    assert [(h.kind, h.count) for h in spots] == [
        (HotspotKind.CELL, 3),
        (HotspotKind.ADDRESS, 3),
    ]
    cell, address = spots
    expected = {city.ids[k] for k in ("HK1", "HK2", "HK3")}
    assert set(cell.report_ids) == expected and set(address.report_ids) == expected
    assert cell.report_codes[0] == city.codes["HK3"]  # newest first
    assert address.key == "so 5 pho hang dong"
    # the label is the address as written most often (here each once: the first by text)
    assert address.label == "Số 5 Phố Hàng Đồng"
    assert cell.lat == pytest.approx(21.0285, abs=0.0006)
    assert cell.lon == pytest.approx(105.8522, abs=0.0006)


def test_hotspot_minimum_counts_pairs_too(session: Session, city: MapCity) -> None:
    spots = hotspots(session, now=NOW, min_reports=2)
    by_kind = {(h.kind, h.key): h.count for h in spots}
    assert by_kind[(HotspotKind.ADDRESS, "ngo 307 giang vo")] == 2
    assert sorted(h.count for h in spots if h.kind is HotspotKind.CELL) == [2, 3]
    assert hotspots(session, now=NOW, min_reports=4) == []
    with pytest.raises(ValueError):
        hotspots(session, now=NOW, min_reports=1)


def test_hotspots_respect_the_period(session: Session, city: MapCity) -> None:
    period = CaseFilter(date_from=date(2024, 7, 23), date_to=date(2024, 8, 8))
    assert hotspots(session, now=NOW, filt=period) == []  # HK1 (22/07) left: 2 remain


def test_addresses_written_differently_are_one_hotspot(session: Session, city: MapCity) -> None:
    """Case, diacritics (precomposed or decomposed), , . ; : and spaces do not matter;
    an address that normalises to nothing (only punctuation) is no place."""
    assert normalise_address("  Số 5,  PHỐ Hàng Đồng. ") == "so 5 pho hang dong"
    assert normalise_address("Ngách 105/41 Doãn Kế Thiện") == "ngach 105/41 doan ke thien"
    import unicodedata

    written = [
        "ĐƯỜNG Láng; Ốc",
        unicodedata.normalize("NFD", "Đường Láng, ốc"),
        "duong lang oc",
        "đường\tláng.ốc",
    ]
    for i, text in enumerate(written):
        _located(session, hanoi(8, 1, 9 + i), None, None, text, f"Địa chỉ {i}")
    for i in range(3):
        _located(session, hanoi(8, 2, 9 + i), None, None, " , . ", f"Dấu câu {i}")
    session.flush()
    assert {normalise_address(t) for t in written} == {"duong lang oc"}
    spots = hotspots(session, now=NOW)
    by_key = {(h.kind, h.key): h for h in spots}
    lang = by_key[(HotspotKind.ADDRESS, "duong lang oc")]
    assert lang.count == 4 and lang.lat is None  # none of them has a location
    assert [h.kind for h in spots].count(HotspotKind.ADDRESS) == 2  # with "so 5 pho ..."
    assert (HotspotKind.ADDRESS, "") not in by_key


def test_ward_options_are_a_districts_wards_or_the_communes(
    session: Session, city: MapCity
) -> None:
    hk = geostats.ward_options(session, city.units["002"])
    names = [o.name for o in hk]
    assert "Hàng Đào" in names and "Điện Biên" not in names  # Ba Đình's
    assert {o.kind.value for o in hk} == {"ward"}
    assert names == sorted(names, key=fold_name)
    communes = geostats.ward_options(session, None)
    assert len(communes) == 126 and {o.kind.value for o in communes} == {"commune"}
    assert geostats.ward_options(session, -1) == []


def fold_name(name: str) -> str:
    from ihanoi_core.text import fold

    return fold(name)
