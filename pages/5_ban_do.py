"""Bản đồ: the city at a glance. Areas coloured by a measure, a density grid, points for
a small area, hotspots; clicking an area, a cell or a point lists its reports beside
the map, with a way into the Reports page. Every figure is aggregated by the core."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.boundaries import GeoKind
from ihanoi_core.cases import CaseFilter, filter_options
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.geostats import (
    CITY_GRID_DEG,
    HOTSPOT_MIN_REPORTS,
    POINT_LIMIT,
    AreaCount,
    AreaStats,
    Hotspot,
    HotspotKind,
    MapPoint,
    Measure,
    PointSet,
    area_kind_on,
    area_stats,
    cell_box,
    data_version,
    density_grid,
    hotspots,
    map_points,
)
from ihanoi_core.vocab import Bucket, Kind
from ihanoi_ui import state_keys
from ihanoi_ui.auth import require_role
from ihanoi_ui.components import case_filters as cf
from ihanoi_ui.components import map_view as mv
from ihanoi_ui.components.case_table import distinct_labels
from ihanoi_ui.i18n import current_lang, fmt_datetime, fmt_float, fmt_int, fmt_pct, label, t
from ihanoi_ui.navigation import page_roles, page_spec
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("map"))

FROM_KEY = "map_from"
TO_KEY = "map_to"
KIND_KEY = "map_kind"
BUCKET_KEY = "map_bucket"
CATEGORY_KEY = "map_category"
UNIT_KEY = "map_unit"
OVERDUE_KEY = "map_overdue"
MEASURE_KEY = "map_measure"
VIEW_KEY = "map_view"
AREA_KEY = "map_area"
CHART_KEY = "map_chart"
SEEN_KEY = "map_seen_selection"
CELL_KEY = "map_cell"
POINT_KEY = "map_point"
LAST_AREA_KEY = "map_last_area"
PICK_KEY = "map_pick_report"
HOT_MIN_KEY = "map_hot_min"
HOT_PICK_KEY = "map_hot_pick"
DEFAULT_DAYS = 30
CACHE_TTL_S = 120
CITY_POINT_MAX = 300  # a filter this small shows its points on the whole-city map
PANEL_LIMIT = 100
CASES_PAGE = page_spec("cases").file

lang = current_lang()
# The whole page counts as of the minute (the caption shows minutes): the same "now"
# for every figure, and cached figures stay valid for the rest of that minute.
now = db.utcnow().replace(second=0, microsecond=0)
today = now.astimezone(HANOI_TZ).date()
st.title(t("page.map"))
st.caption(t("map.caption", now=fmt_datetime(now)))


# A click on the map arrives as the chart's widget state before this run: turn it into
# the page's own choice (area, cell or point) once, so later runs keep it.
def follow_map_click() -> None:
    picked = mv.selection_of(st.session_state.get(CHART_KEY))
    signature = json.dumps(picked, sort_keys=True, default=str)
    if signature == st.session_state.get(SEEN_KEY, json.dumps({})):
        return
    st.session_state[SEEN_KEY] = signature
    if picked.get(mv.POINTS_LAYER):
        st.session_state[POINT_KEY] = int(picked[mv.POINTS_LAYER][0]["id"])
    elif picked.get(mv.CELLS_LAYER):
        cell = picked[mv.CELLS_LAYER][0]
        st.session_state[CELL_KEY] = (float(cell["lat"]), float(cell["lon"]))
        st.session_state.pop(POINT_KEY, None)
    elif picked.get(mv.AREAS_LAYER):
        feature = picked[mv.AREAS_LAYER][0]
        props = feature.get("properties", feature)
        st.session_state[AREA_KEY] = str(props["code"])
        st.session_state.pop(CELL_KEY, None)
        st.session_state.pop(POINT_KEY, None)


follow_map_click()

with session_scope() as session:
    options = filter_options(session)

c1, c2, c3, c4 = st.columns(4)
date_from: date = c1.date_input(
    t("map.period_from"),
    value=today - timedelta(days=DEFAULT_DAYS - 1),
    format=cf.DATE_FORMAT,
    key=FROM_KEY,
)
date_to: date = c2.date_input(t("map.period_to"), value=today, format=cf.DATE_FORMAT, key=TO_KEY)
kind = c3.selectbox(
    t("map.kind"),
    [k.value for k in Kind],
    index=None,
    format_func=lambda v: label("kind", v),
    placeholder=t("common.all"),
    key=KIND_KEY,
)
bucket = c4.selectbox(
    t("map.bucket"),
    [b.value for b in Bucket],
    index=None,
    format_func=lambda v: label("bucket", v),
    placeholder=t("common.all"),
    key=BUCKET_KEY,
)
d1, d2, d3 = st.columns([2, 2, 1])
category_names = distinct_labels(
    [
        (
            c.code,
            ("· " if c.parent_code else "") + (c.name_en if lang == "en" else c.name_vi),
            c.code,
        )
        for c in options.categories
    ]
)
categories = d1.multiselect(
    t("map.category"),
    list(category_names),
    format_func=lambda code: category_names[code],
    placeholder=t("common.all"),
    key=CATEGORY_KEY,
)
units = distinct_labels(
    [(u.id, f"{u.name} · {label('unit_kind', u.kind.value)}", u.code) for u in options.units]
)
unit_id = d2.selectbox(
    t("map.unit"),
    list(units),
    index=None,
    format_func=lambda i: units[i],
    placeholder=t("common.all"),
    key=UNIT_KEY,
)
d3.write("")
overdue_only = d3.checkbox(t("map.overdue_only"), key=OVERDUE_KEY)
if date_from > date_to:
    st.error(t("map.bad_period"))
    st.stop()

filt = CaseFilter(
    kind=Kind(kind) if kind else None,
    bucket=Bucket(bucket) if bucket else None,
    unit_id=unit_id,
    category_codes=tuple(categories),
    date_from=date_from,
    date_to=date_to,
    overdue_only=overdue_only,
)
area_kind, _layout = area_kind_on(date_to)
names = mv.area_names(area_kind)

m1, m2, m3 = st.columns(3)
measure = Measure(
    m1.selectbox(
        t("map.measure"),
        [m.value for m in Measure],
        format_func=lambda v: t(f"map.measures.{v}"),
        key=MEASURE_KEY,
    )
)
view = m2.radio(
    t("map.view"),
    ["areas", "density"],
    format_func=lambda v: t(f"map.views.{v}"),
    horizontal=True,
    key=VIEW_KEY,
)
if st.session_state.get(AREA_KEY) not in names:
    st.session_state.pop(AREA_KEY, None)
area_code = m3.selectbox(
    t("map.area"),
    sorted(names, key=lambda code: names[code]),
    index=None,
    format_func=lambda code: names[code],
    placeholder=t("map.whole_city"),
    key=AREA_KEY,
)
if area_code != st.session_state.get(LAST_AREA_KEY):
    st.session_state[LAST_AREA_KEY] = area_code
    st.session_state.pop(CELL_KEY, None)
st.caption(t(f"map.layout_{area_kind}"))


@st.cache_data(ttl=CACHE_TTL_S, max_entries=32, show_spinner=False)
def cached_area_stats(
    filt: CaseFilter, kind: GeoKind, minute: datetime, version: tuple[int, int]
) -> AreaStats:
    """The areas' figures, kept while the filter, the minute and the data (`version`:
    a new report or action changes it) stay the same: every click on this page reruns
    it, and over a long period they read every report of it."""
    with session_scope() as session:
        return area_stats(session, now=minute, kind=kind, filt=filt)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=32, show_spinner=False)
def cached_hotspots(
    filt: CaseFilter, minute: datetime, min_reports: int, version: tuple[int, int]
) -> list[Hotspot]:
    """Hotspots, kept like the areas' figures (0.6 s for 100,000 reports)."""
    with session_scope() as session:
        return hotspots(session, now=minute, filt=filt, min_reports=min_reports)


