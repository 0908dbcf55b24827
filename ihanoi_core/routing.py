"""Routing a report's location to the administrative unit that handles it.

Why: the city routes each on-site report to the unit containing its point. Before
1 July 2025 that is the district (with its ward); from that date the district level is
gone and the commune-level unit (phường/xã) handles it. Which map applies on which date is
data (`db/reference/admin_layouts.yaml`); which polygons are used is data too: the default
built from installed packages (`ihanoi_core.boundaries`), replaced from a date on by
official files loaded into the database (`load_boundary_file`).

Rules, in order, for a point and a date:
1. no coordinates (or not numbers / out of range) -> reason "no_location";
2. inside (or on the edge of) a polygon -> that unit; overlaps are broken by the lowest
   code, so the answer never depends on input order;
3. not inside any polygon but within `SNAP_TOLERANCE_M` of one, or in a gap enclosed by
   the city -> the nearest polygon (`exact` False), which absorbs slivers between wards;
4. otherwise -> reason "outside_hanoi".

Coordinates are taken as (lat, lon) in the API and stored (lon, lat) as GeoJSON wants.
"""

from __future__ import annotations

import functools
import json
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from ihanoi_core import boundaries
from ihanoi_core.boundaries import GeoKind, Layout
from ihanoi_core.errors import BoundaryFileError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

REASON_OUTSIDE = "outside_hanoi"
REASON_NO_LOCATION = "no_location"
SNAP_TOLERANCE_M = 50.0
"""Points this close to a polygon (but in no polygon) go to the nearest one."""

MAX_BOUNDARY_FILE_BYTES = 200 * 1024 * 1024
BBOX_MARGIN_DEG = 0.3
"""How far (about 33 km) a loaded boundary may reach beyond the default Hà Nội outline."""
MAX_REPORTED_PROBLEMS = 10
MIN_UNIT_AREA_M2 = 100.0
"""A polygon smaller than this is a slip (a degenerate ring), not an administrative unit."""

_DISTRICT_LEVELS = frozenset({"quan", "huyen", "thi_xa", "thanh_pho", "district"})
_WARD_LEVELS = frozenset({"phuong", "xa", "thi_tran", "ward"})
_COMMUNE_LEVELS = frozenset({"phuong", "xa", "dac_khu", "commune"})
_NAME_PREFIXES = ("Thành phố", "Thị trấn", "Thị xã", "Quận", "Huyện", "Phường", "Xã")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RouteResult:
    """Where a report goes.

    `unit_*` is the handling unit: the district before 1 July 2025, the commune after
    (then `ward_*` repeats it and `district_*` is None: the level no longer exists).
    `exact` is True only when the point lies inside a polygon whose unit is certain; it is
    False for a point snapped to a nearby polygon and, in the default 2025 data, for a
    point in an old ward split between several communes (nearest-centroid rule).
    """

    unit_code: str | None
    unit_name: str | None
    ward_code: str | None
    ward_name: str | None
    district_code: str | None
    district_name: str | None
    layout: str
    reason: str | None
    exact: bool


@dataclass(frozen=True)
class BoundaryPiece:
    """A polygon (lon/lat) and the routing answer for points inside it."""

    geometry: BaseGeometry
    unit_code: str
    unit_name: str
    ward_code: str | None
    ward_name: str | None
    district_code: str | None
    district_name: str | None
    exact: bool = True


# --------------------------------------------------------------------------- layers


