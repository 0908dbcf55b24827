"""The map's deck, built from aggregates the core already computed (no st.* calls here).

Layers, bottom to top: the districts or communes from our own boundary data (names,
colour by the chosen measure; the default base layer, so the map works without
internet), the density grid (pre-aggregated cells), the report points (only for a
small area, capped by the core). Every object carries `name` and `detail`: one tooltip
template serves all layers, and Streamlit's tooltip looks in `properties` for GeoJSON.

The basemap: none by default (`map_provider=None`, `map_style` left at pydeck's
default so it serialises as the "no style" sentinel; an explicit None makes Streamlit
fetch Carto tiles). A city with its own tile server sets a MapLibre style URL in
`IHANOI_MAP_TILE_URL` or in `.streamlit/secrets.toml` under `[map] tile_url`; the deck
then draws it under the layers (`basemap_url`).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from ihanoi_core import boundaries
from ihanoi_core.boundaries import GeoKind
from ihanoi_core.geostats import DensityGrid, MapPoint

ROOT: Final = Path(__file__).resolve().parents[2]
SECRETS_PATH: Final = ROOT / ".streamlit" / "secrets.toml"
TILE_URL_ENV: Final = "IHANOI_MAP_TILE_URL"

AREAS_LAYER: Final = "areas"
CELLS_LAYER: Final = "cells"
POINTS_LAYER: Final = "points"
BACKDROP_LAYER: Final = "backdrop"
BACKDROP_RING: Final = [[104.5, 20.2], [106.8, 20.2], [106.8, 21.8], [104.5, 21.8]]
BACKDROP_COLOR: Final = (248, 249, 251)

CITY_VIEW: Final = (20.98, 105.66, 8.6)  # all of Hà Nội (20.56-21.39 N) in a 560 px map
# ColorBrewer YlOrRd, 5 classes: readable on white, and in grey print
PALETTE: Final = (
    (255, 255, 178),
    (254, 204, 92),
    (253, 141, 60),
    (240, 59, 32),
    (189, 0, 38),
)
NO_DATA_COLOR: Final = (235, 235, 235)
AREA_ALPHA: Final = 170
OVERDUE_COLOR: Final = (200, 30, 45)
POINT_COLOR: Final = (30, 90, 200)
_M_PER_DEG_LAT: Final = 111_320.0
TOOLTIP: Final = {
    "html": "<b>{name}</b><br/>{detail}",
    "style": {
        "backgroundColor": "#1f2937",
        "color": "white",
        "fontSize": "13px",
        "maxWidth": "280px",
        "whiteSpace": "normal",
    },
}


# ------------------------------------------------------------------ basemap


def basemap_url(
    env: Mapping[str, str] | None = None, secrets_path: Path = SECRETS_PATH
) -> str | None:
    """The configured basemap (a MapLibre style URL), or None: no basemap.

    The environment variable wins over the secrets file, so a deployment can switch
    without editing files. A raster template (`.../{z}/{x}/{y}.png`) is refused: the
    deck.gl JSON that Streamlit renders cannot draw raster tiles without JavaScript.
    """
    env = os.environ if env is None else env
    url = (env.get(TILE_URL_ENV) or "").strip()
    if not url and secrets_path.is_file():
        try:
            with secrets_path.open("rb") as fh:
                section = tomllib.load(fh).get("map", {})
        except (OSError, tomllib.TOMLDecodeError):
            section = {}
        if isinstance(section, dict):
            url = str(section.get("tile_url") or "").strip()
    if not url or "{z}" in url or not url.startswith(("http://", "https://")):
        return None
    return url


# ------------------------------------------------------------------ colours


def class_breaks(max_value: float, classes: int = len(PALETTE)) -> list[float]:
    """Upper bounds of equal classes from 0 to `max_value` (a legend people can read)."""
    if max_value <= 0:
        return [0.0] * classes
    return [max_value * (i + 1) / classes for i in range(classes)]


def color_of(value: float | None, breaks: Sequence[float]) -> tuple[int, int, int]:
    if value is None or not breaks or breaks[-1] <= 0:
        return NO_DATA_COLOR
    for i, upper in enumerate(breaks):
        if value <= upper:
            return PALETTE[i]
    return PALETTE[-1]


# ------------------------------------------------------------------ areas


@functools.lru_cache(maxsize=2)
def _area_geojson(kind: GeoKind) -> dict[str, Any]:
    return boundaries.simplified_geojson(kind)


@functools.lru_cache(maxsize=2)
def area_bounds(kind: GeoKind) -> dict[str, tuple[float, float, float, float]]:
    """(min_lon, min_lat, max_lon, max_lat) of each area, to zoom the map on one."""
    out: dict[str, tuple[float, float, float, float]] = {}
    for feature in _area_geojson(kind)["features"]:
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        b = geometry.bounds
        out[feature["properties"]["code"]] = (b[0], b[1], b[2], b[3])
    return out


def area_names(kind: GeoKind) -> dict[str, str]:
    """Names of every area of the layout by code (areas without reports included)."""
    return {
        f["properties"]["code"]: f["properties"]["name"] for f in _area_geojson(kind)["features"]
    }


@dataclass(frozen=True)
class AreaPaint:
    """What one area shows: its measure (None: no report) and its tooltip line."""

    value: float | None
    detail: str


def area_features(
    kind: GeoKind,
    paint: Mapping[str, AreaPaint],
    breaks: Sequence[float],
    selected: str | None,
    no_data: str,
) -> dict[str, Any]:
    """The boundary FeatureCollection with each area's colour, tooltip and outline."""
    collection = copy.deepcopy(_area_geojson(kind))
    for feature in collection["features"]:
        props = feature["properties"]
        info = paint.get(props["code"])
        color = color_of(info.value if info else None, breaks)
        chosen = props["code"] == selected
        feature["properties"] = {
            "code": props["code"],
            "name": props["name"],
            "detail": info.detail if info else no_data,
            "fill": [*color, AREA_ALPHA],
            "line": [20, 20, 20] if chosen else [90, 90, 90],
            "lw": 4 if chosen else 1,
        }
    return collection


