"""Time of the analytics core calls and of the analytics page's script, per tab.

`python bench/bench_analytics.py URL [--repeat 3]`, or `run(db_url)` from run_all.py.
Read-only: the database is never written (SQLite opened with `mode=ro`).

The default period is the page's: the 28 days ending on the data's last day. Core
calls are timed after one warm-up call (the working calendar and the answer rules
are loaded once per process, as in a running server). The page is timed under
AppTest as the analyst account `phantich1`, once per tab (the tabs run lazily, so a
run costs one tab's queries): `page_<tab>_s` is the median of `repeat` first runs
of a fresh AppTest with imports warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

TABS = {
    "heatmap": "Lĩnh vực × địa bàn",
    "trends": "Xu hướng",
    "satisfaction": "Mức độ hài lòng",
    "bottlenecks": "Điểm nghẽn",
}
ACCOUNT = "phantich1"


def read_only(url: str) -> str:
    """A SQLite file URL opened read-only (measuring must never write the demo file)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and "mode=ro" not in url:
        return f"sqlite:///file:{url[len(prefix) :]}?mode=ro&uri=true"
    return url


def _median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(db_url: str, repeat: int = 3) -> dict[str, float]:
    url = read_only(db_url)
    os.environ["DATABASE_URL"] = url
    from sqlmodel import select
    from streamlit.testing.v1 import AppTest

    from ihanoi_core import analytics, queries
    from ihanoi_core.bottlenecks import step_times
    from ihanoi_core.db import get_engine, session_scope
    from ihanoi_core.models import Unit, User
    from ihanoi_core.vocab import Role
    from ihanoi_ui import state_keys
    from ihanoi_ui.auth import SessionUser

    get_engine.cache_clear()
    engine = get_engine(url)
    results: dict[str, float] = {}
    with session_scope(engine) as s:
        results["reports"] = float(queries.count_reports(s))
        until = analytics.data_until(s)
        as_of = queries.latest_event_at(s)
        assert until is not None and as_of is not None, "empty database"
        filt = queries.ReportFilter(date_from=until - timedelta(days=27), date_to=until)
        start, end = analytics.period_bounds(until - timedelta(days=6), until)
        year_start, _ = analytics.period_bounds(until - timedelta(days=364), until)
        calls: dict[str, Callable[[], Any]] = {
            "heatmap_28d_s": lambda: analytics.heatmap(s, as_of=as_of, filt=filt),
            "heatmap_all_s": lambda: analytics.heatmap(s, as_of=as_of),
            "trends_week_28d_s": lambda: analytics.trends(s, as_of=as_of, filt=filt),
            "trends_month_all_s": lambda: analytics.trends(s, as_of=as_of, grain="month"),
            "satisfaction_28d_s": lambda: (
                analytics.satisfaction_by_unit(s, as_of=as_of, filt=filt),
                analytics.satisfaction_by_category(s, as_of=as_of, filt=filt),
            ),
            "review_28d_s": lambda: analytics.substandard_answers(s, as_of=as_of, filt=filt),
            "review_all_s": lambda: analytics.substandard_answers(s, as_of=as_of),
            "step_times_week_s": lambda: step_times(s, start=start, end=end, as_of=as_of),
            "step_times_28d_s": lambda: analytics.bottlenecks(
                s, date_from=filt.date_from, date_to=filt.date_to, as_of=as_of
            ),  # type: ignore[arg-type]
            "step_times_year_s": lambda: step_times(s, start=year_start, end=end, as_of=as_of),
        }
        for fn in calls.values():  # warm-up: calendar, rules, statement caches
            fn()
            break
        for name, fn in calls.items():
            results[name] = _median_time(fn, repeat)
        user = s.exec(select(User).where(User.username == ACCOUNT)).one()
        unit = s.get(Unit, user.unit_id) if user.unit_id else None
        assert user.id is not None
        session_user = SessionUser(
            user.id,
            user.username,
            user.full_name,
            Role(user.role),
            user.unit_id,
            unit.name if unit else None,
            user.session_version,
        )

    page = str(ROOT / "pages" / "6_phan_tich.py")

    def render(tab: str) -> None:
        at = AppTest.from_file(page, default_timeout=60)
        at.session_state[state_keys.USER] = session_user
        at.session_state[state_keys.LANG] = "vi"
        at.session_state["analytics_tab"] = tab
        at.run()
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])

    render(TABS["heatmap"])  # imports (altair, pandas, the core) once
    for key, tab in TABS.items():
        results[f"page_{key}_s"] = _median_time(lambda tab=tab: render(tab), repeat)  # type: ignore[misc]
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL, e.g. sqlite:///bench/results/tmp/x.db")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = run(args.url, args.repeat)
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