class BoundaryLayer:
    """The polygons of one layout from one source, with a spatial index (in metres).

    `valid_from` is the first day the layer is used (None: from the layout's start).
    """

    def __init__(
        self,
        layout: Layout,
        pieces: Sequence[BoundaryPiece],
        *,
        valid_from: date | None = None,
        source: str = "default",
        is_override: bool = False,
        outline: BaseGeometry | None = None,
    ) -> None:
        if not pieces:
            raise ValueError("a boundary layer needs at least one polygon")
        self.layout = layout
        self.valid_from = valid_from
        self.source = source
        self.is_override = is_override
        self.pieces = tuple(
            sorted(pieces, key=lambda p: (p.unit_code, p.ward_code or "", p.district_code or ""))
        )
        self.metric = np.array([boundaries.to_metric(p.geometry) for p in self.pieces])
        self.tree = shapely.STRtree(self.metric)
        self.bounds = shapely.total_bounds(self.metric)
        self._outline_lonlat = outline
        self._results_exact = tuple(self._result(p, exact=p.exact) for p in self.pieces)
        self._results_snapped = tuple(self._result(p, exact=False) for p in self.pieces)
        self._outside = RouteResult(
            None, None, None, None, None, None, layout.id, REASON_OUTSIDE, False
        )
        self._unit_cache: dict[tuple[str, str], BaseGeometry | None] = {}
        self._lock = threading.Lock()

    def _result(self, piece: BoundaryPiece, *, exact: bool) -> RouteResult:
        return RouteResult(
            unit_code=piece.unit_code,
            unit_name=piece.unit_name,
            ward_code=piece.ward_code,
            ward_name=piece.ward_name,
            district_code=piece.district_code,
            district_name=piece.district_name,
            layout=self.layout.id,
            reason=None,
            exact=exact,
        )

    @functools.cached_property
    def outline(self) -> BaseGeometry:
        """The city outline in metres with interior gaps filled (computed on first need)."""
        if self._outline_lonlat is not None:
            union = boundaries.to_metric(self._outline_lonlat)
        else:
            union = shapely.union_all(self.metric)
        shells = [
            shapely.Polygon(p.exterior)
            for p in shapely.get_parts(union)
            if p.geom_type == "Polygon"
        ]
        filled: BaseGeometry = shapely.union_all(shells)
        shapely.prepare(filled)
        return filled

    def starts_on(self) -> date:
        """First day this layer applies (for choosing between layers of one layout)."""
        return self.valid_from or date.min

    def started_by(self, on: date) -> bool:
        """True if the layer's own start (if any) is on or before `on`.

        The layout's dates are the router's business (its `admin_layouts.yaml`), so a
        router given other layouts moves the switch date without rebuilding layers.
        """
        return self.valid_from is None or on >= self.valid_from

    def locate(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Piece index for each metric point (-1: outside) and whether it was contained."""
        n = x.shape[0]
        index = np.full(n, -1, dtype=np.int64)
        contained = np.zeros(n, dtype=np.bool_)
        if n == 0:
            return index, contained
        points = shapely.points(x, y)
        _min_per_input(index, *self.tree.query(points, predicate="intersects"))
        contained = index >= 0
        missing = np.flatnonzero(~contained)
        if missing.size:
            found = np.full(missing.size, -1, dtype=np.int64)
            _min_per_input(
                found,
                *self.tree.query_nearest(
                    points[missing], max_distance=SNAP_TOLERANCE_M, all_matches=True
                ),
            )
            index[missing] = found
            still = missing[found < 0]
            if still.size:
                near = (
                    (x[still] >= self.bounds[0])
                    & (x[still] <= self.bounds[2])
                    & (y[still] >= self.bounds[1])
                    & (y[still] <= self.bounds[3])
                )
                candidates = still[near]
                if candidates.size:
                    inside = shapely.contains_xy(self.outline, x[candidates], y[candidates])
                    gap = candidates[inside]
                    if gap.size:
                        nearest = np.full(gap.size, -1, dtype=np.int64)
                        _min_per_input(
                            nearest, *self.tree.query_nearest(points[gap], all_matches=True)
                        )
                        index[gap] = nearest
        return index, contained

    def results(
        self, index: npt.NDArray[np.int64], contained: npt.NDArray[np.bool_]
    ) -> list[RouteResult]:
        """RouteResults for `locate`'s output (shared immutable objects, so it is cheap)."""
        exact, snapped, outside = self._results_exact, self._results_snapped, self._outside
        return [
            outside if i < 0 else (exact[i] if c else snapped[i])
            for i, c in zip(index.tolist(), contained.tolist(), strict=True)
        ]

    def unit_geometry(self, kind: GeoKind, code: str) -> BaseGeometry | None:
        """Metric polygon of a unit of this layer (union of its pieces), or None."""
        key = (kind, code)
        with self._lock:
            if key in self._unit_cache:
                return self._unit_cache[key]
        chosen = [
            m for p, m in zip(self.pieces, self.metric, strict=True) if _piece_code(p, kind) == code
        ]
        geometry: BaseGeometry | None = shapely.union_all(chosen) if chosen else None
        if geometry is not None:
            shapely.prepare(geometry)
        with self._lock:
            self._unit_cache[key] = geometry
        return geometry

    def has_unit(self, kind: GeoKind, code: str) -> bool:
        """True if a piece of this layer belongs to that unit."""
        return any(_piece_code(p, kind) == code for p in self.pieces)


def _piece_code(piece: BoundaryPiece, kind: GeoKind) -> str | None:
    if kind == "district":
        return piece.district_code
    if kind == "ward":
        return piece.ward_code
    return piece.unit_code


def _min_per_input(
    out: npt.NDArray[np.int64], inputs: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]
) -> None:
    """out[i] = smallest target matched by input i (ties between polygons -> lowest code)."""
    if inputs.size == 0:
        return
    best = np.full(out.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, inputs, targets)
    hit = best != np.iinfo(np.int64).max
    out[hit] = best[hit]