def view_of(kind: GeoKind, code: str | None) -> pdk.ViewState:
    """The whole city, or one area filling the map."""
    bounds = area_bounds(kind).get(code) if code else None
    if bounds is None:
        lat, lon, zoom = CITY_VIEW
        return pdk.ViewState(latitude=lat, longitude=lon, zoom=zoom)
    min_lon, min_lat, max_lon, max_lat = bounds
    span = max(max_lon - min_lon, (max_lat - min_lat) * 1.3, 0.005)
    zoom = max(9.0, min(16.0, math.log2(360 / span) - 0.8))
    return pdk.ViewState(
        latitude=(min_lat + max_lat) / 2, longitude=(min_lon + max_lon) / 2, zoom=round(zoom, 2)
    )


# ------------------------------------------------------------------ deck


class CompactDeck(pdk.Deck):  # type: ignore[misc]
    """A Deck whose JSON has no indentation: pydeck indents by 2, which more than
    doubles a boundary layer (Streamlit sends `to_json()` as is)."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def build_deck(
    *,
    kind: GeoKind,
    paint: Mapping[str, AreaPaint],
    breaks: Sequence[float],
    no_data: str,
    selected_area: str | None = None,
    grid: DensityGrid | None = None,
    grid_detail: Callable[[int], str] | None = None,
    points: Sequence[MapPoint] = (),
    point_detail: Callable[[MapPoint], str] | None = None,
    tile_url: str | None = None,
    height: int = 560,
) -> pdk.Deck:
    """The map: areas (always), the density grid (when given), points (when given),
    over a light backdrop (without a basemap the chart's own background is dark grey,
    on which the palette's light classes and the boundaries are hard to read)."""
    layers = [
        pdk.Layer(
            "PolygonLayer",
            id=BACKDROP_LAYER,
            data=[{"polygon": BACKDROP_RING}],
            get_polygon="polygon",
            get_fill_color=list(BACKDROP_COLOR),
            stroked=False,
            pickable=False,
        ),
        pdk.Layer(
            "GeoJsonLayer",
            id=AREAS_LAYER,
            data=area_features(kind, paint, breaks, selected_area, no_data),
            pickable=True,
            stroked=True,
            filled=grid is None,
            get_fill_color="properties.fill",
            get_line_color="properties.line",
            get_line_width="properties.lw",
            # a plain string would be read as an expression ("@@=pixels") and
            # deck.gl would then draw no area at all
            line_width_units=pdk.types.String("pixels"),
            auto_highlight=True,
            highlight_color=[0, 0, 0, 40],
        ),
    ]
    if grid is not None and grid.cells:
        cell_breaks = class_breaks(grid.max_count)
        half = grid.cell_deg / 2
        describe = grid_detail or str
        layers.append(
            pdk.Layer(
                "GridCellLayer",
                id=CELLS_LAYER,
                data=[
                    {
                        "p": [round(c.lon - half, 6), round(c.lat - half, 6)],
                        "lat": c.lat,
                        "lon": c.lon,
                        "n": c.count,
                        "c": [*color_of(c.count, cell_breaks), 200],
                        "name": "",
                        "detail": describe(c.count),
                    }
                    for c in grid.cells
                ],
                get_position="p",
                get_fill_color="c",
                cell_size=round(grid.cell_deg * _M_PER_DEG_LAT * 0.95, 1),
                extruded=False,
                pickable=True,
            )
        )
    located = [p for p in points if p.lat is not None and p.lon is not None]
    if located:
        describe_point = point_detail or (lambda p: p.title)
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                id=POINTS_LAYER,
                data=[
                    {
                        "id": p.report_id,
                        "p": [p.lon, p.lat],
                        "name": p.code,
                        "detail": describe_point(p),
                        "c": [*(OVERDUE_COLOR if p.is_overdue else POINT_COLOR), 220],
                    }
                    for p in located
                ],
                get_position="p",
                get_fill_color="c",
                get_radius=18,
                radius_min_pixels=4,
                radius_max_pixels=10,
                stroked=True,
                get_line_color=[255, 255, 255],
                line_width_min_pixels=1,
                pickable=True,
            )
        )
    options: dict[str, Any] = {}
    if tile_url:
        options = {"map_provider": "carto", "map_style": tile_url}
    else:
        options = {"map_provider": None}
    return CompactDeck(
        layers=layers,
        initial_view_state=view_of(kind, selected_area),
        tooltip=TOOLTIP,
        height=height,
        **options,
    )


def deck_payload_bytes(deck: pdk.Deck) -> int:
    """Bytes of the deck's JSON, what the browser receives for the map."""
    return len(deck.to_json().encode("utf-8"))


def selection_of(event: Any) -> dict[str, list[dict[str, Any]]]:
    """The selected objects per layer id from a `PydeckState` (or nothing)."""
    try:
        objects = event["selection"]["objects"]
    except (KeyError, TypeError):
        return {}
    return {str(k): list(v) for k, v in dict(objects).items() if v}