with session_scope() as session:
    version = data_version(session)
stats = cached_area_stats(filt, area_kind, now, version)
with session_scope() as session:
    by_code = stats.by_code()
    chosen_area = by_code.get(area_code) if area_code else None
    grid = (
        density_grid(session, now=now, filt=filt, cell_deg=CITY_GRID_DEG)
        if view == "density"
        else None
    )
    if area_code and chosen_area is not None:
        shown = map_points(
            session,
            now=now,
            filt=filt,
            area=(area_kind, chosen_area.unit_id),
            located_only=True,
            limit=POINT_LIMIT,
        )
    elif not area_code and stats.located <= CITY_POINT_MAX:
        shown = map_points(session, now=now, filt=filt, located_only=True, limit=CITY_POINT_MAX)
    else:
        shown = PointSet([], 0)

placed = sum(a.total for a in stats.areas)
st.markdown(t("map.summary", total=fmt_int(stats.total), placed=fmt_int(placed)))
if stats.unplaced:
    st.caption(t("map.unplaced", n=fmt_int(stats.unplaced)))


def measure_text(area: AreaCount, which: Measure) -> str:
    value = area.value(which)
    return fmt_pct(value) if which is Measure.OVERDUE_RATE else fmt_int(value)


def area_detail(area: AreaCount) -> str:
    return t(
        "map.area_detail",
        total=fmt_int(area.total),
        overdue=fmt_int(area.overdue_open),
        rate=fmt_pct(area.overdue_rate),
        unsatisfied=fmt_int(area.unsatisfied),
    )