# --------------------------------------------------------------------------- router


class Router:
    """Routes points on a date using the right layout and, for it, the newest layer.

    Layers of a layout are default ones (always present) and optional overrides loaded
    from official files; on a date the layer with the latest start wins, overrides
    before the default on the same start.
    """

    def __init__(
        self, layers: Sequence[BoundaryLayer], layouts: Sequence[Layout] | None = None
    ) -> None:
        self.layouts = tuple(layouts if layouts is not None else boundaries.admin_layouts())
        self.layers = tuple(layers)

    def layout_on(self, on: date) -> Layout:
        """The administrative layout in force on `on`."""
        return boundaries.layout_on(on, self.layouts)

    def layer_for(self, on: date) -> BoundaryLayer:
        """The boundaries used on `on`. Raises LookupError if no layer covers that date."""
        layout = self.layout_on(on)
        usable = [
            layer for layer in self.layers if layer.layout.id == layout.id and layer.started_by(on)
        ]
        if not usable:
            raise LookupError(f"no boundaries for layout {layout.id} on {on.isoformat()}")
        return max(usable, key=lambda layer: (layer.starts_on(), layer.is_override))

    def route(self, lat: float | None, lon: float | None, on: date) -> RouteResult:
        """The unit for one point on one date (see the module docstring for the rules)."""
        return self.route_many([(lat, lon)], on)[0]

    def route_many(
        self, points: Iterable[tuple[float | None, float | None]], on: date
    ) -> list[RouteResult]:
        """Route many (lat, lon) points on one date at once (vectorised; same order)."""
        layer = self.layer_for(on)
        pairs = list(points)
        lat = np.array([_as_float(p[0]) for p in pairs], dtype=np.float64)
        lon = np.array([_as_float(p[1]) for p in pairs], dtype=np.float64)
        valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        x, y = boundaries.to_metric_xy(lon[valid], lat[valid])
        routed = layer.results(*layer.locate(x, y))
        no_location = RouteResult(
            None, None, None, None, None, None, layer.layout.id, REASON_NO_LOCATION, False
        )
        out: list[RouteResult] = [no_location] * len(pairs)
        for position, result in zip(np.flatnonzero(valid).tolist(), routed, strict=True):
            out[position] = result
        return out

    def random_point_in(
        self,
        code: str,
        rng: random.Random,
        *,
        kind: GeoKind | None = None,
        on: date | None = None,
    ) -> tuple[float, float]:
        """A (lat, lon) strictly inside a unit that routes back to it, for demo data.

        The point is at least 2 m from the unit's edge and rounded to 6 decimals (what a
        phone sends). The unit is looked up in the layer used on `on` (default: the newest
        layer of each layout). GSO reused old ward codes for 2025 communes (00070 is ward
        Hàng Trống and phường Hoàn Kiếm); without `kind` or `on`, such a code is sampled
        inside both units, so the point routes to `code` before and after 1 July 2025,
        or, if they do not overlap, in the commune. Raises ValueError for an unknown code.
        """
        options = self._unit_options(code, kind, on)
        if not options:
            raise ValueError(f"unknown unit code {code!r}" + (f" of kind {kind}" if kind else ""))
        shared = _intersection([layer.unit_geometry(k, code) for layer, k in options])
        if shared is not None:
            point = _sample(
                shared,
                rng,
                lambda x, y: all(_routes_to(layer, k, code, x, y) for layer, k in options),
            )
            if point is not None:
                return point
        layer, chosen_kind = options[-1]
        geometry = layer.unit_geometry(chosen_kind, code)
        if geometry is not None:
            point = _sample(geometry, rng, lambda x, y: _routes_to(layer, chosen_kind, code, x, y))
            if point is not None:
                return point
        raise ValueError(f"could not find a point inside unit {code!r} ({chosen_kind})")

    def _newest_layer(self, layout: Layout) -> BoundaryLayer:
        own = [layer for layer in self.layers if layer.layout.id == layout.id]
        return max(own, key=lambda layer: (layer.starts_on(), layer.is_override))

    def _unit_options(
        self, code: str, kind: GeoKind | None, on: date | None
    ) -> list[tuple[BoundaryLayer, GeoKind]]:
        if on is not None:
            layers = [self.layer_for(on)]
        else:
            layers = [self._newest_layer(layout) for layout in self.layouts]
        options: list[tuple[BoundaryLayer, GeoKind]] = []
        for layer in layers:
            for k in layer.layout.kinds:
                if (kind is None or k == kind) and layer.has_unit(k, code):
                    options.append((layer, k))
        return options


