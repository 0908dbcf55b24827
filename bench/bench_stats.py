"""Time `stats_snapshot` (three typical questions) and `python -m ihanoi_core verify`.

`python bench/bench_stats.py [--url URL] [--repeat 3]` (default: the cached
25,000-report demo database, see `demo_db.py`, as of 2025-06-20).

- now: `stats_snapshot(as_of=utcnow())`, whole database (the report rows can stand for
  the state: `source` is usually "columns");
- past week: the weekly report of the last full week before the demo's as-of
  (Mon 2025-06-09 .. Sun 2025-06-15, submission days), as of the end of that Sunday;
  the history must be replayed (`source` "events");
- whole DB at a past date: every report, as of 2025-03-31 23:59:59 (Hanoi).
Each in a fresh `session_scope(snapshot=True)` like the `stats` command, median of
`repeat`. `verify` is run once as the real command (a new process: imports included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEEK = (date(2025, 6, 9), date(2025, 6, 15))
PAST_DAY = date(2025, 3, 31)


@dataclass
class StatsResult:
    name: str
    detail: str
    seconds: list[float] = field(default_factory=list)
    source: str = ""
    reports: int | None = None  # total of the snapshot's buckets

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _end_of_day(day: date) -> datetime:
    from ihanoi_core.config import HANOI_TZ

    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=HANOI_TZ)


def run(url: str, repeat: int = 3) -> list[StatsResult]:
    os.environ["DATABASE_URL"] = url
    from ihanoi_core.db import get_engine, session_scope, utcnow
    from ihanoi_core.queries import stats_snapshot

    get_engine.cache_clear()
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("stats_snapshot now", "as_of=now, all reports", {"as_of": utcnow()}),
        (
            "stats_snapshot past week",
            f"reports of {WEEK[0]}..{WEEK[1]}, as of end of {WEEK[1]} (Hanoi)",
            {"as_of": _end_of_day(WEEK[1]), "date_from": WEEK[0], "date_to": WEEK[1]},
        ),
        (
            "stats_snapshot whole DB, past date",
            f"all reports, as of end of {PAST_DAY} (Hanoi)",
            {"as_of": _end_of_day(PAST_DAY)},
        ),
    ]
    with session_scope() as s:  # connect and warm SQLite's page cache once
        stats_snapshot(s, as_of=utcnow())
    results = []
    for name, detail, kwargs in cases:
        r = StatsResult(name, detail)
        for _ in range(repeat):
            started = time.perf_counter()
            with session_scope(snapshot=True) as s:
                snap = stats_snapshot(s, **kwargs)  # type: ignore[arg-type]
            r.seconds.append(time.perf_counter() - started)
        r.source = snap.source
        r.reports = sum(c.total for c in snap.by_kind.values())
        print(f"{name:<36} {r.median:7.3f} s  source={r.source}  reports={r.reports}", flush=True)
        results.append(r)

    r = StatsResult("verify", "`python -m ihanoi_core verify` (new process, wall time)")
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "ihanoi_core", "verify"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
    )
    r.seconds.append(time.perf_counter() - started)
    r.source = f"exit {out.returncode}: " + (out.stdout.strip().splitlines() or [""])[-1]
    print(f"{r.name:<36} {r.median:7.3f} s  {r.source}", flush=True)
    results.append(r)
    return results


def to_markdown(results: list[StatsResult], repeat: int) -> str:
    lines = [
        f"Median of {repeat} (verify: one run).",
        "",
        "| measure | what | seconds | runs (s) | source / outcome | reports counted |",
        "|---|---|---:|---|---|---:|",
    ]
    for r in results:
        runs = ", ".join(f"{x:.3f}" for x in r.seconds)
        source = r.source.replace("|", "\\|")
        reports = f"{r.reports:,}" if r.reports is not None else ""
        lines.append(f"| {r.name} | {r.detail} | {r.median:.3f} | {runs} | {source} | {reports} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: cached 25,000-report demo)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.url is None:
        from bench.demo_db import ensure_demo_db

        args.url = ensure_demo_db()
    print(to_markdown(run(args.url, args.repeat), args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