values = [a.value(measure) or 0.0 for a in stats.areas]
breaks = mv.class_breaks(max(values, default=0.0))
paint = {a.code: mv.AreaPaint(a.value(measure), area_detail(a)) for a in stats.areas}
deck = mv.build_deck(
    kind=area_kind,
    paint=paint,
    breaks=breaks,
    no_data=t("map.no_data"),
    selected_area=area_code,
    grid=grid,
    grid_detail=lambda n: t("map.cell_detail", n=fmt_int(n)),
    points=shown.points,
    point_detail=lambda p: t("map.point_detail", title=p.title, status=label("status", p.status)),
    tile_url=mv.basemap_url(),
)


def legend_html(classes: list[float], percent: bool) -> str:
    lower = 0.0
    parts = []
    for upper, color in zip(classes, mv.PALETTE, strict=True):
        if percent:
            text = f"{fmt_pct(lower, 0)}–{fmt_pct(upper, 0)}"
        else:
            text = f"{fmt_float(lower, 0)}–{fmt_float(upper, 0)}"
        parts.append(
            f'<span style="display:inline-block;margin-right:10px">'
            f'<span style="display:inline-block;width:14px;height:14px;vertical-align:middle;'
            f'background:rgb{color};border:1px solid #999"></span> {text}</span>'
        )
        lower = upper
    return "".join(parts)


map_col, panel_col = st.columns([3, 2])
with map_col:
    st.pydeck_chart(
        deck,
        on_select="rerun",
        selection_mode="single-object",
        key=CHART_KEY,
        height=560,
    )
    if view == "areas" and breaks[-1] > 0:
        st.caption(t("map.legend", measure=t(f"map.measures.{measure.value}")))
        st.html(legend_html(breaks, measure is Measure.OVERDUE_RATE))
    elif grid is not None and grid.cells:
        st.caption(t("map.legend_cells"))
        st.html(legend_html(mv.class_breaks(grid.max_count), False))
    if shown.truncated and shown.points:
        st.caption(
            t("map.points_capped", shown=fmt_int(len(shown.points)), total=fmt_int(shown.total))
        )
    if deck.map_provider is None:
        st.caption(t("map.basemap_note"))


def reports_frame(points: list[MapPoint]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                t("map.col.code"): p.code,
                t("map.col.title"): p.title,
                t("map.col.status"): label("status", p.status),
                t("map.col.unit"): p.unit_name or "—",
                t("map.col.due"): fmt_datetime(p.due_at),
            }
            for p in points
        ],
        columns=[t(f"map.col.{c}") for c in ("code", "title", "status", "unit", "due")],
    )


def open_report(report_id: int) -> None:
    st.session_state[state_keys.SELECTED_REPORT] = report_id
    st.switch_page(CASES_PAGE)


def open_list(area_id: int) -> None:
    """The Reports page with this map's filters and the area (its own widget keys): a
    district, or a commune through the ward filter with no district chosen."""
    for key in (cf.STATUS_KEY, cf.PRIORITY_KEY, cf.DUE_SOON_KEY, cf.TEXT_KEY):
        st.session_state.pop(key, None)
    if area_kind == "district":
        st.session_state[cf.DISTRICT_KEY] = area_id
        st.session_state.pop(cf.WARD_KEY, None)
    else:
        st.session_state[cf.DISTRICT_KEY] = None
        st.session_state[cf.WARD_KEY] = area_id
    st.session_state[cf.FROM_KEY] = date_from
    st.session_state[cf.TO_KEY] = date_to
    st.session_state[cf.KIND_KEY] = kind
    st.session_state[cf.BUCKET_KEY] = bucket
    st.session_state[cf.UNIT_KEY] = unit_id
    st.session_state[cf.CATEGORY_KEY] = list(categories)
    st.session_state[cf.OVERDUE_KEY] = overdue_only
    st.session_state.pop(state_keys.SELECTED_REPORT, None)
    st.switch_page(CASES_PAGE)