def _intersection(geometries: Sequence[BaseGeometry | None]) -> BaseGeometry | None:
    if len(geometries) < 2 or any(g is None for g in geometries):
        return None
    shared: BaseGeometry = shapely.intersection_all([g for g in geometries if g is not None])
    shared = boundaries.polygonal(shared)
    if shared.is_empty or shared.area < 100.0:
        return None
    shapely.prepare(shared)
    return shared


def _routes_to(layer: BoundaryLayer, kind: GeoKind, code: str, x: float, y: float) -> bool:
    index, contained = layer.locate(np.array([x]), np.array([y]))
    return (
        bool(contained[0]) and index[0] >= 0 and _piece_code(layer.pieces[index[0]], kind) == code
    )


def _sample(
    geometry: BaseGeometry,
    rng: random.Random,
    accept: Callable[[float, float], bool],
    batch: int = 32,
    rounds: int = 300,
) -> tuple[float, float] | None:
    """Rejection sampling inside a metric polygon; returns a rounded (lat, lon)."""
    min_x, min_y, max_x, max_y = geometry.bounds
    boundary = geometry.boundary
    for _ in range(rounds):
        xs = np.array([rng.uniform(min_x, max_x) for _ in range(batch)])
        ys = np.array([rng.uniform(min_y, max_y) for _ in range(batch)])
        lon, lat = boundaries.from_metric_xy(xs, ys)
        lat_r, lon_r = np.round(lat, 6), np.round(lon, 6)
        rx, ry = boundaries.to_metric_xy(lon_r, lat_r)
        inside = shapely.contains_xy(geometry, rx, ry)
        for i in np.flatnonzero(inside).tolist():
            if shapely.distance(boundary, shapely.Point(rx[i], ry[i])) < 2.0:
                continue
            if accept(float(rx[i]), float(ry[i])):
                return float(lat_r[i]), float(lon_r[i])
    return None


def _as_float(value: object) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(cast(Any, value))
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------- default layers


def default_layers() -> list[BoundaryLayer]:
    """The layers built from the installed packages: 2024 wards/districts, 2025 communes."""
    data = boundaries.hanoi_boundaries()
    districts = {d.code: d for d in data.districts}
    communes = {c.code: c for c in data.communes}
    outline = shapely.union_all([d.geometry for d in data.districts])
    layers: list[BoundaryLayer] = []
    for layout in boundaries.admin_layouts():
        pieces: list[BoundaryPiece] = []
        if layout.unit_kind == "commune":
            for piece in data.commune_pieces:
                unit = communes[piece.commune_code]
                pieces.append(
                    BoundaryPiece(
                        piece.geometry,
                        unit.code,
                        unit.name,
                        unit.code,
                        unit.name,
                        None,
                        None,
                        exact=piece.exact,
                    )
                )
        else:
            for ward in data.wards:
                district = districts[ward.parent_code or ""]
                pieces.append(
                    BoundaryPiece(
                        ward.geometry,
                        district.code,
                        district.name,
                        ward.code,
                        ward.name,
                        district.code,
                        district.name,
                    )
                )
        layers.append(BoundaryLayer(layout, pieces, outline=outline))
    return layers


@functools.cache
def default_router() -> Router:
    """The router on the default boundaries, built once per process."""
    return Router(default_layers())


def random_point_in(code: str, rng: random.Random) -> tuple[float, float]:
    """A (lat, lon) strictly inside a default unit (see `Router.random_point_in`)."""
    return default_router().random_point_in(code, rng)


# --------------------------------------------------------------------------- boundary files


