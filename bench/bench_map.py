"""The map page on a large demo database: core aggregation, page script time, payload.

`python bench/bench_map.py [--url URL] [--repeat 3]` (default: the 100,000-report demo
database of `demo_db.py`, opened read-only). `run(db_url)` returns medians in seconds
(`*_s`) and the deck's JSON size in bytes (`*_bytes`), for `run_all.py`.

The clock is the demo's as-of day (2025-06-20, 10:00 Hanoi), so "the last 30 days" holds
reports; "all" is the whole database (from 01/01/2024). Page timings: AppTest, caches
cleared, logged in as the demo analyst; the first run is the default view (areas, last
30 days), then the density view and a district picked; then the whole period
(01/01/2024 to the as-of day) on a fresh page, and a rerun of it (what every click
costs there: the hotspots are cached).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

PAGE = "pages/5_ban_do.py"
ANALYST = "phantich1"
AS_OF = datetime(2025, 6, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
WHOLE_FROM = date(2024, 1, 1)  # before the demo's first report: the whole period


def read_only(url: str) -> str:
    """A SQLite URL opened read-only (the shared demo file must not change)."""
    if url.startswith("sqlite:///") and "mode=ro" not in url:
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return url


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def core_timings(url: str, repeat: int) -> dict[str, float]:
    from sqlmodel import Session

    from ihanoi_core import geostats
    from ihanoi_core.cases import CaseFilter
    from ihanoi_core.db import get_engine

    today = AS_OF.date()
    month = CaseFilter(date_from=today - timedelta(days=29), date_to=today)
    everything = CaseFilter(date_from=WHOLE_FROM, date_to=today)
    out: dict[str, float] = {}
    with Session(get_engine(url)) as s:
        for name, filt in (("30d", month), ("all", everything)):
            out[f"area_stats_{name}_s"] = _median(
                lambda f=filt: geostats.area_stats(s, now=AS_OF, kind="district", filt=f), repeat
            )
            out[f"density_grid_{name}_s"] = _median(
                lambda f=filt: geostats.density_grid(s, now=AS_OF, filt=f), repeat
            )
            out[f"hotspots_{name}_s"] = _median(
                lambda f=filt: geostats.hotspots(s, now=AS_OF, filt=f), repeat
            )
        biggest = geostats.area_stats(s, now=AS_OF, kind="district", filt=everything).areas[0]
        out["points_of_busiest_district_all_s"] = _median(
            lambda: geostats.map_points(
                s, now=AS_OF, filt=everything, area=("district", biggest.unit_id)
            ),
            repeat,
        )
    return out


def page_timings(url: str, repeat: int) -> dict[str, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from bench.bench_pages import _session_user
    from ihanoi_core import db
    from ihanoi_ui import state_keys

    os.environ["DATABASE_URL"] = url
    db.get_engine.cache_clear()
    real_now = db.utcnow
    db.utcnow = lambda: AS_OF  # type: ignore[assignment]
    try:
        user = _session_user(ANALYST)
        cold, density, area, payload_areas, payload_density = [], [], [], [], []
        whole, whole_rerun = [], []
        for _ in range(repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
            at.session_state[state_keys.USER] = user
            start = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - start)
            _check(at)
            payload_areas.append(_payload(at))
            at.radio(key="map_view").set_value("density")
            start = time.perf_counter()
            at.run()
            density.append(time.perf_counter() - start)
            _check(at)
            payload_density.append(_payload(at))
            at.radio(key="map_view").set_value("areas")
            at.selectbox(key="map_area").select("008")  # Hoàng Mai, the busiest
            start = time.perf_counter()
            at.run()
            area.append(time.perf_counter() - start)
            _check(at)
        for _ in range(repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / PAGE), default_timeout=120)
            at.session_state[state_keys.USER] = user
            at.session_state["map_from"] = WHOLE_FROM
            start = time.perf_counter()
            at.run()
            whole.append(time.perf_counter() - start)
            _check(at)
            at.checkbox(key="map_overdue").check().uncheck()  # a rerun, same filter
            start = time.perf_counter()
            at.run()
            whole_rerun.append(time.perf_counter() - start)
            _check(at)
        return {
            "page_whole_period_s": statistics.median(whole),
            "page_whole_period_rerun_s": statistics.median(whole_rerun),
            "page_first_render_s": statistics.median(cold),
            "page_density_view_s": statistics.median(density),
            "page_district_picked_s": statistics.median(area),
            "payload_city_areas_bytes": float(max(payload_areas)),
            "payload_city_density_bytes": float(max(payload_density)),
        }
    finally:
        db.utcnow = real_now  # type: ignore[assignment]


def _check(at: Any) -> None:
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])


def _payload(at: Any) -> int:
    charts = at.get("deck_gl_json_chart")
    return len(charts[0].proto.json.encode("utf-8")) if charts else 0


def run(db_url: str, repeat: int = 3) -> dict[str, float]:
    """Core aggregation times, page script times and deck payload sizes (see above)."""
    url = read_only(db_url)
    return {**core_timings(url, repeat), **page_timings(url, repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.url is None:
        from bench.demo_db import db_path, sqlite_url

        path = db_path(100_000, 2024)
        if not path.exists():
            sys.exit(f"{path} is missing: build it with bench/demo_db.py")
        args.url = sqlite_url(path)
    print(json.dumps(run(args.url, args.repeat), indent=2))


if __name__ == "__main__":
    main()
