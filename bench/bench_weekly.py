"""Time the weekly review report: assembling it, and its XLSX and PDF exports.

`python bench/bench_weekly.py [--url URL] [--week 2025-W24] [--repeat 3]` (default:
the cached 25,000-report demo database, see `demo_db.py`; default week: the last
complete week of the data, as the page opens it).

- assemble: `build_weekly_report` in a fresh `session_scope(snapshot=True)`, like the
  `report weekly` command (the cumulative figures of the week and of the previous week,
  both weeks' intake, the units' workload, categories, bottlenecks: the cumulative
  ones need every report's state at a past moment: `queries`' "auto" source reads the
  reports unchanged since from their rows and replays only the others, "split");
- xlsx / pdf: rendering the assembled report;
- export_xlsx / export_pdf: what one `report weekly` run does after its imports:
  assemble + render + store the frozen copy, in a transaction rolled back at the end,
  so measuring writes nothing to the database.
Median of `repeat` runs each.

Measured numbers: README.md ("Measured") and `bench/results/latest.md`. Replaying every
history instead of the split (`path="replay"`) made a week's export ~17 s at 100,000
reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(db_url: str, week: str | None = None, repeat: int = 3) -> dict[str, float]:
    """Seconds (median of `repeat`) per step; `week` defaults to the last complete week."""
    os.environ["DATABASE_URL"] = db_url
    from sqlmodel import Session

    from ihanoi_core.db import get_engine, session_scope, utcnow
    from ihanoi_core.weekly import build_weekly_report, default_week, parse_week
    from ihanoi_core.weekly_export import ExportFormat, export_weekly, weekly_pdf, weekly_xlsx

    get_engine.cache_clear()
    now = utcnow()
    with session_scope() as session:
        chosen = parse_week(week) if week else default_week(session, now=now)

    def assemble() -> object:
        with session_scope(snapshot=True) as session:
            return build_weekly_report(session, chosen, now=now)

    with session_scope(snapshot=True) as session:
        report = build_weekly_report(session, chosen, now=now)

    def export(fmt: ExportFormat) -> None:
        with Session(get_engine()) as session:
            try:
                built = build_weekly_report(session, chosen, now=now)
                export_weekly(session, report=built, fmt=fmt, created_by=None, now=now)
            finally:
                session.rollback()  # measured, never kept

    result = {
        "assemble": _median_seconds(assemble, repeat),
        "xlsx": _median_seconds(lambda: weekly_xlsx(report), repeat),
        "pdf": _median_seconds(lambda: weekly_pdf(report), repeat),
        "export_xlsx": _median_seconds(lambda: export("xlsx"), repeat),
        "export_pdf": _median_seconds(lambda: export("pdf"), repeat),
    }
    get_engine().dispose()
    get_engine.cache_clear()
    return result


def main() -> int:
    from bench.demo_db import DEFAULT_REPORTS, DEFAULT_SEED, ensure_demo_db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: the cached demo database)")
    parser.add_argument("--reports", type=int, default=DEFAULT_REPORTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--week", help="ISO week, e.g. 2025-W24 (default: last complete)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = args.url or ensure_demo_db(args.reports, args.seed)
    for name, seconds in run(url, args.week, args.repeat).items():
        print(f"{name:12s} {seconds:7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