@dataclass(frozen=True)
class ParsedFeature:
    """One accepted feature of a boundary file (geometry repaired, lon/lat)."""

    kind: GeoKind
    code: str
    name: str
    level: str | None
    parent_code: str | None
    geometry: BaseGeometry


def strip_prefix(name: str) -> str:
    """ "Quận Ba Đình" -> "Ba Đình": names are stored without the administrative prefix."""
    name = boundaries.nfc(name)
    for prefix in _NAME_PREFIXES:
        if name.lower().startswith(prefix.lower() + " ") and len(name) > len(prefix) + 1:
            return name[len(prefix) + 1 :].strip()
    return name


def _problem_list(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
    more = len(problems) - MAX_REPORTED_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _check_geometry(
    raw: object, bbox: tuple[float, float, float, float]
) -> tuple[BaseGeometry | None, str | None]:
    """(repaired geometry, None) or (None, reason)."""
    if not isinstance(raw, dict):
        return None, "has no geometry"
    kind = raw.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        return None, f"geometry type {kind!r} is not Polygon or MultiPolygon"
    try:
        geometry = shapely.from_geojson(json.dumps(raw))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        return None, f"malformed coordinates ({str(exc).splitlines()[0][:80]})"
    if geometry.is_empty:
        return None, "empty geometry"
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        return None, "coordinates that are not finite numbers"
    min_lon, min_lat, max_lon, max_lat = bbox
    lon, lat = coords[:, 0], coords[:, 1]
    outside = (lon < min_lon) | (lon > max_lon) | (lat < min_lat) | (lat > max_lat)
    if outside.any():
        first = coords[np.flatnonzero(outside)[0]]
        swapped = min_lon <= first[1] <= max_lon and min_lat <= first[0] <= max_lat
        hint = " (looks like [lat, lon]; GeoJSON order is [lon, lat])" if swapped else ""
        return None, (
            f"{int(outside.sum())} point(s) far outside Hà Nội,"
            f" e.g. [{first[0]:.5f}, {first[1]:.5f}]{hint}"
        )
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        geometry = boundaries.repair(geometry)
        if geometry.is_empty or boundaries.to_metric(geometry).area < MIN_UNIT_AREA_M2:
            return None, f"invalid geometry that make_valid cannot repair ({reason})"
    elif boundaries.to_metric(geometry).area < MIN_UNIT_AREA_M2:
        return None, f"geometry with (almost) no area (under {MIN_UNIT_AREA_M2:g} m²)"
    return geometry, None


def parse_boundary_file(path: Path, layout: str) -> list[ParsedFeature]:
    """Read and fully validate a boundary GeoJSON file; nothing is written.

    Accepted properties: `code` (GSO code as a string: 3 digits for a district, 5 for a
    ward or commune), `name` (prefix such as "Quận" is dropped), `level`, and for a 2024
    ward `parent_code` (its district). 2024 files may hold only districts (then routing
    gives no ward). Raises BoundaryFileError listing every problem found (up to 10).
    """
    boundaries.layout_by_id(layout)
    label = path.name
    if not path.is_file():
        raise BoundaryFileError(f"{label}: file not found")
    if path.stat().st_size > MAX_BOUNDARY_FILE_BYTES:
        raise BoundaryFileError(f"{label}: larger than {MAX_BOUNDARY_FILE_BYTES // 2**20} MB")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BoundaryFileError(f"{label}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BoundaryFileError(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise BoundaryFileError(f"{label}: not a GeoJSON FeatureCollection (type {found!r})")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise BoundaryFileError(f"{label}: the FeatureCollection has no features")

    bbox = boundaries.hanoi_bbox(BBOX_MARGIN_DEG)
    problems: list[str] = []
    parsed: list[ParsedFeature] = []
    for number, feature in enumerate(features, start=1):
        where = f"feature {number}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(f"{where}: not a GeoJSON Feature")
            continue
        props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        assert isinstance(props, dict)
        raw_code = props.get("code")
        code = _text(raw_code)
        if isinstance(raw_code, int | float) and not isinstance(raw_code, bool):
            problems.append(f"{where}: code {raw_code!r} must be a string (leading zeros matter)")
            continue
        if code is None:
            problems.append(f"{where}: no code")
            continue
        where = f"feature {number} (code {code})"
        name = _text(props.get("name"))
        if name is None:
            problems.append(f"{where}: no name")
            continue
        level = _text(props.get("level"))
        level = boundaries.level_slug(level) if level else None
        parent = _text(props.get("parent_code"))
        kind, problem = _classify(layout, code, level, parent)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        geometry, problem = _check_geometry(feature.get("geometry"), bbox)
        if geometry is None:
            problems.append(f"{where}: {problem}")
            continue
        assert kind is not None
        parsed.append(
            ParsedFeature(
                kind, code, strip_prefix(name), level, parent if kind == "ward" else None, geometry
            )
        )

    counts: dict[str, int] = {}
    for feature_ in parsed:
        counts[feature_.code] = counts.get(feature_.code, 0) + 1
    duplicates = sorted(code for code, n in counts.items() if n > 1)
    if duplicates:
        problems.append(f"duplicate codes: {', '.join(duplicates)}")
    district_codes = {f.code for f in parsed if f.kind == "district"}
    known = district_codes or {d.code for d in boundaries.hanoi_boundaries().districts}
    for feature_ in parsed:
        if feature_.kind == "ward" and feature_.parent_code not in known:
            problems.append(
                f"ward {feature_.code}: parent_code {feature_.parent_code!r} is not a district"
                + (" of this file" if district_codes else " of Hà Nội")
            )
    if problems:
        hint = _other_layout_hint(features, layout)
        raise BoundaryFileError(
            f"{label}: rejected, nothing loaded: {_problem_list(problems)}{hint}"
        )
    return parsed


def _other_layout_hint(features: Sequence[Any], layout: str) -> str:
    """ " (is this a 2025 file? ...)" when every feature would classify under another layout."""
    for other in boundaries.admin_layouts():
        if other.id == layout:
            continue
        fits = 0
        for feature in features:
            props = feature.get("properties") if isinstance(feature, dict) else None
            if not isinstance(props, dict):
                break
            code, level = _text(props.get("code")), _text(props.get("level"))
            _, problem = _classify(
                other.id,
                code or "",
                boundaries.level_slug(level) if level else None,
                _text(props.get("parent_code")),
            )
            if problem:
                break
            fits += 1
        if fits == len(features):
            return f" (this looks like a layout {other.id} file: try --layout {other.id})"
    return ""


def _classify(
    layout: str, code: str, level: str | None, parent: str | None
) -> tuple[GeoKind | None, str | None]:
    """The unit kind of a feature under a layout, or a problem."""
    if not code.isdigit():
        return None, "code must be digits (GSO code)"
    if layout == "2025":
        if level is not None and level not in _COMMUNE_LEVELS:
            return None, f"level {level!r} is not a commune-level unit (phuong/xa)"
        if len(code) != 5:
            return None, "a commune code has 5 digits"
        return "commune", None
    if level in _DISTRICT_LEVELS or (level is None and len(code) == 3):
        if len(code) != 3:
            return None, "a district code has 3 digits"
        return "district", None
    if level in _WARD_LEVELS or (level is None and len(code) == 5):
        if len(code) != 5:
            return None, "a ward code has 5 digits"
        if parent is None:
            return None, "a ward needs parent_code (its district)"
        return "ward", None
    return None, f"unknown level {level!r} (expected quan/huyen/thi_xa or phuong/xa/thi_tran)"


def _override_layer(
    layout: Layout, valid_from: date, source: str, features: Sequence[ParsedFeature]
) -> BoundaryLayer:
    """A layer from accepted features (2024: wards + uncovered district parts, or districts)."""
    pieces: list[BoundaryPiece] = []
    if layout.unit_kind == "commune":
        for f in features:
            pieces.append(BoundaryPiece(f.geometry, f.code, f.name, f.code, f.name, None, None))
        return BoundaryLayer(layout, pieces, valid_from=valid_from, source=source, is_override=True)
    district_names = {d.code: d.name for d in boundaries.hanoi_boundaries().districts}
    districts = {f.code: f for f in features if f.kind == "district"}
    district_names.update({code: f.name for code, f in districts.items()})
    wards = [f for f in features if f.kind == "ward"]
    for w in wards:
        parent = w.parent_code or ""
        name = district_names.get(parent, parent)
        pieces.append(BoundaryPiece(w.geometry, parent, name, w.code, w.name, parent, name))
    for code, d in districts.items():
        own = [w.geometry for w in wards if w.parent_code == code]
        rest = (
            d.geometry
            if not own
            else boundaries.polygonal(shapely.difference(d.geometry, shapely.union_all(own)))
        )
        if not rest.is_empty and boundaries.to_metric(rest).area > 1_000.0:
            pieces.append(BoundaryPiece(rest, code, d.name, None, None, code, d.name))
    return BoundaryLayer(layout, pieces, valid_from=valid_from, source=source, is_override=True)


def _boundary_feature_model() -> Any:
    from ihanoi_core.models import BoundaryFeature

    return BoundaryFeature


def load_boundary_file(
    session: Session, path: Path, layout: str, valid_from: date, now: datetime
) -> int:
    """Validate a boundary file, then store its features; returns how many were stored.

    Everything is checked before anything is written; a file with any problem raises
    BoundaryFileError and changes nothing. Features previously loaded for the same layout
    and `valid_from` are replaced (reloading a corrected file is the normal fix). The
    caller commits (`session_scope`).
    """
    from sqlalchemy import delete

    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    target = boundaries.layout_by_id(layout)
    if target.valid_to is not None and valid_from > target.valid_to:
        raise BoundaryFileError(
            f"{path.name}: valid-from {valid_from.isoformat()} is after the end of layout"
            f" {layout} ({target.valid_to.isoformat()}); it would never be used"
        )
    features = parse_boundary_file(path, layout)
    model = _boundary_feature_model()
    session.execute(delete(model).where(model.layout == layout, model.valid_from == valid_from))
    loaded_at = now.astimezone(UTC)
    session.add_all(
        [
            model(
                layout=layout,
                level=f.kind,
                code=f.code,
                name=f.name,
                parent_code=f.parent_code,
                valid_from=valid_from,
                source=path.name,
                geometry_geojson=shapely.to_geojson(f.geometry),
                loaded_at=loaded_at,
            )
            for f in features
        ]
    )
    session.flush()
    return len(features)


_override_routers: dict[tuple[Any, ...], Router] = {}
_override_lock = threading.Lock()


def router_for(session: Session) -> Router:
    """The router with the database's loaded boundaries over the defaults.

    Cheap on repeated calls: a one-row fingerprint query (database, row count, ids,
    load times, text lengths) decides whether the cached router is still current, so it
    can be called once per report. Callers creating many reports may pass one router.
    """
    from sqlalchemy import func, select

    model = _boundary_feature_model()
    stats = session.execute(
        select(
            func.count(model.id),
            func.max(model.id),
            func.sum(model.id),
            func.min(model.loaded_at),
            func.max(model.loaded_at),
            func.sum(func.length(model.geometry_geojson)),
            func.sum(func.length(model.code) + func.length(model.name)),
        )
    ).one()
    bind = session.get_bind()
    fingerprint = (str(bind.engine.url), *stats)
    if not stats[0]:
        return default_router()
    with _override_lock:
        cached = _override_routers.get(fingerprint)
    if cached is not None:
        return cached
    rows = session.execute(
        select(
            model.layout,
            model.level,
            model.code,
            model.name,
            model.parent_code,
            model.valid_from,
            model.source,
            model.geometry_geojson,
        ).order_by(model.layout, model.valid_from, model.code)
    ).all()
    router = Router([*default_router().layers, *_layers_from_rows(rows)], default_router().layouts)
    with _override_lock:
        while len(_override_routers) >= 4:  # a few databases per process (tests, tools)
            _override_routers.pop(next(iter(_override_routers)))
        _override_routers[fingerprint] = router
    return router


def _layers_from_rows(rows: Sequence[Any]) -> list[BoundaryLayer]:
    groups: dict[tuple[str, date], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.layout, row.valid_from), []).append(row)
    layers: list[BoundaryLayer] = []
    for (layout_id, valid_from), members in sorted(groups.items()):
        features = [
            ParsedFeature(
                kind=row.level,
                code=row.code,
                name=row.name,
                level=None,
                parent_code=row.parent_code,
                geometry=boundaries.repair(shapely.from_geojson(row.geometry_geojson)),
            )
            for row in members
        ]
        sources = ", ".join(sorted({row.source for row in members}))
        layers.append(
            _override_layer(boundaries.layout_by_id(layout_id), valid_from, sources, features)
        )
    return layers


def unit_names(kind: GeoKind) -> Mapping[str, str]:
    """Default names by code for one kind (handy for labels and tests)."""
    return {s.code: s.name for s in boundaries.hanoi_boundaries().by_kind(kind)}
