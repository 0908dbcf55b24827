"""What the map shows, computed by the database: areas, a density grid, points, hotspots.

The map page never receives the reports themselves: each function groups and counts in
SQL and returns a bounded, small result (one row per district or commune, one per
occupied grid cell with the grid coarsened past `MAX_GRID_CELLS`, points only up to a
limit). So the page's payload stays the same size whether the city holds a hundred
reports or a million.

Filters are the case list's (`cases.CaseFilter`, the same conditions on the same
columns), so "the 12 reports of this district" on the map are the 12 the case list
shows for it. State is the current one (the report rows), like the case list.

Areas follow the administrative layout in force on the period's last day
(`db/reference/admin_layouts.yaml`): the 2024 districts (the report's `district_id`) or,
from 1 July 2025, the communes (its `ward_id`, which then holds the commune). A report
without an area of that layout (no location, outside Hà Nội, or submitted under the
other layout) is counted in `AreaStats.unplaced`, never silently dropped.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.boundaries import GeoKind, admin_layouts, layout_on
from ihanoi_core.cases import NO_FILTER, CaseFilter, UnitOption, case_conditions
from ihanoi_core.text import fold
from ihanoi_core.vocab import FINISHED_STATUSES, OPEN_STATUSES, Kind, Rating, Status, UnitKind

_REPORT: Final = SQLModel.metadata.tables["report"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]

_OPEN: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
_FINISHED: Final = tuple(sorted(s.value for s in FINISHED_STATUSES))

CITY_GRID_DEG: Final = 0.01
"""Whole-city density cell (about 1.1 km north-south, 1.0 km east-west in Hà Nội)."""
MAX_GRID_CELLS: Final = 4_000
"""A grid with more occupied cells is redrawn with cells twice as large (payload bound)."""
POINT_LIMIT: Final = 1_000
"""Most points a map or panel receives; the total is always reported beside them."""
HOTSPOT_CELL_M: Final = 100.0
HOTSPOT_MIN_REPORTS: Final = 3
HOTSPOT_LIMIT: Final = 20
HOTSPOT_MEMBERS: Final = 50
_M_PER_DEG_LAT: Final = 111_320.0
_HANOI_LAT: Final = 21.03  # the cell width in longitude is computed at the city's latitude


class Measure(StrEnum):
    """What the area colours show."""

    REPORTS = "reports"
    OVERDUE_OPEN = "overdue_open"
    OVERDUE_RATE = "overdue_rate"
    UNSATISFIED = "unsatisfied"


class HotspotKind(StrEnum):
    CELL = "cell"  # reports within the same ~100 m cell
    ADDRESS = "address"  # reports with the same normalised address


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class AreaCount:
    """One district's or commune's figures for the reports of the filter.

    `overdue_rate`: (overdue_open + resolved_late) / total, as on the units page (the
    city's "135 of 1,441 overdue"); None for an area without reports.
    """

    unit_id: int
    code: str
    name: str
    total: int
    open: int
    overdue_open: int
    resolved_late: int
    unsatisfied: int
    rated: int

    @property
    def overdue_rate(self) -> float | None:
        return (self.overdue_open + self.resolved_late) / self.total if self.total else None

    def value(self, measure: Measure) -> float | None:
        """The figure the map colours the area by."""
        if measure is Measure.REPORTS:
            return float(self.total)
        if measure is Measure.OVERDUE_OPEN:
            return float(self.overdue_open)
        if measure is Measure.UNSATISFIED:
            return float(self.unsatisfied)
        return self.overdue_rate


@dataclass(frozen=True)
class AreaStats:
    """Every area with reports (others have none), and the reports placed in no area."""

    kind: GeoKind
    layout: str
    areas: list[AreaCount]
    unplaced: int
    located: int = 0  # reports with coordinates, placed or not (points the map could draw)

    @property
    def total(self) -> int:
        return sum(a.total for a in self.areas) + self.unplaced

    def by_code(self) -> dict[str, AreaCount]:
        return {a.code: a for a in self.areas}


@dataclass(frozen=True)
class GridCell:
    """A density cell: its centre and how many reports fall in it."""

    lat: float
    lon: float
    count: int


@dataclass(frozen=True)
class DensityGrid:
    cell_deg: float
    cells: list[GridCell]
    located: int  # reports with coordinates (the sum of the cells)

    @property
    def max_count(self) -> int:
        return max((c.count for c in self.cells), default=0)


@dataclass(frozen=True)
class MapPoint:
    """One report as the map and its side panel show it."""

    report_id: int
    code: str
    title: str
    address: str
    lat: float | None
    lon: float | None
    status: Status
    unit_name: str | None
    due_at: datetime | None
    submitted_at: datetime
    is_overdue: bool


@dataclass(frozen=True)
class PointSet:
    points: list[MapPoint]
    total: int  # how many reports match, even beyond the limit

    @property
    def truncated(self) -> bool:
        return self.total > len(self.points)


@dataclass(frozen=True)
class Hotspot:
    """A place with repeated reports: a ~100 m cell or one normalised address.

    `label` is the address written most often there; `report_ids`/`report_codes` are
    the newest `HOTSPOT_MEMBERS` of its reports (newest first), for links.
    """

    kind: HotspotKind
    key: str
    label: str
    lat: float | None
    lon: float | None
    count: int
    report_ids: tuple[int, ...]
    report_codes: tuple[str, ...]


@dataclass(frozen=True)
class BoundingBox:
    """(south, west, north, east) in degrees; both edges inclusive."""

    south: float
    west: float
    north: float
    east: float


# ------------------------------------------------------------------ helpers


def area_kind_on(day: date) -> tuple[GeoKind, str]:
    """The kind of area (district or commune) and layout id the map uses for `day`."""
    layout = layout_on(day)
    return layout.unit_kind, layout.id


def _conditions(session: Session, filt: CaseFilter, now: datetime) -> list[ColumnElement[bool]]:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive now {now!r}: pass an aware datetime")
    return case_conditions(session, filt, now)


def _area_column(kind: GeoKind) -> Any:
    if kind == "district":
        return _REPORT.c.district_id
    if kind == "commune":
        return _REPORT.c.ward_id
    raise ValueError(f"the map shows districts or communes, not {kind!r}")


def _count_if(condition: ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _overdue_now(now: datetime) -> ColumnElement[bool]:
    r = _REPORT.c
    return sa.and_(r.status.in_(_OPEN), r.due_at.is_not(None), r.due_at < now)


def _located() -> list[ColumnElement[bool]]:
    return [_REPORT.c.lat.is_not(None), _REPORT.c.lon.is_not(None)]


def _in_box(box: BoundingBox) -> list[ColumnElement[bool]]:
    r = _REPORT.c
    return [r.lat.between(box.south, box.north), r.lon.between(box.west, box.east)]


def cell_box(lat: float, lon: float, cell_deg: float) -> BoundingBox:
    """The rectangle of the density cell centred on (lat, lon)."""
    half = cell_deg / 2
    return BoundingBox(lat - half, lon - half, lat + half, lon + half)


def data_version(session: Session) -> tuple[int, int]:
    """(newest report id, newest report event id): changes whenever a report is added
    or acted on, so a view may reuse its figures while it stays the same. Two look-ups
    on primary keys, whatever the number of reports."""
    conn = session.connection()
    report = conn.execute(sa.select(sa.func.max(_REPORT.c.id))).scalar_one()
    event = conn.execute(sa.select(sa.func.max(_EVENT.c.id))).scalar_one()
    return int(report or 0), int(event or 0)


# ------------------------------------------------------------------ areas


def area_stats(
    session: Session,
    *,
    now: datetime,
    kind: GeoKind,
    filt: CaseFilter = NO_FILTER,
) -> AreaStats:
    """Figures per district or commune of the reports matching `filt`, most first."""
    r = _REPORT.c
    u = _UNIT.c
    column = _area_column(kind)
    conditions = _conditions(session, filt, now)
    stmt = (
        sa.select(
            u.id,
            u.code,
            u.name,
            sa.func.count(r.id).label("total"),
            _count_if(r.status.in_(_OPEN)).label("open"),
            _count_if(_overdue_now(now)).label("overdue_open"),
            _count_if(
                sa.and_(r.status.in_(_FINISHED), r.due_at.is_not(None), r.finished_at > r.due_at)
            ).label("resolved_late"),
            _count_if(r.rating == Rating.UNSATISFIED.value).label("unsatisfied"),
            _count_if(r.rating.is_not(None)).label("rated"),
            _count_if(sa.and_(*_located())).label("located"),
        )
        .select_from(
            _REPORT.outerjoin(_UNIT, sa.and_(u.id == column, u.kind == kind)),
        )
        .where(*conditions)
        .group_by(u.id, u.code, u.name)
    )
    areas: list[AreaCount] = []
    unplaced = located = 0
    for row in session.connection().execute(stmt):
        located += int(row.located)
        if row.id is None:
            unplaced += int(row.total)
            continue
        areas.append(
            AreaCount(
                unit_id=int(row.id),
                code=row.code,
                name=row.name,
                total=int(row.total),
                open=int(row.open),
                overdue_open=int(row.overdue_open),
                resolved_late=int(row.resolved_late),
                unsatisfied=int(row.unsatisfied),
                rated=int(row.rated),
            )
        )
    areas.sort(key=lambda a: (-a.total, a.code))
    layout = next(x.id for x in admin_layouts() if x.unit_kind == kind)
    return AreaStats(kind=kind, layout=layout, areas=areas, unplaced=unplaced, located=located)


def ward_options(session: Session, district_id: int | None) -> list[UnitOption]:
    """The places below a district a report list can be narrowed to: the 2024 wards of
    `district_id`, or with no district the 2025 communes (which belong to none), by name.

    A report's `ward_id` holds one or the other (the layout of its submission day), so
    the map's "open the list" for a commune and the list's own filter mean the same.
    """
    u = _UNIT.c
    if district_id is None:
        where = u.kind == UnitKind.COMMUNE.value
    else:
        where = sa.and_(u.kind == UnitKind.WARD.value, u.parent_id == district_id)
    rows = session.connection().execute(sa.select(u.id, u.code, u.kind, u.name).where(where))
    options = [UnitOption(int(i), code, UnitKind(kind), name) for i, code, kind, name in rows]
    return sorted(options, key=lambda o: (fold(o.name), o.code))


# ------------------------------------------------------------------ density


def _grid(
    session: Session, conditions: list[ColumnElement[bool]], cell_deg: float
) -> list[GridCell]:
    r = _REPORT.c
    i = sa.func.round(r.lat / cell_deg).label("i")
    j = sa.func.round(r.lon / cell_deg).label("j")
    stmt = (
        sa.select(i, j, sa.func.count().label("n"))
        .where(*conditions, *_located())
        .group_by(sa.text("1"), sa.text("2"))
    )
    cells = [
        GridCell(round(float(row.i) * cell_deg, 6), round(float(row.j) * cell_deg, 6), int(row.n))
        for row in session.connection().execute(stmt)
    ]
    return sorted(cells, key=lambda c: (c.lat, c.lon))


def density_grid(
    session: Session,
    *,
    now: datetime,
    filt: CaseFilter = NO_FILTER,
    cell_deg: float = CITY_GRID_DEG,
    box: BoundingBox | None = None,
    max_cells: int = MAX_GRID_CELLS,
) -> DensityGrid:
    """Reports per square cell of `cell_deg` degrees (GROUP BY on rounded lat/lon).

    A cell is centred on a multiple of `cell_deg`. When more than `max_cells` cells are
    occupied the cell size doubles until they fit, so the result is bounded whatever the
    number of reports; the cell size used is returned.
    """
    if cell_deg <= 0 or max_cells < 1:
        raise ValueError("cell_deg must be positive and max_cells at least 1")
    conditions = _conditions(session, filt, now)
    if box is not None:
        conditions.extend(_in_box(box))
    while True:
        cells = _grid(session, conditions, cell_deg)
        if len(cells) <= max_cells:
            return DensityGrid(cell_deg, cells, sum(c.count for c in cells))
        cell_deg *= 2


# ------------------------------------------------------------------ points


def map_points(
    session: Session,
    *,
    now: datetime,
    filt: CaseFilter = NO_FILTER,
    area: tuple[GeoKind, int] | None = None,
    box: BoundingBox | None = None,
    report_ids: Sequence[int] | None = None,
    limit: int = POINT_LIMIT,
    located_only: bool = False,
) -> PointSet:
    """The reports of an area (kind, unit id), a box or a list, overdue first, capped.

    Ordered overdue first, then by deadline (earliest first, none last), then newest;
    `total` counts every match so the page can say "1,000 of 4,321".
    """
    r = _REPORT.c
    conditions = _conditions(session, filt, now)
    if area is not None:
        kind, unit_id = area
        conditions.append(_area_column(kind) == unit_id)
    if box is not None:
        conditions.extend(_in_box(box))
    if report_ids is not None:
        conditions.append(r.id.in_(sorted({int(i) for i in report_ids})))
    if located_only:
        conditions.extend(_located())
    conn = session.connection()
    total = int(
        conn.execute(
            sa.select(sa.func.count()).select_from(_REPORT).where(*conditions)
        ).scalar_one()
    )
    if total == 0 or limit <= 0:
        return PointSet([], total)
    overdue = _overdue_now(now)
    unit = _UNIT.alias("holder")
    stmt = (
        sa.select(
            r.id,
            r.code,
            r.title,
            r.address,
            r.lat,
            r.lon,
            r.status,
            r.due_at,
            r.submitted_at,
            unit.c.name.label("unit_name"),
            sa.case((overdue, 1), else_=0).label("overdue"),
        )
        .select_from(_REPORT.outerjoin(unit, unit.c.id == r.current_unit_id))
        .where(*conditions)
        .order_by(
            sa.case((overdue, 0), else_=1),
            sa.case((r.due_at.is_(None), 1), else_=0),
            r.due_at,
            r.submitted_at.desc(),
            r.id.desc(),
        )
        .limit(limit)
    )
    points = [
        MapPoint(
            report_id=int(row.id),
            code=row.code,
            title=row.title,
            address=row.address or "",
            lat=row.lat,
            lon=row.lon,
            status=Status(row.status),
            unit_name=row.unit_name,
            due_at=row.due_at,
            submitted_at=row.submitted_at,
            is_overdue=bool(row.overdue),
        )
        for row in conn.execute(stmt)
    ]
    return PointSet(points, total)


# ------------------------------------------------------------------ hotspots


_PUNCTUATION: Final = ",.;:"


def _fold_table() -> dict[int, str]:
    """`str.translate` table doing `text.fold` letter by letter, plus , . ; : to spaces.

    Ten times faster than `fold` (no normalisation pass). Covers Latin-1 to Latin
    Extended Additional and the combining marks (dropped), so precomposed and
    decomposed Vietnamese fold alike.
    """
    table = {ord(ch): " " for ch in _PUNCTUATION}
    latin = (*range(0xC0, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00))
    for code in latin:
        ch = chr(code)
        if ch.isspace():
            continue
        folded = fold(ch)
        if folded != ch.lower():
            table[code] = folded
    return table


_FOLD: Final = _fold_table()


@functools.lru_cache(maxsize=1 << 15)
def _normalise_word(word: str) -> str:
    return " ".join(word.translate(_FOLD).lower().split())


@functools.lru_cache(maxsize=1 << 17)
def normalise_address(text: str) -> str:
    """The form addresses are compared in: no diacritics, lower case, no , . ; :, single
    spaces ("Số 5, Hàng Đồng" and "so 5 hang dong" are the same place).

    Word by word through a cache: addresses reuse a small vocabulary (street, ward and
    district names), so a city's worth of them costs dictionary look-ups. The same as
    folding the whole text, since folding never turns a space into a letter or back.
    Whole addresses are cached too (131,072 of them, about 30 MB at most): hotspots
    over a long period meet the same tens of thousands of addresses on every run.
    """
    return " ".join(w for w in map(_normalise_word, text.split()) if w)


def _cell_steps() -> tuple[float, float]:
    dlat = HOTSPOT_CELL_M / _M_PER_DEG_LAT
    dlon = HOTSPOT_CELL_M / (_M_PER_DEG_LAT * math.cos(math.radians(_HANOI_LAT)))
    return dlat, dlon


def hotspots(
    session: Session,
    *,
    now: datetime,
    filt: CaseFilter = NO_FILTER,
    min_reports: int = HOTSPOT_MIN_REPORTS,
    limit: int = HOTSPOT_LIMIT,
) -> list[Hotspot]:
    """Places with at least `min_reports` reports of the filter, most reports first.

    Two kinds, ranked together: ~100 m cells (rounded lat/lon, cells about 100 m on
    each side at Hà Nội's latitude) and same normalised address (`normalise_address`;
    an address that normalises to nothing is no place). Ties: cells before addresses,
    then by key. Only on-site reports count: a procedure report's address is the
    office that handled the file, not a place with a problem.

    Two passes over the filtered reports whatever the period: the database counts
    reports per (written address, cell), which both kinds are sums of; the top places
    are chosen from those counts (addresses normalised once per distinct text); a
    second query fetches the members of the chosen places only.
    """
    if min_reports < 2:
        raise ValueError("a hotspot needs at least 2 reports")
    if filt.kind is not None and Kind(filt.kind) is not Kind.ONSITE:
        return []
    conditions = [*_conditions(session, filt, now), _REPORT.c.kind == Kind.ONSITE.value]
    conn = session.connection()
    r = _REPORT.c
    dlat, dlon = _cell_steps()
    i = sa.func.round(r.lat / dlat)
    j = sa.func.round(r.lon / dlon)
    cells = list(
        conn.execute(
            sa.select(i.label("i"), j.label("j"), sa.func.count().label("n"))
            .where(*conditions, *_located())
            .group_by(sa.text("1"), sa.text("2"))
            .having(sa.func.count() >= min_reports)
            .order_by(sa.desc("n"), sa.text("1"), sa.text("2"))
            .limit(limit)
        )
    )
    per_address: Counter[str] = Counter()
    key_of: dict[str, str] = {}  # written address -> normalised
    for address, n in conn.execute(
        sa.select(r.address, sa.func.count()).where(*conditions).group_by(r.address)
    ):
        if address:
            key = key_of[address] = normalise_address(address)
            if key:
                per_address[key] += n
    addresses = sorted(
        ((k, n) for k, n in per_address.items() if n >= min_reports),
        key=lambda kn: (-kn[1], kn[0]),
    )[:limit]
    if not cells and not addresses:
        return []
    places: list[ColumnElement[bool]] = []
    if cells:
        places.append(sa.tuple_(i, j).in_([(c.i, c.j) for c in cells]))
    chosen = {k for k, _ in addresses}
    raw = sorted(a for a, k in key_of.items() if k in chosen)
    if raw:
        places.append(r.address.in_(raw))
    rows = list(
        conn.execute(
            sa.select(r.id, r.code, r.address, r.lat, r.lon, i.label("i"), j.label("j"))
            .where(*conditions, sa.or_(*places))
            .order_by(r.submitted_at.desc(), r.id.desc())
        )
    )
    found: list[Hotspot] = []
    if cells:
        members = _members_by_key(
            (m for m in rows if m.i is not None and m.j is not None), lambda m: (m.i, m.j)
        )
        for ci, cj, n in cells:
            spot = _hotspot(HotspotKind.CELL, f"{int(ci)}:{int(cj)}", int(n), members[(ci, cj)])
            found.append(_with_centre(spot, float(ci) * dlat, float(cj) * dlon))
    if addresses:
        members = _members_by_key(
            (m for m in rows if m.address),
            lambda m: key_of.get(m.address) or normalise_address(m.address),
        )
        for key, n in addresses:
            group = members[key]
            spot = _hotspot(HotspotKind.ADDRESS, key, int(n), group)
            located = [(m.lat, m.lon) for m in group if m.lat is not None and m.lon is not None]
            if located:
                lat = sum(p[0] for p in located) / len(located)
                lon = sum(p[1] for p in located) / len(located)
                spot = _with_centre(spot, lat, lon)
            found.append(spot)
    order = {HotspotKind.CELL: 0, HotspotKind.ADDRESS: 1}
    found.sort(key=lambda h: (-h.count, order[h.kind], h.key))
    return found[:limit]


def _members_by_key(rows: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    """The newest `HOTSPOT_MEMBERS` rows of each hotspot (rows come newest first)."""
    groups: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        group = groups[key(row)]
        if len(group) < HOTSPOT_MEMBERS:
            group.append(row)
    return groups


def _hotspot(kind: HotspotKind, key: str, count: int, members: Sequence[Any]) -> Hotspot:
    written = Counter(m.address.strip() for m in members if (m.address or "").strip())
    label = sorted(written.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if written else ""
    return Hotspot(
        kind=kind,
        key=key,
        label=label,
        lat=None,
        lon=None,
        count=count,
        report_ids=tuple(int(m.id) for m in members),
        report_codes=tuple(str(m.code) for m in members),
    )


def _with_centre(spot: Hotspot, lat: float, lon: float) -> Hotspot:
    return Hotspot(
        spot.kind,
        spot.key,
        spot.label,
        round(lat, 6),
        round(lon, 6),
        spot.count,
        spot.report_ids,
        spot.report_codes,
    )