def report_list(found: PointSet, key: str) -> None:
    """A panel's reports, and the way to one of them on the Reports page."""
    if not found.points:
        st.info(t("map.panel_empty"))
        return
    st.dataframe(reports_frame(found.points), hide_index=True, width="stretch")
    if found.truncated:
        st.caption(
            t("map.panel_shown", shown=fmt_int(len(found.points)), total=fmt_int(found.total))
        )
    titles = {p.report_id: f"{p.code} — {p.title}" for p in found.points}
    chosen = st.selectbox(
        t("map.pick_report"),
        list(titles),
        index=None,
        format_func=lambda rid: titles.get(rid, str(rid)),
        placeholder=t("map.pick_report_placeholder"),
        key=f"{PICK_KEY}_{key}",
    )
    if st.button(t("map.open_report"), key=f"{PICK_KEY}_{key}_open", disabled=chosen is None):
        open_report(int(chosen))  # type: ignore[arg-type]


with panel_col:
    point_id = st.session_state.get(POINT_KEY)
    cell = st.session_state.get(CELL_KEY)
    if isinstance(point_id, int):
        with session_scope() as session:
            one = map_points(session, now=now, report_ids=[point_id], limit=1)
        if one.points:
            p = one.points[0]
            st.subheader(t("map.report_title", code=p.code))
            st.markdown(
                t(
                    "map.report_facts",
                    title=p.title,
                    status=label("status", p.status),
                    unit=p.unit_name or "—",
                    due=fmt_datetime(p.due_at),
                )
            )
            if st.button(t("map.open_report"), key="map_open_point", type="primary"):
                open_report(p.report_id)
    if cell is not None:
        lat, lon = cell
        with session_scope() as session:
            in_cell = map_points(
                session,
                now=now,
                filt=filt,
                box=cell_box(lat, lon, CITY_GRID_DEG),
                limit=PANEL_LIMIT,
            )
        st.subheader(
            t(
                "map.panel_cell",
                lat=fmt_float(lat, 2),
                lon=fmt_float(lon, 2),
                total=fmt_int(in_cell.total),
            )
        )
        report_list(in_cell, "cell")
    elif area_code:
        total = chosen_area.total if chosen_area else 0
        st.subheader(t("map.panel_area", name=names[area_code], total=fmt_int(total)))
        if chosen_area is not None:
            st.caption(area_detail(chosen_area))
            with session_scope() as session:
                in_area = map_points(
                    session,
                    now=now,
                    filt=filt,
                    area=(area_kind, chosen_area.unit_id),
                    limit=PANEL_LIMIT,
                )
            report_list(in_area, "area")
            if st.button(t("map.open_list"), key="map_open_list"):
                open_list(chosen_area.unit_id)
        else:
            st.info(t("map.panel_empty"))
    elif not isinstance(point_id, int):
        st.info(t("map.panel_hint"))
        top = sorted(stats.areas, key=lambda a: -(a.value(measure) or 0.0))[:8]
        if top:
            st.markdown(f"**{t('map.top_areas', measure=t(f'map.measures.{measure.value}'))}**")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("map.col.area"): a.name,
                            t(f"map.measures.{measure.value}"): measure_text(a, measure),
                        }
                        for a in top
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


# ------------------------------------------------------------------ hotspots

st.subheader(t("map.hotspots.title"))
st.caption(t("map.hotspots.intro"))
min_reports = int(
    st.number_input(
        t("map.hotspots.min_reports"),
        min_value=2,
        max_value=100,
        value=HOTSPOT_MIN_REPORTS,
        step=1,
        key=HOT_MIN_KEY,
    )
)

spots = cached_hotspots(filt, now, min_reports, version)
if not spots:
    st.info(t("map.hotspots.none"))
else:
    kind_label = {
        HotspotKind.CELL: t("map.hotspots.cell"),
        HotspotKind.ADDRESS: t("map.hotspots.address"),
    }
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("map.col.place"): h.label or t("map.hotspots.no_address"),
                    t("map.col.kind"): kind_label[h.kind],
                    t("map.col.count"): fmt_int(h.count),
                    t("map.col.codes"): ", ".join(h.report_codes[:5])
                    + (" …" if h.count > 5 else ""),
                }
                for h in spots
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    spot_titles = {
        i: f"{i + 1}. {h.label or t('map.hotspots.no_address')} ({kind_label[h.kind]}, "
        f"{fmt_int(h.count)})"
        for i, h in enumerate(spots)
    }
    if st.session_state.get(HOT_PICK_KEY) not in spot_titles:
        st.session_state.pop(HOT_PICK_KEY, None)
    picked = st.selectbox(
        t("map.hotspots.pick"),
        list(spot_titles),
        index=None,
        format_func=lambda i: spot_titles[i],
        placeholder=t("map.hotspots.pick_placeholder"),
        key=HOT_PICK_KEY,
    )
    if picked is not None:
        with session_scope() as session:
            members = map_points(
                session, now=now, report_ids=spots[picked].report_ids, limit=PANEL_LIMIT
            )
        report_list(members, "hotspot")
